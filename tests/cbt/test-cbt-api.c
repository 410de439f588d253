/* Changed block tracking over the public API.
 *
 * 1. Random writes and zeroes through vd_disk_write/vd_disk_zero, flushed
 *    at random points, then vd_disk_query_changed_areas since the ID taken
 *    before them: every byte that differs from a shadow copy lies inside a
 *    reported area, and nothing is reported since the ID taken after them.
 * 2. (kill -9 cycles: tests/crash/test-crash-cbt.c)
 * 3. Hostile change IDs and the tracking file's own checks. */
#include "tap.h"

#include <vdisk/vdisk.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cbt/cbt-helpers.h"

static int
count_areas (const char *id, int *n)
{
  vd_disk *d;
  *n = 0;
  memset (covered, 0, sizeof covered);
  if (vd_disk_open (&d, disk, VD_OPEN_READ_ONLY) < 0)
    return -1;
  int r = vd_disk_query_changed_areas (d, id, 0, CAP, mark_cb, NULL);
  vd_disk_close (d);
  for (size_t i = 0; i < CAP; i++)
    *n += covered[i];
  return r;
}

int
main (void)
{
  struct vd_create_params p;
  char id0[VD_CHANGE_ID_MAX], id1[VD_CHANGE_ID_MAX];
  vd_disk *d;
  uint64_t at = 0;
  int n, r;

  if (!mkdtemp (dir))
    return 1;
  snprintf (disk, sizeof disk, "%s/d.vmdk", dir);
  snprintf (ctk, sizeof ctk, "%s/d-ctk.vmdk", dir);
  vd_create_params_init (&p);
  p.capacity = CAP;
  ok (vd_disk_create (disk, &p) == 0, "create a 4 MiB monolithicSparse disk");
  ok (vd_disk_cbt_enable (disk, 0) == 0, "enable tracking");
  ok (access (ctk, F_OK) == 0, "the tracking file d-ctk.vmdk exists");
  ok (vd_disk_cbt_enable (disk, 0) == 0, "enabling again changes nothing");
  ok (change_id (id0) == 0, "a change ID: %s", id0);
  ok (count_areas (id0, &n) == 0 && n == 0, "nothing changed since enabling");

  /* 1. every write path of the API, random, with a shadow */
  ok (read_all (before) == 0, "shadow copy");
  ok (vd_disk_open (&d, disk, 0) == 0, "open for writing");
  random_writes (d, 1, 300, 7);
  ok (vd_disk_close (d) == 0, "close after 300 random writes and zeroes");
  r = verify (id0, &at);
  ok (r == 0, "every changed byte is in a reported area (%d)", r);
  if (r == -1)
    printf ("#   byte %llu changed but not reported\n", (unsigned long long) at);
  ok (change_id (id1) == 0 && strcmp (id0, id1) != 0, "the change ID moved on: %s", id1);
  ok (count_areas (id1, &n) == 0 && n == 0, "nothing since the newer ID");

  /* pending (unflushed) writes of the same open are reported too */
  ok (vd_disk_open (&d, disk, 0) == 0, "open again");
  {
    uint8_t b[10] = "0123456789";
    vd_disk_write (d, b, sizeof b, 3 << 20);
    memset (covered, 0, sizeof covered);
    ok (vd_disk_query_changed_areas (d, id1, 0, CAP, mark_cb, NULL) == 0
        && covered[3 << 20], "an unflushed write is reported by its own handle");
  }
  vd_disk_close (d);

  /* 3. hostile IDs */
  ok (vd_disk_open (&d, disk, VD_OPEN_READ_ONLY) == 0, "open read-only");
  {
    const char *bad[] = { "", "garbage", "52 ab/1", "/5",
      "zz 00 00 00 00 00 00 00-00 00 00 00 00 00 00 00/1" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
      ok (vd_disk_query_changed_areas (d, bad[i], 0, CAP, mark_cb, NULL)
          == VD_EINVAL, "malformed change ID '%s' refused", bad[i]);
    char fut[VD_CHANGE_ID_MAX];
    snprintf (fut, sizeof fut, "%.*s/999999", (int) (strchr (id1, '/') - id1), id1);
    ok (vd_disk_query_changed_areas (d, fut, 0, CAP, mark_cb, NULL) == VD_EINVAL,
        "a sequence in the future is refused: %s", vd_last_error ()->message);
    char other[VD_CHANGE_ID_MAX];
    strcpy (other, id1);
    other[0] = other[0] == '0' ? '1' : '0';
    ok (vd_disk_query_changed_areas (d, other, 0, CAP, mark_cb, NULL) == VD_EPARENT,
        "an ID of another epoch is refused: %s", vd_last_error ()->message);
    ok (vd_disk_query_changed_areas (d, "*", 0, CAP, mark_cb, NULL) == 0,
        "'*' lists the allocated areas");
  }
  vd_disk_close (d);

  /* disable: version back to 1, the file gone, qemu-style reading unchanged */
  ok (vd_disk_cbt_disable (disk, 0) == 0, "disable tracking");
  ok (access (ctk, F_OK) != 0, "the tracking file is gone");
  ok (vd_disk_open (&d, disk, VD_OPEN_READ_ONLY) == 0
      && vd_disk_get_descriptor_version (d) == 1, "descriptor version 1 again");
  vd_disk_close (d);
  ok (vd_disk_cbt_disable (disk, 0) == 0, "disabling again changes nothing");

  char cmd[600];
  snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system (cmd) != 0)
    return 1;
  done_testing ();
}
