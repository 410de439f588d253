/* Hosted sparse arithmetic at the limits, through the public API on real
 * (sparse) temporary files: the last grain of a ~2 TiB extent, grain and
 * table boundaries, partial grains, zero writes, flush order leaving the
 * file consistent. */
#include "internal.h"
#include "tap.h"

#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>

static char dir[] = "/tmp/vdisk-unit.XXXXXX";

static void
fill (uint8_t *b, size_t n, unsigned seed)
{
  for (size_t i = 0; i < n; i++)
    b[i] = (uint8_t) (seed * 131 + i * 7 + (i >> 9));
}

static int
count_data (uint64_t off, uint64_t len, uint32_t st, void *p)
{
  (void) off;
  if (st == VD_STATUS_DATA)
    *(uint64_t *) p += len;
  return 0;
}

int
main (void)
{
  struct vd_create_params p;
  vd_disk *d;
  char path[256];
  uint8_t *w = malloc (1 << 20), *r = malloc (1 << 20);

  if (!mkdtemp (dir))
    return 1;
  snprintf (path, sizeof path, "%s/big.vmdk", dir);
  vd_create_params_init (&p);
  /* near the largest monolithicSparse: 2 TiB less 512 MiB (the limit is
   * 2^32 sectors of file, metadata included) */
  p.capacity = (UINT64_C (1) << 41) - (UINT64_C (512) << 20);
  ok (vd_disk_create (path, &p) == 0, "create a %llu-byte sparse disk",
      (unsigned long long) p.capacity);
  struct stat st;
  ok (stat (path, &st) == 0 && st.st_blocks * 512 < (64 << 20),
      "the new file uses little space (%lld bytes)",
      (long long) st.st_blocks * 512);
  ok (vd_disk_open (&d, path, 0) == 0, "open read-write");
  uint64_t end = p.capacity;
  fill (w, 1 << 20, 1);
  ok (vd_disk_write (d, w, 1 << 20, end - (1 << 20)) == 0,
      "write the last MiB");
  ok (vd_disk_write (d, w, 1, end) == VD_EINVAL, "a write past the end "
      "fails cleanly");
  ok (strstr (vd_last_error ()->message, "past the end") != NULL,
      "and says so: %s", vd_last_error ()->message);
  fill (w, 1000, 2);
  /* straddle a grain (64 KiB) and a table (32 MiB) boundary */
  uint64_t at = (UINT64_C (32) << 20) - 500;
  ok (vd_disk_write (d, w, 1000, at) == 0, "write across a table boundary");
  ok (vd_disk_read (d, r, 1000, at) == 0 && memcmp (r, w, 1000) == 0,
      "read it back");
  memset (r, 0xee, 600);
  ok (vd_disk_read (d, r, 600, at - 600) == 0 && vd__is_zero (r, 600),
      "bytes before a partial write read as zeros");
  memset (w, 0, 65536);
  ok (vd_disk_write (d, w, 65536, UINT64_C (1) << 30) == 0,
      "a whole grain of zeros");
  ok (vd_disk_flush (d) == 0, "flush");
  ok (vd_disk_close (d) == 0, "close");

  ok (vd_disk_open (&d, path, VD_OPEN_READ_ONLY) == 0, "reopen read-only");
  fill (w, 1 << 20, 1);
  ok (vd_disk_read (d, r, 1 << 20, end - (1 << 20)) == 0
      && memcmp (r, w, 1 << 20) == 0, "the last MiB survived");
  uint64_t data = 0;
  ok (vd_disk_block_status (d, 0, end, count_data, &data) == 0,
      "block status of the whole disk");
  /* 1 MiB at the end (16 grains) + 2 grains for the straddling write */
  is_u64 (data, (16 + 2) * 65536, "only written grains are data; the zero "
          "grain allocated nothing");
  ok (vd_disk_write (d, w, 1, 0) == VD_EROFS, "read-only handle refuses "
      "writes");
  vd_disk_close (d);

  struct vd_check_result res;
  ok (vd_check (path, 0, &res, NULL, NULL) == 0 && res.corruptions == 0
      && res.leaks == 0 && res.allocated == 18,
      "check: clean, 18 grains (corrupt %llu, leaks %llu, alloc %llu)",
      (unsigned long long) res.corruptions, (unsigned long long) res.leaks,
      (unsigned long long) res.allocated);

  /* 2 TiB is refused for monolithicSparse: no room for the metadata */
  snprintf (path, sizeof path, "%s/toobig.vmdk", dir);
  p.capacity = UINT64_C (1) << 41;
  ok (vd_disk_create (path, &p) == VD_EINVAL, "over 2 TiB refused");
  ok (access (path, F_OK) != 0, "and nothing left behind");

  /* a split disk over 4 GiB: extent boundaries at 2047 MiB */
  snprintf (path, sizeof path, "%s/split.vmdk", dir);
  vd_create_params_init (&p);
  p.type = VD_TYPE_SPLIT_SPARSE;
  p.capacity = UINT64_C (5) << 30;
  ok (vd_disk_create (path, &p) == 0, "create a 5 GiB split sparse disk");
  ok (vd_disk_open (&d, path, 0) == 0, "open it");
  is_u64 (vd_disk_get_extent_count (d), 3, "three extents");
  uint64_t b = UINT64_C (2047) << 20;
  fill (w, 4096, 3);
  ok (vd_disk_write (d, w, 4096, b - 2048) == 0, "write across extents");
  ok (vd_disk_read (d, r, 4096, b - 2048) == 0 && memcmp (r, w, 4096) == 0,
      "read across extents");
  vd_disk_close (d);

  char cmd[300];
  snprintf (cmd, sizeof cmd, "rm -rf %s", dir);
  if (system (cmd) != 0)
    return 1;
  free (w);
  free (r);
  return done_testing ();
}
