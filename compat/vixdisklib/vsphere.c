/* libvixDiskLib connections to ESXi or vCenter, through libvdisk's
 * vd_vsphere_* (the vSphere Web Services API for the session, the
 * inventory, changed areas and first class disks; the datastore file
 * service over HTTPS for the disk files).  VMware's NFC/NBD transport is
 * undocumented and not used: these handles report the transport "https".
 *
 * Which connections come here (the remote rule, shared with remote.c's
 * `vdisk serve` connections): serverName set and port 443, or a vmxSpec
 * "moref=...", or a thumbPrint, or VDISK_VIX_REMOTE=vsphere; never for a
 * serverName "unix:PATH" (a local socket) or with VDISK_VIX_REMOTE=nbd.
 *
 *   serverName  HOST, or HOST:PORT ([V6]:PORT), the port overriding port
 *   port        the HTTPS port (0: 443)
 *   thumbPrint  the server certificate's SHA-1 (as VDDK gives it) or
 *               SHA-256 digest, colon hex: pinned instead of a CA check
 *               (otherwise the system CAs, or VDISK_VSPHERE_CAFILE /
 *               VDISK_VSPHERE_INSECURE=1 as for vsphere:// URIs)
 *   credType    VIXDISKLIB_CRED_UID: userName and password (SOAP Login)
 *   vmxSpec     "moref=vm-NN": the VM whose disks are opened; its device
 *               keys feed QueryChangedAreas; a bare disk name in Open and
 *               Clone is a file of the VM's folder
 *   specType    VIXDISKLIB_SPEC_VSTORAGE_OBJECT: vStorageObjSpec.id names
 *               a first class disk (datastoreMoRef: its datastore, or NULL)
 *
 * Disks are opened read-only (the datastore file service has no ranged
 * writes): Write says so.  Clone from a local connection uploads the disk
 * as a vmfs flat disk (vd_vsphere_upload, thin), as the guide's "clone to
 * a managed disk".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vix.h"

struct vix_vsphere {
  vd_vsphere *s;
  char *vm;          /* VM moref, or NULL */
  char *vm_folder;   /* "[ds] folder/" of the VM's .vmx, or NULL */
  char *snapshot;    /* snapshotRef, or NULL */
};

struct vix_vs_disk {
  vd_vsphere *s;     /* the connection's (borrowed: the disk holds a
                        reference, and VDDK's Disconnect ends its handles) */
  char *vm, *snapshot, *change_id;
  int32_t key;       /* device key, or -1 when the disk is no VM's */
  uint64_t capacity;
};

int
vix_vsphere_wanted (const VixDiskLibConnectParams *p)
{
  const char *env = getenv ("VDISK_VIX_REMOTE");

  if (!vix_is_remote (p))
    return 0;
  /* a Unix socket is always a vdisk serve datastore; VDISK_VIX_REMOTE=nbd
   * forces NBD (a vdisk serve server on port 443) */
  if (strncmp (p->serverName, "unix:", 5) == 0
      || (env && strcmp (env, "nbd") == 0))
    return 0;
  return p->port == 443
    || (p->vmxSpec && strncmp (p->vmxSpec, "moref=", 6) == 0)
    || (p->thumbPrint && *p->thumbPrint)
    || (env && strcmp (env, "vsphere") == 0);
}

/* A failed vSphere call as VDDK's error: a refused login is
 * VIX_E_HOST_USER_PERMISSIONS, a certificate that fails the check (or the
 * pin) VIX_E_NET_HTTP_SSL_SECURITY, network failures the VIX_E_HOST_*
 * network codes (errors.c), the rest as vd_to_vix. */
static VixError
vs_error (int rc, const char *func, const char *server)
{
  const struct vd_error *e = vd_last_error ();
  const char *msg = e->message && *e->message ? e->message : vd_strerror (rc);

  if (rc == VD_EIO && e->errnum == EACCES) {
    if (strstr (msg, "login"))
      return vix_error (VIX_E_HOST_USER_PERMISSIONS, func, "server \"%s\": "
                        "cannot complete login (wrong user name or "
                        "password, or the user may not log in): %s", server,
                        msg);
    return vix_error (VIX_E_NET_HTTP_SSL_SECURITY, func, "server \"%s\": "
                      "the certificate is not trusted (give its thumbPrint, "
                      "or VDISK_VSPHERE_CAFILE): %s", server, msg);
  }
  if (rc == VD_EIO && strstr (msg, "resolve host"))
    return vix_error (VIX_E_HOST_SERVER_NOT_FOUND, func, "server \"%s\": "
                      "%s", server, msg);
  return vd_to_vix (rc, func);
}

/* "https://HOST:PORT/sdk[?thumbprint=T]" for the parameters. */
static char *
server_url (const VixDiskLibConnectParams *p)
{
  const char *h = p->serverName, *colon = strrchr (h, ':');
  unsigned port = p->port ? p->port : 443;
  char *url = NULL, *host;
  int has_port = 0;

  if (h[0] == '[')                         /* [V6] or [V6]:PORT */
    has_port = colon && colon > strchr (h, ']');
  else if (colon && strchr (h, ':') == colon)  /* one colon: HOST:PORT */
    has_port = 1;
  if (has_port)
    host = strdup (h);
  else if (strchr (h, ':') && h[0] != '[') {
    if (asprintf (&host, "[%s]:%u", h, port) < 0)
      host = NULL;
  }
  else if (asprintf (&host, "%s:%u", h, port) < 0)
    host = NULL;
  if (!host)
    return NULL;
  if (asprintf (&url, "https://%s/sdk%s%s", host,
                p->thumbPrint && *p->thumbPrint ? "?thumbprint=" : "",
                p->thumbPrint && *p->thumbPrint ? p->thumbPrint : "") < 0)
    url = NULL;
  free (host);
  return url;
}

static void
vs_free (struct vix_vsphere *v)
{
  if (!v)
    return;
  vd_vsphere_close (v->s);
  free (v->vm);
  free (v->vm_folder);
  free (v->snapshot);
  free (v);
}

/* The VM of the connection: its .vmx folder, and that it exists. */
static VixError
find_vm (struct vix_vsphere *v, const char *func, const char *server)
{
  struct vd_vsphere_inventory *inv;
  VixError err = VIX_OK;
  size_t i;
  int rc = vd_vsphere_inventory (v->s, &inv);

  if (rc < 0)
    return vs_error (rc, func, server);
  for (i = 0; i < inv->n_vms; i++)
    if (strcmp (inv->vms[i].moref, v->vm) == 0)
      break;
  if (i == inv->n_vms)
    err = vix_error (VIX_E_OBJECT_NOT_FOUND, func, "server \"%s\": vmxSpec "
                     "\"moref=%s\": no such virtual machine", server, v->vm);
  else if (inv->vms[i].vmx) {
    const char *vmx = inv->vms[i].vmx, *slash = strrchr (vmx, '/');
    const char *end = slash ? slash + 1 : strchr (vmx, ']');
    if (end && !slash)
      end++;                               /* "[ds] vm.vmx": the root */
    if (end && !(v->vm_folder = strndup (vmx, (size_t) (end - vmx))))
      err = vix_error (VIX_E_OUT_OF_MEMORY, func, "VM folder");
  }
  vd_vsphere_inventory_free (inv);
  return err;
}

VixError
vix_vsphere_connect (const VixDiskLibConnectParams *p, Bool readOnly,
                     const char *snapshotRef, const char *transportModes,
                     VixDiskLibConnection *connection)
{
  const char *func = "VixDiskLib_Connect", *server = p->serverName;
  struct VixDiskLibConnectParam *c;
  struct vix_vsphere *v;
  VixError err;
  char *url;
  int rc;

  if (transportModes && *transportModes && !strstr (transportModes, "https"))
    vix_log (LOG_WARN, "VixDiskLib: server \"%s\": transport modes \"%s\" "
             "requested; vdisk reads vSphere disks through the datastore "
             "file service (\"https\"): VMware's NFC, SAN and HotAdd "
             "transports are not available\n", server, transportModes);
  if (p->credType != VIXDISKLIB_CRED_UID || !p->creds.uid.userName
      || !*p->creds.uid.userName || !p->creds.uid.password)
    return vix_error (p->credType == VIXDISKLIB_CRED_UID ? VIX_E_INVALID_ARG
                      : VIX_E_NOT_SUPPORTED, func, "server \"%s\": vdisk "
                      "logs in to vSphere only with credType "
                      "VIXDISKLIB_CRED_UID and a userName and password",
                      server);
  if (p->vmxSpec && *p->vmxSpec && strncmp (p->vmxSpec, "moref=", 6) != 0)
    return vix_error (VIX_E_NOT_SUPPORTED, func, "server \"%s\": vmxSpec "
                      "\"%s\": vdisk names a VM only as \"moref=vm-NN\"",
                      server, p->vmxSpec);
  if (!(v = calloc (1, sizeof *v)) || !(url = server_url (p))) {
    free (v);
    return vix_error (VIX_E_OUT_OF_MEMORY, func, "connection");
  }
  rc = vd_vsphere_connect (&v->s, url, p->creds.uid.userName,
                           p->creds.uid.password, 0);
  free (url);
  if (rc < 0) {
    err = vs_error (rc, func, server);
    free (v);
    return err;
  }
  if ((p->vmxSpec && *p->vmxSpec && !(v->vm = strdup (p->vmxSpec + 6)))
      || (snapshotRef && *snapshotRef && !(v->snapshot = strdup (snapshotRef)))) {
    vs_free (v);
    return vix_error (VIX_E_OUT_OF_MEMORY, func, "connection");
  }
  if (v->vm && (err = find_vm (v, func, server)) != VIX_OK) {
    vs_free (v);
    return err;
  }
  c = vix_conn_new (p, readOnly);
  if (!c) {
    vs_free (v);
    return vix_error (VIX_E_OUT_OF_MEMORY, func, "connection");
  }
  c->remote = 1;        /* refused by the calls that need a local file */
  c->transport = "https";
  c->vsphere = v;
  vix_log (LOG_INFO, "VixDiskLib: connected to vSphere %s (%s %s)%s%s\n",
           server,
           vd_vsphere_about (v->s, VD_VSPHERE_ABOUT_API_TYPE)
           ? vd_vsphere_about (v->s, VD_VSPHERE_ABOUT_API_TYPE) : "API",
           vd_vsphere_about (v->s, VD_VSPHERE_ABOUT_API_VERSION)
           ? vd_vsphere_about (v->s, VD_VSPHERE_ABOUT_API_VERSION) : "",
           v->vm ? ", VM " : "", v->vm ? v->vm : "");
  *connection = c;
  return VIX_OK;
}

void
vix_vsphere_disconnect (struct VixDiskLibConnectParam *c)
{
  vs_free (c->vsphere);
  c->vsphere = NULL;
}

VixError
vix_vsphere_cleanup (const VixDiskLibConnectParams *p, uint32 *numCleanedUp,
                     uint32 *numRemaining)
{
  const char *func = "VixDiskLib_Cleanup";
  VixDiskLibConnection c = NULL;
  VixError err = vix_vsphere_connect (p, TRUE, NULL, NULL, &c);
  int rc;

  if (numCleanedUp)
    *numCleanedUp = 0;
  if (numRemaining)
    *numRemaining = 0;   /* nothing is left behind that vdisk cannot remove */
  if (err != VIX_OK)
    return err;
  /* what a killed run of vdisk left: its "vdisk-" snapshots */
  rc = vd_vsphere_cleanup (c->vsphere->s, NULL, 600, NULL, NULL);
  if (rc < 0)
    err = vs_error (rc, func, p->serverName);
  else if (numCleanedUp)
    *numCleanedUp = (uint32) rc;
  VixDiskLib_Disconnect (c);
  return err;
}

/* "[ds] path" for path on connection v (malloc'd): a bare name is a file
 * of the VM's folder, or of the only datastore's root. */
static VixError
resolve_path (struct vix_vsphere *v, const char *path, const char *func,
              char **out)
{
  struct vd_vsphere_inventory *inv;
  int rc;

  *out = NULL;
  if (path[0] == '[') {
    if (!strchr (path, ']'))
      return vix_error (VIX_E_INVALID_ARG, func, "\"%s\" is not \"[datastore]"
                        " folder/disk.vmdk\"", path);
    if (!(*out = strdup (path)))
      return vix_error (VIX_E_OUT_OF_MEMORY, func, "path");
    return VIX_OK;
  }
  if (v->vm_folder) {
    if (asprintf (out, "%s%s", v->vm_folder, path) < 0)
      return vix_error (VIX_E_OUT_OF_MEMORY, func, "path");
    return VIX_OK;
  }
  if ((rc = vd_vsphere_inventory (v->s, &inv)) < 0)
    return vs_error (rc, func, vd_vsphere_about (v->s, VD_VSPHERE_ABOUT_HOST));
  if (inv->n_datastores != 1) {
    size_t n = inv->n_datastores;
    vd_vsphere_inventory_free (inv);
    return vix_error (VIX_E_INVALID_ARG, func, "\"%s\": the server has %zu "
                      "datastores; name one (\"[datastore] %s\") or the VM "
                      "(vmxSpec \"moref=...\")", path, n, path);
  }
  if (asprintf (out, "[%s] %s", inv->datastores[0].name, path) < 0)
    *out = NULL;
  vd_vsphere_inventory_free (inv);
  return *out ? VIX_OK : vix_error (VIX_E_OUT_OF_MEMORY, func, "path");
}

void
vix_vs_disk_free (struct vix_vs_disk *vs)
{
  if (!vs)
    return;
  free (vs->vm);
  free (vs->snapshot);
  free (vs->change_id);
  free (vs);
}

/* The device key, capacity and changeId of dspath among the VM's disks
 * (as the connection's snapshot froze them, when it names one). */
static int
find_device (struct vix_vsphere *v, const char *dspath, struct vix_vs_disk *d)
{
  struct vd_vsphere_inventory *inv = NULL;
  struct vd_vsphere_vm *snap = NULL;
  const struct vd_vsphere_vm *vm = NULL;
  int rc;

  if (v->snapshot) {
    if ((rc = vd_vsphere_snapshot_disks (v->s, v->snapshot, &snap)) < 0)
      return rc;
    vm = snap;
  }
  else {
    if ((rc = vd_vsphere_inventory (v->s, &inv)) < 0)
      return rc;
    for (size_t i = 0; i < inv->n_vms && !vm; i++)
      if (strcmp (inv->vms[i].moref, v->vm) == 0)
        vm = &inv->vms[i];
  }
  for (size_t k = 0; vm && k < vm->n_disks; k++)
    if (vm->disks[k].file && strcmp (vm->disks[k].file, dspath) == 0) {
      d->key = vm->disks[k].key;
      d->capacity = vm->disks[k].capacity;
      if (vm->disks[k].change_id)
        d->change_id = strdup (vm->disks[k].change_id);
    }
  vd_vsphere_inventory_free (inv);
  vd_vsphere_vm_free (snap);
  return 0;
}

VixError
vix_vsphere_open (const struct VixDiskLibConnectParam *c, const char *path,
                  uint32 vix_flags, vd_disk **disk, struct vix_vs_disk **vsp,
                  const char *func)
{
  struct vix_vsphere *v = c->vsphere;
  const char *server = c->params.serverName;
  uint32_t f = VD_OPEN_READ_ONLY;
  struct vix_vs_disk *d;
  char *dspath = NULL;
  VixError err;
  int rc;

  *disk = NULL;
  *vsp = NULL;
  if (vix_flags & VIXDISKLIB_FLAG_OPEN_SINGLE_LINK)
    f |= VD_OPEN_SINGLE_LINK;
  if (!(vix_flags & VIXDISKLIB_FLAG_OPEN_READ_ONLY))
    vix_log (LOG_WARN, "VixDiskLib: %s on %s: opened read-only (the "
             "datastore file service has no ranged writes)\n",
             path ? path : "(first class disk)", server);
  if (!(d = calloc (1, sizeof *d)))
    return vix_error (VIX_E_OUT_OF_MEMORY, func, "handle");
  d->key = -1;
  d->s = v->s;
  if (c->params.specType == VIXDISKLIB_SPEC_VSTORAGE_OBJECT) {
    const VixDiskLibVStorageObjectSpec *o = &c->params.spec.vStorageObjSpec;
    if (!o->id || !*o->id) {
      free (d);
      return vix_error (VIX_E_INVALID_ARG, func, "vStorageObjSpec.id (the "
                        "first class disk's ID) is not set");
    }
    if (path && *path && strcmp (path, o->id) != 0) {
      free (d);
      return vix_error (VIX_E_INVALID_ARG, func, "path \"%s\" is not the "
                        "first class disk %s the connection names", path,
                        o->id);
    }
    /* ssId: the snapshot's data, read-only through the path
     * RetrieveSnapshotDetails gives */
    const char *ds = o->datastoreMoRef && *o->datastoreMoRef
                     ? o->datastoreMoRef : NULL;
    rc = o->ssId && *o->ssId
         ? vd_disk_open_vsphere_fcd_snapshot (disk, v->s, o->id, ds, o->ssId, f)
         : vd_disk_open_vsphere_fcd (disk, v->s, o->id, ds, f);
    if (rc < 0) {
      free (d);
      return vs_error (rc, func, server);
    }
    *vsp = d;
    return VIX_OK;
  }
  if (!path || !*path) {
    free (d);
    return vix_error (VIX_E_INVALID_ARG, func, "the disk path is empty");
  }
  if ((err = resolve_path (v, path, func, &dspath)) != VIX_OK) {
    free (d);
    return err;
  }
  rc = vd_disk_open_vsphere (disk, v->s, NULL, dspath, f);
  if (rc < 0) {
    err = vs_error (rc, func, server);
    free (dspath);
    free (d);
    return err;
  }
  if (v->vm) {
    if ((rc = find_device (v, dspath, d)) < 0
        || (v->vm && !(d->vm = strdup (v->vm)))
        || (v->snapshot && !(d->snapshot = strdup (v->snapshot)))) {
      err = rc < 0 ? vs_error (rc, func, server)
        : vix_error (VIX_E_OUT_OF_MEMORY, func, "handle");
      vd_disk_close (*disk);
      *disk = NULL;
      free (dspath);
      vix_vs_disk_free (d);
      return err;
    }
  }
  if (!d->capacity)
    d->capacity = vd_disk_get_size (*disk);
  free (dspath);
  *vsp = d;
  return VIX_OK;
}

const char *
vix_vsphere_change_id (const struct VixDiskLibHandleStruct *h)
{
  return h->vs ? h->vs->change_id : NULL;
}

struct vs_areas {
  VixDiskLibBlock *v;
  uint32 n, cap;
  uint64_t from, to;     /* bytes asked for */
  int nomem;
};

static int
vs_area_cb (uint64_t off, uint64_t len, void *payload)
{
  struct vs_areas *a = payload;
  uint64_t end = off + len;

  if (end <= a->from || off >= a->to)
    return 0;
  if (off < a->from)
    off = a->from;
  if (end > a->to)
    end = a->to;
  if (a->n == a->cap) {
    uint32 nc = a->cap ? a->cap * 2 : 64;
    VixDiskLibBlock *nv = nc > a->cap ? realloc (a->v, nc * sizeof *nv) : NULL;
    if (!nv) {
      a->nomem = 1;
      return 1;
    }
    a->v = nv;
    a->cap = nc;
  }
  a->v[a->n].offset = off / VIXDISKLIB_SECTOR_SIZE;
  a->v[a->n].length = (end + VIXDISKLIB_SECTOR_SIZE - 1)
    / VIXDISKLIB_SECTOR_SIZE - off / VIXDISKLIB_SECTOR_SIZE;
  a->n++;
  return 0;
}

VixError
vix_vsphere_changed_areas (struct VixDiskLibHandleStruct *h,
                           const VixDiskLibQueryChangedAreaParams *q,
                           VixDiskLibDiskChangeInfo **changeInfo)
{
  const char *func = "VixDiskLib_QueryChangedAreas";
  struct vix_vs_disk *d = h->vs;
  struct vs_areas a = { NULL, 0, 0, 0, 0, 0 };
  VixDiskLibSectorType len;
  VixDiskLibDiskChangeInfo *ci;
  int64_t rc;

  if (!d->vm || d->key < 0)
    return vix_error (VIX_E_NOT_SUPPORTED, func, "%s: changed areas need "
                      "the disk of a VM: connect with vmxSpec \"moref=...\" "
                      "and open one of its disks", vd_disk_get_path (h->disk));
  len = q->length ? q->length : h->capacity - q->startOffset;
  if (len > h->capacity - q->startOffset)
    len = h->capacity - q->startOffset;
  a.from = q->startOffset * VIXDISKLIB_SECTOR_SIZE;
  a.to = (q->startOffset + len) * VIXDISKLIB_SECTOR_SIZE;
  /* QueryChangedDiskAreas pages from the start; areas before startOffset
   * are dropped */
  rc = vd_vsphere_changed_areas (d->s, d->vm,
                                 d->snapshot, d->key, d->capacity,
                                 q->changeId, vs_area_cb, &a);
  if (rc >= 0 && a.nomem)
    rc = VD_ENOMEM;
  if (rc < 0) {
    free (a.v);
    return vs_error ((int) rc, func, vd_disk_get_path (h->disk));
  }
  if (!(ci = calloc (1, sizeof *ci))) {
    free (a.v);
    return vix_error (VIX_E_OUT_OF_MEMORY, func, "change info");
  }
  ci->startOffset = q->startOffset;
  ci->length = len;
  ci->numAreas = a.n;
  ci->areas = a.v;
  *changeInfo = ci;
  return VIX_OK;
}

VixError
vix_vsphere_clone_to (const struct VixDiskLibConnectParam *dst,
                      const char *dstPath,
                      const struct VixDiskLibConnectParam *src,
                      const char *srcPath, Bool overWrite,
                      struct vix_progress *pc, const char *func)
{
  uint32_t flags = VD_VSPHERE_UPLOAD_THIN;
  char *dspath;
  VixError err;
  int rc;

  if (src->remote || src->params.specType == VIXDISKLIB_SPEC_VSTORAGE_OBJECT
      || !srcPath || !*srcPath)
    return vix_error (VIX_E_NOT_SUPPORTED, func, "%s: a disk is cloned onto "
                      "vSphere only from a local connection's file",
                      dstPath);
  if (dst->read_only)
    return vix_error (VIX_E_FILE_READ_ONLY, func, "%s: the connection to "
                      "\"%s\" is read-only", dstPath, dst->params.serverName);
  if ((err = resolve_path (dst->vsphere, dstPath, func, &dspath)) != VIX_OK)
    return err;
  if (overWrite)
    flags |= VD_VSPHERE_UPLOAD_OVERWRITE;
  rc = vd_vsphere_upload (dst->vsphere->s, srcPath, NULL, dspath, flags,
                          vix_progress_cb, pc);
  if (rc < 0)
    err = vs_error (rc, func, dst->params.serverName);
  else
    vix_log (LOG_INFO, "VixDiskLib: cloned %s to %s on %s (vmfs, thin)\n",
             srcPath, dspath, dst->params.serverName);
  free (dspath);
  return err;
}
