/* vdisk scan: look for virus signatures (libclamav) in the allocated data
 * of disks or of every VM under a folder; optionally zero what is found,
 * into a new child disk (default) or in place.  Exit codes as clamscan:
 * 0 clean, 1 found, 2 error. */
#include "vdisk-tool.h"
#include "fleet-run.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct hitlist {
  struct vd_scan_hit *v;
  char **strs;              /* copies of the strings of v */
  size_t n, cap;
};

struct scan_cfg {
  vd_scanner *sc;
  struct vd_scan_options so;
  int json;
  int fix, in_place;
  const char *into;
  unsigned fill;
  int n_json;               /* disks printed so far (JSON commas) */
  char errmsg[1024];        /* the last failure of scan_one */
};

static void
hits_free (struct hitlist *h)
{
  size_t i;
  for (i = 0; i < h->n * 3; i++)
    free (h->strs[i]);
  free (h->strs);
  free (h->v);
  memset (h, 0, sizeof *h);
}

static char *
dup_or_null (const char *s)
{
  return s ? strdup (s) : NULL;
}

static int
add_hit (const struct vd_scan_hit *hit, void *payload)
{
  struct hitlist *h = payload;
  if (h->n == h->cap) {
    size_t nc = h->cap ? h->cap * 2 : 16;
    struct vd_scan_hit *v = realloc (h->v, nc * sizeof *v);
    char **s = v ? realloc (h->strs, nc * 3 * sizeof *s) : NULL;
    if (v)
      h->v = v;
    if (!s)
      return 1;
    h->strs = s;
    h->cap = nc;
  }
  h->v[h->n] = *hit;
  h->strs[h->n * 3] = dup_or_null (hit->name);
  h->strs[h->n * 3 + 1] = dup_or_null (hit->file);
  h->strs[h->n * 3 + 2] = dup_or_null (hit->last_file);
  h->v[h->n].name = h->strs[h->n * 3];
  h->v[h->n].file = h->strs[h->n * 3 + 1];
  h->v[h->n].last_file = h->strs[h->n * 3 + 2];
  h->n++;
  return 0;
}

static double
now_s (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Scan one disk: 0 clean, 1 found, -1 error (message printed). */
static int
scan_one (struct scan_cfg *cfg, const char *path, struct hitlist *hits,
          struct vd_scan_stats *st, uint64_t *capacity)
{
  vd_disk *d;
  int r;

  memset (hits, 0, sizeof *hits);
  memset (st, 0, sizeof *st);
  cfg->errmsg[0] = '\0';
  if (vd_disk_open (&d, path, VD_OPEN_READ_ONLY) < 0) {
    snprintf (cfg->errmsg, sizeof cfg->errmsg, "%s",
              vd_last_error ()->message);
    fail ();
    return -1;
  }
  *capacity = vd_disk_get_size (d);
  r = vd_scan (d, cfg->sc, &cfg->so, add_hit, hits, st);
  if (r < 0) {
    snprintf (cfg->errmsg, sizeof cfg->errmsg, "%s",
              vd_last_error ()->message);
    fail ();
  }
  vd_disk_close (d);
  if (r < 0)
    return -1;
  return hits->n > 0;
}

static void
print_hits_text (const char *path, const struct hitlist *h)
{
  size_t i;
  for (i = 0; i < h->n; i++) {
    const struct vd_scan_hit *x = &h->v[i];
    printf ("%s: %s FOUND at byte %llu, %llu bytes, sectors %llu-%llu, "
            "link %u (%s)", path, x->name, (unsigned long long) x->offset,
            (unsigned long long) x->length,
            (unsigned long long) x->first_sector,
            (unsigned long long) x->last_sector, x->link,
            x->file ? x->file : "-");
    if (x->last_link != x->link
        || (x->last_file && x->file && strcmp (x->last_file, x->file)))
      printf (" to link %u (%s)", x->last_link,
              x->last_file ? x->last_file : "-");
    printf ("\n");
  }
}

static void
print_hits_json (const struct hitlist *h)
{
  size_t i;
  printf ("\"hits\": [");
  for (i = 0; i < h->n; i++) {
    const struct vd_scan_hit *x = &h->v[i];
    printf ("%s\n      {\"name\": ", i ? "," : "");
    json_str (stdout, x->name);
    printf (", \"offset\": %llu, \"length\": %llu, \"first_sector\": %llu, "
            "\"last_sector\": %llu, \"link\": %u, \"file\": ",
            (unsigned long long) x->offset, (unsigned long long) x->length,
            (unsigned long long) x->first_sector,
            (unsigned long long) x->last_sector, x->link);
    json_str (stdout, x->file);
    printf (", \"last_link\": %u, \"last_file\": ", x->last_link);
    json_str (stdout, x->last_file);
    printf ("}");
  }
  printf ("%s]", h->n ? "\n    " : "");
}

static void
print_stats_json (const struct vd_scan_stats *st, uint64_t capacity,
                  size_t overlap)
{
  printf ("\"capacity\": %llu, \"data_bytes\": %llu, \"bytes_read\": %llu, "
          "\"bytes_scanned\": %llu, \"overlap\": %zu, \"windows\": %llu",
          (unsigned long long) capacity, (unsigned long long) st->data_bytes,
          (unsigned long long) st->bytes_read,
          (unsigned long long) st->bytes_scanned, overlap,
          (unsigned long long) st->windows);
}

/* Default child name: DISK.vmdk -> DISK-fixed.vmdk */
static char *
default_child (const char *path)
{
  size_t n = strlen (path);
  char *s = malloc (n + 16);
  if (!s)
    return NULL;
  if (n > 5 && !strcasecmp (path + n - 5, ".vmdk"))
    sprintf (s, "%.*s-fixed.vmdk", (int) (n - 5), path);
  else
    sprintf (s, "%s-fixed.vmdk", path);
  return s;
}

/* Zero (or fill) the hit sectors; then rescan the result.  0 when the
 * result is clean, 1 when not, -1 on error. */
static int
fix_one (struct scan_cfg *cfg, const char *path, const struct hitlist *h,
         char **result_path, int *rescan_hits)
{
  struct vd_sector_range *rg = calloc (h->n ? h->n : 1, sizeof *rg);
  struct hitlist again;
  struct vd_scan_stats st;
  uint64_t cap;
  size_t i, n = 0;
  char *child = NULL;
  int r;

  *result_path = NULL;
  if (!rg)
    return -1;
  for (i = 0; i < h->n; i++) {
    /* hits come sorted: merge touching or overlapping ranges */
    if (n && h->v[i].first_sector <= rg[n - 1].last + 1) {
      if (h->v[i].last_sector > rg[n - 1].last)
        rg[n - 1].last = h->v[i].last_sector;
      continue;
    }
    rg[n].first = h->v[i].first_sector;
    rg[n].last = h->v[i].last_sector;
    n++;
  }
  if (!cfg->in_place) {
    child = cfg->into ? strdup (cfg->into) : default_child (path);
    if (!child) {
      free (rg);
      return -1;
    }
  }
  r = vd_disk_fill_sectors (path, 0, rg, n, (uint8_t) cfg->fill, child);
  free (rg);
  if (r < 0) {
    fail ();
    free (child);
    return -1;
  }
  *result_path = child ? child : strdup (path);
  r = scan_one (cfg, *result_path, &again, &st, &cap);
  *rescan_hits = (int) again.n;
  hits_free (&again);
  return r;
}

/* The exit status of a scan of several disks: 1 when a virus was found in
 * any of them (even if others could not be scanned, so that a script
 * testing for 1 always sees an infection), else 2 when any could not be
 * scanned or fixed, else 0. */
static int
exit_status (int found, int error)
{
  return found ? 1 : error ? 2 : 0;
}

static int
scan_disks (struct scan_cfg *cfg, int n, char **paths)
{
  int i, found = 0, error = 0;

  if (cfg->json)
    printf ("{\"disks\": [");
  for (i = 0; i < n; i++) {
    struct hitlist h;
    struct vd_scan_stats st;
    uint64_t cap = 0;
    double t0 = now_s ();
    int r = scan_one (cfg, paths[i], &h, &st, &cap);
    double dt = now_s () - t0;
    char *fixed = NULL;
    int fr = 0, again = 0;

    if (r < 0) {
      error = 1;
      if (cfg->json) {
        printf ("%s\n  {\"disk\": ", cfg->n_json++ ? "," : "");
        json_str (stdout, paths[i]);
        printf (", \"status\": \"error\"}");
      }
      continue;
    }
    if (r > 0)
      found = 1;
    if (r > 0 && cfg->fix) {
      fr = fix_one (cfg, paths[i], &h, &fixed, &again);
      if (fr < 0)
        error = 1;
    }
    if (cfg->json) {
      printf ("%s\n  {\"disk\": ", cfg->n_json++ ? "," : "");
      json_str (stdout, paths[i]);
      printf (", \"status\": \"%s\", ", r ? "infected" : "clean");
      print_stats_json (&st, cap, vd_scanner_get_overlap (cfg->sc));
      printf (", \"seconds\": %.3f,\n    ", dt);
      print_hits_json (&h);
      if (r > 0 && cfg->fix) {
        printf (",\n    \"fix\": {\"result\": ");
        json_str (stdout, fr < 0 ? NULL : fixed);
        printf (", \"in_place\": %s, \"rescan\": \"%s\"}",
                cfg->in_place ? "true" : "false",
                fr < 0 ? "error" : fr ? "infected" : "clean");
      }
      printf ("}");
    }
    else {
      print_hits_text (paths[i], &h);
      if (!r)
        printf ("%s: OK\n", paths[i]);
      printf ("%s: %llu bytes allocated, %llu read, %llu scanned in %.2f s "
              "(capacity %llu)\n", paths[i],
              (unsigned long long) st.data_bytes,
              (unsigned long long) st.bytes_read,
              (unsigned long long) st.bytes_scanned, dt,
              (unsigned long long) cap);
      if (r > 0 && cfg->fix && fr >= 0)
        printf ("%s: fixed %s%s; rescan: %s\n", paths[i],
                cfg->in_place ? "in place" : "into child ", 
                cfg->in_place ? "" : fixed,
                fr ? "still infected" : "clean");
    }
    (void) again;   /* still infected after the fix: found stays 1 */
    free (fixed);
    hits_free (&h);
  }
  if (cfg->json)
    printf ("\n]}\n");
  return exit_status (found, error);
}

/* ---- --vms ---------------------------------------------------------- */

struct vm_state {
  struct scan_cfg *cfg;
  int found, error;
  int n;
};

static int
vm_disk (const char *vmx, const char *display, const char *device,
         const char *disk, void *payload)
{
  struct vm_state *vs = payload;
  struct scan_cfg *cfg = vs->cfg;
  struct hitlist h;
  struct vd_scan_stats st;
  uint64_t cap;
  int r;
  size_t i;

  if (!disk) {   /* a VM without disks: listed, nothing to scan */
    if (cfg->json) {
      printf ("%s\n  {\"vmx\": ", vs->n ? "," : "");
      json_str (stdout, vmx);
      printf (", \"name\": ");
      json_str (stdout, display);
      printf (", \"device\": null, \"disk\": null, \"status\": "
              "\"no disks\"}");
    }
    else
      printf ("%-20s %-8s %-40s no disks\n", display ? display : "-", "-",
              "-");
    vs->n++;
    return 0;
  }
  r = scan_one (cfg, disk, &h, &st, &cap);
  if (r < 0)
    vs->error = 1;
  else if (r > 0)
    vs->found = 1;
  if (cfg->json) {
    printf ("%s\n  {\"vmx\": ", vs->n ? "," : "");
    json_str (stdout, vmx);
    printf (", \"name\": ");
    json_str (stdout, display);
    printf (", \"device\": ");
    json_str (stdout, device);
    printf (", \"disk\": ");
    json_str (stdout, disk);
    printf (", \"status\": \"%s\"", r < 0 ? "error"
            : r ? "infected" : "clean");
    if (r >= 0) {
      printf (", ");
      print_stats_json (&st, cap, vd_scanner_get_overlap (cfg->sc));
      printf (", ");
      print_hits_json (&h);
    }
    printf ("}");
  }
  else {
    printf ("%-20s %-8s %-40s ", display ? display : "-", device, disk);
    if (r < 0)
      printf ("error\n");
    else if (r == 0)
      printf ("clean\n");
    else {
      printf ("infected:");
      for (i = 0; i < h.n; i++)
        printf ("%s sectors %llu-%llu %s", i ? ";" : "",
                (unsigned long long) h.v[i].first_sector,
                (unsigned long long) h.v[i].last_sector, h.v[i].name);
      printf ("\n");
    }
  }
  vs->n++;
  if (r >= 0)
    hits_free (&h);
  return 0;
}

static int
scan_vms (struct scan_cfg *cfg, const char *folder)
{
  struct vm_state vs = { cfg, 0, 0, 0 };
  int r;

  if (cfg->json)
    printf ("{\"vms\": [");
  else
    printf ("%-20s %-8s %-40s %s\n", "VM", "DEVICE", "DISK", "RESULT");
  r = vd_find_vm_disks (folder, vm_disk, &vs);
  if (cfg->json)
    printf ("\n]}\n");
  if (r < 0) {
    fail ();
    return 2;
  }
  if (vs.n == 0)
    fprintf (stderr, "vdisk scan: %s: no VM disks found\n", folder);
  return exit_status (vs.found, vs.error);
}

/* ---- --host: every disk a vdisk server lists ------------------------- */

struct export_list {
  char **v;
  int n, cap, err;
};

static int
add_export (const char *name, const char *description, void *payload)
{
  struct export_list *l = payload;
  (void) description;
  /* "fcd:ID[@SSID]" names a disk the list gives by its path too */
  if (strncmp (name, "fcd:", 4) == 0)
    return 0;
  if (l->n == l->cap) {
    int cap = l->cap ? l->cap * 2 : 16;
    char **p = realloc (l->v, (size_t) cap * sizeof *p);
    if (!p) {
      l->err = 1;
      return 1;
    }
    l->v = p;
    l->cap = cap;
  }
  if (!(l->v[l->n] = strdup (name))) {
    l->err = 1;
    return 1;
  }
  l->n++;
  return 0;
}

/* The URI of export name on the server named by base: the path after the
 * authority is replaced, the query (TLS key file, socket) kept. */
static char *
export_uri (const char *base, const char *name)
{
  const char *auth = strstr (base, "://");
  const char *path, *query;
  char *r = NULL;
  if (!auth)
    return NULL;
  path = strchr (auth + 3, '/');
  query = strchr (auth + 3, '?');
  if (!path || (query && query < path))
    path = query ? query : base + strlen (base);
  if (asprintf (&r, "%.*s/%s%s", (int) (path - base), base, name,
                query ? query : "") < 0)
    return NULL;
  return r;
}

static int
scan_host (struct scan_cfg *cfg, const char *uri)
{
  struct export_list l = { 0 };
  int rc;
  if (vd_nbd_list_exports (uri, add_export, &l) < 0 || l.err) {
    if (!l.err)
      fail ();
    else
      fprintf (stderr, "vdisk scan: out of memory\n");
    rc = 2;
    goto out;
  }
  if (l.n == 0) {
    fprintf (stderr, "vdisk scan: %s lists no disks\n", uri);
    rc = 0;
    goto out;
  }
  for (int i = 0; i < l.n; i++) {
    char *u = export_uri (uri, l.v[i]);
    if (!u) {
      fprintf (stderr, "vdisk scan: %s: not a URI\n", uri);
      rc = 2;
      goto out;
    }
    free (l.v[i]);
    l.v[i] = u;
  }
  rc = scan_disks (cfg, l.n, l.v);
out:
  for (int i = 0; i < l.n; i++)
    free (l.v[i]);
  free (l.v);
  return rc;
}

/* cmd-vsphere.c */
int vsphere_scan (vd_scanner *sc, const struct vd_scan_options *so,
                  int json, const char *server);

/* ---- --manifest: one shard of a fleet -------------------------------- */

struct scan_job {
  struct scan_cfg *cfg;
  struct hitlist hits;
  struct vd_fleet_hit *fh;
  int have_hits;
};

static int
fleet_scan (void *payload, const vd_fleet *fleet, size_t i,
            struct vd_fleet_result *res)
{
  struct scan_job *j = payload;
  const struct vd_fleet_disk *d = vd_fleet_get (fleet, i);
  struct vd_scan_stats st;
  uint64_t cap = 0;
  int r = scan_one (j->cfg, d->uri, &j->hits, &st, &cap);

  j->have_hits = r >= 0;
  if (r < 0) {
    res->status = "failed";
    res->error = j->cfg->errmsg[0] ? j->cfg->errmsg : "scan failed";
    return 0;
  }
  res->status = r ? "infected" : "clean";
  res->bytes_read = st.bytes_read;
  j->fh = calloc (j->hits.n ? j->hits.n : 1, sizeof *j->fh);
  if (!j->fh) {
    res->status = "failed";
    res->error = "out of memory";
    return 0;
  }
  for (size_t k = 0; k < j->hits.n; k++) {
    j->fh[k].name = j->hits.v[k].name;
    j->fh[k].offset = j->hits.v[k].offset;
    j->fh[k].length = j->hits.v[k].length;
    j->fh[k].first_sector = j->hits.v[k].first_sector;
    j->fh[k].last_sector = j->hits.v[k].last_sector;
  }
  res->hits = j->fh;
  res->n_hits = j->hits.n;
  return 0;
}

static void
fleet_scan_clear (void *payload)
{
  struct scan_job *j = payload;
  if (j->have_hits)
    hits_free (&j->hits);
  j->have_hits = 0;
  free (j->fh);
  j->fh = NULL;
}

/* What the scan options asked for. */
struct scan_args {
  struct fleet_opts fo;
  struct scan_cfg cfg;
  const char *db, *vms, *host, *vsphere;
  uint64_t overlap;
};

/* The options into a; 0, or 2 after a usage message. */
static int
parse_scan_opts (int argc, char **argv, struct scan_args *a)
{
  static const struct option opts[] = {
    { "db", required_argument, NULL, 'd' },
    { "threads", required_argument, NULL, 't' },
    { "window", required_argument, NULL, 'w' },
    { "overlap", required_argument, NULL, 'O' },
    { "json", no_argument, NULL, 'j' },
    { "fix", no_argument, NULL, 'f' },
    { "into", required_argument, NULL, 'i' },
    { "in-place", no_argument, NULL, 'P' },
    { "fill", required_argument, NULL, 'F' },
    { "vms", required_argument, NULL, 'v' },
    { "host", required_argument, NULL, 'H' },
    { "vsphere", required_argument, NULL, 'V' },

    { "manifest", required_argument, NULL, 'M' },
    { "shard", required_argument, NULL, 'S' },
    { "out", required_argument, NULL, 'o' },
    { "per-host", required_argument, NULL, 'K' },
    OPT_HELP, { 0 } };
  struct scan_cfg *cfg = &a->cfg;
  uint64_t v;
  int c;
  char *end;

  while ((c = getopt_long (argc, argv, "d:t:j", opts, NULL)) != -1) {
    switch (c) {
    case 'd': a->db = optarg; break;
    case 't':
      v = strtoull (optarg, &end, 10);
      if (*end || v < 1 || v > 64) {
        usage_error ("scan", "--threads takes 1..64");
        return 2;
      }
      cfg->so.threads = (unsigned) v;
      break;
    case 'w':
      if (parse_size (optarg, &v) < 0 || v < 65536 || v > (1u << 30)) {
        usage_error ("scan", "--window takes 64K..1G");
        return 2;
      }
      cfg->so.window = (size_t) v;
      break;
    case 'O':
      if (parse_size (optarg, &a->overlap) < 0 || a->overlap < 1
          || a->overlap > (1u << 20)) {
        usage_error ("scan", "--overlap takes 1..1M bytes");
        return 2;
      }
      break;
    case 'j': cfg->json = 1; break;
    case 'f': cfg->fix = 1; break;
    case 'i': cfg->into = optarg; break;
    case 'P': cfg->in_place = 1; break;
    case 'F':
      v = strtoull (optarg, &end, 0);
      if (*end || !*optarg || v > 255) {
        usage_error ("scan", "--fill takes a byte (0..255)");
        return 2;
      }
      cfg->fill = (unsigned) v;
      break;
    case 'v': a->vms = optarg; break;
    case 'H': a->host = optarg; break;
    case 'V': a->host = a->vsphere = optarg; break;

    case 'M': a->fo.manifest = optarg; break;
    case 'S': a->fo.shard = optarg; break;
    case 'o': a->fo.out = optarg; break;
    case 'K':
      if (fleet_parse_per_host (optarg, &a->fo.per_host) < 0) {
        usage_error ("scan", "--per-host takes a number >= 1");
        return 2;
      }
      break;
    default: usage_error ("scan", "invalid option"); return 2;
    }
  }
  return 0;
}

/* Options that do not go together; n_disks is the count of DISK
 * arguments.  0, or 2 after a usage message. */
static int
check_scan_opts (const struct scan_args *a, int n_disks)
{
  const struct scan_cfg *cfg = &a->cfg;
  const struct fleet_opts *fo = &a->fo;

  if ((cfg->into || cfg->in_place) && !cfg->fix) {
    usage_error ("scan", "--into and --in-place go with --fix");
    return 2;
  }
  if (cfg->into && cfg->in_place) {
    usage_error ("scan", "--into and --in-place exclude each other");
    return 2;
  }
  if (a->vms && a->host) {
    usage_error ("scan", "--vms and --host exclude each other");
    return 2;
  }
  if (!fo->manifest && (fo->shard || fo->out || fo->per_host)) {
    usage_error ("scan", "--shard, --out and --per-host go with --manifest");
    return 2;
  }
  if (fo->manifest && (a->vms || a->host || cfg->fix || cfg->json
                       || n_disks != 0)) {
    usage_error ("scan", "--manifest takes no DISK, --vms, --host, --fix "
                 "or --json (the results are JSON files under --out)");
    return 2;
  }
  return 0;
}

/* The DISK arguments the scan of named disks, --vms or --host wants.
 * 0, or 2 after a usage message. */
static int
check_scan_targets (const struct scan_args *a, int n_disks)
{
  if ((a->vms || a->host) ? n_disks != 0 : n_disks <= 0) {
    usage_error ("scan", a->vms ? "--vms takes a FOLDER and no DISK"
                 : a->host ? "--host takes a URI and no DISK"
                 : "expected at least one DISK");
    return 2;
  }
  if ((a->vms || a->host) && a->cfg.fix) {
    usage_error ("scan", "--fix works on named disks, not with --vms or "
                 "--host");
    return 2;
  }
  if (a->cfg.into && n_disks != 1) {
    usage_error ("scan", "--into CHILD takes exactly one DISK");
    return 2;
  }
  return 0;
}

/* --manifest: every disk of the manifest through the fleet runner. */
static int
scan_manifest (struct scan_args *a)
{
  struct scan_job sj;
  struct fleet_job job = { "scan", fleet_scan, fleet_scan_clear, &sj };
  int rc;

  memset (&sj, 0, sizeof sj);
  sj.cfg = &a->cfg;
  if (vd_scanner_new_clamav (&a->cfg.sc, a->db, (size_t) a->overlap) < 0) {
    fail ();
    return 2;
  }
  fprintf (stderr, "vdisk scan: %u signatures from %s\n",
           vd_scanner_get_signature_count (a->cfg.sc),
           a->db ? a->db : VD_CLAMAV_DEFAULT_DB);
  rc = fleet_run ("scan", &a->fo, &job);
  vd_scanner_free (a->cfg.sc);
  fflush (stdout);
  return rc;
}

static int
run (int argc, char **argv)
{
  struct scan_args a;
  struct scan_cfg *cfg = &a.cfg;
  int rc;

  memset (&a, 0, sizeof a);
  vd_scan_options_init (&cfg->so);
  if ((rc = parse_scan_opts (argc, argv, &a)) != 0
      || (rc = check_scan_opts (&a, argc - optind)) != 0)
    return rc;
  if (a.fo.manifest)
    return scan_manifest (&a);
  if ((rc = check_scan_targets (&a, argc - optind)) != 0)
    return rc;
  if (vd_scanner_new_clamav (&cfg->sc, a.db, (size_t) a.overlap) < 0) {
    fail ();
    return 2;
  }
  if (!cfg->json)
    fprintf (stderr, "vdisk scan: %u signatures from %s\n",
             vd_scanner_get_signature_count (cfg->sc),
             a.db ? a.db : VD_CLAMAV_DEFAULT_DB);
  rc = a.vms ? scan_vms (cfg, a.vms)
     : a.vsphere ? vsphere_scan (cfg->sc, &cfg->so, cfg->json, a.vsphere)
     : a.host ? scan_host (cfg, a.host)
     : scan_disks (cfg, argc - optind, argv + optind);
  vd_scanner_free (cfg->sc);
  fflush (stdout);
  return rc;
}

const struct command cmd_scan = {
  "scan", run,
  "[--db DIR] [--threads N] [--json] [--fix [--into CHILD | --in-place]] "
  "DISK...\n       vdisk scan [--db DIR] [--json] --vms FOLDER\n"
  "       vdisk scan [--db DIR] [--json] --host URI\n"
  "       vdisk scan [--db DIR] [--json] --vsphere SERVER\n"
  "       vdisk scan [--db DIR] --manifest M --out DIR [--shard I/N|auto/N]"
  " [--per-host K]",
  "Scan the allocated data of disks (or of every VM under a folder) for "
  "virus signatures with libclamav.  Exit status: 1 when a virus was "
  "found in any disk (even if another could not be scanned: an infection "
  "is never hidden behind an error), else 2 when a disk could not be "
  "scanned or fixed, else 0.  VMs without disks are listed as such.",
  "  -d, --db DIR          ClamAV database folder or file "
  "(default " VD_CLAMAV_DEFAULT_DB ")\n"
  "  -t, --threads N       scanning threads (default: one per CPU)\n"
  "      --window SIZE     bytes per scan call (default 8M)\n"
  "      --overlap BYTES   longest signature match (default: from the "
  "database)\n"
  "  -j, --json            machine-readable output (with bytes read)\n"
  "      --fix             zero the sectors found, into a new child disk\n"
  "                        DISK-fixed.vmdk (delete it to undo)\n"
  "      --into CHILD      with --fix: the child disk to create\n"
  "      --in-place        with --fix: change DISK itself\n"
  "      --fill BYTE       with --fix: fill byte instead of 0\n"
  "      --vms FOLDER      every disk of every VM (*.vmx) under FOLDER\n"
  "      --host URI        every disk a vdisk server lists (nbds://...)\n"
  "      --vsphere SERVER  every disk of every VM on an ESXi host or vCenter\n"
  "                        (running VMs read from a snapshot; see vsphere)\n"
  "      --manifest M      the disks of a manifest (vdisk inventory), one\n"
  "                        result DIR/ID.json per disk; disks with a\n"
  "                        result are skipped (a re-run finishes the job);\n"
  "                        exit 0 when every disk has one, 2 on failures\n"
  "      --shard I/N       only shard I of N (auto/N: I from\n"
  "                        JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID)\n"
  "      --out DIR         where the results go (vdisk report DIR)\n"
  "      --per-host K      each source host's disks on at most K shards\n",
};
