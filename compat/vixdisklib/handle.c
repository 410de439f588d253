/* libvixDiskLib disk handles: Open/OpenEx/Close, GetInfo and the disk
 * database's metadata keys (GetMetadataKeys, ReadMetadata, WriteMetadata).
 * The handle's I/O is in io.c.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vix.h"

/* ---- handles --------------------------------------------------------- */

VixError
vix_check_handle (const struct VixDiskLibHandleStruct *h, const char *func)
{
  if (h && h->magic == HANDLE_CLOSED)
    return vix_error (VIX_E_INVALID_ARG, func, "the disk handle was closed "
                      "by VixDiskLib_Exit (its writes were flushed); only "
                      "VixDiskLib_Close may still be called on it");
  if (!h || h->magic != HANDLE_MAGIC)
    return vix_error (VIX_E_INVALID_ARG, func,
                      "the disk handle is NULL or not valid");
  return VIX_OK;
}

int
vix_open_flags (uint32 vix_flags, const struct VixDiskLibConnectParam *c)
{
  uint32 f = 0;

  /* ConnectEx's readOnly is a hint for the transport: for local files
   * VMware documents ConnectEx as equivalent to Connect, so only the open
   * flag makes a local handle read-only (a writable open is writable or
   * fails at Open, never silently downgraded). */
  if ((vix_flags & VIXDISKLIB_FLAG_OPEN_READ_ONLY)
      || (c->read_only && c->remote))
    f |= VD_OPEN_READ_ONLY;
  if (vix_flags & VIXDISKLIB_FLAG_OPEN_SINGLE_LINK)
    f |= VD_OPEN_SINGLE_LINK;
  if (vix_flags & VIXDISKLIB_FLAG_OPEN_UNBUFFERED)
    f |= VD_OPEN_UNBUFFERED;
  if (vix_trusted ())
    f |= VD_OPEN_TRUSTED;
  /* COMPRESSION_* only change the network wire format: nothing to do for
   * local files. */
  return (int) f;
}

/* The one open dispatch of Open and Clone: the disk of connection c that
 * path names on vSphere (vsphere.c), as a first class disk of the local
 * catalog or of a server (fcd.c), on a `vdisk serve` datastore (remote.c)
 * or as a local file.  *vs gets a vSphere disk's data (NULL otherwise);
 * *name the name to log (path, or the first class disk's ID). */
VixError
vix_open_source (const struct VixDiskLibConnectParam *c, const char *path,
                 uint32 vix_flags, vd_disk **disk, struct vix_vs_disk **vs,
                 const char **name, const char *func)
{
  uint32_t f = (uint32_t) vix_open_flags (vix_flags, c);
  VixError err;
  int rc;

  *disk = NULL;
  *vs = NULL;
  *name = path;
  if (c->vsphere) {                     /* ESXi / vCenter (vsphere.c) */
    err = vix_vsphere_open (c, path, vix_flags, disk, vs, func);
    if (err == VIX_OK && (!path || !*path))
      *name = c->params.spec.vStorageObjSpec.id;
    return err;
  }
  if (vix_fcd_spec (&c->params) || vix_fcd_remote (c)) { /* first class disk */
    err = vix_fcd_spec (&c->params) ? vix_fcd_open (c, path, f, disk)
      : vix_fcd_remote_open (c, path, f, disk);
    if (err == VIX_OK)
      *name = c->params.spec.vStorageObjSpec.id;
    return err;
  }
  if (!path || !*path)
    return vix_error (VIX_E_INVALID_ARG, func, "the disk path is empty");
  if (c->remote)   /* a datastore path ("[ds] vm/disk.vmdk") names the export */
    return vix_remote_open (c, path, f, disk, func);
  rc = vd_disk_open (disk, path, f);
  return rc < 0 ? vd_to_vix (rc, func) : VIX_OK;
}

VIX_API VixError
VixDiskLib_Open (const VixDiskLibConnection connection, const char *path,
                 uint32 flags, VixDiskLibHandle *diskHandle)
{
  const char *func = "VixDiskLib_Open";
  struct VixDiskLibHandleStruct *h;
  VixError err;
  struct vix_vs_disk *vs = NULL;
  vd_disk *disk;

  if (!diskHandle)
    return vix_error (VIX_E_INVALID_ARG, func, "handle pointer is NULL");
  *diskHandle = NULL;
  if ((err = vix_check_conn (connection, func)) != VIX_OK)
    return err;
  err = vix_open_source (connection, path, flags, &disk, &vs, &path, func);
  if (err != VIX_OK)
    return err;

  h = calloc (1, sizeof *h);
  if (!h) {
    vix_vs_disk_free (vs);
    vd_disk_close (disk);
    return vix_error (VIX_E_OUT_OF_MEMORY, func, "%s: cannot allocate handle",
                      path);
  }
  h->magic = HANDLE_MAGIC;
  h->disk = disk;
  h->vs = vs;
  h->flags = flags;
  h->capacity = vd_disk_get_size (disk) / VIXDISKLIB_SECTOR_SIZE;
  h->transport = connection->remote ? connection->transport
    : VIXDISKLIB_TRANSPORT_FILE;
  h->pid = getpid ();
  h->stream_writer = !vd_disk_is_read_only (disk)
    && vd_disk_get_type (disk) == VD_TYPE_STREAM_OPTIMIZED;
  pthread_mutex_init (&h->lock, NULL);
  pthread_cond_init (&h->work_cond, NULL);
  pthread_cond_init (&h->idle_cond, NULL);
  vix_register_handle (h);
  vix_log (LOG_INFO, "VixDiskLib: opened %s (%s, %llu sectors, flags 0x%x, "
           "transport %s)\n", path, vd_disk_get_create_type (disk),
           (unsigned long long) h->capacity, flags, h->transport);
  *diskHandle = h;
  return VIX_OK;
}

VIX_API VixError
VixDiskLib_OpenEx (const VixDiskLibConnection connection,
                   const VixDiskLibOpenParams *openParams,
                   VixDiskLibHandle *diskHandle)
{
  if (!openParams) {
    if (diskHandle)
      *diskHandle = NULL;
    return vix_error (VIX_E_INVALID_ARG, "VixDiskLib_OpenEx",
                      "open parameters are NULL");
  }
  return VixDiskLib_Open (connection, openParams->path, openParams->flags,
                          diskHandle);
}

int
vix_shutdown_handle (struct VixDiskLibHandleStruct *h)
{
  unsigned i;
  int rc;

  vix_wait_idle (h);
  pthread_mutex_lock (&h->lock);
  h->stopping = 1;
  pthread_cond_broadcast (&h->work_cond);
  pthread_mutex_unlock (&h->lock);
  for (i = 0; i < h->nthreads; i++)
    pthread_join (h->threads[i], NULL);
  h->nthreads = 0;
  rc = vd_disk_close (h->disk);
  h->disk = NULL;
  vix_vs_disk_free (h->vs);
  h->vs = NULL;
  pthread_cond_destroy (&h->idle_cond);
  pthread_cond_destroy (&h->work_cond);
  pthread_mutex_destroy (&h->lock);
  return rc;
}

VIX_API VixError
VixDiskLib_Close (VixDiskLibHandle diskHandle)
{
  const char *func = "VixDiskLib_Close";
  struct VixDiskLibHandleStruct *h = diskHandle;
  VixError err;
  int rc;

  if (h && h->magic == HANDLE_CLOSED) {
    /* closed (and flushed) by Exit: now it is freed */
    vix_unregister_handle (h);
    h->magic = 0;
    free (h);
    return VIX_OK;
  }
  if ((err = vix_check_handle (h, func)) != VIX_OK)
    return err;
  vix_unregister_handle (h);
  h->magic = 0;
  rc = vix_shutdown_handle (h);
  free (h);
  if (rc < 0)
    return vd_to_vix (rc, func);
  return VIX_OK;
}

static VixDiskLibAdapterType
adapter_to_vix (enum vd_adapter a)
{
  switch (a) {
  case VD_ADAPTER_IDE: return VIXDISKLIB_ADAPTER_IDE;
  case VD_ADAPTER_BUSLOGIC: return VIXDISKLIB_ADAPTER_SCSI_BUSLOGIC;
  case VD_ADAPTER_LSILOGIC: return VIXDISKLIB_ADAPTER_SCSI_LSILOGIC;
  default: return VIXDISKLIB_ADAPTER_UNKNOWN;
  }
}

static char *
strdup_or_null (const char *s)
{
  return s ? strdup (s) : NULL;
}

VIX_API VixError
VixDiskLib_GetInfo (VixDiskLibHandle diskHandle, VixDiskLibInfo **info)
{
  const char *func = "VixDiskLib_GetInfo";
  struct VixDiskLibHandleStruct *h = diskHandle;
  VixError err = vix_check_handle (h, func);
  struct vd_geometry phys, bios;
  const char *parent, *uuid;
  VixDiskLibInfo *i;

  if (err != VIX_OK)
    return err;
  if (!info)
    return vix_error (VIX_E_INVALID_ARG, func, "output pointer is NULL");
  *info = NULL;
  i = calloc (1, sizeof *i);
  if (!i)
    return vix_error (VIX_E_OUT_OF_MEMORY, func, "cannot allocate info");

  vd_disk_get_geometry (h->disk, &phys, &bios);
  i->physGeo.cylinders = phys.cylinders;
  i->physGeo.heads = phys.heads;
  i->physGeo.sectors = phys.sectors;
  if (bios.cylinders == 0 && bios.heads == 0 && bios.sectors == 0)
    bios = phys;              /* no ddb.geometry.bios*: same as physical */
  i->biosGeo.cylinders = bios.cylinders;
  i->biosGeo.heads = bios.heads;
  i->biosGeo.sectors = bios.sectors;
  i->capacity = h->capacity;
  i->adapterType = adapter_to_vix (vd_disk_get_adapter (h->disk));
  i->numLinks = (int) vd_disk_get_link_count (h->disk);
  i->logicalSectorSize = VIXDISKLIB_SECTOR_SIZE;
  i->physicalSectorSize = VIXDISKLIB_SECTOR_SIZE;
  parent = vd_disk_get_parent_hint (h->disk);
  uuid = vd_disk_get_uuid (h->disk);
  i->parentFileNameHint = strdup_or_null (parent);
  i->uuid = strdup_or_null (uuid);
  if ((parent && !i->parentFileNameHint) || (uuid && !i->uuid)) {
    VixDiskLib_FreeInfo (i);
    return vix_error (VIX_E_OUT_OF_MEMORY, func, "cannot allocate info");
  }
  *info = i;
  return VIX_OK;
}

VIX_API void
VixDiskLib_FreeInfo (VixDiskLibInfo *info)
{
  if (!info)
    return;
  free (info->parentFileNameHint);
  free (info->uuid);
  free (info);
}

VIX_API const char *
VixDiskLib_GetTransportMode (VixDiskLibHandle diskHandle)
{
  if (vix_check_handle (diskHandle, "VixDiskLib_GetTransportMode") != VIX_OK)
    return VIXDISKLIB_TRANSPORT_FILE;
  return diskHandle->transport;
}

int
vix_local_flags (uint32 vix_flags)
{
  struct VixDiskLibConnectParam c;
  memset (&c, 0, sizeof c);
  return vix_open_flags (vix_flags, &c);
}

int
vix_is_local (const struct VixDiskLibHandleStruct *h)
{
  return strcmp (h->transport, VIXDISKLIB_TRANSPORT_FILE) == 0;
}

/* ---- metadata -------------------------------------------------------- */

#define DDB "ddb."

/* "adapterType" -> "ddb.adapterType" (a key already starting with "ddb."
 * is taken as is). */
static char *
ddb_key (const char *key)
{
  char *k;

  if (!strncmp (key, DDB, strlen (DDB)))
    return strdup (key);
  k = malloc (strlen (DDB) + strlen (key) + 1);
  if (k) {
    strcpy (k, DDB);
    strcat (k, key);
  }
  return k;
}

static const char *
strip_ddb (const char *key)
{
  return strncmp (key, DDB, strlen (DDB)) ? key : key + strlen (DDB);
}

VIX_API VixError
VixDiskLib_GetMetadataKeys (VixDiskLibHandle diskHandle, char *keysBuffer,
                            size_t bufLen, size_t *requiredLen)
{
  const char *func = "VixDiskLib_GetMetadataKeys";
  struct VixDiskLibHandleStruct *h = diskHandle;
  VixError err = vix_check_handle (h, func);
  unsigned i, n;
  size_t need = 1, pos = 0;

  if (err != VIX_OK)
    return err;
  n = vd_disk_get_meta_count (h->disk);
  for (i = 0; i < n; i++) {
    const char *k = vd_disk_get_meta_key (h->disk, i);
    if (k)
      need += strlen (strip_ddb (k)) + 1;
  }
  if (requiredLen)
    *requiredLen = need;
  if (!keysBuffer || bufLen < need)
    return VIX_E_BUFFER_TOOSMALL;  /* the size protocol, not a failure */
  for (i = 0; i < n; i++) {
    const char *k = vd_disk_get_meta_key (h->disk, i);
    size_t l;
    if (!k)
      continue;
    k = strip_ddb (k);
    l = strlen (k) + 1;
    memcpy (keysBuffer + pos, k, l);
    pos += l;
  }
  keysBuffer[pos] = '\0';
  return VIX_OK;
}

VIX_API VixError
VixDiskLib_ReadMetadata (VixDiskLibHandle diskHandle, const char *key,
                         char *buf, size_t bufLen, size_t *requiredLen)
{
  const char *func = "VixDiskLib_ReadMetadata";
  struct VixDiskLibHandleStruct *h = diskHandle;
  VixError err = vix_check_handle (h, func);
  const char *val;
  char *k;
  size_t need;

  if (err != VIX_OK)
    return err;
  if (!key || !*key)
    return vix_error (VIX_E_INVALID_ARG, func, "the key is empty");
  struct vd_cbt_info ci;
  if (strcmp (key, "changeId") == 0 && h->vs) {
    /* a vSphere disk: the VM's changeId for it (vsphere.c) */
    if (!(val = vix_vsphere_change_id (h)))
      return vix_error (VIX_E_DISK_KEY_NOTFOUND, func, "%s: the VM reports "
                        "no changeId for this disk (changed block tracking "
                        "is off, or the disk is no VM's)",
                        vd_disk_get_path (h->disk));
  }
  else if (strcmp (key, "changeId") == 0) {
    /* Not a ddb key: the disk's current change ID, for the
     * QueryChangedAreas of the next backup (vdisk's tracking). */
    if (vd_disk_get_cbt (h->disk, &ci) < 0 || ci.state != VD_CBT_ON)
      return vix_error (VIX_E_DISK_KEY_NOTFOUND, func, "%s: changed block "
                        "tracking is not on, so there is no changeId",
                        vd_disk_get_path (h->disk));
    val = ci.change_id;
  }
  else {
    if (!(k = ddb_key (key)))
      return vix_error (VIX_E_OUT_OF_MEMORY, func, "out of memory");
    val = vd_disk_get_meta (h->disk, k);
    free (k);
  }
  if (!val)
    return vix_error (VIX_E_DISK_KEY_NOTFOUND, func,
                      "%s: the disk database has no key \"%s\"",
                      vd_disk_get_path (h->disk), key);
  need = strlen (val) + 1;
  if (requiredLen)
    *requiredLen = need;
  if (!buf || bufLen < need)
    return VIX_E_BUFFER_TOOSMALL;
  memcpy (buf, val, need);
  return VIX_OK;
}

VIX_API VixError
VixDiskLib_WriteMetadata (VixDiskLibHandle diskHandle, const char *key,
                          const char *val)
{
  const char *func = "VixDiskLib_WriteMetadata";
  struct VixDiskLibHandleStruct *h = diskHandle;
  VixError err = vix_check_handle (h, func);
  char *k;
  int rc;

  if (err != VIX_OK)
    return err;
  if (!key || !*key)
    return vix_error (VIX_E_INVALID_ARG, func, "the key is empty");
  if (!(k = ddb_key (key)))
    return vix_error (VIX_E_OUT_OF_MEMORY, func, "out of memory");
  /* VDDK cannot delete keys: NULL is stored as an empty value. */
  rc = vd_disk_set_meta (h->disk, k, val ? val : "");
  free (k);
  return rc < 0 ? vd_to_vix (rc, func) : VIX_OK;
}
