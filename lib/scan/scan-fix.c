/* Fixing what a scan found: fill sector ranges with a byte
 * (vd_disk_fill_sectors) and replace byte strings (vd_disk_replace), in
 * place or in a new child.  Uses the public disk and scan API only. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- remediation -------------------------------------------------------- */

#define FILL_CHUNK (1u << 20)

static int
fill_ranges (vd_disk *d, const struct vd_sector_range *ranges, size_t n,
             uint8_t fill)
{
  uint8_t *buf = malloc (FILL_CHUNK);
  size_t i;
  int r = 0;

  if (!buf)
    return vd__error (VD_ENOMEM, errno, "fill: out of memory");
  memset (buf, fill, FILL_CHUNK);
  for (i = 0; i < n && r == 0; i++) {
    uint64_t off = ranges[i].first * VD_SECTOR;
    uint64_t end = (ranges[i].last + 1) * VD_SECTOR;
    while (off < end && r == 0) {
      size_t c = (size_t) VD_MIN ((uint64_t) FILL_CHUNK, end - off);
      r = vd_disk_write (d, buf, c, off);
      off += c;
    }
  }
  free (buf);
  if (r == 0)
    r = vd_disk_flush (d);
  return r;
}

static int
check_ranges (vd_disk *d, const struct vd_sector_range *ranges, size_t n)
{
  uint64_t sectors = vd_disk_get_size (d) / VD_SECTOR;
  size_t i;
  for (i = 0; i < n; i++)
    if (ranges[i].first > ranges[i].last || ranges[i].last >= sectors)
      return vd__error (VD_EINVAL, 0, "%s: sector range %llu..%llu is not "
                       "within the disk's %llu sectors",
                       vd_disk_get_path (d),
                       (unsigned long long) ranges[i].first,
                       (unsigned long long) ranges[i].last,
                       (unsigned long long) sectors);
  return 0;
}

/* Open the disk at path for changes: in place, or a new child. */
static int
open_for_change (vd_disk **out, const char *path, uint32_t open_flags,
                 const char *child_path, vd_disk *already_open)
{
  vd_disk *p = already_open;
  int r;

  *out = NULL;
  open_flags &= ~VD_OPEN_READ_ONLY;
  if (!child_path)
    return vd_disk_open (out, path, open_flags);
  if (!p && (r = vd_disk_open (&p, path, open_flags | VD_OPEN_READ_ONLY)) < 0)
    return r;
  r = vd_disk_create_child (p, child_path, VD_TYPE_MONOLITHIC_SPARSE, 0);
  if (!already_open)
    vd_disk_close (p);
  if (r < 0)
    return r;
  r = vd_disk_open (out, child_path,
                    open_flags & ~(VD_OPEN_SINGLE_LINK | VD_OPEN_RAW));
  if (r < 0)
    unlink (child_path);
  return r;
}

int
vd_disk_fill_sectors (const char *path, uint32_t open_flags,
                      const struct vd_sector_range *ranges, size_t n_ranges,
                      uint8_t fill, const char *child_path)
{
  vd_disk *d = NULL, *probe = NULL;
  int r;
  VD_ENTER ();

  if (!path || (n_ranges && !ranges))
    return vd__error (VD_EINVAL, 0, "vd_disk_fill_sectors: no disk or "
                     "ranges");
  /* validate before anything is created */
  r = vd_disk_open (&probe, path, open_flags | VD_OPEN_READ_ONLY);
  if (r < 0)
    return r;
  r = check_ranges (probe, ranges, n_ranges);
  if (r < 0) {
    vd_disk_close (probe);
    return r;
  }
  if (child_path) {
    r = open_for_change (&d, path, open_flags, child_path, probe);
    vd_disk_close (probe);
  }
  else {
    vd_disk_close (probe);
    r = open_for_change (&d, path, open_flags, NULL, NULL);
  }
  if (r < 0)
    return r;
  r = fill_ranges (d, ranges, n_ranges, fill);
  {
    int c = vd_disk_close (d);
    if (r == 0)
      r = c;
  }
  if (r < 0 && child_path)
    unlink (child_path);
  return r;
}

/* ---- edit --------------------------------------------------------------- */

struct find_state {
  const uint8_t *find;
  size_t len;
};

/* Every occurrence, overlapping ones too: the caller picks. */
static int
find_scan (void *state, const void *buf, size_t len, vd_scan_match_cb match,
           void *match_payload)
{
  struct find_state *f = state;
  const uint8_t *b = buf, *p = b, *end = b + len;
  while ((size_t) (end - p) >= f->len) {
    const uint8_t *q = memmem (p, (size_t) (end - p), f->find, f->len);
    int r;
    if (!q)
      break;
    r = match ((uint64_t) (q - b), f->len, "find", match_payload);
    if (r < 0)
      return r;
    p = q + 1;
  }
  return 0;
}

struct offsets {
  uint64_t *v;
  size_t n, cap;
  uint64_t len;
};

static int
keep_offset (const struct vd_scan_hit *h, void *payload)
{
  struct offsets *o = payload;
  /* hits come in ascending order: leftmost wins */
  if (o->n && h->offset < o->v[o->n - 1] + o->len)
    return 0;
  if (o->n == o->cap) {
    size_t nc = o->cap ? o->cap * 2 : 64;
    uint64_t *n = realloc (o->v, nc * sizeof *n);
    if (!n) {
      vd__error (VD_ENOMEM, errno, "edit: out of memory");
      return 1;
    }
    o->v = n;
    o->cap = nc;
  }
  o->v[o->n++] = h->offset;
  return 0;
}

int64_t
vd_disk_replace (const char *path, uint32_t open_flags, const void *find,
                 const void *replace, size_t len, const char *child_path,
                 int dry_run, int (*found) (uint64_t offset, void *payload),
                 void *payload)
{
  struct find_state fs = { find, len };
  struct offsets o = { NULL, 0, 0, len };
  vd_scanner *sc = NULL;
  vd_disk *d = NULL, *w = NULL;
  size_t i;
  int r;
  VD_ENTER ();

  if (!path || !find || !replace || len == 0)
    return vd__error (VD_EINVAL, 0, "vd_disk_replace: need a disk, a find "
                     "and a replace string");
  if (vd__is_zero (find, len))
    return vd__error (VD_EINVAL, 0, "%s: the find string is all zero bytes; "
                     "only allocated data is searched", path);
  if (len > VD_SCAN_MAX_OVERLAP / 4)
    return vd__error (VD_EINVAL, 0, "%s: find string of %zu bytes is too "
                     "long (max %u)", path, len, VD_SCAN_MAX_OVERLAP / 4);
  r = vd__scanner_make (&sc, find_scan, &fs, len, NULL, 0);
  if (r < 0)
    return r;
  r = vd_disk_open (&d, path,
                    dry_run || child_path ? open_flags | VD_OPEN_READ_ONLY
                                          : open_flags & ~VD_OPEN_READ_ONLY);
  if (r < 0)
    goto out;
  r = vd_scan (d, sc, NULL, keep_offset, &o, NULL);
  if (r < 0)
    goto out;
  r = 0;
  for (i = 0; i < o.n; i++)
    if (found && found (o.v[i], payload)) {
      r = vd__error (VD_ECANCELED, 0, "%s: edit stopped by the caller", path);
      goto out;
    }
  if (dry_run || o.n == 0 || !memcmp (find, replace, len)) {
    r = 0;
    goto out;
  }
  if (child_path) {
    r = open_for_change (&w, path, open_flags, child_path, d);
    if (r < 0)
      goto out;
  }
  else
    w = d;
  for (i = 0; i < o.n && r == 0; i++)
    r = vd_disk_write (w, replace, len, o.v[i]);
  if (r == 0)
    r = vd_disk_flush (w);
  if (w != d) {
    int c = vd_disk_close (w);
    if (r == 0)
      r = c;
    if (r < 0)
      unlink (child_path);
  }
out:
  if (d) {
    int c = vd_disk_close (d);
    if (r == 0)
      r = c;
  }
  vd_scanner_free (sc);
  free (o.v);
  return r < 0 ? r : (int64_t) o.n;
}
