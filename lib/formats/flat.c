/* FLAT and VMFS extents (raw bytes at an offset in a file) and ZERO
 * extents (no file; reads zeros).  vmdk-format.md §1.4, §4.1. */
#include "internal.h"

#include <string.h>

static int
flat_probe (const uint8_t *buf, size_t len)
{
  (void) buf;
  (void) len;
  return 1;   /* anything can be raw bytes: the lowest score */
}

static int
flat_open (struct vd_extent *e, int rw)
{
  uint64_t fsize;
  int r;
  (void) rw;
  r = e->io->ops->size (e->io, &fsize);
  if (r < 0)
    return r;
  /* The extent may be longer than the file (a thin flat file whose tail
   * was never written reads as zeros), but never by an absurd amount
   * that overflows. */
  if (e->file_offset > UINT64_MAX - e->size)
    return vd_error (VD_ECORRUPT, 0, "%s: extent offset + size overflows",
                     e->path);
  return 0;
}

static void
flat_close (struct vd_extent *e)
{
  (void) e;
}

static int
flat_map (struct vd_extent *e, uint64_t off, uint64_t len, struct vd_map *m)
{
  m->status = VD_MAP_DATA;
  m->length = len;
  m->file_offset = e->file_offset + off;
  return 0;
}

/* A flat file may be shorter than its extent (sparse, or a thin file not
 * yet extended): the part past EOF reads as zeros. */
static int
flat_pread (struct vd_extent *e, void *buf, size_t count, uint64_t off)
{
  uint64_t fsize, pos = e->file_offset + off;
  int r = e->io->ops->size (e->io, &fsize);
  if (r < 0)
    return r;
  if (pos >= fsize) {
    memset (buf, 0, count);
    return 0;
  }
  size_t n = (size_t) VD_MIN ((uint64_t) count, fsize - pos);
  r = vd__io_pread (e->io, buf, n, pos);
  if (r < 0)
    return r;
  memset ((uint8_t *) buf + n, 0, count - n);
  return 0;
}

static int
flat_pwrite (struct vd_extent *e, const void *buf, size_t count,
             uint64_t off)
{
  return vd__io_pwrite (e->io, buf, count, e->file_offset + off);
}

static int
flat_zero (struct vd_extent *e, uint64_t count, uint64_t off)
{
  uint64_t pos = e->file_offset + off;
  /* Punch a hole where the file system can; otherwise write zeros. */
  if (e->io->ops->punch_hole
      && e->io->ops->punch_hole (e->io, pos, count) == 0)
    return 0;
  static const uint8_t zeros[65536];
  while (count) {
    size_t n = (size_t) VD_MIN (count, sizeof zeros);
    int r = vd__io_pwrite (e->io, zeros, n, pos);
    if (r < 0)
      return r;
    pos += n;
    count -= n;
  }
  return 0;
}

static int
flat_flush (struct vd_extent *e)
{
  return vd__io_flush (e->io);
}

static int
flat_check (struct vd_extent *e, struct vd_check_ctx *ctx)
{
  uint64_t fsize;
  int r = e->io->ops->size (e->io, &fsize);
  if (r < 0)
    return r;
  if (fsize < e->file_offset + e->size)
    vd__check_report (ctx, VD_CHECK_SEVERITY_INFO,
                      "%s: file is %llu bytes, shorter than the extent "
                      "(%llu bytes at offset %llu); the rest reads as zeros",
                      e->path, (unsigned long long) fsize,
                      (unsigned long long) e->size,
                      (unsigned long long) e->file_offset);
  return 0;
}

const struct vd_format_driver vd__flat_driver = {
  .name = "flat",
  .instance_size = 0,
  .probe = flat_probe,
  .open = flat_open,
  .close = flat_close,
  .map = flat_map,
  .pread = flat_pread,
  .pwrite = flat_pwrite,
  .zero = flat_zero,
  .flush = flat_flush,
  .check = flat_check,
};

static int
zero_map (struct vd_extent *e, uint64_t off, uint64_t len, struct vd_map *m)
{
  (void) e;
  (void) off;
  m->status = VD_MAP_ZERO;
  m->length = len;
  m->file_offset = 0;
  return 0;
}

static int
zero_open (struct vd_extent *e, int rw)
{
  (void) e;
  (void) rw;
  return 0;
}

const struct vd_format_driver vd__zero_driver = {
  .name = "zero",
  .open = zero_open,
  .close = flat_close,
  .map = zero_map,
};
