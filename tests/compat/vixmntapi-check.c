/* A VDDK-style program linked with -lvixMntapi -lvixDiskLib only:
 *   vixmntapi-check DISK VOLUME_INDEX RELPATH EXPECTED_FILE OS_VENDOR
 * opens the disk set, lists its volumes, mounts volume VOLUME_INDEX
 * (1-based, in the order GetVolumeHandles gives) read-only, compares
 * RELPATH inside it with EXPECTED_FILE, reads the OS information (its
 * vendor must contain OS_VENDOR; "Microsoft": a Windows 10 64-bit guest
 * with its kernel in C:\Windows\System32), checks the error paths, and does the
 * same from four threads with four disk sets at once.  Prints TAP. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vdisk/vixDiskLib.h"
/* as VMware's programs do: the version they were written for */
#define VIXDISKLIB_VERSION_MAJOR 8
#define VIXDISKLIB_VERSION_MINOR 0
#include "vdisk/vixMntapi.h"

static int n_test, n_fail;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static void
ok (int c, const char *fmt, ...)
  __attribute__((format (printf, 2, 3)));
static void
ok (int c, const char *fmt, ...)
{
  va_list ap;
  pthread_mutex_lock (&out_lock);
  n_test++;
  if (!c)
    n_fail++;
  printf ("%sok %d - ", c ? "" : "not ", n_test);
  va_start (ap, fmt);
  vprintf (fmt, ap);
  va_end (ap);
  printf ("\n");
  fflush (stdout);
  pthread_mutex_unlock (&out_lock);
}

static const char *disk, *relpath, *expected, *vendor;
static int windows;    /* vendor "Microsoft": a Windows guest expected */
static size_t volidx;
static VixDiskLibConnection conn;

static char *
slurp (const char *path, size_t *n)
{
  FILE *f = fopen (path, "rb");
  if (!f)
    return NULL;
  size_t cap = 1 << 16, len = 0;
  char *b = malloc (cap);
  size_t r;
  while (b && (r = fread (b + len, 1, cap - len, f)) > 0) {
    len += r;
    if (len == cap)
      b = realloc (b, cap *= 2);
  }
  fclose (f);
  *n = len;
  return b;
}

static int
same_as_expected (const char *dir)
{
  char p[4096];
  size_t a, b;
  snprintf (p, sizeof p, "%s/%s", dir, relpath);
  char *x = slurp (p, &a), *y = slurp (expected, &b);
  int same = x && y && a == b && memcmp (x, y, a) == 0;
  free (x);
  free (y);
  return same;
}

/* The mount at dir is vdisk's own FUSE mount (fstype fuse.vdisk, source
 * "vixmntapi"): a read-only ext volume served in-process, no fuse2fs. */
static int
served_inprocess (const char *dir)
{
  FILE *f = fopen ("/proc/self/mountinfo", "r");
  char line[8192];
  int found = 0;
  if (!f)
    return 0;
  while (fgets (line, sizeof line, f)) {
    char mp[4096], type[256], src[4096];
    const char *sep = strstr (line, " - ");
    if (!sep || sscanf (line, "%*s %*s %*s %*s %4095s", mp) != 1
        || sscanf (sep + 3, "%255s %4095s", type, src) != 2)
      continue;
    if (strcmp (mp, dir) == 0)
      found = strcmp (type, "fuse.vdisk") == 0
              && strcmp (src, "vixmntapi") == 0;
  }
  fclose (f);
  return found;
}

/* open, mount, read, dismount, close; 0 on success */
static void *
worker (void *arg)
{
  long id = (long) arg;
  const char *names[1] = { disk };
  VixDiskSetHandle set = NULL;
  size_t n = 0;
  VixVolumeHandle *vols = NULL;
  VixVolumeInfo *vi = NULL;
  int good = 0;
  if (VixMntapi_OpenDisks (conn, names, 1, VIXDISKLIB_FLAG_OPEN_READ_ONLY,
                           &set) == VIX_OK
      && VixMntapi_GetVolumeHandles (set, &n, &vols) == VIX_OK
      && n >= volidx
      && VixMntapi_MountVolume (vols[volidx - 1], TRUE) == VIX_OK
      && VixMntapi_GetVolumeInfo (vols[volidx - 1], &vi) == VIX_OK
      && vi->isMounted && vi->symbolicLink)
    good = same_as_expected (vi->symbolicLink);
  VixMntapi_FreeVolumeInfo (vi);
  if (vols && n >= volidx)
    good &= VixMntapi_DismountVolume (vols[volidx - 1], FALSE) == VIX_OK;
  VixMntapi_FreeVolumeHandles (vols);
  if (set)
    good &= VixMntapi_CloseDiskSet (set) == VIX_OK;
  ok (good, "thread %ld: its own disk set, mounted, read, dismounted", id);
  return NULL;
}

int
main (int argc, char **argv)
{
  if (argc != 6) {
    fprintf (stderr, "usage: %s DISK VOLUME_INDEX RELPATH EXPECTED_FILE "
             "OS_VENDOR\n", argv[0]);
    return 2;
  }
  disk = argv[1];
  volidx = (size_t) atoi (argv[2]);
  relpath = argv[3];
  expected = argv[4];
  vendor = argv[5];
  windows = strcmp (vendor, "Microsoft") == 0;

  VixError e = VixDiskLib_Init (VIXDISKLIB_VERSION_MAJOR,
                                VIXDISKLIB_VERSION_MINOR, NULL, NULL, NULL,
                                NULL);
  ok (e == VIX_OK, "VixDiskLib_Init");
  ok (VixMntapi_Init (2, 0, NULL, NULL, NULL, NULL, NULL)
      == VIX_E_MNTAPI_INCOMPATIBLE_VERSION, "Init refuses major version 2");
  e = VixMntapi_Init (VIXMNTAPI_MAJOR_VERSION, VIXMNTAPI_MINOR_VERSION,
                      NULL, NULL, NULL, NULL, NULL);
  ok (e == VIX_OK, "VixMntapi_Init");
  VixDiskLibConnectParams cp;
  memset (&cp, 0, sizeof cp);
  e = VixDiskLib_Connect (&cp, &conn);
  ok (e == VIX_OK, "local connection");

  /* error paths: clear errors, no crash */
  VixDiskSetHandle set = (VixDiskSetHandle) 1;
  ok (VixMntapi_OpenDisks (conn, NULL, 1, 0, &set) == VIX_E_INVALID_ARG
      && set == NULL, "OpenDisks with NULL diskNames: VIX_E_INVALID_ARG");
  const char *short_list[2] = { disk, NULL };
  ok (VixMntapi_OpenDisks (conn, short_list, 2, 0, &set) == VIX_E_INVALID_ARG,
      "OpenDisks with a count larger than the names: VIX_E_INVALID_ARG");
  ok (VixMntapi_OpenDisks (conn, short_list, 0, 0, &set) == VIX_E_INVALID_ARG,
      "OpenDisks with no disks: VIX_E_INVALID_ARG");
  ok (VixMntapi_OpenDiskSet (NULL, 1, 0, &set) == VIX_E_INVALID_ARG,
      "OpenDiskSet with NULL handles: VIX_E_INVALID_ARG");
  ok (VixMntapi_GetVolumeHandles (NULL, NULL, NULL) == VIX_E_INVALID_HANDLE,
      "GetVolumeHandles(NULL): VIX_E_INVALID_HANDLE");
  ok (VixMntapi_CloseDiskSet (NULL) == VIX_E_INVALID_HANDLE,
      "CloseDiskSet(NULL): VIX_E_INVALID_HANDLE");

  const char *names[1] = { disk };
  e = VixMntapi_OpenDisks (conn, names, 1, VIXDISKLIB_FLAG_OPEN_READ_ONLY,
                           &set);
  ok (e == VIX_OK && set, "OpenDisks %s (error %llu)", disk,
      (unsigned long long) e);
  if (e != VIX_OK)
    goto out;
  VixDiskSetInfo *si = NULL;
  struct stat st;
  e = VixMntapi_GetDiskSetInfo (set, &si);
  ok (e == VIX_OK && si->mountPath && stat (si->mountPath, &st) == 0
      && S_ISDIR (st.st_mode)
      && (si->openFlags & VIXDISKLIB_FLAG_OPEN_READ_ONLY),
      "GetDiskSetInfo: mount folder %s, read-only flag",
      si ? si->mountPath : "?");
  VixMntapi_FreeDiskSetInfo (si);

  size_t n = 0;
  VixVolumeHandle *vols = NULL;
  e = VixMntapi_GetVolumeHandles (set, &n, &vols);
  ok (e == VIX_OK && n >= volidx, "GetVolumeHandles: %zu volumes", n);
  if (e != VIX_OK || n < volidx)
    goto out;
  for (size_t i = 0; i < n; i++) {
    VixVolumeInfo *vi = NULL;
    e = VixMntapi_GetVolumeInfo (vols[i], &vi);
    ok (e == VIX_OK && !vi->isMounted && vi->symbolicLink == NULL
        && (vi->type == VIXMNTAPI_BASIC_PARTITION
            || vi->type == VIXMNTAPI_GPT_PARTITION),
        "volume %zu: type %d, not mounted", i + 1, vi ? (int) vi->type : -1);
    VixMntapi_FreeVolumeInfo (vi);
  }
  VixVolumeHandle v = vols[volidx - 1];
  ok (VixMntapi_MountVolume (v, FALSE) == VIX_E_MNTAPI_VOLUME_NOT_WRITABLE,
      "a read-write mount of a read-only disk set is refused");
  ok (VixMntapi_DismountVolume (v, FALSE) == VIX_E_MNTAPI_VOLUME_NOT_MOUNTED,
      "DismountVolume of a volume not mounted");
  e = VixMntapi_MountVolume (v, TRUE);
  ok (e == VIX_OK, "MountVolume %zu read-only (error %llu)", volidx,
      (unsigned long long) e);
  ok (VixMntapi_MountVolume (v, TRUE) == VIX_E_MNTAPI_VOLUME_ALREADY_MOUNTED,
      "a second MountVolume: VIX_E_MNTAPI_VOLUME_ALREADY_MOUNTED");
  VixVolumeInfo *vi = NULL;
  e = VixMntapi_GetVolumeInfo (v, &vi);
  ok (e == VIX_OK && vi->isMounted && vi->symbolicLink,
      "GetVolumeInfo: mounted at %s", vi && vi->symbolicLink
      ? vi->symbolicLink : "?");
  if (e == VIX_OK && vi->symbolicLink) {
    ok (same_as_expected (vi->symbolicLink), "%s reads as %s", relpath,
        expected);
    if (!windows)
      ok (served_inprocess (vi->symbolicLink), "the ext volume is served "
          "by vdisk itself (fuse.vdisk, no fuse2fs)");
    ok (vi->numGuestMountPoints == 1
        && strcmp (vi->inGuestMountPoints[0], windows ? "C:\\" : "/") == 0,
        "the volume is the guest's %s (%zu mount points)",
        windows ? "C:\\" : "/", vi->numGuestMountPoints);
    char p[4096];
    snprintf (p, sizeof p, "%s/vixmntapi-new", vi->symbolicLink);
    int fd = open (p, O_CREAT | O_WRONLY, 0644);
    ok (fd < 0 && errno == EROFS, "the read-only flag is honoured (%s)",
        strerror (errno));
    if (fd >= 0)
      close (fd);
  }
  VixMntapi_FreeVolumeInfo (vi);

  VixOsInfo *os = NULL;
  e = VixMntapi_GetOsInfo (set, &os);
  ok (e == VIX_OK
      && os->family == (windows ? VIXMNTAPI_WINDOWS : VIXMNTAPI_OTHER)
      && os->vendor && strstr (os->vendor, vendor) && os->osFolder
      && strcmp (os->osFolder, windows ? "C:\\Windows" : "/") == 0
      && (!windows || (os->majorVersion == 10 && os->minorVersion == 0
                       && os->osIs64Bit)),
      "GetOsInfo: family %d, vendor \"%s\", version %u.%u, edition \"%s\", "
      "folder %s, 64-bit %d", os ? (int) os->family : -1,
      os && os->vendor ? os->vendor : "", os ? os->majorVersion : 0,
      os ? os->minorVersion : 0, os && os->edition ? os->edition : "",
      os && os->osFolder ? os->osFolder : "", os ? os->osIs64Bit : 0);
  VixMntapi_FreeOsInfo (os);

  ok (VixMntapi_DismountVolume (v, FALSE) == VIX_OK, "DismountVolume");
  vi = NULL;
  ok (VixMntapi_GetVolumeInfo (v, &vi) == VIX_OK && !vi->isMounted,
      "not mounted after DismountVolume");
  VixMntapi_FreeVolumeInfo (vi);
  VixMntapi_FreeVolumeHandles (vols);

  /* several disk sets at once, from several threads */
  pthread_t t[4];
  for (long i = 0; i < 4; i++)
    pthread_create (&t[i], NULL, worker, (void *) i);
  for (int i = 0; i < 4; i++)
    pthread_join (t[i], NULL);

  ok (VixMntapi_CloseDiskSet (set) == VIX_OK, "CloseDiskSet");
out:
  VixMntapi_Exit ();
  VixDiskLib_Disconnect (conn);
  VixDiskLib_Exit ();
  printf ("1..%d\n", n_test);
  return n_fail ? 1 : 0;
}
