/* An empty streamOptimized disk (vd_disk_create) filled front to back:
 * reads while writing see what was written, a flush leaves a complete
 * stream that a second handle reads, a write behind the stream is
 * VD_EINVAL and changes nothing, a stream holding data does not open
 * read-write, and the closed file reads back exactly. */
#include "tap.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vdisk/vdisk.h"

#define GRAIN 65536u

static void
fill (uint8_t *p, size_t n, uint64_t off)
{
  for (size_t i = 0; i < n; i++)
    p[i] = (uint8_t) (((off + i) * 2654435761u) >> 13);
}

int
main (void)
{
  char dir[] = "/tmp/vd-append.XXXXXX", path[256], cmd[300];
  const uint64_t size = 5 * 1048576 + 3 * 512;   /* not whole grains */
  struct vd_create_params p;
  uint8_t *want, *got;
  vd_disk *d = NULL, *r = NULL;
  uint64_t off;
  int rc;

  if (!mkdtemp (dir))
    return 1;
  snprintf (path, sizeof path, "%s/s.vmdk", dir);
  want = calloc (1, size);
  got = calloc (1, size);
  if (!want || !got)
    return 1;
  /* data, a hole of three grains, data, zeros, a partial last grain */
  fill (want, 1048576 + 1000, 0);
  fill (want + 1048576 + 4 * GRAIN, 2 * 1048576, 1048576 + 4 * GRAIN);
  fill (want + size - 700, 700, size - 700);

  vd_create_params_init (&p);
  p.type = VD_TYPE_STREAM_OPTIMIZED;
  p.capacity = size;
  ok (vd_disk_create (path, &p) == 0, "create an empty stream");
  ok (vd_disk_open (&r, path, VD_OPEN_READ_ONLY) == 0
      && vd_disk_get_size (r) == size, "it opens read-only, size %llu",
      (unsigned long long) size);
  memset (got, 0xee, GRAIN);
  ok (r && vd_disk_read (r, got, GRAIN, size - GRAIN) == 0
      && got[0] == 0 && got[GRAIN - 1] == 0, "and reads as zeros");
  vd_disk_close (r);
  r = NULL;

  rc = vd_disk_open (&d, path, 0);
  ok (rc == 0, "opened read-write: %s", rc ? vd_last_error ()->message : "");
  if (rc)
    return done_testing ();
  /* 1000-byte writes, as unaligned as they come (the core allows them) */
  for (off = 0; off < 1048576 + 1000; off += 1000) {
    size_t n = (size_t) (off + 1000 <= 1048576 + 1000 ? 1000
                         : 1048576 + 1000 - off);
    if (vd_disk_write (d, want + off, n, off) < 0)
      break;
  }
  ok (off >= 1048576 + 1000, "small sequential writes");
  ok (vd_disk_read (d, got, 1048576 + 1000, 0) == 0
      && !memcmp (got, want, 1048576 + 1000),
      "reads while writing see them (emitted grains and the pending one)");
  /* overlap inside the grain being filled is fine */
  ok (vd_disk_write (d, want + 1048576, 1000, 1048576) == 0,
      "rewrite inside the grain being filled");
  ok (vd_disk_flush (d) == 0, "flush");
  ok (vd_disk_open (&r, path, VD_OPEN_READ_ONLY) == 0,
      "after a flush a second handle opens the stream");
  if (r) {
    ok (vd_disk_read (r, got, size, 0) == 0
        && !memcmp (got, want, 1048576 + 1000)
        && got[1048576 + 1000] == 0 && got[size - 1] == 0,
        "and reads what was written so far");
    vd_disk_close (r);
    r = NULL;
  }
  /* after the flush the pending grain is still open for writes */
  ok (vd_disk_write (d, want + 1048576 + 1000, 24, 1048576 + 1000) == 0,
      "the grain pending at the flush still takes writes");
  ok (vd_disk_write (d, want + 1048576 + 4 * GRAIN, 2 * 1048576,
                     1048576 + 4 * GRAIN) == 0, "a write past a hole");
  rc = vd_disk_write (d, want, 512, 0);
  ok (rc == VD_EINVAL && strstr (vd_last_error ()->message, "behind")
      && strstr (vd_last_error ()->message, "s.vmdk"),
      "a write behind the stream: VD_EINVAL naming the file: %s",
      vd_last_error ()->message);
  ok (vd_disk_write (d, want + size - 700, 700, size - 700) == 0,
      "the partial last grain");
  ok (vd_disk_read (d, got, size, 0) == 0 && !memcmp (got, want, size),
      "everything reads back before close");
  ok (vd_disk_close (d) == 0, "close writes the footer");

  ok (vd_disk_open (&r, path, VD_OPEN_READ_ONLY) == 0, "reopen");
  if (r) {
    memset (got, 0xee, size);
    ok (vd_disk_read (r, got, size, 0) == 0 && !memcmp (got, want, size),
        "the closed stream reads back exactly");
    vd_disk_close (r);
    r = NULL;
  }
  rc = vd_disk_open (&d, path, 0);
  ok (rc == VD_ENOTSUP && strstr (vd_last_error ()->message, "read-only"),
      "a stream that holds data does not open read-write: %s",
      vd_last_error ()->message);
  if (rc == 0)
    vd_disk_close (d);
  {
    struct vd_check_result res;
    memset (&res, 0, sizeof res);
    res.struct_size = sizeof res;
    ok (vd_check (path, 0, &res, NULL, NULL) == 0 && res.corruptions == 0
        && res.leaks == 0, "vd_check: no corruption, no leak");
  }
  snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system (cmd) != 0)
    return 1;
  free (want);
  free (got);
  return done_testing ();
}
