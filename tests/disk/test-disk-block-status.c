/* vd_disk_block_status and vd_disk_zero take 64-bit lengths: a huge
 * length (more than 4 GiB, UINT64_MAX, one that wraps offset + length)
 * is checked as it is, never truncated to size_t first (on a 32-bit
 * build (size_t) (4 GiB + 1 MiB) is 1 MiB, which a 1 MiB disk would
 * accept), and is VD_EINVAL naming the whole length; the callback is
 * never called for it. */
#include <vdisk/vdisk.h>
#include "tap.h"

#include <stdlib.h>
#include <unistd.h>

#define MiB (UINT64_C (1) << 20)
#define CAP MiB

static int
count (uint64_t off, uint64_t len, uint32_t st, void *p)
{
  (void) off; (void) st;
  *(uint64_t *) p += len;
  return 0;
}

int
main (void)
{
  char dir[] = "/tmp/vdisk-bs.XXXXXX", p[256], num[32];
  struct vd_create_params cp;
  vd_disk *d = NULL;
  uint64_t seen;
  const uint64_t huge[] = {
    (UINT64_C (1) << 32) + CAP,   /* (size_t) on 32 bits: CAP */
    (UINT64_C (1) << 32),         /* (size_t) on 32 bits: 0 */
    UINT64_MAX,
  };

  if (!mkdtemp (dir))
    return 1;
  snprintf (p, sizeof p, "%s/d.vmdk", dir);
  vd_create_params_init (&cp);
  cp.capacity = CAP;
  if (vd_disk_create (p, &cp) < 0 || vd_disk_open (&d, p, 0) < 0) {
    printf ("# %s\n", vd_last_error ()->message);
    return 1;
  }
  seen = 0;
  is_u64 (vd_disk_block_status (d, 0, CAP, count, &seen), 0,
          "the whole disk's block status");
  is_u64 (seen, CAP, "covers the capacity");
  seen = 0;
  is_u64 (vd_disk_block_status (d, CAP, 0, count, &seen), 0,
          "an empty range at the end is fine");
  for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
    const char *m;
    seen = 0;
    is_u64 (vd_disk_block_status (d, 0, huge[i], count, &seen), VD_EINVAL,
            "block status of %llu bytes is VD_EINVAL",
            (unsigned long long) huge[i]);
    ok (seen == 0, "  ... and reports nothing");
    m = vd_last_error ()->message;
    snprintf (num, sizeof num, "of %llu bytes", (unsigned long long) huge[i]);
    ok (m && strstr (m, num), "  ... naming the whole length: %s",
        m ? m : "(none)");
    is_u64 (vd_disk_zero (d, huge[i], 0), VD_EINVAL,
            "zeroing %llu bytes is VD_EINVAL", (unsigned long long) huge[i]);
  }
  is_u64 (vd_disk_block_status (d, 512, UINT64_MAX - 256, count, &seen),
          VD_EINVAL, "offset + length wrapping past 2^64 is VD_EINVAL");
  is_u64 (vd_disk_block_status (d, CAP + 512, 0, count, &seen), VD_EINVAL,
          "an offset past the end is VD_EINVAL");
  vd_disk_close (d);
  unlink (p);
  rmdir (dir);
  return done_testing ();
}
