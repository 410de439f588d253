/* The open disk over the in-memory backend (lib/io-mem.c), every layout
 * vd_disk_create makes: each disk is created in a scratch folder, loaded
 * into a memfs and its files deleted (tests/mem-files.h), then opened from
 * memory and
 * - its facts match what was asked: size, type, createType, extent count,
 *   kinds and sizes (a split disk of 5 MiB in 2 MiB extents has three);
 * - it reads as zeros, block status says no data;
 * - writes at aligned, unaligned, extent-straddling and last-sector
 *   offsets read back exactly, bytes around them stay zero, a zero write
 *   reads as zeros, block status counts the data, flush and close
 *   succeed; a write past the end is VD_EINVAL;
 * - a streamOptimized disk is written front to back and refuses a write
 *   behind the stream;
 * - a name missing from the memfs is VD_ENOENT naming it.
 * Expected values come from the request and the format (vmdk-format.md),
 * not from a run of the code. */
#include "mem-files.h"
#include "tap.h"

#define MiB (UINT64_C (1) << 20)
#define CAP (5 * MiB)
#define EXT (2 * MiB)

struct layout {
  enum vd_type type;
  const char *create_type;      /* the descriptor's createType */
  unsigned extents;             /* for CAP bytes in EXT-byte extents */
  enum vd_extent_type kind;
  int writable;
};

static const struct layout layouts[] = {
  { VD_TYPE_MONOLITHIC_SPARSE, "monolithicSparse", 1, VD_EXTENT_SPARSE, 1 },
  { VD_TYPE_SPLIT_SPARSE, "twoGbMaxExtentSparse", 3, VD_EXTENT_SPARSE, 1 },
  { VD_TYPE_MONOLITHIC_FLAT, "monolithicFlat", 1, VD_EXTENT_FLAT, 1 },
  { VD_TYPE_SPLIT_FLAT, "twoGbMaxExtentFlat", 3, VD_EXTENT_FLAT, 1 },
  { VD_TYPE_VMFS, "vmfs", 1, VD_EXTENT_VMFS, 1 },
  { VD_TYPE_VMFS_THIN, "vmfs", 1, VD_EXTENT_VMFS, 1 },
  { VD_TYPE_STREAM_OPTIMIZED, "streamOptimized", 1, VD_EXTENT_STREAM, 1 },
};

static int
count_data (uint64_t off, uint64_t len, uint32_t st, void *p)
{
  (void) off;
  if (st == VD_STATUS_DATA)
    *(uint64_t *) p += len;
  return 0;
}

static uint64_t
data_bytes (vd_disk *d)
{
  uint64_t n = 0;
  if (vd_disk_block_status (d, 0, vd_disk_get_size (d), count_data, &n) < 0)
    return UINT64_MAX;
  return n;
}

/* A write of n bytes at off reads back; the 512 bytes on each side (inside
 * the disk) still read as zeros. */
static int
write_back (vd_disk *d, uint8_t *w, uint8_t *r, size_t n, uint64_t off,
            unsigned seed)
{
  uint64_t lo = off >= 512 ? off - 512 : 0;
  uint64_t hi = off + n + 512 <= CAP ? off + n + 512 : CAP;
  mf_fill (w, n, off, seed);
  if (vd_disk_write (d, w, n, off) < 0)
    return 0;
  if (vd_disk_read (d, r, (size_t) (hi - lo), lo) < 0)
    return 0;
  return mf_all_zero (r, (size_t) (off - lo))
         && memcmp (r + (off - lo), w, n) == 0
         && mf_all_zero (r + (off - lo) + n, (size_t) (hi - off - n));
}

static void
one_layout (const struct layout *L, const char *scratch)
{
  const char *name = vd_type_name (L->type);
  char dir[256], path[300];
  struct vd_create_params p;
  struct vd_memfs *fs = vd__memfs_new ();
  vd_disk *d = NULL;
  uint8_t *w = malloc (CAP), *r = malloc (CAP);
  int nfiles, rc;

  snprintf (dir, sizeof dir, "%s/%s", scratch, name);
  mkdir (dir, 0700);
  snprintf (path, sizeof path, "%s/d.vmdk", dir);
  vd_create_params_init (&p);
  p.type = L->type;
  p.capacity = CAP;
  p.extent_size = EXT;
  rc = vd_disk_create (path, &p);
  ok (rc == 0, "%s: created%s%s", name, rc ? ": " : "",
      rc ? vd_last_error ()->message : "");
  nfiles = mf_load_dir (fs, dir, 1);
  /* monolithic sparse and stream hold the descriptor inside the extent */
  is_u64 (nfiles, (L->kind == VD_EXTENT_SPARSE && L->extents == 1)
          || L->kind == VD_EXTENT_STREAM ? 1 : 1 + L->extents,
          "%s: %d files, loaded into memory and deleted", name, nfiles);
  vd__memfs_set_current (fs);

  rc = vd_disk_open (&d, path, VD_OPEN_READ_ONLY);
  ok (rc == 0, "%s: opens read-only from memory%s%s", name, rc ? ": " : "",
      rc ? vd_last_error ()->message : "");
  if (rc == 0) {
    struct vd_extent_info ei;
    uint64_t sum = 0;
    int kinds = 1;
    is_u64 (vd_disk_get_size (d), CAP, "%s: size", name);
    ok (vd_disk_get_type (d) == L->type, "%s: type %d", name,
        (int) vd_disk_get_type (d));
    is_str (vd_disk_get_create_type (d), L->create_type, "%s: createType",
            name);
    is_u64 (vd_disk_get_extent_count (d), L->extents, "%s: extents", name);
    for (unsigned i = 0; i < vd_disk_get_extent_count (d); i++)
      if (vd_disk_get_extent (d, i, &ei) == 0) {
        kinds &= ei.type == L->kind && ei.start == sum;
        sum += ei.size;
      }
    ok (kinds && sum == CAP, "%s: extents of the right kind, back to back, "
        "covering the disk (%llu bytes)", name, (unsigned long long) sum);
    if (L->extents > 1)
      ok (vd_disk_get_extent (d, 0, &ei) == 0 && ei.size == EXT,
          "%s: the first extent holds %llu bytes", name,
          (unsigned long long) EXT);
    memset (r, 0xee, CAP);
    ok (vd_disk_read (d, r, CAP, 0) == 0 && mf_all_zero (r, CAP),
        "%s: reads as zeros", name);
    /* sparse: no grain allocated; flat: the memory backend knows no
     * holes (no seek_data), so all of it is data */
    is_u64 (data_bytes (d), L->kind == VD_EXTENT_SPARSE
            || L->kind == VD_EXTENT_STREAM ? 0 : CAP,
            "%s: block status before any write", name);
    ok (vd_disk_write (d, w, 512, 0) == VD_EROFS,
        "%s: a read-only handle refuses writes", name);
    vd_disk_close (d);
    d = NULL;
  }

  rc = vd_disk_open (&d, path, 0);
  ok (rc == 0, "%s: opens read-write from memory%s%s", name, rc ? ": " : "",
      rc ? vd_last_error ()->message : "");
  if (rc == 0 && L->type == VD_TYPE_STREAM_OPTIMIZED) {
    /* front to back: 1 MiB + 1000 bytes, then 3 sectors at 3 MiB */
    mf_fill (w, MiB + 1000, 0, 7);
    ok (vd_disk_write (d, w, MiB + 1000, 0) == 0
        && vd_disk_write (d, w + 4096, 1536, 3 * MiB) == 0,
        "%s: writes front to back", name);
    ok (vd_disk_write (d, w, 512, 0) == VD_EINVAL,
        "%s: a write behind the stream is VD_EINVAL", name);
    ok (vd_disk_flush (d) == 0, "%s: flush", name);
    memset (r, 0xee, CAP);
    ok (vd_disk_read (d, r, CAP, 0) == 0 && memcmp (r, w, MiB + 1000) == 0
        && mf_all_zero (r + MiB + 1000, 3 * MiB - MiB - 1000)
        && memcmp (r + 3 * MiB, w + 4096, 1536) == 0
        && mf_all_zero (r + 3 * MiB + 1536, CAP - 3 * MiB - 1536),
        "%s: reads back exactly what was written, zeros elsewhere", name);
  }
  else if (rc == 0) {
    ok (write_back (d, w, r, 4096, 0, 1), "%s: 4 KiB at 0", name);
    ok (write_back (d, w, r, 3000, 100 * 1024 + 77, 2),
        "%s: 3000 bytes at an unaligned offset", name);
    ok (write_back (d, w, r, 70000, EXT - 30000, 3),
        "%s: 70000 bytes across the first extent (grain) boundary", name);
    ok (write_back (d, w, r, 512, CAP - 512, 4), "%s: the last sector",
        name);
    ok (vd_disk_write (d, w, 512, CAP) == VD_EINVAL
        && vd_disk_write (d, w, 1024, CAP - 512) == VD_EINVAL,
        "%s: a write past the end is VD_EINVAL", name);
    ok (vd_disk_zero (d, 4096, 0) == 0 && vd_disk_read (d, r, 4096, 0) == 0
        && mf_all_zero (r, 4096), "%s: a zeroed range reads as zeros", name);
    if (L->kind == VD_EXTENT_SPARSE) {
      /* grains (64 KiB) holding data: 0 (written, then zeroed in place:
       * an allocated grain stays allocated), [100K+77, +3000) in grain 1,
       * the straddling write in grains 31 and 32, the last sector in
       * grain 79 */
      is_u64 (data_bytes (d), 5 * 65536,
              "%s: block status counts the five grains written", name);
    }
    ok (vd_disk_flush (d) == 0, "%s: flush", name);
  }
  if (rc == 0)
    ok (vd_disk_close (d) == 0, "%s: close", name);
  vd__memfs_set_current (NULL);
  vd__memfs_free (fs);
  mf_rm_dir (dir);
  free (w);
  free (r);
}

int
main (void)
{
  char scratch[] = "/tmp/vd-memdisk.XXXXXX", path[300];
  struct vd_memfs *fs;
  vd_disk *d = NULL;

  if (!mkdtemp (scratch))
    return 1;
  for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; i++)
    one_layout (&layouts[i], scratch);

  fs = vd__memfs_new ();
  vd__memfs_set_current (fs);
  snprintf (path, sizeof path, "%s/absent.vmdk", scratch);
  ok (vd_disk_open (&d, path, VD_OPEN_READ_ONLY)
      == VD_ENOENT && strstr (vd_last_error ()->message, "absent.vmdk"),
      "a name the memfs lacks: VD_ENOENT naming it (%s)",
      vd_last_error ()->message);
  vd__memfs_set_current (NULL);
  vd__memfs_free (fs);
  rmdir (scratch);
  return done_testing ();
}
