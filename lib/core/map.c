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
      return vd__error (VD_EIO, 0, "%s: internal error: bad map length",
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
    return vd__error (VD_EINVAL, 0, "no disk or callback");
  r = vd__disk_check_range (d, length, offset, "block status");
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

/* ---- run lists and the window iterator ------------------------------ */

struct runs_acc {
  struct vd_runs *rs;
  unsigned want;
  int oom;
};

static int
runs_add (uint64_t off, uint64_t len, uint32_t st, void *payload)
{
  struct runs_acc *a = payload;
  struct vd_runs *rs = a->rs;

  if (!(a->want & (1u << st)))
    return 0;
  if (rs->n && rs->v[rs->n - 1].status == st
      && rs->v[rs->n - 1].off + rs->v[rs->n - 1].len == off) {
    rs->v[rs->n - 1].len += len;
    return 0;
  }
  if (rs->n == rs->cap) {
    size_t cap = rs->cap ? rs->cap * 2 : 256;
    struct vd_run *p = realloc (rs->v, cap * sizeof *p);
    if (!p) {
      a->oom = 1;
      return 1;
    }
    rs->v = p;
    rs->cap = cap;
  }
  rs->v[rs->n++] = (struct vd_run) { off, len, st };
  return 0;
}

int
vd__runs_collect (vd_disk *d, struct vd_link *l, uint64_t off, uint64_t len,
                  unsigned want, struct vd_runs *rs)
{
  struct runs_acc a = { .rs = rs, .want = want };
  int r;

  rs->n = 0;
  r = d ? vd_disk_block_status (d, off, len, runs_add, &a)
        : vd__link_block_status (l, off, len, runs_add, &a);
  if (r == 0 && a.oom)
    r = vd__error (VD_ENOMEM, 0, "%s: out of memory for the allocation map",
                  d ? d->top->path : l->path);
  return r;
}

void
vd__runs_free (struct vd_runs *rs)
{
  free (rs->v);
  memset (rs, 0, sizeof *rs);
}

void
vd__run_iter_init (struct vd_run_iter *it, vd_disk *d, struct vd_link *l,
                   uint64_t off, uint64_t len, uint64_t window, unsigned want)
{
  memset (it, 0, sizeof *it);
  it->disk = d;
  it->link = l;
  it->want = want;
  it->pos = off;
  it->end = off + len;
  it->window = window ? window : len;
}

int
vd__run_iter_next (struct vd_run_iter *it, struct vd_run *run)
{
  for (;;) {
    if (it->loaded && it->i < it->rs.n) {
      *run = it->rs.v[it->i++];
      return VD_RUN_NEXT;
    }
    if (it->loaded) {           /* every run of the window was given */
      it->loaded = 0;
      it->window_end = it->pos;
      return VD_RUN_WINDOW;
    }
    if (it->pos >= it->end)
      return 0;
    uint64_t wl = VD_MIN (it->window, it->end - it->pos);
    int r = vd__runs_collect (it->disk, it->link, it->pos, wl, it->want,
                              &it->rs);
    if (r < 0)
      return r;
    it->pos += wl;
    it->i = 0;
    it->loaded = 1;
  }
}

void
vd__run_iter_free (struct vd_run_iter *it)
{
  vd__runs_free (&it->rs);
}
