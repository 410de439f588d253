/* One ranged GET of a datastore file (https-internal.h): the answer must
 * be 206 with exactly the bytes asked for; a server that answers 200 (it
 * ignores Range) is stopped at its first body byte and refused, so no
 * request ever downloads a whole file. */
#include "io/https-internal.h"

#ifdef VD_HAVE_VSPHERE

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "io/curl-dl.h"

struct get {
  struct https_io *f;
  CURL *h;
  uint64_t start;                 /* first byte asked for */
  uint64_t want;                  /* bytes asked for */
  uint64_t got;
  uint8_t *const *seg;            /* destination: segments of seg_size */
  size_t seg_size;                /* bytes (the last may be shorter) */
  const atomic_int *cancel;
  long status;
  int ignored_range, bad_range, canceled;
  uint64_t cr_start, cr_end, cr_total;
  int have_cr;
};

/* The one header curl does not interpret for us: "Content-Range: bytes
 * A-B/T". */
static size_t
get_header (char *line, size_t size, size_t n, void *arg)
{
  struct get *g = arg;
  size_t len = size * n;
  unsigned long long a, b, t;
  if (len > 14 && strncasecmp (line, "Content-Range:", 14) == 0) {
    char tmp[128];
    size_t k = VD_MIN (len - 14, sizeof tmp - 1);
    memcpy (tmp, line + 14, k);
    tmp[k] = '\0';
    if (sscanf (tmp, " bytes %llu-%llu/%llu", &a, &b, &t) == 3) {
      g->cr_start = a;
      g->cr_end = b;
      g->cr_total = t;
      g->have_cr = 1;
    }
  }
  return len;
}

static size_t
get_write (char *data, size_t size, size_t n, void *arg)
{
  struct get *g = arg;
  size_t len = size * n;
  if (g->cancel && atomic_load (g->cancel)) {
    g->canceled = 1;
    return 0;
  }
  if (g->status == 0) {
    curl_easy_getinfo (g->h, CURLINFO_RESPONSE_CODE, &g->status);
    if (g->status == 200) {
      g->ignored_range = 1;          /* stop before the whole file comes */
      return 0;
    }
    if (g->status == 206 && (!g->have_cr || g->cr_start != g->start)) {
      g->bad_range = 1;
      return 0;
    }
  }
  if (g->status != 206)
    return len;                      /* an error page: dropped */
  if (len > g->want - g->got) {
    g->bad_range = 1;
    return 0;
  }
  for (size_t done = 0; done < len;) {   /* across segment ends */
    uint64_t at = g->got;
    size_t in = (size_t) (at % g->seg_size);
    size_t k = VD_MIN (len - done, g->seg_size - in);
    memcpy (g->seg[at / g->seg_size] + in, data + done, k);
    done += k;
    g->got += k;
  }
  return len;
}

static CURLcode
perform (struct get *g, const char *range)
{
  CURL *h = g->h;
  curl_easy_setopt (h, CURLOPT_URL, g->f->url);
  curl_easy_setopt (h, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt (h, CURLOPT_RANGE, range);
  curl_easy_setopt (h, CURLOPT_HEADERFUNCTION, get_header);
  curl_easy_setopt (h, CURLOPT_HEADERDATA, g);
  curl_easy_setopt (h, CURLOPT_WRITEFUNCTION, get_write);
  curl_easy_setopt (h, CURLOPT_WRITEDATA, g);
  CURLcode c = curl_easy_perform (h);
  if (g->status == 0)
    curl_easy_getinfo (h, CURLINFO_RESPONSE_CODE, &g->status);
  return c;
}

/* What a finished GET means (probe: the size; else the data). */
static int
judge (struct https_io *f, const struct get *g, CURLcode c,
       const char *range, int probe)
{
  const char *name = f->io.name;
  if (g->canceled)
    return vd__error (VD_ECANCELED, 0, "%s: read of bytes %s canceled",
                     name, range);
  if (g->ignored_range)
    return vd__error (VD_ENOTSUP, 0, "%s: the server ignores Range (it "
                     "answered 200 with the whole file to a request for "
                     "bytes %s): refusing to download whole files",
                     name, range);
  if (g->bad_range)
    return vd__error (VD_EIO, EPROTO, "%s: the server answered bytes "
                     "%llu-%llu to a request for %s", name,
                     (unsigned long long) g->cr_start,
                     (unsigned long long) g->cr_end, range);
  if (c != CURLE_OK)
    return vd__error (VD_EIO, c == CURLE_OPERATION_TIMEDOUT ? ETIMEDOUT
                     : ECONNRESET, "%s: read of bytes %s failed after %llu "
                     "bytes: %s", name, range, (unsigned long long) g->got,
                     curl_easy_strerror (c));
  if (g->status == 404)
    return vd__error (VD_ENOENT, ENOENT, "%s: no such file on the "
                     "datastore", name);
  if (probe && (g->status == 416 || (g->status == 200 && g->got == 0)))
    return 1;                        /* an empty file */
  if (g->status != 206)
    return vd__error (VD_EIO, g->status == 401 || g->status == 403 ? EACCES
                     : EIO, "%s: the server answered HTTP %ld to a read of "
                     "bytes %s", name, g->status, range);
  if (!g->have_cr)
    return vd__error (VD_EIO, EPROTO, "%s: a partial answer without "
                     "Content-Range", name);
  if (g->cr_start > g->cr_end || g->cr_end >= g->cr_total
      || g->cr_start != g->start || g->cr_end - g->cr_start + 1 != g->want)
    return vd__error (VD_EIO, EPROTO, "%s: a Content-Range of bytes "
                     "%llu-%llu/%llu does not describe the %s asked for",
                     name, (unsigned long long) g->cr_start,
                     (unsigned long long) g->cr_end,
                     (unsigned long long) g->cr_total, range);
  if (!probe && g->cr_total != f->size)
    return vd__error (VD_EIO, ESTALE, "%s: the file's size changed from "
                     "%llu to %llu while open", name,
                     (unsigned long long) f->size,
                     (unsigned long long) g->cr_total);
  if (g->got != g->want)
    return vd__error (VD_EIO, ECONNRESET, "%s: the server sent %llu of "
                     "%llu bytes at %llu (the connection dropped?)", name,
                     (unsigned long long) g->got,
                     (unsigned long long) g->want,
                     (unsigned long long) g->start);
  return 0;
}

static int
get_into (struct https_io *f, void *h, uint64_t start, uint64_t want,
          uint8_t *const *seg, size_t seg_size, int probe,
          const atomic_int *cancel)
{
  struct get g;
  char range[64];
  int relogged = 0, r;
  CURLcode c;

  snprintf (range, sizeof range, "%llu-%llu", (unsigned long long) start,
            (unsigned long long) (start + want - 1));
  for (;;) {
    memset (&g, 0, sizeof g);
    g.f = f;
    g.h = h;
    g.start = start;
    g.want = want;
    g.seg = seg;
    g.seg_size = seg_size;
    g.cancel = cancel;
    c = perform (&g, range);
    if (c == CURLE_OK && (g.status == 401 || g.status == 403) && !relogged) {
      relogged = 1;
      if ((r = f->sops->relogin (f->sctx)) < 0)
        return r;
      continue;
    }
    break;
  }
  r = judge (f, &g, c, range, probe);
  if (probe && r >= 0)
    f->size = r == 1 ? 0 : g.cr_total;
  return r < 0 ? r : 0;
}

int
vd__https_get (struct https_io *f, void *h, uint64_t start, uint64_t want,
               uint8_t *dst, int probe, const atomic_int *cancel)
{
  /* one segment: want bytes (callers ask for a size_t count) */
  return get_into (f, h, start, want, &dst, (size_t) want, probe, cancel);
}

int
vd__https_get_blocks (struct https_io *f, void *h, uint64_t start,
                      uint64_t want, uint8_t *const *blocks)
{
  return get_into (f, h, start, want, blocks, VD_HTTPS_BLOCK, 0, NULL);
}

#endif /* VD_HAVE_VSPHERE */
