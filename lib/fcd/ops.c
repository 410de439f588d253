/* First class disks: the operations on a whole FCD (create, register,
 * list and info, delete, rename, metadata, grow, open).  Snapshots are in
 * snapshot.c, revert and from-snapshot in revert.c, attach/detach in
 * attach.c, relocate in relocate.c, recovery after a crash in
 * recover.c; common.c holds what they share (intents, links, undo). */
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

/* ---- create ----------------------------------------------------------- */

struct create_ctx {
  enum vd_type type;
  uint64_t capacity;
};

static int
make_empty (const char *path, void *ctx, uint64_t *cap)
{
  struct create_ctx *c = ctx;
  struct vd_create_params p;
  vd_create_params_init (&p);
  p.type = c->type;
  p.capacity = c->capacity;
  p.adapter = VD_ADAPTER_LSILOGIC;
  *cap = c->capacity;
  return vd_disk_create (path, &p);
}

int
vd_fcd_create (vd_fcd_store *s, const char *name, uint64_t capacity,
               enum vd_type type, char id[VD_FCD_ID_SIZE])
{
  struct intent in = { .op = "create" };
  struct create_ctx c = { type, capacity };
  int r;

  VD_ENTER ();
  if (!s || !fcd_name_ok (name))
    return vd__error (VD_EINVAL, 0, "create: an FCD needs a name of 1 to %d "
                     "printable bytes", FCD_NAME_MAX);
  if (capacity == 0 || capacity % 512)
    return vd__error (VD_EINVAL, 0, "create: capacity %" PRIu64 " is not a "
                     "positive multiple of 512", capacity);
  if (c.type == VD_TYPE_UNKNOWN)
    c.type = VD_TYPE_MONOLITHIC_SPARSE;
  if ((r = fcd_lock (s, 1)) < 0)
    return r;
  in.arg = (char *) name;
  r = fcd_make_new (s, &in, name, make_empty, &c, NULL, id);
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
  if (fcd_open_rel (&d, s, rel, VD_OPEN_READ_ONLY | VD_OPEN_SINGLE_LINK) < 0) {
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
  char *rel = fcd_base_rel (in->uuid), *dir = fcd_folder (s, in->uuid);
  int r = rel && dir ? 0 : VD_ENOMEM;
  if (r == 0)
    drop_old_names (in->arg, dir);
  if (r == 0)
    r = fcd_open_rel (&d, s, rel, VD_OPEN_READ_ONLY);
  if (r == 0) {
    uint64_t cap = vd_disk_get_size (d);
    int cbt = vd_disk_get_cbt (d, &ci) == 0 && ci.state == VD_CBT_ON;
    vd_disk_close (d);
    if ((r = fcd_begin (s)) == 0) {
      r = fcd_insert (s, in->uuid, in->arg2, rel, cap, cbt);
      if (r == 0)
        r = fcd_intent_done (s, in);
      r = fcd_end (s, r);
    }
  }
  free (rel);
  free (dir);
  return r;
}

int
fcd_recover_register (struct vd_fcd_store *s, struct intent *in)
{
  char *rel = fcd_base_rel (in->uuid), *dir = fcd_folder (s, in->uuid);
  int r = rel && dir ? 0 : VD_ENOMEM;
  if (r == 0 && (!in->arg || in->arg[0] != '/' || strstr (in->arg, "/../")
                 || strstr (in->arg, "/./") || strstr (in->arg, "//")
                 || !fcd_name_ok (in->arg2)))
    r = vd__error (VD_ECORRUPT, 0, "%s/%s: malformed register intent",
                  s->ds, FCD_CATALOG);
  if (r == 0) {
    struct stat st;
    if (complete_in (s, rel, dir)) {
      r = finish_register (s, in);
      if (r == 0)
        r = fcd_sweep (s, in->uuid);
    }
    else if (lstat (in->arg, &st) == 0)
      r = fcd_undo_new (s, in);       /* the old names are all there */
    else
      r = fcd_intent_done (s, in);    /* neither: leave it to reconcile */
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
  char *src = NULL, *rel = NULL, *dst = NULL, *fcdroot = NULL;
  int r;

  VD_ENTER ();
  if (!s || !disk)
    return vd__error (VD_EINVAL, 0, "register: no disk");
  if (!name)
    name = fcd_base_name (disk);
  if (!fcd_name_ok (name))
    return vd__error (VD_EINVAL, 0, "register: bad name");
  if ((r = fcd_lock (s, 1)) < 0)
    return r;
  src = realpath (disk, NULL);
  if (!src) {
    r = vd__error (vd__errno_code (errno), errno, "%s: register", disk);
    goto out;
  }
  fcdroot = vd__asprintf ("%s/%s/", s->ds, FCD_DIR);
  if (!fcdroot) {
    r = VD_ENOMEM;
    goto out;
  }
  if (strncmp (src, fcdroot, strlen (fcdroot)) == 0) {
    r = vd__error (VD_EEXIST, 0, "%s: already an FCD of %s (it lies in the "
                  "catalog's FCD folder); registering twice is refused",
                  disk, s->ds);
    goto out;
  }
  /* the disk itself: a base, not in use */
  r = vd_disk_open (&d, src, 0);
  if (r < 0)
    goto out;
  if (vd_disk_get_parent_hint (d)) {
    r = vd__error (VD_EPARENT, 0, "%s: is a child disk (parent %s); only a "
                  "base disk can be registered as an FCD", disk,
                  vd_disk_get_parent_hint (d));
    goto out;
  }
  vd_disk_close (d);
  d = NULL;
  fcd_new_uuid (in.uuid);
  in.arg = src;
  in.arg2 = (char *) name;
  r = fcd_intent_begin (s, &in, NULL, NULL);
  in.arg = in.arg2 = NULL;
  if (r < 0)
    goto out;
  fcd_checkpoint (s);
  if ((r = fcd_new_folder (s, in.uuid, &rel, &dst)) < 0)
    goto undo;
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
  fcd_undo_new (s, &in);
out:
  if (d)
    vd_disk_close (d);
  free (src);
  free (rel);
  free (dst);
  free (fcdroot);
  fcd_unlock (s);
  return r;
}


/* ---- list / info ------------------------------------------------------- */

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
  int on;
  if (fcd_top_cbt (s, row->path, &on) == 0)
    info->cbt = on;
  vd__error_clear ();
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
  struct fcd_names ids = { 0 };
  int r, rc;
  VD_ENTER ();
  if (!s || !cb)
    return vd__error (VD_EINVAL, 0, "list: no store or callback");
  r = fcd_prepare (s, &st, "SELECT uuid FROM fcd ORDER BY created, uuid",
                   NULL);
  if (r < 0)
    return r;
  while (r == 0 && (rc = sqlite3_step (st)) == SQLITE_ROW) {
    const char *u = (const char *) sqlite3_column_text (st, 0);
    r = fcd_names_add (&ids, u ? u : "");
  }
  sqlite3_finalize (st);
  for (size_t i = 0; r == 0 && i < ids.n; i++) {
    struct fcd_row row;
    struct vd_fcd_info info;
    char *p = NULL;
    if (!fcd_uuid_ok (ids.v[i])) {
      r = vd__error (VD_ECORRUPT, 0, "%s/%s: malformed FCD ID in the catalog",
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
  fcd_names_free (&ids);
  return r;
}

int
vd_fcd_get_info (vd_fcd_store *s, const char *id, struct vd_fcd_info *info)
{
  struct fcd_row row;
  char *p = NULL;
  VD_ENTER ();
  if (!s || !info)
    return vd__error (VD_EINVAL, 0, "info: no store or info");
  int r = fcd_load_id (s, id, &row);
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
    return vd__error (VD_EINVAL, 0, "resolve: no store");
  return fcd_resolve_id (s, id, out);
}


/* ---- delete ------------------------------------------------------------ */

int
fcd_do_delete (struct vd_fcd_store *s, struct intent *in)
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
    r = fcd_intent_done (s, in);
  return fcd_end (s, r);
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
    return vd__error (VD_EINVAL, 0, "delete: no store");
  if ((r = fcd_lock (s, 1)) < 0)
    return r;
  if ((r = fcd_load_id (s, id, &row)) < 0)
    goto out0;
  r = fcd_load_atts (s, row.uuid, &a, &na);
  if (r == 0 && na)
    r = vd__error (VD_EPARENT, 0, "FCD %s (%s) is attached to %s; detach it "
                  "first", row.uuid, row.name, a[0].vmx);
  if (r == 0)
    r = fcd_check_no_writer (s, row.path);
  if (r < 0)
    goto out;
  memcpy (in.uuid, row.uuid, sizeof in.uuid);
  if ((r = fcd_intent_begin (s, &in, NULL, NULL)) < 0)
    goto out;
  fcd_checkpoint (s);
  r = fcd_do_delete (s, &in);
  if (r == 0)
    fcd_checkpoint (s);
out:
  fcd_atts_free (a, na);
  fcd_row_free (&row);
out0:
  fcd_unlock (s);
  return r;
}


/* ---- rename / meta / relocation flag ----------------------------------- */

int
vd_fcd_rename (vd_fcd_store *s, const char *id, const char *name)
{
  struct fcd_row row;
  VD_ENTER ();
  if (!s || !fcd_name_ok (name))
    return vd__error (VD_EINVAL, 0, "rename: an FCD needs a name of 1 to %d "
                     "printable bytes", FCD_NAME_MAX);
  int r = fcd_lock (s, 1);
  if (r < 0)
    return r;
  if ((r = fcd_load_id (s, id, &row)) == 0) {
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
    return vd__error (VD_EINVAL, 0, "meta: a key is 1 to 255 bytes of "
                     "[A-Za-z0-9._:-]");
  if (value && strlen (value) > 65536)
    return vd__error (VD_EINVAL, 0, "meta: value longer than 64 KiB");
  int r = fcd_lock (s, 1);
  if (r < 0)
    return r;
  if ((r = fcd_load_id (s, id, &row)) == 0) {
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
    return vd__error (VD_EINVAL, 0, "meta: no store or callback");
  int r = fcd_load_id (s, id, &row);
  if (r < 0)
    return r;
  r = fcd_prepare (s, &st, "SELECT key, value FROM fcd_meta WHERE uuid = ? "
                   "ORDER BY key", "t", row.uuid);
  fcd_row_free (&row);
  if (r < 0)
    return r;
  /* the rows first, then the callbacks: a slow callback must not hold the
   * catalog's read lock (a writer's commit would wait for it) */
  char **kv = NULL;
  size_t n = 0, cap = 0;
  while (r == 0 && (rc = sqlite3_step (st)) == SQLITE_ROW) {
    const char *k = (const char *) sqlite3_column_text (st, 0);
    const char *v = (const char *) sqlite3_column_text (st, 1);
    if ((r = fcd_room (&kv, &cap, n + 1, sizeof *kv, 16, "meta")) < 0)
      break;
    kv[n] = strdup (k ? k : "");
    kv[n + 1] = strdup (v ? v : "");
    n += 2;
    if (!kv[n - 2] || !kv[n - 1])
      r = vd__error (VD_ENOMEM, errno, "meta");
  }
  if (r == 0 && rc != SQLITE_DONE)
    r = fcd_sql_error (s, rc, "meta");
  sqlite3_finalize (st);
  for (size_t i = 0; r == 0 && i < n; i += 2)
    if (cb (kv[i], kv[i + 1], payload))
      break;
  for (size_t i = 0; i < n; i++)
    free (kv[i]);
  free (kv);
  return r;
}

int
vd_fcd_set_relocation_disabled (vd_fcd_store *s, const char *id,
                                int disabled)
{
  struct fcd_row row;
  VD_ENTER ();
  if (!s)
    return vd__error (VD_EINVAL, 0, "no store");
  int r = fcd_lock (s, 1);
  if (r < 0)
    return r;
  if ((r = fcd_load_id (s, id, &row)) == 0) {
    r = fcd_sql (s, "UPDATE fcd SET relocation_disabled = ? WHERE uuid = ?",
                 "it", (int64_t) (disabled != 0), row.uuid);
    fcd_row_free (&row);
  }
  fcd_unlock (s);
  return r;
}


/* ---- grow -------------------------------------------------------------- */

static int
finish_grow (struct vd_fcd_store *s, struct intent *in)
{
  struct fcd_row row;
  vd_disk *d;
  int r = fcd_load (s, in->uuid, &row);
  if (r < 0)
    return r;
  r = fcd_open_rel (&d, s, row.path, VD_OPEN_READ_ONLY);
  if (r == 0) {
    uint64_t cap = vd_disk_get_size (d);
    vd_disk_close (d);
    if ((r = fcd_begin (s)) == 0) {
      r = fcd_sql (s, "UPDATE fcd SET capacity = ? WHERE uuid = ?", "it",
                   (int64_t) cap, in->uuid);
      if (r == 0)
        r = fcd_intent_done (s, in);
      r = fcd_end (s, r);
    }
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
    return vd__error (VD_EINVAL, 0, "grow: no store");
  int r = fcd_lock (s, 1);
  if (r < 0)
    return r;
  if ((r = fcd_load_id (s, id, &row)) < 0)
    goto out0;
  r = fcd_load_snaps (s, row.uuid, &sn, &n);
  if (r == 0 && n)
    r = vd__error (VD_ENOTSUP, 0, "FCD %s has %zu snapshots; delete them "
                  "before growing it", row.uuid, n);
  if (r == 0 && capacity <= row.capacity)
    r = vd__error (VD_EINVAL, 0, "FCD %s: %" PRIu64 " is not larger than its "
                  "capacity %" PRIu64, row.uuid, capacity, row.capacity);
  if (r < 0)
    goto out;
  memcpy (in.uuid, row.uuid, sizeof in.uuid);
  if ((r = fcd_intent_begin (s, &in, NULL, NULL)) < 0)
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
      vd__error (keep.code, keep.errnum, "%s", msg);
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


int
fcd_recover_grow (struct vd_fcd_store *s, struct intent *in)
{
  int r = finish_grow (s, in);
  return r < 0 ? r : fcd_sweep (s, in->uuid);
}

/* ---- open -------------------------------------------------------------- */

int
vd_fcd_open (vd_disk **out, vd_fcd_store *s, const char *id,
             const char *ssid, uint32_t flags)
{
  struct fcd_row row;
  char idbuf[80];
  VD_ENTER ();
  if (!out || !s || !id)
    return vd__error (VD_EINVAL, 0, "vd_fcd_open: no store or ID");
  *out = NULL;
  const char *at = strchr (id, '@');
  if (at) {
    if ((size_t) (at - id) >= sizeof idbuf)
      return vd__error (VD_EINVAL, 0, "bad FCD ID");
    memcpy (idbuf, id, (size_t) (at - id));
    idbuf[at - id] = '\0';
    if (!ssid || !ssid[0])
      ssid = at + 1;
    id = idbuf;
  }
  if (ssid && ssid[0]) {
    struct fcd_at a;
    int r = fcd_load_at (s, id, ssid, &a);
    if (r == 0)
      r = fcd_open_rel (out, s, a.sn[a.k].path, flags | VD_OPEN_READ_ONLY);
    fcd_at_free (&a);
    return r;
  }
  int r = fcd_load_id (s, id, &row);
  if (r == 0) {
    r = fcd_open_rel (out, s, row.path, flags);
    fcd_row_free (&row);
  }
  return r;
}
