/* Snapshots of first class disks on vSphere, through the
 * VStorageObjectManager: list (RetrieveSnapshotInfo), create
 * (VStorageObjectCreateSnapshot_Task), delete (DeleteSnapshot_Task), and
 * read one: RetrieveSnapshotDetails gives the path of the snapshot's
 * backing disk on the datastore, which opens read-only through the
 * datastore file backend like any disk.  ESXi's manager takes the same
 * calls with a "HostVStorageObject" prefix (HostVStorageObjectCreate-
 * Snapshot_Task, ...).  Every ID in an answer is checked short and
 * printable; a snapshot's path must be on the FCD's datastore. */
#include "vsphere/vsphere-internal.h"

#ifdef VD_HAVE_VSPHERE

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SNAPS 10000u

/* The FCD's manager, its datastore moref and datastore name. */
struct fcd_ctx {
  char *mgr;
  int host;
  struct vd_vsphere_fcd *f;
};

static void
ctx_free (struct fcd_ctx *c)
{
  free (c->mgr);
  vd_vsphere_fcd_free (c->f);
}

static int
ctx_init (vd_vsphere *s, const char *id, const char *datastore,
          struct fcd_ctx *c)
{
  memset (c, 0, sizeof *c);
  int r = vd_vsphere_fcd_get (s, id, datastore, &c->f);
  if (r == 0)
    r = vd__vs_fcd_manager (s, &c->mgr, &c->host);
  return r;
}

/* A request for the FCD: vCenter's method vc, or ESXi's esx. */
static xmlDocPtr
snap_req (const struct fcd_ctx *c, const char *vc, const char *esx,
          xmlNodePtr *m)
{
  xmlDocPtr req = vd__vs_req (c->host ? esx : vc, c->host
                              ? "HostVStorageObjectManager"
                              : "VcenterVStorageObjectManager", c->mgr, m);
  if (!req)
    return NULL;
  vd__vs_add (vd__vs_add (*m, "id", NULL), "id", c->f->id);
  vd__vs_add_ref (*m, "datastore", "Datastore", c->f->datastore_moref);
  return req;
}

/* Check the IDs, find the FCD and build its request (with <snapshotId>
 * when snapshot_id is given). */
static int
prepare (vd_vsphere *s, const char *id, const char *datastore,
         const char *vc, const char *esx, const char *snapshot_id,
         struct fcd_ctx *c, xmlDocPtr *req, xmlNodePtr *m)
{
  int r;
  memset (c, 0, sizeof *c);
  *req = NULL;
  if (!s || !vd__vs_fcd_id_ok (id)
      || (snapshot_id && !vd__vs_fcd_id_ok (snapshot_id)))
    return vd__error (VD_EINVAL, 0, "first class disk snapshot: no session "
                     "or sane ID");
  if ((r = ctx_init (s, id, datastore, c)) < 0)
    return r;
  if (!(*req = snap_req (c, vc, esx, m)))
    return vd__error (VD_ENOMEM, 0, "request");
  if (snapshot_id)
    vd__vs_add (vd__vs_add (*m, "snapshotId", NULL), "id", snapshot_id);
  return 0;
}

/* A task request (consumed) run to its end. */
static int
run_task (vd_vsphere *s, xmlDocPtr req, const char *what, unsigned timeout_s,
          char **result)
{
  char *task = NULL;
  int r = vd__vs_start_task (s, req, &task);
  if (r == 0)
    r = vd__vs_wait_task (s, task, what, timeout_s, result);
  free (task);
  return r;
}

static void
snap_clear (struct vd_vsphere_fcd_snapshot *v)
{
  free (v->id);
  free (v->description);
  free (v->create_time);
  free (v->backing_object_id);
}

VD_API void
vd_vsphere_fcd_snapshots_free (struct vd_vsphere_fcd_snapshot *v, size_t n)
{
  for (size_t i = 0; v && i < n; i++)
    snap_clear (&v[i]);
  free (v);
}

VD_API int
vd_vsphere_fcd_snapshots (vd_vsphere *s, const char *id,
                          const char *datastore,
                          struct vd_vsphere_fcd_snapshot **out, size_t *n_out)
{
  VD_ENTER ();
  struct fcd_ctx c;
  xmlNodePtr m, ret;
  xmlDocPtr doc, req;
  struct vd_vsphere_fcd_snapshot *v = NULL;
  size_t n = 0;
  int r;

  if (out)
    *out = NULL;
  if (n_out)
    *n_out = 0;
  if (!out || !n_out)
    return vd__error (VD_EINVAL, 0, "first class disk snapshots: no output");
  r = prepare (s, id, datastore, "RetrieveSnapshotInfo",
               "HostVStorageObjectRetrieveSnapshotInfo", NULL, &c, &req, &m);
  if (r == 0)
    r = vd__vs_call (s, req, &doc, &ret);
  if (r < 0)
    goto out;
  xmlNodePtr rv = vd__vs_child (ret, "returnval");
  for (xmlNodePtr sn = vd__vs_child (rv, "snapshots"); sn && r == 0;
       sn = vd__vs_next (sn, "snapshots")) {
    struct vd_vsphere_fcd_snapshot *p;
    if (n >= MAX_SNAPS || !(p = realloc (v, (n + 1) * sizeof *v))) {
      r = vd__error (n >= MAX_SNAPS ? VD_ECORRUPT : VD_ENOMEM, 0, "%s: "
                    "first class disk %s: more than %u snapshots",
                    vd__vs_host (s), id, MAX_SNAPS);
      break;
    }
    v = p;
    memset (&v[n], 0, sizeof v[n]);
    v[n].id = vd__vs_text (vd__vs_child (sn, "id"), "id");
    v[n].description = vd__vs_text (sn, "description");
    v[n].create_time = vd__vs_text (sn, "createTime");
    v[n].backing_object_id = vd__vs_text (sn, "backingObjectId");
    n++;
    if (!vd__vs_fcd_id_ok (v[n - 1].id))
      r = vd__error (VD_ECORRUPT, 0, "%s: first class disk %s: a snapshot "
                    "without a sane ID", vd__vs_host (s), id);
    else if (!v[n - 1].description && !(v[n - 1].description = strdup ("")))
      r = vd__error (VD_ENOMEM, errno, "snapshots");
  }
  xmlFreeDoc (doc);
  if (r == 0) {
    *out = v;
    *n_out = n;
    v = NULL;
  }
out:
  vd_vsphere_fcd_snapshots_free (v, n);
  ctx_free (&c);
  return r;
}

VD_API int
vd_vsphere_fcd_snapshot_create (vd_vsphere *s, const char *id,
                                const char *datastore,
                                const char *description, unsigned timeout_s,
                                char **snapshot_id)
{
  VD_ENTER ();
  struct fcd_ctx c;
  xmlNodePtr m;
  xmlDocPtr req;
  int r;

  if (!snapshot_id)
    return vd__error (VD_EINVAL, 0, "first class disk snapshot: no output");
  *snapshot_id = NULL;
  r = prepare (s, id, datastore, "VStorageObjectCreateSnapshot_Task",
               "HostVStorageObjectCreateSnapshot_Task", NULL, &c, &req, &m);
  if (r == 0) {
    vd__vs_add (m, "description", description ? description : "");
    r = run_task (s, req, "VStorageObjectCreateSnapshot", timeout_s,
                  snapshot_id);
  }
  if (r == 0 && !vd__vs_fcd_id_ok (*snapshot_id)) {
    free (*snapshot_id);
    *snapshot_id = NULL;
    r = vd__error (VD_ECORRUPT, 0, "%s: first class disk %s: the snapshot "
                  "task gave no sane snapshot ID", vd__vs_host (s), id);
  }
  ctx_free (&c);
  return r;
}

VD_API int
vd_vsphere_fcd_snapshot_delete (vd_vsphere *s, const char *id,
                                const char *datastore,
                                const char *snapshot_id, unsigned timeout_s)
{
  VD_ENTER ();
  struct fcd_ctx c;
  xmlNodePtr m;
  xmlDocPtr req;
  int r;

  if (!snapshot_id)
    return vd__error (VD_EINVAL, 0, "first class disk snapshot: no ID");
  r = prepare (s, id, datastore, "DeleteSnapshot_Task",
               "HostVStorageObjectDeleteSnapshot_Task", snapshot_id, &c,
               &req, &m);
  if (r == 0)
    r = run_task (s, req, "DeleteSnapshot", timeout_s, NULL);
  ctx_free (&c);
  return r;
}

VD_API int
vd_disk_open_vsphere_fcd_snapshot (vd_disk **out, vd_vsphere *s,
                                   const char *id, const char *datastore,
                                   const char *snapshot_id, uint32_t flags)
{
  VD_ENTER ();
  struct fcd_ctx c;
  xmlNodePtr m, ret;
  xmlDocPtr doc, req;
  char *path = NULL;
  int r;

  if (out)
    *out = NULL;
  if (!out || !snapshot_id)
    return vd__error (VD_EINVAL, 0, "first class disk snapshot: no output "
                     "or ID");
  r = prepare (s, id, datastore, "RetrieveSnapshotDetails",
               "HostVStorageObjectRetrieveSnapshotDetails", snapshot_id, &c,
               &req, &m);
  if (r == 0)
    r = vd__vs_call (s, req, &doc, &ret);
  if (r < 0)
    goto out;
  path = vd__vs_text (vd__vs_child (ret, "returnval"), "path");
  xmlFreeDoc (doc);
  size_t dl = strlen (c.f->datastore);
  if (!path || path[0] != '[' || strncmp (path + 1, c.f->datastore, dl) != 0
      || path[dl + 1] != ']') {
    r = vd__error (VD_ECORRUPT, 0, "%s: first class disk %s snapshot %s: "
                  "the server gave no backing path on datastore %s "
                  "(\"%.100s\")", vd__vs_host (s), id, snapshot_id,
                  c.f->datastore, path ? path : "");
    goto out;
  }
  r = vd_disk_open_vsphere (out, s, c.f->dc_path, path,
                            flags | VD_OPEN_READ_ONLY);
out:
  free (path);
  ctx_free (&c);
  return r;
}

#else
/* ISO C forbids an empty translation unit (the stubs are in stubs.c). */
typedef int vd__vsphere_fcd_snap_unused;
#endif /* VD_HAVE_VSPHERE */
