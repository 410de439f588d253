/* The backup repository (docs/backup.md): names of points, the manifest
 * JSON, hashing of files, the repository lock and the sweep of points that
 * never completed, and the listing of points. */
#include "backup-int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <isa-l/crc64.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- small helpers ------------------------------------------------------ */

int
vd__bk_plain_name (const char *s)
{
  return s && *s && strlen (s) < 200 && !strchr (s, '/')
         && strcmp (s, ".") && strcmp (s, "..") && vd__name_ok (s, 0);
}

int
vd__bk_is_point_name (const char *s)
{
  /* 20261201T092133Z, optionally -N */
  size_t n = strlen (s);
  if (n < 16 || s[8] != 'T' || s[15] != 'Z')
    return 0;
  for (int i = 0; i < 15; i++)
    if (i != 8 && (s[i] < '0' || s[i] > '9'))
      return 0;
  if (n > 16) {
    if (s[16] != '-' || n > 20)
      return 0;
    for (size_t i = 17; i < n; i++)
      if (s[i] < '0' || s[i] > '9')
        return 0;
  }
  return 1;
}

/* The hashes of a file read in order: the SHA-256 of the whole file and
 * (chunks not NULL) a CRC-64 per cs-byte chunk.  One pass: the copy of a
 * VM file hashes what it copies (its manifest entry needs no second read)
 * and vd__bk_hash_file what it reads. */
struct fhash {
  struct sha256_ctx all;
  uint64_t cs, in_part, total, crc;
  json_object *chunks;
};

static void
fh_init (struct fhash *f, uint64_t cs, json_object *chunks)
{
  sha256_init (&f->all);
  f->cs = cs;
  f->in_part = f->total = f->crc = 0;
  f->chunks = chunks;
}

static void
fh_chunk_end (struct fhash *f)
{
  char hex[17];
  if (f->chunks) {
    vd__bk_crc_hex (f->crc, hex);
    json_object_array_add (f->chunks, json_object_new_string (hex));
  }
  f->in_part = 0;
  f->crc = 0;
}

static void
fh_update (struct fhash *f, const uint8_t *p, size_t n)
{
  while (n) {
    size_t k = (size_t) VD_MIN ((uint64_t) n, f->cs - f->in_part);
    sha256_update (&f->all, k, p);
    if (f->chunks)
      f->crc = crc64_ecma_refl (f->crc, p, (uint64_t) k);
    f->in_part += k;
    f->total += k;
    p += k;
    n -= k;
    if (f->in_part == f->cs)
      fh_chunk_end (f);
  }
}

static void
fh_final (struct fhash *f, char whole[65])
{
  uint8_t dg[SHA256_DIGEST_SIZE];
  if (f->in_part)
    fh_chunk_end (f);
  sha256_digest (&f->all, sizeof dg, dg);
  vd__to_hex (dg, sizeof dg, whole);
}

/* Copy a regular file (no symlinks followed), fsync'ed; hash it on the
 * way into f (its chunk size set here from the file's size). */
static int
copy_hashed (const char *from, const char *to, struct fhash *f,
             json_object *chunks, uint64_t *bytes)
{
  uint8_t buf[1 << 16];
  int in = open (from, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  struct stat st;
  if (in < 0)
    return vd__error (VD_EIO, errno, "%s: open", from);
  if (fstat (in, &st) < 0 || !S_ISREG (st.st_mode)) {
    close (in);
    return vd__error (VD_EINVAL, 0, "%s: not a regular file", from);
  }
  int out = open (to, O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (out < 0) {
    close (in);
    return vd__error (VD_EIO, errno, "%s: create", to);
  }
  fh_init (f, vd__bk_chunk_size ((uint64_t) st.st_size), chunks);
  int r = 0;
  for (;;) {
    ssize_t n = read (in, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      r = vd__error (VD_EIO, errno, "%s: read", from);
      break;
    }
    if (n == 0)
      break;
    fh_update (f, buf, (size_t) n);
    if (write (out, buf, (size_t) n) != n) {
      r = vd__error (vd__errno_code (errno), errno, "%s: write", to);
      break;
    }
    if (bytes)
      *bytes += (uint64_t) n;
  }
  if (r == 0 && fsync (out) < 0)
    r = vd__error (VD_EIO, errno, "%s: fsync", to);
  close (in);
  close (out);
  return r;
}

/* Copy a regular file (no symlinks followed), fsync'ed; hash it on the way. */
int
vd__bk_copy_file (const char *from, const char *to, char hex[65], uint64_t *bytes)
{
  struct fhash f;
  int r = copy_hashed (from, to, &f, NULL, bytes);
  if (r == 0)
    fh_final (&f, hex);
  else
    hex[0] = 0;
  return r;
}

/* (see backup-int.h) */
void
vd__bk_crc_hex (uint64_t crc, char hex[17])
{
  snprintf (hex, 17, "%016llx", (unsigned long long) crc);
}

/* SHA-256 of a file, whole, and a CRC-64 per chunk (for "first mismatch
 * at offset": the whole SHA-256 says whether the file is intact, the
 * chunk CRCs only where it first differs, so one cryptographic pass).
 * Read in HASH_READ pieces. */
int
vd__bk_hash_file (const char *path, char whole[65], json_object *chunks,
                  uint64_t *chunk_size, uint64_t *size)
{
  struct fhash f;
  struct stat st;
  int fd = open (path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0)
    return vd__error (VD_ENOENT, errno, "%s: open", path);
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode)) {
    close (fd);
    return vd__error (VD_ECORRUPT, 0, "%s: not a regular file", path);
  }
  uint64_t cs = vd__bk_chunk_size ((uint64_t) st.st_size);
  if (chunk_size && *chunk_size)
    cs = *chunk_size;
  if (vd__bk_chunks_check (path, cs, (uint64_t) st.st_size) < 0) {
    close (fd);
    return VD_ECORRUPT;
  }
  uint8_t *buf = malloc (HASH_READ);
  if (!buf) {
    close (fd);
    return vd__error (VD_ENOMEM, errno, "%s: hash buffer", path);
  }
  posix_fadvise (fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  fh_init (&f, cs, chunks);
  int r = 0;
  for (;;) {
    ssize_t n = read (fd, buf, HASH_READ);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      r = vd__error (VD_EIO, errno, "%s: read", path);
      break;
    }
    if (n == 0)
      break;
    fh_update (&f, buf, (size_t) n);
  }
  free (buf);
  close (fd);
  fh_final (&f, whole);
  if (chunk_size)
    *chunk_size = cs;
  if (size)
    *size = f.total;
  return r;
}

/* A file's manifest entry: the VM's files with the SHA-256 of the whole
 * file ("sha256"); a disk file (disk) with the SHA-256 of its pieces'
 * digests, each the SHA-256 of its leaves' SHA-256s ("sha256_tree",
 * hash.c: by h, the hasher that ran beside its copy, or read whole
 * now). */
static json_object *
entry_json (const char *name, int disk, const char *whole, uint64_t size,
            uint64_t cs, json_object *chunks)
{
  json_object *o = json_object_new_object ();
  json_object_object_add (o, "name", json_object_new_string (name));
  json_object_object_add (o, "size", json_object_new_int64 ((int64_t) size));
  json_object_object_add (o, disk ? "sha256_tree" : "sha256",
                          json_object_new_string (whole));
  if (disk)
    json_object_object_add (o, "leaf_size", json_object_new_int64 (HASH_LEAF));
  json_object_object_add (o, "chunk_size", json_object_new_int64 ((int64_t) cs));
  json_object_object_add (o, "chunk_crc64", chunks);
  return o;
}

static json_object *
entry (const char *name, const char *path, int disk, struct vd__bk_hasher *h,
       int *err)
{
  char whole[65] = "";
  uint64_t cs = 0, size = 0;
  json_object *chunks = json_object_new_array ();
  *err = h ? vd__bk_hasher_finish (h, whole, chunks, &cs, &size)
           : disk ? vd__bk_hash_chunks (path, 0, 1, whole, chunks, &cs, &size)
                  : vd__bk_hash_file (path, whole, chunks, &cs, &size);
  return entry_json (name, disk, whole, size, cs, chunks);
}

json_object *
vd__bk_file_entry (const char *name, const char *path, int *err)
{
  return entry (name, path, 0, NULL, err);
}

/* (see backup-int.h) */
int
vd__bk_copy_file_entry (const char *from, const char *to, const char *name,
                        uint64_t *bytes, json_object **fe)
{
  struct fhash f;
  char whole[65];
  json_object *chunks = json_object_new_array ();
  int r = copy_hashed (from, to, &f, chunks, bytes);
  *fe = NULL;
  if (r) {
    json_object_put (chunks);
    return r;
  }
  fh_final (&f, whole);
  *fe = entry_json (name, 0, whole, f.total, f.cs, chunks);
  return 0;
}

json_object *
vd__bk_disk_file_entry (const char *name, const char *path,
                        struct vd__bk_hasher *h, int *err)
{
  return entry (name, path, 1, h, err);
}

json_object *
vd__bk_read_json (const char *path)
{
  struct stat st;
  int fd = open (path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    vd__error (VD_ENOENT, errno, "%s: open", path);
    return NULL;
  }
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) || st.st_size > MANIFEST_MAX) {
    close (fd);
    vd__error (VD_ECORRUPT, 0, "%s: not a regular file of at most %u bytes",
               path, MANIFEST_MAX);
    return NULL;
  }
  char *text = malloc ((size_t) st.st_size + 1);
  if (!text) {
    close (fd);
    vd__error (VD_ENOMEM, errno, "%s", path);
    return NULL;
  }
  ssize_t n = pread (fd, text, (size_t) st.st_size, 0);
  close (fd);
  if (n != st.st_size) {
    free (text);
    vd__error (VD_EIO, errno, "%s: read", path);
    return NULL;
  }
  text[n] = 0;
  json_tokener *tok = json_tokener_new_ex (32);
  json_object *o = tok ? json_tokener_parse_ex (tok, text, (int) n) : NULL;
  if (!o || json_tokener_get_error (tok) != json_tokener_success
      || !json_object_is_type (o, json_type_object)) {
    json_object_put (o);
    o = NULL;
    vd__error (VD_ECORRUPT, 0, "%s: not a valid JSON object", path);
  }
  if (tok)
    json_tokener_free (tok);
  free (text);
  return o;
}

/* o as path: durable (replaced atomically), or (!durable: a new file of
 * a point not yet in place) written plainly. */
int
vd__bk_write_json (const char *path, json_object *o, int durable)
{
  const char *s = json_object_to_json_string_ext (o, JSON_C_TO_STRING_PRETTY
                                                  | JSON_C_TO_STRING_NOSLASHESCAPE);
  size_t len = strlen (s);
  char *text = malloc (len + 2);
  if (!text)
    return vd__error (VD_ENOMEM, ENOMEM, "%s", path);
  memcpy (text, s, len);
  text[len] = '\n';
  int r = 0;
  if (durable)
    r = vd__replace_file (path, text, len + 1, 0644);
  else {
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 || write (fd, text, len + 1) != (ssize_t) (len + 1))
      r = vd__error (vd__errno_code (errno), errno, "%s: write", path);
    if (fd >= 0 && close (fd) < 0 && r == 0)
      r = vd__error (VD_EIO, errno, "%s: write", path);
  }
  free (text);
  return r;
}

const char *
vd__bk_jstr (json_object *o, const char *key)
{
  json_object *v;
  if (!o || !json_object_object_get_ex (o, key, &v)
      || !json_object_is_type (v, json_type_string))
    return NULL;
  /* a string with a NUL inside ("a\u0000b") is no name: as absent,
   * never silently cut short */
  if (strlen (json_object_get_string (v))
      != (size_t) json_object_get_string_len (v))
    return NULL;
  return json_object_get_string (v);
}

int64_t
vd__bk_jint (json_object *o, const char *key, int64_t dflt)
{
  json_object *v;
  if (!o || !json_object_object_get_ex (o, key, &v)
      || !json_object_is_type (v, json_type_int))
    return dflt;
  return json_object_get_int64 (v);
}

json_object *
vd__bk_jarr (json_object *o, const char *key)
{
  json_object *v;
  if (!o || !json_object_object_get_ex (o, key, &v)
      || !json_object_is_type (v, json_type_array))
    return NULL;
  return v;
}

/* ---- points ------------------------------------------------------------ */

/* dir/name is a directory itself, not a symlink to one (what the sweep,
 * prune and the point listing walk: a hostile repository's symlink must
 * not lead them outside it). */
int
vd__bk_real_dir (const char *dir, const char *name)
{
  struct stat st;
  char *p = name ? vd__asprintf ("%s/%s", dir, name) : strdup (dir);
  int ok = p && lstat (p, &st) == 0 && S_ISDIR (st.st_mode);
  free (p);
  return ok;
}

/* Every file the open chain d reads (each link's descriptor and extents)
 * lies inside REPO/disks/: a hostile descriptor naming a parent or an
 * extent elsewhere, or a symlink out of the repository, is refused before
 * restore reads it or prune writes into it. */
int
vd__bk_chain_inside (const char *repo, vd_disk *d)
{
  char *root = realpath (repo, NULL);
  char *disks = root ? vd__asprintf ("%s/disks/", root) : NULL;
  size_t dl = disks ? strlen (disks) : 0;
  int r = disks ? 0 : vd__error (VD_ENOENT, errno, "%s: resolve", repo);
  for (size_t i = 0; r == 0 && i < d->n_links; i++) {
    struct vd_link *l = d->links[i];
    for (size_t k = 0; r == 0 && k <= l->n_extents; k++) {
      const char *f = k == 0 ? l->path : l->extents[k - 1].path;
      if (!f || (k > 0 && !l->extents[k - 1].io))
        continue;   /* a ZERO extent */
      char *real = realpath (f, NULL);
      if (!real || strncmp (real, disks, dl) != 0)
        r = vd__error (VD_ECORRUPT, 0, "%s: the backup's disk chain names "
                      "%s, outside %sdisks", repo, f, repo);
      free (real);
    }
  }
  free (disks);
  free (root);
  return r;
}

/* The same for a disk file not yet open. */
int
vd__bk_file_inside (const char *repo, const char *path)
{
  vd_disk *d;
  int r = vd_disk_open (&d, path, VD_OPEN_READ_ONLY);
  if (r < 0)
    return r;
  r = vd__bk_chain_inside (repo, d);
  vd_disk_close (d);
  return r;
}

static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* Complete points of repo, oldest first (NULL-terminated, malloc'd). */
char **
vd__bk_list_points (const char *repo, size_t *count)
{
  DIR *d = opendir (repo);
  char **v = NULL;
  size_t n = 0, cap = 0;
  *count = 0;
  if (!d) {
    vd__error (VD_ENOENT, errno, "%s: open repository", repo);
    return NULL;
  }
  struct dirent *de;
  while ((de = readdir (d))) {
    if (!vd__bk_is_point_name (de->d_name) || n >= MAX_POINTS
        || !vd__bk_real_dir (repo, de->d_name))
      continue;   /* a symlink or a file of a point's name is no point */
    if (n + 2 > cap) {
      cap = cap ? cap * 2 : 16;
      char **nv = realloc (v, cap * sizeof *v);
      if (!nv)
        break;
      v = nv;
    }
    v[n++] = strdup (de->d_name);
  }
  closedir (d);
  if (!v) {
    v = calloc (1, sizeof *v);
    if (!v)
      vd__error (VD_ENOMEM, errno, "points");
    return v;
  }
  qsort (v, n, sizeof *v, cmp_str);
  v[n] = NULL;
  *count = n;
  return v;
}

void
vd__bk_strv_free (char **v)
{
  if (!v)
    return;
  for (char **p = v; *p; p++)
    free (*p);
  free (v);
}

json_object *
vd__bk_load_manifest (const char *repo, const char *point)
{
  char *p = vd__asprintf ("%s/%s/manifest.json", repo, point);
  json_object *m = p ? vd__bk_read_json (p) : NULL;
  free (p);
  if (m && vd__bk_jint (m, "format_version", 0) != 1) {
    json_object_put (m);
    vd__error (VD_ECORRUPT, 0, "%s/%s/manifest.json: unknown format_version",
               repo, point);
    return NULL;
  }
  return m;
}

/* The repository disk file of a manifest disk entry, checked to be
 * disks/<plain>/<plain>.vmdk (a hostile manifest names nothing else). */
char *
vd__bk_disk_file_of (const char *repo, json_object *de)
{
  return vd__bk_disk_path (repo, vd__bk_jstr (de, "file"));
}

/* The same for the repository-relative name f (NULL: none). */
char *
vd__bk_disk_path (const char *repo, const char *f)
{
  char key[200], name[200];
  if (!f || strncmp (f, "disks/", 6) != 0
      || sscanf (f + 6, "%199[^/]/%199s", key, name) != 2
      || !vd__bk_plain_name (key) || !vd__bk_plain_name (name)
      || strlen (f) != 6 + strlen (key) + 1 + strlen (name)) {
    vd__error (VD_ECORRUPT, 0, "%s: manifest names a disk file outside "
               "disks/DEVICE/ (%s)", repo, f ? f : "none");
    return NULL;
  }
  return vd__asprintf ("%s/%s", repo, f);
}

char *
vd__bk_now_point (const char *repo, char iso[32])
{
  time_t t = time (NULL);
  struct tm tm;
  char base[32];
  gmtime_r (&t, &tm);
  strftime (base, sizeof base, "%Y%m%dT%H%M%SZ", &tm);
  strftime (iso, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
  for (int k = 1; k < 100; k++) {
    char *name = k == 1 ? strdup (base) : vd__asprintf ("%s-%d", base, k);
    char *p = name ? vd__asprintf ("%s/%s", repo, name) : NULL;
    struct stat st;
    int taken = p && lstat (p, &st) == 0;
    free (p);
    if (!taken)
      return name;
    free (name);
  }
  vd__error (VD_EEXIST, 0, "%s: too many points in one second", repo);
  return NULL;
}

/* Disk files (and stale work folders) of points that never completed. */
void
vd__bk_sweep (const char *repo)
{
  DIR *d = opendir (repo);
  struct dirent *de;
  if (!d)
    return;
  while ((de = readdir (d)))
    if (strncmp (de->d_name, ".incomplete-", 12) == 0) {
      char *p = vd__asprintf ("%s/%s", repo, de->d_name);
      if (p)
        vd__rm_rf (p);
      free (p);
    }
  closedir (d);
  char *disks = vd__asprintf ("%s/disks", repo);
  DIR *dd = disks && vd__bk_real_dir (disks, NULL) ? opendir (disks) : NULL;
  while (dd && (de = readdir (dd))) {
    if (!vd__bk_plain_name (de->d_name) || !vd__bk_real_dir (disks, de->d_name))
      continue;
    char *sub = vd__asprintf ("%s/%s", disks, de->d_name);
    DIR *sd = sub ? opendir (sub) : NULL;
    struct dirent *fe;
    while (sd && (fe = readdir (sd))) {
      char point[64];
      size_t n = strlen (fe->d_name);
      if (n < 6 || n - 5 >= sizeof point || strcmp (fe->d_name + n - 5, ".vmdk"))
        continue;
      memcpy (point, fe->d_name, n - 5);
      point[n - 5] = 0;
      char *pp = vd__asprintf ("%s/%s", repo, point);
      struct stat st;
      if (pp && vd__bk_is_point_name (point) && lstat (pp, &st) < 0) {
        char *f = vd__asprintf ("%s/%s", sub, fe->d_name);
        if (f)
          unlink (f);
        free (f);
      }
      free (pp);
    }
    if (sd)
      closedir (sd);
    free (sub);
  }
  if (dd)
    closedir (dd);
  free (disks);
}

/* One writer per repository: an advisory lock on REPO/.lock. */
int
vd__bk_lock_repo (const char *repo)
{
  char *p = vd__asprintf ("%s/.lock", repo);
  int fd = p ? open (p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644) : -1;
  free (p);
  if (fd < 0)
    return vd__error (VD_EIO, errno, "%s: lock file", repo);
  struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
  if (fcntl (fd, F_OFD_SETLK, &fl) < 0) {
    close (fd);
    return vd__error (VD_ELOCKED, errno, "%s: another backup, restore or prune "
                     "is using this repository", repo);
  }
  return fd;
}

json_object *
vd__bk_prev_disk (json_object *prev, const char *device)
{
  json_object *arr = vd__bk_jarr (prev, "disks");
  for (size_t i = 0; arr && i < json_object_array_length (arr); i++) {
    json_object *de = json_object_array_get_idx (arr, i);
    const char *dev = vd__bk_jstr (de, "device");
    if (dev && strcmp (dev, device) == 0)
      return de;
  }
  return NULL;
}

/* ---- list ---------------------------------------------------------------- */

int
vd_backup_list (const char *repo, vd_backup_point_cb cb, void *payload)
{
  size_t np = 0;
  char **points;
  VD_ENTER ();
  if (!repo || !cb)
    return vd__error (VD_EINVAL, 0, "no repository or callback");
  points = vd__bk_list_points (repo, &np);
  if (!points)
    return vd_last_error ()->code;
  for (size_t i = 0; i < np; i++) {
    json_object *m = vd__bk_load_manifest (repo, points[i]);
    struct vd_backup_point bp = { points[i], NULL, 0, 0, 0, NULL, 1 };
    if (!m) {
      bp.error = vd_last_error ()->message;
    }
    else {
      json_object *ds = vd__bk_jarr (m, "disks");
      bp.time = vd__bk_jstr (m, "time");
      for (size_t k = 0; ds && k < json_object_array_length (ds); k++) {
        const char *kd = vd__bk_jstr (json_object_array_get_idx (ds, k), "kind");
        bp.disks++;
        if (kd && strcmp (kd, "incremental") == 0)
          bp.incremental++;
      }
      bp.bytes_written = (uint64_t) vd__bk_jint (m, "bytes_written", 0);
      json_object *sy;
      if (json_object_object_get_ex (m, "synced", &sy)
          && json_object_is_type (sy, json_type_boolean))
        bp.synced = json_object_get_boolean (sy);
    }
    int stop = cb (&bp, payload);
    json_object_put (m);
    vd__error_clear ();
    if (stop)
      break;
  }
  vd__bk_strv_free (points);
  return 0;
}
