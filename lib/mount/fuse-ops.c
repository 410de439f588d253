/* The FUSE operations of a partition-file mount: the folder holds
 * `disk` and one file per partition (struct mfile), read and written
 * through the mount's source callbacks; SEEK_DATA/SEEK_HOLE follow the
 * disk's allocation map. */
#include "fuse-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef VD_HAVE_FUSE

static struct vd_mount *
self (void)
{
  return fuse_get_context ()->private_data;
}

static struct mfile *
lookup (struct vd_mount *m, const char *path)
{
  if (*path == '/')
    path++;
  for (unsigned i = 0; i < m->nfiles; i++)
    if (strcmp (m->files[i].name, path) == 0)
      return &m->files[i];
  return NULL;
}

static int
errno_of (int vdcode)
{
  const struct vd_error *e = vd_last_error ();
  if (e->errnum)
    return -e->errnum;
  switch (vdcode) {
  case VD_EROFS: return -EROFS;
  case VD_ENOSPC: return -ENOSPC;
  case VD_ENOMEM: return -ENOMEM;
  case VD_EINVAL: return -EINVAL;
  default: return -EIO;
  }
}

static void *
op_init (struct fuse_conn_info *conn, struct fuse_config *cfg)
{
  /* the data only changes through this mount */
  vd__mnt_fuse_config (conn, cfg);
  return self ();
}

static int
op_getattr (const char *path, struct stat *st, struct fuse_file_info *fi)
{
  struct vd_mount *m = self ();
  (void) fi;
  memset (st, 0, sizeof *st);
  st->st_uid = getuid ();
  st->st_gid = getgid ();
  if (strcmp (path, "/") == 0) {
    st->st_ino = 1;
    st->st_mode = S_IFDIR | 0555;
    st->st_nlink = 2;
    return 0;
  }
  struct mfile *f = lookup (m, path);
  if (!f)
    return -ENOENT;
  st->st_ino = 2 + (ino_t) (f - m->files);
  st->st_mode = S_IFREG | ((m->flags & VD_MOUNT_WRITABLE) ? 0644 : 0444);
  st->st_nlink = 1;
  st->st_size = (off_t) f->len;
  st->st_blksize = 65536;
  st->st_blocks = (blkcnt_t) (f->len / 512);
  return 0;
}

static int
op_readdir (const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
            struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
  struct vd_mount *m = self ();
  (void) off; (void) fi; (void) flags;
  if (strcmp (path, "/") != 0)
    return -ENOTDIR;
  fill (buf, ".", NULL, 0, 0);
  fill (buf, "..", NULL, 0, 0);
  for (unsigned i = 0; i < m->nfiles; i++)
    fill (buf, m->files[i].name, NULL, 0, 0);
  return 0;
}

static int
op_open (const char *path, struct fuse_file_info *fi)
{
  struct vd_mount *m = self ();
  struct mfile *f = lookup (m, path);
  if (!f)
    return -ENOENT;
  if ((fi->flags & O_ACCMODE) != O_RDONLY
      && !(m->flags & VD_MOUNT_WRITABLE))
    return -EROFS;
  if (fi->flags & O_TRUNC)
    return -EPERM;
  fi->fh = (uint64_t) (f - m->files);
  fi->keep_cache = 1;
  return 0;
}

static int
op_read (const char *path, char *buf, size_t size, off_t off,
         struct fuse_file_info *fi)
{
  struct vd_mount *m = self ();
  (void) path;
  if (fi->fh >= m->nfiles || off < 0)
    return -EINVAL;
  struct mfile *f = &m->files[fi->fh];
  if ((uint64_t) off >= f->len)
    return 0;
  if (size > f->len - (uint64_t) off)
    size = (size_t) (f->len - (uint64_t) off);
  int r = m->src.read (m->src.ctx, buf, size, f->off + (uint64_t) off);
  if (r < 0)
    return errno_of (r);
  return (int) size;
}

static int
op_write (const char *path, const char *buf, size_t size, off_t off,
          struct fuse_file_info *fi)
{
  struct vd_mount *m = self ();
  (void) path;
  if (!(m->flags & VD_MOUNT_WRITABLE))
    return -EROFS;
  if (fi->fh >= m->nfiles || off < 0)
    return -EINVAL;
  struct mfile *f = &m->files[fi->fh];
  if ((uint64_t) off >= f->len || size > f->len - (uint64_t) off)
    return -ENOSPC;
  int r = m->src.write (m->src.ctx, buf, size, f->off + (uint64_t) off);
  if (r < 0)
    return errno_of (r);
  return (int) size;
}

static int
op_fsync (const char *path, int datasync, struct fuse_file_info *fi)
{
  struct vd_mount *m = self ();
  (void) path; (void) datasync; (void) fi;
  if (!(m->flags & VD_MOUNT_WRITABLE))
    return 0;
  int r = m->src.flush ? m->src.flush (m->src.ctx) : 0;
  return r < 0 ? errno_of (r) : 0;
}

static int
op_truncate (const char *path, off_t size, struct fuse_file_info *fi)
{
  struct vd_mount *m = self ();
  (void) fi;
  struct mfile *f = lookup (m, path);
  if (!f)
    return -ENOENT;
  return size >= 0 && (uint64_t) size == f->len ? 0 : -EPERM;
}

static int
op_statfs (const char *path, struct statvfs *sv)
{
  struct vd_mount *m = self ();
  (void) path;
  memset (sv, 0, sizeof *sv);
  sv->f_bsize = 4096;
  sv->f_frsize = 512;
  sv->f_blocks = m->src.size / 512;
  sv->f_files = m->nfiles + 1;
  sv->f_namemax = 255;
  return 0;
}

struct seek_state {
  int hole;               /* looking for a hole (else data) */
  uint64_t found;
  int have;
};

static int
seek_run (uint64_t off, uint64_t len, uint32_t status, void *payload)
{
  struct seek_state *s = payload;
  (void) len;
  int data = status == VD_STATUS_DATA;
  if (data != s->hole) {
    s->found = off;
    s->have = 1;
    return 1;
  }
  return 0;
}

static off_t
op_lseek (const char *path, off_t off, int whence, struct fuse_file_info *fi)
{
  struct vd_mount *m = self ();
  (void) path;
  if (fi->fh >= m->nfiles || off < 0)
    return -EINVAL;
  struct mfile *f = &m->files[fi->fh];
  if (whence == SEEK_SET)
    return off;
  if (whence == SEEK_END)
    return (off_t) f->len + off;
  if (whence != SEEK_DATA && whence != SEEK_HOLE)
    return -EINVAL;
  if ((uint64_t) off >= f->len)
    return -ENXIO;
  if (!m->disk)               /* no allocation map: all data */
    return whence == SEEK_DATA ? off : (off_t) f->len;
  struct seek_state s = { whence == SEEK_HOLE, 0, 0 };
  int r = vd_disk_block_status (m->disk, f->off + (uint64_t) off,
                                f->len - (uint64_t) off, seek_run, &s);
  if (r < 0)
    return errno_of (r);
  if (s.have)
    return (off_t) (s.found - f->off);
  /* no data after off: ENXIO; no hole: the virtual hole at the end */
  return whence == SEEK_DATA ? -ENXIO : (off_t) f->len;
}

const struct fuse_operations vd__mnt_ops = {
  .init = op_init,
  .getattr = op_getattr,
  .readdir = op_readdir,
  .open = op_open,
  .read = op_read,
  .write = op_write,
  .fsync = op_fsync,
  .truncate = op_truncate,
  .statfs = op_statfs,
  .lseek = op_lseek,
};

#endif /* VD_HAVE_FUSE */
