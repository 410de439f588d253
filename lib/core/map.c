/* The allocation map: block status of a disk (through its chain) or of
 * one link alone, and the run iterator that the copying operations use
 * to walk it window by window. */
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

/* ---- allocation map ----------------------------------------------------------- */

struct bs_acc {
  vd_block_status_cb cb;
  void *payload;
  uint64_t off, len;
  uint32_t status;
  int have, stop;
};

static int
bs_emit (struct bs_acc *a, uint64_t off, uint64_t len, uint32_t st)
{
  if (a->have && a->status == st && a->off + a->len == off) {
    a->len += len;
    return 0;
  }
  if (a->have && a->cb (a->off, a->len, a->status, a->payload)) {
    a->stop = 1;
    return 1;
  }
  a->have = 1;
  a->off = off;
  a->len = len;
  a->status = st;
  return 0;
}

/* Status of [off, off+len) in link l (and below it). */
static int
link_status (struct vd_link *l, uint64_t off, uint64_t len,
             struct bs_acc *a, int descend)
{
  while (len > 0 && !a->stop) {
    struct vd_extent *e = vd__find_extent (l, off);
    uint64_t eoff = off - e->start;
    uint64_t n = VD_MIN (len, e->size - eoff);
    struct vd_map m;
    int r = e->drv->map (e, eoff, n, &m);
    if (r < 0)
      return r;
    if (m.length == 0 || m.length > n)
      return vd_error (VD_EIO, 0, "%s: internal error: bad map length",
                       e->path);
    switch (m.status) {
    case VD_MAP_DATA:
    case VD_MAP_DRIVER:
      bs_emit (a, off, m.length, VD_STATUS_DATA);
      break;
    case VD_MAP_ZERO:
      bs_emit (a, off, m.length, VD_STATUS_ZERO);
      break;
    case VD_MAP_HOLE:
      if (l->parent && descend) {
        r = link_status (l->parent, off, m.length, a, 1);
        if (r < 0)
          return r;
      }
      else
        bs_emit (a, off, m.length, VD_STATUS_HOLE);
      break;
    }
    off += m.length;
    len -= m.length;
  }
  return 0;
}

int
vd_disk_block_status (vd_disk *d, uint64_t offset, uint64_t length,
                      vd_block_status_cb cb, void *payload)
{
  struct bs_acc a = { .cb = cb, .payload = payload };
  int r;
  VD_ENTER ();
  if (!d || !cb)
    return vd_error (VD_EINVAL, 0, "no disk or callback");
  r = vd__disk_check_range (d, (size_t) length, offset, "block status");
  if (r < 0)
    return r;
  r = link_status (d->top, offset, length, &a, 1);
  if (r < 0)
    return r;
  if (a.have && !a.stop)
    cb (a.off, a.len, a.status, payload);
  return 0;
}

int
vd__link_block_status (struct vd_link *l, uint64_t off, uint64_t len,
                       vd_block_status_cb cb, void *payload)
{
  struct bs_acc a = { .cb = cb, .payload = payload };
  int r = link_status (l, off, len, &a, 0);
  if (r < 0)
    return r;
  if (a.have && !a.stop)
    cb (a.off, a.len, a.status, payload);
  return 0;
}
