/* VixDiskLib on first class disks: a local connection whose spec is a
 * vStorageObjSpec opens a disk of libvdisk's FCD catalog. */
#include "vix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- first class disks (VIXDISKLIB_SPEC_VSTORAGE_OBJECT) ----------------- */
/* vStorageObjSpec {id, datastoreMoRef, ssId} of a local connection names
 * an FCD of libvdisk's catalog (vd_fcd_*): datastoreMoRef is the
 * datastore folder, id the FCD's UUID (or a unique prefix), ssId NULL or
 * "" for the FCD itself, else that snapshot (read-only).  Open takes NULL
 * or the FCD's UUID as the path.  PrepareForAccess/EndAccess with such a
 * spec mark and clear "relocation disabled" (vd_fcd_relocate refuses
 * meanwhile).  Hooks in VixDiskLib_Open (handle.c),
 * VixDiskLib_Clone (manage.c), PrepareForAccess and EndAccess (connect.c). */

int
vix_fcd_spec (const VixDiskLibConnectParams *p)
{
  return p && !vix_is_remote (p) && p->specType == VIXDISKLIB_SPEC_VSTORAGE_OBJECT;
}

static VixError
fcd_store (const VixDiskLibConnectParams *p, const char *func,
           vd_fcd_store **s)
{
  const VixDiskLibVStorageObjectSpec *o = &p->spec.vStorageObjSpec;
  int rc;

  *s = NULL;
  if (!o->id || !*o->id)
    return vix_error (VIX_E_INVALID_ARG, func, "vStorageObjSpec.id (the "
                      "first class disk's UUID) is not set");
  if (!o->datastoreMoRef || !*o->datastoreMoRef)
    return vix_error (VIX_E_INVALID_ARG, func, "vStorageObjSpec."
                      "datastoreMoRef (the datastore folder) is not set");
  rc = vd_fcd_store_open (s, o->datastoreMoRef, 0);
  return rc < 0 ? vd_to_vix (rc, func) : VIX_OK;
}

/* The disk of an FCD connection; path: NULL, "" or the FCD's UUID. */
VixError
vix_fcd_open (const struct VixDiskLibConnectParam *c, const char *path,
          uint32_t vd_flags, vd_disk **disk)
{
  const char *func = "VixDiskLib_Open";
  const VixDiskLibVStorageObjectSpec *o = &c->params.spec.vStorageObjSpec;
  vd_fcd_store *s;
  char want[VD_FCD_ID_SIZE], got[VD_FCD_ID_SIZE];
  VixError err = fcd_store (&c->params, func, &s);
  int rc;

  if (err != VIX_OK)
    return err;
  rc = vd_fcd_resolve (s, o->id, want);
  if (rc == 0 && path && *path) {
    rc = vd_fcd_resolve (s, path, got);
    if (rc == 0 && strcmp (want, got) != 0) {
      vd_fcd_store_close (s);
      return vix_error (VIX_E_INVALID_ARG, func, "path \"%s\" is not the "
                        "first class disk %s the connection names", path,
                        want);
    }
  }
  if (rc == 0)
    rc = vd_fcd_open (disk, s, want, o->ssId, vd_flags);
  vd_fcd_store_close (s);
  if (rc < 0)
    return vd_to_vix (rc, func);
  vix_log (LOG_INFO, "VixDiskLib: first class disk %s%s%s of %s\n", want,
           o->ssId && *o->ssId ? " at snapshot " : "",
           o->ssId && *o->ssId ? o->ssId : "", o->datastoreMoRef);
  return VIX_OK;
}

VixError
vix_fcd_access (const VixDiskLibConnectParams *p, const char *func, int disabled)
{
  vd_fcd_store *s;
  VixError err = fcd_store (p, func, &s);
  int rc;

  if (err != VIX_OK)
    return err;
  rc = vd_fcd_set_relocation_disabled (s, p->spec.vStorageObjSpec.id,
                                       disabled);
  vd_fcd_store_close (s);
  return rc < 0 ? vd_to_vix (rc, func) : VIX_OK;
}


/* ---- first class disks on a `vdisk serve` server ------------------------ */
/* With serverName set (and the connection made by remote.c, not vSphere)
 * the vStorageObjSpec names an FCD of the served datastore's catalog:
 * the plugin's export "fcd:ID[@SSID]", prefixed "[datastoreMoRef] " when
 * datastoreMoRef is set (the server checks it against its
 * --datastore-name).  A snapshot is served read-only. */

int
vix_fcd_remote (const struct VixDiskLibConnectParam *c)
{
  return c && c->remote && !c->vsphere
         && c->params.specType == VIXDISKLIB_SPEC_VSTORAGE_OBJECT;
}

VixError
vix_fcd_remote_open (const struct VixDiskLibConnectParam *c, const char *path,
                     uint32_t vd_flags, vd_disk **disk)
{
  const char *func = "VixDiskLib_Open";
  const VixDiskLibVStorageObjectSpec *o = &c->params.spec.vStorageObjSpec;
  const char *id = o->id, *ds = o->datastoreMoRef;
  int snap = o->ssId && *o->ssId;
  char *export = NULL;
  VixError err;

  if (!id || !*id)
    return vix_error (VIX_E_INVALID_ARG, func, "vStorageObjSpec.id (the "
                      "first class disk's UUID) is not set");
  if (path && *path) {
    /* the FCD's UUID: the ID of the spec or one it is a prefix of */
    size_t n = strlen (id) < strlen (path) ? strlen (id) : strlen (path);
    if (strncasecmp (path, id, n) != 0)
      return vix_error (VIX_E_INVALID_ARG, func, "path \"%s\" is not the "
                        "first class disk %s the connection names", path, id);
    if (strlen (path) > strlen (id))
      id = path;
  }
  if (asprintf (&export, "%s%s%sfcd:%s%s%s", ds && *ds ? "[" : "",
                ds && *ds ? ds : "", ds && *ds ? "] " : "", id,
                snap ? "@" : "", snap ? o->ssId : "") < 0)
    return vix_error (VIX_E_OUT_OF_MEMORY, func, "export name");
  err = vix_remote_open (c, export, snap ? VD_OPEN_READ_ONLY : vd_flags,
                         disk, func);
  if (err != VIX_OK) {
    free (export);
    return err;
  }
  vix_log (LOG_INFO, "VixDiskLib: first class disk \"%s\" on %s\n", export,
           c->params.serverName);
  free (export);
  return VIX_OK;
}
