/* Scanning the allocated data of a disk for signatures (the engine;
 * fixing what is found is scan-fix.c, finding the disks of VMs vmx.c).
 *
 * vd_scan walks only the allocated data (vd_disk_block_status): DATA runs
 * are read, holes and zeroed ranges never are.  Every match that holds a
 * non-zero byte lies within `overlap` bytes of a DATA run, so each run is
 * widened by the overlap on both sides (zeros, not read) and runs closer
 * than that are merged into one region.  Regions are packed into windows
 * of several MiB; a region longer than the room left is split, and the
 * next window starts `overlap` bytes before the split, so a match of up to
 * `overlap` bytes is always whole in some window.  A window "owns" the
 * matches that start before its split point (the next window owns the
 * rest), so each match is reported exactly once.  Between two packed
 * regions sit at least `overlap` zero bytes of padding on each side, so no
 * match made of real data can straddle the seam; matches that do (all
 * zeros) are dropped.  Windows go to worker threads; hits are collected,
 * sorted and reported from the calling thread. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define SCAN_DEFAULT_WINDOW (8u << 20)
#define SCAN_MAX_WINDOW (1u << 30)
#define SCAN_MAX_THREADS 16u
#define SCAN_MAX_OVERLAP VD_SCAN_MAX_OVERLAP

struct vd_scanner {
  vd_scan_fn fn;
  void *state;
  size_t overlap;
  void (*free_state) (void *);
  unsigned signatures;
};

int
vd__scanner_make (vd_scanner **out, vd_scan_fn fn, void *state,
                  size_t overlap, void (*free_state) (void *),
                  unsigned signatures)
{
  vd_scanner *s;

  *out = NULL;
  if (!fn || overlap == 0 || overlap > SCAN_MAX_OVERLAP)
    return vd__error (VD_EINVAL, 0, "scanner: need a scan function and an "
                     "overlap of 1..%u bytes (got %zu)", SCAN_MAX_OVERLAP,
                     overlap);
  s = calloc (1, sizeof *s);
  if (!s)
    return vd__error (VD_ENOMEM, errno, "scanner: out of memory");
  s->fn = fn;
  s->state = state;
  s->overlap = overlap;
  s->free_state = free_state;
  s->signatures = signatures;
  *out = s;
  return 0;
}

int
vd_scanner_new (vd_scanner **out, vd_scan_fn fn, void *state, size_t overlap)
{
  VD_ENTER ();
  if (!out)
    return vd__error (VD_EINVAL, 0, "vd_scanner_new: no output pointer");
  return vd__scanner_make (out, fn, state, overlap, NULL, 0);
}

size_t
vd_scanner_get_overlap (const vd_scanner *s)
{
  return s ? s->overlap : 0;
}

unsigned
vd_scanner_get_signature_count (const vd_scanner *s)
{
  return s ? s->signatures : 0;
}

void
vd_scanner_free (vd_scanner *s)
{
  if (!s)
    return;
  if (s->free_state)
    s->free_state (s->state);
  free (s);
}

void
vd_scan_options_init (struct vd_scan_options *o)
{
  memset (o, 0, sizeof *o);
  o->struct_size = sizeof *o;
}

/* ---- the scan ----------------------------------------------------------- */

struct region {
  uint64_t start, end;     /* widened, clamped to the disk */
  size_t first_run;        /* index of its first DATA run */
};

struct seg {
  uint64_t voff, len;      /* virtual range */
  uint64_t owned_end;      /* matches starting at or after are not ours */
  size_t bufoff;
  size_t region;
};

struct raw_hit {
  uint64_t offset, length;
  const char *name;        /* interned */
};

struct scan_job {
  vd_disk *disk;
  vd_scanner *sc;
  size_t window, overlap;
  struct vd_run *runs;      /* the DATA runs (core/map.c's collector) */
  size_t n_runs;
  struct region *regions;
  size_t n_regions;
  /* cursor, under mu */
  pthread_mutex_t mu;
  size_t cur_region;
  uint64_t cur_pos;
  int error;               /* first error code */
  char errmsg[512];
  /* results, under mu */
  struct raw_hit *hits;
  size_t n_hits, cap_hits;
  char **names;
  size_t n_names, cap_names;
  uint64_t bytes_read, bytes_scanned, windows;
};

struct worker {
  struct scan_job *job;
  pthread_t tid;
  uint8_t *buf;
  struct seg *segs;
  size_t n_segs, cap_segs;
  size_t used;
  struct raw_hit *local;
  size_t n_local, cap_local;
  int error;
};

static int
build_regions (struct scan_job *j, uint64_t size)
{
  size_t i;
  uint64_t pad = j->overlap;

  j->regions = malloc ((j->n_runs ? j->n_runs : 1) * sizeof *j->regions);
  if (!j->regions)
    return vd__error (VD_ENOMEM, errno, "scan: out of memory");
  for (i = 0; i < j->n_runs; i++) {
    uint64_t s = j->runs[i].off > pad ? j->runs[i].off - pad : 0;
    uint64_t e = j->runs[i].off + j->runs[i].len;
    e = e > size - pad ? size : e + pad;
    if (j->n_regions && s <= j->regions[j->n_regions - 1].end + pad) {
      /* closer than two paddings: one region (the gap reads as zeros) */
      j->regions[j->n_regions - 1].end = e;
      continue;
    }
    j->regions[j->n_regions].start = s;
    j->regions[j->n_regions].end = e;
    j->regions[j->n_regions].first_run = i;
    j->n_regions++;
  }
  return 0;
}

/* Take the next window's segments (under j->mu).  0 when none is left. */
static int
next_window (struct scan_job *j, struct worker *w)
{
  size_t W = j->window, L = j->overlap;

  w->n_segs = 0;
  w->used = 0;
  while (j->cur_region < j->n_regions && w->used < W) {
    struct region *rg = &j->regions[j->cur_region];
    uint64_t start = j->cur_pos < rg->start ? rg->start : j->cur_pos;
    uint64_t avail = rg->end - start;
    uint64_t room = W - w->used;
    struct seg *sg;

    if (avail > room && w->n_segs > 0 && room < W / 4)
      break;                    /* start this region in a fresh window */
    if (w->n_segs == w->cap_segs) {
      size_t nc = w->cap_segs ? w->cap_segs * 2 : 64;
      struct seg *n = realloc (w->segs, nc * sizeof *n);
      if (!n)
        return vd__error (VD_ENOMEM, errno, "scan: out of memory");
      w->segs = n;
      w->cap_segs = nc;
    }
    sg = &w->segs[w->n_segs++];
    sg->voff = start;
    sg->bufoff = w->used;
    sg->region = j->cur_region;
    if (avail > room) {
      sg->len = room;
      sg->owned_end = start + room - L;
      j->cur_pos = start + room - L;
      w->used += room;
      break;
    }
    sg->len = avail;
    sg->owned_end = rg->end;
    w->used += avail;
    j->cur_region++;
    j->cur_pos = 0;
  }
  return w->n_segs > 0;
}

/* Read the DATA runs of segment sg into the buffer, zeros elsewhere. */
static int
fill_segment (struct scan_job *j, struct worker *w, const struct seg *sg,
              uint64_t *read)
{
  uint8_t *b = w->buf + sg->bufoff;
  uint64_t end = sg->voff + sg->len;
  size_t i = j->regions[sg->region].first_run;
  uint64_t filled = sg->voff;

  /* skip runs that end before the segment */
  {
    size_t lo = i, hi = j->n_runs;
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      if (j->runs[mid].off + j->runs[mid].len <= sg->voff)
        lo = mid + 1;
      else
        hi = mid;
    }
    i = lo;
  }
  for (; i < j->n_runs && j->runs[i].off < end; i++) {
    uint64_t s = VD_MAX (j->runs[i].off, sg->voff);
    uint64_t e = VD_MIN (j->runs[i].off + j->runs[i].len, end);
    int r;
    if (s > filled)
      memset (b + (filled - sg->voff), 0, (size_t) (s - filled));
    r = vd_disk_read (j->disk, b + (s - sg->voff), (size_t) (e - s), s);
    if (r < 0)
      return r;
    *read += e - s;
    filled = e;
  }
  if (filled < end)
    memset (b + (filled - sg->voff), 0, (size_t) (end - filled));
  return 0;
}

static int
local_match (uint64_t offset, uint64_t length, const char *name,
             void *payload)
{
  struct worker *w = payload;
  if (w->n_local == w->cap_local) {
    size_t nc = w->cap_local ? w->cap_local * 2 : 16;
    struct raw_hit *n = realloc (w->local, nc * sizeof *n);
    if (!n)
      return vd__error (VD_ENOMEM, errno, "scan: out of memory");
    w->local = n;
    w->cap_local = nc;
  }
  w->local[w->n_local].offset = offset;
  w->local[w->n_local].length = length;
  w->local[w->n_local].name = name ? name : "unnamed";
  w->n_local++;
  return 0;
}

/* Under j->mu. */
static const char *
intern (struct scan_job *j, const char *name)
{
  size_t i;
  for (i = 0; i < j->n_names; i++)
    if (!strcmp (j->names[i], name))
      return j->names[i];
  if (j->n_names == j->cap_names) {
    size_t nc = j->cap_names ? j->cap_names * 2 : 16;
    char **n = realloc (j->names, nc * sizeof *n);
    if (!n)
      return NULL;
    j->names = n;
    j->cap_names = nc;
  }
  j->names[j->n_names] = vd__strdup (name);
  if (!j->names[j->n_names])
    return NULL;
  return j->names[j->n_names++];
}

/* Map the window's matches to the disk and keep those it owns (under
 * j->mu). */
static int
keep_matches (struct scan_job *j, struct worker *w)
{
  size_t k;
  for (k = 0; k < w->n_local; k++) {
    struct raw_hit *h = &w->local[k];
    size_t lo = 0, hi = w->n_segs;
    const struct seg *sg;
    uint64_t voff;

    if (h->length == 0 || h->offset >= w->used
        || h->length > w->used - h->offset)
      continue;                 /* the scanner reported nonsense */
    while (hi - lo > 1) {
      size_t mid = (lo + hi) / 2;
      if (w->segs[mid].bufoff <= h->offset)
        lo = mid;
      else
        hi = mid;
    }
    sg = &w->segs[lo];
    if (h->offset + h->length > sg->bufoff + sg->len)
      continue;                 /* straddles a seam: zeros only */
    voff = sg->voff + (h->offset - sg->bufoff);
    if (voff >= sg->owned_end)
      continue;                 /* the next window reports it */
    if (j->n_hits == j->cap_hits) {
      size_t nc = j->cap_hits ? j->cap_hits * 2 : 64;
      struct raw_hit *n = realloc (j->hits, nc * sizeof *n);
      if (!n)
        return vd__error (VD_ENOMEM, errno, "scan: out of memory");
      j->hits = n;
      j->cap_hits = nc;
    }
    j->hits[j->n_hits].offset = voff;
    j->hits[j->n_hits].length = h->length;
    j->hits[j->n_hits].name = intern (j, h->name);
    if (!j->hits[j->n_hits].name)
      return vd__error (VD_ENOMEM, errno, "scan: out of memory");
    j->n_hits++;
  }
  return 0;
}

static void
set_error (struct scan_job *j, int r)
{
  if (!j->error) {
    const struct vd_error *e = vd_last_error ();
    j->error = r;
    snprintf (j->errmsg, sizeof j->errmsg, "%s",
              e->code && e->message ? e->message : vd_strerror (r));
  }
}

static void *
worker_main (void *arg)
{
  struct worker *w = arg;
  struct scan_job *j = w->job;
  int VD_ENTER_guard = vd__enter ("vd_scan");  /* a fresh error record */

  (void) VD_ENTER_guard;
  for (;;) {
    uint64_t read = 0;
    size_t k;
    int r = 0, have;

    pthread_mutex_lock (&j->mu);
    have = j->error ? 0 : next_window (j, w);
    if (have < 0)
      set_error (j, have);
    pthread_mutex_unlock (&j->mu);
    if (have <= 0)
      break;
    for (k = 0; k < w->n_segs && r == 0; k++)
      r = fill_segment (j, w, &w->segs[k], &read);
    w->n_local = 0;
    if (r == 0)
      r = j->sc->fn (j->sc->state, w->buf, w->used, local_match, w);
    pthread_mutex_lock (&j->mu);
    j->bytes_read += read;
    j->bytes_scanned += w->used;
    j->windows++;
    if (r == 0)
      r = keep_matches (j, w);
    if (r < 0)
      set_error (j, r);
    pthread_mutex_unlock (&j->mu);
    if (r < 0)
      break;
  }
  vd__leave (&VD_ENTER_guard);
  return NULL;
}

static int
cmp_hit (const void *a, const void *b)
{
  const struct raw_hit *x = a, *y = b;
  if (x->offset != y->offset)
    return x->offset < y->offset ? -1 : 1;
  if (x->length != y->length)
    return x->length < y->length ? -1 : 1;
  return strcmp (x->name, y->name);
}

static unsigned
online_cpus (void)
{
  long n = sysconf (_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1u : n > (long) SCAN_MAX_THREADS ? SCAN_MAX_THREADS
                                                  : (unsigned) n;
}

int
vd_scan (vd_disk *disk, vd_scanner *sc, const struct vd_scan_options *opts,
         vd_scan_report_cb report, void *payload,
         struct vd_scan_stats *stats)
{
  struct scan_job j;
  struct worker *ws = NULL;
  unsigned nthreads, t, started = 0;
  uint64_t size, data = 0;
  size_t i, n_out = 0;
  int r = 0;
  VD_ENTER ();

  if (stats)
    memset (stats, 0, sizeof *stats);
  if (!disk || !sc)
    return vd__error (VD_EINVAL, 0, "vd_scan: no disk or scanner");
  if (opts && opts->struct_size < sizeof (uint32_t) + sizeof (unsigned))
    return vd__error (VD_EINVAL, 0, "vd_scan: options struct_size %u is too "
                     "small", opts->struct_size);
  memset (&j, 0, sizeof j);
  j.disk = disk;
  j.sc = sc;
  j.overlap = sc->overlap;
  j.window = opts && opts->struct_size >= sizeof *opts && opts->window
             ? opts->window : SCAN_DEFAULT_WINDOW;
  if (j.window > SCAN_MAX_WINDOW)
    j.window = SCAN_MAX_WINDOW;
  if (j.window < 8 * j.overlap)
    j.window = 8 * j.overlap;
  if (j.window < 65536)
    j.window = 65536;
  nthreads = opts && opts->threads ? opts->threads : online_cpus ();
  if (nthreads > SCAN_MAX_THREADS)
    nthreads = SCAN_MAX_THREADS;
  size = vd_disk_get_size (disk);

  {
    struct vd_runs rs = { 0 };
    r = vd__runs_collect (disk, NULL, 0, size, VD_RUNS_DATA, &rs);
    j.runs = rs.v;
    j.n_runs = rs.n;
  }
  if (r < 0)
    goto out;
  for (i = 0; i < j.n_runs; i++)
    data += j.runs[i].len;
  r = build_regions (&j, size);
  if (r < 0)
    goto out;
  {
    uint64_t span = 0, windows;
    for (i = 0; i < j.n_regions; i++)
      span += j.regions[i].end - j.regions[i].start;
    windows = j.n_regions ? 1 + span / (j.window - j.overlap) : 0;
    if (nthreads > windows)
      nthreads = (unsigned) windows;
  }
  pthread_mutex_init (&j.mu, NULL);
  ws = calloc (nthreads ? nthreads : 1, sizeof *ws);
  if (!ws) {
    r = vd__error (VD_ENOMEM, errno, "scan: out of memory");
    goto out_mu;
  }
  for (t = 0; t < nthreads; t++) {
    ws[t].job = &j;
    ws[t].buf = malloc (j.window);
    if (!ws[t].buf) {
      r = vd__error (VD_ENOMEM, errno, "scan: out of memory for a %zu byte "
                    "window", j.window);
      goto out_join;
    }
  }
  for (t = 0; t < nthreads; t++) {
    if (t + 1 == nthreads)
      break;                    /* the calling thread is the last worker */
    if (pthread_create (&ws[t].tid, NULL, worker_main, &ws[t]) != 0) {
      r = vd__error (VD_ENOMEM, errno, "scan: cannot start a thread");
      pthread_mutex_lock (&j.mu);
      if (!j.error)
        j.error = r;
      pthread_mutex_unlock (&j.mu);
      break;
    }
    started++;
  }
  if (r == 0 && nthreads)
    worker_main (&ws[nthreads - 1]);
out_join:
  for (t = 0; t < started; t++)
    pthread_join (ws[t].tid, NULL);
  if (r == 0 && j.error) {
    r = vd__error (j.error, 0, "%s", j.errmsg);
  }
  if (r == 0) {
    if (j.n_hits)
      qsort (j.hits, j.n_hits, sizeof *j.hits, cmp_hit);
    for (i = 0; i < j.n_hits; i++) {
      struct vd_scan_hit h;
      int s;
      if (n_out && !cmp_hit (&j.hits[i], &j.hits[i - 1]))
        continue;
      memset (&h, 0, sizeof h);
      h.offset = j.hits[i].offset;
      h.length = j.hits[i].length;
      h.first_sector = h.offset / VD_SECTOR;
      h.last_sector = (h.offset + h.length - 1) / VD_SECTOR;
      h.name = j.hits[i].name;
      s = vd_disk_locate (disk, h.offset, &h.link, &h.file);
      if (s >= 0)
        s = vd_disk_locate (disk, h.offset + h.length - 1, &h.last_link,
                            &h.last_file);
      if (s < 0) {
        r = s;
        break;
      }
      n_out++;
      if (report && report (&h, payload)) {
        r = vd__error (VD_ECANCELED, 0, "%s: scan stopped by the caller",
                      vd_disk_get_path (disk));
        break;
      }
    }
  }
  if (stats) {
    stats->bytes_read = j.bytes_read;
    stats->bytes_scanned = j.bytes_scanned;
    stats->data_bytes = data;
    stats->windows = j.windows;
    stats->hits = n_out;
  }
  if (ws)
    for (t = 0; t < nthreads; t++) {
      free (ws[t].buf);
      free (ws[t].segs);
      free (ws[t].local);
    }
  free (ws);
out_mu:
  pthread_mutex_destroy (&j.mu);
out:
  free (j.runs);
  free (j.regions);
  free (j.hits);
  for (i = 0; i < j.n_names; i++)
    free (j.names[i]);
  free (j.names);
  return r < 0 ? r : (int) VD_MIN (n_out, (size_t) 0x7fffffff);
}
