/* streamOptimized extents: compressed grains behind markers.
 *
 * Reading (vd__stream_driver) handles the three layouts seen in practice
 * (vmdk-format.md §3.4):
 *   A. VMware's streaming writer: header with gdOffset = GD_AT_END, grains,
 *      a GT marker + GT after the grains each GT covers, GD marker + GD,
 *      footer marker + footer (a header copy with the real gdOffset), EOS.
 *   B. open-vmdk: GD and every GT at the front (no markers on them), grains
 *      from overHead, EOS, real gdOffset in the header.
 *   C. QEMU: RGD + GD + GTs at the front, grains, no EOS and no footer.
 * All three are read through the GD/GT tables; the footer is used when the
 * header says GD_AT_END.  A GTE points at a grain *marker*: u64 lba, u32
 * compressed size, then a zlib stream (§3.2).
 *
 * The writer, vd__stream_convert, is in stream-write.c.  So is the
 * appender: an empty stream (what vd_disk_create makes) opened for writing
 * takes writes front to back; reads see what was written so far. */

#include "stream.h"

#include <errno.h>
#include <libdeflate.h>
#include <stdlib.h>
#include <string.h>

/* ---- header ------------------------------------------------------------ */

static int
stream_probe (const uint8_t *buf, size_t len)
{
  if (len < 12 || vd__le32 (buf) != KDMV_MAGIC)
    return 0;
  return (vd__le32 (buf + 8) & KDMV_FLAG_COMPRESSED) ? 100 : 0;
}

/* ---- driver state ------------------------------------------------------ */

static const char *
so_name (struct vd_extent *e)
{
  if (e->path)
    return e->path;
  if (e->io && e->io->name)
    return e->io->name;
  return "(stream)";
}

/* Metadata marker at sector s: numSectors, size, type. */
int
vd__so_read_marker (struct stream_state *st, struct vd_io *io, uint64_t s,
                    uint64_t *num, uint32_t *size, uint32_t *type)
{
  uint8_t m[16];
  int r;

  if (s > st->file_size / VD_SECTOR || s * VD_SECTOR + 16 > st->file_size)
    return vd__corrupt (st->path, "marker at sector %llu is past "
                        "the end of the file",
                        (unsigned long long) s);
  r = vd__io_pread (io, m, sizeof m, s * VD_SECTOR);
  if (r < 0)
    return r;
  *num = vd__le64 (m);
  *size = vd__le32 (m + 8);
  *type = vd__le32 (m + 12);
  return 0;
}

/* The marker (numSectors num, size, type) in the sector before the
 * table at table_sector (layout A), security §4 item 32.  numSectors
 * must be the table size (libvmdk documents 0: allowed). */
static int
so_marker_ok (struct stream_state *st, uint64_t num, uint32_t size,
              uint32_t type, uint64_t table_sector, uint32_t want_type,
              uint64_t want_sectors)
{
  if (size != 0 || type != want_type || (num != want_sectors && num != 0))
    return vd__corrupt (st->path,
                        "%s marker at sector %llu is wrong (type %u, size "
                        "%u, %llu sectors; expected type %u, %llu sectors)",
                        want_type == SO_MARKER_GD ? "GD" : "GT",
                        (unsigned long long) (table_sector - 1), type, size,
                        (unsigned long long) num, want_type,
                        (unsigned long long) want_sectors);
  return 0;
}

int
vd__so_check_table_marker (struct stream_state *st, struct vd_io *io,
                           uint64_t table_sector, uint32_t want_type,
                           uint64_t want_sectors)
{
  uint64_t num;
  uint32_t size, type;
  int r;

  if (table_sector < 1)
    return vd__corrupt (st->path, "table at sector 0");
  r = vd__so_read_marker (st, io, table_sector - 1, &num, &size, &type);
  if (r < 0)
    return r;
  return so_marker_ok (st, num, size, type, table_sector, want_type,
                       want_sectors);
}

int
vd__so_read_gt (struct stream_state *st, struct vd_io *io, uint64_t gde,
                uint8_t *raw, int strict)
{
  uint8_t buf[VD_SECTOR + KDMV_GT_BYTES];
  int r;

  if (!st->footer)
    return vd__io_pread (io, raw, KDMV_GT_BYTES, gde * VD_SECTOR);
  if (gde < 1)
    return vd__corrupt (st->path, "table at sector 0");
  /* the marker's sector and the table: one read */
  r = vd__io_pread (io, buf, sizeof buf, (gde - 1) * VD_SECTOR);
  if (r < 0)
    return r;
  memcpy (raw, buf + VD_SECTOR, KDMV_GT_BYTES);
  r = so_marker_ok (st, vd__le64 (buf), vd__le32 (buf + 8),
                    vd__le32 (buf + 12), gde, SO_MARKER_GT, KDMV_GT_SECTORS);
  return r < 0 && !strict ? 1 : r;
}

/* Basic header rules shared by the header and the footer. */
static int
so_check_header (const char *path, const struct kdmv_header *h,
                 const char *which)
{
  uint32_t incompat = h->flags & 0xffff0000u;

  if (h->magic != KDMV_MAGIC)
    return vd__corrupt (path, "%s has a bad magic number 0x%08x", which,
                        h->magic);
  if (h->version < 1 || h->version > 3)
    return vd__error (VD_ENOTSUP, 0, "%s: %s has sparse version %u "
                     "(only 1 to 3 are known)", path, which, h->version);
  if (incompat & ~KDMV_KNOWN_INCOMPAT)
    return vd__error (VD_ENOTSUP, 0, "%s: %s has unknown incompatible "
                     "flags 0x%08x", path, which, incompat & ~KDMV_KNOWN_INCOMPAT);
  if (!(h->flags & KDMV_FLAG_COMPRESSED))
    return vd__corrupt (path, "%s lacks the compressed flag", which);
  if (h->compress != 1)
    return vd__error (VD_ENOTSUP, 0, "%s: %s has compression algorithm %u "
                     "(only 1, deflate, is known)", path, which, h->compress);
  if (!(h->flags & KDMV_FLAG_MARKERS))
    return vd__error (VD_ENOTSUP, 0, "%s: %s: compressed grains without "
                     "markers are not supported", path, which);
  if ((h->flags & KDMV_FLAG_NL_DETECT)
      && memcmp (h->nl, "\n \r\n", 4) != 0)
    return vd__corrupt (path, "%s is corrupted by CR/LF "
                        "translation (newline check bytes are wrong)", which);
  if (h->grain < SO_MIN_GRAIN || h->grain > KDMV_MAX_GRAIN
      || (h->grain & (h->grain - 1)) != 0)
    return vd__corrupt (path, "%s has grain size %llu sectors "
                        "(must be a power of 2 from %u to %u)", which,
                        (unsigned long long) h->grain, SO_MIN_GRAIN,
                        KDMV_MAX_GRAIN);
  if (h->n_gtes != KDMV_N_GTES)
    return vd__corrupt (path, "%s has %u entries per grain "
                        "table (must be %u)", which, h->n_gtes, KDMV_N_GTES);
  /* capacity * 512 must not overflow; the GD cap below bounds it more. */
  if (h->capacity > (UINT64_MAX >> 10))
    return vd__corrupt (path, "%s has capacity %llu sectors "
                        "(too large)", which,
                        (unsigned long long) h->capacity);
  return 0;
}

/* Layout A: find and check the footer (security §4 item 31). */
static int
so_read_footer (struct stream_state *st, struct vd_io *io,
                struct kdmv_header *out)
{
  uint8_t buf[3 * VD_SECTOR];
  uint64_t end = st->file_size & ~(uint64_t) (VD_SECTOR - 1);
  struct kdmv_header f;
  const struct kdmv_header *h = &st->h;
  int r;

  if (!(h->flags & KDMV_FLAG_MARKERS))
    return vd__corrupt (st->path, "grain directory at the end "
                        "(GD_AT_END) without the markers flag");
  if (end < 4 * VD_SECTOR)
    return vd__corrupt (st->path, "file too short (%llu bytes) for "
                        "a stream footer",
                        (unsigned long long) st->file_size);
  r = vd__io_pread (io, buf, sizeof buf, end - sizeof buf);
  if (r < 0)
    return r;
  /* [FOOTER marker][footer][EOS] are the last three sectors. */
  if (vd__le32 (buf + 8) != 0 || vd__le32 (buf + 12) != SO_MARKER_FOOTER
      || vd__le64 (buf) > 1)
    return vd__corrupt (st->path, "footer marker missing or wrong "
                        "at sector %llu (type %u, size %u)",
                        (unsigned long long) ((end - sizeof buf) / VD_SECTOR),
                        vd__le32 (buf + 12), vd__le32 (buf + 8));
  if (vd__le64 (buf + 2 * VD_SECTOR) != 0
      || vd__le32 (buf + 2 * VD_SECTOR + 8) != 0
      || vd__le32 (buf + 2 * VD_SECTOR + 12) != SO_MARKER_EOS)
    return vd__corrupt (st->path, "end-of-stream marker missing "
                        "after the footer");
  vd__kdmv_decode (&f, buf + VD_SECTOR);
  r = so_check_header (st->path, &f, "footer");
  if (r < 0)
    return r;
  if (f.gd_off == KDMV_GD_AT_END)
    return vd__corrupt (st->path, "footer has no grain directory "
                        "offset (GD_AT_END)");
  if (f.version != h->version || f.flags != h->flags
      || f.capacity != h->capacity || f.grain != h->grain
      || f.n_gtes != h->n_gtes || f.compress != h->compress)
    return vd__corrupt (st->path, "footer disagrees with the header "
                        "(capacity %llu/%llu, grain %llu/%llu, flags "
                        "0x%x/0x%x, version %u/%u)",
                        (unsigned long long) f.capacity,
                        (unsigned long long) h->capacity,
                        (unsigned long long) f.grain,
                        (unsigned long long) h->grain, f.flags, h->flags,
                        f.version, h->version);
  *out = f;
  return 0;
}

static void stream_close (struct vd_extent *e);

static int
stream_open (struct vd_extent *e, int rw)
{
  struct stream_state *st = e->state;
  uint8_t hb[VD_SECTOR];
  struct kdmv_header *h = &st->h;
  uint64_t gd_bytes, i;
  int r;

  st->path = so_name (e);
  r = e->io->ops->size (e->io, &st->file_size);
  if (r < 0)
    return r;
  if (st->file_size < VD_SECTOR)
    return vd__corrupt (st->path, "file too short for a sparse "
                        "header (%llu bytes)",
                        (unsigned long long) st->file_size);
  r = vd__io_pread (e->io, hb, sizeof hb, 0);
  if (r < 0)
    return r;
  vd__kdmv_decode (h, hb);
  r = so_check_header (st->path, h, "header");
  if (r < 0)
    return r;

  /* Embedded descriptor range (checklist item 2). */
  if ((h->desc_off == 0) != (h->desc_size == 0)
      || h->desc_size > KDMV_MAX_DESC_SECTORS
      || (h->desc_off != 0
          && (h->desc_off > st->file_size / VD_SECTOR
              || (h->desc_off + h->desc_size) * VD_SECTOR > st->file_size)))
    return vd__corrupt (st->path, "embedded descriptor at sector "
                        "%llu, %llu sectors, is out of range",
                        (unsigned long long) h->desc_off,
                        (unsigned long long) h->desc_size);

  if (h->gd_off == KDMV_GD_AT_END)
    {
      struct kdmv_header f;
      r = so_read_footer (st, e->io, &f);
      if (r < 0)
        return r;
      *h = f;                   /* the footer takes precedence (S1) */
      st->footer = 1;
    }

  st->grain_bytes = (uint32_t) (h->grain * VD_SECTOR);
  st->n_grains = VD_DIV_ROUND_UP (h->capacity, h->grain);
  st->n_gdes = VD_DIV_ROUND_UP (st->n_grains, KDMV_N_GTES);
  gd_bytes = st->n_gdes * 4;
  st->gd_sectors = VD_DIV_ROUND_UP (gd_bytes, VD_SECTOR);
  /* Incompressible data grows a little; QEMU sizes for 2 grains. */
  st->max_csize = 2 * (uint64_t) st->grain_bytes + VD_SECTOR;

  if (e->size != h->capacity * VD_SECTOR)
    return vd__corrupt (st->path, "the descriptor gives %llu "
                        "sectors but the header capacity is %llu; the two "
                        "must agree (fix the extent line)",
                        (unsigned long long) (e->size / VD_SECTOR),
                        (unsigned long long) h->capacity);
  if (gd_bytes > KDMV_MAX_GD_BYTES || gd_bytes > st->file_size)
    return vd__corrupt (st->path, "capacity %llu sectors needs a "
                        "grain directory of %llu bytes (file is %llu bytes)",
                        (unsigned long long) h->capacity,
                        (unsigned long long) gd_bytes,
                        (unsigned long long) st->file_size);
  if (st->n_gdes > 0)
    {
      if (h->gd_off == 0 || h->gd_off > st->file_size / VD_SECTOR
          || h->gd_off * VD_SECTOR + gd_bytes > st->file_size)
        return vd__corrupt (st->path, "grain directory at sector "
                            "%llu (%llu bytes) is outside the file",
                            (unsigned long long) h->gd_off,
                            (unsigned long long) gd_bytes);
      if (h->desc_off != 0 && h->gd_off < h->desc_off + h->desc_size
          && h->gd_off + st->gd_sectors > h->desc_off)
        return vd__corrupt (st->path, "grain directory overlaps the "
                            "embedded descriptor");
      if (st->footer)
        {
          r = vd__so_check_table_marker (st, e->io, h->gd_off, SO_MARKER_GD,
                                         st->gd_sectors);
          if (r < 0)
            return r;
        }
      st->gd = malloc (gd_bytes);
      if (!st->gd)
        return vd__error (VD_ENOMEM, errno, "%s: grain directory", st->path);
      r = vd__io_pread (e->io, st->gd, gd_bytes, h->gd_off * VD_SECTOR);
      if (r < 0)
        goto fail;
      for (i = 0; i < st->n_gdes; i++)
        {
          uint32_t gde = vd__le32 ((uint8_t *) &st->gd[i]);
          st->gd[i] = gde;
          if (gde == 0)
            continue;
          /* Checklist item 26: a GT inside the file, clear of the header,
           * the descriptor and the GD. */
          if ((uint64_t) gde * VD_SECTOR + KDMV_GT_BYTES > st->file_size
              || (h->desc_off != 0 && gde < h->desc_off + h->desc_size
                  && gde + KDMV_GT_SECTORS > h->desc_off)
              || (gde < h->gd_off + st->gd_sectors
                  && gde + KDMV_GT_SECTORS > h->gd_off))
            {
              r = vd__corrupt (st->path, "grain directory entry %llu "
                               "points at sector %u, outside the file or into "
                               "other metadata",
                               (unsigned long long) i, gde);
              goto fail;
            }
        }
    }

  r = pthread_mutex_init (&st->mu, NULL);
  if (r != 0)
    {
      r = vd__error (VD_ENOMEM, r, "%s: mutex", st->path);
      goto fail;
    }
  st->mu_init = 1;
  for (i = 0; i < SO_GT_CACHE; i++)
    st->cache_gd[i] = -1;
  st->last_grain = -1;
  if (rw)
    {
      /* Only an empty stream of our layout is written, front to back. */
      int empty = st->footer && h->grain == 128 && h->n_gtes == KDMV_N_GTES
        && h->overhead > h->desc_off + h->desc_size
        && h->gd_off > h->overhead && h->overhead <= st->file_size / VD_SECTOR;
      for (i = 0; empty && i < st->n_gdes; i++)
        if (st->gd[i] != 0)
          empty = 0;
      if (!empty)
        {
          r = vd__error (VD_ENOTSUP, 0, "%s: a streamOptimized disk that "
                        "holds data is read-only (only an empty one, as "
                        "create makes, is written, front to back); convert "
                        "it to change it", st->path);
          goto fail;
        }
      r = vd__stream_appender_new (&st->w, e->io, st->path, h->capacity,
                                   h->overhead);
      if (r < 0)
        goto fail;
    }
  return 0;

 fail:
  stream_close (e);
  return r;
}

static void
stream_close (struct vd_extent *e)
{
  struct stream_state *st = e->state;

  if (!st)
    return;
  free (st->gd);
  st->gd = NULL;
  free (st->last);
  st->last = NULL;
  vd__stream_appender_free (st->w);
  st->w = NULL;
  if (st->mu_init)
    pthread_mutex_destroy (&st->mu);
  st->mu_init = 0;
}

/* ---- lookups ----------------------------------------------------------- */

/* GTE g % KDMV_N_GTES of the table at sector gde (GD index gi), through
 * the table cache; st->mu held. */
static int
so_gt_entry (struct vd_extent *e, uint64_t gi, uint32_t gde, uint64_t g,
             uint32_t *gte)
{
  struct stream_state *st = e->state;
  int slot = -1, i, r;

  for (i = 0; i < SO_GT_CACHE; i++)
    if (st->cache_gd[i] == (int64_t) gi)
      {
        slot = i;
        break;
      }
  if (slot < 0)
    {
      uint8_t raw[KDMV_GT_BYTES];
      unsigned k;

      slot = 0;
      for (i = 1; i < SO_GT_CACHE; i++)
        if (st->cache_gd[i] < 0
            || (st->cache_gd[slot] >= 0
                && st->cache_used[i] < st->cache_used[slot]))
          slot = i;
      r = vd__so_read_gt (st, e->io, gde, raw, 1);
      if (r < 0)
        {
          st->cache_gd[slot] = -1;
          return r;
        }
      for (k = 0; k < KDMV_N_GTES; k++)
        st->cache_gt[slot][k] = vd__le32 (raw + 4 * k);
      st->cache_gd[slot] = (int64_t) gi;
    }
  st->cache_used[slot] = ++st->clock;
  *gte = st->cache_gt[slot][g % KDMV_N_GTES];
  return 0;
}

/* GTE of grain g of a stream not being written; st->mu held.  Entries of
 * the last GT beyond capacity are never asked for (checklist item 29). */
static int
so_lookup_locked (struct vd_extent *e, uint64_t g, uint32_t *gte)
{
  struct stream_state *st = e->state;
  uint32_t gde;

  *gte = 0;
  if (g >= st->n_grains || (gde = st->gd[g / KDMV_N_GTES]) == 0)
    return 0;
  return so_gt_entry (e, g / KDMV_N_GTES, gde, g, gte);
}

/* GTE of grain g (takes st->mu). */
static int
so_lookup (struct vd_extent *e, uint64_t g, uint32_t *gte)
{
  struct stream_state *st = e->state;
  uint32_t gde;
  int r;

  if (g >= st->n_grains)
    {
      *gte = 0;
      return 0;
    }
  pthread_mutex_lock (&st->mu);
  if (st->w)
    {
      vd__stream_appender_lookup (st->w, g, gte, &gde);
      r = gde ? so_gt_entry (e, g / KDMV_N_GTES, gde, g, gte) : 0;
    }
  else
    r = so_lookup_locked (e, g, gte);
  pthread_mutex_unlock (&st->mu);
  return r;
}

static enum vd_map_status
so_status (struct stream_state *st, uint32_t gte)
{
  if (gte == 0)
    return VD_MAP_HOLE;
  if (gte == 1 && (st->h.flags & KDMV_FLAG_ZEROED_GTE))
    return VD_MAP_ZERO;
  return VD_MAP_DRIVER;
}

static int
stream_map (struct vd_extent *e, uint64_t off, uint64_t len,
            struct vd_map *m)
{
  struct stream_state *st = e->state;
  uint64_t gb = st->grain_bytes, end = off + len, g, pos, cur;
  uint32_t gte;
  enum vd_map_status s0 = VD_MAP_HOLE;
  int r;

  g = off / gb;
  if (st->w)
    {
      /* While writing: one grain at a time (the tables change). */
      int pend;
      pthread_mutex_lock (&st->mu);
      pend = vd__stream_appender_pending (st->w, g, NULL);
      pthread_mutex_unlock (&st->mu);
      gte = 0;
      if (!pend && (r = so_lookup (e, g, &gte)) < 0)
        return r;
      m->status = pend ? VD_MAP_DRIVER : so_status (st, gte);
      m->length = VD_MIN ((g + 1) * gb, end) - off;
      m->file_offset = 0;
      return 0;
    }
  /* The lock is taken once per grain table the run crosses, not per
   * grain, and dropped between tables. */
  pthread_mutex_lock (&st->mu);
  r = so_lookup_locked (e, g, &gte);
  if (r < 0)
    goto out;
  s0 = so_status (st, gte);
  cur = g / KDMV_N_GTES;
  pos = (g + 1) * gb;
  while (pos < end)
    {
      uint64_t gi = pos / gb / KDMV_N_GTES;

      /* A whole table absent (GDE 0): a hole to the next table. */
      if (s0 == VD_MAP_HOLE && gi < st->n_gdes && st->gd[gi] == 0)
        {
          pos = (gi + 1) * KDMV_N_GTES * gb;
          continue;
        }
      if (gi != cur)
        {
          pthread_mutex_unlock (&st->mu);
          pthread_mutex_lock (&st->mu);
          cur = gi;
        }
      r = so_lookup_locked (e, pos / gb, &gte);
      if (r < 0)
        goto out;
      if (so_status (st, gte) != s0)
        break;
      pos += gb;
    }
 out:
  pthread_mutex_unlock (&st->mu);
  if (r < 0)
    return r;
  m->status = s0;
  m->length = VD_MIN (pos, end) - off;
  m->file_offset = 0;
  return 0;
}

/* ---- grain reading ----------------------------------------------------- */

static int
so_window_get (struct stream_state *st, struct vd_io *io,
               struct so_window *w, uint64_t off, size_t need,
               const uint8_t **p)
{
  int r;

  if (!(w->len > 0 && off >= w->start && off + need <= w->start + w->len))
    {
      size_t n = (size_t) VD_MIN ((uint64_t) w->cap, st->file_size - off);
      if (n < need)
        return vd__corrupt (st->path, "grain at byte %llu runs past "
                            "the end of the file",
                            (unsigned long long) off);
      r = vd__io_pread (io, w->buf, n, off);
      if (r < 0)
        {
          w->len = 0;
          return r;
        }
      w->start = off;
      w->len = n;
    }
  *p = w->buf + (off - w->start);
  return 0;
}

/* Bytes of grain g that lie inside the capacity. */
static uint64_t
so_valid_bytes (struct stream_state *st, uint64_t g)
{
  uint64_t cap = st->h.capacity * VD_SECTOR, start = g * st->grain_bytes;
  return VD_MIN ((uint64_t) st->grain_bytes, cap - start);
}

/* Inflate grain g (GTE gte) into out (grain_bytes).  Security §4 items 27,
 * 33 and 34. */
int
vd__so_read_grain (struct vd_extent *e, struct so_window *w,
                   struct libdeflate_decompressor *dec, uint64_t g,
                   uint32_t gte, uint8_t *out)
{
  struct stream_state *st = e->state;
  uint64_t moff = (uint64_t) gte * VD_SECTOR, lba, valid;
  const uint8_t *p;
  uint32_t size;
  size_t got = 0, in_used = 0;
  enum libdeflate_result res;
  int r;

  if (gte == 1 && !(st->h.flags & KDMV_FLAG_ZEROED_GTE))
    return vd__corrupt (st->path, "grain %llu has table entry 1 but "
                        "the zeroed-grain flag is not set",
                        (unsigned long long) g);
  if (gte < st->h.overhead)
    return vd__corrupt (st->path, "grain %llu points at sector %u, "
                        "inside the metadata (overHead %llu)",
                        (unsigned long long) g, gte,
                        (unsigned long long) st->h.overhead);
  if (moff + 12 > st->file_size)
    return vd__corrupt (st->path, "grain %llu points at sector %u, "
                        "past the end of the file",
                        (unsigned long long) g, gte);
  r = so_window_get (st, e->io, w, moff, 12, &p);
  if (r < 0)
    return r;
  lba = vd__le64 (p);
  size = vd__le32 (p + 8);
  if (lba != g * st->h.grain)
    return vd__corrupt (st->path, "grain marker at sector %u has LBA "
                        "%llu, expected %llu", gte,
                        (unsigned long long) lba,
                        (unsigned long long) (g * st->h.grain));
  if (size == 0 || size > st->max_csize)
    return vd__corrupt (st->path, "grain marker at sector %u has "
                        "size %u (max %llu)", gte, size,
                        (unsigned long long) st->max_csize);
  if (moff + 12 + size > st->file_size)
    return vd__corrupt (st->path, "grain marker at sector %u: %u "
                        "compressed bytes run past the end of the file", gte,
                        size);
  r = so_window_get (st, e->io, w, moff, 12 + (size_t) size, &p);
  if (r < 0)
    return r;
  p += 12;
  /* Every real writer emits a zlib stream; S1 says raw deflate, so fall
   * back to it when the two bytes are not a zlib header (§3.2). */
  if (size >= 2 && (p[0] & 0x0f) == 8 && (p[0] >> 4) <= 7
      && ((p[0] << 8) | p[1]) % 31 == 0)
    res = libdeflate_zlib_decompress_ex (dec, p, size, out, st->grain_bytes,
                                         &in_used, &got);
  else
    res = libdeflate_deflate_decompress_ex (dec, p, size, out,
                                            st->grain_bytes, &in_used, &got);
  if (res == LIBDEFLATE_INSUFFICIENT_SPACE)
    return vd__corrupt (st->path, "grain at sector %u inflates to "
                        "more than one grain (%u bytes)", gte,
                        st->grain_bytes);
  if (res != LIBDEFLATE_SUCCESS)
    return vd__corrupt (st->path, "grain at sector %u: bad "
                        "compressed data", gte);
  valid = so_valid_bytes (st, g);
  if (got < valid)
    return vd__corrupt (st->path, "grain at sector %u inflates to "
                        "%zu bytes, expected %llu", gte, got,
                        (unsigned long long) valid);
  if (got < st->grain_bytes)    /* final partial grain: tail is zeros */
    memset (out + got, 0, st->grain_bytes - got);
  return 0;
}

static int
stream_pread (struct vd_extent *e, void *buf, size_t count, uint64_t off)
{
  struct stream_state *st = e->state;
  uint64_t gb = st->grain_bytes;
  struct so_window w = { 0 };
  struct libdeflate_decompressor *dec = NULL;
  uint8_t *tmp = NULL, *dst = buf;
  uint64_t ngr;
  int r = 0;

  if (count == 0)
    return 0;
  /* Window: the request's grains at incompressible size, at least the
   * largest single grain, at most 4 MiB. */
  ngr = (off % gb + count + gb - 1) / gb;
  w.cap = (size_t) VD_MIN (ngr * (gb + VD_SECTOR), (uint64_t) 4 << 20);
  w.cap = VD_MAX (w.cap, (size_t) st->max_csize + 12);
  w.buf = malloc (w.cap);
  dec = libdeflate_alloc_decompressor ();
  if (!w.buf || !dec)
    {
      r = vd__error (VD_ENOMEM, errno, "%s: read buffers", st->path);
      goto out;
    }

  while (count > 0)
    {
      uint64_t g = off / gb, in = off % gb;
      size_t n = (size_t) VD_MIN ((uint64_t) count, gb - in);
      uint32_t gte;

      if (st->w)
        {
          int pend;
          if (!tmp && !(tmp = malloc (gb)))
            {
              r = vd__error (VD_ENOMEM, errno, "%s: grain buffer", st->path);
              goto out;
            }
          pthread_mutex_lock (&st->mu);
          pend = vd__stream_appender_pending (st->w, g, tmp);
          pthread_mutex_unlock (&st->mu);
          if (pend)
            {
              memcpy (dst, tmp + in, n);
              dst += n;
              off += n;
              count -= n;
              continue;
            }
        }
      r = so_lookup (e, g, &gte);
      if (r < 0)
        goto out;
      if (so_status (st, gte) != VD_MAP_DRIVER)
        memset (dst, 0, n);
      else if (in == 0 && n == gb)
        {
          r = vd__so_read_grain (e, &w, dec, g, gte, dst);
          if (r < 0)
            goto out;
        }
      else
        {
          int hit = 0;

          if (!tmp && !(tmp = malloc (gb)))
            {
              r = vd__error (VD_ENOMEM, errno, "%s: grain buffer", st->path);
              goto out;
            }
          pthread_mutex_lock (&st->mu);
          if (st->last && st->last_grain == (int64_t) g)
            {
              memcpy (dst, st->last + in, n);
              hit = 1;
            }
          pthread_mutex_unlock (&st->mu);
          if (!hit)
            {
              r = vd__so_read_grain (e, &w, dec, g, gte, tmp);
              if (r < 0)
                goto out;
              memcpy (dst, tmp + in, n);
              pthread_mutex_lock (&st->mu);
              if (!st->last)
                st->last = malloc (gb);
              if (st->last)
                {
                  memcpy (st->last, tmp, gb);
                  st->last_grain = (int64_t) g;
                }
              pthread_mutex_unlock (&st->mu);
            }
        }
      dst += n;
      off += n;
      count -= n;
    }

 out:
  free (tmp);
  free (w.buf);
  libdeflate_free_decompressor (dec);
  return r;
}

/* ---- write mode -------------------------------------------------------- */

static int
stream_pwrite (struct vd_extent *e, const void *buf, size_t count,
               uint64_t off)
{
  struct stream_state *st = e->state;
  uint64_t end;
  int r;

  if (!st->w)
    return vd__error (VD_EROFS, 0, "%s: streamOptimized disk opened "
                     "read-only", st->path);
  pthread_mutex_lock (&st->mu);
  r = vd__stream_appender_write (st->w, buf, count, off);
  end = vd__stream_appender_end (st->w);
  if (end > st->file_size)
    st->file_size = end;
  pthread_mutex_unlock (&st->mu);
  return r;
}

static int
stream_sync (struct vd_extent *e, int final)
{
  struct stream_state *st = e->state;
  int r;

  if (!st->w)
    return 0;
  pthread_mutex_lock (&st->mu);
  r = vd__stream_appender_sync (st->w, final);
  pthread_mutex_unlock (&st->mu);
  return r;
}

static int
stream_flush (struct vd_extent *e)
{
  return stream_sync (e, 0);
}

static int
stream_close_clean (struct vd_extent *e)
{
  return stream_sync (e, 1);
}

const struct vd_format_driver vd__stream_driver = {
  .name = "stream",
  .instance_size = sizeof (struct stream_state),
  .probe = stream_probe,
  .open = stream_open,
  .close = stream_close,
  .map = stream_map,
  .pread = stream_pread,
  .pwrite = stream_pwrite,
  .flush = stream_flush,
  .close_clean = stream_close_clean,
  .check = vd__stream_check,
  .reports_type = VD_EXTENT_STREAM,
};
