/* vdisk restore REPO [POINT] vsphere://[USER@]HOST[:PORT]/[DS] FOLDER:
 * a point rebuilt into a folder of a datastore on an ESXi host or vCenter
 * (docs/backup.md).  Each disk goes up as a thin vmfs flat disk
 * (descriptor + -flat.vmdk) streamed from the point's chain in the
 * repository by vd_vsphere_upload (no local copy), then the point's
 * files (the .vmx, the saved .nvram: the guide's NVRAM step) with one PUT
 * each.  Every target is looked at before anything is sent: an existing
 * one is refused (VD_EEXIST) unless VD_RESTORE_FORCE, and then nothing
 * has changed.  On a failure the files this restore sent are deleted
 * again (DeleteDatastoreFile_Task); the folder the file service made for
 * them stays.  RDM disks are refused: their LUN is the host's business.
 * OPTIONS and credentials as vd_vsphere_connect. */
#include "backup-int.h"
#include "vsphere/vsphere-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "[DS] FOLDER" out of vsphere://[USER@]HOST[:PORT]/[DS] FOLDER[?OPTS]:
 * *url "[USER@]HOST[:PORT][?OPTS]" (vd_vsphere_connect decodes USER),
 * *folder "[DS] FOLDER"
 * %-decoded as every vsphere:// path is (vd__vs_unescape), without a
 * trailing '/'; malloc'd. */
static int
parse_dest (const char *uri, char **url, char **folder)
{
  const char *a = uri + 10, *slash = strchr (a, '/');
  const char *q = slash ? strchr (slash, '?') : NULL;
  char *f;
  *url = *folder = NULL;
  if (!slash || slash == a)
    goto bad;
  size_t n = q ? (size_t) (q - slash - 1) : strlen (slash + 1), k;
  if (!(f = *folder = vd__vs_unescape (slash + 1, n)))
    return vd_last_error ()->code == VD_ENOTSUP
           ? VD_ENOTSUP         /* (built without vSphere, or no libcurl) */
           : vd__error (VD_EINVAL, 0, "%s: the folder must be a plain "
                     "datastore path (bad %%-escape or a NUL)", uri);
  k = strlen (f);
  while (k && f[k - 1] == '/')
    k--;
  f[k] = 0;
  const char *rb = strchr (f, ']');
  if (f[0] != '[' || !rb || rb == f + 1 || rb[1] != ' ' || !rb[2]
      || rb[2] == '/')
    goto bad;
  for (const char *p = f; *p; p++)
    if ((unsigned char) *p < ' ' || *p == 0x7f
        || (p > rb && strncmp (p, "..", 2) == 0))
      return vd__error (VD_EINVAL, 0, "%s: the folder must be a plain "
                       "datastore path", uri);
  *url = vd__asprintf ("%.*s%s", (int) (slash - a), a, q ? q : "");
  return *url ? 0 : vd__error (VD_ENOMEM, errno, "%s", uri);
bad:
  return vd__error (VD_EINVAL, 0, "%s: expected vsphere://USER@HOST/"
                   "[DATASTORE] FOLDER", uri);
}

/* What one restore sends: the datastore paths, in order. */
struct sent {
  char **v;
  size_t n;
};

static int
sent_add (struct sent *st, char *dspath)
{
  char **p = dspath ? realloc (st->v, (st->n + 1) * sizeof *p) : NULL;
  if (!p) {
    free (dspath);
    return vd__error (VD_ENOMEM, errno, "restore");
  }
  st->v = p;
  st->v[st->n++] = dspath;
  return 0;
}

/* The targets of one point: each disk's descriptor and -flat.vmdk, each
 * file (disk entries and files checked plain). */
static int
plan (json_object *m, const char *pdir, const char *folder, struct sent *t,
      struct sent *src)
{
  json_object *disks = vd__bk_jarr (m, "disks"), *files = vd__bk_jarr (m, "files");
  int r = 0;
  for (size_t i = 0; r == 0 && disks && i < json_object_array_length (disks); i++) {
    json_object *de = json_object_array_get_idx (disks, i);
    const char *kind = vd__bk_jstr (de, "kind"), *name = vd__bk_jstr (de, "name");
    size_t n = name ? strlen (name) : 0;
    if (!kind || !name || !vd__bk_plain_name (name))
      return vd__error (VD_ECORRUPT, 0, "%s: manifest disk entry %zu is "
                       "incomplete", pdir, i);
    if (strcmp (kind, "rdm") == 0)
      return vd__error (VD_ENOTSUP, 0, "%s: disk %s is an RDM: restore it "
                       "to a folder (vdisk restore REPO DIR) and map its LUN "
                       "on the host", pdir, name);
    if (n < 6 || strcmp (name + n - 5, ".vmdk") != 0)
      return vd__error (VD_ECORRUPT, 0, "%s: disk %s is not NAME.vmdk", pdir,
                       name);
    r = sent_add (t, vd__asprintf ("%s/%s", folder, name));
    if (r == 0)
      r = sent_add (t, vd__asprintf ("%s/%.*s-flat.vmdk", folder,
                                     (int) (n - 5), name));
    if (r == 0)
      r = sent_add (src, vd__asprintf ("disk %zu", i));
  }
  for (size_t i = 0; r == 0 && files && i < json_object_array_length (files); i++) {
    const char *name = vd__bk_jstr (json_object_array_get_idx (files, i), "name");
    if (!name || strncmp (name, "files/", 6) != 0 || !vd__bk_plain_name (name + 6))
      return vd__error (VD_ECORRUPT, 0, "%s: manifest file entry %zu", pdir, i);
    r = sent_add (t, vd__asprintf ("%s/%s", folder, name + 6));
    if (r == 0)
      r = sent_add (src, vd__asprintf ("%s/%s", pdir, name));
  }
  /* two entries onto one file (a.vmdk's a-flat.vmdk and a file of that
   * name): one would overwrite the other and undo could not tell them */
  for (size_t i = 0; r == 0 && i < t->n; i++)
    for (size_t j = i + 1; j < t->n; j++)
      if (strcmp (t->v[i], t->v[j]) == 0)
        return vd__error (VD_ECORRUPT, 0, "%s: two of the point's disks or "
                         "files would both be %s on the datastore", pdir,
                         t->v[i]);
  return r;
}

/* Look at every target before anything is sent: existed[i] says which
 * are there; one that is there is refused unless force. */
static int
look (vd_vsphere *s, const struct sent *t, int force, char *existed)
{
  for (size_t i = 0; i < t->n; i++) {
    int r = vd_vsphere_file_size (s, NULL, t->v[i], NULL);
    existed[i] = r == 0;
    if (r == 0 && !force)
      return vd__error (VD_EEXIST, EEXIST, "restore: %s already exists on "
                       "the datastore (--force replaces it)", t->v[i]);
    if (r < 0 && r != VD_ENOENT)
      return r;
    vd__error_clear ();
  }
  return 0;
}

/* Delete what a failed restore made (made[i]: its PUT began), newest
 * first; a target that was there before was replaced (--force) and stays.
 * The first error stays the one reported. */
static void
undo (vd_vsphere *s, const struct sent *t, const char *made,
      const char *existed)
{
  const struct vd_error *e = vd_last_error ();
  int code = e->code, errnum = e->errnum;
  size_t replaced = 0, stuck = 0;
  char msg[1024], names[512] = "";
  snprintf (msg, sizeof msg, "%s", e->message ? e->message : "");
  for (size_t n = t->n; n-- > 0;) {
    if (!made[n])
      continue;
    if (existed[n])
      replaced++;
    else if (vd_vsphere_file_size (s, NULL, t->v[n], NULL) == 0
             && vd_vsphere_delete_file (s, NULL, t->v[n], 120) < 0) {
      size_t k = strlen (names);
      snprintf (names + k, sizeof names - k, "%s%s", stuck ? ", " : "",
                t->v[n]);
      stuck++;
    }
  }
  char extra[700] = "";
  if (stuck)
    snprintf (extra, sizeof extra, "; %zu it could not delete: %s", stuck,
              names);
  vd__error (code, errnum, "%s (the files this restore made are deleted "
            "again%s%s%s)", msg, extra, replaced ? "; " : "",
            replaced ? (replaced == 1 ? "1 file it replaced stays replaced"
                                      : "the files it replaced stay "
                                        "replaced") : "");
}

int
vd__bk_restore_vsphere (const char *repo, const char *pick, json_object *m,
                        const char *dest, const struct vd_restore_options *o,
                        char **report)
{
  char *url = NULL, *folder = NULL, *pdir = NULL;
  struct sent t = { 0 }, src = { 0 };
  vd_vsphere *s = NULL;
  uint32_t fl = o ? o->flags : 0;
  char *existed = NULL, *made = NULL;
  int r = parse_dest (dest, &url, &folder);

  if (r == 0 && o && (o->type || o->disk >= 0))
    r = vd__error (VD_EINVAL, 0, "restore to vSphere: every disk goes up as "
                  "a vmfs flat disk (no --type, no --disk)");
  if (r == 0 && (fl & (VD_RESTORE_KEEP_CBT | VD_RESTORE_RDM_KEEP
                       | VD_RESTORE_RDM_DATA)))
    r = vd__error (VD_EINVAL, 0, "restore to vSphere: %s does not apply "
                  "(vSphere tracks changes itself; RDM disks are refused)",
                  fl & VD_RESTORE_KEEP_CBT ? "--keep-cbt" : "--rdm");

  if (r == 0 && !(pdir = vd__asprintf ("%s/%s", repo, pick)))
    r = VD_ENOMEM;
  if (r == 0)
    r = plan (m, pdir, folder, &t, &src);
  if (r == 0)
    r = vd_vsphere_connect (&s, url, NULL, NULL, 0);
  if (r == 0 && (!(existed = calloc (t.n + 1, 1))
                 || !(made = calloc (t.n + 1, 1))))
    r = vd__error (VD_ENOMEM, errno, "restore");
  if (r == 0)
    r = look (s, &t, (fl & VD_RESTORE_FORCE) != 0, existed);
  json_object *disks = vd__bk_jarr (m, "disks");
  size_t nd = disks ? json_object_array_length (disks) : 0;
  uint32_t up = VD_VSPHERE_UPLOAD_THIN
                | (fl & VD_RESTORE_FORCE ? VD_VSPHERE_UPLOAD_OVERWRITE : 0);
  for (size_t i = 0; r == 0 && i < nd; i++) {
    json_object *de = json_object_array_get_idx (disks, i);
    char *from = vd__bk_disk_file_of (repo, de);
    vd_disk *d = NULL;
    /* the point's chain must stay inside the repository */
    r = from ? vd_disk_open (&d, from, VD_OPEN_READ_ONLY) : VD_ECORRUPT;
    if (r == 0)
      r = vd__bk_chain_inside (repo, d);
    if (d)
      vd_disk_close (d);
    unsigned put = 0;      /* a failed upload can leave its extent */
    if (r == 0)
      r = vd__vs_upload (s, from, NULL, t.v[2 * i], up, NULL, NULL, &put);
    made[2 * i] = (put & VD_VS_PUT_DESC) != 0;
    made[2 * i + 1] = (put & VD_VS_PUT_DATA) != 0;
    free (from);
  }
  for (size_t i = nd; r == 0 && i < src.n; i++) {
    unsigned put = 0;
    r = vd__vs_put_file (s, src.v[i], NULL, t.v[2 * nd + (i - nd)],
                         fl & VD_RESTORE_FORCE ? VD_VSPHERE_UPLOAD_OVERWRITE
                                               : 0, &put);
    made[2 * nd + (i - nd)] = put != 0;
  }
  if (r < 0 && s && made && memchr (made, 1, t.n))
    undo (s, &t, made, existed);
  if (r == 0 && report)
    *report = vd__asprintf ("restored point %s into %s on %s (%zu disks, "
                            "%zu files)\n", pick, folder, url, nd,
                            src.n - nd);
  for (size_t i = 0; i < t.n; i++)
    free (t.v[i]);
  for (size_t i = 0; i < src.n; i++)
    free (src.v[i]);
  free (t.v);
  free (src.v);
  vd_vsphere_close (s);
  free (existed);
  free (made);
  free (url);
  free (folder);
  free (pdir);
  return r;
}
