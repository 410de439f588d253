/* A VDDK client for the vSphere tests (tests/vsphere/test-vsphere-vix*.sh).
 * It dlopens LIBDIR/lib64/libvixDiskLib.so.8 as VDDK programs do, and
 * connects with the parameters from the environment, as a backup product
 * fills VixDiskLibConnectParams:
 *
 *   VIX_HOST (serverName), VIX_PORT (port), VIX_THUMB (thumbPrint),
 *   VIX_USER and VIX_PASSWORD (credType VIXDISKLIB_CRED_UID), VIX_VM
 *   (vmxSpec), VIX_FCD_ID and VIX_FCD_DS (specType
 *   VIXDISKLIB_SPEC_VSTORAGE_OBJECT with vStorageObjSpec.id and
 *   datastoreMoRef), VIX_SNAPSHOT (ConnectEx's snapshotRef)
 *
 *   vix-vsphere LIBDIR connect            connect and disconnect
 *   vix-vsphere LIBDIR modes              print ListTransportModes
 *   vix-vsphere LIBDIR read PATH OUT      the whole disk into raw OUT,
 *                                         1 MiB a Read; "-" PATH: the FCD
 *   vix-vsphere LIBDIR info PATH          capacity, links, transport
 *   vix-vsphere LIBDIR meta PATH KEY      ReadMetadata (KEY changeId too)
 *   vix-vsphere LIBDIR allocated PATH     QueryAllocatedBlocks, 128-sector
 *                                         chunks: "OFFSET LENGTH" lines
 *   vix-vsphere LIBDIR changes PATH ID [START]
 *                                         QueryChangedAreas since ID
 *   vix-vsphere LIBDIR write PATH         Open (flags 0) and Write 1 sector
 *   vix-vsphere LIBDIR clone LOCAL DST    Clone the local disk onto DST
 *   vix-vsphere LIBDIR fcd-register DSPATH NAME
 *       (test setup, through libvdisk rather than VixDiskLib) make the
 *       datastore disk DSPATH a first class disk; print its ID
 *
 * Errors are printed as "vix-vsphere: WHAT: error CODE: TEXT"; exit 1. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vdisk/vixDiskLib.h"
#include "vdisk/vdisk.h"

#define FN(name) static __typeof__ (VixDiskLib_##name) *p_##name
FN (InitEx); FN (Exit); FN (ConnectEx); FN (Disconnect); FN (Open);
FN (Close); FN (Read); FN (Write); FN (GetInfo); FN (FreeInfo);
FN (GetErrorText); FN (FreeErrorText); FN (ReadMetadata);
FN (QueryChangedAreas); FN (FreeChangedAreas); FN (QueryAllocatedBlocks);
FN (FreeBlockList); FN (Clone); FN (ListTransportModes);
FN (GetTransportMode);

static int
fail (const char *what, VixError err)
{
  char *t = p_GetErrorText (err, NULL);
  fprintf (stderr, "vix-vsphere: %s: error %llu: %s\n", what,
           (unsigned long long) VIX_ERROR_CODE (err), t ? t : "(no text)");
  p_FreeErrorText (t);
  return 1;
}

static const char *
env (const char *name)
{
  const char *v = getenv (name);
  return v && *v ? v : NULL;
}

static void
params (VixDiskLibConnectParams *p)
{
  memset (p, 0, sizeof *p);
  p->serverName = (char *) env ("VIX_HOST");
  p->port = env ("VIX_PORT") ? (uint32) strtoul (env ("VIX_PORT"), NULL, 10)
    : 443;
  p->thumbPrint = (char *) env ("VIX_THUMB");
  p->vmxSpec = (char *) env ("VIX_VM");
  p->credType = VIXDISKLIB_CRED_UID;
  p->creds.uid.userName = (char *) env ("VIX_USER");
  p->creds.uid.password = (char *) env ("VIX_PASSWORD");
  if (env ("VIX_FCD_ID")) {
    p->specType = VIXDISKLIB_SPEC_VSTORAGE_OBJECT;
    p->spec.vStorageObjSpec.id = (char *) env ("VIX_FCD_ID");
    p->spec.vStorageObjSpec.datastoreMoRef = (char *) env ("VIX_FCD_DS");
    p->spec.vStorageObjSpec.ssId = (char *) env ("VIX_FCD_SSID");
  }
}

static Bool
no_progress (void *data, int pct)
{
  (void) data; (void) pct;
  return TRUE;
}

static int
fcd_register (const char *dspath, const char *name)
{
  vd_vsphere *s;
  char url[1024], *id = NULL;

  snprintf (url, sizeof url, "https://%s:%s%s%s", env ("VIX_HOST"),
            env ("VIX_PORT") ? env ("VIX_PORT") : "443",
            env ("VIX_THUMB") ? "?thumbprint=" : "",
            env ("VIX_THUMB") ? env ("VIX_THUMB") : "");
  if (vd_vsphere_connect (&s, url, env ("VIX_USER"), env ("VIX_PASSWORD"),
                          0) < 0
      || vd_vsphere_fcd_register (s, NULL, dspath, name, &id) < 0) {
    fprintf (stderr, "vix-vsphere: %s\n", vd_last_error ()->message);
    return 1;
  }
  printf ("%s\n", id);
  free (id);
  vd_vsphere_close (s);
  return 0;
}

#define LOAD(name) \
  if (!(*(void **) &p_##name = dlsym (lib, "VixDiskLib_" #name))) { \
    fprintf (stderr, "vix-vsphere: %s\n", dlerror ()); return 2; }

int
main (int argc, char **argv)
{
  VixDiskLibConnectParams cp;
  VixDiskLibConnection conn = NULL;
  VixDiskLibHandle h = NULL;
  VixError err;
  const char *cmd, *path;
  char so[4096];
  void *lib;
  int rc = 0;

  if (argc < 3) {
    fprintf (stderr, "usage: vix-vsphere LIBDIR COMMAND ...\n");
    return 2;
  }
  cmd = argv[2];
  if (!strcmp (cmd, "fcd-register") && argc == 5)
    return fcd_register (argv[3], argv[4]);
  snprintf (so, sizeof so, "%s/lib64/libvixDiskLib.so.8", argv[1]);
  if (!(lib = dlopen (so, RTLD_NOW | RTLD_LOCAL))) {
    fprintf (stderr, "vix-vsphere: %s\n", dlerror ());
    return 2;
  }
  LOAD (InitEx); LOAD (Exit); LOAD (ConnectEx); LOAD (Disconnect);
  LOAD (Open); LOAD (Close); LOAD (Read); LOAD (Write); LOAD (GetInfo);
  LOAD (FreeInfo); LOAD (GetErrorText); LOAD (FreeErrorText);
  LOAD (ReadMetadata); LOAD (QueryChangedAreas); LOAD (FreeChangedAreas);
  LOAD (QueryAllocatedBlocks); LOAD (FreeBlockList); LOAD (Clone);
  LOAD (ListTransportModes); LOAD (GetTransportMode);

  if ((err = p_InitEx (8, 0, NULL, NULL, NULL, argv[1], NULL)) != VIX_OK)
    return fail ("InitEx", err);
  if (!strcmp (cmd, "modes")) {
    printf ("%s\n", p_ListTransportModes ());
    p_Exit ();
    return 0;
  }
  params (&cp);
  if ((err = p_ConnectEx (&cp, FALSE, env ("VIX_SNAPSHOT"), NULL, &conn))) {
    rc = fail ("ConnectEx", err);
    goto out;
  }
  path = argc > 3 && strcmp (argv[3], "-") ? argv[3] : NULL;
  if (!strcmp (cmd, "connect"))
    printf ("connected\n");
  else if (!strcmp (cmd, "clone") && argc == 5) {
    VixDiskLibConnectParams local;
    VixDiskLibConnection lc = NULL;
    VixDiskLibCreateParams crp;
    memset (&local, 0, sizeof local);
    memset (&crp, 0, sizeof crp);
    crp.diskType = VIXDISKLIB_DISK_VMFS_FLAT;
    crp.adapterType = VIXDISKLIB_ADAPTER_SCSI_LSILOGIC;
    crp.hwVersion = VIXDISKLIB_HWVERSION_CURRENT;
    if ((err = p_ConnectEx (&local, FALSE, NULL, NULL, &lc)))
      rc = fail ("ConnectEx (local)", err);
    else if ((err = p_Clone (conn, argv[4], lc, argv[3], &crp, no_progress,
                             NULL, FALSE)))
      rc = fail ("Clone", err);
    if (lc)
      p_Disconnect (lc);
  }
  else if (argc >= 4) {
    uint32 flags = strcmp (cmd, "write") ? VIXDISKLIB_FLAG_OPEN_READ_ONLY : 0;
    VixDiskLibInfo *info = NULL;
    if ((err = p_Open (conn, path, flags, &h))) {
      rc = fail ("Open", err);
      goto out;
    }
    if ((err = p_GetInfo (h, &info))) {
      rc = fail ("GetInfo", err);
      goto out;
    }
    VixDiskLibSectorType cap = info->capacity;
    if (!strcmp (cmd, "info"))
      printf ("capacity %llu\nlinks %d\ntransport %s\nadapter %d\n",
              (unsigned long long) cap, info->numLinks,
              p_GetTransportMode (h), (int) info->adapterType);
    p_FreeInfo (info);
    if (!strcmp (cmd, "read") && argc == 5) {
      FILE *out = fopen (argv[4], "wb");
      static uint8 buf[1 << 20];
      for (VixDiskLibSectorType s = 0; out && s < cap; ) {
        VixDiskLibSectorType n = cap - s < 2048 ? cap - s : 2048;
        if ((err = p_Read (h, s, n, buf))) {
          rc = fail ("Read", err);
          break;
        }
        fwrite (buf, 512, (size_t) n, out);
        s += n;
      }
      if (!out || fclose (out) != 0) {
        perror (argv[4]);
        rc = 1;
      }
    }
    else if (!strcmp (cmd, "meta") && argc == 5) {
      char val[4096];
      size_t need = 0;
      if ((err = p_ReadMetadata (h, argv[4], val, sizeof val, &need)))
        rc = fail ("ReadMetadata", err);
      else
        printf ("%s\n", val);
    }
    else if (!strcmp (cmd, "allocated")) {
      VixDiskLibBlockList *bl = NULL;
      VixDiskLibSectorType n = (cap + 127) / 128 * 128;
      if ((err = p_QueryAllocatedBlocks (h, 0, n, 128, &bl)))
        rc = fail ("QueryAllocatedBlocks", err);
      else {
        for (uint32 i = 0; i < bl->numBlocks; i++)
          printf ("%llu %llu\n", (unsigned long long) bl->blocks[i].offset,
                  (unsigned long long) bl->blocks[i].length);
        p_FreeBlockList (bl);
      }
    }
    else if (!strcmp (cmd, "changes") && argc >= 5) {
      VixDiskLibQueryChangedAreaParams q = { 0, 0, argv[4] };
      VixDiskLibDiskChangeInfo *ci = NULL;
      if (argc > 5)
        q.startOffset = strtoull (argv[5], NULL, 10);
      if ((err = p_QueryChangedAreas (h, &q, &ci)))
        rc = fail ("QueryChangedAreas", err);
      else {
        for (uint32 i = 0; i < ci->numAreas; i++)
          printf ("%llu %llu\n", (unsigned long long) ci->areas[i].offset,
                  (unsigned long long) ci->areas[i].length);
        p_FreeChangedAreas (ci);
      }
    }
    else if (!strcmp (cmd, "write")) {
      static uint8 sector[512];
      memset (sector, 0xab, sizeof sector);
      if ((err = p_Write (h, 0, 1, sector)))
        rc = fail ("Write", err);
    }
  }
  else {
    fprintf (stderr, "vix-vsphere: bad command %s\n", cmd);
    rc = 2;
  }
out:
  if (h && (err = p_Close (h)) && !rc)
    rc = fail ("Close", err);
  if (conn)
    p_Disconnect (conn);
  p_Exit ();
  return rc;
}
