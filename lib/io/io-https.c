/* The datastore file I/O backend (io-https.h): a file on a vSphere
 * datastore read through the datastore HTTP file service,
 *   GET https://HOST/folder/PATH?dcPath=DC&dsName=DS   (Range: bytes=A-B)
 * with curl handles of the session that opened it (a vd_https_session
 * table: this tier never calls up), a block cache and sequential
 * read-ahead.  Read-only.
 *
 * The first request of every file asks for its first byte: the answer's
 * Content-Range gives the size, and a server that answers 200 (it
 * ignores Range) is refused there, before it sends the whole file.
 * Every later answer must be 206 with exactly the bytes asked for. */
#include "io/io-https.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef VD_HAVE_VSPHERE

int
vd__io_is_https (const struct vd_io *io)
{
  (void) io;
  return 0;
}

int
vd__io_https_sibling (struct vd_io **out, struct vd_io *near,
                      const char *name, int rw)
{
  (void) near; (void) rw;
  *out = NULL;
  return vd_error (VD_ENOTSUP, 0, "%s: no vSphere support", name);
}

int
vd__io_https_parent (struct vd_io **out, struct vd_io *near,
                     const char *uri, int rw)
{
  return vd__io_https_sibling (out, near, uri, rw);
}

#else /* VD_HAVE_VSPHERE */

#include <pthread.h>
#include <curl/curl.h>

#define BLOCK (1u << 20)          /* cache block */
#define NBLOCKS 24                /* cache blocks per file */
#define MAX_AHEAD 8u              /* blocks fetched at once when sequential */

struct block {
  uint64_t idx;                   /* block number */
  uint8_t *data;
  size_t len;                     /* valid bytes (short at end of file) */
  uint64_t used;                  /* LRU tick */
  int valid;
};

/* Sequential reads are served by one open-ended ranged GET
 * ("Range: bytes=N-") running on a thread into a ring buffer, so that the
 * server streams as it would to curl instead of waiting for each request;
 * the consumer stops it (aborting the transfer) when reads jump away. */
#define RING (16u << 20)
#define STREAM_AFTER (4u << 20)    /* sequential bytes before streaming */
#define SKIP_MAX (4u << 20)        /* stream bytes skipped to reach a read */

struct stream {
  struct https_io *f;
  pthread_t th;
  int running;
  CURL *h;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint8_t *ring;
  uint64_t start;                 /* file offset of ring byte 0 */
  uint64_t head, tail;            /* bytes produced / consumed */
  int done, cancel;
  long status;
  int have_cr;
  uint64_t cr_start, cr_total;
  int failed;                     /* the message is in err */
  char err[256];
};

struct https_io {
  struct vd_io io;
  struct stream st;
  uint64_t seq_end;               /* end of the previous read */
  uint64_t seq_run;               /* bytes read sequentially so far */
  const struct vd_https_session *sops;
  void *sctx;                     /* the session (one reference) */
  char *base, *host;              /* https://HOST:PORT, HOST:PORT */
  char *dc, *ds, *path;           /* datacenter, datastore, "folder/file" */
  char *url;
  CURL *h;
  pthread_mutex_t mu;
  uint64_t size;
  struct block blocks[NBLOCKS];
  uint64_t tick;
  uint64_t next_seq;              /* block after the last miss */
  unsigned ahead;                 /* current read-ahead, blocks */
};

static const struct vd_io_ops https_ops;

int
vd__io_is_https (const struct vd_io *io)
{
  return io && io->ops == &https_ops;
}

/* ---- one ranged GET ---------------------------------------------------- */

struct get {
  struct https_io *f;
  uint64_t start;                 /* first byte asked for */
  uint64_t want;                  /* bytes asked for */
  uint64_t got;
  uint8_t *dst;                   /* contiguous destination, want bytes */
  long status;
  int ignored_range;
  int bad_range;
  uint64_t cr_start, cr_end, cr_total;
  int have_cr;
};

static size_t
get_header (char *line, size_t size, size_t n, void *arg)
{
  struct get *g = arg;
  size_t len = size * n;
  unsigned long long a, b, t;
  /* the one header curl does not interpret for us */
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
  if (g->status == 0) {
    curl_easy_getinfo (g->f->h, CURLINFO_RESPONSE_CODE, &g->status);
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
  memcpy (g->dst + g->got, data, len);
  g->got += len;
  return len;
}

/* GET bytes [start, start+want) into dst; with probe, want is 1 and the
 * size is learnt from Content-Range. */
static int
ranged_get (struct https_io *f, uint64_t start, uint64_t want, uint8_t *dst,
            int probe)
{
  struct get g;
  char range[64];
  CURLcode c;
  int relogged = 0;

again:
  memset (&g, 0, sizeof g);
  g.f = f;
  g.start = start;
  g.want = want;
  g.dst = dst;
  snprintf (range, sizeof range, "%llu-%llu", (unsigned long long) start,
            (unsigned long long) (start + want - 1));
  curl_easy_setopt (f->h, CURLOPT_URL, f->url);
  curl_easy_setopt (f->h, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt (f->h, CURLOPT_RANGE, range);
  curl_easy_setopt (f->h, CURLOPT_HEADERFUNCTION, get_header);
  curl_easy_setopt (f->h, CURLOPT_HEADERDATA, &g);
  curl_easy_setopt (f->h, CURLOPT_WRITEFUNCTION, get_write);
  curl_easy_setopt (f->h, CURLOPT_WRITEDATA, &g);
  c = curl_easy_perform (f->h);
  if (g.status == 0)
    curl_easy_getinfo (f->h, CURLINFO_RESPONSE_CODE, &g.status);
  if (g.ignored_range)
    return vd_error (VD_ENOTSUP, 0, "%s: the server ignores Range (it "
                     "answered 200 with the whole file to a request for "
                     "bytes %s): refusing to download whole files",
                     f->io.name, range);
  if (g.bad_range)
    return vd_error (VD_EIO, EPROTO, "%s: the server answered bytes "
                     "%llu-%llu to a request for %s", f->io.name,
                     (unsigned long long) g.cr_start,
                     (unsigned long long) g.cr_end, range);
  if (c != CURLE_OK)
    return vd_error (VD_EIO, c == CURLE_OPERATION_TIMEDOUT ? ETIMEDOUT
                     : ECONNRESET, "%s: read of bytes %s failed: %s",
                     f->io.name, range, curl_easy_strerror (c));
  if ((g.status == 401 || g.status == 403) && !relogged) {
    relogged = 1;
    int r = f->sops->relogin (f->sctx);
    if (r == 0)
      goto again;
    return r;
  }
  if (g.status == 404)
    return vd_error (VD_ENOENT, ENOENT, "%s: no such file on the "
                     "datastore", f->io.name);
  if (probe && (g.status == 416 || (g.status == 200 && g.got == 0))) {
    f->size = 0;                     /* an empty file */
    return 0;
  }
  if (g.status != 206)
    return vd_error (VD_EIO, g.status == 401 || g.status == 403 ? EACCES
                     : EIO, "%s: the server answered HTTP %ld to a read of "
                     "bytes %s", f->io.name, g.status, range);
  if (!g.have_cr)
    return vd_error (VD_EIO, EPROTO, "%s: a partial answer without "
                     "Content-Range", f->io.name);
  if (probe) {
    f->size = g.cr_total;
    if (g.got != 1)
      return vd_error (VD_EIO, EPROTO, "%s: short answer", f->io.name);
    return 0;
  }
  if (g.cr_total != f->size)
    return vd_error (VD_EIO, ESTALE, "%s: the file's size changed from "
                     "%llu to %llu while open", f->io.name,
                     (unsigned long long) f->size,
                     (unsigned long long) g.cr_total);
  if (g.got != want)
    return vd_error (VD_EIO, ECONNRESET, "%s: the server sent %llu of "
                     "%llu bytes at %llu (the connection dropped?)",
                     f->io.name, (unsigned long long) g.got,
                     (unsigned long long) want, (unsigned long long) start);
  return 0;
}

/* ---- block cache -------------------------------------------------------- */

static struct block *
lookup (struct https_io *f, uint64_t idx)
{
  for (int i = 0; i < NBLOCKS; i++)
    if (f->blocks[i].valid && f->blocks[i].idx == idx) {
      f->blocks[i].used = ++f->tick;
      return &f->blocks[i];
    }
  return NULL;
}

static struct block *
victim (struct https_io *f, uint64_t keep_from, uint64_t keep_to)
{
  struct block *v = NULL;
  for (int i = 0; i < NBLOCKS; i++) {
    struct block *b = &f->blocks[i];
    if (b->valid && b->idx >= keep_from && b->idx < keep_to)
      continue;
    if (!b->valid)
      return b;
    if (!v || b->used < v->used)
      v = b;
  }
  return v;
}

/* Fetch blocks [idx, idx+n) (all missing) with one GET. */
static int
fetch (struct https_io *f, uint64_t idx, unsigned n)
{
  uint64_t start = idx * BLOCK;
  uint64_t end = VD_MIN (f->size, (idx + n) * BLOCK);
  uint8_t *tmp;
  int r;

  if (start >= end)
    return vd_error (VD_EIO, 0, "%s: read past the end", f->io.name);
  tmp = malloc (end - start);
  if (!tmp)
    return vd_error (VD_ENOMEM, errno, "%s: cache", f->io.name);
  r = ranged_get (f, start, end - start, tmp, 0);
  if (r == 0)
    for (unsigned k = 0; k < n && start + (uint64_t) k * BLOCK < end; k++) {
      struct block *b = victim (f, idx, idx + n);
      uint64_t off = (uint64_t) k * BLOCK;
      if (!b->data && !(b->data = malloc (BLOCK))) {
        r = vd_error (VD_ENOMEM, errno, "%s: cache", f->io.name);
        break;
      }
      b->idx = idx + k;
      b->len = (size_t) VD_MIN ((uint64_t) BLOCK, end - start - off);
      memcpy (b->data, tmp + off, b->len);
      b->valid = 1;
      b->used = ++f->tick;
    }
  free (tmp);
  return r;
}


/* ---- streaming read-ahead ----------------------------------------------- */

static size_t
st_header (char *line, size_t size, size_t n, void *arg)
{
  struct stream *st = arg;
  size_t len = size * n;
  unsigned long long a, b, t;
  if (len > 14 && strncasecmp (line, "Content-Range:", 14) == 0) {
    char tmp[128];
    size_t k = VD_MIN (len - 14, sizeof tmp - 1);
    memcpy (tmp, line + 14, k);
    tmp[k] = '\0';
    if (sscanf (tmp, " bytes %llu-%llu/%llu", &a, &b, &t) == 3) {
      st->cr_start = a;
      st->cr_total = t;
      st->have_cr = 1;
    }
  }
  return len;
}

static size_t
st_write (char *data, size_t size, size_t n, void *arg)
{
  struct stream *st = arg;
  size_t len = size * n, done = 0;
  if (st->status == 0) {
    curl_easy_getinfo (st->h, CURLINFO_RESPONSE_CODE, &st->status);
    if (st->status != 206 || !st->have_cr || st->cr_start != st->start
        || st->cr_total != st->f->size) {
      pthread_mutex_lock (&st->mu);
      st->failed = 1;
      snprintf (st->err, sizeof st->err, "the server answered HTTP %ld "
                "(bytes %llu-) to a streamed read from %llu", st->status,
                (unsigned long long) st->cr_start,
                (unsigned long long) st->start);
      pthread_cond_broadcast (&st->cv);
      pthread_mutex_unlock (&st->mu);
      return 0;
    }
  }
  pthread_mutex_lock (&st->mu);
  while (done < len) {
    while (!st->cancel && st->head - st->tail == RING)
      pthread_cond_wait (&st->cv, &st->mu);
    if (st->cancel) {
      pthread_mutex_unlock (&st->mu);
      return 0;                          /* aborts the transfer */
    }
    size_t at = (size_t) (st->head % RING);
    size_t k = VD_MIN (len - done, (size_t) (RING - (st->head - st->tail)));
    k = VD_MIN (k, RING - at);
    memcpy (st->ring + at, data + done, k);
    st->head += k;
    done += k;
    pthread_cond_broadcast (&st->cv);
  }
  pthread_mutex_unlock (&st->mu);
  return len;
}

static void *
st_main (void *arg)
{
  struct stream *st = arg;
  CURLcode c = curl_easy_perform (st->h);
  pthread_mutex_lock (&st->mu);
  if (c != CURLE_OK && !st->cancel && !st->failed) {
    st->failed = 1;
    snprintf (st->err, sizeof st->err, "streamed read from %llu failed "
              "after %llu bytes: %s", (unsigned long long) st->start,
              (unsigned long long) st->head, curl_easy_strerror (c));
  }
  st->done = 1;
  pthread_cond_broadcast (&st->cv);
  pthread_mutex_unlock (&st->mu);
  return NULL;
}

static void
st_stop (struct https_io *f)
{
  struct stream *st = &f->st;
  if (!st->running)
    return;
  pthread_mutex_lock (&st->mu);
  st->cancel = 1;
  pthread_cond_broadcast (&st->cv);
  pthread_mutex_unlock (&st->mu);
  pthread_join (st->th, NULL);
  st->running = 0;
}

static int
st_start (struct https_io *f, uint64_t off)
{
  struct stream *st = &f->st;
  char range[40];
  st_stop (f);
  if (!st->ring && !(st->ring = malloc (RING)))
    return vd_error (VD_ENOMEM, errno, "%s: stream buffer", f->io.name);
  if (!st->h && !(st->h = f->sops->curl (f->sctx)))
    return VD_ENOMEM;
  st->f = f;
  st->start = off;
  st->head = st->tail = 0;
  st->done = st->cancel = st->failed = st->have_cr = 0;
  st->status = 0;
  st->err[0] = '\0';
  snprintf (range, sizeof range, "%llu-", (unsigned long long) off);
  curl_easy_setopt (st->h, CURLOPT_TIMEOUT, 0L);
  curl_easy_setopt (st->h, CURLOPT_URL, f->url);
  curl_easy_setopt (st->h, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt (st->h, CURLOPT_RANGE, range);
  curl_easy_setopt (st->h, CURLOPT_HEADERFUNCTION, st_header);
  curl_easy_setopt (st->h, CURLOPT_HEADERDATA, st);
  curl_easy_setopt (st->h, CURLOPT_WRITEFUNCTION, st_write);
  curl_easy_setopt (st->h, CURLOPT_WRITEDATA, st);
  if (pthread_create (&st->th, NULL, st_main, st) != 0)
    return vd_error (VD_ENOMEM, errno, "%s: stream thread", f->io.name);
  st->running = 1;
  return 0;
}

/* Copy count bytes at off from the stream: off is where it stands, or a
 * little ahead (the bytes between are skipped).  1: done; 0: the stream
 * cannot serve it (use ranged GETs); negative: an error. */
static int
st_read (struct https_io *f, uint8_t *p, size_t count, uint64_t off)
{
  struct stream *st = &f->st;
  uint64_t skip;
  int r = 1;
  if (!st->running || off < st->start + st->tail
      || off - (st->start + st->tail) > SKIP_MAX)
    return 0;
  skip = off - (st->start + st->tail);
  pthread_mutex_lock (&st->mu);
  while (skip > 0 || count > 0) {
    while (st->head == st->tail && !st->done && !st->failed)
      pthread_cond_wait (&st->cv, &st->mu);
    if (st->head == st->tail) {
      r = st->failed
          ? vd_error (VD_EIO, ECONNRESET, "%s: %s", f->io.name, st->err)
          : vd_error (VD_EIO, ECONNRESET, "%s: the server ended the "
                      "stream at byte %llu of %llu", f->io.name,
                      (unsigned long long) (st->start + st->head),
                      (unsigned long long) f->size);
      break;
    }
    if (skip > 0) {
      uint64_t k = VD_MIN (skip, st->head - st->tail);
      st->tail += k;
      skip -= k;
      pthread_cond_broadcast (&st->cv);
      continue;
    }
    size_t at = (size_t) (st->tail % RING);
    size_t k = VD_MIN (count, (size_t) (st->head - st->tail));
    k = VD_MIN (k, RING - at);
    memcpy (p, st->ring + at, k);
    st->tail += k;
    p += k;
    count -= k;
    pthread_cond_broadcast (&st->cv);
  }
  pthread_mutex_unlock (&st->mu);
  return r;
}

static int
https_pread (struct vd_io *io, void *buf, size_t count, uint64_t off)
{
  struct https_io *f = (struct https_io *) io;
  uint8_t *p = buf;
  int r = 0;

  if (count == 0)
    return 0;
  if (off > f->size || count > f->size - off)
    return vd_error (VD_EIO, 0, "%s: read of %zu bytes at %llu past the end "
                     "(%llu)", io->name, count, (unsigned long long) off,
                     (unsigned long long) f->size);
  pthread_mutex_lock (&f->mu);
  /* sequential runs go to the stream; other reads (a grain table, say)
   * go to the block cache and leave the stream where it is */
  if (off == f->seq_end)
    f->seq_run += count;
  else
    f->seq_run = count;
  f->seq_end = off + count;
  r = st_read (f, p, count, off);
  if (r == 0 && f->seq_run > STREAM_AFTER && count >= 65536) {
    r = st_start (f, off);
    if (r == 0)
      r = st_read (f, p, count, off);
  }
  if (r != 0) {
    pthread_mutex_unlock (&f->mu);
    return r < 0 ? r : 0;
  }
  while (count > 0) {
    uint64_t idx = off / BLOCK;
    size_t in = (size_t) (off % BLOCK);
    struct block *b = lookup (f, idx);
    if (!b) {
      /* sequential: read further ahead each time, up to MAX_AHEAD */
      unsigned n, need = (unsigned) VD_DIV_ROUND_UP (in + count, BLOCK);
      if (idx == f->next_seq && f->ahead)
        f->ahead = VD_MIN (f->ahead * 2, MAX_AHEAD);
      else
        f->ahead = 1;
      n = VD_MAX (need, f->ahead);
      n = VD_MIN (n, MAX_AHEAD);
      /* stop at the first cached block or the end */
      for (unsigned k = 1; k < n; k++)
        if ((idx + k) * BLOCK >= f->size || lookup (f, idx + k)) {
          n = k;
          break;
        }
      r = fetch (f, idx, n);
      if (r < 0)
        break;
      f->next_seq = idx + n;
      b = lookup (f, idx);
      if (!b) {
        r = vd_error (VD_EIO, 0, "%s: cache", io->name);
        break;
      }
    }
    if (in >= b->len) {
      r = vd_error (VD_EIO, 0, "%s: short block", io->name);
      break;
    }
    size_t k = VD_MIN (count, b->len - in);
    memcpy (p, b->data + in, k);
    p += k;
    off += k;
    count -= k;
  }
  pthread_mutex_unlock (&f->mu);
  return r;
}

static int
https_pwrite (struct vd_io *io, const void *buf, size_t count, uint64_t off)
{
  (void) buf; (void) count; (void) off;
  return vd_error (VD_EROFS, 0, "%s: datastore files are read-only here",
                   io->name);
}

static int
https_flush (struct vd_io *io)
{
  (void) io;
  return 0;
}

static int
https_size (struct vd_io *io, uint64_t *size)
{
  *size = ((struct https_io *) io)->size;
  return 0;
}

static int
https_truncate (struct vd_io *io, uint64_t size)
{
  (void) size;
  return vd_error (VD_EROFS, 0, "%s: read-only", io->name);
}

static int
https_punch (struct vd_io *io, uint64_t off, uint64_t len)
{
  (void) off; (void) len;
  return vd_error (VD_EROFS, 0, "%s: read-only", io->name);
}

static void
https_close (struct vd_io *io)
{
  struct https_io *f = (struct https_io *) io;
  st_stop (f);
  if (f->st.h)
    curl_easy_cleanup (f->st.h);
  free (f->st.ring);
  pthread_mutex_destroy (&f->st.mu);
  pthread_cond_destroy (&f->st.cv);
  for (int i = 0; i < NBLOCKS; i++)
    free (f->blocks[i].data);
  if (f->h)
    curl_easy_cleanup (f->h);
  free (f->dc); free (f->ds); free (f->path); free (f->url);
  free (f->base); free (f->host);
  pthread_mutex_destroy (&f->mu);
  if (f->sops)
    f->sops->unref (f->sctx);
}

static const struct vd_io_ops https_ops = {
  .pread = https_pread,
  .pwrite = https_pwrite,
  .flush = https_flush,
  .size = https_size,
  .truncate = https_truncate,
  .punch_hole = https_punch,
  .seek_data = NULL,
  .close = https_close,
};

/* ---- opening ----------------------------------------------------------- */

/* https://HOST/folder/SEG/SEG?dcPath=DC&dsName=DS, every part escaped. */
static char *
folder_url (CURL *h, const char *base, const char *dc, const char *ds,
            const char *path)
{
  size_t cap = strlen (base) + 3 * (strlen (dc) + strlen (ds)
                                     + strlen (path)) + 64;
  char *u = malloc (cap), *e;
  const char *p = path;
  size_t k;

  if (!u)
    return NULL;
  k = (size_t) snprintf (u, cap, "%s/folder", base);
  while (*p) {
    size_t n = strcspn (p, "/");
    if (n) {
      e = curl_easy_escape (h, p, (int) n);
      if (!e) {
        free (u);
        return NULL;
      }
      k += (size_t) snprintf (u + k, cap - k, "/%s", e);
      curl_free (e);
    }
    p += n;
    if (*p == '/')
      p++;
  }
  e = curl_easy_escape (h, dc, 0);
  k += (size_t) snprintf (u + k, cap - k, "?dcPath=%s", e ? e : "");
  curl_free (e);
  e = curl_easy_escape (h, ds, 0);
  snprintf (u + k, cap - k, "&dsName=%s", e ? e : "");
  curl_free (e);
  return u;
}

int
vd__https_split_dspath (const char *dspath, char **ds, char **path)
{
  const char *e;
  char qb[96];
  size_t n;
  *ds = *path = NULL;
  if (!dspath || dspath[0] != '[' || !(e = strchr (dspath, ']'))
      || e == dspath + 1)
    return vd_error (VD_EINVAL, 0, "\"%s\": not a datastore path "
                     "(\"[datastore] folder/file\")",
                     dspath ? vd__quote (qb, sizeof qb, dspath,
                                         strlen (dspath)) : "");
  *ds = strndup (dspath + 1, (size_t) (e - dspath - 1));
  *path = strdup (e + 1 + strspn (e + 1, " "));
  if (!*ds || !*path) {
    free (*ds); free (*path);
    *ds = *path = NULL;
    return vd_error (VD_ENOMEM, errno, "path");
  }
  n = strlen (*path);
  if (!n || strstr (*path, "..") || (*path)[0] == '/' || (*path)[n - 1] == '/') {
    free (*ds); free (*path);
    *ds = *path = NULL;
    return vd_error (VD_EINVAL, 0, "%s: not a file path on the datastore",
                     vd__quote (qb, sizeof qb, dspath, strlen (dspath)));
  }
  return 0;
}

int
vd__io_https_open (struct vd_io **out, const struct vd_https_session *sops,
                   void *ctx, const char *base, const char *host,
                   const char *dc, const char *dspath, int rw)
{
  struct https_io *f;
  int r;

  *out = NULL;
  if (rw)
    return vd_error (VD_ENOTSUP, 0, "%s: datastore disks open read-only "
                     "(vd_vsphere_upload writes one)", dspath);
  f = calloc (1, sizeof *f);
  if (!f)
    return vd_error (VD_ENOMEM, errno, "https");
  pthread_mutex_init (&f->mu, NULL);
  pthread_mutex_init (&f->st.mu, NULL);
  pthread_cond_init (&f->st.cv, NULL);
  f->io.ops = &https_ops;
  f->io.fd = -1;
  f->sops = sops;
  f->sctx = ctx;
  sops->ref (ctx);
  r = vd__https_split_dspath (dspath, &f->ds, &f->path);
  if (r < 0)
    goto fail;
  f->dc = strdup (dc);
  f->base = strdup (base);
  f->host = strdup (host);
  f->io.name = vd__asprintf ("vsphere://%s/[%s] %s", host, f->ds, f->path);
  f->h = sops->curl (ctx);
  if (!f->io.name || !f->dc || !f->base || !f->host || !f->h) {
    r = f->h ? vd_error (VD_ENOMEM, errno, "https") : VD_ENOMEM;
    goto fail;
  }
  curl_easy_setopt (f->h, CURLOPT_TIMEOUT, 0L);
  f->url = folder_url (f->h, f->base, f->dc, f->ds, f->path);
  if (!f->url) {
    r = vd_error (VD_ENOMEM, errno, "https");
    goto fail;
  }
  r = ranged_get (f, 0, 1, (uint8_t[1]) { 0 }, 1);
  if (r < 0)
    goto fail;
  *out = &f->io;
  return 0;
fail:
  https_close (&f->io);
  free (f->io.name);
  free (f);
  return r;
}

/* name is relative to near's folder; with allow_dspath, a "[ds] path"
 * names any file on near's server (only for paths lib/disk.c built from
 * near's own folder: an extent name from a descriptor is always relative,
 * so a descriptor cannot reach another datastore). */
static int
open_near (struct vd_io **out, struct vd_io *near, const char *name, int rw,
           int allow_dspath)
{
  struct https_io *n = (struct https_io *) near;
  const char *slash;
  char *dspath;
  int r;

  *out = NULL;
  if (!vd__io_is_https (near))
    return vd_error (VD_EINVAL, 0, "%s: not a datastore file", name);
  if (allow_dspath && name[0] == '[')
    dspath = strdup (name);
  else if (name[0] == '/')
    return vd_error (VD_EINVAL, 0, "%s: an absolute path cannot name a "
                     "datastore file (use \"[datastore] path\")", name);
  else {
    slash = strrchr (n->path, '/');
    dspath = slash ? vd__asprintf ("[%s] %.*s/%s", n->ds,
                                   (int) (slash - n->path), n->path, name)
                   : vd__asprintf ("[%s] %s", n->ds, name);
  }
  if (!dspath)
    return vd_error (VD_ENOMEM, errno, "path");
  r = vd__io_https_open (out, n->sops, n->sctx, n->base, n->host, n->dc,
                         dspath, rw);
  free (dspath);
  return r;
}

int
vd__io_https_sibling (struct vd_io **out, struct vd_io *near,
                      const char *name, int rw)
{
  return open_near (out, near, name, rw, 0);
}

int
vd__io_https_parent (struct vd_io **out, struct vd_io *near,
                     const char *uri, int rw)
{
  struct https_io *n = (struct https_io *) near;
  size_t hl;

  *out = NULL;
  if (!vd__io_is_https (near))
    return vd_error (VD_EINVAL, 0, "%s: not a datastore file", uri);
  /* "vsphere://HOST/" then "[ds] folder/parent.vmdk", or "parent.vmdk"
   * beside a disk at the datastore's root (not escaped: the names
   * vd__io_https_open gives) */
  hl = strlen (n->host);
  if (strncmp (uri, "vsphere://", 10) != 0
      || strncmp (uri + 10, n->host, hl) != 0 || uri[10 + hl] != '/')
    return vd_error (VD_EINVAL, 0, "%s: a parent of %s must be on the "
                     "same server", uri, near->name);
  return open_near (out, near, uri + 11 + hl, rw, uri[11 + hl] == '[');
}

#endif /* VD_HAVE_VSPHERE */
