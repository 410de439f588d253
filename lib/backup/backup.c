/* Backup and restore of VM folders into a repository of VMDK chains.
 *
 * Repository layout (docs/backup.md):
 *   REPO/repo.json                   which VM the repository belongs to
 *   REPO/<POINT>/manifest.json       one folder per backup point, named by
 *   REPO/<POINT>/files/...           its UTC time (20261201T092133Z): the
 *                                    VM's .vmx/.vmsd/.vmxf/.nvram copies
 *   REPO/disks/<DEVICE>/<POINT>.vmdk one chain per VM disk: the first point
 *                                    a monolithicSparse copy, every later
 *                                    one a sparse child of the one before
 *                                    (plain parent names: any VMDK reader
 *                                    opens any point directly)
 * A point is built in REPO/.incomplete-<POINT>/ and appears by one rename
 * when complete, so a killed backup leaves the earlier points as they were
 * and nothing that looks like a point; disk files of points that never
 * appeared are removed by the next backup.
 *
 * The copy: the VM's disks are opened for writing (the write lock keeps
 * every other writer out while the frozen data is read), tracked with
 * vdisk's changed block tracking (enabled on the first backup); a full
 * point copies the allocated areas, an incremental one the areas changed
 * since the change ID the previous point recorded.  The VM folder is not
 * otherwise changed. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define COPY_CHUNK (4u << 20)
#define MANIFEST_MAX (64u << 20)   /* bytes of a manifest we will parse */
#define HASH_CHUNK_MIN (1u << 20)
#define HASH_CHUNKS_MAX 4096u
#define MAX_DISKS 256
#define MAX_POINTS 100000

/* ---- small helpers ------------------------------------------------------ */

static int
plain_name (const char *s)
{
  return s && *s && strlen (s) < 200 && !strchr (s, '/')
         && strcmp (s, ".") && strcmp (s, "..") && vd__name_ok (s, 0);
}

static int
is_point_name (const char *s)
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

/* Copy a regular file (no symlinks followed), fsync'ed; hash it on the way. */
static int
copy_file (const char *from, const char *to, char hex[65], uint64_t *bytes)
{
  static const char digits[] = "0123456789abcdef";
  struct sha256_ctx h;
  uint8_t buf[1 << 16], dg[SHA256_DIGEST_SIZE];
  int in = open (from, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  struct stat st;
  if (in < 0)
    return vd_error (VD_EIO, errno, "%s: open", from);
  if (fstat (in, &st) < 0 || !S_ISREG (st.st_mode)) {
    close (in);
    return vd_error (VD_EINVAL, 0, "%s: not a regular file", from);
  }
  int out = open (to, O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (out < 0) {
    close (in);
    return vd_error (VD_EIO, errno, "%s: create", to);
  }
  sha256_init (&h);
  int r = 0;
  for (;;) {
    ssize_t n = read (in, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      r = vd_error (VD_EIO, errno, "%s: read", from);
      break;
    }
    if (n == 0)
      break;
    sha256_update (&h, (size_t) n, buf);
    if (write (out, buf, (size_t) n) != n) {
      r = vd_error (vd__errno_code (errno), errno, "%s: write", to);
      break;
    }
    if (bytes)
      *bytes += (uint64_t) n;
  }
  if (r == 0 && fsync (out) < 0)
    r = vd_error (VD_EIO, errno, "%s: fsync", to);
  close (in);
  close (out);
  sha256_digest (&h, sizeof dg, dg);
  for (int i = 0; i < 32; i++) {
    hex[2 * i] = digits[dg[i] >> 4];
    hex[2 * i + 1] = digits[dg[i] & 15];
  }
  hex[64] = 0;
  return r;
}

/* SHA-256 of a file, whole and per chunk (for "first mismatch at offset"). */
static int
hash_file (const char *path, char whole[65], json_object *chunks,
           uint64_t *chunk_size, uint64_t *size)
{
  static const char digits[] = "0123456789abcdef";
  struct sha256_ctx all, part;
  uint8_t buf[1 << 16], dg[SHA256_DIGEST_SIZE];
  char hex[65];
  struct stat st;
  int fd = open (path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0)
    return vd_error (VD_ENOENT, errno, "%s: open", path);
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode)) {
    close (fd);
    return vd_error (VD_ECORRUPT, 0, "%s: not a regular file", path);
  }
  uint64_t cs = HASH_CHUNK_MIN;
  while ((uint64_t) st.st_size / cs >= HASH_CHUNKS_MAX)
    cs <<= 1;
  if (chunk_size && *chunk_size)
    cs = *chunk_size;
  sha256_init (&all);
  sha256_init (&part);
  uint64_t in_part = 0, total = 0;
  int r = 0;
  for (;;) {
    size_t want = (size_t) VD_MIN ((uint64_t) sizeof buf, cs - in_part);
    ssize_t n = read (fd, buf, want);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      r = vd_error (VD_EIO, errno, "%s: read", path);
      break;
    }
    if (n > 0) {
      sha256_update (&all, (size_t) n, buf);
      sha256_update (&part, (size_t) n, buf);
      in_part += (uint64_t) n;
      total += (uint64_t) n;
    }
    if ((n == 0 && in_part) || in_part == cs) {
      sha256_digest (&part, sizeof dg, dg);
      for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[dg[i] >> 4];
        hex[2 * i + 1] = digits[dg[i] & 15];
      }
      hex[64] = 0;
      if (chunks)
        json_object_array_add (chunks, json_object_new_string (hex));
      in_part = 0;
    }
    if (n == 0)
      break;
  }
  close (fd);
  sha256_digest (&all, sizeof dg, dg);
  for (int i = 0; i < 32; i++) {
    whole[2 * i] = digits[dg[i] >> 4];
    whole[2 * i + 1] = digits[dg[i] & 15];
  }
  whole[64] = 0;
  if (chunk_size)
    *chunk_size = cs;
  if (size)
    *size = total;
  return r;
}

static json_object *
file_entry (const char *name, const char *path, int *err)
{
  char whole[65];
  uint64_t cs = 0, size = 0;
  json_object *chunks = json_object_new_array ();
  json_object *o = json_object_new_object ();
  *err = hash_file (path, whole, chunks, &cs, &size);
  json_object_object_add (o, "name", json_object_new_string (name));
  json_object_object_add (o, "size", json_object_new_int64 ((int64_t) size));
  json_object_object_add (o, "sha256", json_object_new_string (whole));
  json_object_object_add (o, "chunk_size", json_object_new_int64 ((int64_t) cs));
  json_object_object_add (o, "chunks", chunks);
  return o;
}

static json_object *
read_json (const char *path)
{
  struct stat st;
  int fd = open (path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    vd_error (VD_ENOENT, errno, "%s: open", path);
    return NULL;
  }
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) || st.st_size > MANIFEST_MAX) {
    close (fd);
    vd_error (VD_ECORRUPT, 0, "%s: not a regular file of at most %u bytes",
               path, MANIFEST_MAX);
    return NULL;
  }
  char *text = malloc ((size_t) st.st_size + 1);
  if (!text) {
    close (fd);
    vd_error (VD_ENOMEM, errno, "%s", path);
    return NULL;
  }
  ssize_t n = pread (fd, text, (size_t) st.st_size, 0);
  close (fd);
  if (n != st.st_size) {
    free (text);
    vd_error (VD_EIO, errno, "%s: read", path);
    return NULL;
  }
  text[n] = 0;
  json_tokener *tok = json_tokener_new_ex (32);
  json_object *o = tok ? json_tokener_parse_ex (tok, text, (int) n) : NULL;
  if (!o || json_tokener_get_error (tok) != json_tokener_success
      || !json_object_is_type (o, json_type_object)) {
    json_object_put (o);
    o = NULL;
    vd_error (VD_ECORRUPT, 0, "%s: not a valid JSON object", path);
  }
  if (tok)
    json_tokener_free (tok);
  free (text);
  return o;
}

static int
write_json (const char *path, json_object *o)
{
  const char *s = json_object_to_json_string_ext (o, JSON_C_TO_STRING_PRETTY
                                                  | JSON_C_TO_STRING_NOSLASHESCAPE);
  size_t len = strlen (s);
  char *text = malloc (len + 2);
  if (!text)
    return vd_error (VD_ENOMEM, ENOMEM, "%s", path);
  memcpy (text, s, len);
  text[len] = '\n';
  int r = vd__replace_file (path, text, len + 1, 0644);
  free (text);
  return r;
}

static const char *
jstr (json_object *o, const char *key)
{
  json_object *v;
  if (!o || !json_object_object_get_ex (o, key, &v)
      || !json_object_is_type (v, json_type_string))
    return NULL;
  return json_object_get_string (v);
}

static int64_t
jint (json_object *o, const char *key, int64_t dflt)
{
  json_object *v;
  if (!o || !json_object_object_get_ex (o, key, &v)
      || !json_object_is_type (v, json_type_int))
    return dflt;
  return json_object_get_int64 (v);
}

static json_object *
jarr (json_object *o, const char *key)
{
  json_object *v;
  if (!o || !json_object_object_get_ex (o, key, &v)
      || !json_object_is_type (v, json_type_array))
    return NULL;
  return v;
}

/* ---- the VM ---------------------------------------------------------- */

struct vm_disk {
  char device[32];          /* scsi0:0 */
  char key[32];             /* scsi0-0: file-name safe */
  char *path;               /* as the .vmx resolves it */
  char *name;               /* base name */
  int rdm;
};

struct vm {
  char *vmx;                /* path of the one .vmx */
  char *display;
  struct vm_disk disks[MAX_DISKS];
  unsigned n;
  int overflow;
};

static void
vm_free (struct vm *v)
{
  free (v->vmx);
  free (v->display);
  for (unsigned i = 0; i < v->n; i++) {
    free (v->disks[i].path);
    free (v->disks[i].name);
  }
}

static int
collect_disk (const char *vmx, const char *display, const char *device,
              const char *disk_path, void *payload)
{
  struct vm *v = payload;
  if (!v->vmx) {
    v->vmx = strdup (vmx);
    v->display = display ? strdup (display) : NULL;
  }
  else if (strcmp (v->vmx, vmx) != 0) {
    v->overflow = 2;          /* more than one VM */
    return 1;
  }
  if (!device || !disk_path)  /* a VM without disks: only its .vmx */
    return 0;
  if (v->n == MAX_DISKS) {
    v->overflow = 1;
    return 1;
  }
  struct vm_disk *d = &v->disks[v->n];
  snprintf (d->device, sizeof d->device, "%s", device);
  snprintf (d->key, sizeof d->key, "%s", device);
  for (char *p = d->key; *p; p++)
    if (*p == ':')
      *p = '-';
  d->path = strdup (disk_path);
  d->name = vd__basename (disk_path);
  if (!d->path || !d->name)
    return 1;
  v->n++;
  return 0;
}

/* RDM: a descriptor whose createType names a raw device mapping. */
static int
is_rdm (const char *path)
{
  char buf[4096];
  int fd = open (path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0)
    return 0;
  ssize_t n = pread (fd, buf, sizeof buf - 1, 0);
  close (fd);
  if (n <= 0)
    return 0;
  buf[n] = 0;
  return strstr (buf, "createType=\"vmfsRawDeviceMap\"")
         || strstr (buf, "createType=\"vmfsPassthroughRawDeviceMap\"");
}

static int
load_vm (struct vm *v, const char *folder)
{
  memset (v, 0, sizeof *v);
  int r = vd_find_vm_disks (folder, collect_disk, v);
  if (r < 0)
    return r;
  if (v->overflow == 2)
    return vd_error (VD_EINVAL, 0, "%s: holds more than one VM (.vmx); back "
                      "up one VM folder at a time", folder);
  if (v->overflow)
    return vd_error (VD_ENOTSUP, 0, "%s: more than %d disks", folder,
                      MAX_DISKS);
  if (!v->vmx) {
    /* a VM without disks still has a .vmx to back up */
    DIR *d = opendir (folder);
    struct dirent *de;
    if (!d)
      return vd_error (VD_ENOENT, errno, "%s: open folder", folder);
    while ((de = readdir (d))) {
      size_t n = strlen (de->d_name);
      if (n > 4 && strcmp (de->d_name + n - 4, ".vmx") == 0) {
        v->vmx = vd__path_join (folder, de->d_name);
        break;
      }
    }
    closedir (d);
    if (!v->vmx)
      return vd_error (VD_ENOENT, 0, "%s: no .vmx file: not a VM folder",
                        folder);
  }
  for (unsigned i = 0; i < v->n; i++)
    v->disks[i].rdm = is_rdm (v->disks[i].path);
  return 0;
}

static void strv_free (char **v);

/* ---- points ------------------------------------------------------------ */

static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* Complete points of repo, oldest first (NULL-terminated, malloc'd). */
static char **
list_points (const char *repo, size_t *count)
{
  DIR *d = opendir (repo);
  char **v = NULL;
  size_t n = 0, cap = 0;
  *count = 0;
  if (!d) {
    vd_error (VD_ENOENT, errno, "%s: open repository", repo);
    return NULL;
  }
  struct dirent *de;
  while ((de = readdir (d))) {
    if (!is_point_name (de->d_name) || n >= MAX_POINTS)
      continue;
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
      vd_error (VD_ENOMEM, errno, "points");
    return v;
  }
  qsort (v, n, sizeof *v, cmp_str);
  v[n] = NULL;
  *count = n;
  return v;
}

static void
strv_free (char **v)
{
  if (!v)
    return;
  for (char **p = v; *p; p++)
    free (*p);
  free (v);
}

static json_object *
load_manifest (const char *repo, const char *point)
{
  char *p = vd__asprintf ("%s/%s/manifest.json", repo, point);
  json_object *m = p ? read_json (p) : NULL;
  free (p);
  if (m && jint (m, "format_version", 0) != 1) {
    json_object_put (m);
    vd_error (VD_ECORRUPT, 0, "%s/%s/manifest.json: unknown format_version",
               repo, point);
    return NULL;
  }
  return m;
}

/* The repository disk file of a manifest disk entry, checked to be
 * disks/<plain>/<plain>.vmdk (a hostile manifest names nothing else). */
static char *
disk_file_of (const char *repo, json_object *de)
{
  const char *f = jstr (de, "file");
  char key[200], name[200];
  if (!f || strncmp (f, "disks/", 6) != 0
      || sscanf (f + 6, "%199[^/]/%199s", key, name) != 2
      || !plain_name (key) || !plain_name (name)
      || strlen (f) != 6 + strlen (key) + 1 + strlen (name)) {
    vd_error (VD_ECORRUPT, 0, "%s: manifest names a disk file outside "
               "disks/DEVICE/ (%s)", repo, f ? f : "none");
    return NULL;
  }
  return vd__asprintf ("%s/%s", repo, f);
}

/* ---- copying ---------------------------------------------------------- */

struct copy {
  vd_disk *src, *dst;
  uint8_t *buf;
  uint64_t read, written;
  vd_progress_cb progress;
  void *payload;
  uint64_t done, total;
  int r;
};

static int
copy_area (uint64_t off, uint64_t len, void *payload)
{
  struct copy *c = payload;
  while (len > 0 && c->r == 0) {
    size_t n = (size_t) VD_MIN (len, (uint64_t) COPY_CHUNK);
    c->r = vd_disk_read (c->src, c->buf, n, off);
    if (c->r == 0)
      c->r = vd_disk_write (c->dst, c->buf, n, off);
    if (c->r == 0) {
      c->read += n;
      c->written += n;
      c->done += n;
      if (c->progress && c->progress (c->done, c->total, c->payload))
        c->r = vd_error (VD_ECANCELED, 0, "backup canceled");
    }
    off += n;
    len -= n;
  }
  return c->r ? 1 : 0;
}

static int
copy_data (uint64_t off, uint64_t len, uint32_t status, void *payload)
{
  if (status != VD_STATUS_DATA)
    return 0;
  return copy_area (off, len, payload);
}

static char *
now_point (const char *repo, char iso[32])
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
  vd_error (VD_EEXIST, 0, "%s: too many points in one second", repo);
  return NULL;
}

/* Disk files (and stale work folders) of points that never completed. */
static void
sweep (const char *repo)
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
  DIR *dd = disks ? opendir (disks) : NULL;
  while (dd && (de = readdir (dd))) {
    if (!plain_name (de->d_name))
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
      if (pp && is_point_name (point) && lstat (pp, &st) < 0) {
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

static int lock_repo (const char *repo);

/* ---- backup ------------------------------------------------------------- */

static json_object *
prev_disk (json_object *prev, const char *device)
{
  json_object *arr = jarr (prev, "disks");
  for (size_t i = 0; arr && i < json_object_array_length (arr); i++) {
    json_object *de = json_object_array_get_idx (arr, i);
    const char *dev = jstr (de, "device");
    if (dev && strcmp (dev, device) == 0)
      return de;
  }
  return NULL;
}

static int
backup_disk (const char *repo, const char *point, struct vm_disk *vd,
             json_object *prev, const char *prev_point, uint32_t flags,
             const struct vd_backup_options *o, json_object *disks,
             struct vd_backup_result *res)
{
  vd_disk *src = NULL, *dst = NULL, *parent = NULL;
  struct vd_cbt_info ci;
  json_object *e = json_object_new_object ();
  char *dir = vd__asprintf ("%s/disks/%s", repo, vd->key);
  char *dst_path = dir ? vd__asprintf ("%s/%s.vmdk", dir, point) : NULL;
  char *prev_path = NULL;
  const char *kind = "full";
  int r;

  json_object_array_add (disks, e);
  json_object_object_add (e, "device", json_object_new_string (vd->device));
  json_object_object_add (e, "name", json_object_new_string (vd->name));
  if (!dst_path)
    return VD_ENOMEM;
  if (mkdir (dir, 0755) < 0 && errno != EEXIST) {
    r = vd_error (VD_EIO, errno, "%s: mkdir", dir);
    goto out;
  }
  /* Track changes from the first backup on. */
  r = vd_disk_open (&src, vd->path, VD_OPEN_READ_ONLY);
  if (r < 0)
    goto out;
  r = vd_disk_get_cbt (src, &ci);
  int tracked = r == 0 && ci.state == VD_CBT_ON;
  vd_disk_close (src);
  src = NULL;
  if (!tracked && (r = vd_disk_cbt_enable (vd->path, 0)) < 0)
    goto out;
  /* The write lock freezes the disk while it is read. */
  r = vd_disk_open (&src, vd->path, 0);
  if (r < 0)
    goto out;
  if ((r = vd_disk_get_cbt (src, &ci)) < 0)
    goto out;
  char id_now[VD_CHANGE_ID_MAX];
  snprintf (id_now, sizeof id_now, "%s", ci.change_id);

  json_object *pd = prev_point ? prev_disk (prev, vd->device) : NULL;
  const char *prev_id = jstr (pd, "change_id");
  uint64_t cap = vd_disk_get_size (src);
  if (pd && prev_id && !(flags & VD_BACKUP_FULL)
      && (uint64_t) jint (pd, "capacity", -1) == cap
      && (prev_path = disk_file_of (repo, pd)) != NULL) {
    /* Incremental: only if the old ID still answers in this epoch. */
    int q = vd_disk_query_changed_areas (src, prev_id, 0, 0, copy_area, NULL);
    if (q == 0)
      kind = "incremental";
    else
      vd__error_clear ();
  }
  else
    vd__error_clear ();

  struct copy c = { 0 };
  c.buf = malloc (COPY_CHUNK);
  c.src = src;
  c.progress = o ? o->progress : NULL;
  c.payload = o ? o->payload : NULL;
  c.total = cap;
  if (!c.buf) {
    r = vd_error (VD_ENOMEM, errno, "backup buffer");
    goto out;
  }
  unlink (dst_path);    /* a file of a point that never completed */
  if (strcmp (kind, "incremental") == 0) {
    r = vd_disk_open (&parent, prev_path, VD_OPEN_READ_ONLY);
    if (r == 0)
      r = vd_disk_create_child (parent, dst_path, VD_TYPE_MONOLITHIC_SPARSE, 0);
  }
  else {
    struct vd_create_params p;
    vd_create_params_init (&p);
    p.type = VD_TYPE_MONOLITHIC_SPARSE;
    p.capacity = cap;
    p.adapter = vd_disk_get_adapter (src);
    if (p.adapter == VD_ADAPTER_UNKNOWN)
      p.adapter = VD_ADAPTER_IDE;
    vd_disk_get_geometry (src, &p.geometry, NULL);
    if (vd_disk_get_hw_version (src))
      p.hw_version = vd_disk_get_hw_version (src);
    r = vd_disk_create (dst_path, &p);
  }
  if (r == 0)
    r = vd_disk_open (&dst, dst_path, VD_OPEN_NO_SYNC);
  if (r == 0) {
    c.dst = dst;
    if (strcmp (kind, "incremental") == 0)
      r = vd_disk_query_changed_areas (src, prev_id, 0, cap, copy_area, &c);
    else
      r = vd_disk_block_status (src, 0, cap, copy_data, &c);
    if (r == 0)
      r = c.r;
  }
  free (c.buf);
  if (dst) {
    int r2 = vd_disk_flush (dst);
    int r3 = vd_disk_close (dst);
    dst = NULL;
    if (r == 0)
      r = r2 < 0 ? r2 : r3;
  }
  if (r < 0)
    goto out;
  /* The new file's data reaches the disk before the point appears. */
  {
    int fd = open (dst_path, O_RDONLY);
    if (fd < 0 || fdatasync (fd) < 0)
      r = vd_error (VD_EIO, errno, "%s: sync", dst_path);
    if (fd >= 0)
      close (fd);
    if (r < 0)
      goto out;
  }
  res->bytes_read += c.read;
  res->bytes_written += c.written;
  char *rel = vd__asprintf ("disks/%s/%s.vmdk", vd->key, point);
  int err = 0;
  json_object *fe = file_entry (rel ? rel : "", dst_path, &err);
  json_object_object_add (e, "kind", json_object_new_string (kind));
  json_object_object_add (e, "file", json_object_new_string (rel ? rel : ""));
  json_object_object_add (e, "capacity", json_object_new_int64 ((int64_t) cap));
  json_object_object_add (e, "create_type",
                          json_object_new_string (vd_disk_get_create_type (src)));
  json_object_object_add (e, "change_id", json_object_new_string (id_now));
  json_object_object_add (e, "bytes_read", json_object_new_int64 ((int64_t) c.read));
  json_object_object_add (e, "bytes_written", json_object_new_int64 ((int64_t) c.written));
  json_object_object_add (e, "disk_file", fe);
  if (strcmp (kind, "incremental") == 0)
    json_object_object_add (e, "parent_point", json_object_new_string (prev_point));
  free (rel);
  r = err;
out:
  if (parent)
    vd_disk_close (parent);
  if (src) {
    int r2 = vd_disk_close (src);
    if (r == 0)
      r = r2;
  }
  free (prev_path);
  free (dst_path);
  free (dir);
  return r;
}

static int
vm_files (const char *folder, const char *files_dir, json_object *arr,
          uint64_t *bytes)
{
  static const char *const exts[] = { ".vmx", ".vmsd", ".vmxf", ".nvram", NULL };
  DIR *d = opendir (folder);
  struct dirent *de;
  int r = 0;
  if (!d)
    return vd_error (VD_ENOENT, errno, "%s: open folder", folder);
  while (r == 0 && (de = readdir (d))) {
    size_t n = strlen (de->d_name);
    int want = 0;
    for (int i = 0; exts[i]; i++) {
      size_t k = strlen (exts[i]);
      if (n > k && strcmp (de->d_name + n - k, exts[i]) == 0)
        want = 1;
    }
    if (!want || !plain_name (de->d_name))
      continue;
    char *from = vd__asprintf ("%s/%s", folder, de->d_name);
    char *to = vd__asprintf ("%s/%s", files_dir, de->d_name);
    char hex[65];
    if (!from || !to)
      r = VD_ENOMEM;
    else
      r = copy_file (from, to, hex, bytes);
    if (r == 0) {
      int err = 0;
      char *rel = vd__asprintf ("files/%s", de->d_name);
      json_object_array_add (arr, file_entry (rel ? rel : "", to, &err));
      free (rel);
      r = err;
    }
    free (from);
    free (to);
  }
  closedir (d);
  return r;
}

int
vd_backup_vm (const char *folder, const char *repo,
              const struct vd_backup_options *o, struct vd_backup_result *res)
{
  struct vd_backup_result dummy;
  struct vm vm;
  json_object *rj = NULL, *prev = NULL, *m = NULL, *disks = NULL, *files;
  char **points = NULL, *point = NULL, *work = NULL, *files_dir = NULL;
  char *final = NULL, *rpath = NULL, iso[32];
  size_t np = 0;
  uint32_t flags = o ? o->flags : 0;
  int lk = -1, r;

  VD_ENTER ();
  if (!folder || !repo)
    return vd_error (VD_EINVAL, 0, "backup: need a VM folder and a "
                      "repository");
  if (o && o->struct_size < offsetof (struct vd_backup_options, payload)
                            + sizeof o->payload)
    return vd_error (VD_EINVAL, 0, "backup: options struct_size %u is too "
                      "small", o->struct_size);
  if (!res)
    res = &dummy;
  memset (res, 0, sizeof *res);
  r = load_vm (&vm, folder);
  if (r < 0)
    goto out;
  /* Every disk must be free for writing before anything is touched. */
  for (unsigned i = 0; i < vm.n && r == 0; i++) {
    vd_disk *d;
    if (vm.disks[i].rdm)
      continue;
    r = vd_disk_open (&d, vm.disks[i].path, 0);
    if (r == 0)
      r = vd_disk_close (d);
  }
  if (r < 0)
    goto out;
  /* The repository: new, or this VM's. */
  if (mkdir (repo, 0755) < 0 && errno != EEXIST) {
    r = vd_error (VD_EIO, errno, "%s: mkdir", repo);
    goto out;
  }
  rpath = vd__asprintf ("%s/repo.json", repo);
  char *vmx_name = vd__basename (vm.vmx);
  if (access (rpath, F_OK) == 0) {
    rj = read_json (rpath);
    if (!rj) {
      r = vd_last_error ()->code;
      free (vmx_name);
      goto out;
    }
    const char *had = jstr (rj, "vmx");
    if (!(flags & VD_BACKUP_FORCE) && (!had || strcmp (had, vmx_name) != 0)) {
      r = vd_error (VD_EINVAL, 0, "%s: repository of another VM (%s, not "
                     "%s); force to mix", repo, had ? had : "?", vmx_name);
      free (vmx_name);
      goto out;
    }
  }
  else {
    rj = json_object_new_object ();
    json_object_object_add (rj, "format_version", json_object_new_int (1));
    json_object_object_add (rj, "vmx", json_object_new_string (vmx_name));
    if (vm.display)
      json_object_object_add (rj, "display_name",
                              json_object_new_string (vm.display));
    r = write_json (rpath, rj);
    if (r < 0) {
      free (vmx_name);
      goto out;
    }
  }
  lk = lock_repo (repo);
  if (lk < 0) {
    r = lk;
    free (vmx_name);
    goto out;
  }
  sweep (repo);
  points = list_points (repo, &np);
  if (!points) {
    r = vd_last_error ()->code;
    free (vmx_name);
    goto out;
  }
  if (np && !(flags & VD_BACKUP_FULL)) {
    prev = load_manifest (repo, points[np - 1]);
    if (!prev) {
      r = vd_last_error ()->code;
      free (vmx_name);
      goto out;
    }
  }
  point = now_point (repo, iso);
  work = point ? vd__asprintf ("%s/.incomplete-%s", repo, point) : NULL;
  files_dir = work ? vd__asprintf ("%s/files", work) : NULL;
  final = point ? vd__asprintf ("%s/%s", repo, point) : NULL;
  char *disks_dir = vd__asprintf ("%s/disks", repo);
  if (!files_dir || !final || !disks_dir || mkdir (work, 0755) < 0
      || mkdir (files_dir, 0755) < 0
      || (mkdir (disks_dir, 0755) < 0 && errno != EEXIST)) {
    r = vd_error (VD_EIO, errno, "%s: make the point's folder", repo);
    free (disks_dir);
    free (vmx_name);
    goto out;
  }
  free (disks_dir);
  m = json_object_new_object ();
  json_object_object_add (m, "format_version", json_object_new_int (1));
  json_object_object_add (m, "point", json_object_new_string (point));
  json_object_object_add (m, "time", json_object_new_string (iso));
  json_object_object_add (m, "vmx", json_object_new_string (vmx_name));
  free (vmx_name);
  if (vm.display)
    json_object_object_add (m, "display_name", json_object_new_string (vm.display));
  files = json_object_new_array ();
  json_object_object_add (m, "files", files);
  disks = json_object_new_array ();
  json_object_object_add (m, "disks", disks);
  r = vm_files (folder, files_dir, files, &res->bytes_written);
  for (unsigned i = 0; i < vm.n && r == 0; i++) {
    if (vm.disks[i].rdm) {
      /* The mapping descriptor only: the LUN is not a file here. */
      json_object *e = json_object_new_object ();
      char *to = vd__asprintf ("%s/rdm-%s-%s", files_dir, vm.disks[i].key,
                               vm.disks[i].name);
      char hex[65];
      r = to ? copy_file (vm.disks[i].path, to, hex, &res->bytes_written)
             : VD_ENOMEM;
      free (to);
      char *rel = vd__asprintf ("files/rdm-%s-%s", vm.disks[i].key,
                                vm.disks[i].name);
      json_object_object_add (e, "device", json_object_new_string (vm.disks[i].device));
      json_object_object_add (e, "name", json_object_new_string (vm.disks[i].name));
      json_object_object_add (e, "kind", json_object_new_string ("rdm"));
      json_object_object_add (e, "descriptor", json_object_new_string (rel ? rel : ""));
      json_object_object_add (e, "descriptor_sha256", json_object_new_string (hex));
      json_object_array_add (disks, e);
      free (rel);
      res->disks++;
      continue;
    }
    r = backup_disk (repo, point, &vm.disks[i], prev,
                     np ? points[np - 1] : NULL, flags, o, disks, res);
    if (r == 0)
      res->disks++;
  }
  if (r < 0)
    goto out;
  json_object_object_add (m, "bytes_read", json_object_new_int64 ((int64_t) res->bytes_read));
  json_object_object_add (m, "bytes_written", json_object_new_int64 ((int64_t) res->bytes_written));
  {
    char *mp = vd__asprintf ("%s/manifest.json", work);
    r = mp ? write_json (mp, m) : VD_ENOMEM;
    free (mp);
  }
  if (r == 0 && (vd__fsync_dir (files_dir) < 0 || vd__fsync_dir (work) < 0))
    r = vd_error (VD_EIO, errno, "%s: sync", work);
  /* One rename: the point exists complete, or not at all. */
  if (r == 0 && rename (work, final) < 0)
    r = vd_error (VD_EIO, errno, "%s: rename into place", final);
  if (r == 0)
    vd__fsync_dir (repo);
  if (r == 0)
    snprintf (res->point, sizeof res->point, "%s", point);
  if (r == 0 && o && o->struct_size >= offsetof (struct vd_backup_options, summary_json)
                                       + sizeof o->summary_json && o->summary_json)
    *o->summary_json = strdup (json_object_to_json_string_ext (m, JSON_C_TO_STRING_PRETTY
                                                               | JSON_C_TO_STRING_NOSLASHESCAPE));
out:
  if (r < 0 && work)
    vd__rm_rf (work);
  if (lk >= 0)
    close (lk);
  json_object_put (rj);
  json_object_put (prev);
  json_object_put (m);
  strv_free (points);
  free (point);
  free (work);
  free (files_dir);
  free (final);
  free (rpath);
  vm_free (&vm);
  return r;
}

/* ---- list ---------------------------------------------------------------- */

int
vd_backup_list (const char *repo, vd_backup_point_cb cb, void *payload)
{
  size_t np = 0;
  char **points;
  VD_ENTER ();
  if (!repo || !cb)
    return vd_error (VD_EINVAL, 0, "no repository or callback");
  points = list_points (repo, &np);
  if (!points)
    return vd_last_error ()->code;
  for (size_t i = 0; i < np; i++) {
    json_object *m = load_manifest (repo, points[i]);
    struct vd_backup_point bp = { points[i], NULL, 0, 0, 0, NULL };
    if (!m) {
      bp.error = vd_last_error ()->message;
    }
    else {
      json_object *ds = jarr (m, "disks");
      bp.time = jstr (m, "time");
      for (size_t k = 0; ds && k < json_object_array_length (ds); k++) {
        const char *kd = jstr (json_object_array_get_idx (ds, k), "kind");
        bp.disks++;
        if (kd && strcmp (kd, "incremental") == 0)
          bp.incremental++;
      }
      bp.bytes_written = (uint64_t) jint (m, "bytes_written", 0);
    }
    int stop = cb (&bp, payload);
    json_object_put (m);
    vd__error_clear ();
    if (stop)
      break;
  }
  strv_free (points);
  return 0;
}

/* ---- verify ---------------------------------------------------------------- */

/* A file against its manifest entry: the first chunk that differs. */
static int
verify_file (const char *repo, const char *point_dir, json_object *fe)
{
  const char *name = jstr (fe, "name");
  const char *want = jstr (fe, "sha256");
  json_object *chunks = jarr (fe, "chunks");
  int64_t cs = jint (fe, "chunk_size", 0);
  int64_t size = jint (fe, "size", -1);
  if (!name || !want || !chunks || cs < (int64_t) HASH_CHUNK_MIN
      || (cs & (cs - 1)) || size < 0)
    return vd_error (VD_ECORRUPT, 0, "%s: manifest entry %s is incomplete",
                     point_dir, name ? name : "?");
  /* files/NAME inside the point, or disks/KEY/NAME.vmdk in the repo */
  char *path = NULL;
  if (strncmp (name, "files/", 6) == 0 && plain_name (name + 6))
    path = vd__asprintf ("%s/%s", point_dir, name);
  else {
    json_object *tmp = json_object_new_object ();
    json_object_object_add (tmp, "file", json_object_new_string (name));
    path = disk_file_of (repo, tmp);
    json_object_put (tmp);
    if (!path)
      return VD_ECORRUPT;
  }
  if (!path)
    return VD_ENOMEM;
  char whole[65];
  uint64_t got_cs = (uint64_t) cs, got_size = 0;
  json_object *got = json_object_new_array ();
  int r = hash_file (path, whole, got, &got_cs, &got_size);
  if (r == 0 && strcmp (whole, want) != 0) {
    size_t n = json_object_array_length (chunks), m = json_object_array_length (got);
    size_t i = 0;
    for (; i < n && i < m; i++)
      if (strcmp (json_object_get_string (json_object_array_get_idx (chunks, i)),
                  json_object_get_string (json_object_array_get_idx (got, i))))
        break;
    if (got_size != (uint64_t) size && i == VD_MIN (n, m))
      r = vd_error (VD_ECORRUPT, 0, "%s: %llu bytes, the backup recorded "
                    "%lld", path, (unsigned long long) got_size,
                    (long long) size);
    else
      r = vd_error (VD_ECORRUPT, 0, "%s: content differs from the backup "
                    "in bytes %llu..%llu", path,
                    (unsigned long long) i * (unsigned long long) cs,
                    (unsigned long long) (i + 1) * (unsigned long long) cs - 1);
  }
  json_object_put (got);
  free (path);
  return r;
}

static int
read_all_cb (uint64_t off, uint64_t len, uint32_t status, void *payload)
{
  struct copy *c = payload;
  if (status != VD_STATUS_DATA)
    return 0;
  while (len && c->r == 0) {
    size_t n = (size_t) VD_MIN (len, (uint64_t) COPY_CHUNK);
    c->r = vd_disk_read (c->src, c->buf, n, off);
    off += n;
    len -= n;
  }
  return c->r ? 1 : 0;
}

static int
verify_point (const char *repo, const char *point)
{
  json_object *m = load_manifest (repo, point);
  if (!m)
    return vd_last_error ()->code;
  char *pdir = vd__asprintf ("%s/%s", repo, point);
  int r = pdir ? 0 : VD_ENOMEM;
  json_object *files = jarr (m, "files"), *disks = jarr (m, "disks");
  if (!files || !disks)
    r = vd_error (VD_ECORRUPT, 0, "%s/manifest.json: no files or disks",
                  pdir);
  for (size_t i = 0; r == 0 && i < json_object_array_length (files); i++)
    r = verify_file (repo, pdir, json_object_array_get_idx (files, i));
  for (size_t i = 0; r == 0 && i < json_object_array_length (disks); i++) {
    json_object *de = json_object_array_get_idx (disks, i);
    const char *kind = jstr (de, "kind");
    if (kind && strcmp (kind, "rdm") == 0)
      continue;
    json_object *fe;
    char *path = disk_file_of (repo, de);
    if (!path) {
      r = VD_ECORRUPT;
      break;
    }
    if (!json_object_object_get_ex (de, "disk_file", &fe)) {
      free (path);
      r = vd_error (VD_ECORRUPT, 0, "%s: disk entry without its file", pdir);
      break;
    }
    r = verify_file (repo, pdir, fe);
    /* And the whole chain reads, with clean metadata. */
    if (r == 0) {
      vd_disk *d;
      struct copy c = { 0 };
      r = vd_disk_open (&d, path, VD_OPEN_READ_ONLY);
      if (r == 0) {
        if ((uint64_t) jint (de, "capacity", -1) != vd_disk_get_size (d))
          r = vd_error (VD_ECORRUPT, 0, "%s: capacity differs from the "
                        "manifest", path);
        c.src = d;
        c.buf = malloc (COPY_CHUNK);
        if (r == 0 && !c.buf)
          r = vd_error (VD_ENOMEM, errno, "verify");
        if (r == 0)
          r = vd_disk_block_status (d, 0, vd_disk_get_size (d), read_all_cb, &c);
        if (r == 0)
          r = c.r;
        free (c.buf);
        vd_disk_close (d);
      }
      if (r == 0) {
        struct vd_check_result cr = { sizeof cr, 0, 0, 0, 0, 0, 0 };
        int k = vd_check (path, VD_OPEN_READ_ONLY, &cr, NULL, NULL);
        if (k < 0 || cr.corruptions)
          r = k < 0 ? k : vd_error (VD_ECORRUPT, 0, "%s: check finds %llu "
                                    "corruptions", path,
                                    (unsigned long long) cr.corruptions);
      }
    }
    free (path);
  }
  free (pdir);
  json_object_put (m);
  return r;
}

int
vd_backup_verify (const char *repo, const char *point)
{
  VD_ENTER ();
  if (!repo)
    return vd_error (VD_EINVAL, 0, "no repository");
  if (point) {
    if (!is_point_name (point))
      return vd_error (VD_EINVAL, 0, "'%s' is not a point name", point);
    return verify_point (repo, point);
  }
  size_t np;
  char **points = list_points (repo, &np);
  if (!points)
    return vd_last_error ()->code;
  int r = np ? 0 : vd_error (VD_ENOENT, 0, "%s: no backup points", repo);
  for (size_t i = 0; i < np && r == 0; i++)
    r = verify_point (repo, points[i]);
  strv_free (points);
  return r;
}

/* ---- prune ----------------------------------------------------------------- */

/* Files of disks/ that no point's chain uses. */
static void
collect_refs (const char *repo, char ***refs, size_t *n, size_t *cap)
{
  size_t np;
  char **points = list_points (repo, &np);
  for (size_t i = 0; points && i < np; i++) {
    json_object *m = load_manifest (repo, points[i]);
    json_object *ds = jarr (m, "disks");
    for (size_t k = 0; ds && k < json_object_array_length (ds); k++) {
      json_object *de = json_object_array_get_idx (ds, k);
      const char *kind = jstr (de, "kind");
      if (kind && strcmp (kind, "rdm") == 0)
        continue;
      char *f = disk_file_of (repo, de);
      vd_disk *d;
      if (f && vd_disk_open (&d, f, VD_OPEN_READ_ONLY) == 0) {
        for (unsigned l = 0; l < vd_disk_get_link_count (d); l++) {
          struct vd_link_info li;
          if (vd_disk_get_link_info (d, l, &li) < 0)
            continue;
          if (*n + 1 >= *cap) {
            *cap = *cap ? *cap * 2 : 64;
            char **nr = realloc (*refs, *cap * sizeof **refs);
            if (!nr)
              break;
            *refs = nr;
          }
          (*refs)[(*n)++] = realpath (li.path, NULL);
        }
        vd_disk_close (d);
      }
      free (f);
    }
    json_object_put (m);
  }
  strv_free (points);
  vd__error_clear ();
}

static void
gc (const char *repo)
{
  char **refs = NULL;
  size_t n = 0, cap = 0;
  collect_refs (repo, &refs, &n, &cap);
  char *disks = vd__asprintf ("%s/disks", repo);
  DIR *dd = disks ? opendir (disks) : NULL;
  struct dirent *de;
  while (dd && (de = readdir (dd))) {
    if (!plain_name (de->d_name))
      continue;
    char *sub = vd__asprintf ("%s/%s", disks, de->d_name);
    DIR *sd = sub ? opendir (sub) : NULL;
    struct dirent *fe;
    while (sd && (fe = readdir (sd))) {
      size_t len = strlen (fe->d_name);
      if (len < 6 || strcmp (fe->d_name + len - 5, ".vmdk"))
        continue;
      char *f = vd__asprintf ("%s/%s", sub, fe->d_name);
      char *real = f ? realpath (f, NULL) : NULL;
      int used = 0;
      for (size_t i = 0; real && i < n; i++)
        if (refs[i] && strcmp (refs[i], real) == 0)
          used = 1;
      if (real && !used)
        unlink (f);
      free (real);
      free (f);
    }
    if (sd)
      closedir (sd);
    free (sub);
  }
  if (dd)
    closedir (dd);
  free (disks);
  for (size_t i = 0; i < n; i++)
    free (refs[i]);
  free (refs);
}

/* One writer per repository: an advisory lock on REPO/.lock. */
static int
lock_repo (const char *repo)
{
  char *p = vd__asprintf ("%s/.lock", repo);
  int fd = p ? open (p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644) : -1;
  free (p);
  if (fd < 0)
    return vd_error (VD_EIO, errno, "%s: lock file", repo);
  struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
  if (fcntl (fd, F_OFD_SETLK, &fl) < 0) {
    close (fd);
    return vd_error (VD_ELOCKED, errno, "%s: another backup, restore or prune "
                     "is using this repository", repo);
  }
  return fd;
}

/* Merge the oldest point into the next one.  The oldest point's folder
 * goes first (a crash then leaves the next point as an incremental over
 * the old file, which stays: consistent); then each device's incremental
 * file of the next point is committed into the old file, the point after
 * is re-attached to it, the manifests name the merged file, and files no
 * chain uses are removed. */
static int
merge_oldest (const char *repo, char **points, size_t np)
{
  json_object *m0 = load_manifest (repo, points[0]);
  json_object *m1 = m0 ? load_manifest (repo, points[1]) : NULL;
  json_object *m2 = m1 && np > 2 ? load_manifest (repo, points[2]) : NULL;
  int r = m1 && (np <= 2 || m2) ? 0 : vd_last_error ()->code;
  if (r == 0) {
    char *p0 = vd__asprintf ("%s/%s", repo, points[0]);
    char *gone = vd__asprintf ("%s/.incomplete-pruned-%s", repo, points[0]);
    if (!p0 || !gone || rename (p0, gone) < 0)
      r = vd_error (VD_EIO, errno, "%s: remove point %s", repo, points[0]);
    else {
      vd__fsync_dir (repo);
      vd__rm_rf (gone);
    }
    free (p0);
    free (gone);
  }
  json_object *d1 = jarr (m1, "disks");
  for (size_t i = 0; r == 0 && d1 && i < json_object_array_length (d1); i++) {
    json_object *e1 = json_object_array_get_idx (d1, i);
    const char *dev = jstr (e1, "device"), *kind = jstr (e1, "kind");
    if (!dev || !kind || strcmp (kind, "incremental") != 0)
      continue;
    json_object *e0 = prev_disk (m0, dev);
    char *f0 = e0 ? disk_file_of (repo, e0) : NULL;
    char *f1 = f0 ? disk_file_of (repo, e1) : NULL;
    char *f2 = NULL;
    if (!f1) {
      free (f0);
      r = vd_error (VD_ECORRUPT, 0, "%s: point %s: no earlier file for %s",
                    repo, points[1], dev);
      break;
    }
    r = vd_disk_commit (f1, NULL, 0, NULL, NULL);
    json_object *e2 = m2 ? prev_disk (m2, dev) : NULL;
    const char *k2 = jstr (e2, "kind");
    int re2 = e2 && k2 && strcmp (k2, "incremental") == 0;
    if (r == 0 && re2) {
      f2 = disk_file_of (repo, e2);
      /* forced: f2 has children of its own (later points), and what they
       * read does not change (f0 now holds what f1 held) */
      r = f2 ? vd_disk_attach (f2, f0, VD_OPEN_FORCE) : VD_ECORRUPT;
    }
    if (r == 0) {
      int err = 0;
      json_object_object_add (e1, "kind", json_object_new_string ("full"));
      json_object_object_add (e1, "file",
                              json_object_new_string (jstr (e0, "file")));
      json_object_object_add (e1, "disk_file",
                              file_entry (jstr (e0, "file"), f0, &err));
      json_object_object_del (e1, "parent_point");
      r = err;
    }
    if (r == 0 && re2) {
      int err = 0;
      json_object_object_add (e2, "disk_file",
                              file_entry (jstr (e2, "file"), f2, &err));
      r = err;
    }
    free (f0);
    free (f1);
    free (f2);
  }
  if (r == 0 && m2) {
    char *p2 = vd__asprintf ("%s/%s/manifest.json", repo, points[2]);
    r = p2 ? write_json (p2, m2) : VD_ENOMEM;
    free (p2);
  }
  if (r == 0) {
    char *p1 = vd__asprintf ("%s/%s/manifest.json", repo, points[1]);
    r = p1 ? write_json (p1, m1) : VD_ENOMEM;
    free (p1);
  }
  if (r == 0)
    gc (repo);
  json_object_put (m0);
  json_object_put (m1);
  json_object_put (m2);
  return r;
}

int
vd_backup_prune (const char *repo, unsigned keep)
{
  VD_ENTER ();
  if (!repo || keep == 0)
    return vd_error (VD_EINVAL, 0, "prune: need a repository and keep >= 1");
  int lk = lock_repo (repo);
  if (lk < 0)
    return lk;
  int r = 0;
  for (;;) {
    size_t np;
    char **points = list_points (repo, &np);
    if (!points) {
      r = vd_last_error ()->code;
      break;
    }
    if (np <= keep) {
      strv_free (points);
      break;
    }
    r = merge_oldest (repo, points, np);
    strv_free (points);
    if (r < 0)
      break;
  }
  close (lk);
  return r;
}

/* ---- restore --------------------------------------------------------------- */

/* "2026-11-24T03:00", "...:SS", optional "Z": seconds since the epoch, UTC. */
static int
parse_time (const char *s, time_t *out)
{
  struct tm tm;
  memset (&tm, 0, sizeof tm);
  const char *e = strptime (s, "%Y-%m-%dT%H:%M", &tm);
  if (!e)
    e = strptime (s, "%Y-%m-%d", &tm);
  if (!e)
    return -1;
  if (*e == ':') {
    e = strptime (e + 1, "%S", &tm);
    if (!e)
      return -1;
  }
  if (*e == 'Z')
    e++;
  if (*e)
    return -1;
  *out = timegm (&tm);
  return 0;
}

static char *
pick_point (const char *repo, const char *point, const char *at)
{
  size_t np;
  char **points = list_points (repo, &np);
  char *pick = NULL;
  if (!points)
    return NULL;
  if (point) {
    for (size_t i = 0; i < np; i++)
      if (strcmp (points[i], point) == 0)
        pick = strdup (points[i]);
    if (!pick)
      vd_error (VD_ENOENT, 0, "%s: no point %s (vdisk backup list)", repo, point);
  }
  else if (at) {
    time_t want;
    if (parse_time (at, &want) < 0)
      vd_error (VD_EINVAL, 0, "'%s' is not a time (YYYY-MM-DDTHH:MM[:SS], UTC)", at);
    else
      for (size_t i = 0; i < np; i++) {
        json_object *m = load_manifest (repo, points[i]);
        time_t t;
        const char *ts = jstr (m, "time");
        if (ts && parse_time (ts, &t) == 0 && t <= want) {
          free (pick);
          pick = strdup (points[i]);
        }
        json_object_put (m);
      }
    if (!pick && vd_last_error ()->code == 0)
      vd_error (VD_ENOENT, 0, "%s: no point at or before %s", repo, at);
  }
  else if (np)
    pick = strdup (points[np - 1]);
  else
    vd_error (VD_ENOENT, 0, "%s: no backup points", repo);
  strv_free (points);
  return pick;
}

/* The .vmx without the lines of the listed devices (RDM phase one). */
static int
write_vmx_without (const char *from, const char *to, json_object *rdms)
{
  FILE *in = fopen (from, "re");
  FILE *out = in ? fopen (to, "we") : NULL;
  char line[4096];
  int r = 0;
  if (!in || !out) {
    if (in)
      fclose (in);
    return vd_error (VD_EIO, errno, "%s: rewrite", to);
  }
  while (fgets (line, sizeof line, in)) {
    int skip = 0;
    for (size_t i = 0; i < json_object_array_length (rdms); i++) {
      const char *dev = json_object_get_string (json_object_array_get_idx (rdms, i));
      size_t n = strlen (dev);
      const char *l = line;
      while (*l == ' ' || *l == '	')
        l++;
      if (strncasecmp (l, dev, n) == 0 && l[n] == '.')
        skip = 1;
    }
    if (!skip && fputs (line, out) == EOF)
      r = vd_error (VD_EIO, errno, "%s: write", to);
  }
  fclose (in);
  if (fflush (out) != 0 || fsync (fileno (out)) < 0)
    r = vd_error (VD_EIO, errno, "%s: sync", to);
  fclose (out);
  return r;
}

int
vd_restore_vm (const char *repo, const char *point, const char *dest,
               const struct vd_restore_options *o, char **report)
{
  char *pick = NULL, *pdir = NULL, *work = NULL;
  json_object *m = NULL, *rdms = json_object_new_array ();
  char *notes = NULL;
  int lk = -1, r;

  VD_ENTER ();
  if (report)
    *report = NULL;
  if (!repo || !dest) {
    json_object_put (rdms);
    return vd_error (VD_EINVAL, 0, "restore: need a repository and a "
                     "destination");
  }
  if (o && o->struct_size < offsetof (struct vd_restore_options, disk)
                            + sizeof o->disk) {
    json_object_put (rdms);
    return vd_error (VD_EINVAL, 0, "restore: options struct_size too small");
  }
  struct stat st;
  if (lstat (dest, &st) == 0) {
    json_object_put (rdms);
    return vd_error (VD_EEXIST, 0, "%s: exists; restore makes a new VM "
                     "folder", dest);
  }
  lk = lock_repo (repo);
  if (lk < 0) {
    json_object_put (rdms);
    return lk;
  }
  pick = pick_point (repo, point, o ? o->at : NULL);
  if (!pick) {
    r = vd_last_error ()->code;
    goto out;
  }
  /* the point's own files must match before anything is built from them */
  r = verify_point (repo, pick);
  if (r < 0)
    goto out;
  m = load_manifest (repo, pick);
  pdir = vd__asprintf ("%s/%s", repo, pick);
  char *dparent = vd__dirname (dest), *dbase = vd__basename (dest);
  work = dparent && dbase ? vd__asprintf ("%s/.%s.vdisk-restore-%d", dparent,
                                          dbase, (int) getpid ()) : NULL;
  free (dparent);
  free (dbase);
  if (!m || !pdir || !work) {
    r = m ? VD_ENOMEM : vd_last_error ()->code;
    goto out;
  }
  vd__rm_rf (work);
  if (mkdir (work, 0755) < 0) {
    r = vd_error (VD_EIO, errno, "%s: mkdir", work);
    goto out;
  }
  json_object *disks = jarr (m, "disks"), *files = jarr (m, "files");
  int keep_rdm = o && (o->flags & VD_RESTORE_RDM_KEEP);
  for (size_t i = 0; r == 0 && disks && i < json_object_array_length (disks); i++) {
    json_object *de = json_object_array_get_idx (disks, i);
    const char *kind = jstr (de, "kind"), *name = jstr (de, "name");
    const char *dev = jstr (de, "device");
    if (!kind || !name || !dev || !plain_name (name)) {
      r = vd_error (VD_ECORRUPT, 0, "%s: manifest disk entry %zu is "
                    "incomplete", pdir, i);
      break;
    }
    if (o && o->disk >= 0 && (size_t) o->disk != i)
      continue;
    char *to = vd__asprintf ("%s/%s", work, name);
    if (!to) {
      r = VD_ENOMEM;
      break;
    }
    if (strcmp (kind, "rdm") == 0) {
      /* Phase one leaves the mapping out; --rdm keep restores the
       * descriptor when the device it maps is still there. */
      const char *desc = jstr (de, "descriptor");
      int restored = 0;
      if (keep_rdm && desc && strncmp (desc, "files/", 6) == 0
          && plain_name (desc + 6)) {
        char *from = vd__asprintf ("%s/%s", pdir, desc);
        char hex[65];
        r = from ? copy_file (from, to, hex, NULL) : VD_ENOMEM;
        free (from);
        restored = r == 0;
      }
      if (!restored && r == 0) {
        json_object_array_add (rdms, json_object_new_string (dev));
        char *n2 = vd__asprintf ("%s%s: RDM disk %s left out (phase one): "
                                 "re-add it to the VM pointing at its LUN, "
                                 "or restore with --rdm keep\n",
                                 notes ? notes : "", dev, name);
        free (notes);
        notes = n2;
      }
      free (to);
      continue;
    }
    char *from = disk_file_of (repo, de);
    vd_disk *src = NULL;
    if (!from) {
      r = VD_ECORRUPT;
      free (to);
      break;
    }
    r = vd_disk_open (&src, from, VD_OPEN_READ_ONLY);
    if (r == 0) {
      struct vd_create_params p;
      vd_create_params_init (&p);
      const char *ct = jstr (de, "create_type");
      p.type = o && o->type ? o->type : ct ? vd_type_from_name (ct) : 0;
      if (!p.type || p.type == VD_TYPE_VMFS_SPARSE || p.type == VD_TYPE_SE_SPARSE)
        p.type = VD_TYPE_MONOLITHIC_SPARSE;
      p.adapter = vd_disk_get_adapter (src);
      vd_disk_get_geometry (src, &p.geometry, NULL);
      if (vd_disk_get_hw_version (src))
        p.hw_version = vd_disk_get_hw_version (src);
      r = vd_disk_convert (src, to, &p, NULL, NULL);
      vd_disk_close (src);
    }
    if (r == 0 && o && (o->flags & VD_RESTORE_KEEP_CBT))
      r = vd_disk_cbt_enable (to, 0);
    free (from);
    free (to);
  }
  /* The VM's files: the .vmx (RDM entries left out in phase one), and the
   * saved .nvram over the new VM's (the guide's NVRAM step). */
  for (size_t i = 0; r == 0 && files && i < json_object_array_length (files); i++) {
    const char *name = jstr (json_object_array_get_idx (files, i), "name");
    if (!name || strncmp (name, "files/", 6) != 0 || !plain_name (name + 6)) {
      r = vd_error (VD_ECORRUPT, 0, "%s: manifest file entry %zu", pdir, i);
      break;
    }
    char *from = vd__asprintf ("%s/%s", pdir, name);
    char *to = vd__asprintf ("%s/%s", work, name + 6);
    char hex[65];
    size_t n = strlen (name);
    if (!from || !to)
      r = VD_ENOMEM;
    else if (n > 4 && strcmp (name + n - 4, ".vmx") == 0
             && json_object_array_length (rdms) > 0)
      r = write_vmx_without (from, to, rdms);
    else
      r = copy_file (from, to, hex, NULL);
    free (from);
    free (to);
  }
  if (r == 0 && vd__fsync_dir (work) < 0)
    r = vd_error (VD_EIO, errno, "%s: sync", work);
  if (r == 0 && rename (work, dest) < 0)
    r = vd_error (VD_EIO, errno, "%s: rename into place", dest);
  if (r == 0) {
    char *dp = vd__dirname (dest);
    if (dp)
      vd__fsync_dir (dp);
    free (dp);
    if (report) {
      *report = vd__asprintf ("restored point %s into %s\n%s", pick, dest,
                              notes ? notes : "");
    }
  }
out:
  if (r < 0 && work)
    vd__rm_rf (work);
  if (lk >= 0)
    close (lk);
  json_object_put (m);
  json_object_put (rdms);
  free (notes);
  free (pick);
  free (pdir);
  free (work);
  return r;
}
