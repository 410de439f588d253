/* Fleets (docs/fleet.md): inventories of VM disks from many sources, a
 * deterministic split of an inventory into shards, one result document
 * per disk written by rename, and the merged report.  No scheduler: the
 * shards run under whatever engine the user has (Kubernetes Indexed Jobs,
 * Slurm arrays, xargs -P), and a shard run again skips the disks it has
 * already finished.
 *
 * The manifest is JSON lines, one object per disk:
 *   {"id": "...", "uri": "...", "host": "...", "vm": ..., "vmx": ...,
 *    "device": ..., "capacity": N, "allocated": N, "depth": N}
 * A result is DIR/<id>.json (written to DIR/.<id>.json.<pid>.tmp, synced,
 * renamed): see vd_fleet_result_write. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MANIFEST_MAX (256u << 20)   /* bytes of a manifest we parse */
#define LINE_MAX_BYTES (64u << 10)  /* one manifest line */
#define RESULT_MAX (16u << 20)      /* one result document */
#define FLEET_MAX_DISKS 1000000u
#define MAX_SHARDS 100000u
#define MAX_HITS 100000u

/* ---- small helpers ------------------------------------------------------ */

static char *
sdup (const char *s)
{
  return s ? strdup (s) : NULL;
}

/* A stable ID: the first 16 bytes of SHA-256 over kind, host, location. */
static void
make_id (char out[33], const char *kind, const char *host, const char *loc)
{
  struct sha256_ctx c;
  uint8_t d[SHA256_DIGEST_SIZE];
  sha256_init (&c);
  sha256_update (&c, strlen (kind) + 1, (const uint8_t *) kind);
  sha256_update (&c, strlen (host) + 1, (const uint8_t *) host);
  sha256_update (&c, strlen (loc), (const uint8_t *) loc);
  sha256_digest (&c, sizeof d, d);
  for (int i = 0; i < 16; i++)
    snprintf (out + 2 * i, 3, "%02x", d[i]);
}

/* An ID is what make_id writes (it names a file). */
static int
id_ok (const char *id)
{
  size_t n = id ? strlen (id) : 0;
  if (n < 1 || n > 64)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'z')
          || (id[i] >= 'A' && id[i] <= 'Z') || id[i] == '-' || id[i] == '_'))
      return 0;
  return 1;
}

struct alloc_sum {
  uint64_t data;
};

static int
sum_data (uint64_t off, uint64_t len, uint32_t st, void *payload)
{
  (void) off;
  if (st == VD_STATUS_DATA)
    ((struct alloc_sum *) payload)->data += len;
  return 0;
}

/* Capacity, allocated bytes (the allocation map) and chain depth of the
 * disk at path.  0 or an error. */
static int
measure (const char *path, uint64_t *capacity, uint64_t *allocated,
         unsigned *depth)
{
  vd_disk *d;
  struct alloc_sum s = { 0 };
  int r = vd_disk_open (&d, path, VD_OPEN_READ_ONLY);
  if (r < 0)
    return r;
  *capacity = vd_disk_get_size (d);
  *depth = vd_disk_get_link_count (d);
  r = vd_disk_block_status (d, 0, *capacity, sum_data, &s);
  vd_disk_close (d);
  *allocated = s.data;
  return r;
}

/* ---- inventory: a folder of VMs ----------------------------------------- */

struct folder_walk {
  vd_fleet_disk_cb cb;
  void *payload;
  const char *host;
  int stop, err;
};

static int
folder_disk (const char *vmx, const char *display, const char *device,
             const char *disk, void *payload)
{
  struct folder_walk *fw = payload;
  struct vd_fleet_disk fd;
  char id[33], *real, *realvmx;
  int r;

  if (!disk)
    return 0;                   /* a VM without disks: nothing to do */
  real = realpath (disk, NULL);
  realvmx = realpath (vmx, NULL);
  memset (&fd, 0, sizeof fd);
  fd.uri = real ? real : disk;
  fd.vmx = realvmx ? realvmx : vmx;
  fd.host = fw->host;
  fd.vm = display;
  fd.device = device;
  make_id (id, "file", fw->host, fd.uri);
  fd.id = id;
  r = measure (fd.uri, &fd.capacity, &fd.allocated, &fd.depth);
  if (r < 0) {
    free (real);
    free (realvmx);
    fw->err = r;
    return 1;
  }
  fw->stop = fw->cb (&fd, fw->payload);
  free (real);
  free (realvmx);
  return fw->stop;
}

/* ---- inventory: a vdisk server ----------------------------------------- */

struct export {
  char *name, *parent_of;       /* parent_of: the child naming it */
};

struct export_list {
  struct export *v;
  size_t n, cap;
  int err;
};

static int
add_export (const char *name, const char *description, void *payload)
{
  struct export_list *l = payload;
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 64;
    struct export *nv = nc > FLEET_MAX_DISKS ? NULL
                        : realloc (l->v, nc * sizeof *nv);
    if (!nv) {
      l->err = 1;
      return 1;
    }
    l->v = nv;
    l->cap = nc;
  }
  l->v[l->n].name = strdup (name);
  l->v[l->n].parent_of = description
                         && strncmp (description, "parent of ", 10) == 0
                         ? strdup (description + 10) : NULL;
  if (!l->v[l->n].name) {
    free (l->v[l->n].parent_of);
    l->err = 1;
    return 1;
  }
  l->n++;
  return 0;
}

/* The host part of an NBD URI: "unix:SOCKET" for the unix schemes, else
 * HOST[:PORT] without the user. */
static char *
uri_host (const char *uri)
{
  const char *p = strstr (uri, "://"), *end, *at, *sock;
  if (!p)
    return NULL;
  if (strstr (uri, "+unix://")) {
    sock = strstr (uri, "?socket=");
    if (!sock)
      sock = strstr (uri, "&socket=");
    if (sock) {
      sock += 8;
      return vd__asprintf ("unix:%.*s", (int) strcspn (sock, "&#"), sock);
    }
  }
  p += 3;
  end = p + strcspn (p, "/?#");
  at = memchr (p, '@', (size_t) (end - p));
  if (at)
    p = at + 1;
  return vd__asprintf ("%.*s", (int) (end - p), p);
}

/* The URI of export name on the server named by base: the path after
 * the authority replaced (percent-encoded), the query kept. */
static char *
export_uri (const char *base, const char *name)
{
  const char *auth = strstr (base, "://"), *path, *query;
  size_t n = strlen (name);
  char *enc = malloc (3 * n + 1), *q = enc, *r;
  if (!auth || !enc) {
    free (enc);
    return NULL;
  }
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char) name[i];
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
        || (c >= '0' && c <= '9') || strchr ("-._~/", c))
      *q++ = (char) c;
    else
      q += sprintf (q, "%%%02X", c);
  }
  *q = '\0';
  path = strchr (auth + 3, '/');
  query = strchr (auth + 3, '?');
  if (!path || (query && query < path))
    path = query ? query : base + strlen (base);
  r = vd__asprintf ("%.*s/%s%s", (int) (path - base), base, enc,
                    query ? query : "");
  free (enc);
  return r;
}

static int
server_inventory (const char *uri, vd_fleet_disk_cb cb, void *payload)
{
  struct export_list l = { NULL, 0, 0, 0 };
  char *host = uri_host (uri);
  int r;

  if (!host)
    return vd_error (VD_EINVAL, 0, "%s: not an NBD URI", uri);
  r = vd_nbd_list_exports (uri, add_export, &l);
  if (r == 0 && l.err)
    r = vd_error (VD_ENOMEM, ENOMEM, "%s: export list", uri);
  for (size_t i = 0; r == 0 && i < l.n; i++) {
    struct vd_fleet_disk fd;
    char id[33], *u, *slash;
    if (l.v[i].parent_of)
      continue;                 /* an older link of a listed chain */
    memset (&fd, 0, sizeof fd);
    u = export_uri (uri, l.v[i].name);
    if (!u) {
      r = vd_error (VD_ENOMEM, ENOMEM, "%s", uri);
      break;
    }
    make_id (id, "nbd", host, l.v[i].name);
    fd.id = id;
    fd.uri = u;
    fd.host = host;
    /* the VM: the folder the disk is in on the datastore */
    char *vm = strdup (l.v[i].name);
    if (vm && (slash = strrchr (vm, '/'))) {
      *slash = '\0';
      fd.vm = (slash = strrchr (vm, '/')) ? slash + 1 : vm;
    }
    r = measure (u, &fd.capacity, &fd.allocated, &fd.depth);
    /* the server serves the whole chain as one raw disk: count the links
     * by the "parent of" descriptions */
    fd.depth = 1;
    for (const char *cur = l.v[i].name; cur && fd.depth < 1000;) {
      const char *next = NULL;
      for (size_t j = 0; j < l.n && !next; j++)
        if (l.v[j].parent_of && strcmp (l.v[j].parent_of, cur) == 0)
          next = l.v[j].name;
      if (next)
        fd.depth++;
      cur = next;
    }
    if (r == 0 && cb (&fd, payload))
      i = l.n;
    free (vm);
    free (u);
  }
  for (size_t i = 0; i < l.n; i++) {
    free (l.v[i].name);
    free (l.v[i].parent_of);
  }
  free (l.v);
  free (host);
  return r;
}

VD_API int
vd_fleet_inventory (const char *source, vd_fleet_disk_cb cb, void *payload)
{
  VD_ENTER ();
  struct stat st;
  char host[256];

  if (!source || !cb)
    return vd_error (VD_EINVAL, 0, "fleet inventory: no source");
  if (vd__is_uri (source))
    return server_inventory (source, cb, payload);
  if (stat (source, &st) < 0)
    return vd_error (vd__errno_code (errno), errno, "%s", source);
  if (!S_ISDIR (st.st_mode))
    return vd_error (VD_EINVAL, 0, "%s: not a folder of VMs or an NBD URI",
                     source);
  if (gethostname (host, sizeof host) < 0)
    snprintf (host, sizeof host, "localhost");
  host[sizeof host - 1] = '\0';
  struct folder_walk fw = { cb, payload, host, 0, 0 };
  int r = vd_find_vm_disks (source, folder_disk, &fw);
  return r < 0 ? r : fw.err;
}

/* ---- the manifest -------------------------------------------------------- */

struct vd_fleet {
  struct vd_fleet_disk *v;
  size_t n, cap;
};

VD_API char *
vd_fleet_disk_to_json (const struct vd_fleet_disk *disk)
{
  VD_ENTER ();
  json_object *o;
  char *s;

  if (!disk || !disk->id || !disk->uri) {
    vd_error (VD_EINVAL, 0, "fleet disk: no id or uri");
    return NULL;
  }
  o = json_object_new_object ();
  if (!o) {
    vd_error (VD_ENOMEM, ENOMEM, "fleet disk");
    return NULL;
  }
#define PUTS(k, v) json_object_object_add (o, k, (v) ? json_object_new_string (v) : NULL)
  PUTS ("id", disk->id);
  PUTS ("uri", disk->uri);
  PUTS ("host", disk->host);
  PUTS ("vm", disk->vm);
  PUTS ("vmx", disk->vmx);
  PUTS ("device", disk->device);
  json_object_object_add (o, "capacity",
                          json_object_new_int64 ((int64_t) disk->capacity));
  json_object_object_add (o, "allocated",
                          json_object_new_int64 ((int64_t) disk->allocated));
  json_object_object_add (o, "depth", json_object_new_int64 (disk->depth));
  s = sdup (json_object_to_json_string_ext (o, JSON_C_TO_STRING_PLAIN
                                               | JSON_C_TO_STRING_NOSLASHESCAPE));
  json_object_put (o);
  if (!s)
    vd_error (VD_ENOMEM, ENOMEM, "fleet disk");
  return s;
}

static void
disk_free (struct vd_fleet_disk *d)
{
  free ((char *) d->id);
  free ((char *) d->uri);
  free ((char *) d->host);
  free ((char *) d->vm);
  free ((char *) d->vmx);
  free ((char *) d->device);
}

VD_API void
vd_fleet_free (vd_fleet *fleet)
{
  if (!fleet)
    return;
  for (size_t i = 0; i < fleet->n; i++)
    disk_free (&fleet->v[i]);
  free (fleet->v);
  free (fleet);
}

static const char *
jstr (json_object *o, const char *key)
{
  json_object *v;
  if (!json_object_object_get_ex (o, key, &v)
      || !json_object_is_type (v, json_type_string))
    return NULL;
  return json_object_get_string (v);
}

static int
juint (json_object *o, const char *key, uint64_t *out)
{
  json_object *v;
  *out = 0;
  if (!json_object_object_get_ex (o, key, &v) || !v)
    return 0;
  if (!json_object_is_type (v, json_type_int) || json_object_get_int64 (v) < 0)
    return -1;
  *out = (uint64_t) json_object_get_int64 (v);
  return 0;
}

/* One manifest line into f; 0, or an error naming the line. */
static int
parse_line (vd_fleet *f, const char *manifest, size_t lineno,
            const char *line, size_t len)
{
  json_tokener *tok = json_tokener_new_ex (16);
  json_object *o = tok ? json_tokener_parse_ex (tok, line, (int) len) : NULL;
  struct vd_fleet_disk d;
  uint64_t depth = 0;
  int r = 0;

  memset (&d, 0, sizeof d);
  if (!o || json_tokener_get_error (tok) != json_tokener_success
      || !json_object_is_type (o, json_type_object)) {
    r = vd_error (VD_ECORRUPT, 0, "%s: line %zu: not a JSON object",
                  manifest, lineno);
    goto out;
  }
  if (!id_ok (jstr (o, "id")) || !jstr (o, "uri")) {
    r = vd_error (VD_ECORRUPT, 0, "%s: line %zu: needs \"id\" (letters, "
                  "digits, - and _) and \"uri\"", manifest, lineno);
    goto out;
  }
  if (juint (o, "capacity", &d.capacity) < 0
      || juint (o, "allocated", &d.allocated) < 0
      || juint (o, "depth", &depth) < 0 || depth > 100000) {
    r = vd_error (VD_ECORRUPT, 0, "%s: line %zu: capacity, allocated and "
                  "depth are numbers >= 0", manifest, lineno);
    goto out;
  }
  d.depth = (unsigned) depth;
  for (size_t i = 0; i < f->n; i++)
    if (strcmp (f->v[i].id, jstr (o, "id")) == 0) {
      r = vd_error (VD_ECORRUPT, 0, "%s: line %zu: disk %s is listed twice",
                    manifest, lineno, jstr (o, "id"));
      goto out;
    }
  if (f->n == f->cap) {
    size_t nc = f->cap ? f->cap * 2 : 64;
    struct vd_fleet_disk *nv = nc > FLEET_MAX_DISKS ? NULL
                               : realloc (f->v, nc * sizeof *nv);
    if (!nv) {
      r = vd_error (VD_ENOMEM, ENOMEM, "%s: more than %u disks", manifest,
                    FLEET_MAX_DISKS);
      goto out;
    }
    f->v = nv;
    f->cap = nc;
  }
  d.id = sdup (jstr (o, "id"));
  d.uri = sdup (jstr (o, "uri"));
  d.host = sdup (jstr (o, "host") ? jstr (o, "host") : "");
  d.vm = sdup (jstr (o, "vm"));
  d.vmx = sdup (jstr (o, "vmx"));
  d.device = sdup (jstr (o, "device"));
  if (!d.id || !d.uri || !d.host) {
    disk_free (&d);
    r = vd_error (VD_ENOMEM, ENOMEM, "%s", manifest);
    goto out;
  }
  f->v[f->n++] = d;
out:
  json_object_put (o);
  if (tok)
    json_tokener_free (tok);
  return r;
}

VD_API int
vd_fleet_load (vd_fleet **out, const char *manifest)
{
  VD_ENTER ();
  struct stat st;
  vd_fleet *f;
  char *text;
  int fd, r = 0;

  if (!out)
    return vd_error (VD_EINVAL, 0, "fleet load: no out");
  *out = NULL;
  if (!manifest)
    return vd_error (VD_EINVAL, 0, "fleet load: no manifest");
  fd = open (manifest, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return vd_error (vd__errno_code (errno), errno, "%s", manifest);
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode)
      || (uint64_t) st.st_size > MANIFEST_MAX) {
    close (fd);
    return vd_error (VD_EINVAL, 0, "%s: not a regular file of at most %u "
                     "bytes", manifest, MANIFEST_MAX);
  }
  text = malloc ((size_t) st.st_size + 1);
  f = calloc (1, sizeof *f);
  if (!text || !f) {
    close (fd);
    free (text);
    free (f);
    return vd_error (VD_ENOMEM, errno, "%s", manifest);
  }
  ssize_t got = pread (fd, text, (size_t) st.st_size, 0);
  close (fd);
  if (got != st.st_size) {
    free (text);
    free (f);
    return vd_error (VD_EIO, errno, "%s: read", manifest);
  }
  text[got] = '\0';
  size_t lineno = 0;
  for (char *p = text; r == 0 && p < text + got;) {
    char *nl = memchr (p, '\n', (size_t) (text + got - p));
    size_t len = nl ? (size_t) (nl - p) : (size_t) (text + got - p);
    lineno++;
    if (len > LINE_MAX_BYTES)
      r = vd_error (VD_ECORRUPT, 0, "%s: line %zu: longer than %u bytes",
                    manifest, lineno, LINE_MAX_BYTES);
    else if (memchr (p, '\0', len))
      r = vd_error (VD_ECORRUPT, 0, "%s: line %zu: holds a NUL byte",
                    manifest, lineno);
    else {
      size_t k = 0;
      while (k < len && (p[k] == ' ' || p[k] == '\t' || p[k] == '\r'))
        k++;
      if (k < len && p[k] != '#')
        r = parse_line (f, manifest, lineno, p, len);
    }
    p += len + 1;
  }
  free (text);
  if (r < 0) {
    vd_fleet_free (f);
    return r;
  }
  *out = f;
  return 0;
}

VD_API size_t
vd_fleet_count (const vd_fleet *fleet)
{
  return fleet ? fleet->n : 0;
}

VD_API const struct vd_fleet_disk *
vd_fleet_get (const vd_fleet *fleet, size_t i)
{
  return fleet && i < fleet->n ? &fleet->v[i] : NULL;
}

/* ---- shards --------------------------------------------------------------- */

struct order {
  const struct vd_fleet_disk *d;
  size_t i;
};

static int
by_size (const void *a, const void *b)
{
  const struct order *x = a, *y = b;
  if (x->d->allocated != y->d->allocated)
    return x->d->allocated > y->d->allocated ? -1 : 1;
  return strcmp (x->d->id, y->d->id);
}

VD_API int
vd_fleet_shard (const vd_fleet *fleet, unsigned index, unsigned count,
                unsigned per_host, size_t **members, size_t *n)
{
  VD_ENTER ();
  struct order *o = NULL;
  uint64_t *load = NULL;
  unsigned char *used = NULL;   /* [host][shard]: the host reads there */
  unsigned *nused = NULL;       /* shards per host */
  size_t *hostof = NULL, nhosts = 0, *mine = NULL, nmine = 0;
  int r = 0;

  if (!members || !n)
    return vd_error (VD_EINVAL, 0, "fleet shard: no output");
  *members = NULL;
  *n = 0;
  if (!fleet || count < 1 || count > MAX_SHARDS || index >= count)
    return vd_error (VD_EINVAL, 0, "fleet shard %u/%u: the index must be "
                     "below the count (at most %u shards)", index, count,
                     MAX_SHARDS);
  if (per_host == 0 || per_host > count)
    per_host = count;
  size_t nd = fleet->n;
  o = calloc (nd ? nd : 1, sizeof *o);
  load = calloc (count, sizeof *load);
  hostof = calloc (nd ? nd : 1, sizeof *hostof);
  mine = calloc (nd ? nd : 1, sizeof *mine);
  if (!o || !load || !hostof || !mine) {
    r = vd_error (VD_ENOMEM, ENOMEM, "fleet shard");
    goto out;
  }
  /* hosts numbered in the order of their first disk in the manifest */
  for (size_t i = 0; i < nd; i++) {
    size_t h;
    for (h = 0; h < i; h++)
      if (strcmp (fleet->v[h].host, fleet->v[i].host) == 0)
        break;
    hostof[i] = h < i ? hostof[h] : nhosts++;
  }
  if (per_host < count) {
    used = calloc (nhosts ? nhosts : 1, count);
    nused = calloc (nhosts ? nhosts : 1, sizeof *nused);
    if (!used || !nused) {
      r = vd_error (VD_ENOMEM, ENOMEM, "fleet shard: %zu hosts x %u shards",
                    nhosts, count);
      goto out;
    }
  }
  for (size_t i = 0; i < nd; i++)
    o[i] = (struct order) { &fleet->v[i], i };
  /* largest first into the lightest shard (ties: the lower index); with
   * per_host, a host's disks go only to the first per_host shards it
   * was given */
  qsort (o, nd, sizeof *o, by_size);
  for (size_t k = 0; k < nd; k++) {
    size_t h = hostof[o[k].i];
    int full = used && nused[h] >= per_host;
    unsigned best = 0;
    int have = 0;
    for (unsigned s = 0; s < count; s++) {
      if (full && !used[h * count + s])
        continue;
      if (!have || load[s] < load[best]) {
        best = s;
        have = 1;
      }
    }
    if (used && !used[h * count + best]) {
      used[h * count + best] = 1;
      nused[h]++;
    }
    /* a disk of no bytes still costs an open: weigh it as one byte */
    load[best] += o[k].d->allocated ? o[k].d->allocated : 1;
    if (best == index)
      mine[nmine++] = o[k].i;
  }
  *members = mine;
  *n = nmine;
  mine = NULL;
out:
  free (o);
  free (load);
  free (used);
  free (nused);
  free (hostof);
  free (mine);
  return r;
}

/* ---- results -------------------------------------------------------------- */

static char *
result_path (const char *dir, const char *id)
{
  return vd__asprintf ("%s/%s.json", dir, id);
}

/* The result document at path, or NULL (*exists tells a file that is
 * there but is not a JSON object from no file). */
static json_object *
read_result (const char *path, int *exists)
{
  struct stat st;
  json_object *o = NULL;
  int fd = open (path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (exists)
    *exists = fd >= 0 || errno != ENOENT;
  if (fd < 0)
    return NULL;
  if (fstat (fd, &st) == 0 && S_ISREG (st.st_mode)
      && st.st_size <= RESULT_MAX) {
    char *text = malloc ((size_t) st.st_size + 1);
    if (text && pread (fd, text, (size_t) st.st_size, 0) == st.st_size) {
      json_tokener *tok = json_tokener_new_ex (32);
      text[st.st_size] = '\0';
      o = tok ? json_tokener_parse_ex (tok, text, (int) st.st_size) : NULL;
      if (o && (json_tokener_get_error (tok) != json_tokener_success
                || !json_object_is_type (o, json_type_object))) {
        json_object_put (o);
        o = NULL;
      }
      if (tok)
        json_tokener_free (tok);
    }
    free (text);
  }
  close (fd);
  return o;
}

VD_API int
vd_fleet_result_done (const char *dir, const char *id)
{
  VD_ENTER ();
  char *path;
  json_object *o;
  const char *st;
  int done;

  if (!dir || !id_ok (id))
    return vd_error (VD_EINVAL, 0, "fleet result: bad folder or disk ID");
  path = result_path (dir, id);
  if (!path)
    return vd_error (VD_ENOMEM, ENOMEM, "%s", dir);
  o = read_result (path, NULL);
  free (path);
  st = o ? jstr (o, "status") : NULL;
  done = st && strcmp (st, "failed") != 0;
  json_object_put (o);
  return done;
}

/* Write text to dir/name by a synced temporary file and a rename. */
static int
write_atomic (const char *dir, const char *name, const char *text)
{
  char *dst = vd__asprintf ("%s/%s", dir, name);
  if (!dst)
    return vd_error (VD_ENOMEM, ENOMEM, "%s", dir);
  int r = vd__replace_file (dst, text, strlen (text), 0644);
  free (dst);
  return r;
}

VD_API int
vd_fleet_result_write (const char *dir, const struct vd_fleet_result *res)
{
  VD_ENTER ();
  json_object *o, *hits;
  char *name;
  char when[32];
  time_t now = time (NULL);
  struct tm tm;
  int r;

  if (!dir || !res || !id_ok (res->id) || !res->status)
    return vd_error (VD_EINVAL, 0, "fleet result: needs a folder, an ID "
                     "and a status");
  if (res->n_hits > MAX_HITS || (res->n_hits && !res->hits))
    return vd_error (VD_EINVAL, 0, "fleet result: bad hit list");
  gmtime_r (&now, &tm);
  strftime (when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  o = json_object_new_object ();
  hits = json_object_new_array ();
  if (!o || !hits) {
    json_object_put (o);
    json_object_put (hits);
    return vd_error (VD_ENOMEM, ENOMEM, "fleet result");
  }
  PUTS ("id", res->id);
  PUTS ("uri", res->uri);
  PUTS ("host", res->host);
  PUTS ("job", res->job);
  PUTS ("status", res->status);
  PUTS ("error", res->error);
  PUTS ("detail", res->detail);
  PUTS ("shard", res->shard);
  for (size_t i = 0; i < res->n_hits; i++) {
    const struct vd_fleet_hit *h = &res->hits[i];
    json_object *x = json_object_new_object ();
    if (!x)
      continue;
    json_object_object_add (x, "name", h->name ? json_object_new_string (h->name) : NULL);
    json_object_object_add (x, "offset", json_object_new_int64 ((int64_t) h->offset));
    json_object_object_add (x, "length", json_object_new_int64 ((int64_t) h->length));
    json_object_object_add (x, "first_sector", json_object_new_int64 ((int64_t) h->first_sector));
    json_object_object_add (x, "last_sector", json_object_new_int64 ((int64_t) h->last_sector));
    json_object_array_add (hits, x);
  }
  json_object_object_add (o, "hits", hits);
  json_object_object_add (o, "bytes_read",
                          json_object_new_int64 ((int64_t) res->bytes_read));
  json_object_object_add (o, "seconds", json_object_new_double (res->seconds));
  json_object_object_add (o, "finished", json_object_new_string (when));
  json_object_object_add (o, "vdisk_version",
                          json_object_new_string (vd_get_version ()));
  name = vd__asprintf ("%s.json", res->id);
  if (!name) {
    json_object_put (o);
    return vd_error (VD_ENOMEM, ENOMEM, "fleet result");
  }
  const char *s = json_object_to_json_string_ext (o, JSON_C_TO_STRING_PRETTY
                                                  | JSON_C_TO_STRING_NOSLASHESCAPE);
  char *text = vd__asprintf ("%s\n", s);
  r = text ? write_atomic (dir, name, text)
           : vd_error (VD_ENOMEM, ENOMEM, "fleet result");
  free (text);
  free (name);
  json_object_put (o);
  return r;
}

/* ---- the report ----------------------------------------------------------- */

static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* The IDs of every result in dir (sorted). */
static int
list_results (const char *dir, char ***ids, size_t *n)
{
  DIR *d = opendir (dir);
  struct dirent *de;
  size_t cap = 0;

  *ids = NULL;
  *n = 0;
  if (!d)
    return vd_error (vd__errno_code (errno), errno, "%s", dir);
  while ((de = readdir (d))) {
    size_t len = strlen (de->d_name);
    if (de->d_name[0] == '.' || len < 6 || len > 69
        || strcmp (de->d_name + len - 5, ".json") != 0)
      continue;
    char *id = strndup (de->d_name, len - 5);
    if (!id || !id_ok (id)) {
      free (id);
      continue;
    }
    if (*n == cap) {
      size_t nc = cap ? cap * 2 : 64;
      char **nv = nc > FLEET_MAX_DISKS ? NULL : realloc (*ids, nc * sizeof *nv);
      if (!nv) {
        free (id);
        break;
      }
      *ids = nv;
      cap = nc;
    }
    (*ids)[(*n)++] = id;
  }
  closedir (d);
  if (*n)
    qsort (*ids, *n, sizeof **ids, cmp_str);
  return 0;
}

static uint64_t
jnum (json_object *o, const char *key)
{
  json_object *v;
  if (!json_object_object_get_ex (o, key, &v) || !v
      || !json_object_is_type (v, json_type_int)
      || json_object_get_int64 (v) < 0)
    return 0;
  return (uint64_t) json_object_get_int64 (v);
}

/* One disk for the report: its result (or none), its manifest entry (or
 * none).  Calls cb, counts, adds to the JSON arrays. */
static int
report_one (json_object *res, int exists, const struct vd_fleet_disk *md,
            const char *id,
            vd_fleet_result_cb cb, void *payload,
            struct vd_fleet_totals *t, json_object *disks,
            json_object *allhits, json_object *notdone)
{
  struct vd_fleet_result r;
  struct vd_fleet_hit *hv = NULL;
  json_object *ha = NULL, *x;
  size_t nh = 0;
  int stop = 0;

  memset (&r, 0, sizeof r);
  r.id = id;
  r.uri = md ? md->uri : NULL;
  r.host = md ? md->host : NULL;
  r.status = "missing";
  if (!res && exists) {
    r.status = "failed";
    r.error = "the result document is not a whole JSON object";
  }
  if (res) {
    const char *st = jstr (res, "status");
    r.status = st && (!strcmp (st, "clean") || !strcmp (st, "infected")
                      || !strcmp (st, "done") || !strcmp (st, "failed"))
               ? st : "failed";
    if (jstr (res, "uri"))
      r.uri = jstr (res, "uri");
    if (jstr (res, "host"))
      r.host = jstr (res, "host");
    r.job = jstr (res, "job");
    r.error = st && r.status == st ? jstr (res, "error")
              : "the result document has no valid status";
    r.detail = jstr (res, "detail");
    r.shard = jstr (res, "shard");
    r.version = jstr (res, "vdisk_version");
    r.bytes_read = jnum (res, "bytes_read");
    if (json_object_object_get_ex (res, "seconds", &x) && x)
      r.seconds = json_object_get_double (x);
    if (json_object_object_get_ex (res, "hits", &ha)
        && json_object_is_type (ha, json_type_array)) {
      nh = json_object_array_length (ha);
      if (nh > MAX_HITS)
        nh = MAX_HITS;
      hv = calloc (nh ? nh : 1, sizeof *hv);
      if (!hv)
        return vd_error (VD_ENOMEM, ENOMEM, "fleet report");
      for (size_t i = 0; i < nh; i++) {
        json_object *h = json_object_array_get_idx (ha, i);
        if (!json_object_is_type (h, json_type_object))
          continue;
        hv[i].name = jstr (h, "name");
        hv[i].offset = jnum (h, "offset");
        hv[i].length = jnum (h, "length");
        hv[i].first_sector = jnum (h, "first_sector");
        hv[i].last_sector = jnum (h, "last_sector");
      }
      r.hits = hv;
      r.n_hits = nh;
    }
  }
  t->disks++;
  if (!strcmp (r.status, "missing"))
    t->missing++;
  else if (!strcmp (r.status, "failed"))
    t->failed++;
  else {
    t->done++;
    if (!strcmp (r.status, "infected"))
      t->infected++;
    else if (!strcmp (r.status, "clean"))
      t->clean++;
  }
  t->hits += r.n_hits;
  t->bytes_read += r.bytes_read;
  t->seconds += r.seconds;
  if (disks) {
    json_object *o = json_object_new_object ();
    if (o) {
      json_object_object_add (o, "id", json_object_new_string (id));
      json_object_object_add (o, "uri", r.uri ? json_object_new_string (r.uri) : NULL);
      json_object_object_add (o, "host", r.host ? json_object_new_string (r.host) : NULL);
      json_object_object_add (o, "status", json_object_new_string (r.status));
      if (r.error)
        json_object_object_add (o, "error", json_object_new_string (r.error));
      if (r.detail)
        json_object_object_add (o, "detail", json_object_new_string (r.detail));
      json_object_object_add (o, "hits", json_object_new_int64 ((int64_t) r.n_hits));
      json_object_object_add (o, "bytes_read",
                              json_object_new_int64 ((int64_t) r.bytes_read));
      json_object_object_add (o, "seconds", json_object_new_double (r.seconds));
      if (r.shard)
        json_object_object_add (o, "shard", json_object_new_string (r.shard));
      if (r.version)
        json_object_object_add (o, "vdisk_version", json_object_new_string (r.version));
      json_object_array_add (disks, o);
    }
    for (size_t i = 0; i < r.n_hits; i++) {
      json_object *h = json_object_new_object ();
      if (!h)
        continue;
      json_object_object_add (h, "id", json_object_new_string (id));
      json_object_object_add (h, "uri", r.uri ? json_object_new_string (r.uri) : NULL);
      json_object_object_add (h, "name", hv[i].name ? json_object_new_string (hv[i].name) : NULL);
      json_object_object_add (h, "offset", json_object_new_int64 ((int64_t) hv[i].offset));
      json_object_object_add (h, "length", json_object_new_int64 ((int64_t) hv[i].length));
      json_object_object_add (h, "first_sector", json_object_new_int64 ((int64_t) hv[i].first_sector));
      json_object_object_add (h, "last_sector", json_object_new_int64 ((int64_t) hv[i].last_sector));
      json_object_array_add (allhits, h);
    }
    if (!strcmp (r.status, "missing") || !strcmp (r.status, "failed")) {
      json_object *o2 = json_object_new_object ();
      if (o2) {
        json_object_object_add (o2, "id", json_object_new_string (id));
        json_object_object_add (o2, "uri", r.uri ? json_object_new_string (r.uri) : NULL);
        json_object_object_add (o2, "status", json_object_new_string (r.status));
        if (r.error)
          json_object_object_add (o2, "error", json_object_new_string (r.error));
        json_object_array_add (notdone, o2);
      }
    }
  }
  if (cb)
    stop = cb (&r, payload);
  free (hv);
  return stop;
}

VD_API int
vd_fleet_report (const char *dir, const vd_fleet *fleet,
                 vd_fleet_result_cb cb, void *payload,
                 struct vd_fleet_totals *totals, char **json)
{
  VD_ENTER ();
  struct vd_fleet_totals t;
  char **ids = NULL;
  size_t nids = 0;
  json_object *doc = NULL, *disks = NULL, *allhits = NULL, *notdone = NULL;
  int r;

  memset (&t, 0, sizeof t);
  if (json)
    *json = NULL;
  if (!dir)
    return vd_error (VD_EINVAL, 0, "fleet report: no folder");
  r = list_results (dir, &ids, &nids);
  if (r < 0)
    return r;
  if (json) {
    doc = json_object_new_object ();
    disks = json_object_new_array ();
    allhits = json_object_new_array ();
    notdone = json_object_new_array ();
    if (!doc || !disks || !allhits || !notdone) {
      r = vd_error (VD_ENOMEM, ENOMEM, "fleet report");
      goto out;
    }
  }
  if (fleet) {
    /* the manifest's disks, in its order; results of other disks left out */
    for (size_t i = 0; i < fleet->n && r == 0; i++) {
      const struct vd_fleet_disk *md = &fleet->v[i];
      char *path = result_path (dir, md->id);
      int exists = 0;
      json_object *res = path ? read_result (path, &exists) : NULL;
      free (path);
      r = report_one (res, exists, md, md->id, cb, payload, &t, disks,
                      allhits, notdone);
      json_object_put (res);
    }
  }
  else
    for (size_t i = 0; i < nids && r == 0; i++) {
      char *path = result_path (dir, ids[i]);
      int exists = 0;
      json_object *res = path ? read_result (path, &exists) : NULL;
      free (path);
      r = report_one (res, exists, NULL, ids[i], cb, payload, &t, disks,
                      allhits, notdone);
      json_object_put (res);
    }
  if (r > 0)
    r = 0;                      /* cb stopped */
  if (r == 0 && json) {
    json_object *to = json_object_new_object ();
    if (!to) {
      r = vd_error (VD_ENOMEM, ENOMEM, "fleet report");
      goto out;
    }
    json_object_object_add (doc, "vdisk_version",
                            json_object_new_string (vd_get_version ()));
#define TOT(k) json_object_object_add (to, #k, json_object_new_int64 ((int64_t) t.k))
    TOT (disks);
    TOT (done);
    TOT (clean);
    TOT (infected);
    TOT (failed);
    TOT (missing);
    TOT (hits);
    TOT (bytes_read);
    json_object_object_add (to, "seconds", json_object_new_double (t.seconds));
    json_object_object_add (doc, "totals", to);
    json_object_object_add (doc, "disks", disks);
    json_object_object_add (doc, "hits", allhits);
    json_object_object_add (doc, "not_done", notdone);
    disks = allhits = notdone = NULL;
    *json = sdup (json_object_to_json_string_ext (doc, JSON_C_TO_STRING_PRETTY
                                                  | JSON_C_TO_STRING_NOSLASHESCAPE));
    if (!*json)
      r = vd_error (VD_ENOMEM, ENOMEM, "fleet report");
  }
  if (totals)
    *totals = t;
out:
  json_object_put (doc);
  json_object_put (disks);
  json_object_put (allhits);
  json_object_put (notdone);
  for (size_t i = 0; i < nids; i++)
    free (ids[i]);
  free (ids);
  return r;
}
