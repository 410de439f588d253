/* Snapshots for consistent reads of running VMs: CreateSnapshot_Task (no
 * memory), RemoveSnapshot_Task, task polling with a timeout, the disks a
 * snapshot froze, and the cleanup of snapshots a killed run left. */
#include "vsphere/vsphere-internal.h"

#ifdef VD_HAVE_VSPHERE

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int vd__vs_parse_devices (xmlNodePtr val, struct vd_vsphere_vm *vm);

/* RetrievePropertiesEx of one object; *props is the first objects
 * element of the answer (in *doc). */
static int
get_props (struct vd_vsphere *s, const char *type, const char *moref,
           const char *const *paths, xmlDocPtr *doc, xmlNodePtr *props)
{
  xmlNodePtr m, ret, spec, ps, os;
  xmlDocPtr req = vd__vs_req ("RetrievePropertiesEx", "PropertyCollector",
                              vd__vs_pc (s), &m);
  int r;

  *props = NULL;
  if (!req)
    return vd__error (VD_ENOMEM, 0, "request");
  spec = xmlNewChild (m, NULL, BAD_CAST "specSet", NULL);
  ps = xmlNewChild (spec, NULL, BAD_CAST "propSet", NULL);
  vd__vs_add (ps, "type", type);
  vd__vs_add (ps, "all", "false");
  for (; *paths; paths++)
    vd__vs_add (ps, "pathSet", *paths);
  os = xmlNewChild (spec, NULL, BAD_CAST "objectSet", NULL);
  vd__vs_add_ref (os, "obj", type, moref);
  vd__vs_add (os, "skip", "false");
  xmlNewChild (m, NULL, BAD_CAST "options", NULL);
  r = vd__vs_call (s, req, doc, &ret);
  if (r < 0)
    return r;
  *props = vd__vs_child (vd__vs_child (ret, "returnval"), "objects");
  if (!*props) {
    xmlFreeDoc (*doc);
    *doc = NULL;
    return vd__error (VD_ENOENT, 0, "%s: no %s %s", vd__vs_host (s), type,
                     moref);
  }
  return 0;
}

static xmlNodePtr
prop_val (xmlNodePtr obj, const char *name)
{
  for (xmlNodePtr p = vd__vs_child (obj, "propSet"); p;
       p = vd__vs_next (p, "propSet")) {
    char *n = vd__vs_text (p, "name");
    int same = n && strcmp (n, name) == 0;
    free (n);
    if (same)
      return vd__vs_child (p, "val");
  }
  return NULL;
}

static double
now_s (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* Wait for task to end; *result (may be NULL) gets info.result's text
 * (an ID's <id>). */
int
vd__vs_wait_task (struct vd_vsphere *s, const char *task, const char *what,
           unsigned timeout_s, char **result)
{
  static const char *const paths[] = { "info.state", "info.result",
                                       "info.error", NULL };
  double end = now_s () + (timeout_s ? timeout_s : 600);
  long delay_ms = 50;
  char qb[200];

  if (result)
    *result = NULL;
  for (;;) {
    xmlDocPtr doc;
    xmlNodePtr obj;
    char *state;
    int r = get_props (s, "Task", task, paths, &doc, &obj);
    if (r < 0)
      return r;
    state = vd__vs_text (prop_val (obj, "info.state"), NULL);
    if (state && strcmp (state, "success") == 0) {
      if (result) {
        /* a moref's text, or an ID's <id> (VStorageObject tasks) */
        xmlNodePtr v = prop_val (obj, "info.result");
        *result = vd__vs_text (v, NULL);
        if (!*result)
          *result = vd__vs_text (v, "id");
      }
      free (state);
      xmlFreeDoc (doc);
      return 0;
    }
    if (state && strcmp (state, "error") == 0) {
      xmlNodePtr err = prop_val (obj, "info.error");
      char *msg = vd__vs_text (err, "localizedMessage");
      char *ft = vd__vs_type (vd__vs_child (err, "fault"));
      r = vd__error (VD_EIO, 0, "%s: %s failed: %s%s%s", vd__vs_host (s),
                    what, msg ? vd__quote (qb, sizeof qb, msg, strlen (msg))
                              : "task error",
                    ft ? " " : "", ft ? ft : "");
      free (msg);
      free (ft);
      free (state);
      xmlFreeDoc (doc);
      return r;
    }
    if (!state || (strcmp (state, "queued") != 0
                   && strcmp (state, "running") != 0)) {
      free (state);
      xmlFreeDoc (doc);
      return vd__error (VD_ECORRUPT, 0, "%s: %s: the task has no sane "
                       "state", vd__vs_host (s), what);
    }
    free (state);
    xmlFreeDoc (doc);
    if (now_s () > end)
      return vd__error (VD_EIO, ETIMEDOUT, "%s: %s: the task %s did not "
                       "finish within %u s", vd__vs_host (s), what, task,
                       timeout_s);
    struct timespec ts = { delay_ms / 1000, (delay_ms % 1000) * 1000000 };
    nanosleep (&ts, NULL);
    if (delay_ms < 1000)
      delay_ms *= 2;
  }
}

/* Start a task method; *task gets the task moref. */
int
vd__vs_start_task (struct vd_vsphere *s, xmlDocPtr req, char **task)
{
  xmlDocPtr doc;
  xmlNodePtr ret;
  int r = vd__vs_call (s, req, &doc, &ret);
  *task = NULL;
  if (r < 0)
    return r;
  *task = vd__vs_text (ret, "returnval");
  xmlFreeDoc (doc);
  if (!*task)
    return vd__error (VD_ECORRUPT, 0, "%s: the server started no task",
                     vd__vs_host (s));
  return 0;
}

static int
name_ok (const char *s)
{
  return s && *s && strlen (s) <= 1024;
}

VD_API int
vd_vsphere_snapshot_create (vd_vsphere *s, const char *vm_moref,
                            const char *name, int quiesce, unsigned timeout_s,
                            char **snapshot)
{
  VD_ENTER ();
  xmlNodePtr m;
  xmlDocPtr req;
  char *task = NULL;
  int r;

  if (!snapshot)
    return vd__error (VD_EINVAL, 0, "snapshot: no output");
  *snapshot = NULL;
  if (!s || !name_ok (vm_moref) || !name_ok (name))
    return vd__error (VD_EINVAL, 0, "snapshot: no session, VM or name");
  req = vd__vs_req ("CreateSnapshot_Task", "VirtualMachine", vm_moref, &m);
  if (!req)
    return vd__error (VD_ENOMEM, 0, "request");
  vd__vs_add (m, "name", name);
  vd__vs_add (m, "description", "taken by vdisk for a consistent read");
  vd__vs_add (m, "memory", "false");
  vd__vs_add (m, "quiesce", quiesce ? "true" : "false");
  r = vd__vs_start_task (s, req, &task);
  if (r == 0)
    r = vd__vs_wait_task (s, task, "CreateSnapshot", timeout_s, snapshot);
  free (task);
  if (r == 0 && !*snapshot)
    r = vd__error (VD_ECORRUPT, 0, "%s: CreateSnapshot gave no snapshot",
                  vd__vs_host (s));
  return r;
}

VD_API int
vd_vsphere_snapshot_remove (vd_vsphere *s, const char *snapshot,
                            unsigned timeout_s)
{
  VD_ENTER ();
  xmlNodePtr m;
  xmlDocPtr req;
  char *task = NULL;
  int r;

  if (!s || !name_ok (snapshot))
    return vd__error (VD_EINVAL, 0, "snapshot: no session or snapshot");
  req = vd__vs_req ("RemoveSnapshot_Task", "VirtualMachineSnapshot",
                    snapshot, &m);
  if (!req)
    return vd__error (VD_ENOMEM, 0, "request");
  vd__vs_add (m, "removeChildren", "false");
  vd__vs_add (m, "consolidate", "true");
  r = vd__vs_start_task (s, req, &task);
  if (r == 0)
    r = vd__vs_wait_task (s, task, "RemoveSnapshot", timeout_s, NULL);
  free (task);
  return r;
}

VD_API int
vd_vsphere_snapshot_disks (vd_vsphere *s, const char *snapshot,
                           struct vd_vsphere_vm **out)
{
  VD_ENTER ();
  static const char *const paths[] = { "config.hardware.device", "vm",
                                       NULL };
  struct vd_vsphere_vm *vm;
  xmlDocPtr doc;
  xmlNodePtr obj;
  int r;

  if (!out)
    return vd__error (VD_EINVAL, 0, "snapshot: no output");
  *out = NULL;
  if (!s || !name_ok (snapshot))
    return vd__error (VD_EINVAL, 0, "snapshot: no session or snapshot");
  r = get_props (s, "VirtualMachineSnapshot", snapshot, paths, &doc, &obj);
  if (r < 0)
    return r;
  vm = calloc (1, sizeof *vm);
  if (!vm) {
    xmlFreeDoc (doc);
    return vd__error (VD_ENOMEM, errno, "snapshot");
  }
  vm->moref = vd__vs_text (prop_val (obj, "vm"), NULL);
  vm->name = strdup (snapshot);
  r = vd__vs_parse_devices (prop_val (obj, "config.hardware.device"), vm);
  xmlFreeDoc (doc);
  if (r < 0) {
    vd_vsphere_vm_free (vm);
    return r;
  }
  *out = vm;
  return 0;
}

VD_API int
vd_vsphere_cleanup (vd_vsphere *s, const char *prefix, unsigned timeout_s,
                    vd_vsphere_snapshot_cb cb, void *payload)
{
  VD_ENTER ();
  struct vd_vsphere_inventory *inv;
  int removed = 0, r;

  if (!s)
    return vd__error (VD_EINVAL, 0, "cleanup: no session");
  if (!prefix)
    prefix = "vdisk-";
  if (!*prefix)
    return vd__error (VD_EINVAL, 0, "cleanup: an empty prefix would remove "
                     "every snapshot");
  r = vd_vsphere_inventory (s, &inv);
  if (r < 0)
    return r;
  for (size_t i = 0; i < inv->n_vms && r >= 0; i++) {
    struct vd_vsphere_vm *vm = &inv->vms[i];
    /* children first, so that removing one never takes another along */
    for (size_t k = vm->n_snapshots; k-- > 0 && r >= 0;) {
      struct vd_vsphere_snapshot *sn = &vm->snapshots[k];
      if (strncmp (sn->name, prefix, strlen (prefix)) != 0)
        continue;
      if (cb)
        cb (vm->name, sn->name, sn->moref, payload);
      r = vd_vsphere_snapshot_remove (s, sn->moref, timeout_s);
      if (r == 0)
        removed++;
    }
  }
  vd_vsphere_inventory_free (inv);
  return r < 0 ? r : removed;
}

#endif /* VD_HAVE_VSPHERE */
