/* The libclamav scanner backend.
 *
 * Windows are scanned from memory (cl_fmap_open_memory +
 * cl_scanmap_callback) in all-match mode with every file-type parser off:
 * a disk window is raw data, not a file, and parsing costs 2-3x
 * (speed-limits.md §3).  The MD5 clean cache is disabled
 * (CL_ENGINE_DISABLE_CACHE): it would remember clean windows and skip
 * rescans of identical data, which is both wrong for bisection and makes
 * benchmarks lie.
 *
 * libclamav only says "this buffer holds signature NAME".  We narrow every
 * hit down to its bytes by bisection rather than by re-locating the body
 * signature ourselves: bisection works for every kind of signature
 * libclamav knows (.ndb wildcards and alternatives, .ldb, signed .cvd
 * containers whose text we never see) and needs no second matcher that
 * could disagree with libclamav.  A window that holds a hit is split into
 * two halves overlapping by the scanner's overlap (a match of up to that
 * length is whole in one of them); halves that still hit are split again
 * down to a leaf of a few KiB.  In the leaf, binary search finds the
 * shortest prefix that still holds NAME (the match's end) and then the
 * shortest suffix of that prefix (its start).  Cost: about twice the
 * window's bytes plus ~30 tiny scans per hit, only for windows that hit;
 * clean windows are scanned once.  A hit that no half reproduces (a
 * whole-buffer hash signature, or a match longer than the overlap) is
 * reported as the whole range it was last seen in. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#ifdef VD_HAVE_CLAMAV
#include "scan/clamav-dl.h"

#define LEAF_MIN 4096u
#define DEFAULT_OVERLAP_OTHER 4096u
#define MIN_OVERLAP 256u
#define MAX_NAMES 64

struct clam {
  struct cl_engine *engine;
  size_t overlap;
};

/* cl_init once per process: libclamav's own global set-up. */
static pthread_once_t clam_once = PTHREAD_ONCE_INIT;
static cl_error_t clam_init_rc;

static void
clam_quiet (enum cl_msg severity, const char *fullmsg, const char *msg,
            void *context)
{
  (void) msg;
  (void) context;
  if (severity == CL_MSG_ERROR)
    fprintf (stderr, "%s", fullmsg);
}

static void
clam_init_once (void)
{
  cl_set_clcb_msg (clam_quiet);
  clam_init_rc = cl_init (CL_INIT_DEFAULT);
}

/* Names seen by one scan call. */
struct names {
  const char *v[MAX_NAMES];
  size_t n;
};

static void
on_virus (int fd, const char *virname, void *context)
{
  struct names *nm = context;
  size_t i;
  (void) fd;
  if (!nm || !virname)
    return;
  for (i = 0; i < nm->n; i++)
    if (!strcmp (nm->v[i], virname))
      return;
  if (nm->n < MAX_NAMES)
    nm->v[nm->n++] = virname;
}

/* Scan [buf, buf+len): 0 clean, 1 found (names in nm), < 0 error. */
static int
scan_mem (struct clam *c, const uint8_t *buf, size_t len, struct names *nm)
{
  struct cl_scan_options o;
  const char *virname = NULL;
  unsigned long scanned = 0;
  cl_fmap_t *map;
  cl_error_t rc;

  nm->n = 0;
  if (len == 0)
    return 0;
  map = cl_fmap_open_memory (buf, len);
  if (!map)
    return vd__error (VD_ENOMEM, 0, "libclamav: cannot map %zu bytes", len);
  memset (&o, 0, sizeof o);
  o.general = CL_SCAN_GENERAL_ALLMATCHES;
  rc = cl_scanmap_callback (map, NULL, &virname, &scanned, c->engine, &o, nm);
  cl_fmap_close (map);
  if (rc == CL_CLEAN)
    return 0;
  if (rc != CL_VIRUS)
    return vd__error (VD_EIO, 0, "libclamav: scan failed: %s",
                     cl_strerror (rc));
  if (nm->n == 0 && virname)
    on_virus (-1, virname, nm);
  return nm->n > 0;
}

static int
has_name (const struct names *nm, const char *name)
{
  size_t i;
  for (i = 0; i < nm->n; i++)
    if (!strcmp (nm->v[i], name))
      return 1;
  return 0;
}

/* Does [lo, hi) hold name?  1, 0 or < 0. */
static int
holds (struct clam *c, const uint8_t *buf, size_t lo, size_t hi,
       const char *name)
{
  struct names nm;
  int r = scan_mem (c, buf + lo, hi - lo, &nm);
  return r <= 0 ? r : has_name (&nm, name);
}

struct emit {
  vd_scan_match_cb match;
  void *payload;
};

/* Exact matches of name in the leaf [lo, hi), which holds one. */
static int
leaf_one (struct clam *c, const uint8_t *buf, size_t lo, size_t hi,
          const char *name, struct emit *em)
{
  size_t start = lo;
  int first = 1;

  while (start < hi) {
    size_t a, b, e, s;
    int r;
    if (!first) {
      r = holds (c, buf, start, hi, name);
      if (r <= 0)
        return r;
    }
    first = 0;
    /* smallest e with [start, e) holding name */
    a = start + 1;
    b = hi;
    while (a < b) {
      size_t m = a + (b - a) / 2;
      r = holds (c, buf, start, m, name);
      if (r < 0)
        return r;
      if (r)
        b = m;
      else
        a = m + 1;
    }
    e = a;
    /* largest s with [s, e) holding name */
    a = start;
    b = e - 1;
    while (a < b) {
      size_t m = a + (b - a + 1) / 2;
      r = holds (c, buf, m, e, name);
      if (r < 0)
        return r;
      if (r)
        a = m;
      else
        b = m - 1;
    }
    s = a;
    r = em->match (s, e - s, name, em->payload);
    if (r < 0)
      return r;
    start = s + 1;
  }
  return 0;
}

/* [lo, hi) holds the names in nm: find where. */
static int
narrow (struct clam *c, const uint8_t *buf, size_t lo, size_t hi,
        const struct names *nm, struct emit *em)
{
  size_t L = c->overlap, leaf = VD_MAX ((size_t) LEAF_MIN, 4 * L);
  size_t i;
  int r;

  if (hi - lo <= leaf) {
    for (i = 0; i < nm->n; i++) {
      r = leaf_one (c, buf, lo, hi, nm->v[i], em);
      if (r < 0)
        return r;
    }
    return 0;
  }
  {
    size_t mid = lo + (hi - lo) / 2;
    size_t aend = VD_MIN (hi, mid + L);
    struct names na, nb;
    int ra, rb;

    ra = scan_mem (c, buf + lo, aend - lo, &na);
    if (ra < 0)
      return ra;
    if (ra && (r = narrow (c, buf, lo, aend, &na, em)) < 0)
      return r;
    rb = scan_mem (c, buf + mid, hi - mid, &nb);
    if (rb < 0)
      return rb;
    if (rb && (r = narrow (c, buf, mid, hi, &nb, em)) < 0)
      return r;
    /* names no half reproduces: report the whole range */
    for (i = 0; i < nm->n; i++)
      if (!(ra && has_name (&na, nm->v[i]))
          && !(rb && has_name (&nb, nm->v[i]))) {
        r = em->match (lo, hi - lo, nm->v[i], em->payload);
        if (r < 0)
          return r;
      }
  }
  return 0;
}

static int
clam_scan (void *state, const void *buf, size_t len, vd_scan_match_cb match,
           void *match_payload)
{
  struct clam *c = state;
  struct emit em = { match, match_payload };
  struct names nm;
  int r = scan_mem (c, buf, len, &nm);
  if (r <= 0)
    return r;
  return narrow (c, buf, 0, len, &nm, &em);
}

static void
clam_free (void *state)
{
  struct clam *c = state;
  if (!c)
    return;
  if (c->engine)
    cl_engine_free (c->engine);
  free (c);
}

/* The longest match a .ndb body signature can make (an estimate: every
 * wildcard at its widest; unbounded ones count as `unbounded`). */
static size_t
ndb_sig_len (const char *hex, size_t unbounded)
{
  size_t n = 0, alt = 0, alt_max = 0;
  int in_alt = 0;
  const char *p = hex;

  while (*p && *p != ':' && *p != '\n' && *p != '\r') {
    if (*p == '*')
      return unbounded;
    if (*p == '{' || *p == '[') {
      char close = *p == '{' ? '}' : ']';
      const char *q = strchr (p, close);
      const char *dash;
      unsigned long v = 0;
      if (!q)
        return unbounded;
      dash = memchr (p, '-', (size_t) (q - p));
      if (dash && dash + 1 == q)
        return unbounded;       /* {n-} */
      v = strtoul (dash ? dash + 1 : p + 1, NULL, 10);
      if (v > unbounded)
        return unbounded;
      n += v;
      p = q + 1;
      continue;
    }
    if (*p == '(') {
      in_alt = 1;
      alt = alt_max = 0;
      p++;
      continue;
    }
    if (in_alt && (*p == '|' || *p == ')')) {
      alt_max = VD_MAX (alt_max, alt);
      alt = 0;
      if (*p == ')') {
        in_alt = 0;
        n += alt_max;
      }
      p++;
      continue;
    }
    if (*p == '!' || *p == 'B' || *p == 'L' || *p == 'W') {
      p++;
      continue;
    }
    if (p[1] && p[1] != ':') {  /* a byte: two hex digits or nibble '?' */
      if (in_alt)
        alt++;
      else
        n++;
      p += 2;
      continue;
    }
    p++;
  }
  return n;
}

/* Overlap from the database file or folder at path. */
static size_t
db_overlap (const char *path)
{
  struct stat st;
  size_t best = MIN_OVERLAP;
  DIR *d;
  struct dirent *de;

  if (stat (path, &st) < 0)
    return DEFAULT_OVERLAP_OTHER;
  if (!S_ISDIR (st.st_mode)) {
    const char *dot = strrchr (path, '.');
    if (dot && !strcasecmp (dot, ".ndb")) {
      FILE *f = fopen (path, "r");
      char line[8192];
      if (!f)
        return DEFAULT_OVERLAP_OTHER;
      while (fgets (line, sizeof line, f)) {
        /* Name:Target:Offset:HexSignature[:min[:max]] */
        char *p = line;
        int k;
        for (k = 0; k < 3 && p; k++) {
          p = strchr (p, ':');
          if (p)
            p++;
        }
        if (p)
          best = VD_MAX (best, ndb_sig_len (p, DEFAULT_OVERLAP_OTHER));
        if (strlen (line) == sizeof line - 1)
          best = VD_MAX (best, (size_t) DEFAULT_OVERLAP_OTHER);
      }
      fclose (f);
      return best;
    }
    if (dot && (!strcasecmp (dot, ".hdb") || !strcasecmp (dot, ".hsb")
                || !strcasecmp (dot, ".mdb") || !strcasecmp (dot, ".msb")
                || !strcasecmp (dot, ".fp") || !strcasecmp (dot, ".sfp")
                || !strcasecmp (dot, ".ign") || !strcasecmp (dot, ".ign2")
                || !strcasecmp (dot, ".ftm") || !strcasecmp (dot, ".info")
                || !strcasecmp (dot, ".cfg")))
      return MIN_OVERLAP;
    return DEFAULT_OVERLAP_OTHER;
  }
  d = opendir (path);
  if (!d)
    return DEFAULT_OVERLAP_OTHER;
  while ((de = readdir (d))) {
    char *p;
    if (de->d_name[0] == '.')
      continue;
    p = vd__path_join (path, de->d_name);
    if (p)
      best = VD_MAX (best, db_overlap (p));
    free (p);
  }
  closedir (d);
  return best;
}

int
vd_scanner_new_clamav (vd_scanner **out, const char *db, size_t overlap)
{
  struct clam *c;
  unsigned sigs = 0;
  struct stat st;
  cl_error_t rc;
  int r;
  VD_ENTER ();

  if (!out)
    return vd__error (VD_EINVAL, 0, "vd_scanner_new_clamav: no output "
                     "pointer");
  *out = NULL;
  if (!db)
    db = VD_CLAMAV_DEFAULT_DB;
  if (stat (db, &st) < 0)
    return vd__error (vd__errno_code (errno), errno, "%s: no such signature "
                     "database", db);
  if ((r = vd__clam_load ("vd_scanner_new_clamav")) < 0)
    return r;
  pthread_once (&clam_once, clam_init_once);
  if (clam_init_rc != CL_SUCCESS)
    return vd__error (VD_EIO, 0, "libclamav: cl_init failed: %s",
                     cl_strerror (clam_init_rc));
  c = calloc (1, sizeof *c);
  if (!c)
    return vd__error (VD_ENOMEM, errno, "out of memory");
  c->engine = cl_engine_new ();
  if (!c->engine) {
    free (c);
    return vd__error (VD_ENOMEM, 0, "libclamav: cannot make an engine");
  }
  /* no clean cache: identical windows must be scanned again */
  cl_engine_set_num (c->engine, CL_ENGINE_DISABLE_CACHE, 1);
  /* windows are at most 1 GiB */
  cl_engine_set_num (c->engine, CL_ENGINE_MAX_FILESIZE, (long long) 2 << 30);
  cl_engine_set_num (c->engine, CL_ENGINE_MAX_SCANSIZE, (long long) 2 << 30);
  cl_engine_set_clcb_virus_found (c->engine, on_virus);
  rc = cl_load (db, c->engine, &sigs, CL_DB_STDOPT);
  if (rc != CL_SUCCESS) {
    r = vd__corrupt (db, "libclamav cannot load the "
                     "signatures: %s", cl_strerror (rc));
    goto fail;
  }
  if (sigs == 0) {
    r = vd__error (VD_ENOENT, 0, "%s: no signatures found (a folder of "
                  ".ndb/.hdb/.ldb/.cvd files, or one such file)", db);
    goto fail;
  }
  rc = cl_engine_compile (c->engine);
  if (rc != CL_SUCCESS) {
    r = vd__corrupt (db, "libclamav cannot compile the "
                     "signatures: %s", cl_strerror (rc));
    goto fail;
  }
  c->overlap = overlap ? overlap : db_overlap (db);
  r = vd__scanner_make (out, clam_scan, c, c->overlap, clam_free, sigs);
  if (r < 0)
    goto fail;
  return 0;
fail:
  clam_free (c);
  return r;
}

#else /* !VD_HAVE_CLAMAV */

int
vd_scanner_new_clamav (vd_scanner **out, const char *db, size_t overlap)
{
  VD_ENTER ();
  (void) db;
  (void) overlap;
  if (out)
    *out = NULL;
  return vd__error (VD_ENOTSUP, 0, "vdisk was built without libclamav");
}

#endif
