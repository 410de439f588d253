/* The fleet manifest: JSON lines, one disk each (parsed with bounds),
 * and its deterministic split into shards (docs/fleet.md). */
#include "fleet.h"


#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <nettle/sha2.h>
#include <stdint.h>
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
  /* a string with a NUL inside ("a\u0000b") is no name: as absent,
   * never silently cut short */
  if (strlen (json_object_get_string (v))
      != (size_t) json_object_get_string_len (v))
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

struct by_id {
  const char *id;
  size_t i;
};

static int
cmp_id (const void *a, const void *b)
{
  const struct by_id *x = a, *y = b;
  int c = strcmp (x->id, y->id);
  return c ? c : (x->i > y->i) - (x->i < y->i);
}

/* No disk ID twice (sorted, so a million lines are no hang): an error
 * naming the first line that repeats an ID. */
static int
check_unique (const vd_fleet *f, const char *manifest, const size_t *lines)
{
  struct by_id *v = calloc (f->n ? f->n : 1, sizeof *v);
  size_t worst = SIZE_MAX, first = 0;
  if (!v)
    return vd__error (VD_ENOMEM, ENOMEM, "%s", manifest);
  for (size_t i = 0; i < f->n; i++)
    v[i] = (struct by_id) { f->v[i].id, i };
  qsort (v, f->n, sizeof *v, cmp_id);
  for (size_t k = 1; k < f->n; k++)
    if (strcmp (v[k - 1].id, v[k].id) == 0 && v[k].i < worst) {
      worst = v[k].i;
      first = v[k - 1].i;
    }
  free (v);
  if (worst == SIZE_MAX)
    return 0;
  return vd__error (VD_ECORRUPT, 0, "%s: line %zu: disk %s is listed twice "
                   "(first on line %zu)", manifest, lines[worst],
                   f->v[worst].id, lines[first]);
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
  size_t lineno = 0, *lines = NULL, nlines = 0, lcap = 0;
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
      if (r == 0 && f->n > nlines) {   /* the line of each disk */
        size_t *nl2 = f->n > lcap ? realloc (lines, f->cap * sizeof *lines)
                      : lines;
        if (!nl2)
          r = vd__error (VD_ENOMEM, ENOMEM, "%s", manifest);
        else {
          lcap = f->n > lcap ? f->cap : lcap;
          lines = nl2;
          lines[nlines++] = lineno;
        }
      }
    }
    p += len + 1;
  }
  free (text);
  if (r == 0)
    r = check_unique (f, manifest, lines);
  free (lines);
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

/* The shards by (load, index), a binary heap with each shard's place in
 * it, so the lightest is found and a shard's new load placed in log N
 * (a million disks into 100000 shards is no hang). */
struct heap {
  unsigned *h, *pos;
  const uint64_t *load;
  unsigned n;
};

static int
lighter (const struct heap *q, unsigned a, unsigned b)
{
  return q->load[a] != q->load[b] ? q->load[a] < q->load[b] : a < b;
}

static void
heap_swap (struct heap *q, unsigned i, unsigned j)
{
  unsigned t = q->h[i];
  q->h[i] = q->h[j];
  q->h[j] = t;
  q->pos[q->h[i]] = i;
  q->pos[q->h[j]] = j;
}

/* shard s's load went up: down the heap */
static void
heap_down (struct heap *q, unsigned s)
{
  unsigned i = q->pos[s];
  for (;;) {
    unsigned l = 2 * i + 1, r = l + 1, m = i;
    if (l < q->n && lighter (q, q->h[l], q->h[m]))
      m = l;
    if (r < q->n && lighter (q, q->h[r], q->h[m]))
      m = r;
    if (m == i)
      return;
    heap_swap (q, i, m);
    i = m;
  }
}

struct by_host {
  const char *host;
  size_t i;
};

static int
cmp_host (const void *a, const void *b)
{
  const struct by_host *x = a, *y = b;
  int c = strcmp (x->host, y->host);
  return c ? c : (x->i > y->i) - (x->i < y->i);
}

/* hostof[i]: a number per host (hosts numbered by sorting, not by
 * comparing every pair); *nhosts; cnt[h] the disks of host h. */
static int
number_hosts (const vd_fleet *fleet, size_t *hostof, size_t *nhosts)
{
  size_t nd = fleet->n;
  struct by_host *v = calloc (nd ? nd : 1, sizeof *v);
  if (!v)
    return vd__error (VD_ENOMEM, ENOMEM, "fleet shard");
  for (size_t i = 0; i < nd; i++)
    v[i] = (struct by_host) { fleet->v[i].host, i };
  qsort (v, nd, sizeof *v, cmp_host);
  *nhosts = 0;
  for (size_t k = 0; k < nd; k++) {
    if (k && strcmp (v[k - 1].host, v[k].host) != 0)
      (*nhosts)++;
    hostof[v[k].i] = *nhosts;
  }
  if (nd)
    (*nhosts)++;
  free (v);
  return 0;
}

VD_API int
vd_fleet_shard (const vd_fleet *fleet, unsigned index, unsigned count,
                unsigned per_host, size_t **members, size_t *n)
{
  VD_ENTER ();
  struct order *o = NULL;
  uint64_t *load = NULL;
  struct heap q = { 0 };
  /* per host: the shards it reads from (at most per_host, and at most
   * one per disk of it), slots[off[h] .. off[h] + nused[h]) */
  unsigned *slots = NULL, *nused = NULL;
  size_t *off = NULL, *hostof = NULL, nhosts = 0, *mine = NULL, nmine = 0;
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
  q.h = calloc (count, sizeof *q.h);
  q.pos = calloc (count, sizeof *q.pos);
  hostof = calloc (nd ? nd : 1, sizeof *hostof);
  mine = calloc (nd ? nd : 1, sizeof *mine);
  if (!o || !load || !q.h || !q.pos || !hostof || !mine) {
    r = vd__error (VD_ENOMEM, ENOMEM, "fleet shard");
    goto out;
  }
  r = number_hosts (fleet, hostof, &nhosts);
  if (r < 0)
    goto out;
  if (per_host < count) {
    off = calloc (nhosts + 1, sizeof *off);
    nused = calloc (nhosts ? nhosts : 1, sizeof *nused);
    slots = calloc (nd ? nd : 1, sizeof *slots);
    if (!off || !nused || !slots) {
      r = vd__error (VD_ENOMEM, ENOMEM, "fleet shard: %zu hosts", nhosts);
      goto out;
    }
    for (size_t i = 0; i < nd; i++)
      off[hostof[i] + 1]++;
    for (size_t h = 0; h < nhosts; h++)
      off[h + 1] = off[h] + VD_MIN (off[h + 1], (size_t) per_host);
  }
  q.load = load;
  q.n = count;
  for (unsigned s = 0; s < count; s++)
    q.h[s] = q.pos[s] = s;      /* all loads 0: in index order */
  for (size_t i = 0; i < nd; i++)
    o[i] = (struct order) { &fleet->v[i], i };
  /* largest first into the lightest shard (ties: the lower index); with
   * per_host, a host's disks go only to the first per_host shards it
   * was given */
  qsort (o, nd, sizeof *o, by_size);
  for (size_t k = 0; k < nd; k++) {
    size_t h = hostof[o[k].i];
    unsigned best = q.h[0];
    if (nused && nused[h] >= per_host) {
      best = slots[off[h]];
      for (unsigned j = 1; j < nused[h]; j++)
        if (lighter (&q, slots[off[h] + j], best))
          best = slots[off[h] + j];
    }
    else if (nused) {
      int have = 0;
      for (unsigned j = 0; j < nused[h]; j++)
        have |= slots[off[h] + j] == best;
      if (!have)
        slots[off[h] + nused[h]++] = best;
    }
    /* a disk of no bytes still costs an open: weigh it as one byte */
    uint64_t w = o[k].d->allocated ? o[k].d->allocated : 1;
    load[best] = load[best] > UINT64_MAX - w ? UINT64_MAX : load[best] + w;
    heap_down (&q, best);
    if (best == index)
      mine[nmine++] = o[k].i;
  }
  *members = mine;
  *n = nmine;
  mine = NULL;
out:
  free (o);
  free (load);
  free (q.h);
  free (q.pos);
  free (off);
  free (nused);
  free (slots);
  free (hostof);
  free (mine);
  return r;
}
