/* lib/mount in-process ext2/3/4 volumes (read-only), shared by extfs.c
 * (the io_manager reading through the mount's source, the open file
 * system, block maps) and extfs-ops.c (the FUSE operations).  Only with
 * VD_HAVE_FUSE and VD_HAVE_EXT2FS. */
#ifndef VDISK_MOUNT_EXTFS_INTERNAL_H
#define VDISK_MOUNT_EXTFS_INTERNAL_H

#include "fuse-internal.h"

#if defined VD_HAVE_FUSE && defined VD_HAVE_EXT2FS
#include <ext2fs/ext2fs.h>

/* Bounds on what one file may ask for (hostile images). */
#define EXTFS_RUNS_MAX (1u << 20)          /* runs in one block map */
#define EXTFS_DIR_MAX ((uint64_t) 1 << 28) /* mapped bytes of a folder */

struct vd_extfs {
  ext2_filsys fs;
  pthread_mutex_t lock;     /* libext2fs is not thread-safe */
  const struct vd_mount_source *src;
  const char *name;         /* for messages */
  unsigned number;          /* partition number */
  uint64_t off, len;        /* the partition on the source */
  uint64_t nblocks;         /* blocks in the fs and the partition */
  unsigned bs;              /* block size */
};

/* A run of a file's blocks: lblk..lblk+len at physical pblk. */
struct extfs_run {
  uint64_t lblk, pblk, len;
};

/* An open file: its size, block map (or inline bytes). */
struct extfs_file {
  ext2_ino_t ino;
  uint64_t size;
  struct extfs_run *runs;
  size_t nruns;
  unsigned char *inline_data;   /* inline-data file: its bytes */
  size_t inline_len;
};

/* extfs.c.  The block map of inode ino into *f (at most max_bytes
 * mapped); 0 or -errno (EIO: corrupt).  The caller holds x->lock. */
int vd__extfs_map (struct vd_extfs *x, ext2_ino_t ino,
                   struct ext2_inode *inode, uint64_t max_bytes,
                   struct extfs_file *f);
void vd__extfs_file_free (struct extfs_file *f);
int vd__extfs_errno (errcode_t e);
/* Read size bytes at off of the file into buf (no lock needed). */
int vd__extfs_read (struct vd_extfs *x, const struct extfs_file *f,
                    char *buf, size_t size, uint64_t off);

/* extfs-ops.c */
extern const struct fuse_operations vd__extfs_ops;

#endif
#endif
