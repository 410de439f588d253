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
  char *fsname;            /* NULL: "vdisk" */
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
  /* an ext volume served in this process (extfs.c) */
  struct vd_extfs *ext;
};

/* fuse-ops.c */
extern const struct fuse_operations vd__mnt_ops;

/* fuse-util.c */
/* The FUSE settings of every vdisk mount, for an init operation: the
 * data only changes through the mount (page cache kept across opens,
 * attributes and names cached), requests of 1 MiB, async reads. */
void vd__mnt_fuse_config (struct fuse_conn_info *conn,
                          struct fuse_config *cfg);
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

/* volume.c; t is the source's partition table */
int vd__mnt_volume (struct vd_mount *m, const struct vd_mount_options *o,
                    dev_t dev0, const struct vd_partition_table *t);
void vd__mnt_hidden_cleanup (struct vd_mount *m);

/* extfs.c (VD_HAVE_EXT2FS): volume pt's ext2/3/4 file system served
 * read-only by this process at m->dir; vd__mnt_extfs_free after the
 * FUSE threads stopped. */
int vd__mnt_extfs (struct vd_mount *m, const struct vd_partition *pt,
                   dev_t dev0);
void vd__mnt_extfs_free (struct vd_mount *m);

/* fuse.c.  t: the source's partition table when the caller read it
 * (NULL: read here). */
int vd__mnt_create (vd_mount **out, const struct vd_mount_source *src,
                    vd_disk *disk, const char *dir,
                    const struct vd_mount_options *opts,
                    const struct vd_partition_table *t);
/* FUSE on m->dir with ops (user data m), options "fsname=...,subtype=
 * vdisk,max_read=1M[,ro][,allow_other]" and extra, served by threads. */
int vd__mnt_fuse_start (struct vd_mount *m, const struct fuse_operations *ops,
                        const char *extra, dev_t dev0);

#endif /* VD_HAVE_FUSE */
#endif
