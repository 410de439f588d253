/* The hosted sparse driver's check: every table and grain against the
 * file (fix 0), and the repair of what a crash or a bad copy can leave
 * (fix 1).  Beside the driver so both read the format the same way. */
#include "sparse.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
sparse_check (struct vd_extent *e, struct vd_check_ctx *ctx)
{
  struct sparse *s = e->state;
  uint64_t file_grains = s->file_size / s->grain_bytes;
  uint64_t bytes = (file_grains + 7) / 8;
  uint8_t *used = calloc (1, bytes ? bytes : 1);
  uint8_t raw[KDMV_GT_BYTES], raw2[KDMV_GT_BYTES];
  uint64_t n_grains = VD_DIV_ROUND_UP (e->size, s->grain_bytes);
  int r = 0;

  if (!used)
    return vd__error (VD_ENOMEM, errno, "%s: check bitmap", e->path);
  if (s->unclean)
    ctx->res->unclean = 1;
  if (s->unclean)
    vd__check_report (ctx, VD_CHECK_SEVERITY_INFO,
                      "%s: uncleanShutdown is set (the disk was not closed "
                      "cleanly)", e->path);
#define MARK(sector, sectors)                                           \
  do {                                                                  \
    for (uint64_t _g = (sector) / s->grain;                             \
         _g <= ((sector) + (sectors) - 1) / s->grain && _g < file_grains; \
         _g++)                                                          \
      used[_g / 8] |= (uint8_t) (1u << (_g % 8));                       \
  } while (0)
  for (uint64_t gdi = 0; gdi < s->gd_entries; gdi++) {
    if (s->gd[gdi] == 0) {
      if (s->rgd && s->rgd[gdi] != 0)
        vd__check_report (ctx, VD_CHECK_SEVERITY_CORRUPT,
                          "%s: directory entry %llu is 0 but the redundant "
                          "one is not", e->path, (unsigned long long) gdi);
      continue;
    }
    MARK ((uint64_t) s->gd[gdi], KDMV_GT_SECTORS);
    r = vd__io_pread (e->io, raw, KDMV_GT_BYTES, (uint64_t) s->gd[gdi] * VD_SECTOR);
    if (r < 0)
      goto out;
    if (s->rgd && s->rgd[gdi]) {
      MARK ((uint64_t) s->rgd[gdi], KDMV_GT_SECTORS);
      r = vd__io_pread (e->io, raw2, KDMV_GT_BYTES,
                        (uint64_t) s->rgd[gdi] * VD_SECTOR);
      if (r < 0)
        goto out;
      if (memcmp (raw, raw2, KDMV_GT_BYTES) != 0) {
        /* Entries are written primary first, then redundant: a crash in
         * between leaves one copy lagging (an entry 0 where the other has
         * one).  That is safe and repairable; any other difference is
         * not. */
        int lagging = 1;
        for (unsigned i = 0; i < KDMV_N_GTES && lagging; i++) {
          uint32_t a = vd__le32 (raw + i * 4), b = vd__le32 (raw2 + i * 4);
          if (a != b && a != 0 && b != 0)
            lagging = 0;
        }
        vd__check_report (ctx, lagging ? VD_CHECK_SEVERITY_REPAIRABLE
                                       : VD_CHECK_SEVERITY_CORRUPT,
                          "%s: grain table %llu differs from its redundant "
                          "copy%s", e->path, (unsigned long long) gdi,
                          lagging ? " where one copy lags (an interrupted "
                                    "update that a repair can sync)"
                                 : "");
      }
    }
    for (unsigned i = 0; i < KDMV_N_GTES; i++) {
      uint64_t gi = gdi * KDMV_N_GTES + i;
      uint32_t gte = vd__le32 (raw + i * 4);
      if (gte == 0 || (gte == 1 && s->zeroed_ok))
        continue;
      if (gi >= n_grains) {
        vd__check_report (ctx, VD_CHECK_SEVERITY_INFO,
                          "%s: entry for grain %llu beyond capacity is set "
                          "(ignored)", e->path, (unsigned long long) gi);
        continue;
      }
      if (gte == 1) {
        vd__check_report (ctx, VD_CHECK_SEVERITY_CORRUPT,
                          "%s: grain %llu has entry 1 without the zeroed-"
                          "grain flag", e->path, (unsigned long long) gi);
        continue;
      }
      if (gte < s->overhead) {
        vd__check_report (ctx, VD_CHECK_SEVERITY_CORRUPT,
                          "%s: grain %llu points into metadata (sector %u)",
                          e->path, (unsigned long long) gi, gte);
        continue;
      }
      if ((uint64_t) gte * VD_SECTOR + s->grain_bytes > s->file_size
          && (uint64_t) gte * VD_SECTOR
               + VD_MIN (s->grain_bytes, e->size - gi * s->grain_bytes)
             > s->file_size) {
        vd__check_report (ctx, VD_CHECK_SEVERITY_CORRUPT,
                          "%s: grain %llu points past end of file (sector "
                          "%u)", e->path, (unsigned long long) gi, gte);
        continue;
      }
      if (gte % s->grain)
        vd__check_report (ctx, VD_CHECK_SEVERITY_INFO,
                          "%s: grain %llu is not aligned to the grain size "
                          "(sector %u)", e->path, (unsigned long long) gi,
                          gte);
      uint64_t fg = gte / s->grain;
      if (fg < file_grains && (used[fg / 8] & (1u << (fg % 8)))) {
        vd__check_report (ctx, VD_CHECK_SEVERITY_CORRUPT,
                          "%s: grain %llu shares its data (sector %u) with "
                          "another grain or table", e->path,
                          (unsigned long long) gi, gte);
        continue;
      }
      MARK ((uint64_t) gte, s->grain);
      ctx->res->allocated++;
    }
  }
  /* Grains after the metadata that nothing points at are leaked. */
  for (uint64_t g = VD_DIV_ROUND_UP (s->overhead, s->grain); g < file_grains;
       g++)
    if (!(used[g / 8] & (1u << (g % 8)))) {
      ctx->res->leaks++;
    }
  if (ctx->res->leaks)
    vd__check_report (ctx, VD_CHECK_SEVERITY_LEAK,
                      "%s: %llu grains are allocated in the file but not "
                      "used", e->path, (unsigned long long) ctx->res->leaks);
#undef MARK
out:
  free (used);
  return r;
}

/* ---- repair (fix 1) ------------------------------------------------------ */


struct rx {
  const char *path;
  struct vd_io *io;
  uint8_t hdr[VD_SECTOR];
  uint32_t version, flags;
  uint64_t capacity, grain, desc_off, desc_size, rgd_off, gd_off, overhead;
  uint64_t gd_entries, gd_sectors, file_size;
  uint32_t *gd, *rgd;
  struct vd_check_ctx *ctx;
  unsigned fixes;
};

static void
rx_note (struct rx *x, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));
static void
rx_note (struct rx *x, const char *fmt, ...)
{
  char msg[768];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  if (x->ctx->message)
    x->ctx->message (VD_CHECK_SEVERITY_INFO, msg, x->ctx->payload);
}


/* A table at sector g is usable: inside the file, clear of the header,
 * the descriptor and both directories. */
static int
rx_table_ok (const struct rx *x, uint64_t g)
{
  uint64_t max = x->file_size / VD_SECTOR;
  if (g == 0 || g > max || KDMV_GT_SECTORS > max - g)
    return 0;
  if (x->desc_off && g < x->desc_off + x->desc_size
      && g + KDMV_GT_SECTORS > x->desc_off)
    return 0;
  if (g < x->gd_off + x->gd_sectors && g + KDMV_GT_SECTORS > x->gd_off)
    return 0;
  if (x->rgd_off && g < x->rgd_off + x->gd_sectors
      && g + KDMV_GT_SECTORS > x->rgd_off)
    return 0;
  return 1;
}

/* Every entry of a grain table is followed safely. */
static int
rx_gt_ok (const struct rx *x, const uint8_t *raw)
{
  for (unsigned i = 0; i < KDMV_N_GTES; i++) {
    uint64_t g = vd__le32 (raw + i * 4);
    if (g == 0 || (g == 1 && (x->flags & KDMV_FLAG_ZEROED_GTE) && x->version >= 2))
      continue;
    if (g < x->overhead || g * VD_SECTOR > x->file_size)
      return 0;
  }
  return 1;
}

static int
rx_header (struct rx *x)
{
  int r = x->io->ops->size (x->io, &x->file_size);
  if (r < 0)
    return r;
  if (x->file_size < VD_SECTOR)
    return vd__corrupt (x->path, "file too short for a sparse header; cannot "
                        "repair");
  r = vd__io_pread (x->io, x->hdr, VD_SECTOR, 0);
  if (r < 0)
    return r;
  if (vd__le32 (x->hdr) != KDMV_MAGIC)
    return vd__corrupt (x->path, "not a hosted sparse extent; cannot repair");
  struct kdmv_header h;
  vd__kdmv_decode (&h, x->hdr);
  x->version = h.version;
  x->flags = h.flags;
  x->capacity = h.capacity;
  x->grain = h.grain;
  x->desc_off = h.desc_off;
  x->desc_size = h.desc_size;
  x->rgd_off = h.rgd_off;
  x->gd_off = h.gd_off;
  x->overhead = h.overhead;
  if (x->flags & KDMV_FLAG_COMPRESSED)
    return vd__corrupt (x->path, "streamOptimized (compressed) extents are "
                        "written "
                        "once and not repaired; convert the disk instead");
  if (x->version < 1 || x->version > 3 || (x->flags & 0xffff0000u))
    return vd__corrupt (x->path, "sparse version %u / flags 0x%08x are not "
                        "known; "
                        "not repaired", x->version, x->flags);
  if (x->grain < 8 || x->grain > 2048 || (x->grain & (x->grain - 1))
      || h.n_gtes != KDMV_N_GTES || x->capacity == 0
      || x->capacity > ((uint64_t) 1 << 40))
    return vd__corrupt (x->path, "the header itself is damaged (grain size, "
                        "table "
                        "size or capacity); there is no second copy of it, so "
                        "it is not repaired");
  x->gd_entries = VD_DIV_ROUND_UP (x->capacity, (uint64_t) KDMV_N_GTES
                                                  * x->grain);
  x->gd_sectors = VD_DIV_ROUND_UP (x->gd_entries * 4, VD_SECTOR);
  if (x->gd_entries * 4 > KDMV_MAX_GD_BYTES || x->gd_entries * 4 > x->file_size)
    return vd__corrupt (x->path, "capacity too large for the file; not "
                        "repaired");
  if (!(x->flags & KDMV_FLAG_RGD))
    x->rgd_off = 0;
  if (x->overhead * VD_SECTOR > x->file_size)
    return vd__corrupt (x->path, "file truncated below its metadata (overHead "
                        "sector %llu); data is missing and cannot be repaired",
                        (unsigned long long) x->overhead);
  return 0;
}

/* Load a directory at sector off (0: none). */
static int
rx_load_dir (struct rx *x, uint64_t off, uint32_t **out)
{
  uint64_t max = x->file_size / VD_SECTOR;
  size_t bytes = (size_t) x->gd_entries * 4;
  uint8_t *raw;
  *out = NULL;
  if (off == 0 || off > max || x->gd_sectors > max - off)
    return 0;
  raw = malloc (bytes);
  *out = malloc (bytes);
  if (!raw || !*out) {
    free (raw);
    free (*out);
    *out = NULL;
    return vd__error (VD_ENOMEM, errno, "%s: directory", x->path);
  }
  int r = vd__io_pread (x->io, raw, bytes, off * VD_SECTOR);
  for (uint64_t i = 0; r == 0 && i < x->gd_entries; i++)
    (*out)[i] = vd__le32 (raw + i * 4);
  free (raw);
  if (r < 0) {
    free (*out);
    *out = NULL;
  }
  return r;
}

static int
rx_dir_ok (struct rx *x, const uint32_t *gd)
{
  if (!gd)
    return 0;
  for (uint64_t i = 0; i < x->gd_entries; i++)
    if (gd[i] != 0 && !rx_table_ok (x, gd[i]))
      return 0;
  return 1;
}

/* Append a table at the grain-aligned end of the file. */
static int
rx_append_table (struct rx *x, const uint8_t *raw, uint32_t *sector)
{
  uint64_t s = VD_ROUND_UP (VD_DIV_ROUND_UP (x->file_size, VD_SECTOR),
                            x->grain);
  int r;
  if (s + x->grain > UINT32_MAX)
    return vd__corrupt (x->path, "no room for a new grain table");
  r = vd__io_pwrite (x->io, raw, KDMV_GT_BYTES, s * VD_SECTOR);
  if (r == 0 && x->grain * VD_SECTOR > KDMV_GT_BYTES) {
    /* pad to a whole grain so later grains stay aligned */
    uint8_t z = 0;
    r = vd__io_pwrite (x->io, &z, 1, (s + x->grain) * VD_SECTOR - 1);
  }
  if (r < 0)
    return r;
  x->file_size = (s + x->grain) * VD_SECTOR;
  *sector = (uint32_t) s;
  return 0;
}

static int
rx_write_dir_entry (struct rx *x, uint64_t dir, uint64_t i, uint32_t v)
{
  uint8_t le[4];
  vd__put_le32 (le, v);
  return vd__io_pwrite (x->io, le, 4, dir * VD_SECTOR + i * 4);
}

/* Make the two directories and every table pair agree. */
static int
rx_tables (struct rx *x, int dry)
{
  uint8_t a[KDMV_GT_BYTES], b[KDMV_GT_BYTES];
  int gd_ok = rx_dir_ok (x, x->gd);
  int rgd_ok = x->rgd_off ? rx_dir_ok (x, x->rgd) : 1;
  int r;

  if (!gd_ok && !(x->rgd_off && rgd_ok))
    return vd__corrupt (x->path, "the grain directory is damaged and there "
                        "is no "
                        "good redundant copy; not repaired");
  if (!x->rgd_off)
    return 0;
  for (uint64_t i = 0; i < x->gd_entries; i++) {
    uint32_t p = gd_ok ? x->gd[i] : 0, q = rgd_ok ? x->rgd[i] : 0;
    int pa = 0, qa = 0;
    if (p && (r = vd__io_pread (x->io, a, KDMV_GT_BYTES,
                                (uint64_t) p * VD_SECTOR)) < 0)
      return r;
    if (q && (r = vd__io_pread (x->io, b, KDMV_GT_BYTES,
                                (uint64_t) q * VD_SECTOR)) < 0)
      return r;
    pa = p && rx_gt_ok (x, a);
    qa = q && rx_gt_ok (x, b);
    if (p && q && pa && qa) {
      if (memcmp (a, b, KDMV_GT_BYTES) == 0)
        continue;
      /* A crash between the two copies leaves one behind the other:
       * entries set in one and 0 in the other.  Both point at synced
       * grains, so the union is safe; two different grains for one
       * slot are not decidable. */
      for (unsigned k = 0; k < KDMV_N_GTES; k++) {
        uint32_t u = vd__le32 (a + k * 4), v = vd__le32 (b + k * 4);
        if (u && v && u != v)
          return vd__corrupt (x->path, "grain table %llu: the primary and "
                              "redundant "
                              "copies give grain %llu different places "
                              "(sectors "
                              "%u and %u); cannot tell which is right, not "
                              "repaired", (unsigned long long) i,
                              (unsigned long long) (i * KDMV_N_GTES + k), u, v);
        if (!u)
          memcpy (a + k * 4, b + k * 4, 4);
      }
      rx_note (x, "%s: grain table %llu: the two copies merged (one lagged "
               "behind after an interrupted write)", x->path,
               (unsigned long long) i);
      x->fixes++;
      if (!dry && ((r = vd__io_pwrite (x->io, a, KDMV_GT_BYTES,
                                       (uint64_t) p * VD_SECTOR)) < 0
                   || (r = vd__io_pwrite (x->io, a, KDMV_GT_BYTES,
                                          (uint64_t) q * VD_SECTOR)) < 0))
        return r;
      continue;
    }
    if (!p && !q)
      continue;
    /* one copy missing or unusable: rebuild it from the other */
    if ((p && !pa && q && !qa) || (!pa && !qa))
      return vd__corrupt (x->path, "grain table %llu is damaged in both "
                          "copies; not "
                          "repaired", (unsigned long long) i);
    {
      int from_primary = pa;
      const uint8_t *good = from_primary ? a : b;
      uint32_t bad_loc = from_primary ? q : p;
      uint64_t dir = from_primary ? x->rgd_off : x->gd_off;
      rx_note (x, "%s: %s grain table %llu rebuilt from the %s copy",
               x->path, from_primary ? "redundant" : "primary",
               (unsigned long long) i,
               from_primary ? "primary" : "redundant");
      x->fixes++;
      if (dry)
        continue;
      if (bad_loc && rx_table_ok (x, bad_loc)
          && (from_primary ? rgd_ok : gd_ok))
        r = vd__io_pwrite (x->io, good, KDMV_GT_BYTES,
                           (uint64_t) bad_loc * VD_SECTOR);
      else {
        uint32_t loc = 0;
        r = rx_append_table (x, good, &loc);
        if (r == 0)
          r = vd__io_flush (x->io);    /* the table before its entry */
        if (r == 0)
          r = rx_write_dir_entry (x, dir, i, loc);
      }
      if (r < 0)
        return r;
    }
  }
  /* a directory with bad entries that were all rebuilt: rewrite the rest
   * of it from the good one for entries that were 0 on both sides */
  if (!dry && (!gd_ok || !rgd_ok)) {
    uint32_t *bad = gd_ok ? x->rgd : x->gd;
    uint64_t dir = gd_ok ? x->rgd_off : x->gd_off;
    const uint32_t *good = gd_ok ? x->gd : x->rgd;
    for (uint64_t i = 0; bad && i < x->gd_entries; i++)
      if (good[i] == 0 && bad[i] != 0
          && (r = rx_write_dir_entry (x, dir, i, 0)) < 0)
        return r;
  }
  return 0;
}

/* Trailing grains nothing points at: cut them off. */
static int
rx_trailing_leaks (struct rx *x, int dry)
{
  uint64_t end = VD_ROUND_UP (x->overhead, x->grain);
  uint8_t raw[KDMV_GT_BYTES];
  const uint32_t *dirs[2] = { x->gd, x->rgd };
  int r;
  for (int d = 0; d < 2; d++) {
    if (!dirs[d] || (d == 1 && !x->rgd_off))
      continue;
    for (uint64_t i = 0; i < x->gd_entries; i++) {
      uint64_t g = dirs[d][i];
      if (!g)
        continue;
      end = VD_MAX (end, g + KDMV_GT_SECTORS);
      if ((r = vd__io_pread (x->io, raw, KDMV_GT_BYTES, g * VD_SECTOR)) < 0)
        return r;
      for (unsigned k = 0; k < KDMV_N_GTES; k++) {
        uint64_t s = vd__le32 (raw + k * 4);
        if (s > 1)
          end = VD_MAX (end, s + x->grain);
      }
    }
  }
  end = VD_ROUND_UP (end, x->grain);
  if (end * VD_SECTOR >= x->file_size)
    return 0;
  rx_note (x, "%s: %llu bytes of leaked grains at the end of the file "
           "given back", x->path,
           (unsigned long long) (x->file_size - end * VD_SECTOR));
  x->fixes++;
  if (dry)
    return 0;
  r = x->io->ops->truncate (x->io, end * VD_SECTOR);
  if (r == 0)
    x->file_size = end * VD_SECTOR;
  return r;
}

static int
sparse_repair (struct vd_extent *e, struct vd_check_ctx *ctx)
{
  const int dry = 0;
  struct rx x;
  int r;
  memset (&x, 0, sizeof x);
  x.path = e->path;
  x.ctx = ctx;
  x.io = e->io;
  if ((r = rx_header (&x)) < 0)
    goto out;
  if ((r = rx_load_dir (&x, x.gd_off, &x.gd)) < 0
      || (x.rgd_off && (r = rx_load_dir (&x, x.rgd_off, &x.rgd)) < 0))
    goto out;
  if ((r = rx_tables (&x, dry)) < 0)
    goto out;
  if (!dry && x.fixes && (r = vd__io_flush (x.io)) < 0)
    goto out;
  /* reload what was rewritten before measuring the tail */
  free (x.gd);
  free (x.rgd);
  x.gd = x.rgd = NULL;
  if ((r = rx_load_dir (&x, x.gd_off, &x.gd)) < 0
      || (x.rgd_off && (r = rx_load_dir (&x, x.rgd_off, &x.rgd)) < 0))
    goto out;
  if (rx_dir_ok (&x, x.gd) && (!x.rgd_off || rx_dir_ok (&x, x.rgd))
      && (r = rx_trailing_leaks (&x, dry)) < 0)
    goto out;
  if (x.hdr[KDMV_UNCLEAN_OFFSET]) {
    rx_note (&x, "%s: uncleanShutdown cleared", x.path);
    x.fixes++;
    if (!dry) {
      uint8_t zero = 0;
      r = vd__io_flush (x.io);     /* the repairs before the flag */
      if (r == 0)
        r = vd__io_pwrite (x.io, &zero, 1, KDMV_UNCLEAN_OFFSET);
    }
  }
  if (r == 0 && !dry)
    r = vd__io_flush (x.io);
out:
  free (x.gd);
  free (x.rgd);
  return r < 0 ? r : (int) x.fixes;
}

/* fix 0: e is open (sparse_open succeeded): report every finding.
 * fix 1: only e->io (read-write, locked) and e->path are set, the driver
 * has not opened the file (open may refuse a damaged one): repair what
 * is safe, report each fix, return the number of fixes. */
int
vd__sparse_check (struct vd_extent *e, struct vd_check_ctx *ctx, int fix)
{
  return fix ? sparse_repair (e, ctx) : sparse_check (e, ctx);
}
