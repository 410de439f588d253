/* vdisk backup vsphere://USER@HOST[:PORT]/VM[?OPTIONS] REPO: a VM on an
 * ESXi host or vCenter (VM: its name or its moref, vm-NN) backed up into
 * the same repository layout as a VM folder (docs/backup.md).  A snapshot
 * freezes the disks (named vdisk-backup-POINT: `vdisk vsphere cleanup`
 * finds one a killed run left); each disk is read over the datastore file
 * service as `vdisk cat vsphere://...` reads it (vd_disk_open_vsphere):
 * the allocated areas for a full point, the areas vSphere's changed block
 * tracking reports since the previous point's changeId for an
 * incremental one (QueryChangedDiskAreas; a disk without a changeId, or
 * an ID vSphere refuses, gets a full point); the .vmx and .nvram are
 * downloaded; the snapshot is removed, also on failure.  RDM disks of a
 * remote VM are not read.  OPTIONS and credentials as vd_vsphere_connect. */
#include "backup-int.h"
#include "vsphere/vsphere-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_AREAS (1u << 22)   /* changed areas of one disk we keep */

struct areas {
  uint64_t (*v)[2];
  size_t n, cap;
  int err;
};

static int
keep_area (uint64_t off, uint64_t len, void *payload)
{
  struct areas *a = payload;
  if (a->n == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 256;
    void *p = cap <= MAX_AREAS ? realloc (a->v, cap * sizeof *a->v) : NULL;
    if (!p) {
      a->err = 1;
      return 1;
    }
    a->v = p;
    a->cap = cap;
  }
  a->v[a->n][0] = off;
  a->v[a->n][1] = len;
  a->n++;
  return 0;
}

/* "[ds] folder/name.ext" -> "name.ext" (malloc'd), checked plain. */
static char *
ds_basename (const char *dspath)
{
  const char *b = dspath ? strrchr (dspath, '/') : NULL;
  b = b ? b + 1 : dspath ? strchr (dspath, ']') : NULL;
  if (b && *b == ']')
    b++;
  while (b && *b == ' ')
    b++;
  if (!b || !vd__bk_plain_name (b)) {
    vd__error (VD_ECORRUPT, 0, "vSphere: \"%s\" does not end in a plain file "
              "name", dspath ? dspath : "");
    return NULL;
  }
  return strdup (b);
}

struct remote {
  vd_vsphere *s;
  const struct vd_vsphere_vm *vm;       /* from the inventory */
  const char *snap;
  const struct vd__bk_point *pb;
  const struct vd_backup_options *o;
  uint32_t flags;
};

/* One disk of the snapshot into the point. */
static int
remote_disk (struct remote *rm, const struct vd_vsphere_disk *sd,
             struct vd_backup_result *res)
{
  const struct vd__bk_point *pb = rm->pb;
  char key[32], *name = NULL, *dir = NULL, *dst_path = NULL, *prev_path = NULL;
  vd_disk *src = NULL, *dst = NULL;
  struct areas ar = { 0 };
  struct copy c = { 0 };
  const char *kind = "full";
  json_object *e = json_object_new_object ();
  int r = 0;

  json_object_array_add (pb->disks, e);
  vd__bk_device_key (sd->device, key);
  /* the VM's own name of the disk (the snapshot's file is a delta) */
  for (size_t i = 0; i < rm->vm->n_disks && !name; i++)
    if (strcmp (rm->vm->disks[i].device, sd->device) == 0)
      name = ds_basename (rm->vm->disks[i].file);
  if (!name)
    name = ds_basename (sd->file);
  dir = vd__asprintf ("%s/disks/%s", pb->repo, key);
  dst_path = dir ? vd__asprintf ("%s/%s.vmdk", dir, pb->point) : NULL;
  c.buf = malloc (COPY_CHUNK);
  c.wb_fd = -1;
  if (!name || !dst_path || !c.buf || !vd__bk_plain_name (key)) {
    r = name ? vd__error (VD_ENOMEM, errno, "backup of %s", sd->file)
             : vd_last_error ()->code;
    goto out;
  }
  json_object_object_add (e, "device", json_object_new_string (sd->device));
  json_object_object_add (e, "name", json_object_new_string (name));
  if (mkdir (dir, 0755) < 0 && errno != EEXIST) {
    r = vd__error (VD_EIO, errno, "%s: mkdir", dir);
    goto out;
  }
  r = vd_disk_open_vsphere (&src, rm->s, NULL, sd->file, VD_OPEN_READ_ONLY);
  if (r < 0)
    goto out;
  uint64_t cap = vd_disk_get_size (src);
  json_object *pd = vd__bk_prev_disk (pb->prev, sd->device);
  const char *prev_id = vd__bk_jstr (pd, "change_id");
  if (pd && prev_id && sd->change_id
      && (uint64_t) vd__bk_jint (pd, "capacity", -1) == cap
      && (prev_path = vd__bk_disk_file_of (pb->repo, pd)) != NULL) {
    int64_t q = vd_vsphere_changed_areas (rm->s, rm->vm->moref, rm->snap,
                                          sd->key, cap, prev_id, keep_area,
                                          &ar);
    if (q >= 0 && !ar.err)
      kind = "incremental";
  }
  vd__error_clear ();
  enum vd_type ft = vd__bk_full_type (rm->o);
  unlink (dst_path);
  r = vd__bk_create_point_file (src, kind, prev_path, dst_path, ft);
  if (r == 0)
    r = vd_disk_open (&dst, dst_path, VD_OPEN_NO_SYNC);
  if (r == 0) {
    c.src = src;
    c.dst = dst;
    c.total = cap;
    c.progress = rm->o ? rm->o->progress : NULL;
    c.payload = rm->o ? rm->o->payload : NULL;
    c.skip_zero = strcmp (kind, "full") == 0;
    if (c.skip_zero)
      r = vd_disk_block_status (src, 0, cap, vd__bk_copy_data, &c);
    else
      for (size_t i = 0; i < ar.n && r == 0 && c.r == 0; i++)
        vd__bk_copy_area (ar.v[i][0], ar.v[i][1], &c);
    if (r == 0)
      r = c.r;
    int r2 = vd_disk_close (dst);
    if (r == 0)
      r = r2;
  }
  if (r < 0)
    goto out;
  r = vd__bk_finish_disk (pb, e, key, kind, dst_path, src, sd->change_id,
                          rm->o, &c, res);
  json_object_object_add (e, "source", json_object_new_string (sd->file));
out:
  if (src)
    vd_disk_close (src);
  free (ar.v);
  free (c.buf);
  free (name);
  free (dir);
  free (dst_path);
  free (prev_path);
  return r;
}

/* A datastore file (.vmx, .nvram) into the point's files/. */
static int
remote_file (struct remote *rm, const char *dspath,
             struct vd_backup_result *res)
{
  char *name = ds_basename (dspath);
  char *to = name ? vd__asprintf ("%s/%s", rm->pb->files_dir, name) : NULL;
  char *rel = name ? vd__asprintf ("files/%s", name) : NULL;
  int r = to && rel ? vd_vsphere_get_file (rm->s, NULL, dspath, to, 0)
                    : name ? VD_ENOMEM : vd_last_error ()->code;
  if (r == 0) {
    int err = 0;
    json_object *fe = vd__bk_file_entry (rel, to, &err);
    json_object_array_add (rm->pb->files, fe);
    res->bytes_written += (uint64_t) vd__bk_jint (fe, "size", 0);
    r = err;
  }
  free (name);
  free (to);
  free (rel);
  return r;
}

/* vsphere://[USER@]HOST[:PORT]/VM[?OPTIONS]: *url "[USER@]HOST[:PORT]
 * [?OPTIONS]" (vd_vsphere_connect decodes USER), *vm %-decoded as every
 * vsphere:// path is (vd__vs_unescape); malloc'd. */
static int
parse_uri (const char *uri, char **url, char **vm)
{
  const char *a = uri + 10, *slash = strchr (a, '/');
  const char *q = slash ? strchr (slash, '?') : NULL;
  *url = *vm = NULL;
  if (!slash || slash == a || slash[1] == 0 || slash[1] == '?')
    return vd__error (VD_EINVAL, 0, "%s: expected vsphere://USER@HOST/VM "
                     "(a VM name or moref)", uri);
  size_t n = q ? (size_t) (q - slash - 1) : strlen (slash + 1);
  if (!(*vm = vd__vs_unescape (slash + 1, n)))
    return vd_last_error ()->code == VD_ENOTSUP
           ? VD_ENOTSUP         /* (built without vSphere, or no libcurl) */
           : vd__error (VD_EINVAL, 0, "%s: bad %%-escape (or a NUL) in the "
                       "VM name", uri);
  if (!(*url = vd__asprintf ("%.*s%s", (int) (slash - a), a, q ? q : "")))
    return vd__error (VD_ENOMEM, errno, "%s", uri);
  return 0;
}

int
vd__bk_backup_vsphere (const char *uri, const char *repo,
                       const struct vd_backup_options *o,
                       struct vd_backup_result *res)
{
  char *url = NULL, *want = NULL, *snap = NULL, *vmx_name = NULL;
  vd_vsphere *s = NULL;
  struct vd_vsphere_inventory *inv = NULL;
  struct vd_vsphere_vm *frozen = NULL;
  struct vd__bk_point pb;
  uint32_t flags = o ? o->flags : 0;
  int r;

  memset (&pb, 0, sizeof pb);
  pb.lk = -1;
  r = parse_uri (uri, &url, &want);
  if (r == 0)
    r = vd_vsphere_connect (&s, url, NULL, NULL, 0);
  if (r == 0)
    r = vd_vsphere_inventory (s, &inv);
  const struct vd_vsphere_vm *vm = NULL;
  for (size_t i = 0; r == 0 && i < inv->n_vms && !vm; i++)
    if (strcmp (inv->vms[i].name, want) == 0
        || strcmp (inv->vms[i].moref, want) == 0)
      vm = &inv->vms[i];
  if (r == 0 && !vm)
    r = vd__error (VD_ENOENT, 0, "%s: no VM named %s (vdisk vsphere ls)",
                  uri, want);
  if (r == 0 && !(vmx_name = ds_basename (vm->vmx)))
    r = vd_last_error ()->code;
  if (r == 0)
    r = vd__bk_point_begin (&pb, repo, vmx_name, vm->name, flags);
  if (r < 0)
    goto out;
  char sname[96];
  snprintf (sname, sizeof sname, "vdisk-backup-%s", pb.point);
  r = vd_vsphere_snapshot_create (s, vm->moref, sname, 0, 600, &snap);
  if (r == 0)
    r = vd_vsphere_snapshot_disks (s, snap, &frozen);
  struct remote rm = { s, vm, snap, &pb, o, flags };
  for (size_t i = 0; r == 0 && i < frozen->n_disks; i++) {
    r = remote_disk (&rm, &frozen->disks[i], res);
    if (r == 0)
      res->disks++;
  }
  if (r == 0)
    r = remote_file (&rm, vm->vmx, res);
  if (r == 0 && vm->nvram) {
    /* a VM never powered on has none yet: nothing to save */
    r = remote_file (&rm, vm->nvram, res);
    if (r == VD_ENOENT) {
      vd__error_clear ();
      r = 0;
    }
  }
  if (snap) {
    int r2 = vd_vsphere_snapshot_remove (s, snap, 600);
    if (r == 0)
      r = r2;
  }
  if (r == 0)
    r = vd__bk_point_commit (&pb, o, res);
out:
  vd__bk_point_end (&pb);
  vd_vsphere_vm_free (frozen);
  vd_vsphere_inventory_free (inv);
  vd_vsphere_close (s);
  free (snap);
  free (vmx_name);
  free (url);
  free (want);
  return r;
}
