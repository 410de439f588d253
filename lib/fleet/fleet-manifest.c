/* The fleet manifest: JSON lines, one disk each (parsed with bounds),
 * and its deterministic split into shards (docs/fleet.md). */
#include "fleet.h"


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

/* ---- the manifest -------------------------------------------------------- */


VD_API char *
vd_fleet_disk_to_json (const struct vd_fleet_disk *disk)
{
  VD_ENTER ();
  json_object *o;
  char *s;

  if (!disk || !disk->id || !disk->uri) {
    vd__error (VD_EINVAL, 0, "fleet disk: no id or uri");
    return NULL;
  }
  o = json_object_new_object ();
  if (!o) {
    vd__error (VD_ENOMEM, ENOMEM, "fleet disk");
    return NULL;
  }
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
  s = vd__fleet_sdup (json_object_to_json_string_ext (o, JSON_C_TO_STRING_PLAIN
                                               | JSON_C_TO_STRING_NOSLASHESCAPE));
  json_object_put (o);
  if (!s)
    vd__error (VD_ENOMEM, ENOMEM, "fleet disk");
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

const char *
vd__fleet_jstr (json_object *o, const char *key)
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
    r = vd__error (VD_ECORRUPT, 0, "%s: line %zu: not a JSON object",
                  manifest, lineno);
    goto out;
  }
  if (!vd__fleet_id_ok (vd__fleet_jstr (o, "id"))
      || !vd__fleet_jstr (o, "uri")) {
    r = vd__error (VD_ECORRUPT, 0, "%s: line %zu: needs \"id\" (letters, "
                  "digits, - and _) and \"uri\"", manifest, lineno);
    goto out;
  }
  if (juint (o, "capacity", &d.capacity) < 0
      || juint (o, "allocated", &d.allocated) < 0
      || juint (o, "depth", &depth) < 0 || depth > 100000) {
    r = vd__error (VD_ECORRUPT, 0, "%s: line %zu: capacity, allocated and "
                  "depth are numbers >= 0", manifest, lineno);
    goto out;
  }
  d.depth = (unsigned) depth;
  for (size_t i = 0; i < f->n; i++)
    if (strcmp (f->v[i].id, vd__fleet_jstr (o, "id")) == 0) {
      r = vd__error (VD_ECORRUPT, 0, "%s: line %zu: disk %s is listed twice",
                    manifest, lineno, vd__fleet_jstr (o, "id"));
      goto out;
    }
  if (f->n == f->cap) {
    size_t nc = f->cap ? f->cap * 2 : 64;
    struct vd_fleet_disk *nv = nc > FLEET_MAX_DISKS ? NULL
                               : realloc (f->v, nc * sizeof *nv);
    if (!nv) {
      r = vd__error (VD_ENOMEM, ENOMEM, "%s: more than %u disks", manifest,
                    FLEET_MAX_DISKS);
      goto out;
    }
    f->v = nv;
    f->cap = nc;
  }
  d.id = vd__fleet_sdup (vd__fleet_jstr (o, "id"));
  d.uri = vd__fleet_sdup (vd__fleet_jstr (o, "uri"));
  d.host = vd__fleet_sdup (vd__fleet_jstr (o, "host")
                           ? vd__fleet_jstr (o, "host") : "");
  d.vm = vd__fleet_sdup (vd__fleet_jstr (o, "vm"));
  d.vmx = vd__fleet_sdup (vd__fleet_jstr (o, "vmx"));
  d.device = vd__fleet_sdup (vd__fleet_jstr (o, "device"));
  if (!d.id || !d.uri || !d.host) {
    disk_free (&d);
    r = vd__error (VD_ENOMEM, ENOMEM, "%s", manifest);
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
    return vd__error (VD_EINVAL, 0, "fleet load: no out");
  *out = NULL;
  if (!manifest)
    return vd__error (VD_EINVAL, 0, "fleet load: no manifest");
  fd = open (manifest, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return vd__error (vd__errno_code (errno), errno, "%s", manifest);
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode)
      || (uint64_t) st.st_size > MANIFEST_MAX) {
    close (fd);
    return vd__error (VD_EINVAL, 0, "%s: not a regular file of at most %u "
                     "bytes", manifest, MANIFEST_MAX);
  }
  text = malloc ((size_t) st.st_size + 1);
  f = calloc (1, sizeof *f);
  if (!text || !f) {
    close (fd);
    free (text);
    free (f);
    return vd__error (VD_ENOMEM, errno, "%s", manifest);
  }
  ssize_t got = pread (fd, text, (size_t) st.st_size, 0);
  close (fd);
  if (got != st.st_size) {
    free (text);
    free (f);
    return vd__error (VD_EIO, errno, "%s: read", manifest);
  }
  text[got] = '\0';
  size_t lineno = 0;
  for (char *p = text; r == 0 && p < text + got;) {
    char *nl = memchr (p, '\n', (size_t) (text + got - p));
    size_t len = nl ? (size_t) (nl - p) : (size_t) (text + got - p);
    lineno++;
    if (len > LINE_MAX_BYTES)
      r = vd__error (VD_ECORRUPT, 0, "%s: line %zu: longer than %u bytes",
                    manifest, lineno, LINE_MAX_BYTES);
    else if (memchr (p, '\0', len))
      r = vd__error (VD_ECORRUPT, 0, "%s: line %zu: holds a NUL byte",
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
    return vd__error (VD_EINVAL, 0, "fleet shard: no output");
  *members = NULL;
  *n = 0;
  if (!fleet || count < 1 || count > MAX_SHARDS || index >= count)
    return vd__error (VD_EINVAL, 0, "fleet shard %u/%u: the index must be "
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
    r = vd__error (VD_ENOMEM, ENOMEM, "fleet shard");
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
      r = vd__error (VD_ENOMEM, ENOMEM, "fleet shard: %zu hosts x %u shards",
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
