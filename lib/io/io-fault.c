/* A fault-injecting I/O backend for tests (security-checklist.md §5 T2).
 *
 * vd__io_set_wrapper (vd__fault_wrap, &plan) makes every file the library
 * opens on this thread pass through a wrapper that numbers the calls of
 * the kinds in plan.counted (across all files, from 1) and fails call
 * number plan.fail_at with EIO, ENOSPC or a short write.  The plan lives
 * in the caller; the library keeps no state of its own. */
#include "io/io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct fault_io {
  struct vd_io io;          /* first: vd__io_close frees this struct */
  struct vd_io *inner;
  struct vd_fault *plan;
};

void
vd__fault_init (struct vd_fault *f)
{
  memset (f, 0, sizeof *f);
  f->counted = VD_FAULT_ALL;
}

/* Number this call; 1 when it must fail. */
static int
should_fail (struct vd_fault *f, unsigned kind)
{
  uint64_t n;
  if (kind == VD_FAULT_PWRITE)
    __atomic_add_fetch (&f->writes, 1, __ATOMIC_RELAXED);
  if (kind == VD_FAULT_FLUSH)
    __atomic_add_fetch (&f->flushes, 1, __ATOMIC_RELAXED);
  if (!(f->counted & kind))
    return 0;
  n = __atomic_add_fetch (&f->calls, 1, __ATOMIC_RELAXED);
  if (f->fail_at == 0)
    return 0;
  if (n == f->fail_at || (f->sticky && n > f->fail_at)) {
    if (__atomic_add_fetch (&f->injected, 1, __ATOMIC_RELAXED) == 1)
      f->failed_kind = kind;
    return 1;
  }
  return 0;
}

static int
injected (struct fault_io *w, const char *what, size_t count, uint64_t off)
{
  int code = w->plan->kind == VD_FAULT_EIO ? VD_EIO : VD_ENOSPC;
  return vd__error (code, code == VD_EIO ? EIO : ENOSPC,
                   "%s: %s of %zu bytes at offset %llu: injected fault",
                   w->io.name, what, count, (unsigned long long) off);
}

static int
f_pread (struct vd_io *io, void *buf, size_t count, uint64_t off)
{
  struct fault_io *w = (struct fault_io *) io;
  if (should_fail (w->plan, VD_FAULT_PREAD))
    return vd__error (VD_EIO, EIO, "%s: read of %zu bytes at offset %llu: "
                     "injected fault", io->name, count,
                     (unsigned long long) off);
  return w->inner->ops->pread (w->inner, buf, count, off);
}

static int
f_pwrite (struct vd_io *io, const void *buf, size_t count, uint64_t off)
{
  struct fault_io *w = (struct fault_io *) io;
  if (should_fail (w->plan, VD_FAULT_PWRITE)) {
    if (w->plan->kind == VD_FAULT_SHORT && count > 1) {
      /* part of the write reaches the file, as when the device fills */
      size_t part = count / 2;
      (void) w->inner->ops->pwrite (w->inner, buf, part, off);
    }
    return injected (w, "write", count, off);
  }
  return w->inner->ops->pwrite (w->inner, buf, count, off);
}

static int
f_flush (struct vd_io *io)
{
  struct fault_io *w = (struct fault_io *) io;
  if (should_fail (w->plan, VD_FAULT_FLUSH))
    return injected (w, "flush", 0, 0);
  return w->inner->ops->flush (w->inner);
}

static int
f_size (struct vd_io *io, uint64_t *size)
{
  struct fault_io *w = (struct fault_io *) io;
  return w->inner->ops->size (w->inner, size);
}

static int
f_truncate (struct vd_io *io, uint64_t size)
{
  struct fault_io *w = (struct fault_io *) io;
  if (should_fail (w->plan, VD_FAULT_TRUNCATE))
    return injected (w, "truncate", 0, size);
  return w->inner->ops->truncate (w->inner, size);
}

static int
f_punch (struct vd_io *io, uint64_t off, uint64_t len)
{
  struct fault_io *w = (struct fault_io *) io;
  if (should_fail (w->plan, VD_FAULT_TRUNCATE))
    return injected (w, "punch hole", (size_t) len, off);
  return w->inner->ops->punch_hole (w->inner, off, len);
}

static int
f_seek_data (struct vd_io *io, uint64_t off, int hole, uint64_t *result)
{
  struct fault_io *w = (struct fault_io *) io;
  if (!w->inner->ops->seek_data)
    return VD_ENOTSUP;
  return w->inner->ops->seek_data (w->inner, off, hole, result);
}

static int
f_allocate (struct vd_io *io, uint64_t off, uint64_t len)
{
  struct fault_io *w = (struct fault_io *) io;
  if (should_fail (w->plan, VD_FAULT_TRUNCATE)) {
    /* the message is the caller's (vd_io_ops.allocate records none) */
    return w->plan->kind == VD_FAULT_EIO ? EIO : ENOSPC;
  }
  return vd__io_allocate (w->inner, off, len);
}

static int
f_stat (struct vd_io *io, struct vd_io_stat *st)
{
  struct fault_io *w = (struct fault_io *) io;
  return vd__io_stat (w->inner, st);
}

static void
f_close (struct vd_io *io)
{
  struct fault_io *w = (struct fault_io *) io;
  vd__io_close (w->inner);
  w->inner = NULL;
}

static const struct vd_io_ops fault_ops = {
  .pread = f_pread,
  .pwrite = f_pwrite,
  .flush = f_flush,
  .size = f_size,
  .truncate = f_truncate,
  .punch_hole = f_punch,
  .seek_data = f_seek_data,
  .close = f_close,
  .allocate = f_allocate,
  .stat = f_stat,
};

int
vd__fault_wrap (struct vd_io **io, void *arg)
{
  struct fault_io *w = calloc (1, sizeof *w);
  if (!w || !(w->io.name = vd__strdup ((*io)->name))) {
    free (w);
    return vd__error (VD_ENOMEM, errno, "fault wrapper");
  }
  w->io.ops = &fault_ops;
  w->io.fd = (*io)->fd;     /* locks work on the real descriptor */
  w->inner = *io;
  w->plan = arg;
  *io = &w->io;
  return 0;
}
