/* First class disks: the SQLite catalog of a datastore folder, its
 * locking, IDs and the checks every catalog value passes before use. */
#include "fcd/fcd.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const schema[] = {
  "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
  "CREATE TABLE IF NOT EXISTS fcd ("
  " uuid TEXT PRIMARY KEY, name TEXT NOT NULL, path TEXT NOT NULL,"
  " capacity INTEGER NOT NULL, created INTEGER NOT NULL,"
  " cbt INTEGER NOT NULL DEFAULT 0,"
  " relocation_disabled INTEGER NOT NULL DEFAULT 0,"
  " next_link INTEGER NOT NULL DEFAULT 1)",
  "CREATE TABLE IF NOT EXISTS fcd_meta ("
  " uuid TEXT NOT NULL REFERENCES fcd(uuid) ON DELETE CASCADE,"
  " key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (uuid, key))",
  "CREATE TABLE IF NOT EXISTS snapshot ("
  " ssid TEXT PRIMARY KEY,"
  " uuid TEXT NOT NULL REFERENCES fcd(uuid) ON DELETE CASCADE,"
  " parent TEXT REFERENCES snapshot(ssid) ON DELETE SET NULL,"
  " created INTEGER NOT NULL, description TEXT NOT NULL DEFAULT '',"
  " path TEXT NOT NULL, seq INTEGER NOT NULL)",
  "CREATE TABLE IF NOT EXISTS attachment ("
  " uuid TEXT NOT NULL REFERENCES fcd(uuid) ON DELETE CASCADE,"
  " vmx TEXT NOT NULL, device TEXT NOT NULL, mode TEXT NOT NULL,"
  " PRIMARY KEY (uuid, vmx))",
  "CREATE TABLE IF NOT EXISTS intent ("
  " id INTEGER PRIMARY KEY, op TEXT NOT NULL, uuid TEXT NOT NULL,"
  " ssid TEXT, arg TEXT, arg2 TEXT, step INTEGER NOT NULL DEFAULT 0,"
  " created INTEGER NOT NULL)",
  NULL
};

/* Room for one more element in the array *vp (a pointer to the array's
 * pointer) of *cap elements holding n: doubling, first elements at
 * first. */
int
fcd_room (void *vp, size_t *cap, size_t n, size_t elem, size_t first,
          const char *what)
{
  void *v, *nv;
  if (n < *cap)
    return 0;
  size_t nc = *cap ? *cap * 2 : first;
  memcpy (&v, vp, sizeof v);
  nv = nc < SIZE_MAX / elem ? realloc (v, nc * elem) : NULL;
  if (!nv)
    return vd__error (VD_ENOMEM, errno, "%s", what);
  memcpy (vp, &nv, sizeof nv);
  *cap = nc;
  return 0;
}

int64_t
fcd_now (void)
{
  return (int64_t) time (NULL);
}

int
fcd_sql_error (struct vd_fcd_store *s, int rc, const char *what)
{
  int code = VD_EIO;
  if (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT || rc == SQLITE_FORMAT)
    code = VD_ECORRUPT;
  else if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
    code = VD_ELOCKED;
  else if (rc == SQLITE_FULL)
    code = VD_ENOSPC;
  else if (rc == SQLITE_NOMEM)
    code = VD_ENOMEM;
  else if (rc == SQLITE_CONSTRAINT)
    code = VD_EEXIST;
  else if (rc == SQLITE_READONLY)
    code = VD_EROFS;
  return vd__error (code, 0, "%s/%s: catalog %s: %s", s->ds, FCD_CATALOG,
                   what, s->db ? sqlite3_errmsg (s->db) : sqlite3_errstr (rc));
}

static int
bind_args (sqlite3_stmt *st, const char *types, va_list ap)
{
  int rc = SQLITE_OK;
  for (int i = 0; types && types[i] && rc == SQLITE_OK; i++) {
    if (types[i] == 't') {
      const char *t = va_arg (ap, const char *);
      rc = t ? sqlite3_bind_text (st, i + 1, t, -1, SQLITE_TRANSIENT)
             : sqlite3_bind_null (st, i + 1);
    }
    else
      rc = sqlite3_bind_int64 (st, i + 1, va_arg (ap, int64_t));
  }
  return rc;
}

int
fcd_prepare (struct vd_fcd_store *s, sqlite3_stmt **st, const char *sql,
             const char *types, ...)
{
  va_list ap;
  int rc = sqlite3_prepare_v2 (s->db, sql, -1, st, NULL);
  if (rc != SQLITE_OK) {
    *st = NULL;
    return fcd_sql_error (s, rc, "query");
  }
  va_start (ap, types);
  rc = bind_args (*st, types, ap);
  va_end (ap);
  if (rc != SQLITE_OK) {
    sqlite3_finalize (*st);
    *st = NULL;
    return fcd_sql_error (s, rc, "bind");
  }
  return 0;
}

/* Run a statement that returns no rows; types: 't' text, 'i' int64. */
int
fcd_sql (struct vd_fcd_store *s, const char *sql, const char *types, ...)
{
  sqlite3_stmt *st;
  va_list ap;
  int rc = sqlite3_prepare_v2 (s->db, sql, -1, &st, NULL);
  if (rc != SQLITE_OK)
    return fcd_sql_error (s, rc, "query");
  va_start (ap, types);
  rc = bind_args (st, types, ap);
  va_end (ap);
  if (rc == SQLITE_OK) {
    while ((rc = sqlite3_step (st)) == SQLITE_ROW)
      ;
  }
  sqlite3_finalize (st);
  if (rc != SQLITE_DONE && rc != SQLITE_OK)
    return fcd_sql_error (s, rc, "update");
  return 0;
}

int
fcd_begin (struct vd_fcd_store *s)
{
  return fcd_sql (s, "BEGIN IMMEDIATE", NULL);
}

int
fcd_commit (struct vd_fcd_store *s)
{
  int r = fcd_sql (s, "COMMIT", NULL);
  if (r < 0)
    fcd_rollback (s);
  return r;
}

void
fcd_rollback (struct vd_fcd_store *s)
{
  if (!sqlite3_get_autocommit (s->db))
    sqlite3_exec (s->db, "ROLLBACK", NULL, NULL, NULL);
}

int
fcd_lock (struct vd_fcd_store *s, int wait)
{
  if (s->read_only)
    return vd__error (VD_EROFS, 0, "%s/%s: the catalog was opened read-only",
                     s->ds, FCD_CATALOG);
  if (s->locked) {
    s->locked++;
    return 0;
  }
  if (flock (s->lock_fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0)
    return vd__error (VD_ELOCKED, errno, "%s/%s: another program is "
                     "changing this datastore's FCDs", s->ds, FCD_LOCK);
  s->locked = 1;
  return 0;
}

void
fcd_unlock (struct vd_fcd_store *s)
{
  if (s->locked && --s->locked == 0)
    flock (s->lock_fd, LOCK_UN);
}

/* Test hook: VDISK_FCD_KILL_AT=N kills the process (SIGKILL, as kill -9)
 * at the N-th checkpoint, to test every step boundary of an operation. */
void
fcd_checkpoint (struct vd_fcd_store *s)
{
  s->ck++;
  if (s->kill_at > 0 && s->ck == s->kill_at)
    raise (SIGKILL);
}

/* The one ID-shape rule: the catalog's lookups, the plugin's fcd:
 * exports and VixMntapi's FCD names all use it. */
int
vd_fcd_id_valid (const char *id, size_t len)
{
  if (!id || len == 0 || len > 36)
    return 0;
  for (size_t i = 0; i < len; i++) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (id[i] != '-')
        return 0;
    }
    else if (!isxdigit ((unsigned char) id[i]))
      return 0;
  }
  return 1;
}

/* A full ID as the catalog stores it (lower case). */
int
fcd_uuid_ok (const char *id)
{
  if (!id || strlen (id) != 36 || !vd_fcd_id_valid (id, 36))
    return 0;
  for (int i = 0; i < 36; i++)
    if (isupper ((unsigned char) id[i]))
      return 0;
  return 1;
}

void
fcd_new_uuid (char out[VD_FCD_ID_SIZE])
{
  uint8_t b[16];
  size_t got = 0;
  while (got < sizeof b) {
    ssize_t n = getrandom (b + got, sizeof b - got, 0);
    if (n <= 0) {
      /* never happens on Linux >= 3.17; keep it unique anyway */
      struct timespec ts;
      clock_gettime (CLOCK_REALTIME, &ts);
      for (size_t i = got; i < sizeof b; i++)
        b[i] = (uint8_t) ((ts.tv_nsec >> (i % 4 * 8)) ^ getpid () ^ i);
      break;
    }
    got += (size_t) n;
  }
  b[6] = (uint8_t) ((b[6] & 0x0f) | 0x40);    /* version 4 */
  b[8] = (uint8_t) ((b[8] & 0x3f) | 0x80);    /* RFC 4122 variant */
  snprintf (out, VD_FCD_ID_SIZE,
            "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
            "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5],
            b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

int
fcd_plain_name_ok (const char *name)
{
  size_t n = name ? strlen (name) : 0;
  if (n == 0 || n > 200 || name[0] == '.')
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!isalnum ((unsigned char) name[i]) && !strchr ("._-", name[i]))
      return 0;
  return 1;
}

int
fcd_name_ok (const char *name)
{
  size_t n = name ? strlen (name) : 0;
  if (n == 0 || n > FCD_NAME_MAX)
    return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char) name[i] < 0x20 || name[i] == 0x7f)
      return 0;
  return 1;
}

/* rel must be "fcd/UUID/NAME" for this FCD's uuid. */
int
fcd_rel_ok (struct vd_fcd_store *s, const char *uuid, const char *rel)
{
  char q[80];
  size_t n = strlen (FCD_DIR);
  if (rel && strncmp (rel, FCD_DIR "/", n + 1) == 0
      && strncmp (rel + n + 1, uuid, 36) == 0 && rel[n + 37] == '/'
      && fcd_plain_name_ok (rel + n + 38))
    return 0;
  return vd__error (VD_ECORRUPT, 0, "%s/%s: the catalog entry of FCD %s "
                   "names \"%s\", which is not a file in the FCD's folder "
                   "%s/%s/%s; refusing it", s->ds, FCD_CATALOG, uuid,
                   rel ? vd__quote (q, sizeof q, rel, strlen (rel)) : "",
                   s->ds, FCD_DIR, uuid);
}

/* The FCD folders must be real folders inside the datastore (a link
 * could point anywhere). */
int
fcd_folder_ok (struct vd_fcd_store *s, const char *uuid)
{
  struct stat st;
  char *root = vd__asprintf ("%s/%s", s->ds, FCD_DIR);
  char *dir = vd__asprintf ("%s/%s/%s", s->ds, FCD_DIR, uuid);
  int r = 0;
  if (!root || !dir)
    r = vd__error (VD_ENOMEM, errno, "path");
  else if (lstat (root, &st) < 0 || !S_ISDIR (st.st_mode))
    r = vd__error (VD_ECORRUPT, 0, "%s: not a folder of the datastore (a "
                  "link?); refusing it", root);
  else if (lstat (dir, &st) == 0 && !S_ISDIR (st.st_mode))
    r = vd__error (VD_ECORRUPT, 0, "%s: FCD folder is not a folder of the "
                  "datastore (a link?); refusing it", dir);
  free (root);
  free (dir);
  return r;
}

char *
fcd_abs (struct vd_fcd_store *s, const char *rel)
{
  char *p = vd__asprintf ("%s/%s", s->ds, rel);
  if (!p)
    vd__error (VD_ENOMEM, errno, "path");
  return p;
}

char *
fcd_folder (struct vd_fcd_store *s, const char *uuid)
{
  char *p = vd__asprintf ("%s/%s/%s", s->ds, FCD_DIR, uuid);
  if (!p)
    vd__error (VD_ENOMEM, errno, "path");
  return p;
}

/* Remove a folder of files (an FCD folder, a work folder) and the work
 * folders inside it (one level down: what a killed vd_disk_create
 * leaves); never follows links.  Missing: 0. */
static int
rm_folder (const char *dir, int depth)
{
  struct stat lst;
  if (lstat (dir, &lst) < 0)
    return errno == ENOENT ? 0 : vd__error (VD_EIO, errno, "%s: stat", dir);
  if (!S_ISDIR (lst.st_mode))
    return vd__error (VD_ECORRUPT, 0, "%s: not a folder (a link?); refusing "
                     "to remove what it names", dir);
  int fd = open (dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  DIR *d = fd >= 0 ? fdopendir (fd) : NULL;
  struct dirent *de;
  int r = 0;
  if (!d) {
    if (fd >= 0)
      close (fd);
    return errno == ENOENT ? 0 : vd__error (VD_EIO, errno, "%s: open", dir);
  }
  int dfd = dirfd (d);
  while ((de = readdir (d))) {
    struct stat st;
    if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
      continue;
    if (fstatat (dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0
        && S_ISDIR (st.st_mode)) {
      char *sub = depth > 0 ? vd__asprintf ("%s/%s", dir, de->d_name) : NULL;
      int r2 = sub ? rm_folder (sub, depth - 1)
                   : vd__error (VD_EIO, 0, "%s/%s: a folder where none belongs",
                               dir, de->d_name);
      free (sub);
      if (r == 0)
        r = r2;
      continue;
    }
    if (unlinkat (dfd, de->d_name, 0) < 0 && errno != ENOENT && r == 0)
      r = vd__error (VD_EIO, errno, "%s/%s: remove", dir, de->d_name);
  }
  fsync (dfd);
  closedir (d);
  if (r == 0 && rmdir (dir) < 0 && errno != ENOENT)
    r = vd__error (VD_EIO, errno, "%s: remove folder", dir);
  return r;
}

int
fcd_rm_folder (const char *dir)
{
  return rm_folder (dir, 1);
}

int
fcd_resolve_id (struct vd_fcd_store *s, const char *id,
                char out[VD_FCD_ID_SIZE])
{
  char q[80];
  sqlite3_stmt *st;
  int n = 0, rc, r;
  size_t len = id ? strlen (id) : 0;
  if (!vd_fcd_id_valid (id, len))
    return vd__error (VD_EINVAL, 0, "bad FCD ID \"%s\" (a UUID or a "
                     "prefix of one)", id ? vd__quote (q, sizeof q, id, len)
                     : "");
  char low[40];
  for (size_t i = 0; i <= len; i++)
    low[i] = (char) tolower ((unsigned char) id[i]);
  r = fcd_prepare (s, &st, "SELECT uuid FROM fcd WHERE substr(uuid, 1, ?) "
                   "= ? LIMIT 2", "it", (int64_t) len, low);
  if (r < 0)
    return r;
  while ((rc = sqlite3_step (st)) == SQLITE_ROW) {
    const char *u = (const char *) sqlite3_column_text (st, 0);
    if (n == 0)
      snprintf (out, VD_FCD_ID_SIZE, "%s", u ? u : "");
    n++;
  }
  sqlite3_finalize (st);
  if (rc != SQLITE_DONE)
    return fcd_sql_error (s, rc, "lookup");
  if (n == 0)
    return vd__error (VD_ENOENT, 0, "%s: no FCD with ID %s", s->ds, low);
  if (n > 1)
    return vd__error (VD_EINVAL, 0, "%s: FCD ID prefix %s is ambiguous (more "
                     "than one FCD starts with it)", s->ds, low);
  if (!fcd_uuid_ok (out))
    return vd__error (VD_ECORRUPT, 0, "%s/%s: catalog holds a malformed FCD "
                     "ID", s->ds, FCD_CATALOG);
  return 0;
}

static char *
col_dup (sqlite3_stmt *st, int i)
{
  const char *t = (const char *) sqlite3_column_text (st, i);
  return strdup (t ? t : "");
}

void
fcd_row_free (struct fcd_row *r)
{
  free (r->name);
  free (r->path);
  r->name = r->path = NULL;
}

int
fcd_load (struct vd_fcd_store *s, const char *uuid, struct fcd_row *r)
{
  sqlite3_stmt *st;
  int rc, e;
  memset (r, 0, sizeof *r);
  e = fcd_prepare (s, &st, "SELECT uuid, name, path, capacity, created, cbt, "
                   "relocation_disabled, next_link FROM fcd WHERE uuid = ?",
                   "t", uuid);
  if (e < 0)
    return e;
  rc = sqlite3_step (st);
  if (rc != SQLITE_ROW) {
    sqlite3_finalize (st);
    if (rc == SQLITE_DONE)
      return vd__error (VD_ENOENT, 0, "%s: no FCD with ID %s", s->ds, uuid);
    return fcd_sql_error (s, rc, "read");
  }
  snprintf (r->uuid, sizeof r->uuid, "%s",
            (const char *) sqlite3_column_text (st, 0));
  r->name = col_dup (st, 1);
  r->path = col_dup (st, 2);
  int64_t cap = sqlite3_column_int64 (st, 3);
  r->capacity = cap > 0 ? (uint64_t) cap : 0;
  r->created = sqlite3_column_int64 (st, 4);
  r->cbt = sqlite3_column_int (st, 5);
  r->reloc = sqlite3_column_int (st, 6);
  r->next_link = sqlite3_column_int64 (st, 7);
  sqlite3_finalize (st);
  if (!r->name || !r->path) {
    fcd_row_free (r);
    return vd__error (VD_ENOMEM, errno, "catalog row");
  }
  if (!fcd_uuid_ok (r->uuid)) {
    fcd_row_free (r);
    return vd__error (VD_ECORRUPT, 0, "%s/%s: malformed FCD ID in the "
                     "catalog", s->ds, FCD_CATALOG);
  }
  if ((e = fcd_rel_ok (s, r->uuid, r->path)) < 0
      || (e = fcd_folder_ok (s, r->uuid)) < 0) {
    fcd_row_free (r);
    return e;
  }
  if (r->next_link < 1 || r->next_link > 999999) {
    fcd_row_free (r);
    return vd__error (VD_ECORRUPT, 0, "%s/%s: FCD %s: link counter %lld out "
                     "of range", s->ds, FCD_CATALOG, uuid,
                     (long long) r->next_link);
  }
  return 0;
}

void
fcd_snaps_free (struct snap_row *v, size_t n)
{
  for (size_t i = 0; v && i < n; i++) {
    free (v[i].desc);
    free (v[i].path);
  }
  free (v);
}

/* The snapshots of uuid, oldest first, every path checked. */
int
fcd_load_snaps (struct vd_fcd_store *s, const char *uuid,
                struct snap_row **out, size_t *n)
{
  sqlite3_stmt *st;
  struct snap_row *v = NULL;
  size_t cnt = 0, cap = 0;
  int rc, e;
  *out = NULL;
  *n = 0;
  e = fcd_prepare (s, &st, "SELECT ssid, ifnull(parent, ''), created, "
                   "description, path, seq FROM snapshot WHERE uuid = ? "
                   "ORDER BY seq", "t", uuid);
  if (e < 0)
    return e;
  while ((rc = sqlite3_step (st)) == SQLITE_ROW) {
    if ((e = fcd_room (&v, &cap, cnt, sizeof *v, 8,
                       "snapshots")) < 0)
      break;
    struct snap_row *r = &v[cnt];
    memset (r, 0, sizeof *r);
    const char *id = (const char *) sqlite3_column_text (st, 0);
    const char *par = (const char *) sqlite3_column_text (st, 1);
    snprintf (r->ssid, sizeof r->ssid, "%s", id ? id : "");
    snprintf (r->parent, sizeof r->parent, "%s", par ? par : "");
    r->created = sqlite3_column_int64 (st, 2);
    r->desc = col_dup (st, 3);
    r->path = col_dup (st, 4);
    r->seq = sqlite3_column_int64 (st, 5);
    cnt++;
    if (!r->desc || !r->path) {
      e = vd__error (VD_ENOMEM, errno, "snapshots");
      break;
    }
    if (!fcd_uuid_ok (r->ssid) || (r->parent[0] && !fcd_uuid_ok (r->parent))) {
      e = vd__error (VD_ECORRUPT, 0, "%s/%s: FCD %s: malformed snapshot ID",
                    s->ds, FCD_CATALOG, uuid);
      break;
    }
    if ((e = fcd_rel_ok (s, uuid, r->path)) < 0)
      break;
  }
  sqlite3_finalize (st);
  if (e == 0 && rc != SQLITE_DONE)
    e = fcd_sql_error (s, rc, "read snapshots");
  if (e < 0) {
    fcd_snaps_free (v, cnt);
    return e;
  }
  *out = v;
  *n = cnt;
  return 0;
}

/* ssid in full or by a unique prefix. */
int
fcd_find_snap (struct snap_row *v, size_t n, const char *ssid, size_t *idx)
{
  char q[80];
  size_t len = ssid ? strlen (ssid) : 0, hits = 0;
  if (!vd_fcd_id_valid (ssid, len))
    return vd__error (VD_EINVAL, 0, "bad snapshot ID \"%s\"",
                     ssid ? vd__quote (q, sizeof q, ssid, len) : "");
  for (size_t i = 0; i < n; i++)
    if (strncasecmp (v[i].ssid, ssid, len) == 0) {
      *idx = i;
      hits++;
    }
  if (hits == 0)
    return vd__error (VD_ENOENT, 0, "no snapshot with ID %s",
                     vd__quote (q, sizeof q, ssid, len));
  if (hits > 1)
    return vd__error (VD_EINVAL, 0, "snapshot ID prefix %s is ambiguous",
                     vd__quote (q, sizeof q, ssid, len));
  return 0;
}

void
fcd_atts_free (struct att_row *v, size_t n)
{
  for (size_t i = 0; v && i < n; i++) {
    free (v[i].vmx);
    free (v[i].device);
    free (v[i].mode);
  }
  free (v);
}

int
fcd_load_atts (struct vd_fcd_store *s, const char *uuid,
               struct att_row **out, size_t *n)
{
  sqlite3_stmt *st;
  struct att_row *v = NULL;
  size_t cnt = 0, cap = 0;
  int rc, e;
  *out = NULL;
  *n = 0;
  e = fcd_prepare (s, &st, "SELECT vmx, device, mode FROM attachment WHERE "
                   "uuid = ? ORDER BY vmx", "t", uuid);
  if (e < 0)
    return e;
  while ((rc = sqlite3_step (st)) == SQLITE_ROW) {
    if ((e = fcd_room (&v, &cap, cnt, sizeof *v, 4,
                       "attachments")) < 0)
      break;
    v[cnt].vmx = col_dup (st, 0);
    v[cnt].device = col_dup (st, 1);
    v[cnt].mode = col_dup (st, 2);
    cnt++;
    if (!v[cnt - 1].vmx || !v[cnt - 1].device || !v[cnt - 1].mode) {
      e = vd__error (VD_ENOMEM, errno, "attachments");
      break;
    }
    if (!fcd_vmx_path_ok (v[cnt - 1].vmx)
        || !fcd_device_ok (v[cnt - 1].device)) {
      e = vd__error (VD_ECORRUPT, 0, "%s/%s: FCD %s: malformed attachment",
                    s->ds, FCD_CATALOG, uuid);
      break;
    }
  }
  sqlite3_finalize (st);
  if (e == 0 && rc != SQLITE_DONE)
    e = fcd_sql_error (s, rc, "read attachments");
  if (e < 0) {
    fcd_atts_free (v, cnt);
    return e;
  }
  *out = v;
  *n = cnt;
  return 0;
}

/* ---- opening -------------------------------------------------------- */

static int
check_header (const char *ds, const char *db)
{
  struct stat st;
  char head[16];
  if (lstat (db, &st) < 0)
    return errno == ENOENT ? 1 : vd__error (VD_EIO, errno, "%s: stat", db);
  if (!S_ISREG (st.st_mode))
    return vd__error (VD_ECORRUPT, 0, "%s: the catalog is not a regular "
                     "file", db);
  if (st.st_size == 0)
    return 0;
  int fd = open (db, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return vd__error (VD_EIO, errno, "%s: open", db);
  ssize_t n = read (fd, head, sizeof head);
  close (fd);
  if (n != (ssize_t) sizeof head || memcmp (head, "SQLite format 3", 16) != 0)
    return vd__error (VD_ECORRUPT, 0, "%s: not an FCD catalog of datastore "
                     "%s (not an SQLite database); left untouched", db, ds);
  return 0;
}

/* The schema: made once (not by a read-only handle: an empty file is
 * then no catalog), then only checked. */
static int
fcd_schema (struct vd_fcd_store *s, const char *db, int ro)
{
  sqlite3_stmt *q;
  int have = 0, ver = -1;
  int r = fcd_prepare (s, &q, "SELECT count(*) FROM sqlite_master WHERE "
                   "type = 'table' AND name = 'schema_version'", NULL);
  if (r < 0)
    return r;
  if (sqlite3_step (q) == SQLITE_ROW)
    have = sqlite3_column_int (q, 0);
  sqlite3_finalize (q);
  if (!have && ro)            /* an empty file: no catalog yet */
    return vd__error (VD_ENOENT, 0, "%s: no FCD catalog (%s)", s->ds,
                      FCD_CATALOG);
  if (!have) {
    if ((r = fcd_lock (s, 1)) < 0)
      return r;
    r = fcd_begin (s);
    for (int i = 0; r == 0 && schema[i]; i++)
      r = fcd_sql (s, schema[i], NULL);
    if (r == 0) {
      r = fcd_prepare (s, &q, "SELECT count(*) FROM schema_version", NULL);
      if (r == 0) {
        int rows = sqlite3_step (q) == SQLITE_ROW ? sqlite3_column_int (q, 0)
                                                  : 0;
        sqlite3_finalize (q);
        if (rows == 0)
          r = fcd_sql (s, "INSERT INTO schema_version VALUES (?)", "i",
                       (int64_t) FCD_SCHEMA_VERSION);
      }
    }
    if (r == 0)
      r = fcd_commit (s);
    else
      fcd_rollback (s);
    fcd_unlock (s);
    if (r < 0)
      return r;
  }
  r = fcd_prepare (s, &q, "SELECT version FROM schema_version", NULL);
  if (r < 0)
    return r;
  if (sqlite3_step (q) == SQLITE_ROW)
    ver = sqlite3_column_int (q, 0);
  sqlite3_finalize (q);
  if (ver != FCD_SCHEMA_VERSION)
    return vd__error (ver > FCD_SCHEMA_VERSION ? VD_ENOTSUP : VD_ECORRUPT, 0,
                      "%s: catalog schema version %d; this vdisk knows "
                      "version %d", db, ver, FCD_SCHEMA_VERSION);
  return 0;
}

int
vd_fcd_store_open (vd_fcd_store **out, const char *datastore, uint32_t flags)
{
  struct vd_fcd_store *s;
  struct stat st;
  char *db = NULL, *lk = NULL;
  int r, rc;

  VD_ENTER ();
  if (!out || !datastore)
    return vd__error (VD_EINVAL, 0, "vd_fcd_store_open: no datastore");
  *out = NULL;
  int ro = (flags & VD_FCD_READ_ONLY) != 0;
  if ((flags & ~(VD_FCD_CREATE | VD_FCD_READ_ONLY))
      || (ro && (flags & VD_FCD_CREATE)))
    return vd__error (VD_EINVAL, 0, "vd_fcd_store_open: bad flags 0x%x",
                     (unsigned) flags);
  if (stat (datastore, &st) < 0)
    return vd__error (vd__errno_code (errno), errno, "%s: datastore folder",
                     datastore);
  if (!S_ISDIR (st.st_mode))
    return vd__error (VD_EINVAL, 0, "%s: a datastore is a folder", datastore);
  s = calloc (1, sizeof *s);
  if (!s)
    return vd__error (VD_ENOMEM, errno, "store");
  s->lock_fd = -1;
  s->read_only = ro;
  s->ds = realpath (datastore, NULL);
  if (!s->ds) {
    r = vd__error (VD_EIO, errno, "%s: realpath", datastore);
    goto fail;
  }
  const char *k = getenv ("VDISK_FCD_KILL_AT");
  s->kill_at = k ? strtol (k, NULL, 10) : 0;
  db = vd__asprintf ("%s/%s", s->ds, FCD_CATALOG);
  lk = vd__asprintf ("%s/%s", s->ds, FCD_LOCK);
  if (!db || !lk) {
    r = vd__error (VD_ENOMEM, errno, "path");
    goto fail;
  }
  r = check_header (s->ds, db);
  if (r < 0)
    goto fail;
  if (r == 1 && !(flags & VD_FCD_CREATE)) {
    r = vd__error (VD_ENOENT, 0, "%s: no FCD catalog (%s); create an FCD "
                  "there first", s->ds, FCD_CATALOG);
    goto fail;
  }
  /* read-only: no lock file made, nothing written (fcd_lock refuses) */
  if (!ro)
    s->lock_fd = open (lk, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (!ro && s->lock_fd < 0) {
    r = vd__error (vd__errno_code (errno), errno, "%s: open", lk);
    goto fail;
  }
  rc = sqlite3_open_v2 (db, &s->db, (ro ? SQLITE_OPEN_READONLY
                                     : SQLITE_OPEN_READWRITE)
                        | ((flags & VD_FCD_CREATE) ? SQLITE_OPEN_CREATE : 0)
                        | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_FULLMUTEX, NULL);
  if (rc != SQLITE_OK) {
    r = fcd_sql_error (s, rc, "open");
    goto fail;
  }
  sqlite3_busy_timeout (s->db, 30000);
  sqlite3_extended_result_codes (s->db, 0);
  if (!ro && sqlite3_db_readonly (s->db, "main") == 1) {
    /* SQLite opens a file it may not write read-only, silently */
    r = vd__error (VD_EROFS, 0, "%s: the catalog cannot be written (its "
                  "permissions or file system); left untouched", db);
    goto fail;
  }
  /* a damaged file is found here, before anything is written */
  rc = sqlite3_exec (s->db, "SELECT count(*) FROM sqlite_master", NULL, NULL,
                     NULL);
  if (rc == SQLITE_READONLY
      && sqlite3_extended_errcode (s->db) == SQLITE_READONLY_ROLLBACK) {
    /* a hot journal to roll back (a read-only handle cannot) */
    r = vd__error (VD_EROFS, 0, "%s: a writer was stopped in the middle of "
                  "a change (%s-journal); a read-write open (vdisk fcd list) "
                  "rolls it back, a read-only one cannot", db, db);
    goto fail;
  }
  if (rc != SQLITE_OK) {
    r = vd__error (VD_ECORRUPT, 0, "%s: not a usable FCD catalog (%s); left "
                  "untouched", db, sqlite3_errmsg (s->db));
    goto fail;
  }
  /* A rollback journal, not WAL: a reader of a WAL database makes (and
   * leaves) the -wal and -shm files beside it, so a read-only handle would
   * write files; with a rollback journal it only reads the catalog.  The
   * writers' commits are as durable with synchronous = EXTRA (FULL, and
   * the folder synced after the journal is deleted: the deletion is the
   * commit), and the catalog sees a few small transactions per FCD
   * operation.  A catalog an older
   * vdisk made in WAL mode is switched here, unless another handle has it
   * open (then it stays WAL until a writer opens it alone: no waiting). */
  if (!ro) {
    sqlite3_busy_timeout (s->db, 0);
    sqlite3_exec (s->db, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL);
    sqlite3_busy_timeout (s->db, 30000);
  }
  if (!ro && ((r = fcd_sql (s, "PRAGMA foreign_keys = ON", NULL)) < 0
      || (r = fcd_sql (s, "PRAGMA synchronous = EXTRA", NULL)) < 0))
    goto fail;
  if ((r = fcd_schema (s, db, ro)) < 0)
    goto fail;
  if (!ro) {
    char *dir = vd__asprintf ("%s/%s", s->ds, FCD_DIR);
    if (!dir || (mkdir (dir, 0755) < 0 && errno != EEXIST)) {
      r = vd__error (VD_EIO, errno, "%s: make folder", dir ? dir : s->ds);
      free (dir);
      goto fail;
    }
    free (dir);
  }
  /* unfinished intents: only when no other writer is active (a read-only
   * handle reads the catalog as it is) */
  if (!ro && fcd_lock (s, 0) == 0) {
    r = fcd_recover (s);
    fcd_unlock (s);
    if (r < 0)
      goto fail;
  }
  vd__error_clear ();
  free (db);
  free (lk);
  *out = s;
  return 0;
fail:
  free (db);
  free (lk);
  vd_fcd_store_close (s);
  return r;
}

void
vd_fcd_store_close (vd_fcd_store *s)
{
  if (!s)
    return;
  if (s->db)
    sqlite3_close_v2 (s->db);
  if (s->lock_fd >= 0)
    close (s->lock_fd);
  free (s->info_name);
  free (s->info_path);
  free (s->ds);
  free (s);
}
