/* VixMntapi on first class disks, as the guide's FCD mount code does it:
 *   fcd-mntapi DATASTORE FCDID SSID RELPATH EXPECTED_FILE
 * a connection with a vStorageObjSpec {FCDID, DATASTORE, SSID ("" for
 * the FCD itself)}, VixMntapi_OpenDisks with the FCD's UUID as the only
 * name and numberOfDisks = 1, the first volume mounted read-only and
 * RELPATH inside it compared with EXPECTED_FILE; then the same through a
 * local connection whose dsSpec names DATASTORE; and the error paths
 * (NULL names, a count other than 1, an unknown ID).  Prints TAP; links
 * -lvixMntapi -lvixDiskLib only. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vdisk/vixDiskLib.h"
#include "vdisk/vixMntapi.h"

static int n_test, n_fail;
static const char *relpath, *expected;

static void ok (int c, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));
static void
ok (int c, const char *fmt, ...)
{
  va_list ap;
  n_test++;
  n_fail += !c;
  printf ("%sok %d - ", c ? "" : "not ", n_test);
  va_start (ap, fmt);
  vprintf (fmt, ap);
  va_end (ap);
  printf ("\n");
  fflush (stdout);
}

static int
same_file (const char *dir)
{
  char p[4096];
  snprintf (p, sizeof p, "%s/%s", dir, relpath);
  FILE *a = fopen (p, "rb"), *b = fopen (expected, "rb");
  int same = a && b, x = 0, y = 0;
  while (same && x != EOF) {
    x = getc (a);
    y = getc (b);
    same = x == y;
  }
  if (a)
    fclose (a);
  if (b)
    fclose (b);
  return same;
}

/* OpenDisks {name}, mount the first volume, compare, dismount, close. */
static void
mount_check (VixDiskLibConnection conn, const char *name, const char *what)
{
  const char *names[1] = { name };
  VixDiskSetHandle set = NULL;
  VixVolumeHandle *vols = NULL;
  VixVolumeInfo *vi = NULL;
  size_t n = 0;
  VixError e = VixMntapi_OpenDisks (conn, names, 1,
                                    VIXDISKLIB_FLAG_OPEN_READ_ONLY, &set);
  ok (e == VIX_OK && set, "%s: OpenDisks with the FCD's UUID (error %llu)",
      what, (unsigned long long) e);
  if (e != VIX_OK)
    return;
  e = VixMntapi_GetVolumeHandles (set, &n, &vols);
  ok (e == VIX_OK && n >= 1, "%s: %zu volume(s)", what, n);
  if (e == VIX_OK && n >= 1) {
    e = VixMntapi_MountVolume (vols[0], TRUE);
    if (e == VIX_OK)
      e = VixMntapi_GetVolumeInfo (vols[0], &vi);
    ok (e == VIX_OK && vi && vi->isMounted && vi->symbolicLink
        && same_file (vi->symbolicLink),
        "%s: the first volume mounted, %s reads as expected", what, relpath);
    VixMntapi_FreeVolumeInfo (vi);
    ok (VixMntapi_DismountVolume (vols[0], FALSE) == VIX_OK,
        "%s: dismounted", what);
  }
  VixMntapi_FreeVolumeHandles (vols);
  ok (VixMntapi_CloseDiskSet (set) == VIX_OK, "%s: CloseDiskSet", what);
}

int
main (int argc, char **argv)
{
  if (argc != 6) {
    fprintf (stderr, "usage: fcd-mntapi DATASTORE FCDID SSID RELPATH "
             "EXPECTED\n");
    return 2;
  }
  relpath = argv[4];
  expected = argv[5];
  ok (VixDiskLib_InitEx (8, 0, NULL, NULL, NULL, NULL, NULL) == VIX_OK,
      "VixDiskLib_InitEx");
  ok (VixMntapi_Init (VIXMNTAPI_MAJOR_VERSION, VIXMNTAPI_MINOR_VERSION, NULL,
                      NULL, NULL, NULL, NULL) == VIX_OK, "VixMntapi_Init");

  /* the guide's way: a vStorageObjSpec connection */
  VixDiskLibConnectParams *cp = VixDiskLib_AllocateConnectParams ();
  VixDiskLibConnection conn = NULL;
  cp->specType = VIXDISKLIB_SPEC_VSTORAGE_OBJECT;
  cp->spec.vStorageObjSpec.id = argv[2];
  cp->spec.vStorageObjSpec.datastoreMoRef = argv[1];
  cp->spec.vStorageObjSpec.ssId = argv[3];
  ok (VixDiskLib_ConnectEx (cp, TRUE, NULL, NULL, &conn) == VIX_OK,
      "ConnectEx with a vStorageObjSpec");
  mount_check (conn, argv[2], argv[3][0] ? "vStorageObjSpec, a snapshot"
                                         : "vStorageObjSpec");
  VixDiskSetHandle set = (VixDiskSetHandle) 1;
  const char *null_name[1] = { NULL };
  ok (VixMntapi_OpenDisks (conn, null_name, 1, 0, &set) == VIX_E_INVALID_ARG
      && !set, "a NULL name: VIX_E_INVALID_ARG, no crash");
  ok (VixMntapi_OpenDisks (conn, NULL, 1, 0, &set) == VIX_E_INVALID_ARG,
      "NULL names: VIX_E_INVALID_ARG");
  const char *two[2] = { argv[2], argv[2] };
  ok (VixMntapi_OpenDisks (conn, two, 2, VIXDISKLIB_FLAG_OPEN_READ_ONLY, &set)
      == VIX_E_INVALID_ARG && !set,
      "two names on an FCD connection: VIX_E_INVALID_ARG");
  const char *other[1] = { "00000000-0000-0000-0000-000000000000" };
  ok (VixMntapi_OpenDisks (conn, other, 1, VIXDISKLIB_FLAG_OPEN_READ_ONLY,
                           &set) != VIX_OK && !set,
      "another UUID than the connection's: refused");
  VixDiskLib_Disconnect (conn);
  VixDiskLib_FreeConnectParams (cp);

  /* a local connection naming the datastore: the name is an FCD ID */
  if (!argv[3][0]) {
    cp = VixDiskLib_AllocateConnectParams ();
    cp->specType = VIXDISKLIB_SPEC_DATASTORE;
    cp->spec.dsSpec.datastoreMoRef = argv[1];
    ok (VixDiskLib_ConnectEx (cp, TRUE, NULL, NULL, &conn) == VIX_OK,
        "ConnectEx with a dsSpec naming the datastore");
    mount_check (conn, argv[2], "dsSpec");
    ok (VixMntapi_OpenDisks (conn, other, 1, VIXDISKLIB_FLAG_OPEN_READ_ONLY,
                             &set) != VIX_OK && !set,
        "dsSpec: an unknown FCD UUID is an error");
    VixDiskLib_Disconnect (conn);
    VixDiskLib_FreeConnectParams (cp);
  }
  VixMntapi_Exit ();
  VixDiskLib_Exit ();
  printf ("1..%d\n", n_test);
  return n_fail != 0;
}
