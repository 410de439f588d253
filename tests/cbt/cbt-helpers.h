/* Shared by the change-tracking tests (cbt/test-cbt-api.c,
 * crash/test-crash-cbt.c): one 4 MiB disk in a scratch folder, a shadow of
 * its bytes, the areas a query reports as a byte map, and a verifier:
 * every byte that changed since a change ID lies in a reported area. */
#ifndef VDISK_TEST_CBT_HELPERS_H
#define VDISK_TEST_CBT_HELPERS_H

#include <vdisk/vdisk.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CAP (4u << 20)

static char dir[] = "/tmp/vdisk-cbt.XXXXXX";
static char disk[256], ctk[256];
static uint8_t before[CAP], after[CAP];

/* Areas reported, as a byte map. */
static uint8_t covered[CAP];

static int __attribute__ ((unused))
mark_cb (uint64_t off, uint64_t len, void *payload)
{
  (void) payload;
  if (off + len > CAP)
    return 1;
  memset (covered + off, 1, (size_t) len);
  return 0;
}

static int __attribute__ ((unused))
read_all (uint8_t *buf)
{
  vd_disk *d;
  if (vd_disk_open (&d, disk, VD_OPEN_READ_ONLY) < 0)
    return -1;
  int r = vd_disk_read (d, buf, CAP, 0);
  vd_disk_close (d);
  return r;
}

static int __attribute__ ((unused))
change_id (char *out)
{
  vd_disk *d;
  struct vd_cbt_info ci;
  if (vd_disk_open (&d, disk, VD_OPEN_READ_ONLY) < 0)
    return -1;
  int r = vd_disk_get_cbt (d, &ci);
  if (r == 0 && ci.state != VD_CBT_ON)
    r = -1;
  if (r == 0)
    strcpy (out, ci.change_id);
  vd_disk_close (d);
  return r;
}

/* 0: every changed byte covered; 1: query refused (epoch/interrupted);
 * -1: a changed byte not covered (the failure this test exists for). */
static int __attribute__ ((unused))
verify (const char *id, uint64_t *missed_at)
{
  vd_disk *d;
  memset (covered, 0, sizeof covered);
  if (vd_disk_open (&d, disk, VD_OPEN_READ_ONLY) < 0)
    return -2;
  int r = vd_disk_query_changed_areas (d, id, 0, CAP, mark_cb, NULL);
  int code = r < 0 ? vd_last_error ()->code : 0;
  vd_disk_close (d);
  if (r < 0)
    return code == VD_EPARENT ? 1 : -2;
  if (read_all (after) < 0)
    return -2;
  for (uint64_t i = 0; i < CAP; i++)
    if (before[i] != after[i] && !covered[i]) {
      *missed_at = i;
      return -1;
    }
  return 0;
}

static void __attribute__ ((unused))
random_writes (vd_disk *d, unsigned seed, int n, int flush_every)
{
  static uint8_t buf[300 << 10];
  srand (seed);
  for (int i = 0; i < n; i++) {
    uint64_t len = 1 + (uint64_t) rand () % sizeof buf;
    uint64_t off = (uint64_t) rand () % (CAP - len);
    if (rand () % 5 == 0)
      vd_disk_zero (d, len, off);
    else {
      for (uint64_t k = 0; k < len; k++)
        buf[k] = (uint8_t) rand ();
      vd_disk_write (d, buf, (size_t) len, off);
    }
    if (flush_every && rand () % flush_every == 0)
      vd_disk_flush (d);
  }
}

#endif /* VDISK_TEST_CBT_HELPERS_H */
