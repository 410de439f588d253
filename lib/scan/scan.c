/* Scanning the allocated data of a disk for signatures, fixing what is
 * found, editing byte strings, finding the disks of VMs.
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
#define SCAN_MAX_OVERLAP (16u << 20)

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
    return vd_error (VD_EINVAL, 0, "scanner: need a scan function and an "
                     "overlap of 1..%u bytes (got %zu)", SCAN_MAX_OVERLAP,
                     overlap);
  s = calloc (1, sizeof *s);
  if (!s)
    return vd_error (VD_ENOMEM, errno, "scanner: out of memory");
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
    return vd_error (VD_EINVAL, 0, "vd_scanner_new: no output pointer");
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

struct run {
  uint64_t off, len;
};

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
  struct run *runs;
  size_t n_runs, cap_runs;
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
collect_run (uint64_t off, uint64_t len, uint32_t status, void *payload)
{
  struct scan_job *j = payload;
  if (status != VD_STATUS_DATA)
    return 0;
  if (j->n_runs && j->runs[j->n_runs - 1].off + j->runs[j->n_runs - 1].len
                   == off) {
    j->runs[j->n_runs - 1].len += len;
    return 0;
  }
  if (j->n_runs == j->cap_runs) {
    size_t nc = j->cap_runs ? j->cap_runs * 2 : 256;
    struct run *n = realloc (j->runs, nc * sizeof *n);
    if (!n) {
      j->error = VD_ENOMEM;
      return 1;
    }
    j->runs = n;
    j->cap_runs = nc;
  }
  j->runs[j->n_runs].off = off;
  j->runs[j->n_runs].len = len;
  j->n_runs++;
  return 0;
}

static int
build_regions (struct scan_job *j, uint64_t size)
{
  size_t i;
  uint64_t pad = j->overlap;

  j->regions = malloc ((j->n_runs ? j->n_runs : 1) * sizeof *j->regions);
  if (!j->regions)
    return vd_error (VD_ENOMEM, errno, "scan: out of memory");
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
        return vd_error (VD_ENOMEM, errno, "scan: out of memory");
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
      return vd_error (VD_ENOMEM, errno, "scan: out of memory");
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
        return vd_error (VD_ENOMEM, errno, "scan: out of memory");
      j->hits = n;
      j->cap_hits = nc;
    }
    j->hits[j->n_hits].offset = voff;
    j->hits[j->n_hits].length = h->length;
    j->hits[j->n_hits].name = intern (j, h->name);
    if (!j->hits[j->n_hits].name)
      return vd_error (VD_ENOMEM, errno, "scan: out of memory");
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
    return vd_error (VD_EINVAL, 0, "vd_scan: no disk or scanner");
  if (opts && opts->struct_size < sizeof (uint32_t) + sizeof (unsigned))
    return vd_error (VD_EINVAL, 0, "vd_scan: options struct_size %u is too "
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

  r = vd_disk_block_status (disk, 0, size, collect_run, &j);
  if (r == 0 && j.error)
    r = vd_error (j.error, 0, "%s: out of memory listing allocated data",
                  vd_disk_get_path (disk));
  if (r < 0)
    goto out;
  j.error = 0;
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
    r = vd_error (VD_ENOMEM, errno, "scan: out of memory");
    goto out_mu;
  }
  for (t = 0; t < nthreads; t++) {
    ws[t].job = &j;
    ws[t].buf = malloc (j.window);
    if (!ws[t].buf) {
      r = vd_error (VD_ENOMEM, errno, "scan: out of memory for a %zu byte "
                    "window", j.window);
      goto out_join;
    }
  }
  for (t = 0; t < nthreads; t++) {
    if (t + 1 == nthreads)
      break;                    /* the calling thread is the last worker */
    if (pthread_create (&ws[t].tid, NULL, worker_main, &ws[t]) != 0) {
      r = vd_error (VD_ENOMEM, errno, "scan: cannot start a thread");
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
    r = vd_error (j.error, 0, "%s", j.errmsg);
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
        r = vd_error (VD_ECANCELED, 0, "%s: scan stopped by the caller",
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

/* ---- remediation -------------------------------------------------------- */

#define FILL_CHUNK (1u << 20)

static int
fill_ranges (vd_disk *d, const struct vd_sector_range *ranges, size_t n,
             uint8_t fill)
{
  uint8_t *buf = malloc (FILL_CHUNK);
  size_t i;
  int r = 0;

  if (!buf)
    return vd_error (VD_ENOMEM, errno, "fill: out of memory");
  memset (buf, fill, FILL_CHUNK);
  for (i = 0; i < n && r == 0; i++) {
    uint64_t off = ranges[i].first * VD_SECTOR;
    uint64_t end = (ranges[i].last + 1) * VD_SECTOR;
    while (off < end && r == 0) {
      size_t c = (size_t) VD_MIN ((uint64_t) FILL_CHUNK, end - off);
      r = vd_disk_write (d, buf, c, off);
      off += c;
    }
  }
  free (buf);
  if (r == 0)
    r = vd_disk_flush (d);
  return r;
}

static int
check_ranges (vd_disk *d, const struct vd_sector_range *ranges, size_t n)
{
  uint64_t sectors = vd_disk_get_size (d) / VD_SECTOR;
  size_t i;
  for (i = 0; i < n; i++)
    if (ranges[i].first > ranges[i].last || ranges[i].last >= sectors)
      return vd_error (VD_EINVAL, 0, "%s: sector range %llu..%llu is not "
                       "within the disk's %llu sectors",
                       vd_disk_get_path (d),
                       (unsigned long long) ranges[i].first,
                       (unsigned long long) ranges[i].last,
                       (unsigned long long) sectors);
  return 0;
}

/* Open the disk at path for changes: in place, or a new child. */
static int
open_for_change (vd_disk **out, const char *path, uint32_t open_flags,
                 const char *child_path, vd_disk *already_open)
{
  vd_disk *p = already_open;
  int r;

  *out = NULL;
  open_flags &= ~VD_OPEN_READ_ONLY;
  if (!child_path)
    return vd_disk_open (out, path, open_flags);
  if (!p && (r = vd_disk_open (&p, path, open_flags | VD_OPEN_READ_ONLY)) < 0)
    return r;
  r = vd_disk_create_child (p, child_path, VD_TYPE_MONOLITHIC_SPARSE, 0);
  if (!already_open)
    vd_disk_close (p);
  if (r < 0)
    return r;
  r = vd_disk_open (out, child_path,
                    open_flags & ~(VD_OPEN_SINGLE_LINK | VD_OPEN_RAW));
  if (r < 0)
    unlink (child_path);
  return r;
}

int
vd_disk_fill_sectors (const char *path, uint32_t open_flags,
                      const struct vd_sector_range *ranges, size_t n_ranges,
                      uint8_t fill, const char *child_path)
{
  vd_disk *d = NULL, *probe = NULL;
  int r;
  VD_ENTER ();

  if (!path || (n_ranges && !ranges))
    return vd_error (VD_EINVAL, 0, "vd_disk_fill_sectors: no disk or "
                     "ranges");
  /* validate before anything is created */
  r = vd_disk_open (&probe, path, open_flags | VD_OPEN_READ_ONLY);
  if (r < 0)
    return r;
  r = check_ranges (probe, ranges, n_ranges);
  if (r < 0) {
    vd_disk_close (probe);
    return r;
  }
  if (child_path) {
    r = open_for_change (&d, path, open_flags, child_path, probe);
    vd_disk_close (probe);
  }
  else {
    vd_disk_close (probe);
    r = open_for_change (&d, path, open_flags, NULL, NULL);
  }
  if (r < 0)
    return r;
  r = fill_ranges (d, ranges, n_ranges, fill);
  {
    int c = vd_disk_close (d);
    if (r == 0)
      r = c;
  }
  if (r < 0 && child_path)
    unlink (child_path);
  return r;
}

/* ---- edit --------------------------------------------------------------- */

struct find_state {
  const uint8_t *find;
  size_t len;
};

/* Every occurrence, overlapping ones too: the caller picks. */
static int
find_scan (void *state, const void *buf, size_t len, vd_scan_match_cb match,
           void *match_payload)
{
  struct find_state *f = state;
  const uint8_t *b = buf, *p = b, *end = b + len;
  while ((size_t) (end - p) >= f->len) {
    const uint8_t *q = memmem (p, (size_t) (end - p), f->find, f->len);
    int r;
    if (!q)
      break;
    r = match ((uint64_t) (q - b), f->len, "find", match_payload);
    if (r < 0)
      return r;
    p = q + 1;
  }
  return 0;
}

struct offsets {
  uint64_t *v;
  size_t n, cap;
  uint64_t len;
};

static int
keep_offset (const struct vd_scan_hit *h, void *payload)
{
  struct offsets *o = payload;
  /* hits come in ascending order: leftmost wins */
  if (o->n && h->offset < o->v[o->n - 1] + o->len)
    return 0;
  if (o->n == o->cap) {
    size_t nc = o->cap ? o->cap * 2 : 64;
    uint64_t *n = realloc (o->v, nc * sizeof *n);
    if (!n) {
      vd_error (VD_ENOMEM, errno, "edit: out of memory");
      return 1;
    }
    o->v = n;
    o->cap = nc;
  }
  o->v[o->n++] = h->offset;
  return 0;
}

int64_t
vd_disk_replace (const char *path, uint32_t open_flags, const void *find,
                 const void *replace, size_t len, const char *child_path,
                 int dry_run, int (*found) (uint64_t offset, void *payload),
                 void *payload)
{
  struct find_state fs = { find, len };
  struct offsets o = { NULL, 0, 0, len };
  vd_scanner *sc = NULL;
  vd_disk *d = NULL, *w = NULL;
  size_t i;
  int r;
  VD_ENTER ();

  if (!path || !find || !replace || len == 0)
    return vd_error (VD_EINVAL, 0, "vd_disk_replace: need a disk, a find "
                     "and a replace string");
  if (vd__is_zero (find, len))
    return vd_error (VD_EINVAL, 0, "%s: the find string is all zero bytes; "
                     "only allocated data is searched", path);
  if (len > SCAN_MAX_OVERLAP / 4)
    return vd_error (VD_EINVAL, 0, "%s: find string of %zu bytes is too "
                     "long (max %u)", path, len, SCAN_MAX_OVERLAP / 4);
  r = vd__scanner_make (&sc, find_scan, &fs, len, NULL, 0);
  if (r < 0)
    return r;
  r = vd_disk_open (&d, path,
                    dry_run || child_path ? open_flags | VD_OPEN_READ_ONLY
                                          : open_flags & ~VD_OPEN_READ_ONLY);
  if (r < 0)
    goto out;
  r = vd_scan (d, sc, NULL, keep_offset, &o, NULL);
  if (r < 0)
    goto out;
  r = 0;
  for (i = 0; i < o.n; i++)
    if (found && found (o.v[i], payload)) {
      r = vd_error (VD_ECANCELED, 0, "%s: edit stopped by the caller", path);
      goto out;
    }
  if (dry_run || o.n == 0 || !memcmp (find, replace, len)) {
    r = 0;
    goto out;
  }
  if (child_path) {
    r = open_for_change (&w, path, open_flags, child_path, d);
    if (r < 0)
      goto out;
  }
  else
    w = d;
  for (i = 0; i < o.n && r == 0; i++)
    r = vd_disk_write (w, replace, len, o.v[i]);
  if (r == 0)
    r = vd_disk_flush (w);
  if (w != d) {
    int c = vd_disk_close (w);
    if (r == 0)
      r = c;
    if (r < 0)
      unlink (child_path);
  }
out:
  if (d) {
    int c = vd_disk_close (d);
    if (r == 0)
      r = c;
  }
  vd_scanner_free (sc);
  free (o.v);
  return r < 0 ? r : (int64_t) o.n;
}

/* ---- VM discovery ------------------------------------------------------- */

#define VMX_MAX_BYTES (4u << 20)
#define VM_MAX_DEPTH 16
#define VM_MAX_FILES 100000

struct strlist {
  char **v;
  size_t n, cap;
};

static int
strlist_add (struct strlist *l, char *s)
{
  if (!s)
    return vd_error (VD_ENOMEM, errno, "out of memory");
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 16;
    char **n = realloc (l->v, nc * sizeof *n);
    if (!n) {
      free (s);
      return vd_error (VD_ENOMEM, errno, "out of memory");
    }
    l->v = n;
    l->cap = nc;
  }
  l->v[l->n++] = s;
  return 0;
}

static void
strlist_free (struct strlist *l)
{
  size_t i;
  for (i = 0; i < l->n; i++)
    free (l->v[i]);
  free (l->v);
}

static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static int
has_suffix (const char *s, const char *suf)
{
  size_t a = strlen (s), b = strlen (suf);
  return a >= b && !strcasecmp (s + a - b, suf);
}

/* Collect *.vmx under dir (fd owned and closed here). */
static int
walk (int fd, const char *path, int depth, struct strlist *out)
{
  DIR *dir;
  struct dirent *de;
  int r = 0;

  dir = fdopendir (fd);
  if (!dir) {
    close (fd);
    return vd_error (vd__errno_code (errno), errno, "%s: cannot list the "
                     "folder", path);
  }
  while (r == 0 && (de = readdir (dir))) {
    struct stat st;
    char *sub;
    if (!strcmp (de->d_name, ".") || !strcmp (de->d_name, ".."))
      continue;
    if (fstatat (dirfd (dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
      continue;
    if (out->n >= VM_MAX_FILES)
      break;
    sub = vd__path_join (path, de->d_name);
    if (!sub) {
      r = vd_error (VD_ENOMEM, errno, "out of memory");
      break;
    }
    if (S_ISREG (st.st_mode) && has_suffix (de->d_name, ".vmx"))
      r = strlist_add (out, sub);
    else if (S_ISDIR (st.st_mode) && depth < VM_MAX_DEPTH) {
      int sfd = openat (dirfd (dir), de->d_name,
                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sfd >= 0)
        r = walk (sfd, sub, depth + 1, out);
      free (sub);
    }
    else
      free (sub);
  }
  closedir (dir);
  return r;
}

struct vmx_dev {
  char dev[32];      /* "scsi0:0" */
  char *file;
  int present;       /* -1 unset, 0 FALSE, 1 TRUE */
  int cdrom;
};

struct vmx {
  struct vmx_dev *dev;
  size_t n, cap;
  char *display;
  char absent_bus[64][16];  /* controllers with present = FALSE */
  size_t n_absent;
};

static int
is_false (const char *v)
{
  return !strcasecmp (v, "false") || !strcasecmp (v, "0")
         || !strcasecmp (v, "no") || !strcasecmp (v, "off");
}

/* Parse "scsi0:1" (the device part of a key): length of the device name
 * or 0.  bus_len gets the length of "scsi0". */
static size_t
device_name (const char *k, size_t *bus_len)
{
  static const char *const buses[] = { "scsi", "ide", "sata", "nvme" };
  size_t i, n;
  for (i = 0; i < 4; i++) {
    n = strlen (buses[i]);
    if (!strncasecmp (k, buses[i], n))
      break;
  }
  if (i == 4 || !(k[n] >= '0' && k[n] <= '9'))
    return 0;
  while (k[n] >= '0' && k[n] <= '9')
    n++;
  *bus_len = n;
  if (k[n] != ':')
    return n;              /* a controller key: "scsi0.present" */
  n++;
  if (!(k[n] >= '0' && k[n] <= '9'))
    return 0;
  while (k[n] >= '0' && k[n] <= '9')
    n++;
  return n;
}

static struct vmx_dev *
vmx_dev (struct vmx *x, const char *name, size_t n)
{
  size_t i;
  if (n >= sizeof x->dev[0].dev)
    return NULL;
  for (i = 0; i < x->n; i++)
    if (strlen (x->dev[i].dev) == n && !strncasecmp (x->dev[i].dev, name, n))
      return &x->dev[i];
  if (x->n == x->cap) {
    size_t nc = x->cap ? x->cap * 2 : 8;
    struct vmx_dev *d;
    if (nc > 4096)
      return NULL;
    d = realloc (x->dev, nc * sizeof *d);
    if (!d)
      return NULL;
    x->dev = d;
    x->cap = nc;
  }
  memset (&x->dev[x->n], 0, sizeof x->dev[x->n]);
  memcpy (x->dev[x->n].dev, name, n);
  for (i = 0; i < n; i++)
    if (x->dev[x->n].dev[i] >= 'A' && x->dev[x->n].dev[i] <= 'Z')
      x->dev[x->n].dev[i] = (char) (x->dev[x->n].dev[i] + 32);
  x->dev[x->n].present = -1;
  return &x->dev[x->n++];
}

static void
vmx_line (struct vmx *x, char *line)
{
  char *eq, *k, *v, *e;
  size_t dn, bus;

  while (*line == ' ' || *line == '\t')
    line++;
  if (*line == '#' || !*line)
    return;
  eq = strchr (line, '=');
  if (!eq)
    return;
  k = line;
  e = eq;
  while (e > k && (e[-1] == ' ' || e[-1] == '\t'))
    e--;
  *e = 0;
  v = eq + 1;
  while (*v == ' ' || *v == '\t')
    v++;
  e = v + strlen (v);
  while (e > v && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
    *--e = 0;
  if (*v == '"') {
    v++;
    e = strchr (v, '"');
    if (e)
      *e = 0;
  }
  if (!strcasecmp (k, "displayName")) {
    free (x->display);
    x->display = vd__strdup (v);
    return;
  }
  dn = device_name (k, &bus);
  if (!dn || k[dn] != '.')
    return;
  if (dn == bus) {            /* controller */
    if (!strcasecmp (k + dn + 1, "present") && is_false (v)
        && x->n_absent < 64 && bus < 16) {
      memcpy (x->absent_bus[x->n_absent], k, bus);
      x->absent_bus[x->n_absent][bus] = 0;
      x->n_absent++;
    }
    return;
  }
  {
    struct vmx_dev *d = vmx_dev (x, k, dn);
    const char *f = k + dn + 1;
    if (!d)
      return;
    if (!strcasecmp (f, "fileName")) {
      free (d->file);
      d->file = vd__strdup (v);
    }
    else if (!strcasecmp (f, "present"))
      d->present = !is_false (v);
    else if (!strcasecmp (f, "deviceType"))
      d->cdrom = strcasestr (v, "cdrom") != NULL;
  }
}

static int
cmp_dev (const void *a, const void *b)
{
  const struct vmx_dev *x = a, *y = b;
  return strverscmp (x->dev, y->dev);
}

static int
read_vmx (const char *path, struct vmx *x)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  struct stat st;
  char *text, *line, *save = NULL;
  ssize_t got;
  size_t have = 0;

  if (fd < 0)
    return vd_error (vd__errno_code (errno), errno, "%s: cannot open",
                     path);
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode)
      || st.st_size > (off_t) VMX_MAX_BYTES) {
    close (fd);
    return vd_error (VD_EINVAL, 0, "%s: not a regular file of at most %u "
                     "bytes", path, VMX_MAX_BYTES);
  }
  text = malloc ((size_t) st.st_size + 1);
  if (!text) {
    close (fd);
    return vd_error (VD_ENOMEM, errno, "out of memory");
  }
  while (have < (size_t) st.st_size
         && (got = read (fd, text + have, (size_t) st.st_size - have)) > 0)
    have += (size_t) got;
  close (fd);
  text[have] = 0;
  for (line = strtok_r (text, "\n", &save); line;
       line = strtok_r (NULL, "\n", &save))
    vmx_line (x, line);
  free (text);
  if (x->n)
    qsort (x->dev, x->n, sizeof *x->dev, cmp_dev);
  return 0;
}

int
vd_find_vm_disks (const char *folder, vd_vm_disk_cb cb, void *payload)
{
  struct strlist vmxs = { 0 };
  size_t i, k;
  int fd, r;
  VD_ENTER ();

  if (!folder || !cb)
    return vd_error (VD_EINVAL, 0, "vd_find_vm_disks: no folder or "
                     "callback");
  fd = open (folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return vd_error (vd__errno_code (errno), errno, "%s: cannot open the "
                     "folder", folder);
  r = walk (fd, folder, 0, &vmxs);
  if (r < 0)
    goto out;
  if (vmxs.n)
    qsort (vmxs.v, vmxs.n, sizeof *vmxs.v, cmp_str);
  for (i = 0; i < vmxs.n && r == 0; i++) {
    struct vmx x;
    char *dir;
    memset (&x, 0, sizeof x);
    r = read_vmx (vmxs.v[i], &x);
    dir = r == 0 ? vd__dirname (vmxs.v[i]) : NULL;
    if (r == 0 && !dir)
      r = vd_error (VD_ENOMEM, errno, "out of memory");
    size_t n_disks = 0;
    for (k = 0; r == 0 && k < x.n; k++) {
      struct vmx_dev *d = &x.dev[k];
      size_t a, bus;
      int absent = 0;
      char *p;
      if (!d->file || d->present == 0 || d->cdrom
          || !has_suffix (d->file, ".vmdk"))
        continue;
      device_name (d->dev, &bus);
      for (a = 0; a < x.n_absent; a++)
        if (strlen (x.absent_bus[a]) == bus
            && !strncasecmp (x.absent_bus[a], d->dev, bus))
          absent = 1;
      if (absent)
        continue;
      p = vd__path_join (dir, d->file);
      if (!p) {
        r = vd_error (VD_ENOMEM, errno, "out of memory");
        break;
      }
      n_disks++;
      if (cb (vmxs.v[i], x.display, d->dev, p, payload))
        r = 1;
      free (p);
    }
    /* a VM without disks is listed too (device and disk NULL) */
    if (r == 0 && n_disks == 0 && cb (vmxs.v[i], x.display, NULL, NULL,
                                      payload))
      r = 1;
    for (k = 0; k < x.n; k++)
      free (x.dev[k].file);
    free (x.dev);
    free (x.display);
    free (dir);
  }
  if (r > 0)
    r = 0;
out:
  strlist_free (&vmxs);
  return r;
}
