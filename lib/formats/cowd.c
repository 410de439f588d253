/* vmfsSparse extents: the ESXi "COWD" redo log (name-delta.vmdk).
 * Read-only.  vmdk-format.md §4.3, vmdk-spec-facts.md §5,
 * security-checklist.md §4 items 37-38.
 *
 * Layout: a 2048-byte little-endian header; a grain directory (GD) of u32
 * sector numbers at gdOffset; grain tables (GT) of 4096 u32 sector
 * numbers, each allocated on demand and followed by its grains.  A GTE of
 * 0 is unallocated (the parent, or zeros, shows through).  There is no
 * redundant GD and no zeroed-grain GTE (QEMU reads COWD without one). */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define COWD_HEADER_BYTES 2048u
#define COWD_HEADER_SECTORS 4u
#define COWD_VERSION 1u
#define COWD_FLAGS 3u
#define COWD_GT_ENTRIES 4096u
#define COWD_GT_BYTES (COWD_GT_ENTRIES * 4u)
#define COWD_MAX_GRAIN 2048u         /* sectors: 1 MiB (TN) */
#define COWD_PARENT_NAME_BYTES 1024u

/* The GT cache: a few tables, least recently used replaced.  Bounded
 * memory whatever the disk size (16 x 16 KiB). */
#define COWD_CACHE_SLOTS 16u

struct cowd_slot {
  uint32_t gd_index;
  int valid;
  uint64_t last_use;
  uint32_t entries[COWD_GT_ENTRIES];   /* host order */
};

struct cowd_state {
  uint64_t file_size;        /* bytes */
  uint32_t capacity;         /* sectors (numSectors) */
  uint32_t grain;            /* sectors */
  uint32_t gd_offset;        /* sectors */
  uint32_t n_gd;
  uint32_t free_sector;
  uint32_t unclean;
  uint64_t meta_end;         /* first sector after header + GD */
  uint32_t *gd;              /* n_gd entries, host order */
  int parent_name_terminated;
  int mutex_ok;
  pthread_mutex_t mu;        /* guards the cache */
  uint64_t tick;
  struct cowd_slot *slots;   /* COWD_CACHE_SLOTS */
};

static const char *
ename (const struct vd_extent *e)
{
  return e->path ? e->path : e->name ? e->name : "(extent)";
}

static int
cowd_probe (const uint8_t *buf, size_t len)
{
  /* magicNumber 0x44574F43, LE: the bytes "COWD". */
  if (len >= 4 && memcmp (buf, "COWD", 4) == 0)
    return 100;
  return 0;
}

static void
cowd_free_state (struct cowd_state *s)
{
  free (s->gd);
  s->gd = NULL;
  free (s->slots);
  s->slots = NULL;
  if (s->mutex_ok)
    pthread_mutex_destroy (&s->mu);
  s->mutex_ok = 0;
}

static void
cowd_close (struct vd_extent *e)
{
  if (e->state)
    cowd_free_state (e->state);
}

static int
is_pow2 (uint32_t v)
{
  return v && (v & (v - 1)) == 0;
}

static int
cowd_open (struct vd_extent *e, int rw)
{
  struct cowd_state *s = e->state;
  const char *p = ename (e);
  uint8_t h[COWD_HEADER_BYTES];
  int r;

  if (rw)
    return vd__error (VD_ENOTSUP, 0,
                     "%s: vmfsSparse/seSparse disks are read-only in vdisk",
                     p);

  r = e->io->ops->size (e->io, &s->file_size);
  if (r < 0)
    return r;
  if (s->file_size < COWD_HEADER_BYTES)
    return vd__corrupt (p,
                        "file is %llu bytes, shorter than the 2048-byte "
                        "COWD header", (unsigned long long) s->file_size);
  r = vd__io_pread (e->io, h, sizeof h, 0);
  if (r < 0)
    return r;

  if (memcmp (h, "COWD", 4) != 0)
    return vd__corrupt (p, "bad COWD magic");
  uint32_t version = vd__le32 (h + 4);
  uint32_t flags = vd__le32 (h + 8);
  s->capacity = vd__le32 (h + 12);
  s->grain = vd__le32 (h + 16);
  s->gd_offset = vd__le32 (h + 20);
  s->n_gd = vd__le32 (h + 24);
  s->free_sector = vd__le32 (h + 28);
  s->unclean = vd__le32 (h + 1648);
  s->parent_name_terminated =
    memchr (h + 32, 0, COWD_PARENT_NAME_BYTES) != NULL;

  /* security-checklist §4 item 37. */
  if (version != COWD_VERSION)
    return vd__corrupt (p, "COWD header version is %u "
                        "(expected %u)", version, COWD_VERSION);
  if (flags != COWD_FLAGS)
    return vd__corrupt (p, "COWD header flags are 0x%x "
                        "(expected 0x%x)", flags, COWD_FLAGS);
  if (!is_pow2 (s->grain) || s->grain > COWD_MAX_GRAIN)
    return vd__corrupt (p, "COWD grainSize is %u sectors "
                        "(must be a power of two, at most %u)", s->grain,
                        COWD_MAX_GRAIN);
  if (s->capacity == 0)
    return vd__corrupt (p, "COWD numSectors is 0");
  if ((uint64_t) s->capacity * VD_SECTOR != e->size)
    return vd__corrupt (p, "COWD numSectors is %u but the "
                        "descriptor's extent line says %llu sectors",
                        s->capacity,
                        (unsigned long long) (e->size / VD_SECTOR));
  uint64_t gt_cover = (uint64_t) COWD_GT_ENTRIES * s->grain;
  uint64_t want_gd = VD_DIV_ROUND_UP ((uint64_t) s->capacity, gt_cover);
  if (s->n_gd != want_gd)
    return vd__corrupt (p, "COWD numGDEntries is %u "
                        "(numSectors %u and grainSize %u need %llu)",
                        s->n_gd, s->capacity, s->grain,
                        (unsigned long long) want_gd);
  if (s->gd_offset < COWD_HEADER_SECTORS)
    return vd__corrupt (p, "COWD gdOffset %u lies inside the "
                        "header", s->gd_offset);
  uint64_t gd_bytes = (uint64_t) s->n_gd * 4;
  uint64_t gd_end = (uint64_t) s->gd_offset * VD_SECTOR + gd_bytes;
  if (gd_end > s->file_size)
    return vd__corrupt (p, "COWD grain directory (%u entries "
                        "at sector %u) extends past the end of the file "
                        "(%llu bytes)", s->n_gd, s->gd_offset,
                        (unsigned long long) s->file_size);
  s->meta_end = s->gd_offset + VD_DIV_ROUND_UP (gd_bytes, VD_SECTOR);
  if ((uint64_t) s->free_sector * VD_SECTOR > s->file_size)
    return vd__corrupt (p, "COWD freeSector %u is past the "
                        "end of the file (%llu bytes)", s->free_sector,
                        (unsigned long long) s->file_size);

  /* The GD: at most 2^20 entries (u32 capacity, grain >= 1), and it fits
   * in the file (checked above). */
  s->gd = malloc (gd_bytes ? gd_bytes : 1);
  if (!s->gd)
    return vd__error (VD_ENOMEM, errno, "%s: grain directory", p);
  r = vd__io_pread (e->io, s->gd, gd_bytes,
                    (uint64_t) s->gd_offset * VD_SECTOR);
  if (r < 0)
    goto fail;
  for (uint32_t i = 0; i < s->n_gd; i++) {
    uint32_t g = vd__le32 ((const uint8_t *) &s->gd[i]);
    s->gd[i] = g;
    if (g == 0)
      continue;
    /* Every GT lies past the header and GD, wholly inside the file. */
    if (g < s->meta_end
        || (uint64_t) g * VD_SECTOR + COWD_GT_BYTES > s->file_size) {
      r = vd__corrupt (p, "COWD GD entry %u points at "
                       "sector %u, outside the file's grain tables "
                       "(sectors %llu..%llu)", i, g,
                       (unsigned long long) s->meta_end,
                       (unsigned long long) (s->file_size / VD_SECTOR));
      goto fail;
    }
  }

  s->slots = calloc (COWD_CACHE_SLOTS, sizeof *s->slots);
  if (!s->slots) {
    r = vd__error (VD_ENOMEM, errno, "%s: grain table cache", p);
    goto fail;
  }
  if (pthread_mutex_init (&s->mu, NULL) != 0) {
    r = vd__error (VD_ENOMEM, 0, "%s: mutex", p);
    goto fail;
  }
  s->mutex_ok = 1;
  return 0;

 fail:
  cowd_free_state (s);
  return r;
}

/* With s->mu held: the GT of GD entry t (which is non-zero). */
static int
cowd_gt (struct vd_extent *e, struct cowd_state *s, uint32_t t,
         const uint32_t **out)
{
  unsigned victim = 0;
  for (unsigned i = 0; i < COWD_CACHE_SLOTS; i++) {
    struct cowd_slot *sl = &s->slots[i];
    if (sl->valid && sl->gd_index == t) {
      sl->last_use = ++s->tick;
      *out = sl->entries;
      return 0;
    }
    if (!sl->valid
        || (s->slots[victim].valid && sl->last_use
            < s->slots[victim].last_use))
      victim = i;
  }
  struct cowd_slot *sl = &s->slots[victim];
  sl->valid = 0;
  int r = vd__io_pread (e->io, sl->entries, COWD_GT_BYTES,
                        (uint64_t) s->gd[t] * VD_SECTOR);
  if (r < 0)
    return r;
  for (unsigned i = 0; i < COWD_GT_ENTRIES; i++)
    sl->entries[i] = vd__le32 ((const uint8_t *) &sl->entries[i]);
  sl->gd_index = t;
  sl->valid = 1;
  sl->last_use = ++s->tick;
  *out = sl->entries;
  return 0;
}

/* Is GTE v (for grain g) a grain wholly inside the file, above the
 * header and GD? */
static int
cowd_gte_ok (const struct vd_extent *e, const struct cowd_state *s,
             uint64_t g, uint32_t v)
{
  uint64_t gbytes = (uint64_t) s->grain * VD_SECTOR;
  uint64_t need = VD_MIN (gbytes, e->size - g * gbytes);
  return v >= s->meta_end
         && (uint64_t) v * VD_SECTOR + need <= s->file_size;
}

static int
cowd_bad_gte (const struct vd_extent *e, const struct cowd_state *s,
              uint64_t g, uint32_t v)
{
  return vd__corrupt (ename (e), "COWD grain table entry for grain "
                      "%llu points at sector %u, outside the data area "
                      "(sectors %llu..%llu)", (unsigned long long) g,
                      v, (unsigned long long) s->meta_end,
                      (unsigned long long) (s->file_size / VD_SECTOR));
}

static int
cowd_map (struct vd_extent *e, uint64_t off, uint64_t len, struct vd_map *m)
{
  struct cowd_state *s = e->state;
  uint64_t gbytes = (uint64_t) s->grain * VD_SECTOR;
  uint64_t g = off / gbytes;
  uint64_t in = off % gbytes;
  uint64_t t = g / COWD_GT_ENTRIES;
  int r = 0;

  if (off >= e->size || len > e->size - off)
    return vd__error (VD_EINVAL, 0, "%s: map beyond the extent", ename (e));

  if (s->gd[t] == 0) {
    /* No GT: unallocated up to the next GD entry that has one. */
    uint64_t t2 = t + 1;
    while (t2 < s->n_gd && s->gd[t2] == 0)
      t2++;
    uint64_t end = t2 * COWD_GT_ENTRIES * gbytes;
    m->status = VD_MAP_HOLE;
    m->file_offset = 0;
    m->length = VD_MIN (len, end - off);
    return 0;
  }

  pthread_mutex_lock (&s->mu);
  const uint32_t *gt;
  r = cowd_gt (e, s, (uint32_t) t, &gt);
  if (r < 0)
    goto out;
  uint64_t first_in_gt = t * COWD_GT_ENTRIES;
  uint32_t v = gt[g - first_in_gt];
  uint64_t run = gbytes - in;
  if (v == 0) {
    m->status = VD_MAP_HOLE;
    m->file_offset = 0;
    /* Following unallocated grains of this GT. */
    for (uint64_t h = g + 1;
         run < len && h - first_in_gt < COWD_GT_ENTRIES
         && gt[h - first_in_gt] == 0;
         h++)
      run += gbytes;
  }
  else {
    if (!cowd_gte_ok (e, s, g, v)) {
      r = cowd_bad_gte (e, s, g, v);
      goto out;
    }
    m->status = VD_MAP_DATA;
    m->file_offset = (uint64_t) v * VD_SECTOR + in;
    /* Following grains that continue in the file. */
    uint64_t prev = v;
    for (uint64_t h = g + 1;
         run < len && h - first_in_gt < COWD_GT_ENTRIES;
         h++) {
      uint32_t w = gt[h - first_in_gt];
      if (w == 0 || w != prev + s->grain || !cowd_gte_ok (e, s, h, w))
        break;
      prev = w;
      run += gbytes;
    }
  }
  m->length = VD_MIN (run, len);
 out:
  pthread_mutex_unlock (&s->mu);
  return r;
}

/* Mark [a, a+n) sectors in bitmap bm; count sectors already set. */
static uint64_t
mark (uint8_t *bm, uint64_t a, uint64_t n)
{
  uint64_t dup = 0;
  for (uint64_t i = a; i < a + n; i++) {
    if (bm[i >> 3] & (1u << (i & 7)))
      dup++;
    bm[i >> 3] |= (uint8_t) (1u << (i & 7));
  }
  return dup;
}

static int
cowd_check (struct vd_extent *e, struct vd_check_ctx *ctx, int fix)
{
  (void) fix;   /* no fix mode (can_fix 0) */
  struct cowd_state *s = e->state;
  const char *p = ename (e);
  uint64_t gbytes = (uint64_t) s->grain * VD_SECTOR;
  uint64_t file_sectors = s->file_size / VD_SECTOR;
  uint64_t n_grains = VD_DIV_ROUND_UP ((uint64_t) s->capacity, s->grain);
  uint8_t *bm = NULL;
  uint32_t *gt = NULL;
  int r = 0;

  if (s->unclean) {
    vd__check_report (ctx, VD_CHECK_SEVERITY_INFO,
                      "%s: COWD uncleanShutdown is set", p);
    if (ctx->res)
      ctx->res->unclean = 1;
  }
  if (!s->parent_name_terminated)
    vd__check_report (ctx, VD_CHECK_SEVERITY_INFO,
                      "%s: COWD parentFileName field is not "
                      "NUL-terminated (ignored)", p);

  /* A bitmap of file sectors in use, to find overlaps.  file_sectors is
   * bounded by the real file size; cap the bitmap at 256 MiB. */
  if (file_sectors / 8 + 1 <= (256u << 20))
    bm = calloc (file_sectors / 8 + 1, 1);
  if (!bm)
    vd__check_report (ctx, VD_CHECK_SEVERITY_INFO,
                      "%s: file too large to look for overlaps", p);
  else
    mark (bm, 0, s->meta_end);

  gt = malloc (COWD_GT_BYTES);
  if (!gt) {
    r = vd__error (VD_ENOMEM, errno, "%s: grain table", p);
    goto out;
  }
  for (uint32_t t = 0; t < s->n_gd; t++) {
    if (s->gd[t] == 0)
      continue;
    if (bm && mark (bm, s->gd[t], COWD_GT_BYTES / VD_SECTOR))
      vd__check_report (ctx, VD_CHECK_SEVERITY_CORRUPT,
                        "%s: grain table %u at sector %u overlaps other "
                        "metadata or data", p, t, s->gd[t]);
    r = vd__io_pread (e->io, gt, COWD_GT_BYTES,
                      (uint64_t) s->gd[t] * VD_SECTOR);
    if (r < 0)
      goto out;
    for (uint32_t i = 0; i < COWD_GT_ENTRIES; i++) {
      uint64_t g = (uint64_t) t * COWD_GT_ENTRIES + i;
      uint32_t v = vd__le32 ((const uint8_t *) &gt[i]);
      if (v == 0)
        continue;
      if (g >= n_grains) {
        vd__check_report (ctx, VD_CHECK_SEVERITY_CORRUPT,
                          "%s: grain table %u entry %u is set (sector %u) "
                          "beyond the disk's capacity", p, t, i, v);
        continue;
      }
      if (!cowd_gte_ok (e, s, g, v)) {
        vd__check_report (ctx, VD_CHECK_SEVERITY_CORRUPT,
                          "%s: grain %llu points at sector %u, outside the "
                          "data area (sectors %llu..%llu)", p,
                          (unsigned long long) g, v,
                          (unsigned long long) s->meta_end,
                          (unsigned long long) file_sectors);
        continue;
      }
      if (ctx->res)
        ctx->res->allocated++;
      uint64_t n = VD_MIN (gbytes, e->size - g * gbytes);
      n = VD_DIV_ROUND_UP (n, VD_SECTOR);
      if (bm && mark (bm, v, n))
        vd__check_report (ctx, VD_CHECK_SEVERITY_CORRUPT,
                          "%s: grain %llu at sector %u overlaps other "
                          "metadata or data", p, (unsigned long long) g, v);
    }
  }
 out:
  free (gt);
  free (bm);
  return r;
}

const struct vd_format_driver vd__cowd_driver = {
  .name = "vmfsSparse",
  .instance_size = sizeof (struct cowd_state),
  .probe = cowd_probe,
  .open = cowd_open,
  .close = cowd_close,
  .map = cowd_map,
  .check = cowd_check,
};
