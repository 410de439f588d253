/* The NBD I/O backend: a disk served over NBD (nbd://, nbds://,
 * nbd+unix://, nbds+unix://) read and written through libnbd, as a raw
 * image (lib/disk.c opens it with VD_OPEN_RAW).  Also the password-to-PSK
 * key derivation shared by `vdisk user`, the client and the VixDiskLib
 * layer.
 *
 * Optional (mk/config.mk): without libnbd (VD_HAVE_LIBNBD unset) the
 * client below is a stub whose calls fail with VD_ENOTSUP ("built without
 * libnbd"); without nettle (VD_HAVE_NETTLE unset) so does the key
 * derivation.
 *
 * This file: key derivation, connecting (TLS, refusals), open and close,
 * the server's meta: exports, listing exports.  The request engine,
 * reads and block status are io-nbd-engine.c, io-nbd-readahead.c and
 * io-nbd-bs.c (design in io-nbd.h). */

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#ifdef VD_HAVE_LIBNBD
#include "io-nbd.h"
#else
#include "io/io.h"
#endif
#ifdef VD_HAVE_NETTLE
#include <nettle/pbkdf2.h>
#endif

#define PSK_SALT_PREFIX "vdisk-nbd-psk:"

/* ---- key derivation ---------------------------------------------------- */

VD_API int
vd_nbd_user_ok (const char *user)
{
  size_t n = user ? strlen (user) : 0;
  if (n == 0 || n > 64)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!isalnum ((unsigned char) user[i]) && !strchr ("._@-", user[i]))
      return 0;
  return 1;
}

VD_API int
vd_nbd_psk_derive (char *hex, size_t hexsz, const char *user,
                   const char *password)
{
  VD_ENTER ();
#ifdef VD_HAVE_NETTLE
  uint8_t key[32];
  char *salt;
#endif

  if (!hex || hexsz < VD_NBD_PSK_HEX_SIZE || !password)
    return vd__error (VD_EINVAL, 0, "psk: bad arguments");
  if (!vd_nbd_user_ok (user))
    return vd__error (VD_EINVAL, 0, "psk: user name '%s' is not allowed "
                     "(1-64 of A-Z a-z 0-9 . _ @ -)", user ? user : "");
#ifndef VD_HAVE_NETTLE
  return vd__error (VD_ENOTSUP, 0, "psk: vdisk was built without nettle "
                   "(no key derivation)");
#else
  salt = vd__asprintf ("%s%s", PSK_SALT_PREFIX, user);
  if (!salt)
    return vd__error (VD_ENOMEM, errno, "psk");
  pbkdf2_hmac_sha256 (strlen (password), (const uint8_t *) password,
                      VD_NBD_PSK_ITERATIONS, strlen (salt),
                      (const uint8_t *) salt, sizeof key, key);
  free (salt);
  for (size_t i = 0; i < sizeof key; i++)
    snprintf (hex + 2 * i, 3, "%02x", key[i]);
  explicit_bzero (key, sizeof key);
  return 0;
#endif
}

/* ---- the backend: connections and the disk ----------------------------- */

#ifdef VD_HAVE_LIBNBD

static void
nbdio_close (struct vd_io *io)
{
  struct nbd_io *nio = (struct nbd_io *) io;
  const char *stats = getenv ("VDISK_NBD_STATS");
  if (stats && *stats && nio->n)
    fprintf (stderr, "vdisk-nbd-stats: %s: connections %u, requests %llu, "
             "failed %llu, out of order %llu, read-ahead hits %llu, most in "
             "flight on one connection %u\n", io->name, nio->n,
             (unsigned long long) nio->n_req,
             (unsigned long long) nio->n_failed,
             (unsigned long long) nio->n_ooo,
             (unsigned long long) nio->n_ra_hit, nio->max_inflight);
  if (nio->sync_ok) {
    /* read-ahead still in flight lands in our buffers: let it finish
     * (a dead connection's requests were failed by libnbd) */
    pthread_mutex_lock (&nio->mu);
    for (;;) {
      unsigned busy = 0;
      for (unsigned i = 0; i < nio->n; i++)
        busy += nio->inflight[i];
      if (!busy)
        break;
      vd__nbd_wait (nio);
    }
    pthread_mutex_unlock (&nio->mu);
  }
  vd__nbd_conns_stop (nio);
  for (unsigned i = 0; i < nio->n; i++) {
    nbd_shutdown (nio->h[i], 0);
    nbd_close (nio->h[i]);
  }
  nio->n = 0;
  for (unsigned i = 0; i < RA_SLOTS; i++) {
    free (nio->slots[i].buf);
    nio->slots[i].buf = NULL;
  }
  free (nio->ext);
  nio->ext = NULL;
  free (nio->again);
  nio->again = NULL;
  if (nio->sync_ok) {
    pthread_mutex_destroy (&nio->mu);
    pthread_cond_destroy (&nio->cv);
    nio->sync_ok = 0;
  }
  if (nio->memfd >= 0)
    close (nio->memfd);
  nio->memfd = -1;
  free (nio->user);
  nio->user = NULL;
}

static const struct vd_io_ops nbd_ops = {
  .pread = vd__nbdio_pread,
  .pwrite = vd__nbdio_pwrite,
  .flush = vd__nbdio_flush,
  .size = vd__nbdio_size,
  .truncate = vd__nbdio_truncate,
  .punch_hole = vd__nbdio_punch_hole,
  .seek_data = vd__nbdio_seek_data,
  .close = nbdio_close,
};

/* The user part of a URI (between "://" and '@' before the path), or
 * NULL.  Percent escapes are not decoded: user names are plain. */
static char *
uri_user (const char *uri)
{
  const char *p = strstr (uri, "://"), *at, *end;
  char *u;
  if (!p)
    return NULL;
  p += 3;
  end = p + strcspn (p, "/?#");
  at = memchr (p, '@', (size_t) (end - p));
  if (!at)
    return NULL;
  u = strndup (p, (size_t) (at - p));
  if (u && strchr (u, ':'))
    *strchr (u, ':') = '\0';    /* user:password is not used */
  return u;
}

/* A memfd holding "user:hexkey": the key never touches a disk. */
static int
psk_memfd (const char *name, const char *user, const char *password)
{
  char hex[VD_NBD_PSK_HEX_SIZE], *line;
  int fd, r;

  r = vd_nbd_psk_derive (hex, sizeof hex, user, password);
  if (r < 0)
    return r;
  line = vd__asprintf ("%s:%s\n", user, hex);
  explicit_bzero (hex, sizeof hex);
  if (!line)
    return vd__error (VD_ENOMEM, errno, "%s: psk", name);
  fd = memfd_create ("vdisk-nbd-psk", MFD_CLOEXEC);
  if (fd < 0 || write (fd, line, strlen (line)) != (ssize_t) strlen (line)) {
    int e = errno;
    explicit_bzero (line, strlen (line));
    free (line);
    if (fd >= 0)
      close (fd);
    return vd__error (VD_EIO, e, "%s: memfd for the TLS key", name);
  }
  explicit_bzero (line, strlen (line));
  free (line);
  return fd;
}

/* ---- why the server refused an export --------------------------------- */

#define STATUS_HEADER "# vdisk-status 1\n"
#define META_HEADER "# vdisk-meta 1\n"
#define MAX_TEXT_EXPORT (1u << 20)  /* as VD_MAX_DESC_BYTES */

/* Read the whole (small) export h is connected to, NUL-terminated. */
static int
read_text (struct nbd_handle *h, const char *name, char **text, size_t *len)
{
  int64_t size = nbd_get_size (h);
  char *buf;

  *text = NULL;
  if (size < 0)
    return vd__nbd_fail (name, "size");
  if ((uint64_t) size > MAX_TEXT_EXPORT)
    return vd__error (VD_ECORRUPT, 0, "%s: the server's text export is "
                     "%lld bytes (at most %u)", name, (long long) size,
                     MAX_TEXT_EXPORT);
  buf = malloc ((size_t) size + 1);
  if (!buf)
    return vd__error (VD_ENOMEM, errno, "%s", name);
  if (size > 0 && nbd_pread (h, buf, (size_t) size, 0, 0) < 0) {
    free (buf);
    return vd__nbd_fail (name, "read");
  }
  buf[size] = '\0';
  if (strlen (buf) != (size_t) size) {
    free (buf);
    return vd__error (VD_ECORRUPT, 0, "%s: the server's text export holds "
                     "a NUL byte", name);
  }
  *text = buf;
  *len = (size_t) size;
  return 0;
}

static const struct { const char *name; int code, errnum; } refusals[] = {
  { "EEXIST", VD_EEXIST, EEXIST }, { "ENOENT", VD_ENOENT, ENOENT },
  { "EDQUOT", VD_ENOSPC, EDQUOT }, { "ENOSPC", VD_ENOSPC, ENOSPC },
  { "EROFS", VD_EROFS, EROFS }, { "EBUSY", VD_ELOCKED, EBUSY },
  { "EINVAL", VD_EINVAL, EINVAL }, { "EOPNOTSUPP", VD_ENOTSUP, EOPNOTSUPP },
  /* a refusal by the server's rules, not a TLS login (EACCES) */
  { "EPERM", VD_EIO, EPERM }, { "EACCES", VD_EIO, EPERM },
};

/* Say goodbye before closing (no "non-properly terminated" on the
 * server), whether h got an export or is still negotiating. */
static void
hangup (struct nbd_handle *h)
{
  if (nbd_aio_is_ready (h) == 1)
    nbd_shutdown (h, 0);
  else if (nbd_aio_is_negotiating (h) == 1)
    nbd_opt_abort (h);
  nbd_close (h);
}

/* The server refused export name on handle h (still negotiating): ask a
 * vdisk server why through its status: export, and report that. */
static int
export_refused (struct nbd_handle *h, const char *uri)
{
  const char *m = nbd_get_error ();
  char *lib_msg = strdup (m ? m : "refused");
  char *name = nbd_get_export_name (h), *status = NULL, *text = NULL;
  size_t len;
  int r;

  if (!lib_msg || !name) {
    free (lib_msg);
    free (name);
    return vd__error (VD_ENOMEM, errno, "%s", uri);
  }
  if (asprintf (&status, "status:%s", name) >= 0
      && nbd_set_export_name (h, status) == 0 && nbd_opt_go (h) == 0
      && read_text (h, uri, &text, &len) == 0
      && strncmp (text, STATUS_HEADER, strlen (STATUS_HEADER)) == 0) {
    char *line = text + strlen (STATUS_HEADER), *sp = strchr (line, ' ');
    char *nl = strchr (line, '\n');
    if (nl)
      *nl = '\0';
    if (sp && strncmp (line, "OK ", 3) != 0) {
      int code = VD_EIO, errnum = EIO;
      *sp = '\0';
      for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++)
        if (strcmp (line, refusals[i].name) == 0) {
          code = refusals[i].code;
          errnum = refusals[i].errnum;
        }
      r = vd__error (code, errnum, "%s: the server refused: %s", uri, sp + 1);
      goto out;
    }
  }
  /* Not a vdisk server, or it kept no reason. */
  r = vd__error (VD_ENOENT, ENOENT, "%s: the server refused export '%s' "
                "(it gave no reason): %s", uri, name, lib_msg);
out:
  free (text);
  free (status);
  free (name);
  free (lib_msg);
  return r;
}

/* One connection, configured from the environment first so that what the
 * URI says wins.  export, when given, replaces the URI's export name.  A
 * refused login (TLS) fails in nbd_connect_uri, a refused export in
 * nbd_opt_go: they are reported apart. */
int
vd__nbd_connect_one (struct nbd_handle **out, const char *uri, const char *user,
             const char *psk_path, const char *export)
{
  struct nbd_handle *h;
  const char *env;
  int r;
  *out = NULL;
  if ((r = vd__nbd_load (uri)) < 0)
    return r;
  h = nbd_create ();
  if (!h)
    return vd__nbd_fail (uri, "nbd_create");
  nbd_set_handle_name (h, "vdisk");
  /* No zeroing of every read buffer by libnbd (a memset of all the data
   * read, 9% of `vdisk cat`'s CPU): no byte of a failed read is ever
   * used.  A failed request fails the whole pread call (the caller gets
   * an error, cat writes only what earlier calls returned), a failed
   * read-ahead buffer is never copied out (SLOT_FAILED, read again on
   * demand), read_text frees its buffer on failure; a successful read
   * is one libnbd saw covered by the server's reply.  The read-ahead
   * buffers start zeroed (calloc), so even a misbehaving server cannot
   * make them show this process's old heap. */
  if (nbd_set_pread_initialize (h, false) < 0
      || nbd_add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION) < 0
      || nbd_set_uri_allow_local_file (h, true) < 0
      || nbd_set_opt_mode (h, true) < 0)
    goto fail;
  if ((env = getenv ("VDISK_NBD_TLS_CERTIFICATES")) && *env
      && nbd_set_tls_certificates (h, env) < 0)
    goto fail;
  if (psk_path && nbd_set_tls_psk_file (h, psk_path) < 0)
    goto fail;
  if (user && nbd_set_tls_username (h, user) < 0)
    goto fail;
  if (nbd_connect_uri (h, uri) < 0)
    goto fail;
  if (export && nbd_set_export_name (h, export) < 0)
    goto fail;
  if (nbd_opt_go (h) < 0) {
    r = export_refused (h, uri);
    hangup (h);
    return r;
  }
  *out = h;
  return 0;
fail:
  r = vd__nbd_fail (uri, "connect");
  nbd_close (h);
  return r;
}

static char *server_path (struct nbd_io *nio);

int
vd__io_nbd_open (struct vd_io **out, const char *uri, int rw)
{
  struct nbd_io *nio;
  char *user = uri_user (uri), psk_path[64] = "";
  const char *env, *password = getenv ("VDISK_NBD_PASSWORD");
  unsigned want = 4;             /* as nbdcopy, when the server allows */
  int memfd = -1, r;
  int64_t size;

  *out = NULL;
  if (!user && (env = getenv ("VDISK_NBD_USER")) && *env)
    user = strdup (env);
  if (password && *password) {
    if (!user) {
      free (user);
      return vd__error (VD_EINVAL, 0, "%s: VDISK_NBD_PASSWORD needs a user "
                       "name (USER@ in the URI or VDISK_NBD_USER)", uri);
    }
    memfd = psk_memfd (uri, user, password);
    if (memfd < 0) {
      free (user);
      return memfd;
    }
    snprintf (psk_path, sizeof psk_path, "/proc/self/fd/%d", memfd);
  }
  else if ((env = getenv ("VDISK_NBD_PSK_FILE")) && *env)
    snprintf (psk_path, sizeof psk_path, "%.63s", env);
  if ((env = getenv ("VDISK_NBD_CONNECTIONS")) && *env) {
    long v = strtol (env, NULL, 10);
    want = v < 1 ? 1 : v > NBD_MAX_CONNS ? NBD_MAX_CONNS : (unsigned) v;
  }

  nio = calloc (1, sizeof *nio);
  if (!nio || !(nio->io.name = strdup (uri))) {
    free (nio);
    r = vd__error (VD_ENOMEM, errno, "%s", uri);
    goto out;
  }
  nio->io.ops = &nbd_ops;
  nio->io.fd = -1;
  nio->memfd = -1;
  for (unsigned i = 0; i < NBD_MAX_CONNS; i++)
    nio->wfd[i] = -1;
  nio->sq_tail = &nio->sq_head;
  if (pthread_mutex_init (&nio->mu, NULL) != 0) {
    r = vd__error (VD_ENOMEM, 0, "%s: mutex", uri);
    goto fail;
  }
  if (pthread_cond_init (&nio->cv, NULL) != 0) {
    pthread_mutex_destroy (&nio->mu);
    r = vd__error (VD_ENOMEM, 0, "%s: condition variable", uri);
    goto fail;
  }
  nio->sync_ok = 1;
  r = vd__nbd_connect_one (&nio->h[0], uri, user, psk_path[0] ? psk_path : NULL,
                   NULL);
  if (r < 0)
    goto fail;
  nio->n = 1;
  if ((r = vd__nbd_conn_start (nio, 0)) < 0)
    goto fail;
  /* requests of CHUNK bytes, or the server's maximum block size if less;
   * the read-ahead window in requests of that size */
  int64_t maxb = nbd_get_block_size (nio->h[0], LIBNBD_SIZE_MAXIMUM);
  nio->chunk = maxb >= 4096 && (uint64_t) maxb < CHUNK ? (uint32_t) maxb
               : CHUNK;
  unsigned long long ra = RA_DEFAULT;
  if ((env = getenv ("VDISK_NBD_READAHEAD")) && *env)
    ra = VD_MIN (strtoull (env, NULL, 10), (unsigned long long) RA_MAX);
  nio->ra_slots = (unsigned) VD_MIN (ra / nio->chunk,
                                     (unsigned long long) RA_SLOTS);
  size = nbd_get_size (nio->h[0]);
  if (size <= 0) {
    r = size < 0 ? vd__nbd_fail (uri, "size")
        : vd__error (VD_EINVAL, 0, "%s: the export is empty", uri);
    goto fail;
  }
  nio->size = (uint64_t) size;
  if (rw && nbd_is_read_only (nio->h[0]) == 1) {
    r = vd__error (VD_EROFS, 0, "%s: the server exports this disk "
                  "read-only", uri);
    goto fail;
  }
  nio->can_flush = nbd_can_flush (nio->h[0]) == 1;
  nio->can_zero = rw && nbd_can_zero (nio->h[0]) == 1;
  nio->has_bs = nbd_can_meta_context (nio->h[0],
                                      LIBNBD_CONTEXT_BASE_ALLOCATION) == 1;
  nio->want = 1;
  if (want > 1 && nbd_can_multi_conn (nio->h[0]) == 1) {
    /* more connections when busy (maybe_grow); they open the disk the
     * first one opened: PATH, not create:TYPE:BYTES:PATH (which would
     * make it again) */
    char *name = nbd_get_export_name (nio->h[0]);
    if (name && strncmp (name, "create:", 7) == 0)
      nio->again = server_path (nio);
    if (name && (strncmp (name, "create:", 7) != 0 || nio->again))
      nio->want = want;
    free (name);
  }
  /* kept for side connections (metadata) */
  nio->user = user;
  user = NULL;
  nio->memfd = memfd;
  memfd = -1;
  snprintf (nio->psk_path, sizeof nio->psk_path, "%s", psk_path);
  *out = &nio->io;
  r = 0;
  goto out;
fail:
  nbdio_close (&nio->io);
  free (nio->io.name);
  free (nio);
out:
  if (memfd >= 0)
    close (memfd);
  free (user);
  return r;
}

/* ---- the disk database of a disk on a vdisk server ---------------------- */

/* The disk's path on the server: the export name, or PATH of a
 * create:TYPE[,OPTIONS]:BYTES:PATH name (the disk it made). */
static char *
server_path (struct nbd_io *nio)
{
  char *name = nbd_get_export_name (nio->h[0]), *p;
  if (!name || strncmp (name, "create:", 7) != 0)
    return name;
  p = strchr (name + 7, ':');
  p = p ? strchr (p + 1, ':') : NULL;
  if (!p) {
    free (name);
    return NULL;
  }
  memmove (name, p + 1, strlen (p + 1) + 1);
  return name;
}

/* Open export on the server of io (same URI and credentials), read its
 * text and disconnect. */
static int
side_text (struct nbd_io *nio, const char *export, char **text)
{
  struct nbd_handle *h;
  size_t len;
  int r = vd__nbd_connect_one (&h, nio->io.name, nio->user,
                       nio->psk_path[0] ? nio->psk_path : NULL, export);
  if (r < 0)
    return r;
  r = read_text (h, nio->io.name, text, &len);
  hangup (h);
  return r;
}

int
vd__io_nbd_get_meta (struct vd_io *io, char **text)
{
  struct nbd_io *nio = (struct nbd_io *) io;
  char *path, *export = NULL, *t = NULL;
  int r;

  *text = NULL;
  if (io->ops != &nbd_ops)
    return 0;
  path = server_path (nio);
  if (!path || asprintf (&export, "meta:%s", path) < 0) {
    free (path);
    return vd__error (VD_ENOMEM, errno, "%s", io->name);
  }
  free (path);
  r = side_text (nio, export, &t);
  free (export);
  if (r < 0 || strncmp (t, META_HEADER, strlen (META_HEADER)) != 0) {
    /* not a vdisk server (or an older one): a disk without metadata */
    free (t);
    vd__error_clear ();
    return 0;
  }
  *text = t;
  return 0;
}

int
vd__io_nbd_set_meta (struct vd_io *io, const char *key, const char *value)
{
  struct nbd_io *nio = (struct nbd_io *) io;
  char *path, *export = NULL, *t = NULL;
  int r, n;

  if (io->ops != &nbd_ops)
    return vd__error (VD_ENOTSUP, 0, "%s: not an NBD disk", io->name);
  path = server_path (nio);
  n = !path ? -1 : value ? asprintf (&export, "meta-set:%s=%s:%s", key,
                                     value, path)
      : asprintf (&export, "meta-set:%s:%s", key, path);
  free (path);
  if (n < 0)
    return vd__error (VD_ENOMEM, errno, "%s", io->name);
  r = side_text (nio, export, &t);
  free (export);
  if (r == 0 && strncmp (t, META_HEADER, strlen (META_HEADER)) != 0)
    r = vd__error (VD_ENOTSUP, 0, "%s: the server does not keep disk "
                  "metadata (not a vdisk server)", io->name);
  free (t);
  return r;
}

/* ---- listing exports ---------------------------------------------------- */

struct list_ctx {
  vd_nbd_export_cb cb;
  void *payload;
  int stop;
};

static int
list_cb (void *user_data, const char *name, const char *description)
{
  struct list_ctx *c = user_data;
  if (!c->stop && c->cb)
    c->stop = c->cb (name, description, c->payload);
  return 0;
}

VD_API int
vd_nbd_list_exports (const char *uri, vd_nbd_export_cb cb, void *payload)
{
  VD_ENTER ();
  struct nbd_handle *h;
  char *user, psk_path[64] = "";
  const char *env, *password = getenv ("VDISK_NBD_PASSWORD");
  struct list_ctx ctx = { cb, payload, 0 };
  int memfd = -1, r = 0;

  if (!uri || !vd__is_uri (uri))
    return vd__error (VD_EINVAL, 0, "%s: not an NBD URI", uri ? uri : "");
  if ((r = vd__nbd_load (uri)) < 0)
    return r;
  user = uri_user (uri);
  if (!user && (env = getenv ("VDISK_NBD_USER")) && *env)
    user = strdup (env);
  if (password && *password && user) {
    memfd = psk_memfd (uri, user, password);
    if (memfd < 0) {
      free (user);
      return memfd;
    }
    snprintf (psk_path, sizeof psk_path, "/proc/self/fd/%d", memfd);
  }
  else if ((env = getenv ("VDISK_NBD_PSK_FILE")) && *env)
    snprintf (psk_path, sizeof psk_path, "%.63s", env);

  h = nbd_create ();
  if (!h) {
    r = vd__nbd_fail (uri, "nbd_create");
    goto out;
  }
  nbd_set_handle_name (h, "vdisk");
  if (nbd_set_opt_mode (h, true) < 0
      || nbd_set_uri_allow_local_file (h, true) < 0
      || ((env = getenv ("VDISK_NBD_TLS_CERTIFICATES")) && *env
          && nbd_set_tls_certificates (h, env) < 0)
      || (psk_path[0] && nbd_set_tls_psk_file (h, psk_path) < 0)
      || (user && nbd_set_tls_username (h, user) < 0)
      || nbd_connect_uri (h, uri) < 0) {
    r = vd__nbd_fail (uri, "connect");
    nbd_close (h);
    goto out;
  }
  nbd_list_callback lcb = { .callback = list_cb, .user_data = &ctx };
  if (nbd_opt_list (h, lcb) < 0)
    r = vd__nbd_fail (uri, "list exports");
  nbd_opt_abort (h);
  nbd_close (h);
out:
  if (memfd >= 0)
    close (memfd);
  free (user);
  return r;
}

#else /* !VD_HAVE_LIBNBD */

/* ---- without libnbd: the client answers VD_ENOTSUP ---------------------- */

static int
no_libnbd (const char *uri)
{
  return vd__error (VD_ENOTSUP, 0, "%s: vdisk was built without libnbd, so "
                   "it cannot open NBD URIs (rebuild with libnbd-dev)",
                   uri ? uri : "");
}

int
vd__io_nbd_open (struct vd_io **out, const char *uri, int rw)
{
  (void) rw;
  *out = NULL;
  return no_libnbd (uri);
}

int
vd__io_nbd_get_meta (struct vd_io *io, char **text)
{
  (void) io;
  *text = NULL;
  return no_libnbd (NULL);
}

int
vd__io_nbd_set_meta (struct vd_io *io, const char *key, const char *value)
{
  (void) io;
  (void) key;
  (void) value;
  return no_libnbd (NULL);
}

VD_API int
vd_nbd_list_exports (const char *uri, vd_nbd_export_cb cb, void *payload)
{
  VD_ENTER ();
  (void) cb;
  (void) payload;
  if (!uri || !vd__is_uri (uri))
    return vd__error (VD_EINVAL, 0, "%s: not an NBD URI", uri ? uri : "");
  return no_libnbd (uri);
}

#endif /* VD_HAVE_LIBNBD */
