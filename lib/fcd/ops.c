/* First class disks: the operations.  Each one that touches files and
 * catalog follows the same plan: an intent row first (its own
 * transaction), then file work that can be repeated, then one
 * transaction that finishes the catalog change and removes the intent.
 * fcd_recover completes (or, where the new files are not complete, rolls
 * back) every intent left by a crash; fcd_gc removes the files of an FCD
 * folder that no link of the catalog uses. */
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

struct intent {
  int64_t id;
  char op[16];
  char uuid[VD_FCD_ID_SIZE];
  char ssid[VD_FCD_ID_SIZE];
  char *arg, *arg2;
  int step;
};

static void
intent_free (struct intent *in)
{
  free (in->arg);
  free (in->arg2);
  in->arg = in->arg2 = NULL;
}

static int
intent_add (struct vd_fcd_store *s, struct intent *in)
{
  int r = fcd_sql (s, "INSERT INTO intent (op, uuid, ssid, arg, arg2, step, "
                   "created) VALUES (?, ?, ?, ?, ?, 0, ?)", "ttttti",
                   in->op, in->uuid, in->ssid[0] ? in->ssid : NULL, in->arg,
                   in->arg2, fcd_now ());
  if (r == 0)
    in->id = sqlite3_last_insert_rowid (s->db);
  return r;
}

/* intent_add in a transaction of its own */
static int
intent_begin (struct vd_fcd_store *s, struct intent *in, const char *extra,
              const char *uuid)
{
  int r = fcd_begin (s);
  if (r < 0)
    return r;
  r = intent_add (s, in);
  if (r == 0 && extra)
    r = fcd_sql (s, extra, "t", uuid);
  if (r == 0)
    r = fcd_commit (s);
  else
    fcd_rollback (s);
  return r;
}

static int
intent_step (struct vd_fcd_store *s, struct intent *in, int step)
{
  in->step = step;
  return fcd_sql (s, "UPDATE intent SET step = ? WHERE id = ?", "ii",
                  (int64_t) step, in->id);
}

static int
intent_done (struct vd_fcd_store *s, struct intent *in)
{
  return fcd_sql (s, "DELETE FROM intent WHERE id = ?", "i", in->id);
}

/* The first error wins: keep it past the cleanup calls. */
#define KEEP(r, expr) do { int r_ = (expr); if ((r) == 0) (r) = r_; } while (0)

static char *
link_rel (const char *uuid, int64_t n)
{
  char *p = vd__asprintf ("%s/%s/fcd-%06" PRId64 ".vmdk", FCD_DIR, uuid, n);
  if (!p)
    vd_error (VD_ENOMEM, errno, "path");
  return p;
}

static char *
base_rel (const char *uuid)
{
  char *p = vd__asprintf ("%s/%s/%s", FCD_DIR, uuid, FCD_BASE);
  if (!p)
    vd_error (VD_ENOMEM, errno, "path");
  return p;
}

/* Open rel (relative to the datastore) as a disk; never follows links
 * out of the FCD's folder (no VD_OPEN_TRUSTED). */
static int
open_rel (vd_disk **d, struct vd_fcd_store *s, const char *rel,
          uint32_t flags)
{
  char uuid[VD_FCD_ID_SIZE];
  *d = NULL;
  /* rel passed fcd_rel_ok: "fcd/UUID/NAME" */
  snprintf (uuid, sizeof uuid, "%.36s", rel + strlen (FCD_DIR) + 1);
  int r = fcd_folder_ok (s, uuid);
  if (r < 0)
    return r;
  char *p = fcd_abs (s, rel);
  if (!p)
    return VD_ENOMEM;
  r = vd_disk_open (d, p, flags & ~VD_OPEN_TRUSTED);
  free (p);
  return r;
}

/* The FCD's disk lock: nobody else writes it now. */
static int
check_no_writer (struct vd_fcd_store *s, struct fcd_row *row)
{
  vd_disk *d;
  int r = open_rel (&d, s, row->path, 0);
  if (r < 0)
    return r;
  return vd_disk_close (d);
}

static int
load_fcd (struct vd_fcd_store *s, const char *id, struct fcd_row *row)
{
  char u[VD_FCD_ID_SIZE];
  int r = fcd_resolve_id (s, id, u);
  return r < 0 ? r : fcd_load (s, u, row);
}

/* Point every .vmx the FCD is attached to at its top link top_rel. */
static int
retarget_all (struct vd_fcd_store *s, const char *uuid, const char *top_rel)
{
  struct att_row *a;
  size_t n;
  int r = fcd_load_atts (s, uuid, &a, &n);
  if (r < 0 || n == 0)
    return r;
  char *p = fcd_abs (s, top_rel);
  if (!p)
    r = VD_ENOMEM;
  for (size_t i = 0; r == 0 && i < n; i++)
    r = fcd_vmx_retarget (a[i].vmx, a[i].device, p, uuid);
  free (p);
  fcd_atts_free (a, n);
  return r;
}

/* ---- garbage: files of an FCD folder no link uses -------------------- */

struct names {
  char **v;
  size_t n, cap;
};

static int
names_add (struct names *ns, const char *name)
{
  if (ns->n == ns->cap) {
    size_t nc = ns->cap ? ns->cap * 2 : 16;
    char **nv = realloc (ns->v, nc * sizeof *nv);
    if (!nv)
      return vd_error (VD_ENOMEM, errno, "names");
    ns->v = nv;
    ns->cap = nc;
  }
  if (!(ns->v[ns->n] = strdup (name)))
    return vd_error (VD_ENOMEM, errno, "names");
  ns->n++;
  return 0;
}

static int
names_has (const struct names *ns, const char *name)
{
  for (size_t i = 0; i < ns->n; i++)
    if (strcmp (ns->v[i], name) == 0)
      return 1;
  return 0;
}

static void
names_free (struct names *ns)
{
  for (size_t i = 0; i < ns->n; i++)
    free (ns->v[i]);
  free (ns->v);
}

static const char *
base_name (const char *p)
{
  const char *b = strrchr (p, '/');
  return b ? b + 1 : p;
}

/* The file names (in the FCD folder) one link uses. */
static int
link_files (struct vd_fcd_store *s, const char *rel, struct names *ns)
{
  vd_disk *d;
  struct vd_cbt_info ci;
  int r = open_rel (&d, s, rel, VD_OPEN_READ_ONLY | VD_OPEN_SINGLE_LINK);
  if (r < 0)
    return r;
  r = names_add (ns, base_name (rel));
  for (unsigned i = 0; r == 0 && i < vd_disk_get_extent_count (d); i++) {
    struct vd_extent_info e;
    if (vd_disk_get_extent (d, i, &e) == 0 && e.file)
      r = names_add (ns, base_name (e.file));
  }
  if (r == 0 && vd_disk_get_cbt (d, &ci) == 0 && ci.file)
    r = names_add (ns, base_name (ci.file));
  vd_disk_close (d);
  return r;
}

int
fcd_gc (struct vd_fcd_store *s, const char *uuid, int remove,
        vd_fcd_orphan_cb cb, void *payload, unsigned *count)
{
  struct names ns = { 0 };
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
    r = vd_error (VD_EIO, errno, "%s: open folder", dir ? dir : uuid);
  struct dirent *de;
  while (r == 0 && dd && (de = readdir (dd))) {
    if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0
        || names_has (&ns, de->d_name))
      continue;
    char *p = vd__asprintf ("%s/%s", dir, de->d_name);
    if (!p) {
      r = vd_error (VD_ENOMEM, errno, "path");
      break;
    }
    (*count)++;
    if (cb && cb (p, payload))
      remove = 0;
    if (remove) {
      struct stat st;
      if (fstatat (dirfd (dd), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0
          && S_ISDIR (st.st_mode))
        r = fcd_rm_folder (p);
      else if (unlinkat (dirfd (dd), de->d_name, 0) < 0 && errno != ENOENT)
        r = vd_error (VD_EIO, errno, "%s: remove", p);
    }
    free (p);
  }
  if (dd) {
    fsync (dirfd (dd));
    closedir (dd);
  }
  free (dir);
  names_free (&ns);
  fcd_snaps_free (sn, n);
  fcd_row_free (&row);
  return r;
}

/* What a killed library call leaves in the FCD folder (a work folder of
 * vd_disk_create, a copy of vd_disk_grow) goes once the intent is done. */
static int
sweep (struct vd_fcd_store *s, const char *uuid)
{
  unsigned cnt = 0;
  return fcd_gc (s, uuid, 1, NULL, NULL, &cnt);
}

/* ---- create ----------------------------------------------------------- */

static int
insert_fcd (struct vd_fcd_store *s, const char *uuid, const char *name,
            const char *rel, uint64_t cap, int cbt)
{
  return fcd_sql (s, "INSERT INTO fcd (uuid, name, path, capacity, created, "
                  "cbt) VALUES (?, ?, ?, ?, ?, ?)", "tttiii", uuid, name, rel,
                  (int64_t) cap, fcd_now (), (int64_t) cbt);
}

/* Roll back an FCD that was being made: its folder goes. */
static int
undo_new (struct vd_fcd_store *s, struct intent *in)
{
  int r = 0;
  char *dir = fcd_folder (s, in->uuid);
  if (!dir)
    return VD_ENOMEM;
  if (fcd_resolve_id (s, in->uuid, (char[VD_FCD_ID_SIZE]) { 0 }) == 0)
    r = vd_error (VD_ECORRUPT, 0, "%s: intent %" PRId64 " would remove FCD "
                  "%s, which the catalog holds", s->ds, in->id, in->uuid);
  else {
    vd__error_clear ();
    r = fcd_rm_folder (dir);
  }
  free (dir);
  if (r == 0)
    r = intent_done (s, in);
  return r;
}

int
vd_fcd_create (vd_fcd_store *s, const char *name, uint64_t capacity,
               enum vd_type type, char id[VD_FCD_ID_SIZE])
{
  struct intent in = { .op = "create" };
  struct vd_create_params p;
  char *rel = NULL, *path = NULL, *dir = NULL;
  int r;

  VD_ENTER ();
  if (!s || !fcd_name_ok (name))
    return vd_error (VD_EINVAL, 0, "create: an FCD needs a name of 1 to %d "
                     "printable bytes", FCD_NAME_MAX);
  if (capacity == 0 || capacity % 512)
    return vd_error (VD_EINVAL, 0, "create: capacity %" PRIu64 " is not a "
                     "positive multiple of 512", capacity);
  if (type == VD_TYPE_UNKNOWN)
    type = VD_TYPE_MONOLITHIC_SPARSE;
  if ((r = fcd_lock (s, 1)) < 0)
    return r;
  fcd_new_uuid (in.uuid);
  in.arg = (char *) name;
  r = intent_begin (s, &in, NULL, NULL);
  in.arg = NULL;
  if (r < 0)
    goto out;
  fcd_checkpoint (s);
  rel = base_rel (in.uuid);
  dir = fcd_folder (s, in.uuid);
  path = rel ? fcd_abs (s, rel) : NULL;
  if (!rel || !dir || !path) {
    r = VD_ENOMEM;
    goto undo;
  }
  if (mkdir (dir, 0755) < 0) {
    r = vd_error (VD_EIO, errno, "%s: make folder", dir);
    goto undo;
  }
  vd_create_params_init (&p);
  p.type = type;
  p.capacity = capacity;
  p.adapter = VD_ADAPTER_LSILOGIC;
  if ((r = vd_disk_create (path, &p)) < 0)
    goto undo;
  fcd_checkpoint (s);
  if ((r = fcd_begin (s)) < 0)
    goto undo;
  r = insert_fcd (s, in.uuid, name, rel, capacity, 0);
  if (r == 0)
    r = intent_done (s, &in);
  if (r == 0)
    r = fcd_commit (s);
  else
    fcd_rollback (s);
  if (r < 0)
    goto undo;
  fcd_checkpoint (s);
  if (id)
    snprintf (id, VD_FCD_ID_SIZE, "%s", in.uuid);
  goto out;
undo:
  undo_new (s, &in);
out:
  free (rel);
  free (path);
  free (dir);
  fcd_unlock (s);
  return r;
}

/* ---- register --------------------------------------------------------- */

/* Is every file of the disk at rel inside the FCD folder dir? */
static int
complete_in (struct vd_fcd_store *s, const char *rel, const char *dir)
{
  vd_disk *d;
  int ok = 1;
  if (open_rel (&d, s, rel, VD_OPEN_READ_ONLY | VD_OPEN_SINGLE_LINK) < 0) {
    vd__error_clear ();
    return 0;
  }
  for (unsigned i = 0; ok && i < vd_disk_get_extent_count (d); i++) {
    struct vd_extent_info e;
    if (vd_disk_get_extent (d, i, &e) == 0 && e.file) {
      char *rp = realpath (e.file, NULL);
      size_t n = strlen (dir);
      ok = rp && strncmp (rp, dir, n) == 0 && rp[n] == '/'
           && !strchr (rp + n + 1, '/');
      free (rp);
    }
  }
  if (vd_disk_get_parent_hint (d))
    ok = 0;
  vd_disk_close (d);
  return ok;
}

/* Remove the names in src's folder that are hard links of files of the
 * FCD folder dir (what an interrupted rename leaves). */
static void
drop_old_names (const char *src, const char *dir)
{
  char *sd = strdup (src);
  if (!sd)
    return;
  char *slash = strrchr (sd, '/');
  if (slash)
    *slash = '\0';
  DIR *a = opendir (slash ? (sd[0] ? sd : "/") : "."), *b = opendir (dir);
  struct dirent *de, *de2;
  while (a && b && (de = readdir (a))) {
    struct stat st, st2;
    if (fstatat (dirfd (a), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0
        || !S_ISREG (st.st_mode) || st.st_nlink < 2)
      continue;
    rewinddir (b);
    while ((de2 = readdir (b)))
      if (fstatat (dirfd (b), de2->d_name, &st2, AT_SYMLINK_NOFOLLOW) == 0
          && S_ISREG (st2.st_mode) && st2.st_ino == st.st_ino
          && st2.st_dev == st.st_dev) {
        unlinkat (dirfd (a), de->d_name, 0);
        break;
      }
  }
  if (a) {
    fsync (dirfd (a));
    closedir (a);
  }
  if (b)
    closedir (b);
  free (sd);
}

static int
finish_register (struct vd_fcd_store *s, struct intent *in)
{
  vd_disk *d;
  struct vd_cbt_info ci;
  char *rel = base_rel (in->uuid), *dir = fcd_folder (s, in->uuid);
  int r = rel && dir ? 0 : VD_ENOMEM;
  if (r == 0)
    drop_old_names (in->arg, dir);
  if (r == 0)
    r = open_rel (&d, s, rel, VD_OPEN_READ_ONLY);
  if (r == 0) {
    uint64_t cap = vd_disk_get_size (d);
    int cbt = vd_disk_get_cbt (d, &ci) == 0 && ci.state == VD_CBT_ON;
    vd_disk_close (d);
    r = fcd_begin (s);
    if (r == 0)
      r = insert_fcd (s, in->uuid, in->arg2, rel, cap, cbt);
    if (r == 0)
      r = intent_done (s, in);
    if (r == 0)
      r = fcd_commit (s);
    else
      fcd_rollback (s);
  }
  free (rel);
  free (dir);
  return r;
}

static int
recover_register (struct vd_fcd_store *s, struct intent *in)
{
  char *rel = base_rel (in->uuid), *dir = fcd_folder (s, in->uuid);
  int r = rel && dir ? 0 : VD_ENOMEM;
  if (r == 0 && (!in->arg || in->arg[0] != '/' || !fcd_name_ok (in->arg2)))
    r = vd_error (VD_ECORRUPT, 0, "%s/%s: malformed register intent",
                  s->ds, FCD_CATALOG);
  if (r == 0) {
    struct stat st;
    if (complete_in (s, rel, dir)) {
      r = finish_register (s, in);
      if (r == 0)
        r = sweep (s, in->uuid);
    }
    else if (lstat (in->arg, &st) == 0)
      r = undo_new (s, in);       /* the old names are all there */
    else
      r = intent_done (s, in);    /* neither: leave it to reconcile */
  }
  free (rel);
  free (dir);
  return r;
}

int
vd_fcd_register (vd_fcd_store *s, const char *disk, const char *name,
                 char id[VD_FCD_ID_SIZE])
{
  struct intent in = { .op = "register" };
  vd_disk *d = NULL;
  char *src = NULL, *rel = NULL, *dir = NULL, *dst = NULL, *fcdroot = NULL;
  int r;

  VD_ENTER ();
  if (!s || !disk)
    return vd_error (VD_EINVAL, 0, "register: no disk");
  if (!name)
    name = base_name (disk);
  if (!fcd_name_ok (name))
    return vd_error (VD_EINVAL, 0, "register: bad name");
  if ((r = fcd_lock (s, 1)) < 0)
    return r;
  src = realpath (disk, NULL);
  if (!src) {
    r = vd_error (vd__errno_code (errno), errno, "%s: register", disk);
    goto out;
  }
  fcdroot = vd__asprintf ("%s/%s/", s->ds, FCD_DIR);
  if (!fcdroot) {
    r = VD_ENOMEM;
    goto out;
  }
  if (strncmp (src, fcdroot, strlen (fcdroot)) == 0) {
    r = vd_error (VD_EEXIST, 0, "%s: already an FCD of %s (it lies in the "
                  "catalog's FCD folder); registering twice is refused",
                  disk, s->ds);
    goto out;
  }
  /* the disk itself: a base, not in use */
  r = vd_disk_open (&d, src, 0);
  if (r < 0)
    goto out;
  if (vd_disk_get_parent_hint (d)) {
    r = vd_error (VD_EPARENT, 0, "%s: is a child disk (parent %s); only a "
                  "base disk can be registered as an FCD", disk,
                  vd_disk_get_parent_hint (d));
    goto out;
  }
  vd_disk_close (d);
  d = NULL;
  fcd_new_uuid (in.uuid);
  in.arg = src;
  in.arg2 = (char *) name;
  r = intent_begin (s, &in, NULL, NULL);
  in.arg = in.arg2 = NULL;
  if (r < 0)
    goto out;
  fcd_checkpoint (s);
  rel = base_rel (in.uuid);
  dir = fcd_folder (s, in.uuid);
  dst = rel ? fcd_abs (s, rel) : NULL;
  if (!rel || !dir || !dst) {
    r = VD_ENOMEM;
    goto undo;
  }
  if (mkdir (dir, 0755) < 0) {
    r = vd_error (VD_EIO, errno, "%s: make folder", dir);
    goto undo;
  }
  if ((r = vd_disk_rename (src, dst, 0)) < 0)
    goto undo;
  fcd_checkpoint (s);
  in.arg = src;
  in.arg2 = (char *) name;
  r = finish_register (s, &in);
  in.arg = in.arg2 = NULL;
  if (r < 0)
    goto out;    /* the disk moved: recovery finishes it */
  fcd_checkpoint (s);
  if (id)
    snprintf (id, VD_FCD_ID_SIZE, "%s", in.uuid);
  goto out;
undo:
  undo_new (s, &in);
out:
  if (d)
    vd_disk_close (d);
  free (src);
  free (rel);
  free (dir);
  free (dst);
  free (fcdroot);
  fcd_unlock (s);
  return r;
}

/* ---- list / info ------------------------------------------------------ */

static int
fill_info (struct vd_fcd_store *s, struct fcd_row *row,
           struct vd_fcd_info *info, char **pathp)
{
  sqlite3_stmt *st;
  memset (info, 0, sizeof *info);
  snprintf (info->id, sizeof info->id, "%s", row->uuid);
  info->name = row->name;
  *pathp = fcd_abs (s, row->path);
  if (!*pathp)
    return VD_ENOMEM;
  info->path = *pathp;
  info->capacity = row->capacity;
  info->created = row->created;
  info->cbt = row->cbt;
  {
    vd_disk *d;
    struct vd_cbt_info ci;
    /* the disk is the truth (tracking may be turned on by hand) */
    if (open_rel (&d, s, row->path, VD_OPEN_READ_ONLY | VD_OPEN_SINGLE_LINK)
        == 0) {
      if (vd_disk_get_cbt (d, &ci) == 0)
        info->cbt = ci.state == VD_CBT_ON;
      vd_disk_close (d);
    }
    vd__error_clear ();
  }
  info->relocation_disabled = row->reloc;
  int r = fcd_prepare (s, &st, "SELECT (SELECT count(*) FROM snapshot WHERE "
                       "uuid = ?1), (SELECT count(*) FROM attachment WHERE "
                       "uuid = ?1)", "t", row->uuid);
  if (r < 0)
    return r;
  if (sqlite3_step (st) == SQLITE_ROW) {
    info->snapshots = (unsigned) sqlite3_column_int (st, 0);
    info->attachments = (unsigned) sqlite3_column_int (st, 1);
  }
  sqlite3_finalize (st);
  return 0;
}

int
vd_fcd_list (vd_fcd_store *s, vd_fcd_cb cb, void *payload)
{
  sqlite3_stmt *st;
  struct names ids = { 0 };
  int r, rc;
  VD_ENTER ();
  if (!s || !cb)
    return vd_error (VD_EINVAL, 0, "list: no store or callback");
  r = fcd_prepare (s, &st, "SELECT uuid FROM fcd ORDER BY created, uuid",
                   NULL);
  if (r < 0)
    return r;
  while (r == 0 && (rc = sqlite3_step (st)) == SQLITE_ROW) {
    const char *u = (const char *) sqlite3_column_text (st, 0);
    r = names_add (&ids, u ? u : "");
  }
  sqlite3_finalize (st);
  for (size_t i = 0; r == 0 && i < ids.n; i++) {
    struct fcd_row row;
    struct vd_fcd_info info;
    char *p = NULL;
    if (!fcd_uuid_ok (ids.v[i])) {
      r = vd_error (VD_ECORRUPT, 0, "%s/%s: malformed FCD ID in the catalog",
                    s->ds, FCD_CATALOG);
      break;
    }
    r = fcd_load (s, ids.v[i], &row);
    if (r < 0)
      break;
    r = fill_info (s, &row, &info, &p);
    if (r == 0 && cb (&info, payload))
      i = ids.n;
    free (p);
    fcd_row_free (&row);
  }
  names_free (&ids);
  return r;
}

int
vd_fcd_get_info (vd_fcd_store *s, const char *id, struct vd_fcd_info *info)
{
  struct fcd_row row;
  char *p = NULL;
  VD_ENTER ();
  if (!s || !info)
    return vd_error (VD_EINVAL, 0, "info: no store or info");
  int r = load_fcd (s, id, &row);
  if (r < 0)
    return r;
  r = fill_info (s, &row, info, &p);
  free (s->info_name);
  free (s->info_path);
  s->info_name = row.name;
  s->info_path = p;
  row.name = NULL;
  info->name = s->info_name;
  info->path = s->info_path;
  fcd_row_free (&row);
  return r;
}

int
vd_fcd_resolve (vd_fcd_store *s, const char *id, char out[VD_FCD_ID_SIZE])
{
  VD_ENTER ();
  if (!s || !out)
    return vd_error (VD_EINVAL, 0, "resolve: no store");
  return fcd_resolve_id (s, id, out);
}

/* ---- delete ----------------------------------------------------------- */

static int
do_delete (struct vd_fcd_store *s, struct intent *in)
{
  char *dir = fcd_folder (s, in->uuid);
  int r = dir ? fcd_rm_folder (dir) : VD_ENOMEM;
  free (dir);
  if (r < 0)
    return r;
  fcd_checkpoint (s);
  if ((r = fcd_begin (s)) < 0)
    return r;
  r = fcd_sql (s, "DELETE FROM fcd WHERE uuid = ?", "t", in->uuid);
  if (r == 0)
    r = intent_done (s, in);
  if (r == 0)
    r = fcd_commit (s);
  else
    fcd_rollback (s);
  return r;
}

int
vd_fcd_delete (vd_fcd_store *s, const char *id)
{
  struct intent in = { .op = "delete" };
  struct fcd_row row;
  struct att_row *a = NULL;
  size_t na = 0;
  int r;

  VD_ENTER ();
  if (!s)
    return vd_error (VD_EINVAL, 0, "delete: no store");
  if ((r = fcd_lock (s, 1)) < 0)
    return r;
  if ((r = load_fcd (s, id, &row)) < 0)
    goto out0;
  r = fcd_load_atts (s, row.uuid, &a, &na);
  if (r == 0 && na)
    r = vd_error (VD_EPARENT, 0, "FCD %s (%s) is attached to %s; detach it "
                  "first", row.uuid, row.name, a[0].vmx);
  if (r == 0)
    r = check_no_writer (s, &row);
  if (r < 0)
    goto out;
  memcpy (in.uuid, row.uuid, sizeof in.uuid);
  if ((r = intent_begin (s, &in, NULL, NULL)) < 0)
    goto out;
  fcd_checkpoint (s);
  r = do_delete (s, &in);
  if (r == 0)
    fcd_checkpoint (s);
out:
  fcd_atts_free (a, na);
  fcd_row_free (&row);
out0:
  fcd_unlock (s);
  return r;
}

/* ---- rename / meta / relocation flag ---------------------------------- */

int
vd_fcd_rename (vd_fcd_store *s, const char *id, const char *name)
{
  struct fcd_row row;
  VD_ENTER ();
  if (!s || !fcd_name_ok (name))
    return vd_error (VD_EINVAL, 0, "rename: an FCD needs a name of 1 to %d "
                     "printable bytes", FCD_NAME_MAX);
  int r = fcd_lock (s, 1);
  if (r < 0)
    return r;
  if ((r = load_fcd (s, id, &row)) == 0) {
    r = fcd_sql (s, "UPDATE fcd SET name = ? WHERE uuid = ?", "tt", name,
                 row.uuid);
    fcd_row_free (&row);
  }
  fcd_unlock (s);
  return r;
}

static int
meta_key_ok (const char *k)
{
  size_t n = k ? strlen (k) : 0;
  if (n == 0 || n > 255)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= 'A' && k[i] <= 'Z')
          || (k[i] >= '0' && k[i] <= '9') || strchr ("._:-", k[i])))
      return 0;
  return 1;
}

int
vd_fcd_set_meta (vd_fcd_store *s, const char *id, const char *key,
                 const char *value)
{
  struct fcd_row row;
  VD_ENTER ();
  if (!s || !meta_key_ok (key))
    return vd_error (VD_EINVAL, 0, "meta: a key is 1 to 255 bytes of "
                     "[A-Za-z0-9._:-]");
  if (value && strlen (value) > 65536)
    return vd_error (VD_EINVAL, 0, "meta: value longer than 64 KiB");
  int r = fcd_lock (s, 1);
  if (r < 0)
    return r;
  if ((r = load_fcd (s, id, &row)) == 0) {
    if (value)
      r = fcd_sql (s, "INSERT OR REPLACE INTO fcd_meta (uuid, key, value) "
                   "VALUES (?, ?, ?)", "ttt", row.uuid, key, value);
    else
      r = fcd_sql (s, "DELETE FROM fcd_meta WHERE uuid = ? AND key = ?", "tt",
                   row.uuid, key);
    fcd_row_free (&row);
  }
  fcd_unlock (s);
  return r;
}

int
vd_fcd_list_meta (vd_fcd_store *s, const char *id, vd_fcd_meta_cb cb,
                  void *payload)
{
  struct fcd_row row;
  sqlite3_stmt *st;
  int rc;
  VD_ENTER ();
  if (!s || !cb)
    return vd_error (VD_EINVAL, 0, "meta: no store or callback");
  int r = load_fcd (s, id, &row);
  if (r < 0)
    return r;
  r = fcd_prepare (s, &st, "SELECT key, value FROM fcd_meta WHERE uuid = ? "
                   "ORDER BY key", "t", row.uuid);
  fcd_row_free (&row);
  if (r < 0)
    return r;
  while ((rc = sqlite3_step (st)) == SQLITE_ROW)
    if (cb ((const char *) sqlite3_column_text (st, 0),
            (const char *) sqlite3_column_text (st, 1), payload))
      break;
  sqlite3_finalize (st);
  return 0;
}

int
vd_fcd_set_relocation_disabled (vd_fcd_store *s, const char *id,
                                int disabled)
{
  struct fcd_row row;
  VD_ENTER ();
  if (!s)
    return vd_error (VD_EINVAL, 0, "no store");
  int r = fcd_lock (s, 1);
  if (r < 0)
    return r;
  if ((r = load_fcd (s, id, &row)) == 0) {
    r = fcd_sql (s, "UPDATE fcd SET relocation_disabled = ? WHERE uuid = ?",
                 "it", (int64_t) (disabled != 0), row.uuid);
    fcd_row_free (&row);
  }
  fcd_unlock (s);
  return r;
}

/* ---- grow ------------------------------------------------------------- */

static int
finish_grow (struct vd_fcd_store *s, struct intent *in)
{
  struct fcd_row row;
  vd_disk *d;
  int r = fcd_load (s, in->uuid, &row);
  if (r < 0)
    return r;
  r = open_rel (&d, s, row.path, VD_OPEN_READ_ONLY);
  if (r == 0) {
    uint64_t cap = vd_disk_get_size (d);
    vd_disk_close (d);
    r = fcd_begin (s);
    if (r == 0)
      r = fcd_sql (s, "UPDATE fcd SET capacity = ? WHERE uuid = ?", "it",
                   (int64_t) cap, in->uuid);
    if (r == 0)
      r = intent_done (s, in);
    if (r == 0)
      r = fcd_commit (s);
    else
      fcd_rollback (s);
  }
  fcd_row_free (&row);
  return r;
}

int
vd_fcd_grow (vd_fcd_store *s, const char *id, uint64_t capacity)
{
  struct intent in = { .op = "grow" };
  struct fcd_row row;
  struct snap_row *sn = NULL;
  size_t n = 0;
  char *p = NULL;
  VD_ENTER ();
  if (!s)
    return vd_error (VD_EINVAL, 0, "grow: no store");
  int r = fcd_lock (s, 1);
  if (r < 0)
    return r;
  if ((r = load_fcd (s, id, &row)) < 0)
    goto out0;
  r = fcd_load_snaps (s, row.uuid, &sn, &n);
  if (r == 0 && n)
    r = vd_error (VD_ENOTSUP, 0, "FCD %s has %zu snapshots; delete them "
                  "before growing it", row.uuid, n);
  if (r == 0 && capacity <= row.capacity)
    r = vd_error (VD_EINVAL, 0, "FCD %s: %" PRIu64 " is not larger than its "
                  "capacity %" PRIu64, row.uuid, capacity, row.capacity);
  if (r < 0)
    goto out;
  memcpy (in.uuid, row.uuid, sizeof in.uuid);
  if ((r = intent_begin (s, &in, NULL, NULL)) < 0)
    goto out;
  fcd_checkpoint (s);
  p = fcd_abs (s, row.path);
  r = p ? vd_disk_grow (p, capacity, 0, NULL, NULL) : VD_ENOMEM;
  {
    /* the disk is the truth: record what it has now either way */
    const struct vd_error *e = vd_last_error ();
    struct vd_error keep = *e;
    char msg[512];
    snprintf (msg, sizeof msg, "%s", e->message ? e->message : "");
    int r2 = finish_grow (s, &in);
    if (r < 0) {
      vd__error_clear ();
      vd_error (keep.code, keep.errnum, "%s", msg);
    }
    else
      r = r2;
  }
out:
  free (p);
  fcd_snaps_free (sn, n);
  fcd_row_free (&row);
out0:
  fcd_unlock (s);
  return r;
}

/* ---- snapshots -------------------------------------------------------- */

static int
finish_snapshot (struct vd_fcd_store *s, struct intent *in)
{
  struct fcd_row row;
  struct snap_row *sn = NULL;
  size_t n = 0;
  int r = fcd_load (s, in->uuid, &row);
  if (r < 0)
    return r;
  r = fcd_load_snaps (s, in->uuid, &sn, &n);
  if (r == 0)
    r = retarget_all (s, in->uuid, in->arg);
  if (r == 0)
    r = fcd_begin (s);
  if (r == 0) {
    r = fcd_sql (s, "INSERT INTO snapshot (ssid, uuid, parent, created, "
                 "description, path, seq) VALUES (?, ?, ?, ?, ?, ?, ?)",
                 "tttitti", in->ssid, in->uuid, n ? sn[n - 1].ssid : NULL,
                 fcd_now (), in->arg2 ? in->arg2 : "", row.path,
                 n ? sn[n - 1].seq + 1 : (int64_t) 1);
    if (r == 0)
      r = fcd_sql (s, "UPDATE fcd SET path = ? WHERE uuid = ?", "tt", in->arg,
                   in->uuid);
    if (r == 0)
      r = intent_done (s, in);
    if (r == 0)
      r = fcd_commit (s);
    else
      fcd_rollback (s);
  }
  fcd_snaps_free (sn, n);
  fcd_row_free (&row);
  return r;
}

/* Does the link new_rel open, and is it a child of parent_rel? */
static int
child_of (struct vd_fcd_store *s, const char *new_rel, const char *parent_rel)
{
  vd_disk *d;
  int ok = 0;
  if (open_rel (&d, s, new_rel, VD_OPEN_READ_ONLY) == 0) {
    struct vd_link_info li;
    char *pp = fcd_abs (s, parent_rel);
    ok = vd_disk_get_link_count (d) >= 2 && pp
         && vd_disk_get_link_info (d, 1, &li) == 0 && li.path
         && strcmp (li.path, pp) == 0;
    free (pp);
    vd_disk_close (d);
  }
  vd__error_clear ();
  return ok;
}

/* A new top that never made it into the catalog: remove it. */
static int
undo_new_top (struct vd_fcd_store *s, struct intent *in)
{
  struct fcd_row row;
  unsigned cnt = 0;
  int r = fcd_load (s, in->uuid, &row);
  if (r < 0)
    return r;
  r = retarget_all (s, in->uuid, row.path);
  if (r == 0)
    r = fcd_gc (s, in->uuid, 1, NULL, NULL, &cnt);
  if (r == 0)
    r = intent_done (s, in);
  fcd_row_free (&row);
  return r;
}

static int
recover_snapshot (struct vd_fcd_store *s, struct intent *in)
{
  struct fcd_row row;
  int r = fcd_load (s, in->uuid, &row);
  if (r < 0)
    return r;
  if ((r = fcd_rel_ok (s, in->uuid, in->arg)) == 0) {
    if (child_of (s, in->arg, row.path)) {
      r = finish_snapshot (s, in);
      if (r == 0)
        r = sweep (s, in->uuid);
    }
    else
      r = undo_new_top (s, in);
  }
  fcd_row_free (&row);
  return r;
}

int
vd_fcd_snapshot (vd_fcd_store *s, const char *id, const char *description,
                 char ssid[VD_FCD_ID_SIZE])
{
  struct intent in = { .op = "snapshot" };
  struct fcd_row row;
  vd_disk *top = NULL;
  char *np = NULL;
  VD_ENTER ();
  if (!s)
    return vd_error (VD_EINVAL, 0, "snapshot: no store");
  if (description && (strlen (description) > 4096))
    return vd_error (VD_EINVAL, 0, "snapshot: description longer than 4 KiB");
  int r = fcd_lock (s, 1);
  if (r < 0)
    return r;
  if ((r = load_fcd (s, id, &row)) < 0)
    goto out0;
  /* the disk lock: no writer meanwhile */
  if ((r = open_rel (&top, s, row.path, 0)) < 0)
    goto out;
  memcpy (in.uuid, row.uuid, sizeof in.uuid);
  fcd_new_uuid (in.ssid);
  in.arg = link_rel (row.uuid, row.next_link);
  in.arg2 = description ? strdup (description) : NULL;
  if (!in.arg) {
    r = VD_ENOMEM;
    goto out;
  }
  r = intent_begin (s, &in, "UPDATE fcd SET next_link = next_link + 1 WHERE "
                    "uuid = ?", row.uuid);
  if (r < 0)
    goto out;
  fcd_checkpoint (s);
  np = fcd_abs (s, in.arg);
  r = np ? vd_disk_create_child (top, np, 0, VD_CREATE_OVERWRITE) : VD_ENOMEM;
  KEEP (r, vd_disk_close (top));
  top = NULL;
  if (r < 0) {
    undo_new_top (s, &in);
    goto out;
  }
  fcd_checkpoint (s);
  r = finish_snapshot (s, &in);
  if (r < 0)
    goto out;
  fcd_checkpoint (s);
  if (ssid)
    snprintf (ssid, VD_FCD_ID_SIZE, "%s", in.ssid);
out:
  if (top)
    vd_disk_close (top);
  free (np);
  intent_free (&in);
  fcd_row_free (&row);
out0:
  fcd_unlock (s);
  return r;
}

int
vd_fcd_list_snapshots (vd_fcd_store *s, const char *id, vd_fcd_snapshot_cb cb,
                       void *payload)
{
  struct fcd_row row;
  struct snap_row *sn = NULL;
  size_t n = 0;
  VD_ENTER ();
  if (!s || !cb)
    return vd_error (VD_EINVAL, 0, "snapshots: no store or callback");
  int r = load_fcd (s, id, &row);
  if (r < 0)
    return r;
  r = fcd_load_snaps (s, row.uuid, &sn, &n);
  for (size_t i = 0; r == 0 && i < n; i++) {
    struct vd_fcd_snapshot v;
    char *p = fcd_abs (s, sn[i].path);
    if (!p) {
      r = VD_ENOMEM;
      break;
    }
    memset (&v, 0, sizeof v);
    memcpy (v.id, sn[i].ssid, sizeof v.id);
    memcpy (v.parent, sn[i].parent, sizeof v.parent);
    v.created = sn[i].created;
    v.description = sn[i].desc;
    v.path = p;
    int stop = cb (&v, payload);
    free (p);
    if (stop)
      break;
  }
  fcd_snaps_free (sn, n);
  fcd_row_free (&row);
  return r;
}

/* ---- revert ----------------------------------------------------------- */

static int
revert_gc (struct vd_fcd_store *s, struct intent *in)
{
  unsigned cnt = 0;
  int r = fcd_gc (s, in->uuid, 1, NULL, NULL, &cnt);
  if (r == 0)
    r = intent_done (s, in);
  return r;
}

static int
finish_revert (struct vd_fcd_store *s, struct intent *in, int64_t seq)
{
  int r = retarget_all (s, in->uuid, in->arg);
  if (r == 0)
    r = fcd_begin (s);
  if (r < 0)
    return r;
  r = fcd_sql (s, "UPDATE fcd SET path = ? WHERE uuid = ?", "tt", in->arg,
               in->uuid);
  if (r == 0)
    r = fcd_sql (s, "DELETE FROM snapshot WHERE uuid = ? AND seq > ?", "ti",
                 in->uuid, seq);
  if (r == 0)
    r = intent_step (s, in, 2);
  if (r == 0)
    r = fcd_commit (s);
  else
    fcd_rollback (s);
  if (r < 0)
    return r;
  fcd_checkpoint (s);
  return revert_gc (s, in);
}

static int
recover_revert (struct vd_fcd_store *s, struct intent *in)
{
  struct snap_row *sn = NULL;
  size_t n = 0, k;
  int r;
  if (in->step == 2)
    return revert_gc (s, in);
  if ((r = fcd_rel_ok (s, in->uuid, in->arg)) < 0)
    return r;
  r = fcd_load_snaps (s, in->uuid, &sn, &n);
  if (r == 0)
    r = fcd_find_snap (sn, n, in->ssid, &k);
  if (r == 0) {
    if (child_of (s, in->arg, sn[k].path))
      r = finish_revert (s, in, sn[k].seq);
    else
      r = undo_new_top (s, in);
  }
  fcd_snaps_free (sn, n);
  return r;
}

int
vd_fcd_revert (vd_fcd_store *s, const char *id, const char *ssid)
{
  struct intent in = { .op = "revert" };
  struct fcd_row row;
  struct snap_row *sn = NULL;
  size_t n = 0, k;
  vd_disk *top = NULL, *base = NULL;
  char *np = NULL;
  VD_ENTER ();
  if (!s)
    return vd_error (VD_EINVAL, 0, "revert: no store");
  int r = fcd_lock (s, 1);
  if (r < 0)
    return r;
  if ((r = load_fcd (s, id, &row)) < 0)
    goto out0;
  if ((r = fcd_load_snaps (s, row.uuid, &sn, &n)) < 0
      || (r = fcd_find_snap (sn, n, ssid, &k)) < 0)
    goto out;
  if ((r = open_rel (&top, s, row.path, 0)) < 0)
    goto out;
  memcpy (in.uuid, row.uuid, sizeof in.uuid);
  memcpy (in.ssid, sn[k].ssid, sizeof in.ssid);
  in.arg = link_rel (row.uuid, row.next_link);
  if (!in.arg) {
    r = VD_ENOMEM;
    goto out;
  }
  r = intent_begin (s, &in, "UPDATE fcd SET next_link = next_link + 1 WHERE "
                    "uuid = ?", row.uuid);
  if (r < 0)
    goto out;
  fcd_checkpoint (s);
  np = fcd_abs (s, in.arg);
  r = np ? open_rel (&base, s, sn[k].path, VD_OPEN_READ_ONLY) : VD_ENOMEM;
  if (r == 0)
    r = vd_disk_create_child (base, np, 0, VD_CREATE_OVERWRITE);
  if (base)
    vd_disk_close (base);
  vd_disk_close (top);
  top = NULL;
  if (r < 0) {
    undo_new_top (s, &in);
    goto out;
  }
  fcd_checkpoint (s);
  r = finish_revert (s, &in, sn[k].seq);
  if (r == 0)
    fcd_checkpoint (s);
out:
  if (top)
    vd_disk_close (top);
  free (np);
  intent_free (&in);
  fcd_snaps_free (sn, n);
  fcd_row_free (&row);
out0:
  fcd_unlock (s);
  return r;
}

/* ---- snapshot-delete -------------------------------------------------- */

/* Snapshot k's link L, the link C above it (the next snapshot's or the
 * top) and the one above C, G (or NULL).  Step 0: merge C into L
 * (vd_disk_commit: repeatable), re-parent G onto L; step 1: the catalog
 * names L where it named C and forgets the snapshot; step 2: C's files
 * go (gc). */
static int
do_snapdel (struct vd_fcd_store *s, struct intent *in)
{
  struct fcd_row row;
  struct snap_row *sn = NULL;
  size_t n = 0, k;
  char *L = NULL, *C = NULL, *G = NULL;
  int r;

  if (in->step == 2)
    return revert_gc (s, in);
  if ((r = fcd_load (s, in->uuid, &row)) < 0)
    return r;
  if ((r = fcd_load_snaps (s, in->uuid, &sn, &n)) < 0
      || (r = fcd_find_snap (sn, n, in->ssid, &k)) < 0)
    goto out;
  const char *crel = k + 1 < n ? sn[k + 1].path : row.path;
  const char *grel = k + 2 < n ? sn[k + 2].path
                     : k + 1 < n ? row.path : NULL;
  if (!in->arg || !in->arg2 || strcmp (in->arg, sn[k].path) != 0
      || strcmp (in->arg2, crel) != 0) {
    r = vd_error (VD_ECORRUPT, 0, "%s/%s: snapshot-delete intent %" PRId64
                  " does not match the catalog", s->ds, FCD_CATALOG, in->id);
    goto out;
  }
  L = fcd_abs (s, sn[k].path);
  C = fcd_abs (s, crel);
  G = grel ? fcd_abs (s, grel) : NULL;
  if (!L || !C || (grel && !G)) {
    r = VD_ENOMEM;
    goto out;
  }
  if ((r = vd_disk_commit (C, L, VD_OPEN_FORCE, NULL, NULL)) < 0)
    goto out;
  fcd_checkpoint (s);
  if (G && (r = vd_disk_attach (G, L, VD_OPEN_FORCE)) < 0)
    goto out;
  fcd_checkpoint (s);
  if (!grel && (r = retarget_all (s, in->uuid, sn[k].path)) < 0)
    goto out;
  if ((r = fcd_begin (s)) < 0)
    goto out;
  if (k + 1 < n)
    r = fcd_sql (s, "UPDATE snapshot SET path = ?, parent = ? WHERE ssid = ?",
                 "ttt", sn[k].path, sn[k].parent[0] ? sn[k].parent : NULL,
                 sn[k + 1].ssid);
  else
    r = fcd_sql (s, "UPDATE fcd SET path = ? WHERE uuid = ?", "tt",
                 sn[k].path, in->uuid);
  if (r == 0)
    r = fcd_sql (s, "DELETE FROM snapshot WHERE ssid = ?", "t", sn[k].ssid);
  if (r == 0)
    r = intent_step (s, in, 2);
  if (r == 0)
    r = fcd_commit (s);
  else
    fcd_rollback (s);
  if (r < 0)
    goto out;
  fcd_checkpoint (s);
  r = revert_gc (s, in);
out:
  free (L);
  free (C);
  free (G);
  fcd_snaps_free (sn, n);
  fcd_row_free (&row);
  return r;
}

int
vd_fcd_delete_snapshot (vd_fcd_store *s, const char *id, const char *ssid)
{
  struct intent in = { .op = "snapdel" };
  struct fcd_row row;
  struct snap_row *sn = NULL;
  size_t n = 0, k;
  VD_ENTER ();
  if (!s)
    return vd_error (VD_EINVAL, 0, "snapshot-delete: no store");
  int r = fcd_lock (s, 1);
  if (r < 0)
    return r;
  if ((r = load_fcd (s, id, &row)) < 0)
    goto out0;
  if ((r = fcd_load_snaps (s, row.uuid, &sn, &n)) < 0
      || (r = fcd_find_snap (sn, n, ssid, &k)) < 0
      || (r = check_no_writer (s, &row)) < 0)
    goto out;
  memcpy (in.uuid, row.uuid, sizeof in.uuid);
  memcpy (in.ssid, sn[k].ssid, sizeof in.ssid);
  in.arg = strdup (sn[k].path);
  in.arg2 = strdup (k + 1 < n ? sn[k + 1].path : row.path);
  if (!in.arg || !in.arg2) {
    r = vd_error (VD_ENOMEM, errno, "snapshot-delete");
    goto out;
  }
  if ((r = intent_begin (s, &in, NULL, NULL)) < 0)
    goto out;
  fcd_checkpoint (s);
  r = do_snapdel (s, &in);
  if (r == 0)
    fcd_checkpoint (s);
out:
  intent_free (&in);
  fcd_snaps_free (sn, n);
  fcd_row_free (&row);
out0:
  fcd_unlock (s);
  return r;
}

/* ---- from-snapshot ---------------------------------------------------- */

int
vd_fcd_from_snapshot (vd_fcd_store *s, const char *id, const char *ssid,
                      const char *name, char newid[VD_FCD_ID_SIZE])
{
  struct intent in = { .op = "fromsnap" };
  struct fcd_row row;
  struct snap_row *sn = NULL;
  size_t n = 0, k;
  vd_disk *src = NULL;
  char *rel = NULL, *dir = NULL, *dst = NULL;
  VD_ENTER ();
  if (!s || !fcd_name_ok (name))
    return vd_error (VD_EINVAL, 0, "from-snapshot: the new FCD needs a name "
                     "of 1 to %d printable bytes", FCD_NAME_MAX);
  int r = fcd_lock (s, 1);
  if (r < 0)
    return r;
  if ((r = load_fcd (s, id, &row)) < 0)
    goto out0;
  if ((r = fcd_load_snaps (s, row.uuid, &sn, &n)) < 0
      || (r = fcd_find_snap (sn, n, ssid, &k)) < 0)
    goto out;
  fcd_new_uuid (in.uuid);
  memcpy (in.ssid, sn[k].ssid, sizeof in.ssid);
  in.arg = (char *) name;
  in.arg2 = row.uuid;
  r = intent_begin (s, &in, NULL, NULL);
  in.arg = in.arg2 = NULL;
  if (r < 0)
    goto out;
  fcd_checkpoint (s);
  rel = base_rel (in.uuid);
  dir = fcd_folder (s, in.uuid);
  dst = rel ? fcd_abs (s, rel) : NULL;
  if (!rel || !dir || !dst) {
    r = VD_ENOMEM;
    goto undo;
  }
  if (mkdir (dir, 0755) < 0) {
    r = vd_error (VD_EIO, errno, "%s: make folder", dir);
    goto undo;
  }
  if ((r = open_rel (&src, s, sn[k].path, VD_OPEN_READ_ONLY)) < 0)
    goto undo;
  {
    struct vd_create_params p;
    vd_create_params_init (&p);
    p.type = VD_TYPE_MONOLITHIC_SPARSE;
    p.adapter = vd_disk_get_adapter (src);
    r = vd_disk_convert (src, dst, &p, NULL, NULL);
  }
  uint64_t cap = vd_disk_get_size (src);
  vd_disk_close (src);
  if (r < 0)
    goto undo;
  fcd_checkpoint (s);
  if ((r = fcd_begin (s)) < 0)
    goto undo;
  r = insert_fcd (s, in.uuid, name, rel, cap, 0);
  if (r == 0)
    r = fcd_sql (s, "INSERT INTO fcd_meta (uuid, key, value) SELECT ?, key, "
                 "value FROM fcd_meta WHERE uuid = ?", "tt", in.uuid,
                 row.uuid);
  if (r == 0)
    r = intent_done (s, &in);
  if (r == 0)
    r = fcd_commit (s);
  else
    fcd_rollback (s);
  if (r < 0)
    goto undo;
  fcd_checkpoint (s);
  if (newid)
    snprintf (newid, VD_FCD_ID_SIZE, "%s", in.uuid);
  goto out;
undo:
  undo_new (s, &in);
out:
  free (rel);
  free (dir);
  free (dst);
  fcd_snaps_free (sn, n);
  fcd_row_free (&row);
out0:
  fcd_unlock (s);
  return r;
}

/* ---- open ------------------------------------------------------------- */

int
vd_fcd_open (vd_disk **out, vd_fcd_store *s, const char *id,
             const char *ssid, uint32_t flags)
{
  struct fcd_row row;
  char idbuf[80];
  VD_ENTER ();
  if (!out || !s || !id)
    return vd_error (VD_EINVAL, 0, "vd_fcd_open: no store or ID");
  *out = NULL;
  const char *at = strchr (id, '@');
  if (at) {
    if ((size_t) (at - id) >= sizeof idbuf)
      return vd_error (VD_EINVAL, 0, "bad FCD ID");
    memcpy (idbuf, id, (size_t) (at - id));
    idbuf[at - id] = '\0';
    if (!ssid || !ssid[0])
      ssid = at + 1;
    id = idbuf;
  }
  int r = load_fcd (s, id, &row);
  if (r < 0)
    return r;
  if (ssid && ssid[0]) {
    struct snap_row *sn = NULL;
    size_t n = 0, k;
    r = fcd_load_snaps (s, row.uuid, &sn, &n);
    if (r == 0)
      r = fcd_find_snap (sn, n, ssid, &k);
    if (r == 0)
      r = open_rel (out, s, sn[k].path, flags | VD_OPEN_READ_ONLY);
    fcd_snaps_free (sn, n);
  }
  else
    r = open_rel (out, s, row.path, flags);
  fcd_row_free (&row);
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
    return vd_error (VD_EINVAL, 0, "reconcile: no store");
  int r = fcd_lock (s, 1);
  if (r < 0)
    return r;
  char *root = vd__asprintf ("%s/%s", s->ds, FCD_DIR);
  DIR *d = root ? opendir (root) : NULL;
  if (!d) {
    r = vd_error (VD_EIO, errno, "%s: open folder", root ? root : s->ds);
    goto out;
  }
  struct dirent *de;
  while (r == 0 && (de = readdir (d))) {
    char u[VD_FCD_ID_SIZE];
    if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
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
      r = vd_error (VD_ENOMEM, errno, "path");
      break;
    }
    cnt++;
    int rm = remove && !(cb && cb (p, payload));
    if (rm) {
      struct stat st;
      if (fstatat (dirfd (d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0
          && S_ISDIR (st.st_mode))
        r = fcd_rm_folder (p);
      else if (unlinkat (dirfd (d), de->d_name, 0) < 0 && errno != ENOENT)
        r = vd_error (VD_EIO, errno, "%s: remove", p);
    }
    free (p);
  }
  if (d)
    closedir (d);
out:
  free (root);
  fcd_unlock (s);
  return r < 0 ? r : (int) cnt;
}

/* ---- attach / detach / relocate: attach.c ----------------------------- */
int fcd_recover_attach (struct vd_fcd_store *s, const char *op,
                        int64_t id, const char *uuid, const char *arg,
                        const char *arg2, int step);

/* ---- recovery --------------------------------------------------------- */

int
fcd_recover (struct vd_fcd_store *s)
{
  for (int round = 0; round < 1000; round++) {
    sqlite3_stmt *st;
    struct intent in;
    int r = fcd_prepare (s, &st, "SELECT id, op, uuid, ifnull(ssid, ''), "
                         "arg, arg2, step FROM intent ORDER BY id LIMIT 1",
                         NULL);
    if (r < 0)
      return r;
    if (sqlite3_step (st) != SQLITE_ROW) {
      sqlite3_finalize (st);
      return 0;
    }
    memset (&in, 0, sizeof in);
    in.id = sqlite3_column_int64 (st, 0);
    snprintf (in.op, sizeof in.op, "%s",
              (const char *) sqlite3_column_text (st, 1));
    snprintf (in.uuid, sizeof in.uuid, "%s",
              (const char *) sqlite3_column_text (st, 2));
    snprintf (in.ssid, sizeof in.ssid, "%s",
              (const char *) sqlite3_column_text (st, 3));
    const char *a1 = (const char *) sqlite3_column_text (st, 4);
    const char *a2 = (const char *) sqlite3_column_text (st, 5);
    in.arg = a1 ? strdup (a1) : NULL;
    in.arg2 = a2 ? strdup (a2) : NULL;
    in.step = sqlite3_column_int (st, 6);
    sqlite3_finalize (st);
    if (!fcd_uuid_ok (in.uuid) || (in.ssid[0] && !fcd_uuid_ok (in.ssid))) {
      intent_free (&in);
      return vd_error (VD_ECORRUPT, 0, "%s/%s: unfinished intent %" PRId64
                       " names a malformed ID; refusing to act on it",
                       s->ds, FCD_CATALOG, in.id);
    }
    if (strcmp (in.op, "create") == 0 || strcmp (in.op, "fromsnap") == 0)
      r = undo_new (s, &in);
    else if (strcmp (in.op, "register") == 0)
      r = recover_register (s, &in);
    else if (strcmp (in.op, "delete") == 0)
      r = do_delete (s, &in);
    else if (strcmp (in.op, "grow") == 0) {
      r = finish_grow (s, &in);
      if (r == 0)
        r = sweep (s, in.uuid);
    }
    else if (strcmp (in.op, "snapshot") == 0)
      r = recover_snapshot (s, &in);
    else if (strcmp (in.op, "revert") == 0)
      r = recover_revert (s, &in);
    else if (strcmp (in.op, "snapdel") == 0)
      r = do_snapdel (s, &in);
    else
      r = fcd_recover_attach (s, in.op, in.id, in.uuid, in.arg, in.arg2,
                              in.step);
    intent_free (&in);
    if (r < 0)
      return r;
  }
  return vd_error (VD_ECORRUPT, 0, "%s/%s: too many unfinished intents",
                   s->ds, FCD_CATALOG);
}
