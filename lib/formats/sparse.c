/* Hosted sparse extents ("KDMV"): monolithicSparse, twoGbMaxExtentSparse
 * and hosted delta links.  vmdk-format.md §2, security-checklist.md §4
 * items 15-30.
 *
 * Reads go through a small cache of grain tables (never the whole table
 * set).  Allocating writes append whole grains at the grain-aligned end
 * of the file; the new grain-table entries live in the cache and reach the
 * file at flush (or eviction) only after an fdatasync of the data: both
 * table copies, then (for a new table, after another sync) the directory:
 * a crash can leak a grain, never point a table at unwritten data
 * (§2.5). */
#include "sparse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int
sparse_probe (const uint8_t *buf, size_t len)
{
  if (len < 12 || vd__le32 (buf) != KDMV_MAGIC)
    return 0;
  if (vd__le32 (buf + 8) & KDMV_FLAG_COMPRESSED)
    return 0;                   /* streamOptimized: stream.c */
  return 90;
}

static int
cmp_sector (const void *a, const void *b)
{
  uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
  return (x > y) - (x < y);
}

/* Check the table directory gd of n entries: each table inside the file,
 * clear of the header, the descriptor and both directories, and no two
 * tables overlapping. */
static int
check_gd (struct vd_extent *e, struct sparse *s, const uint32_t *gd,
          const char *which)
{
  uint32_t *sorted;
  uint64_t n = 0;
  int r = 0;

  sorted = malloc (VD_MAX (s->gd_entries, 1) * sizeof *sorted);
  if (!sorted)
    return vd__error (VD_ENOMEM, errno, "%s: grain directory", e->path);
  for (uint64_t i = 0; i < s->gd_entries; i++) {
    uint64_t g = gd[i];
    if (g == 0)
      continue;
    if (!vd__kdmv_in_file (g, KDMV_GT_SECTORS, s->file_size)) {
      r = vd__corrupt (e->path, "%s entry %llu points past end of file (sector "
                       "%llu)", which, (unsigned long long) i,
                       (unsigned long long) g);
      goto out;
    }
    if (g == 0 || (s->desc_off && g < s->desc_off + s->desc_size
                   && g + KDMV_GT_SECTORS > s->desc_off)
        || (g < s->gd_off + s->gd_sectors && g + KDMV_GT_SECTORS > s->gd_off)
        || (s->rgd && g < s->rgd_off + s->gd_sectors
            && g + KDMV_GT_SECTORS > s->rgd_off)) {
      r = vd__corrupt (e->path, "%s entry %llu points into the header, "
                       "descriptor "
                       "or directory (sector %llu)", which,
                       (unsigned long long) i, (unsigned long long) g);
      goto out;
    }
    sorted[n++] = (uint32_t) g;
  }
  qsort (sorted, (size_t) n, sizeof *sorted, cmp_sector);
  for (uint64_t i = 1; i < n; i++)
    if ((uint64_t) sorted[i] < (uint64_t) sorted[i - 1] + KDMV_GT_SECTORS) {
      r = vd__corrupt (e->path, "%s has overlapping grain tables at sectors "
                       "%u and "
                       "%u", which, sorted[i - 1], sorted[i]);
      goto out;
    }
out:
  free (sorted);
  return r;
}

static int
load_gd (struct vd_extent *e, struct sparse *s, uint64_t off, uint32_t **out)
{
  size_t bytes = (size_t) s->gd_entries * 4;
  uint8_t *raw = malloc (bytes ? bytes : 1);
  uint32_t *gd = malloc ((bytes ? bytes : 4));
  int r;
  if (!raw || !gd) {
    free (raw);
    free (gd);
    return vd__error (VD_ENOMEM, errno, "%s: grain directory", e->path);
  }
  r = vd__io_pread (e->io, raw, bytes, off * VD_SECTOR);
  if (r < 0) {
    free (raw);
    free (gd);
    return r;
  }
  for (uint64_t i = 0; i < s->gd_entries; i++)
    gd[i] = vd__le32 (raw + i * 4);
  free (raw);
  *out = gd;
  return 0;
}

static int
validate (struct vd_extent *e, struct sparse *s, const struct kdmv_header *h,
          int rw)
{
  uint64_t gt_cov, gd_bytes, meta_end;

  if (h->version < 1 || h->version > 3)
    return vd__corrupt (e->path, "unsupported sparse header version %u (1 to 3 "
                        "supported)", h->version);
  if ((h->flags & 0xffff0000u) & ~KDMV_KNOWN_INCOMPAT)
    return vd__corrupt (e->path, "unknown incompatible flags 0x%08x",
                        h->flags);
  if ((h->flags & KDMV_FLAG_MARKERS) && !(h->flags & KDMV_FLAG_COMPRESSED))
    return vd__corrupt (e->path, "grain markers flag without the compressed "
                        "flag");
  if (h->flags & KDMV_FLAG_COMPRESSED)
    return vd__corrupt (e->path, "compressed grains need the streamOptimized "
                        "driver");
  if (h->compress != 0)
    return vd__corrupt (e->path, "compressAlgorithm %u set on an uncompressed "
                        "extent", h->compress);
  if ((h->flags & KDMV_FLAG_NL_DETECT)
      && memcmp (h->nl, "\n \r\n", 4) != 0)
    return vd__corrupt (e->path, "header newline bytes are wrong: the file was "
                        "corrupted by CR/LF translation (ASCII-mode "
                        "transfer?)");
  if (h->grain < 8 || h->grain > KDMV_MAX_GRAIN || (h->grain & (h->grain - 1)))
    return vd__corrupt (e->path, "invalid grain size %llu sectors (a power "
                        "of two "
                        "from 8 to %u)",
                        (unsigned long long) h->grain, KDMV_MAX_GRAIN);
  if (h->n_gtes != KDMV_N_GTES)
    return vd__corrupt (e->path, "invalid numGTEsPerGT %u (must be %u)",
                        h->n_gtes, KDMV_N_GTES);
  if (h->capacity == 0)
    return vd__corrupt (e->path, "capacity is 0");
  /* Grain offsets are 32-bit sectors: an extent cannot address more. */
  if (h->capacity > ((uint64_t) 1 << 40))
    return vd__corrupt (e->path, "capacity of %llu sectors is too large for a "
                        "hosted sparse extent",
                        (unsigned long long) h->capacity);
  /* Both ways: a shorter extent line would hide the data past it (reads
   * stop there, check calls it a leak, shrink drops it) and shift every
   * later extent of a split disk. */
  if (e->size / VD_SECTOR != h->capacity)
    return vd__corrupt (e->path, "the descriptor gives the extent %llu "
                        "sectors but "
                        "its header capacity is %llu; the two must agree (fix "
                        "the extent line)",
                        (unsigned long long) (e->size / VD_SECTOR),
                        (unsigned long long) h->capacity);

  s->version = h->version;
  s->flags = h->flags;
  s->capacity = h->capacity;
  s->grain = h->grain;
  s->grain_bytes = h->grain * VD_SECTOR;
  s->desc_off = h->desc_off;
  s->desc_size = h->desc_size;
  s->rgd_off = h->rgd_off;
  s->gd_off = h->gd_off;
  s->overhead = h->overhead;
  s->zeroed_ok = (h->flags & KDMV_FLAG_ZEROED_GTE) && h->version >= 2;
  s->unclean = h->unclean != 0;

  gt_cov = (uint64_t) KDMV_N_GTES * h->grain;
  s->gd_entries = VD_DIV_ROUND_UP (h->capacity, gt_cov);
  gd_bytes = s->gd_entries * 4;
  s->gd_sectors = VD_DIV_ROUND_UP (gd_bytes, VD_SECTOR);
  if (gd_bytes > KDMV_MAX_GD_BYTES || gd_bytes > s->file_size)
    return vd__corrupt (e->path, "grain directory of %llu entries is larger "
                        "than "
                        "the file allows (capacity too large)",
                        (unsigned long long) s->gd_entries);
  if ((h->desc_off == 0) != (h->desc_size == 0))
    return vd__corrupt (e->path, "embedded descriptor offset %llu with size "
                        "%llu is "
                        "inconsistent",
                        (unsigned long long) h->desc_off,
                        (unsigned long long) h->desc_size);
  if (h->desc_off && (h->desc_size > KDMV_MAX_DESC_SECTORS
                      || !vd__kdmv_in_file (h->desc_off, h->desc_size,
                                   s->file_size)))
    return vd__corrupt (e->path, "embedded descriptor lies past end of file "
                        "or is "
                        "too large");
  if (h->gd_off == KDMV_GD_AT_END)
    return vd__corrupt (e->path, "grain directory at end of file without the "
                        "streamOptimized flags");
  if (h->gd_off == 0)
    return vd__corrupt (e->path, "grain directory offset is 0");
  if (!vd__kdmv_in_file (h->gd_off, s->gd_sectors, s->file_size))
    return vd__corrupt (e->path, "grain directory (sector %llu, %llu "
                        "sectors) lies "
                        "past end of file",
                        (unsigned long long) h->gd_off,
                        (unsigned long long) s->gd_sectors);
  if (h->desc_off && h->gd_off < h->desc_off + h->desc_size
      && h->gd_off + s->gd_sectors > h->desc_off)
    return vd__corrupt (e->path, "grain directory overlaps the embedded "
                        "descriptor");
  meta_end = h->gd_off + s->gd_sectors;
  if (h->flags & KDMV_FLAG_RGD) {
    if (h->rgd_off == 0)
      return vd__corrupt (e->path, "redundant grain directory flag set but its "
                          "offset is 0");
    if (!vd__kdmv_in_file (h->rgd_off, s->gd_sectors, s->file_size))
      return vd__corrupt (e->path, "redundant grain directory (sector %llu) "
                          "lies "
                          "past end of file",
                          (unsigned long long) h->rgd_off);
    if ((h->desc_off && h->rgd_off < h->desc_off + h->desc_size
         && h->rgd_off + s->gd_sectors > h->desc_off)
        || (h->rgd_off < h->gd_off + s->gd_sectors
            && h->rgd_off + s->gd_sectors > h->gd_off))
      return vd__corrupt (e->path, "redundant grain directory overlaps other "
                          "metadata");
    meta_end = VD_MAX (meta_end, h->rgd_off + s->gd_sectors);
  }
  if (h->overhead < meta_end || (h->desc_off
                                 && h->overhead < h->desc_off + h->desc_size))
    return vd__corrupt (e->path, "overHead %llu lies inside the metadata "
                        "(which "
                        "ends at sector %llu)",
                        (unsigned long long) h->overhead,
                        (unsigned long long) meta_end);
  if (!vd__kdmv_in_file (h->overhead, 0, s->file_size))
    return vd__corrupt (e->path, "file truncated: overHead is sector %llu "
                        "but the "
                        "file has %llu bytes",
                        (unsigned long long) h->overhead,
                        (unsigned long long) s->file_size);
  if (rw && h->version == 3)
    return vd__error (VD_ENOTSUP, 0, "%s: sparse version 3 (changed block "
                     "tracking) can only be opened read-only", e->path);
  return 0;
}

static int
sparse_open (struct vd_extent *e, int rw)
{
  struct sparse *s = e->state;
  struct kdmv_header h;
  int r;

  for (int i = 0; i < N_SLOTS; i++)
    s->slots[i].gdi = UINT64_MAX;
  pthread_mutex_init (&s->mu, NULL);
  r = vd__kdmv_read (e->io, &h, &s->file_size);
  if (r < 0)
    return r;
  r = validate (e, s, &h, rw);
  if (r < 0)
    return r;
  r = load_gd (e, s, s->gd_off, &s->gd);
  if (r < 0)
    return r;
  r = check_gd (e, s, s->gd, "grain directory");
  if (r < 0)
    return r;
  if (s->flags & KDMV_FLAG_RGD) {
    r = load_gd (e, s, s->rgd_off, &s->rgd);
    if (r < 0)
      return r;
    r = check_gd (e, s, s->rgd, "redundant grain directory");
    if (r < 0)
      return r;
    for (uint64_t i = 0; i < s->gd_entries; i++)
      if ((s->gd[i] == 0) != (s->rgd[i] == 0)) {
        if (rw)
          return vd__corrupt (e->path, "primary and redundant grain "
                              "directories "
                              "disagree at entry %llu; run 'vdisk check' "
                              "(read-only opens still work)",
                              (unsigned long long) i);
        break;
      }
  }
  s->has_parent = e->link->parent_cid != 0xffffffffu;
  s->next_alloc = VD_MAX (VD_ROUND_UP (s->file_size / VD_SECTOR
                                       + (s->file_size % VD_SECTOR != 0),
                                       s->grain),
                          VD_ROUND_UP (s->overhead, s->grain));
  /* uncleanShutdown is set before the first write (§2.6), not here: an
   * open that fails later, or writes nothing, changes no file. */
  s->rw = rw;
  return 0;
}

static int
mark_unclean (struct vd_extent *e, struct sparse *s)
{
  uint8_t one = 1;
  int r;
  if (s->marked_unclean)
    return 0;
  r = vd__io_pwrite (e->io, &one, 1, 72);
  if (r == 0)
    r = vd__io_flush (e->io);
  if (r == 0)
    s->marked_unclean = 1;
  return r;
}

static void
sparse_close (struct vd_extent *e)
{
  struct sparse *s = e->state;
  if (!s)
    return;
  for (int i = 0; i < N_SLOTS; i++)
    free (s->slots[i].gte);
  free (s->gd);
  free (s->rgd);
  pthread_mutex_destroy (&s->mu);
}

/* ---- grain tables -------------------------------------------------------- */

static int
write_table (struct vd_extent *e, uint64_t sector, const uint32_t *gte)
{
  uint8_t buf[KDMV_GT_BYTES];
  for (unsigned i = 0; i < KDMV_N_GTES; i++)
    vd__put_le32 (buf + i * 4, gte[i]);
  return vd__io_pwrite (e->io, buf, KDMV_GT_BYTES, sector * VD_SECTOR);
}

static int
sync_data (struct vd_extent *e, struct sparse *s)
{
  if (!s->data_unsynced)
    return 0;
  int r = vd__io_flush (e->io);
  if (r == 0)
    s->data_unsynced = 0;
  return r;
}

/* Write every dirty table (both copies) behind one sync of the data; a
 * table that is new (its directory entry was 0) goes to two fresh grains
 * at the end of the file, and only after another sync do the directories
 * point at it. */
static int
write_back_all (struct vd_extent *e, struct sparse *s)
{
  int r, fresh = 0;
  uint8_t le[4];

  r = sync_data (e, s);             /* data before the entries */
  if (r < 0)
    return r;
  for (int i = 0; i < N_SLOTS; i++) {
    struct gt_slot *sl = &s->slots[i];
    if (sl->gdi == UINT64_MAX || !sl->dirty)
      continue;
    if (sl->fresh) {
      uint64_t need = s->rgd ? 2 * s->grain : s->grain;
      if (s->next_alloc + need > UINT32_MAX)
        return vd__error (VD_ENOSPC, 0, "%s: sparse extent is full (2 TiB)",
                         e->path);
      sl->new_gt = s->next_alloc;
      sl->new_rgt = s->rgd ? s->next_alloc + s->grain : 0;
      s->next_alloc += need;
      r = write_table (e, sl->new_gt, sl->gte);
      if (r == 0 && sl->new_rgt)
        r = write_table (e, sl->new_rgt, sl->gte);
      fresh = 1;
    }
    else {
      r = write_table (e, s->gd[sl->gdi], sl->gte);
      if (r == 0 && s->rgd && s->rgd[sl->gdi])
        r = write_table (e, s->rgd[sl->gdi], sl->gte);
      if (r == 0)
        sl->dirty = 0;
    }
    if (r < 0)
      return r;
  }
  s->data_unsynced = 1;             /* the tables themselves */
  if (!fresh)
    return 0;
  r = vd__io_flush (e->io);         /* new tables before the directory */
  if (r < 0)
    return r;
  for (int i = 0; i < N_SLOTS; i++) {
    struct gt_slot *sl = &s->slots[i];
    if (sl->gdi == UINT64_MAX || !sl->dirty || !sl->fresh)
      continue;
    vd__put_le32 (le, (uint32_t) sl->new_gt);
    r = vd__io_pwrite (e->io, le, 4, s->gd_off * VD_SECTOR + sl->gdi * 4);
    if (r == 0 && sl->new_rgt) {
      vd__put_le32 (le, (uint32_t) sl->new_rgt);
      r = vd__io_pwrite (e->io, le, 4, s->rgd_off * VD_SECTOR + sl->gdi * 4);
    }
    if (r < 0)
      return r;
    s->gd[sl->gdi] = (uint32_t) sl->new_gt;
    if (s->rgd)
      s->rgd[sl->gdi] = (uint32_t) sl->new_rgt;
    s->file_size = VD_MAX (s->file_size, s->next_alloc * VD_SECTOR);
    sl->fresh = 0;
    sl->dirty = 0;
  }
  return 0;
}

/* The slot holding table gdi, loading it (evicting the least recently
 * used) when needed.  Caller holds s->mu. */
static int
get_table (struct vd_extent *e, struct sparse *s, uint64_t gdi,
           struct gt_slot **out)
{
  struct gt_slot *victim = NULL;
  uint8_t raw[KDMV_GT_BYTES];
  int r;

  for (int i = 0; i < N_SLOTS; i++) {
    struct gt_slot *sl = &s->slots[i];
    if (sl->gdi == gdi) {
      sl->stamp = ++s->clock;
      *out = sl;
      return 0;
    }
    if (!victim || sl->gdi == UINT64_MAX
        || (victim->gdi != UINT64_MAX && sl->stamp < victim->stamp))
      victim = sl;
  }
  if (victim->gdi != UINT64_MAX && victim->dirty) {
    /* every dirty table at once: one data sync, not one per table */
    r = write_back_all (e, s);
    if (r < 0)
      return r;
  }
  if (!victim->gte) {
    victim->gte = malloc (KDMV_GT_BYTES);
    if (!victim->gte)
      return vd__error (VD_ENOMEM, errno, "%s: grain table", e->path);
  }
  victim->gdi = UINT64_MAX;
  if (s->gd[gdi] == 0) {
    memset (victim->gte, 0, KDMV_GT_BYTES);
    victim->fresh = 1;
  }
  else {
    r = vd__io_pread (e->io, raw, KDMV_GT_BYTES, (uint64_t) s->gd[gdi] * VD_SECTOR);
    if (r < 0)
      return r;
    for (unsigned i = 0; i < KDMV_N_GTES; i++)
      victim->gte[i] = vd__le32 (raw + i * 4);
    victim->fresh = 0;
  }
  victim->dirty = 0;
  victim->gdi = gdi;
  victim->stamp = ++s->clock;
  *out = victim;
  return 0;
}

/* Classify one entry for grain gi; on VD_MAP_DATA *sector is where its
 * data starts.  Entries are checked before they are followed (§4 27). */
static int
classify (struct vd_extent *e, struct sparse *s, uint64_t gi, uint32_t gte,
          enum vd_map_status *st)
{
  if (gte == 0) {
    *st = VD_MAP_HOLE;
    return 0;
  }
  if (gte == 1 && s->zeroed_ok) {
    *st = VD_MAP_ZERO;
    return 0;
  }
  if (gte == 1)
    return vd__corrupt (e->path, "grain %llu has table entry 1 (zeroed "
                        "grain) but "
                        "the extent does not allow zeroed grains",
                        (unsigned long long) gi);
  if (gte < s->overhead)
    return vd__corrupt (e->path, "grain %llu points into metadata (sector %u, "
                        "overHead %llu)", (unsigned long long) gi,
                        gte, (unsigned long long) s->overhead);
  uint64_t need = VD_MIN (s->grain_bytes, e->size - gi * s->grain_bytes);
  if ((uint64_t) gte * VD_SECTOR + need > s->file_size)
    return vd__corrupt (e->path, "grain %llu points past end of file (sector "
                        "%u)", (unsigned long long) gi, gte);
  *st = VD_MAP_DATA;
  return 0;
}

static int
sparse_map (struct vd_extent *e, uint64_t off, uint64_t len,
            struct vd_map *m)
{
  struct sparse *s = e->state;
  uint64_t gi = off / s->grain_bytes;
  uint64_t within = off % s->grain_bytes;
  struct gt_slot *sl;
  enum vd_map_status st, st2;
  uint32_t gte;
  uint64_t run;
  int r;

  pthread_mutex_lock (&s->mu);
  r = get_table (e, s, gi / KDMV_N_GTES, &sl);
  if (r < 0)
    goto out;
  gte = sl->gte[gi % KDMV_N_GTES];
  r = classify (e, s, gi, gte, &st);
  if (r < 0)
    goto out;
  m->status = st;
  m->file_offset = (uint64_t) gte * VD_SECTOR + within;
  run = s->grain_bytes - within;
  /* extend the run over following grains of this table */
  for (uint64_t g = gi + 1; run < len && g % KDMV_N_GTES != 0; g++) {
    uint32_t next = sl->gte[g % KDMV_N_GTES];
    if (st == VD_MAP_DATA && next != gte + s->grain)
      break;
    if (classify (e, s, g, next, &st2) < 0 || st2 != st)
      break;
    gte = next;
    run += s->grain_bytes;
  }
  m->length = VD_MIN (run, len);
out:
  pthread_mutex_unlock (&s->mu);
  return r;
}

/* ---- writes ---------------------------------------------------------------- */

/* Write grains [gi, gi+n) that are all unallocated in table sl, from data
 * (whole grains).  They go to consecutive new grains at the file end. */
static int
append_grains (struct vd_extent *e, struct sparse *s, struct gt_slot *sl,
               uint64_t gi, uint64_t n, const uint8_t *data)
{
  uint64_t first = s->next_alloc;
  if (first + n * s->grain > UINT32_MAX)
    return vd__error (VD_ENOSPC, 0, "%s: sparse extent is full (grain "
                     "offsets are 32-bit sectors)", e->path);
  int r = vd__io_pwrite (e->io, data, (size_t) (n * s->grain_bytes),
                         first * VD_SECTOR);
  if (r < 0)
    return r;
  s->next_alloc += n * s->grain;
  s->file_size = VD_MAX (s->file_size, s->next_alloc * VD_SECTOR);
  s->data_unsynced = 1;
  for (uint64_t i = 0; i < n; i++)
    sl->gte[(gi + i) % KDMV_N_GTES] = (uint32_t) (first + i * s->grain);
  sl->dirty = 1;
  return 0;
}

static int
sparse_pwrite_locked (struct vd_extent *e, struct sparse *s,
                      const uint8_t *buf, size_t count, uint64_t off,
                      uint8_t *tmp)
{
  while (count > 0) {
    uint64_t gi = off / s->grain_bytes;
    uint64_t within = off % s->grain_bytes;
    size_t n = (size_t) VD_MIN ((uint64_t) count, s->grain_bytes - within);
    struct gt_slot *sl;
    enum vd_map_status st;
    uint32_t gte;
    int r;

    r = get_table (e, s, gi / KDMV_N_GTES, &sl);
    if (r < 0)
      return r;
    gte = sl->gte[gi % KDMV_N_GTES];
    r = classify (e, s, gi, gte, &st);
    if (r < 0)
      return r;

    if (st == VD_MAP_DATA) {
      /* overwrite in place; coalesce following contiguous grains */
      size_t len = n;
      uint64_t g = gi + 1;
      uint32_t prev = gte;
      while (len < count && g % KDMV_N_GTES != 0) {
        uint32_t next = sl->gte[g % KDMV_N_GTES];
        if (next != prev + s->grain || classify (e, s, g, next, &st) < 0
            || st != VD_MAP_DATA)
          break;
        len += (size_t) VD_MIN ((uint64_t) (count - len), s->grain_bytes);
        prev = next;
        g++;
      }
      r = vd__io_pwrite (e->io, buf, len,
                         (uint64_t) gte * VD_SECTOR + within);
      if (r < 0)
        return r;
      s->data_unsynced = 1;
      buf += len;
      off += len;
      count -= len;
      continue;
    }

    if (within == 0 && n == s->grain_bytes) {
      /* Whole grains into holes: skip zeros that need no record, and
       * append runs of data grains with one write. */
      if (vd__is_zero (buf, n)) {
        if (st == VD_MAP_ZERO || !s->has_parent) {
          /* already reads as zeros */
        }
        else if (s->zeroed_ok) {
          sl->gte[gi % KDMV_N_GTES] = 1;
          sl->dirty = 1;
        }
        else {
          r = append_grains (e, s, sl, gi, 1, buf);
          if (r < 0)
            return r;
        }
        buf += n;
        off += n;
        count -= n;
        continue;
      }
      uint64_t k = 1;
      while ((k + 1) * s->grain_bytes <= count && (gi + k) % KDMV_N_GTES != 0
             && sl->gte[(gi + k) % KDMV_N_GTES] == 0
             && !vd__is_zero (buf + k * s->grain_bytes, s->grain_bytes))
        k++;
      r = append_grains (e, s, sl, gi, k, buf);
      if (r < 0)
        return r;
      buf += k * s->grain_bytes;
      off += k * s->grain_bytes;
      count -= (size_t) (k * s->grain_bytes);
      continue;
    }

    /* A partial grain into a hole: fill the rest from below (the parent
     * chain, or zeros for a zeroed grain or a base disk). */
    if (st == VD_MAP_ZERO || !s->has_parent)
      memset (tmp, 0, s->grain_bytes);
    else {
      uint64_t gstart = gi * s->grain_bytes;
      uint64_t glen = VD_MIN (s->grain_bytes, e->size - gstart);
      memset (tmp, 0, s->grain_bytes);
      /* the parent is another file with its own lock: no deadlock */
      r = e->below (e, tmp, (size_t) glen, e->start + gstart);
      if (r < 0)
        return r;
    }
    memcpy (tmp + within, buf, n);
    if (!(vd__is_zero (tmp, s->grain_bytes)
          && (st == VD_MAP_ZERO || !s->has_parent))) {
      r = append_grains (e, s, sl, gi, 1, tmp);
      if (r < 0)
        return r;
    }
    buf += n;
    off += n;
    count -= n;
  }
  return 0;
}

static int
sparse_pwrite (struct vd_extent *e, const void *buf, size_t count,
               uint64_t off)
{
  struct sparse *s = e->state;
  uint8_t *tmp = malloc (s->grain_bytes);
  int r;
  if (!tmp)
    return vd__error (VD_ENOMEM, errno, "%s: grain buffer", e->path);
  pthread_mutex_lock (&s->mu);
  r = mark_unclean (e, s);
  if (r == 0)
    r = sparse_pwrite_locked (e, s, buf, count, off, tmp);
  pthread_mutex_unlock (&s->mu);
  free (tmp);
  return r;
}

static int
sparse_zero (struct vd_extent *e, uint64_t count, uint64_t off)
{
  struct sparse *s = e->state;
  uint8_t *z = calloc (1, s->grain_bytes);
  int r = 0;
  if (!z)
    return vd__error (VD_ENOMEM, errno, "%s: zero buffer", e->path);
  /* Whole unallocated grains cost nothing (see pwrite); allocated ones
   * are overwritten in place so no grain leaks. */
  while (count > 0 && r == 0) {
    uint64_t within = off % s->grain_bytes;
    size_t n = (size_t) VD_MIN (count, s->grain_bytes - within);
    r = sparse_pwrite (e, z, n, off);
    off += n;
    count -= n;
  }
  free (z);
  return r;
}

static int
sparse_flush (struct vd_extent *e)
{
  struct sparse *s = e->state;
  int r = 0, any = 0;
  if (!s->rw)
    return 0;
  pthread_mutex_lock (&s->mu);
  for (int i = 0; i < N_SLOTS; i++)
    if (s->slots[i].gdi != UINT64_MAX && s->slots[i].dirty)
      any = 1;
  if (any)
    r = write_back_all (e, s);
  if (r == 0 && (any || s->data_unsynced)) {
    r = vd__io_flush (e->io);
    if (r == 0)
      s->data_unsynced = 0;
  }
  pthread_mutex_unlock (&s->mu);
  return r;
}

static int
sparse_close_clean (struct vd_extent *e)
{
  struct sparse *s = e->state;
  uint8_t zero = 0;
  int r;
  if (!s->rw || !s->marked_unclean)
    return 0;
  r = sparse_flush (e);
  if (r == 0)
    r = vd__io_pwrite (e->io, &zero, 1, 72);
  if (r == 0)
    r = vd__io_flush (e->io);
  return r;
}

/* ---- check --------------------------------------------------------------- */

const struct vd_format_driver vd__sparse_driver = {
  .name = "sparse",
  .instance_size = sizeof (struct sparse),
  .probe = sparse_probe,
  .open = sparse_open,
  .close = sparse_close,
  .map = sparse_map,
  .pwrite = sparse_pwrite,
  .zero = sparse_zero,
  .flush = sparse_flush,
  .close_clean = sparse_close_clean,
  .check = vd__sparse_check,
  .can_fix = 1,
  .create = vd__sparse_create_extent,
};
