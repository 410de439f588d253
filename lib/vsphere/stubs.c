/* The vSphere API when libvdisk is built without libcurl, libxml2 or
 * OpenSSL: every call says so (VD_ENOTSUP). */
#include "vsphere/vsphere-internal.h"

#ifndef VD_HAVE_VSPHERE

#define NO_VSPHERE() \
  vd__error (VD_ENOTSUP, 0, "this libvdisk was built without vSphere " \
            "support (libcurl, libxml2, OpenSSL)")

VD_API int
vd_vsphere_connect (vd_vsphere **out, const char *url, const char *user,
                    const char *password_or_file, uint32_t flags)
{
  VD_ENTER ();
  (void) url; (void) user; (void) password_or_file; (void) flags;
  if (out)
    *out = NULL;
  return NO_VSPHERE ();
}

VD_API void vd_vsphere_close (vd_vsphere *s) { (void) s; }

VD_API const char *
vd_vsphere_about (const vd_vsphere *s, int what)
{
  (void) s; (void) what;
  return NULL;
}

VD_API int
vd_vsphere_inventory (vd_vsphere *s, struct vd_vsphere_inventory **out)
{
  VD_ENTER ();
  (void) s;
  if (out)
    *out = NULL;
  return NO_VSPHERE ();
}

VD_API void vd_vsphere_inventory_free (struct vd_vsphere_inventory *inv)
{ (void) inv; }
VD_API void vd_vsphere_vm_free (struct vd_vsphere_vm *vm) { (void) vm; }

VD_API int
vd_vsphere_snapshot_create (vd_vsphere *s, const char *vm_moref,
                            const char *name, int quiesce, unsigned timeout_s,
                            char **snapshot)
{
  VD_ENTER ();
  (void) s; (void) vm_moref; (void) name; (void) quiesce; (void) timeout_s;
  if (snapshot)
    *snapshot = NULL;
  return NO_VSPHERE ();
}

VD_API int
vd_vsphere_snapshot_remove (vd_vsphere *s, const char *snapshot,
                            unsigned timeout_s)
{
  VD_ENTER ();
  (void) s; (void) snapshot; (void) timeout_s;
  return NO_VSPHERE ();
}

VD_API int
vd_vsphere_snapshot_disks (vd_vsphere *s, const char *snapshot,
                           struct vd_vsphere_vm **out)
{
  VD_ENTER ();
  (void) s; (void) snapshot;
  if (out)
    *out = NULL;
  return NO_VSPHERE ();
}

VD_API int
vd_vsphere_cleanup (vd_vsphere *s, const char *prefix, unsigned timeout_s,
                    vd_vsphere_snapshot_cb cb, void *payload)
{
  VD_ENTER ();
  (void) s; (void) prefix; (void) timeout_s; (void) cb; (void) payload;
  return NO_VSPHERE ();
}

VD_API int
vd_disk_open_vsphere (vd_disk **out, vd_vsphere *s, const char *dc,
                      const char *dspath, uint32_t flags)
{
  VD_ENTER ();
  (void) s; (void) dc; (void) dspath; (void) flags;
  if (out)
    *out = NULL;
  return NO_VSPHERE ();
}

VD_API int64_t
vd_vsphere_changed_areas (vd_vsphere *s, const char *vm_moref,
                          const char *snapshot, int32_t device_key,
                          uint64_t capacity, const char *change_id,
                          vd_vsphere_area_cb cb, void *payload)
{
  VD_ENTER ();
  (void) s; (void) vm_moref; (void) snapshot; (void) device_key;
  (void) capacity; (void) change_id; (void) cb; (void) payload;
  return NO_VSPHERE ();
}

VD_API int
vd_vsphere_upload (vd_vsphere *s, const char *src_path, const char *dc,
                   const char *dspath, uint32_t flags,
                   vd_progress_cb progress, void *payload)
{
  VD_ENTER ();
  (void) s; (void) src_path; (void) dc; (void) dspath; (void) flags;
  (void) progress; (void) payload;
  return NO_VSPHERE ();
}

char *
vd__vs_unescape (const char *s, size_t n)
{
  (void) s; (void) n;
  NO_VSPHERE ();
  return NULL;
}

int
vd__vs_upload (vd_vsphere *s, const char *src_path, const char *dc,
               const char *dspath, uint32_t flags,
               vd_progress_cb progress, void *payload, unsigned *put)
{
  (void) s; (void) src_path; (void) dc; (void) dspath; (void) flags;
  (void) progress; (void) payload; (void) put;
  return NO_VSPHERE ();
}

int
vd__vs_put_file (vd_vsphere *s, const char *local_path, const char *dc,
                 const char *dspath, uint32_t flags, unsigned *put)
{
  (void) s; (void) dc; (void) dspath; (void) local_path; (void) flags;
  (void) put;
  return NO_VSPHERE ();
}

VD_API int
vd_vsphere_get_file (vd_vsphere *s, const char *dc, const char *dspath,
                     const char *local_path, uint32_t flags)
{
  VD_ENTER ();
  (void) s; (void) dc; (void) dspath; (void) local_path; (void) flags;
  return NO_VSPHERE ();
}

VD_API int
vd_vsphere_put_file (vd_vsphere *s, const char *local_path, const char *dc,
                     const char *dspath, uint32_t flags)
{
  VD_ENTER ();
  (void) s; (void) dc; (void) dspath; (void) local_path; (void) flags;
  return NO_VSPHERE ();
}

VD_API int
vd_vsphere_file_size (vd_vsphere *s, const char *dc, const char *dspath,
                      uint64_t *size)
{
  VD_ENTER ();
  (void) s; (void) dc; (void) dspath;
  if (size)
    *size = 0;
  return NO_VSPHERE ();
}

VD_API int
vd_vsphere_delete_file (vd_vsphere *s, const char *dc, const char *dspath,
                        unsigned timeout_s)
{
  VD_ENTER ();
  (void) s; (void) dc; (void) dspath; (void) timeout_s;
  return NO_VSPHERE ();
}

/* first class disk snapshots (fcd-snap.c) */
VD_API int
vd_vsphere_fcd_snapshots (vd_vsphere *s, const char *id,
                          const char *datastore,
                          struct vd_vsphere_fcd_snapshot **out, size_t *n_out)
{
  VD_ENTER ();
  (void) s; (void) id; (void) datastore;
  if (out)
    *out = NULL;
  if (n_out)
    *n_out = 0;
  return NO_VSPHERE ();
}

VD_API void
vd_vsphere_fcd_snapshots_free (struct vd_vsphere_fcd_snapshot *v, size_t n)
{
  (void) v; (void) n;
}

VD_API int
vd_vsphere_fcd_snapshot_create (vd_vsphere *s, const char *id,
                                const char *datastore,
                                const char *description, unsigned timeout_s,
                                char **snapshot_id)
{
  VD_ENTER ();
  (void) s; (void) id; (void) datastore; (void) description;
  (void) timeout_s;
  if (snapshot_id)
    *snapshot_id = NULL;
  return NO_VSPHERE ();
}

VD_API int
vd_vsphere_fcd_snapshot_delete (vd_vsphere *s, const char *id,
                                const char *datastore,
                                const char *snapshot_id, unsigned timeout_s)
{
  VD_ENTER ();
  (void) s; (void) id; (void) datastore; (void) snapshot_id; (void) timeout_s;
  return NO_VSPHERE ();
}

VD_API int
vd_disk_open_vsphere_fcd_snapshot (vd_disk **out, vd_vsphere *s,
                                   const char *id, const char *datastore,
                                   const char *snapshot_id, uint32_t flags)
{
  VD_ENTER ();
  (void) s; (void) id; (void) datastore; (void) snapshot_id; (void) flags;
  if (out)
    *out = NULL;
  return NO_VSPHERE ();
}

/* vsphere:// paths say why they cannot open (not "no such file"). */
static int
open_uri (struct vd_io **out, const char *uri, int rw)
{
  (void) rw;
  *out = NULL;
  return vd__error (VD_ENOTSUP, 0, "%s: this libvdisk was built without "
                   "vSphere support (libcurl, libxml2, OpenSSL)", uri);
}

VD_URI_SCHEME (vsphere) = { "vsphere://", open_uri };

#else
/* ISO C forbids an empty translation unit. */
typedef int vd__vsphere_stubs_unused;
#endif
