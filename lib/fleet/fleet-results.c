/* Fleet results: one JSON document per disk, written by rename, and the
 * merged report of a results folder (docs/fleet.md). */
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

  if (!dir || !vd__fleet_id_ok (id))
    return vd__error (VD_EINVAL, 0, "fleet result: bad folder or disk ID");
  path = result_path (dir, id);
  if (!path)
    return vd__error (VD_ENOMEM, ENOMEM, "%s", dir);
  o = read_result (path, NULL);
  free (path);
  st = o ? vd__fleet_jstr (o, "status") : NULL;
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
    return vd__error (VD_ENOMEM, ENOMEM, "%s", dir);
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

  if (!dir || !res || !vd__fleet_id_ok (res->id) || !res->status)
    return vd__error (VD_EINVAL, 0, "fleet result: needs a folder, an ID "
                     "and a status");
  if (res->n_hits > MAX_HITS || (res->n_hits && !res->hits))
    return vd__error (VD_EINVAL, 0, "fleet result: bad hit list");
  gmtime_r (&now, &tm);
  strftime (when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  o = json_object_new_object ();
  hits = json_object_new_array ();
  if (!o || !hits) {
    json_object_put (o);
    json_object_put (hits);
    return vd__error (VD_ENOMEM, ENOMEM, "fleet result");
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
    return vd__error (VD_ENOMEM, ENOMEM, "fleet result");
  }
  const char *s = json_object_to_json_string_ext (o, JSON_C_TO_STRING_PRETTY
                                                  | JSON_C_TO_STRING_NOSLASHESCAPE);
  char *text = vd__asprintf ("%s\n", s);
  r = text ? write_atomic (dir, name, text)
           : vd__error (VD_ENOMEM, ENOMEM, "fleet result");
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
    return vd__error (vd__errno_code (errno), errno, "%s", dir);
  while ((de = readdir (d))) {
    size_t len = strlen (de->d_name);
    if (de->d_name[0] == '.' || len < 6 || len > 69
        || strcmp (de->d_name + len - 5, ".json") != 0)
      continue;
    char *id = strndup (de->d_name, len - 5);
    if (!id || !vd__fleet_id_ok (id)) {
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
    const char *st = vd__fleet_jstr (res, "status");
    r.status = st && (!strcmp (st, "clean") || !strcmp (st, "infected")
                      || !strcmp (st, "done") || !strcmp (st, "failed"))
               ? st : "failed";
    if (vd__fleet_jstr (res, "uri"))
      r.uri = vd__fleet_jstr (res, "uri");
    if (vd__fleet_jstr (res, "host"))
      r.host = vd__fleet_jstr (res, "host");
    r.job = vd__fleet_jstr (res, "job");
    r.error = st && r.status == st ? vd__fleet_jstr (res, "error")
              : "the result document has no valid status";
    r.detail = vd__fleet_jstr (res, "detail");
    r.shard = vd__fleet_jstr (res, "shard");
    r.version = vd__fleet_jstr (res, "vdisk_version");
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
        return vd__error (VD_ENOMEM, ENOMEM, "fleet report");
      for (size_t i = 0; i < nh; i++) {
        json_object *h = json_object_array_get_idx (ha, i);
        if (!json_object_is_type (h, json_type_object))
          continue;
        hv[i].name = vd__fleet_jstr (h, "name");
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
    return vd__error (VD_EINVAL, 0, "fleet report: no folder");
  r = list_results (dir, &ids, &nids);
  if (r < 0)
    return r;
  if (json) {
    doc = json_object_new_object ();
    disks = json_object_new_array ();
    allhits = json_object_new_array ();
    notdone = json_object_new_array ();
    if (!doc || !disks || !allhits || !notdone) {
      r = vd__error (VD_ENOMEM, ENOMEM, "fleet report");
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
      r = vd__error (VD_ENOMEM, ENOMEM, "fleet report");
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
    *json = vd__fleet_sdup (json_object_to_json_string_ext (doc, JSON_C_TO_STRING_PRETTY
                                                  | JSON_C_TO_STRING_NOSLASHESCAPE));
    if (!*json)
      r = vd__error (VD_ENOMEM, ENOMEM, "fleet report");
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
