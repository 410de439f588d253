/* The vSphere inventory: every VM, its disks and snapshots, and every
 * datastore with its datacenter, through the PropertyCollector over one
 * ContainerView (RetrievePropertiesEx, paged by the server's token). */
#include "vsphere/vsphere-internal.h"

#ifdef VD_HAVE_VSPHERE

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vsphere/xml-dl.h"

/* A growable array. */
#define GROW(arr, n, cap, max, what)                                    \
  do {                                                                  \
    if ((n) >= (max))                                                   \
      return vd__error (VD_ECORRUPT, 0, "server answer: more than %u %s", \
                       (unsigned) (max), what);                         \
    if ((n) == (cap)) {                                                 \
      size_t nc_ = (cap) ? (cap) * 2 : 8;                               \
      void *np_ = realloc ((arr), nc_ * sizeof *(arr));                 \
      if (!np_)                                                         \
        return vd__error (VD_ENOMEM, errno, "inventory");               \
      (arr) = np_;                                                      \
      memset ((arr) + (cap), 0, (nc_ - (cap)) * sizeof *(arr));         \
      (cap) = nc_;                                                      \
    }                                                                   \
  } while (0)

struct folder {
  char *moref, *name, *parent;
  int is_dc;
  char **datastores;
  size_t n_ds;
};

struct collect {
  struct vd_vsphere_inventory *inv;
  size_t cap_vms, cap_ds;
  struct folder *folders;
  size_t n_folders, cap_folders;
};

void
vd_vsphere_vm_free (struct vd_vsphere_vm *vm)
{
  if (!vm)
    return;
  for (size_t i = 0; i < vm->n_disks; i++) {
    free (vm->disks[i].file);
    free (vm->disks[i].datastore);
    free (vm->disks[i].path);
    free (vm->disks[i].change_id);
    free (vm->disks[i].disk_mode);
  }
  free (vm->disks);
  for (size_t i = 0; i < vm->n_snapshots; i++) {
    free (vm->snapshots[i].moref);
    free (vm->snapshots[i].name);
  }
  free (vm->snapshots);
  free (vm->name); free (vm->moref); free (vm->power_state);
  free (vm->vmx); free (vm->nvram); free (vm->current_snapshot);
  free (vm);
}

static void
vm_clear (struct vd_vsphere_vm *vm)
{
  /* free the members of an array element */
  struct vd_vsphere_vm *copy = malloc (sizeof *copy);
  if (copy) {
    *copy = *vm;
    vd_vsphere_vm_free (copy);
  }
  memset (vm, 0, sizeof *vm);
}

VD_API void
vd_vsphere_inventory_free (struct vd_vsphere_inventory *inv)
{
  if (!inv)
    return;
  for (size_t i = 0; i < inv->n_vms; i++)
    vm_clear (&inv->vms[i]);
  free (inv->vms);
  for (size_t i = 0; i < inv->n_datastores; i++) {
    struct vd_vsphere_datastore *d = &inv->datastores[i];
    free (d->name); free (d->moref); free (d->dc_path); free (d->type);
  }
  free (inv->datastores);
  free (inv);
}

/* "[ds] folder/disk.vmdk" -> ds, path */
static int
split_dspath (const char *file, char **ds, char **path)
{
  const char *e;
  char qb[96];
  if (file[0] != '[' || !(e = strchr (file, ']')))
    return vd__error (VD_ECORRUPT, 0, "server answer: \"%s\" is not a "
                     "datastore path ([datastore] path)",
                     vd__quote (qb, sizeof qb, file, strlen (file)));
  *ds = strndup (file + 1, (size_t) (e - file - 1));
  e++;
  while (*e == ' ')
    e++;
  *path = strdup (e);
  if (!*ds || !*path)
    return vd__error (VD_ENOMEM, errno, "inventory");
  return 0;
}

static const char *
bus_of (const char *type)
{
  if (!type)
    return NULL;
  if (strstr (type, "IDEController"))
    return "ide";
  if (strstr (type, "SCSIController") || strstr (type, "LsiLogic")
      || strstr (type, "BusLogic"))
    return "scsi";
  if (strstr (type, "AHCIController") || strstr (type, "SATAController"))
    return "sata";
  if (strstr (type, "NVMEController"))
    return "nvme";
  return NULL;
}

/* The disks in an ArrayOfVirtualDevice. */
int vd__vs_parse_devices (xmlNodePtr val, struct vd_vsphere_vm *vm);
int
vd__vs_parse_devices (xmlNodePtr val, struct vd_vsphere_vm *vm)
{
  size_t cap = 0;
  int r;

  for (xmlNodePtr d = vd__vs_child (val, "VirtualDevice"); d;
       d = vd__vs_next (d, "VirtualDevice")) {
    char *type = vd__vs_type (d);
    int is_disk = type && strcmp (type, "VirtualDisk") == 0;
    free (type);
    if (!is_disk)
      continue;
    GROW (vm->disks, vm->n_disks, cap, VD_VS_MAX_DISKS, "disks in a VM");
    struct vd_vsphere_disk *k = &vm->disks[vm->n_disks++];
    xmlNodePtr backing = vd__vs_child (d, "backing");
    uint64_t v = 0, ctl = 0, unit = 0;
    const char *bus = NULL;
    unsigned long bus_no = 0;

    k->file = vd__vs_text (backing, "fileName");
    if (!k->file)
      return vd__error (VD_ECORRUPT, 0, "server answer: VM %s: a disk "
                       "without a backing file name", vm->name);
    r = split_dspath (k->file, &k->datastore, &k->path);
    if (r < 0)
      return r;
    k->change_id = vd__vs_text (backing, "changeId");
    k->disk_mode = vd__vs_text (backing, "diskMode");
    if ((r = vd__vs_u64 (d, "key", INT32_MAX, &v, "disk key")) < 0)
      return r;
    k->key = (int32_t) v;
    if ((r = vd__vs_u64 (d, "capacityInBytes", VD_VS_MAX_CAPACITY,
                         &k->capacity, "disk capacity")) < 0)
      return r;
    if (r == 1) {
      if ((r = vd__vs_u64 (d, "capacityInKB", VD_VS_MAX_CAPACITY >> 10, &v,
                           "disk capacity")) < 0)
        return r;
      if (r == 1)
        return vd__error (VD_ECORRUPT, 0, "server answer: VM %s: disk %s "
                         "has no capacity", vm->name, k->file);
      k->capacity = v << 10;
    }
    if ((r = vd__vs_u64 (d, "controllerKey", INT32_MAX, &ctl,
                         "controller key")) < 0
        || (r = vd__vs_u64 (d, "unitNumber", 65535, &unit,
                            "unit number")) < 0)
      return r;
    /* find the controller */
    for (xmlNodePtr c = vd__vs_child (val, "VirtualDevice"); c;
         c = vd__vs_next (c, "VirtualDevice")) {
      uint64_t ck = 0, bn = 0;
      if (vd__vs_u64 (c, "key", INT32_MAX, &ck, "device key") != 0
          || ck != ctl)
        continue;
      char *ct = vd__vs_type (c);
      bus = bus_of (ct);
      free (ct);
      if (vd__vs_u64 (c, "busNumber", 255, &bn, "bus number") == 0)
        bus_no = (unsigned long) bn;
      break;
    }
    snprintf (k->device, sizeof k->device, "%s%lu:%lu", bus ? bus : "disk",
              bus_no, (unsigned long) unit);
  }
  return 0;
}

static int
parse_snapshots (xmlNodePtr list, struct vd_vsphere_vm *vm, size_t *cap,
                 int depth)
{
  int r;
  if (depth > 32)
    return vd__error (VD_ECORRUPT, 0, "server answer: VM %s: snapshot tree "
                     "deeper than 32", vm->name);
  for (xmlNodePtr t = list; t; t = vd__vs_next (t, (const char *) t->name)) {
    uint64_t id = 0;
    GROW (vm->snapshots, vm->n_snapshots, *cap, 4096, "snapshots");
    struct vd_vsphere_snapshot *sn = &vm->snapshots[vm->n_snapshots++];
    sn->moref = vd__vs_text (t, "snapshot");
    sn->name = vd__vs_text (t, "name");
    sn->depth = depth;
    if ((r = vd__vs_u64 (t, "id", INT32_MAX, &id, "snapshot id")) < 0)
      return r;
    sn->id = (int32_t) id;
    if (!sn->moref || !sn->name)
      return vd__error (VD_ECORRUPT, 0, "server answer: VM %s: a snapshot "
                       "without moref or name", vm->name);
    r = parse_snapshots (vd__vs_child (t, "childSnapshotList"), vm, cap,
                         depth + 1);
    if (r < 0)
      return r;
  }
  return 0;
}

/* Call fn (ctx, name, val) for each propSet of obj (an ObjectContent);
 * the first negative return stops the walk and is returned. */
static int
each_prop (xmlNodePtr obj, int (*fn) (void *ctx, const char *name,
                                      xmlNodePtr val), void *ctx)
{
  for (xmlNodePtr p = vd__vs_child (obj, "propSet"); p;
       p = vd__vs_next (p, "propSet")) {
    char *name = vd__vs_text (p, "name");
    int r = name ? fn (ctx, name, vd__vs_child (p, "val")) : 0;
    free (name);
    if (r < 0)
      return r;
  }
  return 0;
}

struct vm_ctx {
  struct vd_vsphere_vm *vm;
  const char *moref;
  size_t snap_cap;
};

static int
vm_prop (void *arg, const char *name, xmlNodePtr val)
{
  struct vm_ctx *x = arg;
  struct vd_vsphere_vm *vm = x->vm;
  if (strcmp (name, "name") == 0)
    vm->name = vd__vs_text (val, NULL);
  else if (strcmp (name, "runtime.powerState") == 0)
    vm->power_state = vd__vs_text (val, NULL);
  else if (strcmp (name, "config.files.vmPathName") == 0)
    vm->vmx = vd__vs_text (val, NULL);
  else if (strcmp (name, "config.hardware.device") == 0) {
    if (!vm->name)
      vm->name = strdup (x->moref);
    return vd__vs_parse_devices (val, vm);
  }
  else if (strcmp (name, "layoutEx.file") == 0) {
    for (xmlNodePtr f = vd__vs_child (val, "VirtualMachineFileLayoutExFileInfo");
         f; f = vd__vs_next (f, "VirtualMachineFileLayoutExFileInfo")) {
      char *t = vd__vs_text (f, "type");
      if (t && strcmp (t, "nvram") == 0 && !vm->nvram)
        vm->nvram = vd__vs_text (f, "name");
      free (t);
    }
  }
  else if (strcmp (name, "snapshot") == 0) {
    vm->current_snapshot = vd__vs_text (val, "currentSnapshot");
    return parse_snapshots (vd__vs_child (val, "rootSnapshotList"), vm,
                            &x->snap_cap, 0);
  }
  return 0;
}

static int
add_vm (struct collect *c, xmlNodePtr obj, const char *moref)
{
  struct vd_vsphere_inventory *inv = c->inv;
  struct vm_ctx x = { .moref = moref };
  int r;

  GROW (inv->vms, inv->n_vms, c->cap_vms, VD_VS_MAX_VMS, "VMs");
  x.vm = &inv->vms[inv->n_vms++];
  x.vm->moref = strdup (moref);
  if ((r = each_prop (obj, vm_prop, &x)) < 0)
    return r;
  if (!x.vm->name)
    return vd__error (VD_ECORRUPT, 0, "server answer: VM %s has no name",
                     moref);
  return 0;
}

struct folder_ctx {
  struct folder *f;
  size_t cap_ds;
};

static int
folder_prop (void *arg, const char *name, xmlNodePtr val)
{
  struct folder_ctx *x = arg;
  struct folder *f = x->f;
  if (strcmp (name, "name") == 0)
    f->name = vd__vs_text (val, NULL);
  else if (strcmp (name, "parent") == 0)
    f->parent = vd__vs_text (val, NULL);
  else if (strcmp (name, "datastore") == 0)
    for (xmlNodePtr m = vd__vs_child (val, "ManagedObjectReference"); m;
         m = vd__vs_next (m, "ManagedObjectReference")) {
      if (f->n_ds == x->cap_ds) {
        size_t nc = x->cap_ds ? x->cap_ds * 2 : 8;
        char **np = nc > 100000 ? NULL
                    : realloc (f->datastores, nc * sizeof *np);
        if (!np)
          return vd__error (VD_ECORRUPT, 0, "inventory: too many "
                           "datastores in a datacenter");
        f->datastores = np;
        x->cap_ds = nc;
      }
      f->datastores[f->n_ds++] = vd__vs_text (m, NULL);
    }
  return 0;
}

static int
add_folder (struct collect *c, xmlNodePtr obj, const char *moref, int is_dc)
{
  struct folder_ctx x = { 0 };
  GROW (c->folders, c->n_folders, c->cap_folders, 100000, "folders");
  x.f = &c->folders[c->n_folders++];
  x.f->moref = strdup (moref);
  x.f->is_dc = is_dc;
  return each_prop (obj, folder_prop, &x);
}

static int
datastore_prop (void *arg, const char *name, xmlNodePtr val)
{
  struct vd_vsphere_datastore *d = arg;
  int r = 0;
  if (strcmp (name, "name") == 0)
    d->name = vd__vs_text (val, NULL);
  else if (strcmp (name, "summary") == 0) {
    d->type = vd__vs_text (val, "type");
    if ((r = vd__vs_u64 (val, "capacity", UINT64_C (1) << 60,
                         &d->capacity, "datastore capacity")) >= 0)
      r = vd__vs_u64 (val, "freeSpace", UINT64_C (1) << 60,
                      &d->free_space, "datastore free space");
  }
  return r;
}

static int
add_datastore (struct collect *c, xmlNodePtr obj, const char *moref)
{
  struct vd_vsphere_inventory *inv = c->inv;
  struct vd_vsphere_datastore *d;
  int r;
  GROW (inv->datastores, inv->n_datastores, c->cap_ds, 100000, "datastores");
  d = &inv->datastores[inv->n_datastores++];
  d->moref = strdup (moref);
  if ((r = each_prop (obj, datastore_prop, d)) < 0)
    return r;
  if (!d->name)
    return vd__error (VD_ECORRUPT, 0, "server answer: datastore %s has no "
                     "name", moref);
  return 0;
}

static struct folder *
find_folder (struct collect *c, const char *moref)
{
  for (size_t i = 0; moref && i < c->n_folders; i++)
    if (c->folders[i].moref && strcmp (c->folders[i].moref, moref) == 0)
      return &c->folders[i];
  return NULL;
}

/* The inventory path of a datacenter: folder names up to the root. */
static char *
dc_path (struct collect *c, struct folder *dc, const char *root)
{
  char *path = strdup (dc->name ? dc->name : "");
  struct folder *f = dc;
  for (int depth = 0; path && depth < 64; depth++) {
    if (!f->parent || (root && strcmp (f->parent, root) == 0))
      break;
    f = find_folder (c, f->parent);
    if (!f || !f->name)
      break;
    char *np = vd__asprintf ("%s/%s", f->name, path);
    free (path);
    path = np;
  }
  return path;
}

static int
collect_objects (struct collect *c, xmlNodePtr rv)
{
  int r;
  for (xmlNodePtr o = vd__vs_child (rv, "objects"); o;
       o = vd__vs_next (o, "objects")) {
    xmlNodePtr obj = vd__vs_child (o, "obj");
    char *type = vd__vs_attr (obj, "type");
    char *moref = vd__vs_text (obj, NULL);
    r = 0;
    if (!type || !moref)
      r = vd__error (VD_ECORRUPT, 0, "server answer: an object without "
                    "type or moref");
    else if (strcmp (type, "VirtualMachine") == 0)
      r = add_vm (c, o, moref);
    else if (strcmp (type, "Datacenter") == 0)
      r = add_folder (c, o, moref, 1);
    else if (strcmp (type, "Folder") == 0)
      r = add_folder (c, o, moref, 0);
    else if (strcmp (type, "Datastore") == 0)
      r = add_datastore (c, o, moref);
    free (type);
    free (moref);
    if (r < 0)
      return r;
  }
  return 0;
}

static void
prop_set (xmlNodePtr spec, const char *type, const char *const *paths)
{
  xmlNodePtr ps = xmlNewChild (spec, NULL, BAD_CAST "propSet", NULL);
  vd__vs_add (ps, "type", type);
  vd__vs_add (ps, "all", "false");
  for (; *paths; paths++)
    vd__vs_add (ps, "pathSet", *paths);
}

static int
cmp_vm (const void *a, const void *b)
{
  const struct vd_vsphere_vm *x = a, *y = b;
  return strcmp (x->name, y->name);
}

/* Create a ContainerView of types under the root folder; *view gets it. */
static int
create_view (struct vd_vsphere *s, const char *const *types, char **view)
{
  xmlNodePtr m, ret;
  xmlDocPtr doc, req = vd__vs_req ("CreateContainerView", "ViewManager",
                                   vd__vs_viewmgr (s), &m);
  int r;
  if (!req)
    return vd__error (VD_ENOMEM, 0, "request");
  vd__vs_add_ref (m, "container", "Folder", vd__vs_root (s));
  for (; *types; types++)
    vd__vs_add (m, "type", *types);
  vd__vs_add (m, "recursive", "true");
  r = vd__vs_call (s, req, &doc, &ret);
  if (r < 0)
    return r;
  *view = vd__vs_text (ret, "returnval");
  xmlFreeDoc (doc);
  if (!*view)
    return vd__error (VD_ECORRUPT, 0, "server answer: CreateContainerView "
                     "returned no view");
  return 0;
}

/* Best effort: a failure is forgotten when nothing failed before (the
 * first error recorded is the one reported). */
static void
destroy_view (struct vd_vsphere *s, const char *view, int failed)
{
  xmlNodePtr m, ret;
  xmlDocPtr doc, req = vd__vs_req ("DestroyView", "ContainerView", view, &m);
  if (req && vd__vs_call (s, req, &doc, &ret) == 0)
    xmlFreeDoc (doc);
  else if (!failed)
    vd__error_clear ();
}

/* RetrievePropertiesEx over the view, then every continuation page. */
static int
retrieve (struct vd_vsphere *s, const char *view, struct collect *c)
{
  static const char *const vm_paths[] = {
    "name", "runtime.powerState", "config.files.vmPathName",
    "config.hardware.device", "layoutEx.file", "snapshot", NULL
  };
  static const char *const dc_paths[] = { "name", "parent", "datastore",
                                          NULL };
  static const char *const folder_paths[] = { "name", "parent", NULL };
  static const char *const ds_paths[] = { "name", "summary", NULL };
  xmlNodePtr m, ret, spec, os, sel;
  xmlDocPtr doc, req = vd__vs_req ("RetrievePropertiesEx",
                                   "PropertyCollector", vd__vs_pc (s), &m);
  char *token = NULL;
  int r;

  if (!req)
    return vd__error (VD_ENOMEM, 0, "request");
  spec = xmlNewChild (m, NULL, BAD_CAST "specSet", NULL);
  prop_set (spec, "VirtualMachine", vm_paths);
  prop_set (spec, "Datacenter", dc_paths);
  prop_set (spec, "Folder", folder_paths);
  prop_set (spec, "Datastore", ds_paths);
  os = xmlNewChild (spec, NULL, BAD_CAST "objectSet", NULL);
  vd__vs_add_ref (os, "obj", "ContainerView", view);
  vd__vs_add (os, "skip", "true");
  sel = xmlNewChild (os, NULL, BAD_CAST "selectSet", NULL);
  vd__vs_xsi_type (sel, "TraversalSpec");
  vd__vs_add (sel, "name", "traverseEntities");
  vd__vs_add (sel, "type", "ContainerView");
  vd__vs_add (sel, "path", "view");
  vd__vs_add (sel, "skip", "false");
  xmlNewChild (m, NULL, BAD_CAST "options", NULL);
  r = vd__vs_call (s, req, &doc, &ret);
  for (unsigned page = 0; r == 0; page++) {
    xmlNodePtr rv = vd__vs_child (ret, "returnval");
    r = collect_objects (c, rv);
    free (token);
    token = rv ? vd__vs_text (rv, "token") : NULL;
    xmlFreeDoc (doc);
    if (r < 0 || !token)
      break;
    if (page >= VD_VS_MAX_PAGES) {
      r = vd__error (VD_ECORRUPT, 0, "server answer: more than %u pages",
                    VD_VS_MAX_PAGES);
      break;
    }
    req = vd__vs_req ("ContinueRetrievePropertiesEx", "PropertyCollector",
                      vd__vs_pc (s), &m);
    if (!req) {
      r = vd__error (VD_ENOMEM, 0, "request");
      break;
    }
    vd__vs_add (m, "token", token);
    r = vd__vs_call (s, req, &doc, &ret);
  }
  free (token);
  return r;
}

static void
collect_free (struct collect *c)
{
  for (size_t i = 0; i < c->n_folders; i++) {
    struct folder *f = &c->folders[i];
    free (f->moref); free (f->name); free (f->parent);
    for (size_t k = 0; k < f->n_ds; k++)
      free (f->datastores[k]);
    free (f->datastores);
  }
  free (c->folders);
}

static int
inventory (struct vd_vsphere *s, struct vd_vsphere_inventory **out)
{
  static const char *const types[] = { "VirtualMachine", "Datacenter",
                                       "Folder", "Datastore", NULL };
  struct collect c = { 0 };
  char *view = NULL;
  int r;

  *out = NULL;
  c.inv = calloc (1, sizeof *c.inv);
  if (!c.inv)
    return vd__error (VD_ENOMEM, errno, "inventory");
  r = create_view (s, types, &view);
  if (r == 0)
    r = retrieve (s, view, &c);
  if (view)
    destroy_view (s, view, r < 0);
  free (view);
  if (r == 0) {
    /* datacenter of each datastore */
    for (size_t i = 0; i < c.n_folders; i++) {
      struct folder *f = &c.folders[i];
      if (!f->is_dc)
        continue;
      for (size_t k = 0; k < f->n_ds; k++)
        for (size_t d = 0; d < c.inv->n_datastores; d++) {
          struct vd_vsphere_datastore *ds = &c.inv->datastores[d];
          if (f->datastores[k] && !ds->dc_path
              && strcmp (ds->moref, f->datastores[k]) == 0)
            ds->dc_path = dc_path (&c, f, vd__vs_root (s));
        }
    }
    for (size_t d = 0; d < c.inv->n_datastores; d++)
      if (!c.inv->datastores[d].dc_path)
        c.inv->datastores[d].dc_path = strdup ("ha-datacenter");
    for (size_t i = 0; i < c.inv->n_vms; i++)
      if (!c.inv->vms[i].name) {
        r = vd__error (VD_ECORRUPT, 0, "server answer: a VM without name");
        break;
      }
  }
  collect_free (&c);
  if (r < 0) {
    vd_vsphere_inventory_free (c.inv);
    return r;
  }
  if (c.inv->n_vms > 1)
    qsort (c.inv->vms, c.inv->n_vms, sizeof *c.inv->vms, cmp_vm);
  *out = c.inv;
  return 0;
}

VD_API int
vd_vsphere_inventory (vd_vsphere *s, struct vd_vsphere_inventory **out)
{
  VD_ENTER ();
  if (!s || !out)
    return vd__error (VD_EINVAL, 0, "vsphere inventory: no session");
  return inventory (s, out);
}

int
vd__vs_dc_of (struct vd_vsphere *s, const char *ds, char **dc)
{
  struct vd_vsphere_inventory *inv;
  int r = inventory (s, &inv);
  *dc = NULL;
  if (r < 0)
    return r;
  for (size_t i = 0; i < inv->n_datastores; i++)
    if (strcmp (inv->datastores[i].name, ds) == 0) {
      *dc = strdup (inv->datastores[i].dc_path);
      break;
    }
  vd_vsphere_inventory_free (inv);
  if (!*dc)
    return vd__error (VD_ENOENT, 0, "%s: no datastore named \"%s\"",
                     vd__vs_host (s), ds);
  return 0;
}

#endif /* VD_HAVE_VSPHERE */
