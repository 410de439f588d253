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
  if (e->file_offset > UINT64_MAX - e->size)
    return vd__corrupt (e->path, "extent offset + size overflows");
  /* Every writer (VMware, QEMU, us) makes flat files their full size,
   * sparse or not: a shorter file was truncated (security §4 item 8). */
  if (fsize < e->file_offset + e->size)
    return vd__corrupt (e->path, "file is %llu bytes but the "
                        "extent needs %llu bytes at offset %llu (file "
                        "truncated, or the descriptor lies)",
                        (unsigned long long) fsize,
                        (unsigned long long) e->size,
                        (unsigned long long) e->file_offset);
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
  uint64_t pos = e->file_offset + off, next;
  m->status = VD_MAP_DATA;
  m->length = len;
  m->file_offset = pos;
  /* Holes of a sparse flat file (or an NBD export's holes) read as zeros
   * and need not be read at all. */
  if (e->io->ops->seek_data
      && e->io->ops->seek_data (e->io, pos, 0, &next) == 0) {
    if (next == UINT64_MAX) {
      /* no data after pos: a trailing hole, or the file shrank under us
       * (security §4 item 49) */
      uint64_t fsize;
      int r = e->io->ops->size (e->io, &fsize);
      if (r < 0)
        return r;
      if (fsize < e->file_offset + e->size)
        return vd__error (VD_EIO, 0, "%s: file shrank to %llu bytes while "
                         "open (the extent needs %llu)", e->path,
                         (unsigned long long) fsize,
                         (unsigned long long) (e->file_offset + e->size));
    }
    if (next > pos) {
      m->status = VD_MAP_HOLE;
      m->length = VD_MIN (len, next - pos);
    }
    else if (e->io->ops->seek_data (e->io, pos, 1, &next) == 0
             && next > pos)
      m->length = VD_MIN (len, next - pos);
  }
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
  vd__error_clear ();           /* fall back to writing zeros */
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
flat_create (struct vd_io *io, const struct vd_extent_create *c)
{
  uint64_t bytes = c->capacity_sectors * VD_SECTOR;
  int r = io->ops->truncate (io, bytes);
  int e;
  if (r == 0 && c->prealloc && (e = vd__io_allocate (io, 0, bytes)) != 0)
    r = vd__error (VD_ENOSPC, e, "%s: preallocate %llu bytes", io->name,
                  (unsigned long long) bytes);
  return r;
}

const struct vd_format_driver vd__flat_driver = {
  .name = "flat",
  .instance_size = 0,
  .probe = flat_probe,
  .open = flat_open,
  .close = flat_close,
  .map = flat_map,
  .pwrite = flat_pwrite,
  .zero = flat_zero,
  .flush = flat_flush,
  .create = flat_create,
  .fixed_types = (1u << VD_EXTENT_FLAT) | (1u << VD_EXTENT_VMFS),
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
  .fixed_types = 1u << VD_EXTENT_ZERO,
};
