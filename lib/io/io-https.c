/* The datastore file I/O backend (io-https.h): a file on a vSphere
 * datastore read through the datastore HTTP file service,
 *   GET https://HOST/folder/PATH?dcPath=DC&dsName=DS   (Range: bytes=A-B)
 * with curl handles of the session that opened it (a vd_https_session
 * table: this tier never calls up), a block cache, and a parallel
 * read-ahead for sequential reads (https-ahead.c).  Read-only.
 *
 * The first request of every file asks for its first byte: the answer's
 * Content-Range gives the size, and a server that answers 200 (it
 * ignores Range) is refused there, before it sends the whole file.
 * Every later answer must be 206 with exactly the bytes asked for. */
#include "io/https-internal.h"

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
  return vd__error (VD_ENOTSUP, 0, "%s: no vSphere support", name);
}

int
vd__io_https_parent (struct vd_io **out, struct vd_io *near,
                     const char *uri, int rw)
{
  return vd__io_https_sibling (out, near, uri, rw);
}

#else /* VD_HAVE_VSPHERE */

#include "io/curl-dl.h"

#define BLOCK VD_HTTPS_BLOCK
#define NBLOCKS VD_HTTPS_NBLOCKS
#define MAX_AHEAD VD_HTTPS_MAX_AHEAD

static const struct vd_io_ops https_ops;

int
vd__io_is_https (const struct vd_io *io)
{
  return io && io->ops == &https_ops;
}

/* ---- block cache -------------------------------------------------------- */

static struct vd_https_block *
lookup (struct https_io *f, uint64_t idx)
{
  for (int i = 0; i < NBLOCKS; i++)
    if (f->blocks[i].valid && f->blocks[i].idx == idx) {
      f->blocks[i].used = ++f->tick;
      return &f->blocks[i];
    }
  return NULL;
}

static struct vd_https_block *
victim (struct https_io *f, uint64_t keep_from, uint64_t keep_to)
{
  struct vd_https_block *v = NULL;
  for (int i = 0; i < NBLOCKS; i++) {
    struct vd_https_block *b = &f->blocks[i];
    if (b->valid && b->idx >= keep_from && b->idx < keep_to)
      continue;
    if (!b->valid)
      return b;
    if (!v || b->used < v->used)
      v = b;
  }
  return v;
}

/* Fetch blocks [idx, idx+n) (all missing, n <= MAX_AHEAD) with one GET
 * straight into the cache blocks that will hold them. */
static int
fetch (struct https_io *f, uint64_t idx, unsigned n)
{
  uint64_t start = idx * BLOCK;
  uint64_t end = VD_MIN (f->size, (idx + n) * BLOCK);
  struct vd_https_block *b[MAX_AHEAD];
  uint8_t *dst[MAX_AHEAD];
  unsigned k, nb;
  int r = 0;

  if (start >= end || n > MAX_AHEAD)
    return vd__error (VD_EIO, 0, "%s: read past the end", f->io.name);
  nb = (unsigned) VD_DIV_ROUND_UP (end - start, BLOCK);
  for (k = 0; k < nb; k++) {
    /* taken (valid, inside the range victim keeps) until the GET ends */
    b[k] = victim (f, idx, idx + n);
    b[k]->valid = 1;
    b[k]->idx = idx + k;
    b[k]->len = (size_t) VD_MIN ((uint64_t) BLOCK,
                                 end - start - (uint64_t) k * BLOCK);
    b[k]->used = ++f->tick;
    if (!b[k]->data && !(b[k]->data = malloc (BLOCK))) {
      r = vd__error (VD_ENOMEM, errno, "%s: cache", f->io.name);
      nb = k + 1;
      break;
    }
    dst[k] = b[k]->data;
  }
  if (r == 0)
    r = vd__https_get_blocks (f, f->h, start, end - start, dst);
  if (r < 0)
    for (k = 0; k < nb; k++)
      b[k]->valid = 0;
  return r;
}

/* Read through the block cache: a miss fetches the blocks needed, and
 * further ahead each time while misses are sequential. */
static int
cache_read (struct https_io *f, uint8_t *p, size_t count, uint64_t off)
{
  while (count > 0) {
    uint64_t idx = off / BLOCK;
    size_t in = (size_t) (off % BLOCK);
    struct vd_https_block *b = lookup (f, idx);
    if (!b) {
      unsigned n, need = (unsigned) VD_DIV_ROUND_UP (in + count, BLOCK);
      int r;
      if (idx == f->next_seq && f->ahead)
        f->ahead = VD_MIN (f->ahead * 2, MAX_AHEAD);
      else
        f->ahead = 1;
      n = VD_MIN (VD_MAX (need, f->ahead), MAX_AHEAD);
      /* stop at the first cached block or the end */
      for (unsigned k = 1; k < n; k++)
        if ((idx + k) * BLOCK >= f->size || lookup (f, idx + k)) {
          n = k;
          break;
        }
      if ((r = fetch (f, idx, n)) < 0)
        return r;
      f->next_seq = idx + n;
      if (!(b = lookup (f, idx)))
        return vd__error (VD_EIO, 0, "%s: cache", f->io.name);
    }
    if (in >= b->len)
      return vd__error (VD_EIO, 0, "%s: short block", f->io.name);
    size_t k = VD_MIN (count, b->len - in);
    memcpy (p, b->data + in, k);
    p += k;
    off += k;
    count -= k;
  }
  return 0;
}

static int
https_pread (struct vd_io *io, void *buf, size_t count, uint64_t off)
{
  struct https_io *f = (struct https_io *) io;
  int r;

  if (count == 0)
    return 0;
  if (off > f->size || count > f->size - off)
    return vd__error (VD_EIO, 0, "%s: read of %zu bytes at %llu past the end "
                     "(%llu)", io->name, count, (unsigned long long) off,
                     (unsigned long long) f->size);
  pthread_mutex_lock (&f->mu);
  /* sequential runs go to the parallel read-ahead; other reads (a grain
   * table, say) go to the block cache and leave the read-ahead be */
  if (off == f->seq_end)
    f->seq_run += count;
  else
    f->seq_run = count;
  f->seq_end = off + count;
  r = vd__https_ahead_read (f, buf, count, off);
  if (r == 0 && f->seq_run > VD_HTTPS_AH_AFTER && count >= 65536) {
    /* the read-ahead is an optimisation: when it cannot start, this
     * read is one GET of its own */
    if (vd__https_ahead_start (f, off) == 0)
      r = vd__https_ahead_read (f, buf, count, off);
    else {
      vd__error_clear ();
      r = vd__https_get (f, f->h, off, count, buf, 0, NULL);
      r = r < 0 ? r : 1;
    }
  }
  if (r == 0)
    r = cache_read (f, buf, count, off);
  pthread_mutex_unlock (&f->mu);
  return r < 0 ? r : 0;
}

static int
https_pwrite (struct vd_io *io, const void *buf, size_t count, uint64_t off)
{
  (void) buf; (void) count; (void) off;
  return vd__error (VD_EROFS, 0, "%s: datastore files are read-only here",
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
  return vd__error (VD_EROFS, 0, "%s: read-only", io->name);
}

static int
https_punch (struct vd_io *io, uint64_t off, uint64_t len)
{
  (void) off; (void) len;
  return vd__error (VD_EROFS, 0, "%s: read-only", io->name);
}

static void
https_close (struct vd_io *io)
{
  struct https_io *f = (struct https_io *) io;
  vd__https_ahead_free (f);
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
char *
vd__https_folder_url (void *h, const char *base, const char *dc,
                      const char *ds, const char *path)
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

/* Does path have a ".." component ("a/../b", "..", "a/..")?  A name
 * that merely contains two dots ("disk..1.vmdk") does not. */
static int
has_dotdot (const char *path)
{
  for (const char *p = path; *p;) {
    size_t n = strcspn (p, "/");
    if (n == 2 && p[0] == '.' && p[1] == '.')
      return 1;
    p += n;
    if (*p == '/')
      p++;
  }
  return 0;
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
    return vd__error (VD_EINVAL, 0, "\"%s\": not a datastore path "
                     "(\"[datastore] folder/file\")",
                     dspath ? vd__quote (qb, sizeof qb, dspath,
                                         strlen (dspath)) : "");
  *ds = strndup (dspath + 1, (size_t) (e - dspath - 1));
  *path = strdup (e + 1 + strspn (e + 1, " "));
  if (!*ds || !*path) {
    free (*ds); free (*path);
    *ds = *path = NULL;
    return vd__error (VD_ENOMEM, errno, "path");
  }
  n = strlen (*path);
  if (!n || has_dotdot (*path) || (*path)[0] == '/'
      || (*path)[n - 1] == '/') {
    free (*ds); free (*path);
    *ds = *path = NULL;
    return vd__error (VD_EINVAL, 0, "%s: not a file path on the datastore",
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
    return vd__error (VD_ENOTSUP, 0, "%s: datastore disks open read-only "
                     "(vd_vsphere_upload writes one)", dspath);
  if ((r = vd__curl_load (dspath)) < 0)
    return r;
  f = calloc (1, sizeof *f);
  if (!f)
    return vd__error (VD_ENOMEM, errno, "https");
  pthread_mutex_init (&f->mu, NULL);
  vd__https_ahead_init (f);
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
    r = f->h ? vd__error (VD_ENOMEM, errno, "https") : VD_ENOMEM;
    goto fail;
  }
  curl_easy_setopt (f->h, CURLOPT_TIMEOUT, 0L);
  f->url = vd__https_folder_url (f->h, f->base, f->dc, f->ds, f->path);
  if (!f->url) {
    r = vd__error (VD_ENOMEM, errno, "https");
    goto fail;
  }
  r = vd__https_get (f, f->h, 0, 1, (uint8_t[1]) { 0 }, 1, NULL);
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
    return vd__error (VD_EINVAL, 0, "%s: not a datastore file", name);
  if (allow_dspath && name[0] == '[')
    dspath = strdup (name);
  else if (name[0] == '/')
    return vd__error (VD_EINVAL, 0, "%s: an absolute path cannot name a "
                     "datastore file (use \"[datastore] path\")", name);
  else {
    slash = strrchr (n->path, '/');
    dspath = slash ? vd__asprintf ("[%s] %.*s/%s", n->ds,
                                   (int) (slash - n->path), n->path, name)
                   : vd__asprintf ("[%s] %s", n->ds, name);
  }
  if (!dspath)
    return vd__error (VD_ENOMEM, errno, "path");
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
    return vd__error (VD_EINVAL, 0, "%s: not a datastore file", uri);
  /* "vsphere://HOST/" then "[ds] folder/parent.vmdk", or "parent.vmdk"
   * beside a disk at the datastore's root (not escaped: the names
   * vd__io_https_open gives) */
  hl = strlen (n->host);
  if (strncmp (uri, "vsphere://", 10) != 0
      || strncmp (uri + 10, n->host, hl) != 0 || uri[10 + hl] != '/')
    return vd__error (VD_EINVAL, 0, "%s: a parent of %s must be on the "
                     "same server", uri, near->name);
  return open_near (out, near, uri + 11 + hl, rw, uri[11 + hl] == '[');
}

#endif /* VD_HAVE_VSPHERE */
