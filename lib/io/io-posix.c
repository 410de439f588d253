/* The POSIX I/O backend: positional reads and writes, fdatasync. */
#include "io/io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int
px_pread (struct vd_io *io, void *buf, size_t count, uint64_t off)
{
  uint8_t *p = buf;
  while (count > 0) {
    ssize_t r = pread (io->fd, p, count, (off_t) off);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return vd__error (VD_EIO, errno, "%s: read of %zu bytes at offset %llu",
                       io->name, count, (unsigned long long) off);
    }
    if (r == 0)
      return vd__error (VD_EIO, 0,
                       "%s: unexpected end of file reading %zu bytes at "
                       "offset %llu (file truncated?)",
                       io->name, count, (unsigned long long) off);
    p += r;
    count -= (size_t) r;
    off += (uint64_t) r;
  }
  return 0;
}

static int
px_pwrite (struct vd_io *io, const void *buf, size_t count, uint64_t off)
{
  const uint8_t *p = buf;
  while (count > 0) {
    ssize_t r = pwrite (io->fd, p, count, (off_t) off);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return vd__error (vd__errno_code (errno), errno,
                       "%s: write of %zu bytes at offset %llu", io->name,
                       count, (unsigned long long) off);
    }
    p += r;
    count -= (size_t) r;
    off += (uint64_t) r;
  }
  return 0;
}

static int
px_flush (struct vd_io *io)
{
  if (fdatasync (io->fd) < 0)
    return vd__error (vd__errno_code (errno), errno, "%s: fdatasync",
                     io->name);
  return 0;
}

static int
px_size (struct vd_io *io, uint64_t *size)
{
  struct stat st;
  if (fstat (io->fd, &st) < 0)
    return vd__error (VD_EIO, errno, "%s: fstat", io->name);
  *size = (uint64_t) st.st_size;
  return 0;
}

static int
px_truncate (struct vd_io *io, uint64_t size)
{
  if (ftruncate (io->fd, (off_t) size) < 0)
    return vd__error (vd__errno_code (errno), errno, "%s: truncate to %llu",
                     io->name, (unsigned long long) size);
  return 0;
}

static int
px_punch_hole (struct vd_io *io, uint64_t off, uint64_t len)
{
  if (fallocate (io->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                 (off_t) off, (off_t) len) == 0)
    return 0;
  if (errno == EOPNOTSUPP || errno == ENOSYS)
    return VD_ENOTSUP;
  return vd__error (VD_EIO, errno, "%s: punch hole", io->name);
}

static int
px_seek_data (struct vd_io *io, uint64_t off, int hole, uint64_t *result)
{
  off_t r = lseek (io->fd, (off_t) off, hole ? SEEK_HOLE : SEEK_DATA);
  if (r < 0) {
    if (errno == ENXIO) {       /* no more data after off */
      *result = UINT64_MAX;
      return 0;
    }
    return VD_ENOTSUP;
  }
  *result = (uint64_t) r;
  return 0;
}

static int
px_allocate (struct vd_io *io, uint64_t off, uint64_t len)
{
  return posix_fallocate (io->fd, (off_t) off, (off_t) len);
}

static int
px_stat (struct vd_io *io, struct vd_io_stat *out)
{
  struct stat st;
  if (fstat (io->fd, &st) < 0)
    return errno;
  out->id.dev = st.st_dev;
  out->id.ino = st.st_ino;
  out->allocated = (uint64_t) st.st_blocks * 512;
  out->mtime = (int64_t) st.st_mtime;
  out->mode = (unsigned) st.st_mode & 07777;
  out->nlink = (unsigned long) st.st_nlink;
  return 0;
}

static void
px_close (struct vd_io *io)
{
  if (io->fd >= 0)
    close (io->fd);
}

static const struct vd_io_ops posix_ops = {
  .pread = px_pread,
  .pwrite = px_pwrite,
  .flush = px_flush,
  .size = px_size,
  .truncate = px_truncate,
  .punch_hole = px_punch_hole,
  .seek_data = px_seek_data,
  .close = px_close,
  .allocate = px_allocate,
  .stat = px_stat,
};

static __thread vd_io_wrap_fn wrap_fn;
static __thread void *wrap_arg;

void
vd__io_set_wrapper (vd_io_wrap_fn fn, void *arg)
{
  wrap_fn = fn;
  wrap_arg = arg;
}

static int posix_open (struct vd_io **out, int dirfd, const char *path,
                       const char *display, int flags);

int
vd__io_posix_open (struct vd_io **out, int dirfd, const char *path,
                   const char *display, int flags)
{
  struct vd_memfs *fs = vd__memfs_current ();
  int r;
  if (fs) {
    const char *base = strrchr (path, '/');
    r = vd__memfs_open (fs, out, base ? base + 1 : path,
                        (flags & VD_IO_RDWR) != 0);
  }
  else
    r = posix_open (out, dirfd, path, display, flags);
  if (r == 0 && wrap_fn) {
    r = wrap_fn (out, wrap_arg);
    if (r < 0) {
      vd__io_close (*out);
      *out = NULL;
    }
  }
  return r;
}

int
vd__is_uri (const char *path)
{
  return strncmp (path, "nbd://", 6) == 0 || strncmp (path, "nbds://", 7) == 0
         || strncmp (path, "nbd+unix://", 11) == 0
         || strncmp (path, "nbds+unix://", 12) == 0;
}

static int
posix_open (struct vd_io **out, int dirfd, const char *path,
            const char *display, int flags)
{
  int oflags = O_CLOEXEC;
  struct stat st;
  struct vd_io *io;
  int fd;

  *out = NULL;
  oflags |= (flags & VD_IO_RDWR) ? O_RDWR : O_RDONLY;
  if (flags & VD_IO_CREATE)
    oflags |= O_CREAT | O_EXCL;
  if (!(flags & VD_IO_FOLLOW))
    oflags |= O_NOFOLLOW;
  /* A FIFO must not block the open: refuse it after fstat instead. */
  oflags |= O_NONBLOCK;
  fd = openat (dirfd, path, oflags, 0644);
  if (fd < 0) {
    int e = errno;
    if (e == ELOOP)
      return vd__error_why (VD_REASON_UNTRUSTED_NAME, vd__error (VD_EINVAL, 0,
                       "%s: is a symbolic link (not followed for safety; "
                       "use the trusted option to allow it)", display));
    if (e == EEXIST)
      return vd__error (VD_EEXIST, 0, "%s: file exists", display);
    return vd__error (vd__errno_code (e), e, "%s: open", display);
  }
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode)) {
    close (fd);
    return vd__error (VD_EINVAL, 0, "%s: not a regular file", display);
  }
  /* Back to blocking I/O for a regular file. */
  fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) & ~O_NONBLOCK);
  io = calloc (1, sizeof *io);
  if (!io || !(io->name = strdup (display))) {
    free (io);
    close (fd);
    return vd__error (VD_ENOMEM, errno, "open");
  }
  io->ops = &posix_ops;
  io->fd = fd;
  *out = io;
  return 0;
}

int
vd__io_flush (struct vd_io *io)
{
  int r;
  /* After a failed fdatasync, Linux may have dropped the dirty pages:
   * a retry that succeeds would lie (fsyncgate).  Keep failing. */
  if (io->failed)
    return vd__error (VD_EIO, 0, "%s: an earlier flush failed; data may be "
                     "lost", io->name);
  if (io->nosync)
    return 0;
  r = io->ops->flush (io);
  if (r < 0)
    io->failed = 1;
  return r;
}

void
vd__io_close (struct vd_io *io)
{
  if (!io)
    return;
  io->ops->close (io);
  free (io->name);
  free (io);
}
