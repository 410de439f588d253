/* The one FCD ID-shape rule, vd_fcd_id_valid, at its boundaries, and the
 * catalog's lookups (vd_fcd_resolve) following it: a UUID or a prefix of
 * one, hex in either case, dashes only at 8, 13, 18 and 23. */
#include "tap.h"

#include <vdisk/vdisk.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int
valid (const char *s)
{
  return vd_fcd_id_valid (s, strlen (s));
}

int
main (void)
{
  const char *uuid = "0123abcd-4567-89ef-0123-456789abcdef";
  char buf[64];

  ok (valid (uuid), "a full UUID");
  ok (valid ("0"), "one hex digit");
  ok (valid ("0123ABCD-45"), "upper case, dash at 8");
  ok (valid ("0123abcd-"), "a prefix ending at a dash");
  ok (!valid (""), "empty");
  ok (!vd_fcd_id_valid (NULL, 3), "NULL");
  ok (!valid ("0123-abcd"), "a dash at 4");
  ok (!valid ("0123abcd4567"), "a hex digit where the dash goes");
  ok (!valid ("-"), "a lone dash");
  ok (!valid ("0123abcg"), "g is no hex digit");
  ok (!valid ("0123 abc"), "a space");
  snprintf (buf, sizeof buf, "%s0", uuid);
  ok (!valid (buf), "37 characters");
  ok (vd_fcd_id_valid (buf, 36), "the first 36 of them (len counts)");
  ok (!vd_fcd_id_valid ("0123\0abc", 8), "a NUL inside len");

  /* the catalog follows the rule */
  char dir[] = "/tmp/vdisk-fcd-id-XXXXXX", id[VD_FCD_ID_SIZE],
    out[VD_FCD_ID_SIZE];
  vd_fcd_store *s;
  if (!mkdtemp (dir)) {
    perror ("mkdtemp");
    return 1;
  }
  ok (vd_fcd_store_open (&s, dir, VD_FCD_CREATE) == 0, "catalog made");
  ok (vd_fcd_create (s, "d", 1 << 20, 0, id) == 0, "FCD made");
  ok (valid (id), "its ID has the shape");
  ok (vd_fcd_resolve (s, id, out) == 0 && !strcmp (out, id),
      "resolved by its full ID");
  snprintf (buf, sizeof buf, "%.11s", id);
  for (char *p = buf; *p; p++)
    *p = (char) toupper ((unsigned char) *p);
  ok (vd_fcd_resolve (s, buf, out) == 0 && !strcmp (out, id),
      "resolved by an upper-case prefix %s", buf);
  snprintf (buf, sizeof buf, "%.4s-%.4s", id, id + 4);
  ok (vd_fcd_resolve (s, buf, out) == VD_EINVAL,
      "a prefix with a dash at 4 is a bad ID (not just no match)");
  snprintf (buf, sizeof buf, "%sa", id);
  ok (vd_fcd_resolve (s, buf, out) == VD_EINVAL, "37 characters refused");
  vd_fcd_store_close (s);

  /* VD_FCD_READ_ONLY: lookups work, every change is VD_EROFS */
  ok (vd_fcd_store_open (&s, dir, VD_FCD_CREATE | VD_FCD_READ_ONLY)
      == VD_EINVAL && !s, "VD_FCD_CREATE with VD_FCD_READ_ONLY refused");
  ok (vd_fcd_store_open (&s, dir, 0x80) == VD_EINVAL, "unknown flag refused");
  ok (vd_fcd_store_open (&s, dir, VD_FCD_READ_ONLY) == 0, "opened read-only");
  ok (vd_fcd_resolve (s, id, out) == 0 && !strcmp (out, id),
      "read-only: resolved");
  ok (vd_fcd_rename (s, id, "e") == VD_EROFS, "read-only: rename is VD_EROFS");
  ok (vd_fcd_create (s, "f", 1 << 20, 0, out) == VD_EROFS,
      "read-only: create is VD_EROFS");
  vd_fcd_store_close (s);
  snprintf (buf, sizeof buf, "%s/empty", dir);
  ok (mkdir (buf, 0755) == 0
      && vd_fcd_store_open (&s, buf, VD_FCD_READ_ONLY) == VD_ENOENT,
      "read-only, no catalog: VD_ENOENT");
  snprintf (buf, sizeof buf, "%s/empty/fcd-catalog.lock", dir);
  ok (access (buf, F_OK) != 0, "... and no lock file made");
  snprintf (buf, sizeof buf, "rm -rf '%s'", dir);
  if (system (buf) != 0)
    fprintf (stderr, "# could not remove %s\n", dir);
  return done_testing ();
}
