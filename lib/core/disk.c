/* The open disk: a chain of links, each a descriptor plus extents over
 * the virtual byte space.  Reads go extent by extent through the
 * driver's map (a hole reads through to the parent); writes renew the
 * CID first (core/link.c), then go to the top link's drivers.  Everything
 * here is format-agnostic: extents are reached through their driver's
 * table (formats/registry.c).  Opening is core/open.c. */
#include "internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

int
vd_disk_close (vd_disk *d)
{
  int r = 0;
  if (!d)
    return 0;
  VD_ENTER ();
  if (d->rw && !d->failed) {
    struct vd_link *l = d->top;
    for (size_t i = 0; i < l->n_extents; i++) {
      struct vd_extent *e = &l->extents[i];
      int r2 = 0;
      if (e->rw && e->drv->close_clean)
        r2 = e->drv->close_clean (e);
      else if (e->rw && e->drv->flush)
        r2 = e->drv->flush (e);
      if (r2 < 0 && r == 0)
        r = r2;
    }
    int r3 = vd__link_cbt_commit (l);
    if (r3 < 0 && r == 0)
      r = r3;
  }
  for (unsigned i = 0; i < d->n_links; i++)
    vd__link_close (d->links[i]);
  free (d);
  return r;
}

/* ---- I/O -------------------------------------------------------------------- */

/* Extent of l holding byte off (off < l->size). */
struct vd_extent *
vd__find_extent (struct vd_link *l, uint64_t off)
{
  size_t lo = 0, hi = l->n_extents;
  while (hi - lo > 1) {
    size_t mid = (lo + hi) / 2;
    if (l->extents[mid].start <= off)
      lo = mid;
    else
      hi = mid;
  }
  return &l->extents[lo];
}

static int
link_read (struct vd_link *l, uint8_t *buf, size_t count, uint64_t off)
{
  while (count > 0) {
    struct vd_extent *e = vd__find_extent (l, off);
    uint64_t eoff = off - e->start;
    uint64_t n = VD_MIN ((uint64_t) count, e->size - eoff);
    struct vd_map m;
    int r;

    if (e->access == VD_ACCESS_NOACCESS)
      return vd__error (VD_EIO, 0, "%s: extent at byte %llu is NOACCESS",
                       l->path, (unsigned long long) e->start);
    r = e->drv->map (e, eoff, n, &m);
    if (r < 0)
      return r;
    if (m.length == 0 || m.length > n)
      return vd__error (VD_EIO, 0, "%s: internal error: bad map length",
                       e->path);
    switch (m.status) {
    case VD_MAP_DATA:
      r = vd__io_pread (e->io, buf, (size_t) m.length, m.file_offset);
      break;
    case VD_MAP_DRIVER:
      r = e->drv->pread (e, buf, (size_t) m.length, eoff);
      break;
    case VD_MAP_ZERO:
      memset (buf, 0, (size_t) m.length);
      break;
    case VD_MAP_HOLE:
      if (l->parent)
        r = link_read (l->parent, buf, (size_t) m.length, off);
      else
        memset (buf, 0, (size_t) m.length);
      break;
    }
    if (r < 0)
      return r;
    buf += m.length;
    off += m.length;
    count -= (size_t) m.length;
  }
  return 0;
}

int
vd__link_read_below (struct vd_link *l, void *buf, size_t len, uint64_t off)
{
  if (!l->parent) {
    memset (buf, 0, len);
    return 0;
  }
  return link_read (l->parent, buf, len, off);
}

int
vd__extent_read_below (struct vd_extent *e, void *buf, size_t len,
                       uint64_t off)
{
  return vd__link_read_below (e->link, buf, len, off);
}

int
vd__disk_check_range (const vd_disk *d, uint64_t count, uint64_t off,
                      const char *what)
{
  uint64_t size = d->top->size;
  if (off > size || count > size - off)
    return vd__error (VD_EINVAL, 0, "%s: %s of %llu bytes at offset %llu is "
                     "past the end of the disk (capacity %llu bytes)",
                     d->top->path, what, (unsigned long long) count,
                     (unsigned long long) off, (unsigned long long) size);
  return 0;
}

int
vd_disk_read (vd_disk *d, void *buf, size_t count, uint64_t offset)
{
  int r;
  VD_ENTER ();
  if (!d || (!buf && count))
    return vd__error (VD_EINVAL, 0, "no disk or buffer");
  r = vd__disk_check_range (d, count, offset, "read");
  if (r < 0)
    return r;
  return link_read (d->top, buf, count, offset);
}

int
vd__disk_writable (vd_disk *d)
{
  if (!d->rw)
    return vd__error (VD_EROFS, 0, "%s: disk was opened read-only",
                     d->top->path);
  if (d->failed)
    return vd__error (VD_EIO, 0, "%s: an earlier write failed; close and "
                     "reopen the disk", d->top->path);
  if (d->has_child)
    return vd__error_why (VD_REASON_HAS_CHILD, vd__error (VD_EPARENT, 0, "%s: parent has a child: writing would "
                     "change its CID and invalidate the child; write to "
                     "the child instead", d->top->path));
  return 0;
}

static int
write_or_zero (vd_disk *d, const uint8_t *buf, uint64_t count,
               uint64_t off)
{
  struct vd_link *l = d->top;
  int r;

  /* Refuse before anything changes (the CID included). */
  for (uint64_t o = off; o < off + count;) {
    struct vd_extent *e = vd__find_extent (l, o);
    if (e->access != VD_ACCESS_RW)
      return vd__error (VD_EROFS, 0, "%s: extent at byte %llu is %s",
                       l->path, (unsigned long long) e->start,
                       e->access == VD_ACCESS_RDONLY ? "read-only (RDONLY)"
                       : "NOACCESS");
    if (e->type == VD_EXTENT_ZERO)
      return vd__error (VD_EROFS, 0, "%s: cannot write to a ZERO extent",
                       l->path);
    if (!e->drv->pwrite)
      return vd__error (VD_ENOTSUP, 0, "%s: writing to this kind of extent "
                       "is not supported", e->path);
    /* the table entries the write follows must be sound too: a corrupt
     * one found half-way would leave the CID changed by a failed write */
    for (uint64_t stop = VD_MIN (off + count, e->start + e->size); o < stop;) {
      struct vd_map m;
      r = e->drv->map (e, o - e->start, stop - o, &m);
      if (r < 0)
        return r;
      if (m.length == 0)
        break;
      o += m.length;
    }
    o = e->start + e->size;
  }
  r = vd__link_before_write (l);
  if (r < 0)
    return r;
  /* Change tracking learns of the write before it happens. */
  r = vd__link_cbt_mark (l, off, count);
  if (r < 0)
    return r;
  while (count > 0) {
    struct vd_extent *e = vd__find_extent (l, off);
    uint64_t eoff = off - e->start;
    uint64_t n = VD_MIN (count, e->size - eoff);
    if (buf)
      r = e->drv->pwrite (e, buf, (size_t) n, eoff);
    else if (e->drv->zero)
      r = e->drv->zero (e, n, eoff);
    else {
      static const uint8_t zeros[65536];
      r = 0;
      for (uint64_t done = 0; done < n && r == 0;) {
        size_t k = (size_t) VD_MIN (n - done, sizeof zeros);
        r = e->drv->pwrite (e, zeros, k, eoff + done);
        done += k;
      }
    }
    if (r < 0)
      return r;
    if (buf)
      buf += n;
    off += n;
    count -= n;
  }
  return 0;
}

int
vd_disk_write (vd_disk *d, const void *buf, size_t count, uint64_t offset)
{
  int r;
  VD_ENTER ();
  if (!d || (!buf && count))
    return vd__error (VD_EINVAL, 0, "no disk or buffer");
  if ((r = vd__disk_writable (d)) < 0 || (r = vd__disk_check_range (d, count, offset,
                                                  "write")) < 0)
    return r;
  if (count == 0)
    return 0;
  return write_or_zero (d, buf, count, offset);
}

int
vd_disk_zero (vd_disk *d, uint64_t count, uint64_t offset)
{
  int r;
  VD_ENTER ();
  if (!d)
    return vd__error (VD_EINVAL, 0, "no disk");
  if ((r = vd__disk_writable (d)) < 0
      || (r = vd__disk_check_range (d, count, offset, "zero")) < 0)
    return r;
  if (count == 0)
    return 0;
  return write_or_zero (d, NULL, count, offset);
}

int
vd_disk_flush (vd_disk *d)
{
  int r = 0;
  VD_ENTER ();
  if (!d)
    return vd__error (VD_EINVAL, 0, "no disk");
  if (!d->rw)
    return 0;
  for (size_t i = 0; i < d->top->n_extents; i++) {
    struct vd_extent *e = &d->top->extents[i];
    if (e->rw && e->drv->flush) {
      int r2 = e->drv->flush (e);
      if (r2 < 0 && r == 0)
        r = r2;
    }
  }
  /* The data is durable: end the change set. */
  if (r == 0)
    r = vd__link_cbt_commit (d->top);
  return r;
}
