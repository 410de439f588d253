/* libvixMntapi: VixMntapi_OpenDisks on first class disks (see
 * mnt-fcd.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vdisk/vdisk.h"
#include "vdisk/vixDiskLib.h"
#include "vdisk/vixMntapi.h"
#include "mnt-fcd.h"

/* ---- first class disks by UUID ------------------------------------------ */
/* The guide's FCD mount: OpenDisks with the FCD's UUID as the only name
 * and numberOfDisks = 1, on a connection made with a vStorageObjSpec
 * (VixDiskLib_Open checks that the name is that FCD), or on a local
 * connection whose dsSpec names a datastore folder with an FCD catalog
 * (the name then is an FCD ID of it, opened through a connection of its
 * own kept with the set).  VMware's crashes on NULL names; these are
 * clear errors, as is a count other than 1 on an FCD connection. */

/* An FCD ID (a UUID or a prefix of one, libvdisk's rule) that is no file
 * of that name; at least 4 characters, so that a short name stays a
 * file name. */
static int
fcd_id_like (const char *name)
{
  size_t n = strlen (name);
  if (n < 4 || !vd_fcd_id_valid (name, n))
    return 0;
  return access (name, F_OK) != 0;
}

/* Open FCD id of the datastore folder ds: a connection with a
 * vStorageObjSpec (*own) and its disk (*h). */
static VixError
open_fcd_of (const VixDiskLibConnectParams *p, const char *id, uint32 flags,
             VixDiskLibConnection *own, VixDiskLibHandle *h)
{
  VixDiskLibConnectParams *cp = VixDiskLib_AllocateConnectParams ();
  VixError err;
  if (!cp)
    return VIX_E_OUT_OF_MEMORY;
  cp->specType = VIXDISKLIB_SPEC_VSTORAGE_OBJECT;
  cp->spec.vStorageObjSpec.id = (char *) id;
  cp->spec.vStorageObjSpec.datastoreMoRef = p->spec.dsSpec.datastoreMoRef;
  cp->spec.vStorageObjSpec.ssId = NULL;
  err = VixDiskLib_ConnectEx (cp, (flags & VIXDISKLIB_FLAG_OPEN_READ_ONLY)
                              != 0, NULL, NULL, own);
  if (err == VIX_OK
      && (err = VixDiskLib_Open (*own, NULL, flags, h)) != VIX_OK) {
    VixDiskLib_Disconnect (*own);
    *own = NULL;
  }
  VixDiskLib_FreeConnectParams (cp);
  return err;
}

VixError
mnt_open_disks_fcd (VixDiskLibConnection connection, const char *diskNames[],
                    size_t numberOfDisks, uint32 flags, VixDiskLibHandle *h,
                    VixDiskLibConnection *own, char *why, size_t whysz)
{
  VixDiskLibConnectParams *p = NULL;
  VixError err = VixDiskLib_GetConnectParams (connection, &p);
  *own = NULL;
  *h = NULL;
  if (err != VIX_OK)
    return err;
  if (p->specType == VIXDISKLIB_SPEC_VSTORAGE_OBJECT && numberOfDisks != 1) {
    snprintf (why, whysz, "the connection names one first class disk "
              "(vStorageObjSpec %s): give its UUID as the only name, with "
              "numberOfDisks = 1 (not %zu)", p->spec.vStorageObjSpec.id
              ? p->spec.vStorageObjSpec.id : "(no id)", numberOfDisks);
    err = VIX_E_INVALID_ARG;
  }
  else if (p->specType == VIXDISKLIB_SPEC_DATASTORE
           && !(p->serverName && *p->serverName)
           && p->spec.dsSpec.datastoreMoRef && *p->spec.dsSpec.datastoreMoRef
           && numberOfDisks == 1 && fcd_id_like (diskNames[0]))
    err = open_fcd_of (p, diskNames[0], flags, own, h);
  VixDiskLib_FreeConnectParams (p);
  if (err != VIX_OK && !why[0]) {
    char *txt = VixDiskLib_GetErrorText (err, NULL);
    snprintf (why, whysz, "%s: %s", diskNames[0], txt ? txt : "cannot open");
    VixDiskLib_FreeErrorText (txt);
  }
  return err;
}
