/* VixDiskLib remote parity against a `vdisk serve` datastore (driven by
 * test-nbd-remote-parity.sh):
 *   nbd-vix-parity SERVER USER PASSWORD SOURCE.vmdk BIG.vmdk
 * SERVER is "unix:/path/to/socket"; the server's datastore has a folder
 * "up" and a 16 MiB capacity quota; BIG.vmdk is larger than that.
 * Prints "PASS what" / "FAIL what" lines; the shell turns them into TAP. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vdisk/vixDiskLib.h"

static int failures;

static void
result (int good, const char *what, VixError err)
{
  if (good)
    printf ("PASS %s\n", what);
  else {
    char *t = VixDiskLib_GetErrorText (err, NULL);
    printf ("FAIL %s (error %llu: %s)\n", what, (unsigned long long) err,
            t ? t : "");
    VixDiskLib_FreeErrorText (t);
    failures++;
  }
}

static void
quiet (const char *fmt, va_list ap)
{
  (void) fmt;
  (void) ap;
}

/* The error is code, its text names the problem (needle) and not a
 * refused login or TLS. */
static void
refused_as (VixError err, VixError code, const char *needle, const char *what)
{
  char *t = VixDiskLib_GetErrorText (err, NULL);
  int good = err == code && t && strstr (t, needle)
    && !strstr (t, "login refused") && !strstr (t, "TLS");
  if (!good)
    printf ("# %s: error %llu: %s\n", what, (unsigned long long) err,
            t ? t : "");
  result (good, what, good ? VIX_OK : err);
  VixDiskLib_FreeErrorText (t);
}

/* Is key in the NUL-separated list? */
static int
has_key (const char *keys, const char *key)
{
  for (const char *k = keys; *k; k += strlen (k) + 1)
    if (strcmp (k, key) == 0)
      return 1;
  return 0;
}

static char *
read_meta (VixDiskLibHandle h, const char *key)
{
  size_t need = 0;
  char *buf;
  if (VixDiskLib_ReadMetadata (h, key, NULL, 0, &need)
      != VIX_E_BUFFER_TOOSMALL || need == 0)
    return NULL;
  buf = malloc (need);
  if (buf && VixDiskLib_ReadMetadata (h, key, buf, need, NULL) != VIX_OK) {
    free (buf);
    return NULL;
  }
  return buf;
}

static int
same_geo (const VixDiskLibGeometry *a, const VixDiskLibGeometry *b)
{
  return a->cylinders == b->cylinders && a->heads == b->heads
    && a->sectors == b->sectors;
}

int
main (int argc, char **argv)
{
  VixDiskLibConnectParams *cp;
  VixDiskLibConnection remote = NULL, local = NULL;
  VixDiskLibHandle hr = NULL, hl = NULL;
  VixDiskLibCreateParams create = { 0 };
  VixDiskLibInfo *ir = NULL, *il = NULL;
  const char *dst = "[ds] up/vix.vmdk";
  VixError err;
  char *v;

  if (argc != 6) {
    fprintf (stderr, "usage: %s SERVER USER PASSWORD SOURCE BIG\n", argv[0]);
    return 2;
  }
  err = VixDiskLib_Init (7, 0, quiet, quiet, quiet, NULL);
  result (err == VIX_OK, "Init", err);

  cp = VixDiskLib_AllocateConnectParams ();
  cp->serverName = argv[1];
  cp->credType = VIXDISKLIB_CRED_UID;
  cp->creds.uid.userName = argv[2];
  cp->creds.uid.password = argv[3];
  cp->vmxSpec = (char *) "moref=vm-1";

  /* PrepareForAccess / EndAccess with a server name */
  err = VixDiskLib_PrepareForAccess (cp, "vdisk-test");
  result (err == VIX_OK, "PrepareForAccess with a server name", err);
  err = VixDiskLib_EndAccess (cp, "vdisk-test");
  result (err == VIX_OK, "EndAccess with a server name", err);
  cp->creds.uid.password = (char *) "not-the-password";
  err = VixDiskLib_PrepareForAccess (cp, "vdisk-test");
  result (err == VIX_E_AUTHENTICATION_FAIL,
          "PrepareForAccess with a wrong password: VIX_E_AUTHENTICATION_FAIL",
          err ? err : VIX_E_FAIL);
  cp->creds.uid.password = argv[3];

  err = VixDiskLib_Connect (cp, &remote);
  result (err == VIX_OK, "Connect remote", err);
  err = VixDiskLib_Connect (NULL, &local);
  result (err == VIX_OK, "Connect locally", err);
  if (!remote || !local)
    return 1;

  /* The sample's create parameters (ignored for a remote clone). */
  create.diskType = VIXDISKLIB_DISK_MONOLITHIC_SPARSE;
  create.adapterType = VIXDISKLIB_ADAPTER_IDE;
  create.hwVersion = 7;
  err = VixDiskLib_Clone (remote, dst, local, argv[4], &create, NULL, NULL,
                          FALSE);
  result (err == VIX_OK, "Clone local -> remote", err);

  /* server-side refusals, each as what it is */
  err = VixDiskLib_Clone (remote, dst, local, argv[4], &create, NULL, NULL,
                          FALSE);
  refused_as (err, VIX_E_FILE_ALREADY_EXISTS, "already exists",
              "Clone onto an existing name: VIX_E_FILE_ALREADY_EXISTS, "
              "'already exists'");
  err = VixDiskLib_Clone (remote, "[ds] nofolder/x.vmdk", local, argv[4],
                          &create, NULL, NULL, FALSE);
  refused_as (err, VIX_E_FILE_NOT_FOUND, "folder does not exist",
              "Clone into a missing folder: VIX_E_FILE_NOT_FOUND, "
              "'folder does not exist'");
  err = VixDiskLib_Clone (remote, "[ds] up/big.vmdk", local, argv[5],
                          &create, NULL, NULL, FALSE);
  refused_as (err, VIX_E_DISK_FULL, "quota",
              "Clone over the capacity quota: VIX_E_DISK_FULL, 'quota'");
  err = VixDiskLib_Open (remote, "[ds] up/missing.vmdk", 0, &hr);
  refused_as (err, VIX_E_FILE_NOT_FOUND, "No such file",
              "Open of a missing remote disk: VIX_E_FILE_NOT_FOUND");

  /* GetInfo: adapter and geometry from the server, as the source's */
  err = VixDiskLib_Open (local, argv[4], VIXDISKLIB_FLAG_OPEN_READ_ONLY, &hl);
  result (err == VIX_OK, "Open the source", err);
  err = VixDiskLib_Open (remote, dst, 0, &hr);
  result (err == VIX_OK, "Open the remote clone", err);
  if (!hr || !hl)
    return 1;
  VixDiskLib_GetInfo (hl, &il);
  err = VixDiskLib_GetInfo (hr, &ir);
  result (err == VIX_OK && ir, "GetInfo remote", err);
  if (!ir || !il)
    return 1;
  result (il->adapterType != VIXDISKLIB_ADAPTER_IDE
          && il->adapterType != VIXDISKLIB_ADAPTER_UNKNOWN,
          "the source is not an IDE disk (the test means something)", VIX_OK);
  result (ir->adapterType == il->adapterType,
          "remote GetInfo: the source's adapter", VIX_E_FAIL);
  result (same_geo (&ir->physGeo, &il->physGeo) && ir->physGeo.heads != 0,
          "remote GetInfo: the source's physical geometry", VIX_E_FAIL);
  result (same_geo (&ir->biosGeo, &il->biosGeo) && ir->biosGeo.heads != 0,
          "remote GetInfo: the source's BIOS geometry", VIX_E_FAIL);
  result (ir->capacity == il->capacity, "remote GetInfo: capacity",
          VIX_E_FAIL);
  printf ("# remote: adapter %d, geometry %u/%u/%u, bios %u/%u/%u\n",
          (int) ir->adapterType, ir->physGeo.cylinders, ir->physGeo.heads,
          ir->physGeo.sectors, ir->biosGeo.cylinders, ir->biosGeo.heads,
          ir->biosGeo.sectors);

  /* metadata: keys, read, write, read back */
  {
    size_t need = 0;
    char *keys = NULL;
    err = VixDiskLib_GetMetadataKeys (hr, NULL, 0, &need);
    if (err == VIX_E_BUFFER_TOOSMALL && need > 1 && (keys = malloc (need)))
      err = VixDiskLib_GetMetadataKeys (hr, keys, need, NULL);
    result (err == VIX_OK && keys && has_key (keys, "adapterType")
            && has_key (keys, "geometry.heads")
            && has_key (keys, "geometry.biosHeads"),
            "remote GetMetadataKeys lists adapterType and the geometry",
            err ? err : VIX_E_FAIL);
    free (keys);
  }
  {
    char *a = read_meta (hr, "geometry.cylinders");
    char *b = read_meta (hl, "geometry.cylinders");
    result (a && b && strcmp (a, b) == 0,
            "remote ReadMetadata geometry.cylinders equals the source's",
            VIX_E_FAIL);
    free (a);
    free (b);
  }
  err = VixDiskLib_WriteMetadata (hr, "vdiskTest.note", "remote: value 1");
  result (err == VIX_OK, "remote WriteMetadata", err);
  v = read_meta (hr, "vdiskTest.note");
  result (v && strcmp (v, "remote: value 1") == 0,
          "remote ReadMetadata reads the write back", VIX_E_FAIL);
  free (v);
  err = VixDiskLib_WriteMetadata (hr, "vdisk.incomplete", "0");
  refused_as (err, VIX_E_FILE_ACCESS_ERROR, "kept by the server",
              "remote WriteMetadata of a server key is refused with the "
              "server's reason");
  result (VixDiskLib_Close (hr) == VIX_OK, "Close remote", VIX_OK);
  hr = NULL;

  err = VixDiskLib_Open (remote, dst, VIXDISKLIB_FLAG_OPEN_READ_ONLY, &hr);
  result (err == VIX_OK, "Open the remote clone again (read-only)", err);
  if (!hr)
    return 1;
  v = read_meta (hr, "vdiskTest.note");
  result (v && strcmp (v, "remote: value 1") == 0,
          "the metadata write is kept on the server", VIX_E_FAIL);
  free (v);
  err = VixDiskLib_WriteMetadata (hr, "vdiskTest.note", "x");
  result (err == VIX_E_FILE_READ_ONLY,
          "WriteMetadata on a read-only remote handle: VIX_E_FILE_READ_ONLY",
          err ? err : VIX_E_FAIL);
  result (VixDiskLib_Close (hr) == VIX_OK, "Close remote (read-only)",
          VIX_OK);

  VixDiskLib_FreeInfo (ir);
  VixDiskLib_FreeInfo (il);
  VixDiskLib_Close (hl);
  VixDiskLib_Disconnect (remote);
  VixDiskLib_Disconnect (local);
  VixDiskLib_FreeConnectParams (cp);
  VixDiskLib_Exit ();
  printf ("PASS done\n");
  return failures ? 1 : 0;
}
