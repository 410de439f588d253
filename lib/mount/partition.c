/* Partition tables (MBR with extended and logical partitions, GPT) and
 * file system identification by superblock magic.  Everything read from
 * the disk is hostile: each number is checked against the disk's size
 * and the limits in mount-internal.h before it is used. */
#include "mount-internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define SECTOR 512u

static uint16_t
le16 (const uint8_t *p)
{
  return (uint16_t) (p[0] | (p[1] << 8));
}
static uint32_t
le32 (const uint8_t *p)
{
  return (uint32_t) p[0] | ((uint32_t) p[1] << 8) | ((uint32_t) p[2] << 16)
         | ((uint32_t) p[3] << 24);
}
static uint64_t
le64 (const uint8_t *p)
{
  return (uint64_t) le32 (p) | ((uint64_t) le32 (p + 4) << 32);
}

/* ---- text helpers ------------------------------------------------------ */

static void
put_utf8 (char *out, size_t outsz, size_t *o, uint32_t c)
{
  char tmp[4];
  size_t n;
  if (c < 0x80) {
    tmp[0] = (char) c; n = 1;
  } else if (c < 0x800) {
    tmp[0] = (char) (0xC0 | (c >> 6));
    tmp[1] = (char) (0x80 | (c & 0x3F)); n = 2;
  } else if (c < 0x10000) {
    tmp[0] = (char) (0xE0 | (c >> 12));
    tmp[1] = (char) (0x80 | ((c >> 6) & 0x3F));
    tmp[2] = (char) (0x80 | (c & 0x3F)); n = 3;
  } else {
    tmp[0] = (char) (0xF0 | (c >> 18));
    tmp[1] = (char) (0x80 | ((c >> 12) & 0x3F));
    tmp[2] = (char) (0x80 | ((c >> 6) & 0x3F));
    tmp[3] = (char) (0x80 | (c & 0x3F)); n = 4;
  }
  if (*o + n >= outsz)
    return;
  memcpy (out + *o, tmp, n);
  *o += n;
}

/* UTF-16LE (units code units, stops at NUL) to UTF-8; bad surrogates
 * become U+FFFD.  out is always terminated. */
static void
utf16le_to_utf8 (char *out, size_t outsz, const uint8_t *in, size_t units)
{
  size_t o = 0;
  for (size_t i = 0; i < units; i++) {
    uint32_t c = le16 (in + 2 * i);
    if (c == 0)
      break;
    if (c >= 0xD800 && c < 0xDC00 && i + 1 < units) {
      uint32_t d = le16 (in + 2 * (i + 1));
      if (d >= 0xDC00 && d < 0xE000) {
        c = 0x10000 + ((c - 0xD800) << 10) + (d - 0xDC00);
        i++;
      } else
        c = 0xFFFD;
    } else if (c >= 0xD800 && c < 0xE000)
      c = 0xFFFD;
    put_utf8 (out, outsz, &o, c);
  }
  out[o] = 0;
}

/* 8-bit label bytes (space padded) into out; control bytes become '?'. */
static void
label8 (char *out, size_t outsz, const uint8_t *in, size_t n)
{
  size_t len = 0;
  for (size_t i = 0; i < n && in[i]; i++)
    len = i + 1;
  while (len && in[len - 1] == ' ')
    len--;
  size_t o = 0;
  for (size_t i = 0; i < len && o + 1 < outsz; i++)
    out[o++] = in[i] < 0x20 || in[i] == 0x7F ? '?' : (char) in[i];
  out[o] = 0;
}

static int
all_zero (const uint8_t *p, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (p[i])
      return 0;
  return 1;
}

/* RFC 4122 text of 16 bytes as stored (big-endian fields). */
static void
uuid_be (char *out, const uint8_t *u, int upper)
{
  static const char *lo = "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
                          "%02x%02x%02x%02x%02x%02x";
  static const char *up = "%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-"
                          "%02X%02X%02X%02X%02X%02X";
  sprintf (out, upper ? up : lo, u[0], u[1], u[2], u[3], u[4], u[5], u[6],
           u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
}

/* A GPT GUID (first three fields little-endian), upper case. */
static void
guid_le (char *out, const uint8_t *g)
{
  uint8_t b[16];
  b[0] = g[3]; b[1] = g[2]; b[2] = g[1]; b[3] = g[0];
  b[4] = g[5]; b[5] = g[4]; b[6] = g[7]; b[7] = g[6];
  memcpy (b + 8, g + 8, 8);
  uuid_be (out, b, 1);
}

/* ---- file systems ------------------------------------------------------- */

static int
probe_ntfs (vd__read_fn rd, void *ctx, uint64_t off, uint64_t len,
            const uint8_t *bs, struct vd_fs_info *info)
{
  if (memcmp (bs + 3, "NTFS    ", 8) != 0)
    return 0;
  uint32_t bps = le16 (bs + 0x0B);
  uint32_t spc = bs[0x0D];
  if (bps < 256 || bps > 4096 || (bps & (bps - 1)))
    return 0;
  if (spc > 128) {
    if (256 - spc > 20)
      return 0;
    spc = 1u << (256 - spc);
  }
  if (spc == 0 || (spc & (spc - 1)))
    return 0;
  uint64_t cluster = (uint64_t) bps * spc;
  int8_t cpr = (int8_t) bs[0x40];
  uint64_t rec;
  if (cpr < 0) {
    if (-cpr < 9 || -cpr > 12)
      return 0;
    rec = 1u << -cpr;
  } else
    rec = (uint64_t) cpr * cluster;
  info->type = VD_FS_NTFS;
  sprintf (info->uuid, "%016llX", (unsigned long long) le64 (bs + 0x48));
  /* The label is the VOLUME_NAME attribute of $Volume (MFT record 3). */
  if (rec < 512 || rec > 4096)
    return 1;
  uint64_t lcn = le64 (bs + 0x30);
  if (lcn > len / cluster)
    return 1;
  uint64_t at = lcn * cluster + 3 * rec;
  if (at > len || len - at < rec)
    return 1;
  uint8_t r[4096];
  if (rd (ctx, r, (size_t) rec, off + at) < 0) {
    vd__error_clear ();
    return 1;
  }
  if (memcmp (r, "FILE", 4) != 0)
    return 1;
  /* multi-sector fixups: the last two bytes of each 512-byte block */
  uint32_t usa = le16 (r + 4), usn = le16 (r + 6);
  if (usn < 1 || usa + 2u * usn > rec || (usn - 1) * 512u > rec)
    return 1;
  for (uint32_t i = 1; i < usn; i++) {
    uint8_t *end = r + i * 512 - 2;
    if (memcmp (end, r + usa, 2) != 0)
      return 1;
    memcpy (end, r + usa + 2 * i, 2);
  }
  uint32_t a = le16 (r + 0x14);
  while (a + 16 <= rec) {
    uint32_t type = le32 (r + a), alen = le32 (r + a + 4);
    if (type == 0xFFFFFFFFu || alen < 16 || alen > rec - a)
      break;
    if (type == 0x60 && r[a + 8] == 0 && alen >= 24) {
      uint32_t vlen = le32 (r + a + 0x10), voff = le16 (r + a + 0x14);
      if (voff <= alen && vlen <= alen - voff)
        utf16le_to_utf8 (info->label, sizeof info->label, r + a + voff,
                         vlen / 2);
      break;
    }
    a += alen;
  }
  return 1;
}

static int
probe_vfat (const uint8_t *bs, struct vd_fs_info *info)
{
  if (bs[510] != 0x55 || bs[511] != 0xAA)
    return 0;
  uint32_t bps = le16 (bs + 0x0B);
  if (bps < 512 || bps > 4096 || (bps & (bps - 1)) || bs[0x0D] == 0)
    return 0;
  const uint8_t *lab, *ser;
  if (memcmp (bs + 0x52, "FAT32   ", 8) == 0) {
    lab = bs + 0x47; ser = bs + 0x43;
  } else if (memcmp (bs + 0x36, "FAT12   ", 8) == 0
             || memcmp (bs + 0x36, "FAT16   ", 8) == 0
             || memcmp (bs + 0x36, "FAT     ", 8) == 0) {
    lab = bs + 0x2B; ser = bs + 0x27;
  } else
    return 0;
  info->type = VD_FS_VFAT;
  label8 (info->label, sizeof info->label, lab, 11);
  if (strcmp (info->label, "NO NAME") == 0)
    info->label[0] = 0;
  uint32_t s = le32 (ser);
  sprintf (info->uuid, "%04X-%04X", s >> 16, s & 0xFFFF);
  return 1;
}

int
vd__fs_probe (vd__read_fn rd, void *ctx, uint64_t off, uint64_t len,
              struct vd_fs_info *info)
{
  uint8_t b[4096];
  int r;

  memset (info, 0, sizeof *info);
  if (len < 4096)
    return 0;
  if ((r = rd (ctx, b, sizeof b, off)) < 0)
    return r;
  if (probe_ntfs (rd, ctx, off, len, b, info) || probe_vfat (b, info))
    return 0;
  if (memcmp (b, "XFSB", 4) == 0) {
    info->type = VD_FS_XFS;
    if (!all_zero (b + 32, 16))
      uuid_be (info->uuid, b + 32, 0);
    label8 (info->label, sizeof info->label, b + 108, 12);
    return 0;
  }
  const uint8_t *sb = b + 1024;
  if (le16 (sb + 56) == 0xEF53) {
    uint32_t compat = le32 (sb + 0x5C), incompat = le32 (sb + 0x60);
    uint32_t ro = le32 (sb + 0x64);
    if (incompat & 0x8)       /* an external journal device */
      return 0;
    if ((ro & ~0x7u) || (incompat & ~0x16u))
      info->type = VD_FS_EXT4;
    else if (compat & 0x4)
      info->type = VD_FS_EXT3;
    else
      info->type = VD_FS_EXT2;
    if (!all_zero (sb + 0x68, 16))
      uuid_be (info->uuid, sb + 0x68, 0);
    label8 (info->label, sizeof info->label, sb + 0x78, 16);
    return 0;
  }
  if (memcmp (b + 4086, "SWAPSPACE2", 10) == 0
      || memcmp (b + 4086, "SWAP-SPACE", 10) == 0) {
    info->type = VD_FS_SWAP;
    if (b[4086 + 4] == 'S') {    /* SWAPSPACE2: version 1 header */
      if (!all_zero (b + 1036, 16))
        uuid_be (info->uuid, b + 1036, 0);
      label8 (info->label, sizeof info->label, b + 1052, 16);
    }
  }
  return 0;
}

/* ---- tables ------------------------------------------------------------- */

struct parse {
  vd__read_fn rd;
  void *ctx;
  uint64_t size;          /* bytes */
  uint64_t sectors;
  const char *name;
  struct vd_partition_table *t;
};

static struct vd_partition *
add_part (struct parse *p)
{
  struct vd_partition_table *t = p->t;
  if (t->count >= VD_PARTS_MAX) {
    vd__error (VD_ECORRUPT, 0, "%s: more than %u partitions", p->name,
              VD_PARTS_MAX);
    return NULL;
  }
  struct vd_partition *n = realloc (t->parts, (t->count + 1) * sizeof *n);
  if (!n) {
    vd__error (VD_ENOMEM, 0, "%s: out of memory", p->name);
    return NULL;
  }
  t->parts = n;
  n = &t->parts[t->count++];
  memset (n, 0, sizeof *n);
  return n;
}

static int
is_extended (uint8_t type)
{
  return type == 0x05 || type == 0x0F || type == 0x85;
}

/* The logical partitions in the extended partition at [ext, ext + n)
 * (sectors). */
static int
parse_logicals (struct parse *p, uint32_t disk_id, uint64_t ext,
                uint64_t n)
{
  uint64_t seen[VD_PARTS_MAX];
  unsigned nseen = 0, number = 5;
  uint64_t cur = ext, end = ext + n;
  uint8_t s[SECTOR];
  int r;

  for (;;) {
    for (unsigned i = 0; i < nseen; i++)
      if (seen[i] == cur)
        return vd__error (VD_ECORRUPT, 0, "%s: damaged partition table: the "
                         "chain of extended partitions loops back to "
                         "sector %llu", p->name, (unsigned long long) cur);
    if (nseen == VD_PARTS_MAX)
      return vd__error (VD_ECORRUPT, 0, "%s: more than %u extended boot "
                       "records", p->name, VD_PARTS_MAX);
    seen[nseen++] = cur;
    if ((r = p->rd (p->ctx, s, SECTOR, cur * SECTOR)) < 0)
      return r;
    if (s[510] != 0x55 || s[511] != 0xAA) {
      if (cur == ext)    /* an empty extended partition */
        return 0;
      return vd__error (VD_ECORRUPT, 0, "%s: damaged partition table: the "
                       "extended boot record at sector %llu has no "
                       "signature", p->name, (unsigned long long) cur);
    }
    uint64_t next = 0;
    int have_logical = 0;
    for (int i = 0; i < 4; i++) {
      const uint8_t *e = s + 446 + 16 * i;
      uint8_t type = e[4];
      uint64_t rel = le32 (e + 8), cnt = le32 (e + 12);
      if (type == 0 || cnt == 0)
        continue;
      if (is_extended (type)) {
        if (next)
          return vd__error (VD_ECORRUPT, 0, "%s: damaged partition table: "
                           "the extended boot record at sector %llu links "
                           "to two others", p->name,
                           (unsigned long long) cur);
        next = ext + rel;
        if (rel == 0 || next >= end)
          return vd__error (VD_ECORRUPT, 0, "%s: damaged partition table: "
                           "the extended boot record at sector %llu links "
                           "outside its extended partition", p->name,
                           (unsigned long long) cur);
        continue;
      }
      if (have_logical)
        return vd__error (VD_ECORRUPT, 0, "%s: damaged partition table: the "
                         "extended boot record at sector %llu holds two "
                         "partitions", p->name, (unsigned long long) cur);
      have_logical = 1;
      uint64_t start = cur + rel;
      if (rel == 0 || start >= end || cnt > end - start)
        return vd__error (VD_ECORRUPT, 0, "%s: damaged partition table: "
                         "logical partition %u (sectors %llu+%llu) lies "
                         "outside its extended partition", p->name, number,
                         (unsigned long long) start,
                         (unsigned long long) cnt);
      struct vd_partition *pt = add_part (p);
      if (!pt)
        return vd_last_error ()->code;
      pt->number = number++;
      pt->flags = VD_PART_LOGICAL | (e[0] == 0x80 ? VD_PART_BOOTABLE : 0);
      pt->offset = start * SECTOR;
      pt->length = cnt * SECTOR;
      pt->mbr_type = type;
      snprintf (pt->uuid, sizeof pt->uuid, "%08x-%02x", disk_id,
                pt->number & 0xFF);
    }
    if (!next)
      return 0;
    cur = next;
  }
}

static int
parse_mbr (struct parse *p, const uint8_t *s)
{
  struct vd_partition_table *t = p->t;
  uint32_t disk_id = le32 (s + 440);
  int next = 0, r;

  t->type = VD_TABLE_MBR;
  snprintf (t->id, sizeof t->id, "0x%08x", disk_id);
  for (int i = 0; i < 4; i++) {
    const uint8_t *e = s + 446 + 16 * i;
    if (e[0] != 0 && e[0] != 0x80)
      return vd__error (VD_ECORRUPT, 0, "%s: damaged partition table: MBR "
                       "entry %d has boot flag 0x%02x", p->name, i + 1,
                       e[0]);
  }
  for (int i = 0; i < 4; i++) {
    const uint8_t *e = s + 446 + 16 * i;
    uint8_t type = e[4];
    uint64_t start = le32 (e + 8), cnt = le32 (e + 12);
    if (type == 0 || cnt == 0)
      continue;
    if (start == 0 || start >= p->sectors || cnt > p->sectors - start)
      return vd__error (VD_ECORRUPT, 0, "%s: damaged partition table: "
                       "partition %d (sectors %llu+%llu) %s", p->name, i + 1,
                       (unsigned long long) start, (unsigned long long) cnt,
                       start == 0 ? "covers the MBR"
                                  : "ends past the end of the disk");
    struct vd_partition *pt = add_part (p);
    if (!pt)
      return vd_last_error ()->code;
    pt->number = (unsigned) i + 1;
    pt->flags = e[0] == 0x80 ? VD_PART_BOOTABLE : 0;
    pt->offset = start * SECTOR;
    pt->length = cnt * SECTOR;
    pt->mbr_type = type;
    snprintf (pt->uuid, sizeof pt->uuid, "%08x-%02x", disk_id, i + 1);
    if (is_extended (type)) {
      if (next++)
        return vd__error (VD_ECORRUPT, 0, "%s: damaged partition table: two "
                         "extended partitions", p->name);
      pt->flags |= VD_PART_EXTENDED;
    }
  }
  for (unsigned i = 0; i < t->count; i++)
    if (t->parts[i].flags & VD_PART_EXTENDED) {
      uint64_t ext = t->parts[i].offset / SECTOR;
      uint64_t n = t->parts[i].length / SECTOR;
      if ((r = parse_logicals (p, disk_id, ext, n)) < 0)
        return r;
      break;
    }
  return 0;
}

/* Check one GPT header at lba; on success fill hdr (SECTOR bytes). */
static int
gpt_header (struct parse *p, uint64_t lba, uint8_t *h, const char **why)
{
  int r;
  if (lba >= p->sectors) {
    *why = "missing";
    return 1;
  }
  if ((r = p->rd (p->ctx, h, SECTOR, lba * SECTOR)) < 0)
    return r;
  if (memcmp (h, "EFI PART", 8) != 0) {
    *why = "no signature";
    return 1;
  }
  uint32_t hs = le32 (h + 12);
  if (hs < 92 || hs > SECTOR) {
    *why = "bad header size";
    return 1;
  }
  uint32_t crc = le32 (h + 16);
  uint8_t tmp[SECTOR];
  memcpy (tmp, h, hs);
  memset (tmp + 16, 0, 4);
  if ((uint32_t) crc32 (0, tmp, hs) != crc) {
    *why = "bad header CRC";
    return 1;
  }
  if (le64 (h + 24) != lba) {
    *why = "header names another sector as its own";
    return 1;
  }
  return 0;
}

static int
parse_gpt (struct parse *p)
{
  struct vd_partition_table *t = p->t;
  uint8_t h[SECTOR];
  const char *why1 = NULL, *why2 = NULL;
  int r;

  t->type = VD_TABLE_GPT;
  if ((r = gpt_header (p, 1, h, &why1)) < 0)
    return r;
  if (r > 0) {
    if ((r = gpt_header (p, p->sectors - 1, h, &why2)) < 0)
      return r;
    if (r > 0)
      return vd__error (VD_ECORRUPT, 0, "%s: damaged GPT: primary header: "
                       "%s; backup header: %s", p->name, why1, why2);
  }
  uint64_t first = le64 (h + 40), last = le64 (h + 48);
  uint64_t elba = le64 (h + 72);
  uint32_t nent = le32 (h + 80), esz = le32 (h + 84), ecrc = le32 (h + 88);
  if (nent > VD_GPT_MAX_ENTRIES)
    return vd__error (VD_ECORRUPT, 0, "%s: damaged GPT: %u entries (at most "
                     "%u)", p->name, nent, VD_GPT_MAX_ENTRIES);
  if (esz < 128 || esz > 4096 || (esz & (esz - 1)))
    return vd__error (VD_ECORRUPT, 0, "%s: damaged GPT: entry size %u",
                     p->name, esz);
  uint64_t abytes = (uint64_t) nent * esz;
  if (abytes > VD_GPT_MAX_ARRAY)
    return vd__error (VD_ECORRUPT, 0, "%s: damaged GPT: entry array of %llu "
                     "bytes", p->name, (unsigned long long) abytes);
  if (elba < 2 || elba >= p->sectors
      || (abytes + SECTOR - 1) / SECTOR > p->sectors - elba)
    return vd__error (VD_ECORRUPT, 0, "%s: damaged GPT: the entry array at "
                     "sector %llu lies past the end of the disk", p->name,
                     (unsigned long long) elba);
  if (first > last + 1 || last >= p->sectors)
    return vd__error (VD_ECORRUPT, 0, "%s: damaged GPT: usable sectors "
                     "%llu-%llu do not fit a disk of %llu sectors", p->name,
                     (unsigned long long) first, (unsigned long long) last,
                     (unsigned long long) p->sectors);
  guid_le (t->id, h + 56);
  t->first_lba = first;
  t->last_lba = last;
  if (abytes == 0)
    return 0;
  uint8_t *a = malloc ((size_t) abytes);
  if (!a)
    return vd__error (VD_ENOMEM, 0, "%s: out of memory", p->name);
  if ((r = p->rd (p->ctx, a, (size_t) abytes, elba * SECTOR)) < 0)
    goto out;
  if ((uint32_t) crc32 (0, a, (uInt) abytes) != ecrc) {
    r = vd__error (VD_ECORRUPT, 0, "%s: damaged GPT: bad CRC of the entry "
                  "array", p->name);
    goto out;
  }
  for (uint32_t i = 0; i < nent; i++) {
    const uint8_t *e = a + (size_t) i * esz;
    if (all_zero (e, 16))
      continue;
    uint64_t s = le64 (e + 32), l = le64 (e + 40);
    if (s > l || s < first || l > last) {
      r = vd__error (VD_ECORRUPT, 0, "%s: damaged GPT: partition %u (sectors "
                    "%llu-%llu) %s", p->name, i + 1, (unsigned long long) s,
                    (unsigned long long) l,
                    s > l ? "ends before it starts"
                          : "lies outside the usable sectors");
      goto out;
    }
    struct vd_partition *pt = add_part (p);
    if (!pt) {
      r = vd_last_error ()->code;
      goto out;
    }
    pt->number = i + 1;
    pt->offset = s * SECTOR;
    pt->length = (l - s + 1) * SECTOR;
    guid_le (pt->type_guid, e);
    guid_le (pt->uuid, e + 16);
    pt->gpt_attributes = le64 (e + 48);
    utf16le_to_utf8 (pt->name, sizeof pt->name, e + 56, 36);
  }
  r = 0;
out:
  free (a);
  return r;
}

static int
cmp_offset (const void *a, const void *b)
{
  const struct vd_partition *x = *(struct vd_partition *const *) a;
  const struct vd_partition *y = *(struct vd_partition *const *) b;
  return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int
cmp_number (const void *a, const void *b)
{
  const struct vd_partition *x = a, *y = b;
  return x->number < y->number ? -1 : x->number > y->number;
}

/* No two volumes share a byte; no primary reaches into the extended
 * partition (whose logicals lie inside it by construction). */
static int
check_overlaps (struct parse *p)
{
  struct vd_partition_table *t = p->t;
  struct vd_partition *v[VD_PARTS_MAX];
  unsigned n = 0;
  for (unsigned i = 0; i < t->count; i++)
    if (!(t->parts[i].flags & VD_PART_LOGICAL))
      v[n++] = &t->parts[i];
  for (int pass = 0; pass < 2; pass++) {
    qsort (v, n, sizeof *v, cmp_offset);
    for (unsigned i = 1; i < n; i++)
      if (v[i - 1]->offset + v[i - 1]->length > v[i]->offset)
        return vd__error (VD_ECORRUPT, 0, "%s: damaged partition table: "
                         "partitions %u and %u overlap", p->name,
                         v[i - 1]->number, v[i]->number);
    /* second pass: the volumes (logicals instead of their container) */
    n = 0;
    for (unsigned i = 0; i < t->count; i++)
      if (!(t->parts[i].flags & VD_PART_EXTENDED))
        v[n++] = &t->parts[i];
  }
  return 0;
}

int
vd__parts_parse (struct vd_partition_table **out, vd__read_fn rd, void *ctx,
                 uint64_t size, const char *name)
{
  struct parse p = { rd, ctx, size, size / SECTOR, name, NULL };
  uint8_t s0[SECTOR], s1[SECTOR];
  int r = 0;

  *out = NULL;
  if (!(p.t = calloc (1, sizeof *p.t)))
    return vd__error (VD_ENOMEM, 0, "%s: out of memory", name);
  p.t->disk_size = size;
  if (p.sectors < 2)
    goto done;
  if ((r = rd (ctx, s0, SECTOR, 0)) < 0 || (r = rd (ctx, s1, SECTOR, SECTOR)) < 0)
    goto fail;
  int sig = s0[510] == 0x55 && s0[511] == 0xAA;
  int protective = 0;
  for (int i = 0; sig && i < 4; i++)
    if (s0[446 + 16 * i + 4] == 0xEE)
      protective = 1;
  if (protective || memcmp (s1, "EFI PART", 8) == 0) {
    if ((r = parse_gpt (&p)) < 0)
      goto fail;
  } else {
    if ((r = vd__fs_probe (rd, ctx, 0, size, &p.t->whole)) < 0)
      goto fail;
    /* a boot sector of a file system on the whole disk also ends in
     * 55 AA: such a disk has no table */
    if (sig && p.t->whole.type != VD_FS_NTFS && p.t->whole.type != VD_FS_VFAT) {
      memset (&p.t->whole, 0, sizeof p.t->whole);
      if ((r = parse_mbr (&p, s0)) < 0)
        goto fail;
    }
  }
  if ((r = check_overlaps (&p)) < 0)
    goto fail;
  if (p.t->count > 1)
    qsort (p.t->parts, p.t->count, sizeof *p.t->parts, cmp_number);
  for (unsigned i = 0; i < p.t->count; i++) {
    struct vd_partition *pt = &p.t->parts[i];
    if (pt->flags & VD_PART_EXTENDED)
      continue;
    if ((r = vd__fs_probe (rd, ctx, pt->offset, pt->length, &pt->fs)) < 0)
      goto fail;
  }
done:
  *out = p.t;
  return 0;
fail:
  vd_partitions_free (p.t);
  return r;
}

/* ---- public ------------------------------------------------------------- */

static int
disk_read (void *ctx, void *buf, size_t n, uint64_t off)
{
  return vd_disk_read (ctx, buf, n, off);
}

int
vd_partitions_read (vd_disk *disk, struct vd_partition_table **out)
{
  VD_ENTER ();
  if (!out)
    return vd__error (VD_EINVAL, 0, "no output pointer");
  *out = NULL;
  if (!disk)
    return vd__error (VD_EINVAL, 0, "no disk");
  return vd__parts_parse (out, disk_read, disk, vd_disk_get_size (disk),
                          vd_disk_get_path (disk));
}

int
vd_partitions_read_source (const struct vd_mount_source *src,
                           struct vd_partition_table **out)
{
  VD_ENTER ();
  if (!out)
    return vd__error (VD_EINVAL, 0, "no output pointer");
  *out = NULL;
  if (!src || src->struct_size < sizeof *src || !src->read)
    return vd__error (VD_EINVAL, 0, "no source, or no read callback");
  return vd__parts_parse (out, src->read, src->ctx, src->size,
                          src->name ? src->name : "disk");
}

void
vd_partitions_free (struct vd_partition_table *table)
{
  if (!table)
    return;
  free (table->parts);
  free (table);
}

int
vd_fs_probe (vd_disk *disk, uint64_t offset, uint64_t length,
             struct vd_fs_info *info)
{
  VD_ENTER ();
  if (!disk || !info)
    return vd__error (VD_EINVAL, 0, "no disk or info");
  uint64_t size = vd_disk_get_size (disk);
  if (offset > size || length > size - offset)
    return vd__error (VD_EINVAL, 0, "%s: range %llu+%llu past the end of the "
                     "disk", vd_disk_get_path (disk),
                     (unsigned long long) offset,
                     (unsigned long long) length);
  return vd__fs_probe (disk_read, disk, offset, length, info);
}

const char *
vd_fs_type_name (enum vd_fs_type type)
{
  switch (type) {
  case VD_FS_EXT2: return "ext2";
  case VD_FS_EXT3: return "ext3";
  case VD_FS_EXT4: return "ext4";
  case VD_FS_NTFS: return "ntfs";
  case VD_FS_VFAT: return "vfat";
  case VD_FS_XFS: return "xfs";
  case VD_FS_SWAP: return "swap";
  default: return "unknown";
  }
}

const char *
vd_table_type_name (enum vd_table_type type)
{
  switch (type) {
  case VD_TABLE_MBR: return "dos";
  case VD_TABLE_GPT: return "gpt";
  default: return "none";
  }
}
