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

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "[DS] FOLDER" out of vsphere://[USER@]HOST[:PORT]/[DS] FOLDER[?OPTS]:
 * *url "HOST[:PORT][?OPTS]", *user (or NULL), *folder "[DS] FOLDER"
 * without a trailing '/'; malloc'd. */
static int
parse_dest (const char *uri, char **url, char **user, char **folder)
{
  const char *a = uri + 10, *slash = strchr (a, '/');
  const char *q = slash ? strchr (slash, '?') : NULL;
  char *f;
  *url = *user = *folder = NULL;
  if (!slash || slash == a)
    goto bad;
  size_t n = q ? (size_t) (q - slash - 1) : strlen (slash + 1), k = 0;
  /* "%20" for a space, as every vsphere:// URI may write it */
  if (!(f = *folder = malloc (n + 1)))
    return vd__error (VD_ENOMEM, errno, "%s", uri);
  for (size_t i = 0; i < n; i++)
    if (i + 2 < n && strncmp (slash + 1 + i, "%20", 3) == 0) {
      f[k++] = ' ';
      i += 2;
    }
    else
      f[k++] = slash[1 + i];
  while (k && f[k - 1] == '/')
    k--;
  f[k] = 0;
  const char *rb = strchr (f, ']');
  if (f[0] != '[' || !rb || rb == f + 1 || rb[1] != ' ' || !rb[2]
      || rb[2] == '/')
    goto bad;
  for (const char *p = rb + 2; *p; p++)
    if ((unsigned char) *p < ' ' || strncmp (p, "..", 2) == 0)
      return vd__error (VD_EINVAL, 0, "%s: the folder must be a plain "
                       "datastore path", uri);
  const char *at = memchr (a, '@', (size_t) (slash - a));
  if (at && !(*user = strndup (a, (size_t) (at - a))))
    return vd__error (VD_ENOMEM, errno, "%s", uri);
  const char *h = at ? at + 1 : a;
  *url = vd__asprintf ("%.*s%s", (int) (slash - h), h, q ? q : "");
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

/* Delete what a failed restore made (the first n targets, newest first,
 * only those that were not there before); the first error stays the one
 * reported. */
static void
undo (vd_vsphere *s, const struct sent *t, size_t n, const char *existed)
{
  const struct vd_error *e = vd_last_error ();
  int code = e->code, errnum = e->errnum, left = 0;
  char msg[1024];
  snprintf (msg, sizeof msg, "%s", e->message ? e->message : "");
  while (n-- > 0) {
    if (existed[n])
      left++;
    else if (vd_vsphere_file_size (s, NULL, t->v[n], NULL) == 0
             && vd_vsphere_delete_file (s, NULL, t->v[n], 120) < 0)
      left++;
  }
  vd__error (code, errnum, "%s (the files this restore made are deleted "
            "again%s)", msg, left ? "; files it replaced stay replaced" : "");
}

int
vd__bk_restore_vsphere (const char *repo, const char *pick, json_object *m,
                        const char *dest, const struct vd_restore_options *o,
                        char **report)
{
  char *url = NULL, *user = NULL, *folder = NULL, *pdir = NULL;
  struct sent t = { 0 }, src = { 0 };
  vd_vsphere *s = NULL;
  uint32_t fl = o ? o->flags : 0;
  size_t done = 0;
  char *existed = NULL;
  int r = parse_dest (dest, &url, &user, &folder);

  if (r == 0 && o && (o->type || o->disk >= 0))
    r = vd__error (VD_EINVAL, 0, "restore to vSphere: every disk goes up as "
                  "a vmfs flat disk (no --type, no --disk)");

  if (r == 0 && !(pdir = vd__asprintf ("%s/%s", repo, pick)))
    r = VD_ENOMEM;
  if (r == 0)
    r = plan (m, pdir, folder, &t, &src);
  if (r == 0)
    r = vd_vsphere_connect (&s, url, user, NULL, 0);
  if (r == 0 && !(existed = calloc (t.n + 1, 1)))
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
    done = 2 * i + 2;      /* a failed upload can leave its extent */
    if (r == 0)
      r = vd_vsphere_upload (s, from, NULL, t.v[2 * i], up, NULL, NULL);
    free (from);
  }
  for (size_t i = nd; r == 0 && i < src.n; i++) {
    done = 2 * nd + (i - nd) + 1;
    r = vd_vsphere_put_file (s, src.v[i], NULL, t.v[2 * nd + (i - nd)],
                             fl & VD_RESTORE_FORCE ? VD_VSPHERE_UPLOAD_OVERWRITE
                                                   : 0);
  }
  if (r < 0 && s && done)
    undo (s, &t, done, existed);
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
  free (url);
  free (user);
  free (folder);
  free (pdir);
  return r;
}
