/* First class disks: what a crash leaves.  fcd_recover completes (or,
 * where the new files are not complete, rolls back) every intent left by
 * a killed operation; fcd_gc removes the files of an FCD folder that no
 * link of the catalog uses; vd_fcd_reconcile lists (and removes) what
 * the catalog does not know in the datastore's FCD folder. */
#include "fcd/fcd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- file names ------------------------------------------------------- */

int
fcd_names_add (struct fcd_names *ns, const char *name)
{
  if (fcd_room (&ns->v, &ns->cap, ns->n, sizeof *ns->v, 16,
                "names") < 0)
    return VD_ENOMEM;
  if (!(ns->v[ns->n] = strdup (name)))
    return vd__error (VD_ENOMEM, errno, "names");
  ns->n++;
  return 0;
}

static int
names_has (const struct fcd_names *ns, const char *name)
{
  for (size_t i = 0; i < ns->n; i++)
    if (strcmp (ns->v[i], name) == 0)
      return 1;
  return 0;
}

void
fcd_names_free (struct fcd_names *ns)
{
  for (size_t i = 0; i < ns->n; i++)
    free (ns->v[i]);
  free (ns->v);
}

/* The file names (in the FCD folder) one link uses. */
static int
link_files (struct vd_fcd_store *s, const char *rel, struct fcd_names *ns)
{
  vd_disk *d;
  struct vd_cbt_info ci;
  int r = fcd_open_rel (&d, s, rel, VD_OPEN_READ_ONLY | VD_OPEN_SINGLE_LINK);
  if (r < 0)
    return r;
  r = fcd_names_add (ns, fcd_base_name (rel));
  for (unsigned i = 0; r == 0 && i < vd_disk_get_extent_count (d); i++) {
    struct vd_extent_info e;
    if (vd_disk_get_extent (d, i, &e) == 0 && e.file)
      r = fcd_names_add (ns, fcd_base_name (e.file));
  }
  if (r == 0 && vd_disk_get_cbt (d, &ci) == 0 && ci.file)
    r = fcd_names_add (ns, fcd_base_name (ci.file));
  vd_disk_close (d);
  return r;
}

/* One entry of the folder dd (path p): counted, shown to cb, and removed
 * when remove is set and cb does not object. */
static int
orphan (DIR *dd, const char *name, const char *p, int remove,
        vd_fcd_orphan_cb cb, void *payload, unsigned *count)
{
  struct stat st;
  (*count)++;
  if (cb && cb (p, payload))
    remove = 0;
  if (!remove)
    return 0;
  if (fstatat (dirfd (dd), name, &st, AT_SYMLINK_NOFOLLOW) == 0
      && S_ISDIR (st.st_mode))
    return fcd_rm_folder (p);
  if (unlinkat (dirfd (dd), name, 0) < 0 && errno != ENOENT)
    return vd__error (VD_EIO, errno, "%s: remove", p);
  return 0;
}

static int
dot (const char *name)
{
  return strcmp (name, ".") == 0 || strcmp (name, "..") == 0;
}

int
fcd_gc (struct vd_fcd_store *s, const char *uuid, int remove,
        vd_fcd_orphan_cb cb, void *payload, unsigned *count)
{
  struct fcd_names ns = { 0 };
  struct fcd_row row;
  struct snap_row *sn = NULL;
  size_t n = 0;
  int r;

  r = fcd_load (s, uuid, &row);
  if (r < 0)
    return r;
  r = fcd_load_snaps (s, uuid, &sn, &n);
  if (r == 0)
    r = link_files (s, row.path, &ns);
  for (size_t i = 0; r == 0 && i < n; i++)
    r = link_files (s, sn[i].path, &ns);
  char *dir = r == 0 ? fcd_folder (s, uuid) : NULL;
  DIR *dd = dir ? opendir (dir) : NULL;
  if (r == 0 && !dd)
    r = vd__error (VD_EIO, errno, "%s: open folder", dir ? dir : uuid);
  struct dirent *de;
  while (r == 0 && dd && (de = readdir (dd))) {
    if (dot (de->d_name) || names_has (&ns, de->d_name))
      continue;
    char *p = vd__asprintf ("%s/%s", dir, de->d_name);
    if (!p) {
      r = vd__error (VD_ENOMEM, errno, "path");
      break;
    }
    r = orphan (dd, de->d_name, p, remove, cb, payload, count);
    free (p);
  }
  if (dd) {
    fsync (dirfd (dd));
    closedir (dd);
  }
  free (dir);
  fcd_names_free (&ns);
  fcd_snaps_free (sn, n);
  fcd_row_free (&row);
  return r;
}

int
fcd_sweep (struct vd_fcd_store *s, const char *uuid)
{
  unsigned cnt = 0;
  return fcd_gc (s, uuid, 1, NULL, NULL, &cnt);
}

int
fcd_gc_done (struct vd_fcd_store *s, struct intent *in)
{
  int r = fcd_sweep (s, in->uuid);
  if (r == 0)
    r = fcd_intent_done (s, in);
  return r;
}

/* ---- reconcile -------------------------------------------------------- */

int
vd_fcd_reconcile (vd_fcd_store *s, int remove, vd_fcd_orphan_cb cb,
                  void *payload)
{
  unsigned cnt = 0;
  VD_ENTER ();
  if (!s)
    return vd__error (VD_EINVAL, 0, "reconcile: no store");
  int r = fcd_lock (s, 1);
  if (r < 0)
    return r;
  char *root = vd__asprintf ("%s/%s", s->ds, FCD_DIR);
  DIR *d = root ? opendir (root) : NULL;
  if (!d) {
    r = vd__error (VD_EIO, errno, "%s: open folder", root ? root : s->ds);
    goto out;
  }
  struct dirent *de;
  while (r == 0 && (de = readdir (d))) {
    char u[VD_FCD_ID_SIZE];
    if (dot (de->d_name))
      continue;
    int known = fcd_uuid_ok (de->d_name)
                && fcd_resolve_id (s, de->d_name, u) == 0
                && strcmp (u, de->d_name) == 0;
    vd__error_clear ();
    if (known) {
      r = fcd_gc (s, de->d_name, remove, cb, payload, &cnt);
      continue;
    }
    char *p = vd__asprintf ("%s/%s", root, de->d_name);
    if (!p) {
      r = vd__error (VD_ENOMEM, errno, "path");
      break;
    }
    r = orphan (d, de->d_name, p, remove, cb, payload, &cnt);
    free (p);
  }
  if (d)
    closedir (d);
out:
  free (root);
  fcd_unlock (s);
  return r < 0 ? r : (int) cnt;
}

/* ---- recovery --------------------------------------------------------- */

/* The oldest unfinished intent into in: 1, none: 0. */
static int
next_intent (struct vd_fcd_store *s, struct intent *in)
{
  sqlite3_stmt *st;
  int r = fcd_prepare (s, &st, "SELECT id, op, uuid, ifnull(ssid, ''), "
                       "arg, arg2, step FROM intent ORDER BY id LIMIT 1",
                       NULL);
  if (r < 0)
    return r;
  if (sqlite3_step (st) != SQLITE_ROW) {
    sqlite3_finalize (st);
    return 0;
  }
  memset (in, 0, sizeof *in);
  in->id = sqlite3_column_int64 (st, 0);
  snprintf (in->op, sizeof in->op, "%s",
            (const char *) sqlite3_column_text (st, 1));
  snprintf (in->uuid, sizeof in->uuid, "%s",
            (const char *) sqlite3_column_text (st, 2));
  snprintf (in->ssid, sizeof in->ssid, "%s",
            (const char *) sqlite3_column_text (st, 3));
  const char *a1 = (const char *) sqlite3_column_text (st, 4);
  const char *a2 = (const char *) sqlite3_column_text (st, 5);
  in->arg = a1 ? strdup (a1) : NULL;
  in->arg2 = a2 ? strdup (a2) : NULL;
  in->step = sqlite3_column_int (st, 6);
  sqlite3_finalize (st);
  if (!fcd_uuid_ok (in->uuid) || (in->ssid[0] && !fcd_uuid_ok (in->ssid))) {
    fcd_intent_free (in);
    return vd__error (VD_ECORRUPT, 0, "%s/%s: unfinished intent %" PRId64
                     " names a malformed ID; refusing to act on it",
                     s->ds, FCD_CATALOG, in->id);
  }
  return 1;
}

static int
recover_one (struct vd_fcd_store *s, struct intent *in)
{
  const char *op = in->op;
  if (strcmp (op, "create") == 0 || strcmp (op, "fromsnap") == 0)
    return fcd_undo_new (s, in);
  if (strcmp (op, "register") == 0)
    return fcd_recover_register (s, in);
  if (strcmp (op, "delete") == 0)
    return fcd_do_delete (s, in);
  if (strcmp (op, "grow") == 0)
    return fcd_recover_grow (s, in);
  if (strcmp (op, "snapshot") == 0)
    return fcd_recover_snapshot (s, in);
  if (strcmp (op, "revert") == 0)
    return fcd_recover_revert (s, in);
  if (strcmp (op, "snapdel") == 0)
    return fcd_do_snapdel (s, in);
  if (strcmp (op, "relocate") == 0)
    return fcd_recover_relocate (s, in);
  if (strcmp (op, "attach") == 0 || strcmp (op, "detach") == 0)
    return fcd_recover_attach (s, in);
  return vd__error (VD_ECORRUPT, 0, "%s/%s: unfinished intent %" PRId64
                   " of unknown kind; refusing to act on it", s->ds,
                   FCD_CATALOG, in->id);
}

int
fcd_recover (struct vd_fcd_store *s)
{
  for (int round = 0; round < 1000; round++) {
    struct intent in;
    int r = next_intent (s, &in);
    if (r <= 0)
      return r;
    r = recover_one (s, &in);
    fcd_intent_free (&in);
    if (r < 0)
      return r;
  }
  return vd__error (VD_ECORRUPT, 0, "%s/%s: too many unfinished intents",
                   s->ds, FCD_CATALOG);
}
