/* First class disks (FCDs, "improved virtual disks") on vSphere through
 * the VStorageObjectManager of the vSphere Web Services API: list them per
 * datastore (ListVStorageObject), describe one (RetrieveVStorageObject:
 * name, capacity, backing file), register an existing disk as one
 * (RegisterDisk), and open one by its ID through the datastore file
 * backend.  vCenter's manager (VcenterVStorageObjectManager) and ESXi's
 * (HostVStorageObjectManager, whose methods carry a "Host" prefix) are
 * both handled; which one the server has comes from its service content.
 *
 * Every answer is checked: an ID is a short printable string, the backing
 * file is a "[datastore] path" of that datastore, the capacity is bounded
 * by VD_VS_MAX_CAPACITY. */
#include "vsphere/vsphere-internal.h"

#ifdef VD_HAVE_VSPHERE

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/curl-dl.h"

#define MAX_FCDS 100000u
#define MAX_ID 128

/* The VStorageObjectManager: *moref and whether it is ESXi's. */
int
vd__vs_fcd_manager (vd_vsphere *s, char **moref, int *host)
{
  xmlNodePtr m, ret, rv, mgr;
  xmlDocPtr doc;
  char *type;
  int r;

  *moref = NULL;
  r = vd__vs_call (s, vd__vs_req ("RetrieveServiceContent", "ServiceInstance",
                                  "ServiceInstance", &m), &doc, &ret);
  if (r < 0)
    return r;
  rv = vd__vs_child (ret, "returnval");
  mgr = vd__vs_child (rv, "vStorageObjectManager");
  *moref = vd__vs_text (mgr, NULL);
  type = vd__vs_attr (mgr, "type");
  xmlFreeDoc (doc);
  *host = type && strcmp (type, "HostVStorageObjectManager") == 0;
  free (type);
  if (!*moref || !**moref) {
    free (*moref);
    *moref = NULL;
    return vd__error (VD_ENOTSUP, 0, "%s: the server has no "
                     "VStorageObjectManager (first class disks need "
                     "vSphere 6.5 or later)", vd__vs_host (s));
  }
  return 0;
}

static xmlDocPtr
fcd_req (const char *method, const char *mgr, int host, xmlNodePtr *m)
{
  char name[64];
  snprintf (name, sizeof name, "%s%s", host ? "Host" : "", method);
  return vd__vs_req (name, host ? "HostVStorageObjectManager"
                     : "VcenterVStorageObjectManager", mgr, m);
}

int
vd__vs_fcd_id_ok (const char *id)
{
  size_t n = id ? strlen (id) : 0;
  if (n == 0 || n > MAX_ID)
    return 0;
  for (; *id; id++)
    if ((unsigned char) *id <= ' ' || (unsigned char) *id >= 0x7f
        || *id == '/' || *id == '\\')
      return 0;
  return 1;
}

static void
fcd_clear (struct vd_vsphere_fcd *f)
{
  free (f->id);
  free (f->name);
  free (f->datastore);
  free (f->datastore_moref);
  free (f->dc_path);
  free (f->file);
  memset (f, 0, sizeof *f);
}

/* Fill f from a VStorageObject answer (rv) on datastore ds. */
static int
fcd_parse (vd_vsphere *s, xmlNodePtr rv, const struct vd_vsphere_datastore *ds,
           struct vd_vsphere_fcd *f)
{
  xmlNodePtr cfg = vd__vs_child (rv, "config");
  xmlNodePtr back = vd__vs_child (cfg, "backing");
  uint64_t mb = 0;
  size_t dl;
  int r;

  memset (f, 0, sizeof *f);
  f->id = vd__vs_text (vd__vs_child (cfg, "id"), "id");
  f->name = vd__vs_text (cfg, "name");
  f->file = vd__vs_text (back, "filePath");
  r = vd__vs_u64 (cfg, "capacityInMB", VD_VS_MAX_CAPACITY >> 20, &mb,
                  "first class disk capacityInMB");
  if (r < 0) {
    fcd_clear (f);
    return r;
  }
  dl = strlen (ds->name);
  if (!vd__vs_fcd_id_ok (f->id) || !f->file || f->file[0] != '['
      || strncmp (f->file + 1, ds->name, dl) != 0 || f->file[dl + 1] != ']') {
    r = vd__error (VD_ECORRUPT, 0, "%s: a first class disk on datastore %s "
                  "without a sane ID or backing file (\"%.100s\")",
                  vd__vs_host (s), ds->name, f->file ? f->file : "");
    fcd_clear (f);
    return r;
  }
  f->capacity = mb << 20;
  f->datastore = strdup (ds->name);
  f->datastore_moref = strdup (ds->moref);
  f->dc_path = ds->dc_path ? strdup (ds->dc_path) : NULL;
  if (!f->datastore || !f->datastore_moref || (ds->dc_path && !f->dc_path)
      || (!f->name && !(f->name = strdup ("")))) {
    fcd_clear (f);
    return vd__error (VD_ENOMEM, errno, "first class disk");
  }
  return 0;
}

static int
fcd_retrieve (vd_vsphere *s, const char *mgr, int host, const char *id,
              const struct vd_vsphere_datastore *ds, struct vd_vsphere_fcd *f)
{
  xmlNodePtr m, ret, idn;
  xmlDocPtr doc, req = fcd_req ("RetrieveVStorageObject", mgr, host, &m);
  int r;

  if (!req)
    return vd__error (VD_ENOMEM, 0, "request");
  idn = vd__vs_add (m, "id", NULL);
  vd__vs_add (idn, "id", id);
  vd__vs_add_ref (m, "datastore", "Datastore", ds->moref);
  if ((r = vd__vs_call (s, req, &doc, &ret)) < 0)
    return r;
  r = fcd_parse (s, vd__vs_child (ret, "returnval"), ds, f);
  xmlFreeDoc (doc);
  if (r == 0 && strcmp (f->id, id) != 0) {
    r = vd__error (VD_ECORRUPT, 0, "%s: asked for first class disk %s, "
                  "the server described %.100s", vd__vs_host (s), id, f->id);
    fcd_clear (f);
  }
  return r;
}

/* The IDs on datastore ds (malloc'd array of malloc'd strings). */
static int
fcd_ids (vd_vsphere *s, const char *mgr, int host,
         const struct vd_vsphere_datastore *ds, char ***ids, size_t *n)
{
  xmlNodePtr m, ret;
  xmlDocPtr doc, req = fcd_req ("ListVStorageObject", mgr, host, &m);
  size_t cap = 0;
  int r;

  *ids = NULL;
  *n = 0;
  if (!req)
    return vd__error (VD_ENOMEM, 0, "request");
  vd__vs_add_ref (m, "datastore", "Datastore", ds->moref);
  if ((r = vd__vs_call (s, req, &doc, &ret)) < 0)
    return r;
  for (xmlNodePtr e = vd__vs_child (ret, "returnval"); e;
       e = vd__vs_next (e, "returnval")) {
    char *id = vd__vs_text (e, "id");
    if (!vd__vs_fcd_id_ok (id) || *n >= MAX_FCDS) {
      free (id);
      r = vd__error (VD_ECORRUPT, 0, "%s: datastore %s: a first class disk "
                    "ID that is missing or not sane, or more than %u",
                    vd__vs_host (s), ds->name, MAX_FCDS);
      break;
    }
    if (*n == cap) {
      size_t nc = cap ? cap * 2 : 16;
      char **nv = realloc (*ids, nc * sizeof *nv);
      if (!nv) {
        free (id);
        r = vd__error (VD_ENOMEM, errno, "first class disks");
        break;
      }
      *ids = nv;
      cap = nc;
    }
    (*ids)[(*n)++] = id;
  }
  xmlFreeDoc (doc);
  if (r < 0) {
    for (size_t i = 0; i < *n; i++)
      free ((*ids)[i]);
    free (*ids);
    *ids = NULL;
    *n = 0;
  }
  return r;
}

static int
ds_matches (const struct vd_vsphere_datastore *d, const char *want)
{
  return !want || strcmp (d->name, want) == 0 || strcmp (d->moref, want) == 0;
}

VD_API int
vd_vsphere_fcd_list (vd_vsphere *s, const char *datastore,
                     struct vd_vsphere_fcd **out, size_t *n_out)
{
  VD_ENTER ();
  struct vd_vsphere_inventory *inv = NULL;
  struct vd_vsphere_fcd *v = NULL;
  size_t n = 0, cap = 0, matched = 0;
  char *mgr = NULL;
  int host = 0, r;

  if (out)
    *out = NULL;
  if (n_out)
    *n_out = 0;
  if (!s || !out || !n_out)
    return vd__error (VD_EINVAL, 0, "first class disks: no session or "
                     "output");
  if ((r = vd__vs_fcd_manager (s, &mgr, &host)) < 0
      || (r = vd_vsphere_inventory (s, &inv)) < 0)
    goto done;
  for (size_t i = 0; i < inv->n_datastores && r == 0; i++) {
    const struct vd_vsphere_datastore *d = &inv->datastores[i];
    char **ids;
    size_t k, nid;
    if (!ds_matches (d, datastore))
      continue;
    matched++;
    if ((r = fcd_ids (s, mgr, host, d, &ids, &nid)) < 0)
      break;
    for (k = 0; k < nid && r == 0; k++) {
      if (n == cap) {
        size_t nc = cap ? cap * 2 : 16;
        struct vd_vsphere_fcd *nv = realloc (v, nc * sizeof *nv);
        if (!nv) {
          r = vd__error (VD_ENOMEM, errno, "first class disks");
          break;
        }
        v = nv;
        cap = nc;
      }
      if ((r = fcd_retrieve (s, mgr, host, ids[k], d, &v[n])) == 0)
        n++;
    }
    for (k = 0; k < nid; k++)
      free (ids[k]);
    free (ids);
  }
  if (r == 0 && datastore && !matched)
    r = vd__error (VD_ENOENT, 0, "%s: no datastore %s", vd__vs_host (s),
                  datastore);
done:
  vd_vsphere_inventory_free (inv);
  free (mgr);
  if (r < 0) {
    vd_vsphere_fcd_list_free (v, n);
    return r;
  }
  *out = v;
  *n_out = n;
  return 0;
}

VD_API void
vd_vsphere_fcd_list_free (struct vd_vsphere_fcd *fcds, size_t n)
{
  if (!fcds)
    return;
  for (size_t i = 0; i < n; i++)
    fcd_clear (&fcds[i]);
  free (fcds);
}

VD_API int
vd_vsphere_fcd_get (vd_vsphere *s, const char *id, const char *datastore,
                    struct vd_vsphere_fcd **out)
{
  VD_ENTER ();
  struct vd_vsphere_inventory *inv = NULL;
  struct vd_vsphere_fcd *f;
  char *mgr = NULL;
  int host = 0, r, found = 0;

  if (out)
    *out = NULL;
  if (!s || !out || !vd__vs_fcd_id_ok (id))
    return vd__error (VD_EINVAL, 0, "first class disk: no session, output "
                     "or valid ID");
  if (!(f = calloc (1, sizeof *f)))
    return vd__error (VD_ENOMEM, errno, "first class disk");
  if ((r = vd__vs_fcd_manager (s, &mgr, &host)) < 0
      || (r = vd_vsphere_inventory (s, &inv)) < 0)
    goto done;
  for (size_t i = 0; i < inv->n_datastores && !found && r == 0; i++) {
    const struct vd_vsphere_datastore *d = &inv->datastores[i];
    char **ids;
    size_t k, nid;
    if (!ds_matches (d, datastore))
      continue;
    if ((r = fcd_ids (s, mgr, host, d, &ids, &nid)) < 0)
      break;
    for (k = 0; k < nid; k++)
      if (strcmp (ids[k], id) == 0)
        found = 1;
    for (k = 0; k < nid; k++)
      free (ids[k]);
    free (ids);
    if (found)
      r = fcd_retrieve (s, mgr, host, id, d, f);
  }
  if (r == 0 && !found)
    r = vd__error (VD_ENOENT, 0, "%s: no first class disk %s%s%s",
                  vd__vs_host (s), id, datastore ? " on datastore " : "",
                  datastore ? datastore : "");
done:
  vd_vsphere_inventory_free (inv);
  free (mgr);
  if (r < 0) {
    free (f);
    return r;
  }
  *out = f;
  return 0;
}

VD_API void
vd_vsphere_fcd_free (struct vd_vsphere_fcd *fcd)
{
  if (!fcd)
    return;
  fcd_clear (fcd);
  free (fcd);
}

VD_API int
vd_disk_open_vsphere_fcd (vd_disk **out, vd_vsphere *s, const char *id,
                          const char *datastore, uint32_t flags)
{
  VD_ENTER ();
  struct vd_vsphere_fcd *f;
  int r;

  if (out)
    *out = NULL;
  if (!out)
    return vd__error (VD_EINVAL, 0, "first class disk: no output");
  if ((r = vd_vsphere_fcd_get (s, id, datastore, &f)) < 0)
    return r;
  r = vd_disk_open_vsphere (out, s, f->dc_path, f->file, flags);
  vd_vsphere_fcd_free (f);
  return r;
}

/* The datastore file service URL of "[ds] path" in datacenter dc, as
 * RegisterDisk takes it. */
static char *
folder_url (vd_vsphere *s, const char *dc, const char *ds, const char *path)
{
  CURL *h = curl_easy_init ();
  char *p = NULL, *d = NULL, *n = NULL, *url = NULL;

  if (!h)
    return NULL;
  p = curl_easy_escape (h, path, 0);
  d = curl_easy_escape (h, dc, 0);
  n = curl_easy_escape (h, ds, 0);
  if (p && d && n) {
    /* keep the folder separators */
    for (char *q = p; (q = strstr (q, "%2F")); ) {
      *q = '/';
      memmove (q + 1, q + 3, strlen (q + 3) + 1);
    }
    if (asprintf (&url, "%s/folder/%s?dcPath=%s&dsName=%s", vd__vs_base (s),
                  p, d, n) < 0)
      url = NULL;
  }
  curl_free (p);
  curl_free (d);
  curl_free (n);
  curl_easy_cleanup (h);
  return url;
}

VD_API int
vd_vsphere_fcd_register (vd_vsphere *s, const char *dc, const char *dspath,
                         const char *name, char **id)
{
  VD_ENTER ();
  xmlNodePtr m, ret, rv;
  xmlDocPtr doc, req;
  char *mgr = NULL, *ds = NULL, *url = NULL, *dcp = NULL, *got;
  const char *close_b, *path;
  int host = 0, r;

  if (id)
    *id = NULL;
  if (!s || !dspath || !name || !*name || !id)
    return vd__error (VD_EINVAL, 0, "register disk: no session, path, name "
                     "or output");
  close_b = dspath[0] == '[' ? strchr (dspath, ']') : NULL;
  if (!close_b || close_b == dspath + 1)
    return vd__error (VD_EINVAL, 0, "register disk: \"%s\" is not \"[datastore]"
                     " folder/disk.vmdk\"", dspath);
  path = close_b + 1;
  while (*path == ' ')
    path++;
  if (!(ds = strndup (dspath + 1, (size_t) (close_b - dspath - 1))))
    return vd__error (VD_ENOMEM, errno, "register disk");
  if (!dc && (r = vd__vs_dc_of (s, ds, &dcp)) < 0)
    goto done;
  if (!(url = folder_url (s, dc ? dc : dcp, ds, path))) {
    r = vd__error (VD_ENOMEM, errno, "register disk");
    goto done;
  }
  if ((r = vd__vs_fcd_manager (s, &mgr, &host)) < 0)
    goto done;
  if (!(req = fcd_req ("RegisterDisk", mgr, host, &m))) {
    r = vd__error (VD_ENOMEM, 0, "request");
    goto done;
  }
  vd__vs_add (m, "path", url);
  vd__vs_add (m, "name", name);
  if ((r = vd__vs_call (s, req, &doc, &ret)) < 0)
    goto done;
  rv = vd__vs_child (ret, "returnval");
  got = vd__vs_text (vd__vs_child (vd__vs_child (rv, "config"), "id"), "id");
  xmlFreeDoc (doc);
  if (!vd__vs_fcd_id_ok (got)) {
    free (got);
    r = vd__error (VD_ECORRUPT, 0, "%s: RegisterDisk answered without a sane "
                  "ID", vd__vs_host (s));
    goto done;
  }
  *id = got;
done:
  free (mgr);
  free (ds);
  free (dcp);
  free (url);
  return r;
}

#else /* !VD_HAVE_VSPHERE */

#define NO_VSPHERE() \
  vd__error (VD_ENOTSUP, 0, "this libvdisk was built without vSphere " \
            "support (libcurl, libxml2, OpenSSL)")

VD_API int
vd_vsphere_fcd_list (vd_vsphere *s, const char *datastore,
                     struct vd_vsphere_fcd **out, size_t *n_out)
{
  VD_ENTER ();
  (void) s; (void) datastore;
  if (out)
    *out = NULL;
  if (n_out)
    *n_out = 0;
  return NO_VSPHERE ();
}

VD_API void
vd_vsphere_fcd_list_free (struct vd_vsphere_fcd *fcds, size_t n)
{ (void) fcds; (void) n; }

VD_API int
vd_vsphere_fcd_get (vd_vsphere *s, const char *id, const char *datastore,
                    struct vd_vsphere_fcd **out)
{
  VD_ENTER ();
  (void) s; (void) id; (void) datastore;
  if (out)
    *out = NULL;
  return NO_VSPHERE ();
}

VD_API void vd_vsphere_fcd_free (struct vd_vsphere_fcd *fcd) { (void) fcd; }

VD_API int
vd_disk_open_vsphere_fcd (vd_disk **out, vd_vsphere *s, const char *id,
                          const char *datastore, uint32_t flags)
{
  VD_ENTER ();
  (void) s; (void) id; (void) datastore; (void) flags;
  if (out)
    *out = NULL;
  return NO_VSPHERE ();
}

VD_API int
vd_vsphere_fcd_register (vd_vsphere *s, const char *dc, const char *dspath,
                         const char *name, char **id)
{
  VD_ENTER ();
  (void) s; (void) dc; (void) dspath; (void) name;
  if (id)
    *id = NULL;
  return NO_VSPHERE ();
}

#endif /* VD_HAVE_VSPHERE */
