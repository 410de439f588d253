/* The partition parser and file system probe over crafted buffers:
 * valid MBR (extended + logical) and GPT tables parse to the right
 * numbers and offsets; hostile ones (overlaps, past the end, a loop or a
 * very long chain of extended boot records, a GPT with bad CRCs or 2^32
 * entries) are VD_ECORRUPT with a message naming the problem, and the
 * parser never reads outside the disk. */
#include "mount/mount-internal.h"
#include "tap.h"

#include <stdlib.h>
#include <zlib.h>

#define MiB (1024u * 1024u)

struct mem {
  uint8_t *p;
  uint64_t size;
  unsigned reads;
  unsigned outside;      /* reads past the end (must stay 0) */
};

static int
mem_read (void *ctx, void *buf, size_t n, uint64_t off)
{
  struct mem *m = ctx;
  m->reads++;
  if (off > m->size || n > m->size - off) {
    m->outside++;
    return vd__error (VD_EINVAL, 0, "read past the end");
  }
  memcpy (buf, m->p + off, n);
  return 0;
}

static void
put32 (uint8_t *p, uint32_t v)
{
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t) (v >> (8 * i));
}
static void
put64 (uint8_t *p, uint64_t v)
{
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t) (v >> (8 * i));
}

static void
mbr_entry (uint8_t *sector, int i, uint8_t boot, uint8_t type,
           uint32_t start, uint32_t count)
{
  uint8_t *e = sector + 446 + 16 * i;
  e[0] = boot;
  e[4] = type;
  put32 (e + 8, start);
  put32 (e + 12, count);
  sector[510] = 0x55;
  sector[511] = 0xAA;
}

static struct mem
disk (uint64_t size)
{
  struct mem m = { calloc (1, size), size, 0, 0 };
  return m;
}

static int
parse (struct mem *m, struct vd_partition_table **t)
{
  vd__error_reset ("test");
  return vd__parts_parse (t, mem_read, m, m->size, "crafted");
}

static int
has (const char *needle)
{
  return strstr (vd_last_error ()->message, needle) != NULL;
}

/* parse must fail with VD_ECORRUPT and a message holding what */
static void
bad (struct mem *m, const char *what, const char *name)
{
  struct vd_partition_table *t = NULL;
  int r = parse (m, &t);
  ok (r == VD_ECORRUPT && t == NULL && has (what), "%s: refused (%s)", name,
      vd_last_error ()->message);
  ok (m->outside == 0, "%s: no read past the end", name);
  vd_partitions_free (t);
}

/* MBR: p1 primary, p2 extended holding p5 and p6 */
static void
test_mbr (void)
{
  struct mem m = disk (64 * MiB);
  uint8_t *s = m.p;
  put32 (s + 440, 0x12345678);
  mbr_entry (s, 0, 0x80, 0x83, 2048, 20480);
  mbr_entry (s, 1, 0, 0x05, 22528, 100000);
  /* EBR 1 at 22528: logical at +2048, next EBR at ext+40960 */
  uint8_t *e1 = m.p + 22528ull * 512;
  mbr_entry (e1, 0, 0, 0x83, 2048, 10000);
  mbr_entry (e1, 1, 0, 0x05, 40960, 20000);
  uint8_t *e2 = m.p + (22528ull + 40960) * 512;
  mbr_entry (e2, 0, 0, 0x07, 2048, 8000);

  struct vd_partition_table *t;
  int r = parse (&m, &t);
  ok (r == 0, "MBR with logicals parses (%s)", vd_last_error ()->message);
  if (r == 0) {
    is_u64 (t->type, VD_TABLE_MBR, "dos table");
    is_str (t->id, "0x12345678", "disk signature");
    is_u64 (t->count, 4, "p1, p2 (extended), p5, p6");
    is_u64 (t->parts[0].number, 1, "p1");
    ok (t->parts[0].flags & VD_PART_BOOTABLE, "p1 bootable");
    is_u64 (t->parts[1].number, 2, "p2");
    ok (t->parts[1].flags & VD_PART_EXTENDED, "p2 extended");
    is_u64 (t->parts[2].number, 5, "p5");
    is_u64 (t->parts[2].offset, (22528ull + 2048) * 512, "p5 offset");
    is_u64 (t->parts[3].number, 6, "p6");
    is_u64 (t->parts[3].offset, (22528ull + 40960 + 2048) * 512,
            "p6 offset (relative to its EBR)");
    is_u64 (t->parts[3].length, 8000ull * 512, "p6 length");
    is_u64 (t->parts[3].mbr_type, 7, "p6 type");
    is_str (t->parts[3].uuid, "12345678-06", "p6 PARTUUID");
    vd_partitions_free (t);
  }

  /* overlap of two primaries */
  mbr_entry (s, 2, 0, 0x83, 20000, 1000);
  bad (&m, "overlap", "overlapping primaries");
  memset (s + 446 + 32, 0, 16);

  /* two logicals overlapping: p6 moved into p5 */
  put32 (e1 + 446 + 16 + 8, 3000);
  memset (m.p + (22528ull + 40960) * 512, 0, 512);
  uint8_t *e3 = m.p + (22528ull + 3000) * 512;
  mbr_entry (e3, 0, 0, 0x83, 1, 100);
  bad (&m, "overlap", "overlapping logicals");
  memset (e3, 0, 512);
  put32 (e1 + 446 + 16 + 8, 40960);
  mbr_entry (e2, 0, 0, 0x07, 2048, 8000);

  /* a logical partition reaching out of the extended one */
  put32 (e2 + 446 + 12, 90000);
  bad (&m, "outside its extended", "logical past its extended partition");
  put32 (e2 + 446 + 12, 8000);

  /* loop: EBR 2 links back to EBR 1 */
  mbr_entry (e2, 1, 0, 0x05, 0 + 1, 10);   /* first a link to ext+1 */
  put32 (e2 + 446 + 16 + 8, 0);            /* rel 0: the first EBR */
  bad (&m, "outside", "EBR linking to the extended start");
  /* a real cycle: EBR 2 -> EBR 1 at 22528 (rel 0 is refused), so make
   * EBR 1 sit at ext+8 and loop 1 -> 2 -> 1 */
  memset (e1, 0, 512);
  put32 (s + 446 + 16 + 8, 22528);
  uint8_t *f1 = m.p + 22528ull * 512;       /* first EBR: links to +8 */
  mbr_entry (f1, 0, 0, 0x83, 2048, 100);
  mbr_entry (f1, 1, 0, 0x05, 8, 100);
  uint8_t *f2 = m.p + (22528ull + 8) * 512;
  memset (f2, 0, 512);
  mbr_entry (f2, 0, 0, 0x83, 4096, 100);
  mbr_entry (f2, 1, 0, 0x05, 16, 100);
  uint8_t *f3 = m.p + (22528ull + 16) * 512;
  memset (f3, 0, 512);
  mbr_entry (f3, 0, 0, 0x83, 6144, 100);
  mbr_entry (f3, 1, 0, 0x05, 8, 100);       /* back to f2 */
  m.reads = 0;
  bad (&m, "loops", "loop of extended partitions");
  ok (m.reads < 20, "the loop is seen at once (%u reads)", m.reads);
  memset (f1, 0, 512);
  memset (f2, 0, 512);
  memset (f3, 0, 512);
  memset (e2, 0, 512);

  /* a chain of 1000 EBRs, each with a tiny logical */
  put32 (s + 446 + 16 + 12, 130000 - 22528);
  for (unsigned i = 0; i < 1000; i++) {
    uint8_t *e = m.p + (22528ull + 2 * i) * 512;
    memset (e, 0, 512);
    mbr_entry (e, 0, 0, 0x83, 1, 1);
    mbr_entry (e, 1, 0, 0x05, 2 * (i + 1), 2);
  }
  m.reads = 0;
  bad (&m, "more than", "1000 logical partitions");
  ok (m.reads < 400, "a long chain stops at the limit (%u reads)", m.reads);
  for (unsigned i = 0; i < 1000; i++)
    memset (m.p + (22528ull + 2 * i) * 512, 0, 512);

  /* past the end of the disk */
  mbr_entry (s, 1, 0, 0x83, 22528, 200000);
  bad (&m, "past the end", "primary past the end");
  /* start sector 0 */
  mbr_entry (s, 1, 0, 0x83, 0, 100);
  bad (&m, "covers the MBR", "partition over the MBR");
  /* bad boot flag */
  mbr_entry (s, 1, 0x12, 0x83, 22528, 100);
  bad (&m, "boot flag", "boot flag 0x12");
  free (m.p);
}

/* Hostile MBRs the table above does not cover: an EBR that links to
 * itself, an extended partition past the end, two extended partitions, a
 * primary inside the extended one, 32-bit start + count beyond 2^32. */
static void
test_mbr_hostile (void)
{
  struct mem m = disk (64 * MiB);
  uint8_t *s = m.p;
  uint8_t *e1 = m.p + 22528ull * 512;
  uint8_t *e2 = m.p + (22528ull + 40960) * 512;

  mbr_entry (s, 0, 0, 0x83, 2048, 20480);
  mbr_entry (s, 1, 0, 0x05, 22528, 100000);
  mbr_entry (e1, 0, 0, 0x83, 2048, 10000);
  mbr_entry (e1, 1, 0, 0x05, 40960, 20000);
  mbr_entry (e2, 0, 0, 0x83, 2048, 8000);
  mbr_entry (e2, 1, 0, 0x05, 40960, 20000);   /* links to itself */
  m.reads = 0;
  bad (&m, "loops", "an extended boot record linking to itself");
  ok (m.reads < 10, "the self-link is seen at once (%u reads)", m.reads);
  memset (e2 + 446 + 16, 0, 16);

  mbr_entry (s, 1, 0, 0x05, 22528, 200000);
  bad (&m, "past the end", "extended partition past the end");
  mbr_entry (s, 1, 0, 0x05, 22528, 100000);

  mbr_entry (s, 2, 0, 0x0F, 122528, 1000);
  bad (&m, "two extended", "two extended partitions");
  memset (s + 446 + 32, 0, 16);

  mbr_entry (s, 2, 0, 0x83, 22528 + 30000, 100);
  bad (&m, "overlap", "a primary inside the extended partition");
  memset (s + 446 + 32, 0, 16);

  /* start + count past 2^32 sectors: no 32-bit wrap to a small end */
  mbr_entry (s, 2, 0, 0x83, 0xFFFFFF00u, 0xFFFFFFFFu);
  bad (&m, "past the end", "start + count beyond 2^32 sectors");
  memset (s + 446 + 32, 0, 16);
  mbr_entry (s, 2, 0, 0x83, 130000, 0xFFFFFFFFu);
  bad (&m, "past the end", "a count of 2^32-1 sectors");
  memset (s + 446 + 32, 0, 16);

  /* a logical partition's table entry holding two volumes */
  mbr_entry (e1, 2, 0, 0x83, 12000, 100);
  bad (&m, "two partitions", "an extended boot record with two volumes");
  memset (e1 + 446 + 32, 0, 16);

  struct vd_partition_table *t;
  ok (parse (&m, &t) == 0 && t->count == 4, "the repaired table parses "
      "again (the cases above were refused for their own reason)");
  vd_partitions_free (t);
  free (m.p);
}

/* ---- GPT ---------------------------------------------------------------- */

static const uint8_t linux_type[16] = {
  0xAF, 0x3D, 0xC6, 0x0F, 0x83, 0x84, 0x72, 0x47,
  0x8E, 0x79, 0x3D, 0x69, 0xD8, 0x47, 0x7D, 0xE4 };

static void
gpt_header (struct mem *m, uint64_t lba, uint64_t alt, uint64_t elba,
            uint32_t nent, uint32_t esz)
{
  uint8_t *h = m->p + lba * 512;
  uint64_t sectors = m->size / 512;
  memset (h, 0, 512);
  memcpy (h, "EFI PART", 8);
  put32 (h + 8, 0x10000);
  put32 (h + 12, 92);
  put64 (h + 24, lba);
  put64 (h + 32, alt);
  put64 (h + 40, 34);
  put64 (h + 48, sectors - 34);
  for (int i = 0; i < 16; i++)
    h[56 + i] = (uint8_t) (0xA0 + i);
  put64 (h + 72, elba);
  put32 (h + 80, nent);
  put32 (h + 84, esz);
  uint64_t abytes = (uint64_t) nent * esz;
  if (elba * 512 + abytes <= m->size)
    put32 (h + 88, (uint32_t) crc32 (0, m->p + elba * 512, (uInt) abytes));
  put32 (h + 16, 0);
  put32 (h + 16, (uint32_t) crc32 (0, h, 92));
}

static void
gpt_entry (struct mem *m, unsigned i, uint64_t first, uint64_t last)
{
  uint8_t *e = m->p + 2 * 512 + i * 128;
  memcpy (e, linux_type, 16);
  for (int k = 0; k < 16; k++)
    e[16 + k] = (uint8_t) (i * 16 + k);
  put64 (e + 32, first);
  put64 (e + 40, last);
  const char *name = "root";
  for (int k = 0; name[k]; k++)
    e[56 + 2 * k] = (uint8_t) name[k];
}

static void
gpt_build (struct mem *m)
{
  uint64_t sectors = m->size / 512;
  memset (m->p, 0, 34 * 512);
  mbr_entry (m->p, 0, 0, 0xEE, 1, (uint32_t) (sectors - 1));
  gpt_entry (m, 0, 2048, 4095);
  gpt_entry (m, 1, 4096, 8191);
  /* backup array and header at the end */
  memcpy (m->p + (sectors - 33) * 512, m->p + 2 * 512, 32 * 512);
  gpt_header (m, sectors - 1, 1, sectors - 33, 128, 128);
  gpt_header (m, 1, sectors - 1, 2, 128, 128);
}

static void
test_gpt (void)
{
  struct mem m = disk (8 * MiB);
  uint64_t sectors = m.size / 512;
  struct vd_partition_table *t;

  gpt_build (&m);
  int r = parse (&m, &t);
  ok (r == 0, "GPT parses (%s)", vd_last_error ()->message);
  if (r == 0) {
    is_u64 (t->type, VD_TABLE_GPT, "gpt table");
    is_u64 (t->count, 2, "two partitions");
    is_u64 (t->parts[0].offset, 2048ull * 512, "p1 offset");
    is_u64 (t->parts[1].length, 4096ull * 512, "p2 length");
    is_str (t->parts[0].type_guid, "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
            "type GUID in mixed-endian text");
    is_str (t->parts[0].name, "root", "name from UTF-16");
    is_u64 (t->first_lba, 34, "first usable");
    vd_partitions_free (t);
  }

  /* primary header damaged: the backup is used */
  m.p[512 + 60] ^= 1;
  r = parse (&m, &t);
  ok (r == 0 && t && t->count == 2, "bad primary CRC: the backup header "
      "is read");
  vd_partitions_free (t);
  /* both damaged */
  m.p[(sectors - 1) * 512 + 60] ^= 1;
  bad (&m, "bad header CRC", "GPT with bad header CRCs");
  gpt_build (&m);

  /* entry array CRC */
  m.p[2 * 512 + 40] ^= 1;
  bad (&m, "CRC of the entry array", "GPT entry array with a bad CRC");
  gpt_build (&m);

  /* 2^32 - 1 entries (with a correct header CRC) */
  gpt_header (&m, 1, sectors - 1, 2, 0xFFFFFFFFu, 128);
  memset (m.p + (sectors - 1) * 512, 0, 512);
  m.reads = 0;
  bad (&m, "entries", "GPT with 2^32-1 entries");
  ok (m.reads < 8, "no attempt to read them (%u reads)", m.reads);
  gpt_build (&m);

  /* entry size overflowing the product */
  gpt_header (&m, 1, sectors - 1, 2, 16384, 0x80000000u);
  memset (m.p + (sectors - 1) * 512, 0, 512);
  bad (&m, "entry size", "GPT with an entry size of 2 GiB");
  gpt_build (&m);

  /* entry array past the end */
  gpt_header (&m, 1, sectors - 1, sectors - 2, 128, 128);
  memset (m.p + (sectors - 1) * 512, 0, 512);
  bad (&m, "past the end", "GPT entry array past the end");
  gpt_build (&m);

  /* a partition past the last usable sector */
  gpt_entry (&m, 1, 4096, sectors + 100);
  gpt_header (&m, 1, sectors - 1, 2, 128, 128);
  memset (m.p + (sectors - 1) * 512, 0, 512);
  bad (&m, "outside the usable", "GPT partition past the end");
  gpt_build (&m);

  /* overlapping partitions */
  gpt_entry (&m, 1, 3000, 8191);
  gpt_header (&m, 1, sectors - 1, 2, 128, 128);
  memset (m.p + (sectors - 1) * 512, 0, 512);
  bad (&m, "overlap", "overlapping GPT partitions");
  gpt_build (&m);

  /* last before first */
  gpt_entry (&m, 1, 8191, 4096);
  gpt_header (&m, 1, sectors - 1, 2, 128, 128);
  memset (m.p + (sectors - 1) * 512, 0, 512);
  bad (&m, "ends before it starts", "GPT partition ending before its start");

  /* protective MBR without any GPT */
  memset (m.p, 0, m.size);
  mbr_entry (m.p, 0, 0, 0xEE, 1, (uint32_t) (sectors - 1));
  bad (&m, "damaged GPT", "protective MBR without a GPT");
  free (m.p);
}

/* Hostile GPTs beyond test_gpt: headers damaged in other ways, a backup
 * header (read when the primary is bad) with 2^32-1 entries, usable
 * sectors past the end. */
static void
test_gpt_hostile (void)
{
  struct mem m = disk (8 * MiB);
  uint64_t sectors = m.size / 512;

  /* the primary is bad, the backup asks for 2^32-1 entries */
  gpt_build (&m);
  m.p[512 + 60] ^= 1;
  gpt_header (&m, sectors - 1, 1, sectors - 33, 0xFFFFFFFFu, 128);
  m.reads = 0;
  bad (&m, "entries", "backup GPT header with 2^32-1 entries");
  ok (m.reads < 8, "backup with 2^32-1 entries: not read (%u reads)",
      m.reads);

  /* 2^32-1 entries of 4 KiB: the product is not truncated to 32 bits */
  gpt_build (&m);
  gpt_header (&m, 1, sectors - 1, 2, 0xFFFFFFFFu, 4096);
  memset (m.p + (sectors - 1) * 512, 0, 512);
  bad (&m, "entries", "GPT with 2^32-1 entries of 4 KiB");

  /* both headers name another sector as their own */
  gpt_build (&m);
  gpt_header (&m, 1, sectors - 1, 2, 128, 128);
  put64 (m.p + 512 + 24, 7);
  put32 (m.p + 512 + 16, 0);
  put32 (m.p + 512 + 16, (uint32_t) crc32 (0, m.p + 512, 92));
  memset (m.p + (sectors - 1) * 512, 0, 512);
  bad (&m, "another sector", "GPT header naming another sector");

  /* a header size larger than the sector (CRC over it would overrun) */
  gpt_build (&m);
  put32 (m.p + 512 + 12, 0x10000);
  memset (m.p + (sectors - 1) * 512, 0, 512);
  bad (&m, "header size", "GPT header size of 64 KiB");

  /* usable sectors past the end of the disk */
  gpt_build (&m);
  uint8_t *h = m.p + 512;
  put64 (h + 48, sectors + 1000000);
  put32 (h + 16, 0);
  put32 (h + 16, (uint32_t) crc32 (0, h, 92));
  memset (m.p + (sectors - 1) * 512, 0, 512);
  bad (&m, "do not fit", "GPT usable sectors past the end");

  /* a disk of 3 sectors: a protective MBR and a header, nothing else */
  free (m.p);
  m = disk (3 * 512);
  mbr_entry (m.p, 0, 0, 0xEE, 1, 2);
  memcpy (m.p + 512, "EFI PART", 8);
  bad (&m, "damaged GPT", "GPT on a 3-sector disk");

  free (m.p);
}

/* ---- file systems --------------------------------------------------------- */

static void
test_fs (void)
{
  struct mem m = disk (4 * MiB);
  struct vd_partition_table *t;
  struct vd_fs_info fi;

  ok (parse (&m, &t) == 0 && t->type == VD_TABLE_NONE && t->count == 0
      && t->whole.type == VD_FS_UNKNOWN, "zeros: no table, no file system");
  vd_partitions_free (t);

  /* ext4: magic, extents feature, label, uuid */
  uint8_t *sb = m.p + 1024;
  sb[56] = 0x53;
  sb[57] = 0xEF;
  put32 (sb + 0x5C, 0x4);      /* has_journal */
  put32 (sb + 0x60, 0x2 | 0x40); /* filetype, extents */
  for (int i = 0; i < 16; i++)
    sb[0x68 + i] = (uint8_t) (0x10 + i);
  memcpy (sb + 0x78, "rootfs", 6);
  ok (vd__fs_probe (mem_read, &m, 0, m.size, &fi) == 0
      && fi.type == VD_FS_EXT4, "ext4 by its features");
  is_str (fi.label, "rootfs", "ext4 label");
  is_str (fi.uuid, "10111213-1415-1617-1819-1a1b1c1d1e1f", "ext4 uuid");
  put32 (sb + 0x60, 0x2);
  ok (vd__fs_probe (mem_read, &m, 0, m.size, &fi) == 0
      && fi.type == VD_FS_EXT3, "ext3: a journal, no ext4 features");
  put32 (sb + 0x5C, 0);
  ok (vd__fs_probe (mem_read, &m, 0, m.size, &fi) == 0
      && fi.type == VD_FS_EXT2, "ext2");
  ok (vd__fs_probe (mem_read, &m, 0, 2048, &fi) == 0
      && fi.type == VD_FS_UNKNOWN, "a volume too small to hold it");
  memset (m.p, 0, 4096);

  /* NTFS with a hostile MFT position */
  memcpy (m.p + 3, "NTFS    ", 8);
  m.p[0x0B] = 0x00;
  m.p[0x0C] = 0x02;            /* 512 bytes per sector */
  m.p[0x0D] = 8;
  put64 (m.p + 0x30, 0xFFFFFFFFFFFFull);
  m.p[0x40] = 0xF6;            /* 1024-byte records */
  put64 (m.p + 0x48, 0x0123456789ABCDEFull);
  m.reads = 0;
  ok (vd__fs_probe (mem_read, &m, 0, m.size, &fi) == 0
      && fi.type == VD_FS_NTFS && m.outside == 0,
      "NTFS with an MFT past the end: identified, nothing read outside");
  is_str (fi.uuid, "0123456789ABCDEF", "NTFS serial as blkid prints it");
  /* a whole-disk NTFS is not taken for an MBR */
  m.p[510] = 0x55;
  m.p[511] = 0xAA;
  m.p[446] = 0x33;             /* boot code where MBR entries would be */
  ok (parse (&m, &t) == 0 && t->type == VD_TABLE_NONE
      && t->whole.type == VD_FS_NTFS, "whole-disk NTFS: no table");
  vd_partitions_free (t);
  memset (m.p, 0, 4096);

  /* FAT32 */
  m.p[0x0B] = 0x00;
  m.p[0x0C] = 0x02;
  m.p[0x0D] = 8;
  memcpy (m.p + 0x52, "FAT32   ", 8);
  memcpy (m.p + 0x47, "BOOT       ", 11);
  put32 (m.p + 0x43, 0xABCD1234);
  m.p[510] = 0x55;
  m.p[511] = 0xAA;
  ok (vd__fs_probe (mem_read, &m, 0, m.size, &fi) == 0
      && fi.type == VD_FS_VFAT, "FAT32");
  is_str (fi.label, "BOOT", "FAT label without padding");
  is_str (fi.uuid, "ABCD-1234", "FAT serial");
  free (m.p);
}

int
main (void)
{
  test_mbr ();
  test_mbr_hostile ();
  test_gpt ();
  test_gpt_hostile ();
  test_fs ();
  return done_testing ();
}
