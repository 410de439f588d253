/* seSparse extents: ESXi "space efficient sparse" deltas
 * (name-sesparse.vmdk).  Read-only, like QEMU: writing would need the
 * journal, free bitmap and backmap, which are undocumented.
 * vmdk-format.md §4.4, security-checklist.md §4 item 39.
 *
 * All header numbers are u64 LE, offsets and sizes in sectors.  The grain
 * directory (GD) holds u64 entries: 0 (no GT) or 0x10000000_<GT index>,
 * the GT living at grain_tables_offset + index * 64.  A GT has 4096 u64
 * entries (GTE) typed by the top nibble:
 *   0  unallocated (the whole entry must be 0): the parent shows through
 *   1  SCSI-unmapped: reads zeros (QEMU treats it as a zero grain)
 *   2  zero grain: reads zeros
 *   3  allocated: grain index = bits 48-59 | bits 0-47 << 12, the data
 *      at grains_offset + index * 8 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SES_CONST_MAGIC UINT64_C(0x00000000CAFEBABE)
#define SES_VOLATILE_MAGIC UINT64_C(0x00000000CAFECAFE)
#define SES_VERSION UINT64_C(0x0000000200000001)
#define SES_GRAIN 8u                  /* sectors (4 KiB) */
#define SES_GT_SECTORS 64u            /* 32 KiB */
#define SES_GT_ENTRIES 4096u
#define SES_GT_BYTES (SES_GT_ENTRIES * 8u)
#define SES_GT_COVER ((uint64_t) SES_GT_ENTRIES * SES_GRAIN)  /* sectors */
/* Just under 64 TiB is the format's limit (QEMU's comment). */
#define SES_MAX_CAPACITY (UINT64_C(1) << 37)   /* sectors */
/* Any offset or size beyond this is nonsense (and could overflow). */
#define SES_MAX_SECTORS (UINT64_C(1) << 48)
#define SES_GDE_ALLOCATED UINT64_C(0x1000000000000000)

#define SES_CACHE_SLOTS 16u           /* 16 x 32 KiB */

struct ses_slot {
  uint32_t gd_index;
  int valid;
  uint64_t last_use;
  uint64_t entries[SES_GT_ENTRIES];   /* host order */
};

struct ses_region {
  uint64_t off, size;                 /* sectors */
};

enum { R_CONST, R_VOLATILE, R_GD, R_GT, R_META };

struct ses_state {
  uint64_t file_size;                 /* bytes */
  uint64_t capacity;                  /* sectors */
  uint64_t gt_off, gt_size;           /* sectors */
  uint64_t grains_off, grains_size;   /* sectors */
  struct ses_region meta[R_META];     /* what grains must not overlap */
  uint32_t n_gd;                      /* GD entries used by the capacity */
  uint64_t *gd;                       /* host order */
  int mutex_ok;
  pthread_mutex_t mu;
  uint64_t tick;
  struct ses_slot *slots;
};

static const char *
ename (const struct vd_extent *e)
{
  return e->path ? e->path : e->name ? e->name : "(extent)";
}

static int
ses_probe (const uint8_t *buf, size_t len)
{
  if (len >= 8 && vd__le64 (buf) == SES_CONST_MAGIC)
    return 100;
  return 0;
}

static void
ses_free_state (struct ses_state *s)
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
ses_close (struct vd_extent *e)
{
  if (e->state)
    ses_free_state (e->state);
}

static int
overlaps (uint64_t a, uint64_t an, uint64_t b, uint64_t bn)
{
  return a < b + bn && b < a + an;
}

static const char *const region_names[R_META] = {
  "const header", "volatile header", "grain directory", "grain tables",
};

/* The const header h: 26 u64 then 304 bytes of zero padding.  Every
 * constant is checked, as QEMU does (the format is undocumented); the
 * capacity and the regions go into s. */
static int
ses_const_header (struct vd_extent *e, struct ses_state *s, const uint8_t *h,
                  const char *p)
{
  uint64_t f[26];
  for (unsigned i = 0; i < 26; i++)
    f[i] = vd__le64 (h + 8 * i);
  if (f[0] != SES_CONST_MAGIC)
    return vd__corrupt (p, "bad seSparse const header magic "
                        "0x%016llx", (unsigned long long) f[0]);
  if (f[1] != SES_VERSION)
    return vd__error (VD_ENOTSUP, 0, "%s: unsupported seSparse version "
                     "0x%016llx", p, (unsigned long long) f[1]);
  if (f[3] != SES_GRAIN)
    return vd__corrupt (p, "seSparse grain_size is %llu "
                        "(expected %u)", (unsigned long long) f[3],
                        SES_GRAIN);
  if (f[4] != SES_GT_SECTORS)
    return vd__corrupt (p, "seSparse grain_table_size is "
                        "%llu (expected %u)", (unsigned long long) f[4],
                        SES_GT_SECTORS);
  if (f[5] != 0)
    return vd__corrupt (p, "seSparse flags are 0x%llx "
                        "(expected 0)", (unsigned long long) f[5]);
  for (unsigned i = 6; i < 10; i++)
    if (f[i] != 0)
      return vd__corrupt (p, "seSparse reserved%u is 0x%llx "
                          "(expected 0)", i - 5, (unsigned long long) f[i]);
  if (!vd__is_zero (h + 26 * 8, VD_SECTOR - 26 * 8))
    return vd__corrupt (p, "seSparse const header padding is "
                        "not zero");
  static const char *const fields[16] = {
    "volatile_header_offset", "volatile_header_size",
    "journal_header_offset", "journal_header_size",
    "journal_offset", "journal_size", "grain_dir_offset", "grain_dir_size",
    "grain_tables_offset", "grain_tables_size", "free_bitmap_offset",
    "free_bitmap_size", "backmap_offset", "backmap_size", "grains_offset",
    "grains_size",
  };
  for (unsigned i = 0; i < 16; i++)
    if (f[10 + i] > SES_MAX_SECTORS)
      return vd__corrupt (p, "seSparse %s is %llu sectors "
                          "(too large)", fields[i],
                          (unsigned long long) f[10 + i]);
  /* The regions vdisk reads must lie past the const header.  (The
   * journal, free bitmap and backmap are never read, so only the size
   * cap above applies to them.) */
  static const unsigned used[] = { 0, 6, 8, 14 };
  for (unsigned i = 0; i < sizeof used / sizeof used[0]; i++)
    if (f[10 + used[i]] == 0)
      return vd__corrupt (p, "seSparse %s is 0 (inside the "
                          "const header)", fields[used[i]]);

  s->capacity = f[2];
  if (s->capacity == 0 || s->capacity > SES_MAX_CAPACITY)
    return vd__corrupt (p, "seSparse capacity is %llu sectors "
                        "(must be 1..%llu)", (unsigned long long) s->capacity,
                        (unsigned long long) SES_MAX_CAPACITY);
  if (s->capacity * VD_SECTOR != e->size)
    return vd__corrupt (p, "seSparse capacity is %llu sectors "
                        "but the descriptor's extent line says %llu",
                        (unsigned long long) s->capacity,
                        (unsigned long long) (e->size / VD_SECTOR));

  s->gt_off = f[18];
  s->gt_size = f[19];
  s->grains_off = f[24];
  s->grains_size = f[25];
  s->meta[R_CONST] = (struct ses_region) { 0, 1 };
  s->meta[R_VOLATILE] = (struct ses_region) { f[10], f[11] };
  s->meta[R_GD] = (struct ses_region) { f[16], f[17] };
  s->meta[R_GT] = (struct ses_region) { s->gt_off, s->gt_size };
  for (unsigned i = 0; i < R_META; i++)
    for (unsigned j = i + 1; j < R_META; j++)
      if (overlaps (s->meta[i].off, s->meta[i].size, s->meta[j].off,
                    s->meta[j].size))
        return vd__corrupt (p, "seSparse %s (sectors %llu+%llu) "
                            "overlaps the %s (sectors %llu+%llu)",
                            region_names[i],
                            (unsigned long long) s->meta[i].off,
                            (unsigned long long) s->meta[i].size,
                            region_names[j],
                            (unsigned long long) s->meta[j].off,
                            (unsigned long long) s->meta[j].size);

  return 0;
}

/* The volatile header: sound, and no journal to replay. */
static int
ses_volatile_header (struct vd_extent *e, struct ses_state *s, const char *p)
{
  uint64_t vol_off = s->meta[R_VOLATILE].off;
  uint64_t vol_size = s->meta[R_VOLATILE].size;
  uint8_t v[VD_SECTOR];
  int r;

  if (vol_size < 1 || (vol_off + 1) * VD_SECTOR > s->file_size)
    return vd__corrupt (p, "seSparse volatile header (sector "
                        "%llu, %llu sectors) is not inside the file",
                        (unsigned long long) vol_off,
                        (unsigned long long) vol_size);
  r = vd__io_pread (e->io, v, sizeof v, vol_off * VD_SECTOR);
  if (r < 0)
    return r;
  if (vd__le64 (v) != SES_VOLATILE_MAGIC)
    return vd__corrupt (p, "bad seSparse volatile header magic "
                        "0x%016llx", (unsigned long long) vd__le64 (v));
  if (vd__le64 (v + 24) != 0)
    return vd__error (VD_ENOTSUP, 0, "%s: seSparse image is dirty (its "
                     "journal needs replaying, which vdisk does not do)", p);
  if (!vd__is_zero (v + 32, sizeof v - 32))
    return vd__corrupt (p, "seSparse volatile header padding "
                        "is not zero");

  return 0;
}

/* The GD: the entries the capacity needs (at most 2^22), inside the GD
 * region and inside the file, each 0 or naming a grain table inside the
 * table area and the file.  s->gd is freed by the caller on failure. */
static int
ses_load_gd (struct vd_extent *e, struct ses_state *s, const char *p)
{
  uint64_t gd_off = s->meta[R_GD].off, gd_size = s->meta[R_GD].size;
  int r;

  uint64_t need = VD_DIV_ROUND_UP (s->capacity, SES_GT_COVER);
  if (gd_size * (VD_SECTOR / 8) < need)
    return vd__corrupt (p, "seSparse grain_dir_size is %llu "
                        "sectors; capacity %llu needs %llu entries",
                        (unsigned long long) gd_size,
                        (unsigned long long) s->capacity,
                        (unsigned long long) need);
  if (gd_off * VD_SECTOR + need * 8 > s->file_size)
    return vd__corrupt (p, "seSparse grain directory (sector "
                        "%llu, %llu entries) extends past the end of the file "
                        "(%llu bytes)", (unsigned long long) gd_off,
                        (unsigned long long) need,
                        (unsigned long long) s->file_size);
  s->n_gd = (uint32_t) need;
  s->gd = malloc (need * 8);
  if (!s->gd)
    return vd__error (VD_ENOMEM, errno, "%s: grain directory", p);
  r = vd__io_pread (e->io, s->gd, need * 8, gd_off * VD_SECTOR);
  if (r < 0)
    return r;
  for (uint32_t i = 0; i < s->n_gd; i++) {
    uint64_t g = vd__le64 ((const uint8_t *) &s->gd[i]);
    s->gd[i] = g;
    if (g == 0)
      continue;
    uint64_t idx = g & 0xFFFFFFFFu;
    if ((g & UINT64_C(0xFFFFFFFF00000000)) != SES_GDE_ALLOCATED) {
      r = vd__corrupt (p, "seSparse GD entry %u is "
                       "0x%016llx (not 0 nor 0x10000000xxxxxxxx)", i,
                       (unsigned long long) g);
      return r;
    }
    if ((idx + 1) * SES_GT_SECTORS > s->gt_size
        || (s->gt_off + (idx + 1) * SES_GT_SECTORS) * VD_SECTOR
           > s->file_size) {
      r = vd__corrupt (p, "seSparse GD entry %u names grain "
                       "table %llu, outside the grain table area or the file",
                       i, (unsigned long long) idx);
      return r;
    }
  }

  return 0;
}

static int
ses_open (struct vd_extent *e, int rw)
{
  struct ses_state *s = e->state;
  const char *p = ename (e);
  uint8_t h[VD_SECTOR];
  int r;

  if (rw)
    return vd__error (VD_ENOTSUP, 0,
                     "%s: vmfsSparse/seSparse disks are read-only in vdisk",
                     p);

  r = e->io->ops->size (e->io, &s->file_size);
  if (r < 0)
    return r;
  if (s->file_size < VD_SECTOR)
    return vd__corrupt (p, "file is %llu bytes, shorter than "
                        "the seSparse header",
                        (unsigned long long) s->file_size);
  r = vd__io_pread (e->io, h, sizeof h, 0);
  if (r < 0)
    return r;

  r = ses_const_header (e, s, h, p);
  if (r == 0)
    r = ses_volatile_header (e, s, p);
  if (r < 0)
    return r;
  r = ses_load_gd (e, s, p);
  if (r < 0)
    goto fail;

  s->slots = calloc (SES_CACHE_SLOTS, sizeof *s->slots);
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
  ses_free_state (s);
  return r;
}

static uint64_t
gt_sector (const struct ses_state *s, uint32_t t)
{
  return s->gt_off + (s->gd[t] & 0xFFFFFFFFu) * SES_GT_SECTORS;
}

/* With s->mu held: the GT of GD entry t (which is non-zero). */
static int
ses_gt (struct vd_extent *e, struct ses_state *s, uint32_t t,
        const uint64_t **out)
{
  unsigned victim = 0;
  for (unsigned i = 0; i < SES_CACHE_SLOTS; i++) {
    struct ses_slot *sl = &s->slots[i];
    if (sl->valid && sl->gd_index == t) {
      sl->last_use = ++s->tick;
      *out = sl->entries;
      return 0;
    }
    if (!sl->valid
        || (s->slots[victim].valid
            && sl->last_use < s->slots[victim].last_use))
      victim = i;
  }
  struct ses_slot *sl = &s->slots[victim];
  sl->valid = 0;
  int r = vd__io_pread (e->io, sl->entries, SES_GT_BYTES,
                        gt_sector (s, t) * VD_SECTOR);
  if (r < 0)
    return r;
  for (unsigned i = 0; i < SES_GT_ENTRIES; i++)
    sl->entries[i] = vd__le64 ((const uint8_t *) &sl->entries[i]);
  sl->gd_index = t;
  sl->valid = 1;
  sl->last_use = ++s->tick;
  *out = sl->entries;
  return 0;
}

enum gte_kind { K_HOLE, K_ZERO, K_DATA, K_BAD };

/* Decode GTE v of grain g; for K_DATA *sector is the grain's first
 * sector, validated: inside the file, clear of the headers, GD and GTs. */
static enum gte_kind
decode (const struct vd_extent *e, const struct ses_state *s, uint64_t g,
        uint64_t v, uint64_t *sector)
{
  switch (v >> 60) {
  case 0:
    return v == 0 ? K_HOLE : K_BAD;
  case 1:     /* SCSI-unmapped: zeros, as QEMU reads it */
  case 2:     /* zero grain */
    return K_ZERO;
  case 3: {
    uint64_t idx = ((v & UINT64_C(0x0FFF000000000000)) >> 48)
                   | ((v & UINT64_C(0x0000FFFFFFFFFFFF)) << 12);
    uint64_t file_sectors = s->file_size / VD_SECTOR;
    if (idx > file_sectors / SES_GRAIN)
      return K_BAD;
    uint64_t sec = s->grains_off + idx * SES_GRAIN;
    uint64_t gbytes = (uint64_t) SES_GRAIN * VD_SECTOR;
    uint64_t need = VD_MIN (gbytes, e->size - g * gbytes);
    if (sec * VD_SECTOR + need > s->file_size)
      return K_BAD;
    for (unsigned i = 0; i < R_META; i++)
      if (overlaps (sec, SES_GRAIN, s->meta[i].off, s->meta[i].size))
        return K_BAD;
    *sector = sec;
    return K_DATA;
  }
  default:
    return K_BAD;
  }
}

static int
bad_gte (const struct vd_extent *e, uint64_t g, uint64_t v)
{
  return vd__corrupt (ename (e), "seSparse grain table entry for "
                      "grain %llu is 0x%016llx (bad type, or its grain is "
                      "outside the grain area or the file)",
                      (unsigned long long) g, (unsigned long long) v);
}

static int
ses_map (struct vd_extent *e, uint64_t off, uint64_t len, struct vd_map *m)
{
  struct ses_state *s = e->state;
  const uint64_t gbytes = (uint64_t) SES_GRAIN * VD_SECTOR;
  uint64_t g = off / gbytes;
  uint64_t in = off % gbytes;
  uint64_t t = g / SES_GT_ENTRIES;
  int r = 0;

  if (off >= e->size || len > e->size - off)
    return vd__error (VD_EINVAL, 0, "%s: map beyond the extent", ename (e));

  if (s->gd[t] == 0) {
    uint64_t t2 = t + 1;
    while (t2 < s->n_gd && s->gd[t2] == 0)
      t2++;
    uint64_t end = t2 * SES_GT_ENTRIES * gbytes;
    m->status = VD_MAP_HOLE;
    m->file_offset = 0;
    m->length = VD_MIN (len, end - off);
    return 0;
  }

  pthread_mutex_lock (&s->mu);
  const uint64_t *gt;
  r = ses_gt (e, s, (uint32_t) t, &gt);
  if (r < 0)
    goto out;
  uint64_t first = t * SES_GT_ENTRIES;
  uint64_t sec = 0, prev, sec2 = 0;
  enum gte_kind k = decode (e, s, g, gt[g - first], &sec);
  if (k == K_BAD) {
    r = bad_gte (e, g, gt[g - first]);
    goto out;
  }
  uint64_t run = gbytes - in;
  prev = sec;
  for (uint64_t h = g + 1; run < len && h - first < SES_GT_ENTRIES; h++) {
    enum gte_kind k2 = decode (e, s, h, gt[h - first], &sec2);
    if (k2 != k || (k == K_DATA && sec2 != prev + SES_GRAIN))
      break;
    prev = sec2;
    run += gbytes;
  }
  m->length = VD_MIN (run, len);
  switch (k) {
  case K_HOLE:
    m->status = VD_MAP_HOLE;
    m->file_offset = 0;
    break;
  case K_ZERO:
    m->status = VD_MAP_ZERO;
    m->file_offset = 0;
    break;
  default:
    m->status = VD_MAP_DATA;
    m->file_offset = sec * VD_SECTOR + in;
    break;
  }
 out:
  pthread_mutex_unlock (&s->mu);
  return r;
}

static int
ses_check (struct vd_extent *e, struct vd_check_ctx *ctx, int fix)
{
  (void) fix;   /* no fix mode (can_fix 0) */
  struct ses_state *s = e->state;
  const char *p = ename (e);
  uint64_t n_grains = VD_DIV_ROUND_UP (s->capacity, SES_GRAIN);
  uint64_t file_grains = s->file_size / (SES_GRAIN * VD_SECTOR) + 1;
  uint8_t *used_gt = NULL, *bm = NULL;
  uint64_t *gt = NULL;
  int r = 0;

  /* Grain tables named twice, and grains used twice (a bitmap of grain
   * indices, bounded by the file size; capped at 256 MiB). */
  /* GT indices were checked at open against the file size. */
  used_gt = calloc (s->file_size / SES_GT_BYTES / 8 + 1, 1);
  gt = malloc (SES_GT_BYTES);
  if (!used_gt || !gt) {
    r = vd__error (VD_ENOMEM, errno, "%s: check", p);
    goto out;
  }
  if (file_grains / 8 + 1 <= (256u << 20))
    bm = calloc (file_grains / 8 + 1, 1);
  if (!bm)
    vd__check_report (ctx, VD_CHECK_SEVERITY_INFO,
                      "%s: file too large to look for overlaps", p);

  for (uint32_t t = 0; t < s->n_gd; t++) {
    if (s->gd[t] == 0)
      continue;
    uint64_t idx = s->gd[t] & 0xFFFFFFFFu;
    if (used_gt[idx >> 3] & (1u << (idx & 7)))
      vd__check_report (ctx, VD_CHECK_SEVERITY_CORRUPT,
                        "%s: grain table %llu is used by more than one GD "
                        "entry (entry %u)", p, (unsigned long long) idx, t);
    used_gt[idx >> 3] |= (uint8_t) (1u << (idx & 7));
    r = vd__io_pread (e->io, gt, SES_GT_BYTES, gt_sector (s, t) * VD_SECTOR);
    if (r < 0)
      goto out;
    for (uint32_t i = 0; i < SES_GT_ENTRIES; i++) {
      uint64_t g = (uint64_t) t * SES_GT_ENTRIES + i;
      uint64_t v = vd__le64 ((const uint8_t *) &gt[i]), sec = 0;
      if (v == 0)
        continue;
      if (g >= n_grains) {
        vd__check_report (ctx, VD_CHECK_SEVERITY_CORRUPT,
                          "%s: grain table %u entry %u is set (0x%016llx) "
                          "beyond the disk's capacity", p, t, i,
                          (unsigned long long) v);
        continue;
      }
      enum gte_kind k = decode (e, s, g, v, &sec);
      if (k == K_BAD) {
        vd__check_report (ctx, VD_CHECK_SEVERITY_CORRUPT,
                          "%s: grain %llu has a bad entry 0x%016llx (bad "
                          "type, or outside the grain area or the file)", p,
                          (unsigned long long) g, (unsigned long long) v);
        continue;
      }
      if (k != K_DATA)
        continue;
      if (ctx->res)
        ctx->res->allocated++;
      if (sec + SES_GRAIN > s->grains_off + s->grains_size)
        vd__check_report (ctx, VD_CHECK_SEVERITY_INFO,
                          "%s: grain %llu at sector %llu lies past "
                          "grains_offset + grains_size", p,
                          (unsigned long long) g, (unsigned long long) sec);
      /* Every grain is grains_offset + index * 8: two entries overlap
       * exactly when they name the same index. */
      uint64_t x = (sec - s->grains_off) / SES_GRAIN;
      if (bm && x < file_grains) {
        if (bm[x >> 3] & (1u << (x & 7)))
          vd__check_report (ctx, VD_CHECK_SEVERITY_CORRUPT,
                            "%s: grain %llu at sector %llu overlaps another "
                            "grain", p, (unsigned long long) g,
                            (unsigned long long) sec);
        bm[x >> 3] |= (uint8_t) (1u << (x & 7));
      }
    }
  }
 out:
  free (bm);
  free (gt);
  free (used_gt);
  return r;
}

const struct vd_format_driver vd__sesparse_driver = {
  .name = "seSparse",
  .instance_size = sizeof (struct ses_state),
  .probe = ses_probe,
  .open = ses_open,
  .close = ses_close,
  .map = ses_map,
  .check = ses_check,
};
