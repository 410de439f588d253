/* libvixDiskLib disk management: Create, Clone, CheckRepair, CreateChild,
 * SpaceNeededForClone, Grow, Shrink, Defragment, Rename, Unlink, Attach
 * and IsAttachPossible, and the progress adapter they share.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vix.h"

static int
adapter_from_vix (VixDiskLibAdapterType a, enum vd_adapter *out)
{
  switch (a) {
  case VIXDISKLIB_ADAPTER_IDE: *out = VD_ADAPTER_IDE; return 0;
  case VIXDISKLIB_ADAPTER_SCSI_BUSLOGIC: *out = VD_ADAPTER_BUSLOGIC; return 0;
  case VIXDISKLIB_ADAPTER_SCSI_LSILOGIC: *out = VD_ADAPTER_LSILOGIC; return 0;
  default: return -1;
  }
}

static int
type_from_vix (VixDiskLibDiskType t, enum vd_type *out)
{
  switch (t) {
  case VIXDISKLIB_DISK_MONOLITHIC_SPARSE:
    *out = VD_TYPE_MONOLITHIC_SPARSE; return 0;
  case VIXDISKLIB_DISK_MONOLITHIC_FLAT: *out = VD_TYPE_MONOLITHIC_FLAT; return 0;
  case VIXDISKLIB_DISK_SPLIT_SPARSE: *out = VD_TYPE_SPLIT_SPARSE; return 0;
  case VIXDISKLIB_DISK_SPLIT_FLAT: *out = VD_TYPE_SPLIT_FLAT; return 0;
  case VIXDISKLIB_DISK_VMFS_FLAT: *out = VD_TYPE_VMFS; return 0;
  case VIXDISKLIB_DISK_STREAM_OPTIMIZED:
    *out = VD_TYPE_STREAM_OPTIMIZED; return 0;
  case VIXDISKLIB_DISK_VMFS_THIN: *out = VD_TYPE_VMFS_THIN; return 0;
  case VIXDISKLIB_DISK_VMFS_SPARSE: *out = VD_TYPE_VMFS_SPARSE; return 0;
  default: return -1;
  }
}

/* ---- progress -------------------------------------------------------- */

/* The one adapter from libvdisk's progress (done of total bytes or steps)
 * to a VixDiskLibProgressFunc percentage: reported when it changes, 100
 * when total is 0 or done reaches it; FALSE from the caller cancels. */
int
vix_progress_cb (uint64_t done, uint64_t total, void *payload)
{
  struct vix_progress *c = payload;
  int pct;

  if (!c->fn)
    return 0;
  pct = total ? (int) (done >= total ? 100 : done * 100 / total) : 100;
  if (pct == c->last)
    return 0;
  c->last = pct;
  return c->fn (c->data, pct) ? 0 : 1;   /* FALSE from the caller: cancel */
}

/* ---- create, clone, check -------------------------------------------- */

static VixError
fill_create_params (struct vd_create_params *p,
                    const VixDiskLibCreateParams *cp, const char *func,
                    const char *path)
{
  vd_create_params_init (p);
  if (type_from_vix (cp->diskType, &p->type) < 0)
    return vix_error (VIX_E_INVALID_ARG, func, "%s: disk type %d is not "
                      "valid", path, (int) cp->diskType);
  if (adapter_from_vix (cp->adapterType, &p->adapter) < 0)
    return vix_error (VIX_E_INVALID_ARG, func, "%s: adapter type %d is not "
                      "valid", path, (int) cp->adapterType);
  if ((cp->logicalSectorSize && cp->logicalSectorSize != 512)
      || (cp->physicalSectorSize && cp->physicalSectorSize != 512))
    return vix_error (VIX_E_NOT_SUPPORTED, func, "%s: sector sizes %u/%u: "
                      "vdisk supports only 512-byte sectors", path,
                      cp->logicalSectorSize, cp->physicalSectorSize);
  if (cp->hwVersion)
    p->hw_version = cp->hwVersion;
  return VIX_OK;
}

VIX_API VixError
VixDiskLib_Create (const VixDiskLibConnection connection, const char *path,
                   const VixDiskLibCreateParams *createParams,
                   VixDiskLibProgressFunc progressFunc,
                   void *progressCallbackData)
{
  const char *func = "VixDiskLib_Create";
  struct vd_create_params p;
  VixError err;
  int rc;

  if ((err = vix_check_conn (connection, func)) != VIX_OK)
    return err;
  if (!path || !*path || !createParams)
    return vix_error (VIX_E_INVALID_ARG, func,
                      "the path or the create parameters are missing");
  if ((err = fill_create_params (&p, createParams, func, path)) != VIX_OK)
    return err;
  if (createParams->capacity == 0
      || createParams->capacity > UINT64_MAX / VIXDISKLIB_SECTOR_SIZE)
    return vix_error (VIX_E_INVALID_ARG, func, "%s: capacity of %llu "
                      "sectors is not valid", path,
                      (unsigned long long) createParams->capacity);
  p.capacity = createParams->capacity * VIXDISKLIB_SECTOR_SIZE;
  if (progressFunc)
    progressFunc (progressCallbackData, 0);
  rc = vd_disk_create (path, &p);
  if (rc < 0)
    return vd_to_vix (rc, func);
  if (progressFunc)
    progressFunc (progressCallbackData, 100);
  vix_log (LOG_INFO, "VixDiskLib: created %s (%s, %llu sectors)\n", path,
           vd_type_name (p.type), (unsigned long long) createParams->capacity);
  return VIX_OK;
}

VIX_API VixError
VixDiskLib_Clone (const VixDiskLibConnection dstConnection,
                  const char *dstPath,
                  const VixDiskLibConnection srcConnection,
                  const char *srcPath,
                  const VixDiskLibCreateParams *vixCreateParams,
                  VixDiskLibProgressFunc progressFunc,
                  void *progressCallbackData, Bool overWrite)
{
  const char *func = "VixDiskLib_Clone";
  struct vix_progress pc = { progressFunc, progressCallbackData, -1 };
  struct vd_create_params p;
  vd_disk *src;
  VixError err;
  int rc;

  if ((err = vix_check_conn (dstConnection, func)) != VIX_OK
      || (err = vix_check_conn (srcConnection, func)) != VIX_OK)
    return err;
  if (!dstPath || !*dstPath || !vixCreateParams
      || ((!srcPath || !*srcPath) && !vix_fcd_spec (&srcConnection->params)
          && !vix_fcd_remote (srcConnection)))
    return vix_error (VIX_E_INVALID_ARG, func,
                      "source, destination or create parameters missing");
  if ((err = fill_create_params (&p, vixCreateParams, func, dstPath))
      != VIX_OK)
    return err;
  if (overWrite)
    p.flags |= VD_CREATE_OVERWRITE;

  if (dstConnection->vsphere)         /* onto ESXi / vCenter (vsphere.c) */
    return vix_vsphere_clone_to (dstConnection, dstPath, srcConnection,
                                 srcPath, overWrite, &pc, func);
  {
    struct vix_vs_disk *vs;
    const char *name;
    if ((err = vix_open_source (srcConnection, srcPath,
                                VIXDISKLIB_FLAG_OPEN_READ_ONLY, &src, &vs,
                                &name, func)) != VIX_OK)
      return err;
    vix_vs_disk_free (vs);
  }
  if (dstConnection->remote) {
    err = vix_remote_clone (dstConnection, dstPath, src, &p, &pc, func);
    vd_disk_close (src);
    if (err == VIX_OK && progressFunc && pc.last != 100)
      progressFunc (progressCallbackData, 100);
    return err;
  }
  rc = vd_disk_convert (src, dstPath, &p, vix_progress_cb, &pc);
  if (rc < 0) {
    err = vd_to_vix (rc, func);
    vd_disk_close (src);
    return err;
  }
  vd_disk_close (src);
  if (progressFunc && pc.last != 100)
    progressFunc (progressCallbackData, 100);
  vix_log (LOG_INFO, "VixDiskLib: cloned %s to %s (%s)\n", srcPath ? srcPath : "(first class disk)", dstPath,
           vd_type_name (p.type));
  return VIX_OK;
}

struct check_ctx {
  uint64 reported;
};

static void
check_message (int severity, const char *message, void *payload)
{
  struct check_ctx *c = payload;

  c->reported++;
  vix_log (severity == VD_CHECK_SEVERITY_INFO ? LOG_INFO : LOG_WARN,
           "VixDiskLib: check: %s\n", message);
}

VIX_API VixError
VixDiskLib_CheckRepair (const VixDiskLibConnection connection,
                        const char *filename, Bool repair)
{
  const char *func = "VixDiskLib_CheckRepair";
  struct vd_check_result res;
  struct check_ctx c = { 0 };
  VixError err;
  int rc;

  if ((err = vix_check_conn (connection, func)) != VIX_OK)
    return err;
  if (!filename || !*filename)
    return vix_error (VIX_E_INVALID_ARG, func, "the file name is empty");
  memset (&res, 0, sizeof res);
  res.struct_size = sizeof res;
  rc = vd_check (filename,
                 (uint32_t) vix_open_flags (VIXDISKLIB_FLAG_OPEN_READ_ONLY,
                                        connection),
                 &res, check_message, &c);
  if (rc < 0)
    return vd_to_vix (rc, func);
  if (res.corruptions > 0) {
    if (repair)
      return vix_error (VIX_E_DISK_CANTREPAIR, func,
                        "%s: %llu corruptions found; vdisk cannot repair "
                        "disks yet (repair is not supported)", filename,
                        (unsigned long long) res.corruptions);
    return vix_error (VIX_E_DISK_NEEDSREPAIR, func,
                      "%s: %llu corruptions found", filename,
                      (unsigned long long) res.corruptions);
  }
  if (res.leaks > 0)
    vix_log (LOG_WARN, "VixDiskLib: %s: %llu leaked grains (no data is "
             "lost)%s\n", filename, (unsigned long long) res.leaks,
             repair ? "; vdisk cannot reclaim them yet" : "");
  vix_log (LOG_INFO, "VixDiskLib: %s: check done: %llu grains allocated, "
           "%llu warnings%s\n", filename, (unsigned long long) res.allocated,
           (unsigned long long) res.warnings,
           res.unclean ? ", unclean shutdown flag set" : "");
  return VIX_OK;
}

/* ---- child disks ---------------------------------------------------- */

/* A redo log over the open parent.  The parent handle refuses writes from
 * then on (they would break the child). */
VIX_API VixError
VixDiskLib_CreateChild (VixDiskLibHandle diskHandle, const char *childPath,
                        VixDiskLibDiskType diskType,
                        VixDiskLibProgressFunc progressFunc,
                        void *progressCallbackData)
{
  const char *func = "VixDiskLib_CreateChild";
  struct VixDiskLibHandleStruct *h = diskHandle;
  VixError err = vix_check_handle (h, func);
  enum vd_type type;
  int rc;

  if (err != VIX_OK)
    return err;
  if (!childPath || !*childPath)
    return vix_error (VIX_E_INVALID_ARG, func, "the child path is empty");
  if (diskType == VIXDISKLIB_DISK_MONOLITHIC_SPARSE)
    type = VD_TYPE_MONOLITHIC_SPARSE;
  else if (diskType == VIXDISKLIB_DISK_SPLIT_SPARSE)
    type = VD_TYPE_SPLIT_SPARSE;
  else
    return vix_error (VIX_E_NOT_SUPPORTED, func, "%s: child disk type %d: "
                      "vdisk makes hosted sparse children only "
                      "(MONOLITHIC_SPARSE or SPLIT_SPARSE)", childPath,
                      (int) diskType);
  /* Let queued writes reach the parent before it is frozen. */
  vix_wait_idle (h);
  if (progressFunc)
    progressFunc (progressCallbackData, 0);
  rc = vd_disk_create_child (h->disk, childPath, type, 0);
  if (rc < 0)
    return vd_to_vix (rc, func);
  if (progressFunc)
    progressFunc (progressCallbackData, 100);
  vix_log (LOG_INFO, "VixDiskLib: created child %s of %s\n", childPath,
           vd_disk_get_path (h->disk));
  return VIX_OK;
}

/* ---- disk management ------------------------------------------------ */

VIX_API VixError
VixDiskLib_SpaceNeededForClone (VixDiskLibHandle diskHandle,
                                VixDiskLibDiskType cloneDiskType,
                                uint64 *spaceNeeded)
{
  const char *func = "VixDiskLib_SpaceNeededForClone";
  struct VixDiskLibHandleStruct *h = diskHandle;
  VixError err = vix_check_handle (h, func);
  enum vd_type type;
  uint64_t bytes = 0;
  int rc;

  if (err != VIX_OK)
    return err;
  if (!spaceNeeded)
    return vix_error (VIX_E_INVALID_ARG, func, "spaceNeeded is NULL");
  *spaceNeeded = 0;
  if (type_from_vix (cloneDiskType, &type) < 0)
    return vix_error (VIX_E_INVALID_ARG, func, "unknown disk type %d",
                      (int) cloneDiskType);
  vix_wait_idle (h);
  rc = vd_disk_space_needed (h->disk, type, &bytes);
  if (rc < 0)
    return vd_to_vix (rc, func);
  *spaceNeeded = bytes;
  return VIX_OK;
}

VIX_API VixError
VixDiskLib_Grow (VixDiskLibConnection connection, const char *path,
                 VixDiskLibSectorType capacityInSectors, Bool updateGeometry,
                 VixDiskLibProgressFunc progressFunc,
                 void *progressCallbackData)
{
  const char *func = "VixDiskLib_Grow";
  struct vix_progress vp = { progressFunc, progressCallbackData, -1 };
  VixError err;
  int rc;

  if ((err = vix_check_conn (connection, func)) != VIX_OK)
    return err;
  if (connection->remote)
    return vix_not_supported (func, "growing a disk over the network");
  if (!path || !*path)
    return vix_error (VIX_E_INVALID_ARG, func, "the disk path is empty");
  if (capacityInSectors == 0
      || capacityInSectors > UINT64_MAX / VIXDISKLIB_SECTOR_SIZE)
    return vix_error (VIX_E_INVALID_ARG, func, "%s: bad capacity %llu "
                      "sectors", path, (unsigned long long) capacityInSectors);
  rc = vd_disk_grow (path, capacityInSectors * VIXDISKLIB_SECTOR_SIZE,
                     ((uint32_t) vix_local_flags (0) & VD_OPEN_TRUSTED)
                     | (updateGeometry ? VD_GROW_UPDATE_GEOMETRY : 0),
                     vix_progress_cb, &vp);
  return rc < 0 ? vd_to_vix (rc, func) : VIX_OK;
}

/* Shrink and Defragment work on closed disks: the handle's disk is closed,
 * rewritten and opened again with the same flags. */
static VixError
rewrite_open_disk (VixDiskLibHandle diskHandle, int defrag,
                   VixDiskLibProgressFunc progressFunc, void *data)
{
  const char *func = defrag ? "VixDiskLib_Defragment" : "VixDiskLib_Shrink";
  struct VixDiskLibHandleStruct *h = diskHandle;
  struct vix_progress vp = { progressFunc, data, -1 };
  VixError err = vix_check_handle (h, func);
  uint32_t f;
  char *path;
  int rc, rc2;

  if (err != VIX_OK)
    return err;
  if (!vix_is_local (h))
    return vix_not_supported (func, "rewriting a disk over the network");
  /* allowed on read-only handles too: the content does not change */
  vix_wait_idle (h);
  path = strdup (vd_disk_get_path (h->disk));
  if (!path)
    return vix_error (VIX_E_OUT_OF_MEMORY, func, "path");
  f = (uint32_t) vix_local_flags (h->flags);
  vd_disk_close (h->disk);
  h->disk = NULL;
  rc = defrag ? vd_disk_defragment (path, f & VD_OPEN_TRUSTED,
                                    vix_progress_cb, &vp)
              : vd_disk_shrink (path, f & VD_OPEN_TRUSTED, vix_progress_cb,
                                &vp);
  err = rc < 0 ? vd_to_vix (rc, func) : VIX_OK;
  rc2 = vd_disk_open (&h->disk, path, f);
  if (rc2 == VD_EPARENT && !(f & VD_OPEN_READ_ONLY))
    /* a child made from this handle: writes stay refused */
    rc2 = vd_disk_open (&h->disk, path, f | VD_OPEN_READ_ONLY);
  if (rc2 < 0) {
    /* the handle cannot be used any more */
    h->disk = NULL;
    h->magic = 0;
    err = vd_to_vix (rc2, func);
  }
  free (path);
  return err;
}

VIX_API VixError
VixDiskLib_Shrink (VixDiskLibHandle diskHandle,
                   VixDiskLibProgressFunc progressFunc,
                   void *progressCallbackData)
{
  return rewrite_open_disk (diskHandle, 0, progressFunc,
                            progressCallbackData);
}

VIX_API VixError
VixDiskLib_Defragment (VixDiskLibHandle diskHandle,
                       VixDiskLibProgressFunc progressFunc,
                       void *progressCallbackData)
{
  return rewrite_open_disk (diskHandle, 1, progressFunc,
                            progressCallbackData);
}

VIX_API VixError
VixDiskLib_Rename (const char *srcFileName, const char *dstFileName)
{
  const char *func = "VixDiskLib_Rename";
  int rc;
  if (!srcFileName || !*srcFileName || !dstFileName || !*dstFileName)
    return vix_error (VIX_E_INVALID_ARG, func, "empty file name");
  rc = vd_disk_rename (srcFileName, dstFileName,
                       (uint32_t) vix_local_flags (0) & VD_OPEN_TRUSTED);
  return rc < 0 ? vd_to_vix (rc, func) : VIX_OK;
}

VIX_API VixError
VixDiskLib_Unlink (VixDiskLibConnection connection, const char *path)
{
  const char *func = "VixDiskLib_Unlink";
  VixError err;
  int rc;
  if ((err = vix_check_conn (connection, func)) != VIX_OK)
    return err;
  if (connection->remote)
    return vix_not_supported (func, "deleting a disk over the network");
  if (!path || !*path)
    return vix_error (VIX_E_INVALID_ARG, func, "the disk path is empty");
  rc = vd_disk_unlink (path, (uint32_t) vix_local_flags (0) & VD_OPEN_TRUSTED);
  return rc < 0 ? vd_to_vix (rc, func) : VIX_OK;
}

static VixError
attach_check (struct VixDiskLibHandleStruct *p,
              struct VixDiskLibHandleStruct *c, const char *func)
{
  VixError err;
  if ((err = vix_check_handle (p, func)) != VIX_OK
      || (err = vix_check_handle (c, func)) != VIX_OK)
    return err;
  if (!vix_is_local (p) || !vix_is_local (c))
    return vix_not_supported (func, "attaching disks over the network");
  if (p == c || strcmp (vd_disk_get_path (p->disk),
                        vd_disk_get_path (c->disk)) == 0)
    return vix_error (VIX_E_INVALID_ARG, func, "%s: a disk cannot be its "
                      "own parent", vd_disk_get_path (c->disk));
  if (vd_disk_get_size (p->disk) != vd_disk_get_size (c->disk))
    return vix_error (VIX_E_DISK_CAPACITY_MISMATCH, func, "%s: capacity "
                      "differs from the parent %s",
                      vd_disk_get_path (c->disk), vd_disk_get_path (p->disk));
  if (!vd_disk_get_parent_hint (c->disk))
    return vix_error (VIX_E_INVALID_ARG, func, "%s: is a base disk, not a "
                      "child", vd_disk_get_path (c->disk));
  return VIX_OK;
}

/* The child is re-parented onto the parent (vd_disk_attach on the closed
 * child), then opened again: its handle reads the new chain. */
VIX_API VixError
VixDiskLib_Attach (VixDiskLibHandle parent, VixDiskLibHandle child)
{
  const char *func = "VixDiskLib_Attach";
  struct VixDiskLibHandleStruct *p = parent, *c = child;
  VixError err = attach_check (p, c, func);
  char *cpath, *ppath;
  uint32_t f;
  int rc, rc2;

  if (err != VIX_OK)
    return err;
  vix_wait_idle (c);
  vix_wait_idle (p);
  cpath = strdup (vd_disk_get_path (c->disk));
  ppath = strdup (vd_disk_get_path (p->disk));
  if (!cpath || !ppath) {
    free (cpath);
    free (ppath);
    return vix_error (VIX_E_OUT_OF_MEMORY, func, "path");
  }
  f = (uint32_t) vix_local_flags (c->flags);
  vd_disk_close (c->disk);
  c->disk = NULL;
  rc = vd_disk_attach (cpath, ppath, f & VD_OPEN_TRUSTED);
  err = rc < 0 ? vd_to_vix (rc, func) : VIX_OK;
  rc2 = vd_disk_open (&c->disk, cpath, f);
  if (rc2 < 0) {
    c->disk = NULL;
    c->magic = 0;
    err = vd_to_vix (rc2, func);
  }
  free (cpath);
  free (ppath);
  return err;
}

VIX_API VixError
VixDiskLib_IsAttachPossible (VixDiskLibHandle parent, VixDiskLibHandle child)
{
  return attach_check (parent, child, "VixDiskLib_IsAttachPossible");
}
