/* The FUSE operations of an in-process ext2/3/4 volume (read-only).
 * Metadata (name lookup, inodes, folders, symbolic links) goes through
 * libext2fs under the volume's one lock; file data through the block map
 * built at open, outside it (the source reads from several threads). */
#include "extfs-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>

#if defined VD_HAVE_FUSE && defined VD_HAVE_EXT2FS

static struct vd_extfs *
self (void)
{
  struct vd_mount *m = fuse_get_context ()->private_data;
  return m->ext;
}

static void *
op_init (struct fuse_conn_info *conn, struct fuse_config *cfg)
{
  /* nothing changes the volume under us */
  vd__mnt_fuse_config (conn, cfg);
  return fuse_get_context ()->private_data;
}

/* path -> inode; the caller holds the lock. */
static int
lookup (struct vd_extfs *x, const char *path, ext2_ino_t *ino,
        struct ext2_inode_large *inode)
{
  errcode_t e = ext2fs_namei (x->fs, EXT2_ROOT_INO, EXT2_ROOT_INO, path, ino);
  if (!e) {
    memset (inode, 0, sizeof *inode);
    e = ext2fs_read_inode_full (x->fs, *ino, (struct ext2_inode *) inode,
                                sizeof *inode);
  }
  return e ? vd__extfs_errno (e) : 0;
}

/* One timestamp: seconds (with the extra epoch bits) and nanoseconds of
 * a large inode when the field is there. */
static struct timespec
xtime (const struct ext2_inode_large *in, uint32_t sec, size_t extra_off,
       uint32_t extra)
{
  struct timespec ts = { (time_t) (int32_t) sec, 0 };
  if (in->i_extra_isize >= extra_off + 4 - EXT2_GOOD_OLD_INODE_SIZE
      && in->i_extra_isize <= sizeof *in - EXT2_GOOD_OLD_INODE_SIZE) {
    ts.tv_sec += (time_t) ((uint64_t) (extra & 3) << 32);
    ts.tv_nsec = (long) (extra >> 2) % 1000000000L;
  }
  return ts;
}

static void
fill_stat (struct vd_extfs *x, ext2_ino_t ino,
           const struct ext2_inode_large *in, struct stat *st)
{
  const struct ext2_inode *i = (const struct ext2_inode *) in;
  memset (st, 0, sizeof *st);
  st->st_ino = ino;
  st->st_mode = in->i_mode;
  st->st_nlink = in->i_links_count;
  st->st_uid = inode_uid (*in);
  st->st_gid = inode_gid (*in);
  uint64_t size = EXT2_I_SIZE (i);
  st->st_size = size > (uint64_t) INT64_MAX ? INT64_MAX : (off_t) size;
  st->st_blksize = (blksize_t) x->bs;
  /* i_blocks in 512-byte units (huge_file aware) */
  st->st_blocks = (blkcnt_t) ext2fs_get_stat_i_blocks (x->fs,
                                          (struct ext2_inode *) in);
  st->st_atim = xtime (in, in->i_atime,
                       offsetof (struct ext2_inode_large, i_atime_extra),
                       in->i_atime_extra);
  st->st_mtim = xtime (in, in->i_mtime,
                       offsetof (struct ext2_inode_large, i_mtime_extra),
                       in->i_mtime_extra);
  st->st_ctim = xtime (in, in->i_ctime,
                       offsetof (struct ext2_inode_large, i_ctime_extra),
                       in->i_ctime_extra);
  if (S_ISCHR (in->i_mode) || S_ISBLK (in->i_mode)) {
    uint32_t b0 = in->i_block[0], b1 = in->i_block[1];
    st->st_rdev = b0 ? makedev ((b0 >> 8) & 255, b0 & 255)
                     : makedev ((b1 >> 8) & 0xfff,
                                (b1 & 0xff) | ((b1 >> 12) & 0xfff00));
  }
}

static int
op_getattr (const char *path, struct stat *st, struct fuse_file_info *fi)
{
  struct vd_extfs *x = self ();
  struct ext2_inode_large in;
  ext2_ino_t ino;
  (void) fi;
  pthread_mutex_lock (&x->lock);
  int r = lookup (x, path, &ino, &in);
  if (r == 0)
    fill_stat (x, ino, &in, st);
  pthread_mutex_unlock (&x->lock);
  return r;
}

static int
op_open (const char *path, struct fuse_file_info *fi)
{
  struct vd_extfs *x = self ();
  struct ext2_inode_large in;
  ext2_ino_t ino;
  if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
    return -EROFS;
  struct extfs_file *f = calloc (1, sizeof *f);
  if (!f)
    return -ENOMEM;
  pthread_mutex_lock (&x->lock);
  int r = lookup (x, path, &ino, &in);
  if (r == 0 && !LINUX_S_ISREG (in.i_mode))
    r = LINUX_S_ISDIR (in.i_mode) ? -EISDIR : -EACCES;
  if (r == 0)
    r = vd__extfs_map (x, ino, (struct ext2_inode *) &in, UINT64_MAX, f);
  pthread_mutex_unlock (&x->lock);
  if (r < 0) {
    free (f);
    return r;
  }
  fi->fh = (uint64_t) (uintptr_t) f;
  fi->keep_cache = 1;
  return 0;
}

static int
op_read (const char *path, char *buf, size_t size, off_t off,
         struct fuse_file_info *fi)
{
  struct extfs_file *f = (struct extfs_file *) (uintptr_t) fi->fh;
  (void) path;
  if (!f || off < 0 || size > INT32_MAX)
    return -EINVAL;
  return vd__extfs_read (self (), f, buf, size, (uint64_t) off);
}

static int
op_release (const char *path, struct fuse_file_info *fi)
{
  struct extfs_file *f = (struct extfs_file *) (uintptr_t) fi->fh;
  (void) path;
  if (f) {
    vd__extfs_file_free (f);
    free (f);
  }
  fi->fh = 0;
  return 0;
}

static int
op_readlink (const char *path, char *buf, size_t size)
{
  struct vd_extfs *x = self ();
  struct ext2_inode_large in;
  ext2_ino_t ino;
  struct extfs_file f = { 0 };
  if (size == 0)
    return -EINVAL;
  pthread_mutex_lock (&x->lock);
  int r = lookup (x, path, &ino, &in);
  uint64_t len = r == 0 ? EXT2_I_SIZE ((struct ext2_inode *) &in) : 0;
  if (r == 0 && !LINUX_S_ISLNK (in.i_mode))
    r = -EINVAL;
  /* a target is shorter than a block (the kernel's rule too) */
  if (r == 0 && (len == 0 || len >= x->bs))
    r = -EIO;
  int fast = r == 0 && !(in.i_flags & EXT4_INLINE_DATA_FL)
             && ext2fs_is_fast_symlink ((struct ext2_inode *) &in);
  if (r == 0 && !fast)
    r = vd__extfs_map (x, ino, (struct ext2_inode *) &in, x->bs, &f);
  pthread_mutex_unlock (&x->lock);
  if (r < 0)
    return r;
  size_t n = (size_t) VD_MIN (len, (uint64_t) size - 1);
  if (fast) {
    if (len > sizeof in.i_block)
      return -EIO;
    memcpy (buf, in.i_block, n);
  } else {
    r = vd__extfs_read (x, &f, buf, n, 0);
    vd__extfs_file_free (&f);
    if (r < 0)
      return r;
  }
  buf[n] = 0;
  return 0;
}

static int
op_opendir (const char *path, struct fuse_file_info *fi)
{
  struct vd_extfs *x = self ();
  struct ext2_inode_large in;
  ext2_ino_t ino;
  struct extfs_file f;
  pthread_mutex_lock (&x->lock);
  int r = lookup (x, path, &ino, &in);
  if (r == 0 && !LINUX_S_ISDIR (in.i_mode))
    r = -ENOTDIR;
  /* the folder's blocks checked (and bounded) before libext2fs walks
   * them */
  if (r == 0)
    r = vd__extfs_map (x, ino, (struct ext2_inode *) &in, EXTFS_DIR_MAX, &f);
  if (r == 0)
    vd__extfs_file_free (&f);
  pthread_mutex_unlock (&x->lock);
  if (r == 0)
    fi->fh = ino;
  return r;
}

struct dir_ctx {
  void *buf;
  fuse_fill_dir_t fill;
  int full;
};

static int
dir_cb (ext2_ino_t dir, int entry, struct ext2_dir_entry *de, int offset,
        int blocksize, char *blockbuf, void *priv)
{
  struct dir_ctx *c = priv;
  (void) dir; (void) entry; (void) offset; (void) blocksize; (void) blockbuf;
  char name[EXT2_NAME_LEN + 1];
  int len = ext2fs_dirent_name_len (de);
  if (de->inode == 0 || len <= 0)
    return 0;
  memcpy (name, de->name, (size_t) len);
  name[len] = 0;
  struct stat st;
  memset (&st, 0, sizeof st);
  st.st_ino = de->inode;
  static const mode_t types[] = {
    [EXT2_FT_REG_FILE] = S_IFREG, [EXT2_FT_DIR] = S_IFDIR,
    [EXT2_FT_CHRDEV] = S_IFCHR, [EXT2_FT_BLKDEV] = S_IFBLK,
    [EXT2_FT_FIFO] = S_IFIFO, [EXT2_FT_SOCK] = S_IFSOCK,
    [EXT2_FT_SYMLINK] = S_IFLNK };
  int t = ext2fs_dirent_file_type (de);
  if (t > 0 && t < (int) (sizeof types / sizeof types[0]))
    st.st_mode = types[t];
  if (c->fill (c->buf, name, &st, 0, 0)) {
    c->full = 1;
    return DIRENT_ABORT;
  }
  return 0;
}

static int
op_readdir (const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
            struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
  struct vd_extfs *x = self ();
  struct dir_ctx c = { buf, fill, 0 };
  (void) path; (void) off; (void) flags;
  pthread_mutex_lock (&x->lock);
  errcode_t e = ext2fs_dir_iterate2 (x->fs, (ext2_ino_t) fi->fh, 0, NULL,
                                     dir_cb, &c);
  pthread_mutex_unlock (&x->lock);
  if (c.full)
    return -ENOMEM;
  return e ? vd__extfs_errno (e) : 0;
}

static int
op_statfs (const char *path, struct statvfs *sv)
{
  struct vd_extfs *x = self ();
  (void) path;
  memset (sv, 0, sizeof *sv);
  pthread_mutex_lock (&x->lock);
  struct ext2_super_block *s = x->fs->super;
  uint64_t free_b = ext2fs_free_blocks_count (s);
  uint64_t resv = ext2fs_r_blocks_count (s);
  sv->f_bsize = x->bs;
  sv->f_frsize = x->bs;
  sv->f_blocks = x->nblocks;
  sv->f_bfree = free_b;
  sv->f_bavail = free_b > resv ? free_b - resv : 0;
  sv->f_files = s->s_inodes_count;
  sv->f_ffree = s->s_free_inodes_count;
  sv->f_favail = s->s_free_inodes_count;
  pthread_mutex_unlock (&x->lock);
  sv->f_namemax = EXT2_NAME_LEN;
  sv->f_flag = ST_RDONLY;
  return 0;
}

const struct fuse_operations vd__extfs_ops = {
  .init = op_init,
  .getattr = op_getattr,
  .readlink = op_readlink,
  .open = op_open,
  .read = op_read,
  .release = op_release,
  .opendir = op_opendir,
  .readdir = op_readdir,
  .statfs = op_statfs,
};

#endif
