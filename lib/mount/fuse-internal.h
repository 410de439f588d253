/* lib/mount FUSE internals, shared by fuse.c (mounts, public API),
 * fuse-ops.c (the FUSE operations of the partition files), fuse-util.c
 * (folders, fusermount3, spawned programs) and volume.c (guest volumes
 * through their user-space drivers).  Only with VD_HAVE_FUSE. */
#ifndef VDISK_MOUNT_FUSE_INTERNAL_H
#define VDISK_MOUNT_FUSE_INTERNAL_H

#include "mount-internal.h"

#ifdef VD_HAVE_FUSE
#define FUSE_USE_VERSION 312
#include <fuse.h>
#include <spawn.h>
#include <sys/types.h>

#define MOUNT_TIMEOUT_MS 30000

struct mfile {
  char name[16];
  uint64_t off, len;
};

struct vd_mount {
  vd_disk *disk;           /* NULL for a callback source */
  struct vd_mount_source src;
  char *name;
  char *dir;
  uint32_t flags;
  unsigned threads;
  /* disk files */
  struct mfile *files;
  unsigned nfiles;
  struct fuse *fuse;
  pthread_t thread;
  int thread_started;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int loop_done;
  int loop_rc;
  /* volume */
  struct vd_mount *inner;
  char *hidden, *volfile, *log;
  pid_t driver;
  int driver_reaped;
  int driver_status;
  int waiting;             /* a thread blocks in waitpid */
};

/* fuse-ops.c */
extern const struct fuse_operations vd__mnt_ops;

/* fuse-util.c */
/* A spawned program gets stdin/out/err only. */
void vd__mnt_close_others (posix_spawn_file_actions_t *fa);
/* dir exists, is a folder and is empty; its device into *dev. */
int vd__mnt_dir_check (const char *dir, dev_t *dev);
/* /dev/fuse is usable. */
int vd__mnt_fuse_check (void);
/* Run argv (PATH lookup) and wait: its exit status, or -1. */
int vd__mnt_run_wait (char *const argv[], int quiet);
/* fusermount3 -u [-z] dir; 0 when dir is no longer a mount point. */
int vd__mnt_unmount_dir (const char *dir, int force);
/* The last non-empty line of the file log into out. */
void vd__mnt_log_tail (const char *log, char *out, size_t n);

/* volume.c */
int vd__mnt_volume (struct vd_mount *m, const struct vd_mount_options *o,
                    dev_t dev0);
void vd__mnt_hidden_cleanup (struct vd_mount *m);

/* fuse.c */
int vd__mnt_create (vd_mount **out, const struct vd_mount_source *src,
                    vd_disk *disk, const char *dir,
                    const struct vd_mount_options *opts);

#endif /* VD_HAVE_FUSE */
#endif
