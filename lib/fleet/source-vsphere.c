/* Fleet inventory of a vSphere host or vCenter: source
 * "vsphere://USER@HOST[:PORT][?OPTIONS]" (OPTIONS as a vsphere:// disk
 * URI: cafile=, thumbprint=, insecure=1; credentials from the environment,
 * include/vdisk/vdisk.h).  One login, one inventory retrieval
 * (vd_vsphere_inventory), then every disk of every VM (by VM name, then
 * device) opened on the same session to measure it: capacity, the chain
 * depth and the data bytes of its map (the grain tables of sparse links;
 * a flat disk, whose file service has no holes, counts as full).  The
 * manifest URI of each disk is
 *   vsphere://USER@HOST[:PORT]/[DATASTORE] FOLDER/DISK.vmdk?OPTIONS&dc=DC
 * which vd_disk_open (vdisk cat, vdisk scan --manifest) opens with its own
 * session.  A disk that does not open is still listed (depth 0, allocated
 * = capacity, the conservative guess for shard balancing): scanning it
 * reports the error in its result. */
#include "fleet.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* src's "vsphere://USER@HOST[:PORT]" and OPTIONS (borrowed from src, or
 * ""); -1 when there is no host. */
static int
split_source (const char *src, char **base, const char **query)
{
  const char *p = src + 10, *end = p + strcspn (p, "/?#");
  const char *q = strchr (src, '?');
  if (end == p || *p == '@' || end[-1] == '@')
    return -1;
  *base = strndup (src, (size_t) (end - src));
  *query = q ? q + 1 : "";
  return *base ? 0 : -1;
}

/* text with ' ', '%', '&', '#', '?' and controls percent-encoded, for an
 * option value; malloc'd or NULL. */
static char *
opt_escape (const char *text)
{
  size_t n = strlen (text);
  char *o = malloc (3 * n + 1), *w = o;
  if (!o)
    return NULL;
  for (const unsigned char *c = (const unsigned char *) text; *c; c++)
    if (*c <= ' ' || *c == '%' || *c == '&' || *c == '#' || *c == '?'
        || *c == 0x7f)
      w += sprintf (w, "%%%02X", *c);
    else
      *w++ = (char) *c;
  *w = '\0';
  return o;
}

static const char *
disk_dc (const struct vd_vsphere_inventory *inv, const char *datastore)
{
  for (size_t i = 0; i < inv->n_datastores; i++)
    if (datastore && inv->datastores[i].name
        && strcmp (inv->datastores[i].name, datastore) == 0)
      return inv->datastores[i].dc_path;
  return NULL;
}

/* One disk: its manifest line through cb.  1 to stop, 0 to go on, or an
 * error. */
static int
one_disk (vd_vsphere *s, const struct vd_vsphere_inventory *inv,
          const struct vd_vsphere_vm *vm, const struct vd_vsphere_disk *dk,
          const char *base, const char *query, const char *host,
          vd_fleet_disk_cb cb, void *payload)
{
  struct vd_fleet_disk fd;
  const char *dc = disk_dc (inv, dk->datastore);
  char id[33], *edc = dc ? opt_escape (dc) : NULL, *uri;
  vd_disk *d;

  if (!dk->file || (dc && !edc)) {
    free (edc);
    return dk->file ? vd__error (VD_ENOMEM, ENOMEM, "%s", base) : 0;
  }
  uri = vd__asprintf ("%s/%s%s%s%s%s%s", base, dk->file,
                      *query || edc ? "?" : "", query,
                      *query && edc ? "&" : "", edc ? "dc=" : "",
                      edc ? edc : "");
  free (edc);
  if (!uri)
    return vd__error (VD_ENOMEM, ENOMEM, "%s", base);
  memset (&fd, 0, sizeof fd);
  vd__fleet_make_id (id, "vsphere", host, dk->file);
  fd.id = id;
  fd.uri = uri;
  fd.host = host;
  fd.vm = vm->name;
  fd.vmx = vm->vmx;
  fd.device = dk->device[0] ? dk->device : NULL;
  if (vd_disk_open_vsphere (&d, s, dc, dk->file, VD_OPEN_READ_ONLY) == 0) {
    if (vd__fleet_measure_disk (d, &fd.capacity, &fd.allocated,
                                &fd.depth) < 0) {
      fd.allocated = fd.capacity;
      vd__error_clear ();
    }
    vd_disk_close (d);
  }
  else {
    vd__error_clear ();         /* listed; the scan reports why */
    fd.capacity = fd.allocated = dk->capacity;
    fd.depth = 0;
  }
  int r = cb (&fd, payload) ? 1 : 0;
  free (uri);
  return r;
}

int
vd__fleet_vsphere_inventory (const char *source, vd_fleet_disk_cb cb,
                             void *payload)
{
  struct vd_vsphere_inventory *inv = NULL;
  vd_vsphere *s = NULL;
  const char *query, *host;
  char *base = NULL;
  int r;

  if (split_source (source, &base, &query) < 0)
    return vd__error (VD_EINVAL, 0, "%s: expected vsphere://USER@HOST"
                     "[:PORT][?OPTIONS]", source);
  r = vd_vsphere_connect (&s, source, NULL, NULL, 0);
  if (r == 0)
    r = vd_vsphere_inventory (s, &inv);
  host = s ? vd_vsphere_about (s, VD_VSPHERE_ABOUT_HOST) : NULL;
  if (!host)
    host = strrchr (base + 10, '@') ? strrchr (base + 10, '@') + 1
                                    : base + 10;   /* (USER may hold an @) */
  for (size_t i = 0; r == 0 && inv && i < inv->n_vms; i++) {
    const struct vd_vsphere_vm *vm = &inv->vms[i];
    for (size_t k = 0; r == 0 && k < vm->n_disks; k++)
      r = one_disk (s, inv, vm, &vm->disks[k], base, query, host, cb,
                    payload);
  }
  vd_vsphere_inventory_free (inv);
  vd_vsphere_close (s);
  free (base);
  return r < 0 ? r : 0;
}
