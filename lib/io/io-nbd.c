/* The NBD I/O backend: a disk served over NBD (nbd://, nbds://,
 * nbd+unix://, nbds+unix://) read and written through libnbd, as a raw
 * image (lib/disk.c opens it with VD_OPEN_RAW).  Also the password-to-PSK
 * key derivation shared by `vdisk user`, the client and the VixDiskLib
 * layer. */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <libnbd.h>
#include <nettle/pbkdf2.h>

#define NBD_MAX_CONNS 8
#define NBD_MAX_REQUEST (32u << 20)  /* split bigger requests */
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
  uint8_t key[32];
  char *salt;

  if (!hex || hexsz < VD_NBD_PSK_HEX_SIZE || !password)
    return vd_error (VD_EINVAL, 0, "psk: bad arguments");
  if (!vd_nbd_user_ok (user))
    return vd_error (VD_EINVAL, 0, "psk: user name '%s' is not allowed "
                     "(1-64 of A-Z a-z 0-9 . _ @ -)", user ? user : "");
  salt = vd__asprintf ("%s%s", PSK_SALT_PREFIX, user);
  if (!salt)
    return vd_error (VD_ENOMEM, errno, "psk");
  pbkdf2_hmac_sha256 (strlen (password), (const uint8_t *) password,
                      VD_NBD_PSK_ITERATIONS, strlen (salt),
                      (const uint8_t *) salt, sizeof key, key);
  free (salt);
  for (size_t i = 0; i < sizeof key; i++)
    snprintf (hex + 2 * i, 3, "%02x", key[i]);
  explicit_bzero (key, sizeof key);
  return 0;
}

/* ---- the backend -------------------------------------------------------- */

struct nbd_io {
  struct vd_io io;              /* first: vd__io_close frees the pointer */
  struct nbd_handle *h[NBD_MAX_CONNS];
  unsigned n;
  unsigned next;                /* round robin (atomic) */
  uint64_t size;
  int can_zero, can_flush, has_bs;
  /* for the side connections to the server's meta: exports */
  char *user;
  char psk_path[64];
  int memfd;                    /* the derived key, or -1 */
};

static struct nbd_handle *
pick (struct nbd_io *nio)
{
  unsigned i = __atomic_fetch_add (&nio->next, 1, __ATOMIC_RELAXED);
  return nio->h[i % nio->n];
}

/* An error from libnbd: its message, and EACCES for a refused TLS login
 * so callers (VixDiskLib) can tell wrong credentials from other errors. */
static int
nbd_fail (const char *name, const char *what)
{
  const char *msg = nbd_get_error ();
  int e = nbd_get_errno ();
  if (!msg)
    msg = "unknown error";
  if (strstr (msg, "handshake") || strstr (msg, "psk")
      || strstr (msg, "PSK") || strstr (msg, "decryption")
      || strstr (msg, "TLS") || strstr (msg, "tls"))
    return vd_error (VD_EIO, EACCES, "%s: %s: TLS refused (wrong user "
                     "name or key, or TLS not configured): %s", name, what,
                     msg);
  return vd_error (e == ENOENT ? VD_ENOENT : e == EROFS ? VD_EROFS
                   : e == ENOSPC ? VD_ENOSPC : VD_EIO,
                   e, "%s: %s: %s", name, what, msg);
}

static int
nbdio_pread (struct vd_io *io, void *buf, size_t count, uint64_t off)
{
  struct nbd_io *nio = (struct nbd_io *) io;
  uint8_t *p = buf;
  while (count) {
    size_t n = VD_MIN (count, NBD_MAX_REQUEST);
    if (nbd_pread (pick (nio), p, n, off, 0) < 0)
      return nbd_fail (io->name, "read");
    p += n;
    off += n;
    count -= n;
  }
  return 0;
}

static int
nbdio_pwrite (struct vd_io *io, const void *buf, size_t count, uint64_t off)
{
  struct nbd_io *nio = (struct nbd_io *) io;
  const uint8_t *p = buf;
  while (count) {
    size_t n = VD_MIN (count, NBD_MAX_REQUEST);
    if (nbd_pwrite (pick (nio), p, n, off, 0) < 0)
      return nbd_fail (io->name, "write");
    p += n;
    off += n;
    count -= n;
  }
  return 0;
}

static int
nbdio_flush (struct vd_io *io)
{
  struct nbd_io *nio = (struct nbd_io *) io;
  if (!nio->can_flush)
    return 0;
  /* multi-conn: a flush on one connection covers all of them; without
   * it there is only one connection. */
  if (nbd_flush (nio->h[0], 0) < 0)
    return nbd_fail (io->name, "flush");
  return 0;
}

static int
nbdio_size (struct vd_io *io, uint64_t *size)
{
  *size = ((struct nbd_io *) io)->size;
  return 0;
}

static int
nbdio_truncate (struct vd_io *io, uint64_t size)
{
  (void) size;
  return vd_error (VD_ENOTSUP, 0, "%s: an NBD export cannot be resized",
                   io->name);
}

static int
nbdio_punch_hole (struct vd_io *io, uint64_t off, uint64_t len)
{
  struct nbd_io *nio = (struct nbd_io *) io;
  if (!nio->can_zero)
    return VD_ENOTSUP;
  while (len) {
    uint64_t n = VD_MIN (len, 1u << 30);
    if (nbd_zero (pick (nio), n, off, 0) < 0)
      return nbd_fail (io->name, "zero");
    off += n;
    len -= n;
  }
  return 0;
}

struct bs_find {
  uint64_t pos;                 /* where the next entry starts */
  int hole;                     /* looking for a hole (1) or data (0) */
  int found;
  uint64_t result;
};

static int
bs_cb (void *user_data, const char *metacontext, uint64_t offset,
       uint32_t *entries, size_t nr_entries, int *error)
{
  struct bs_find *f = user_data;
  (void) error;
  if (strcmp (metacontext, LIBNBD_CONTEXT_BASE_ALLOCATION) != 0)
    return 0;
  f->pos = offset;
  for (size_t i = 0; i + 1 < nr_entries && !f->found; i += 2) {
    /* reads as zeros: a hole for the flat driver's map */
    int is_hole = (entries[i + 1] & LIBNBD_STATE_ZERO) != 0;
    if (is_hole == f->hole) {
      f->found = 1;
      f->result = f->pos;
    }
    f->pos += entries[i];
  }
  return 0;
}

/* SEEK_DATA / SEEK_HOLE through NBD block status. */
static int
nbdio_seek_data (struct vd_io *io, uint64_t off, int hole, uint64_t *result)
{
  struct nbd_io *nio = (struct nbd_io *) io;
  struct bs_find f = { off, hole, 0, 0 };

  if (!nio->has_bs)
    return VD_ENOTSUP;
  while (f.pos < nio->size && !f.found) {
    uint64_t start = f.pos;
    uint64_t n = VD_MIN (nio->size - start, 1u << 30);
    nbd_extent_callback cb = { .callback = bs_cb, .user_data = &f };
    if (nbd_block_status (pick (nio), n, start, cb, 0) < 0)
      return nbd_fail (io->name, "block status");
    if (f.pos <= start)         /* no progress: give up, say "data" */
      return VD_ENOTSUP;
  }
  if (f.found)
    *result = VD_MAX (f.result, off);
  else
    *result = hole ? nio->size : UINT64_MAX;
  return 0;
}

static void
nbdio_close (struct vd_io *io)
{
  struct nbd_io *nio = (struct nbd_io *) io;
  for (unsigned i = 0; i < nio->n; i++) {
    nbd_shutdown (nio->h[i], 0);
    nbd_close (nio->h[i]);
  }
  if (nio->memfd >= 0)
    close (nio->memfd);
  nio->memfd = -1;
  free (nio->user);
  nio->user = NULL;
}

static const struct vd_io_ops nbd_ops = {
  .pread = nbdio_pread,
  .pwrite = nbdio_pwrite,
  .flush = nbdio_flush,
  .size = nbdio_size,
  .truncate = nbdio_truncate,
  .punch_hole = nbdio_punch_hole,
  .seek_data = nbdio_seek_data,
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
    return vd_error (VD_ENOMEM, errno, "%s: psk", name);
  fd = memfd_create ("vdisk-nbd-psk", MFD_CLOEXEC);
  if (fd < 0 || write (fd, line, strlen (line)) != (ssize_t) strlen (line)) {
    int e = errno;
    explicit_bzero (line, strlen (line));
    free (line);
    if (fd >= 0)
      close (fd);
    return vd_error (VD_EIO, e, "%s: memfd for the TLS key", name);
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
    return nbd_fail (name, "size");
  if ((uint64_t) size > MAX_TEXT_EXPORT)
    return vd_error (VD_ECORRUPT, 0, "%s: the server's text export is "
                     "%lld bytes (at most %u)", name, (long long) size,
                     MAX_TEXT_EXPORT);
  buf = malloc ((size_t) size + 1);
  if (!buf)
    return vd_error (VD_ENOMEM, errno, "%s", name);
  if (size > 0 && nbd_pread (h, buf, (size_t) size, 0, 0) < 0) {
    free (buf);
    return nbd_fail (name, "read");
  }
  buf[size] = '\0';
  if (strlen (buf) != (size_t) size) {
    free (buf);
    return vd_error (VD_ECORRUPT, 0, "%s: the server's text export holds "
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
    return vd_error (VD_ENOMEM, errno, "%s", uri);
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
      r = vd_error (code, errnum, "%s: the server refused: %s", uri, sp + 1);
      goto out;
    }
  }
  /* Not a vdisk server, or it kept no reason. */
  r = vd_error (VD_ENOENT, ENOENT, "%s: the server refused export '%s' "
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
static int
connect_one (struct nbd_handle **out, const char *uri, const char *user,
             const char *psk_path, const char *export)
{
  struct nbd_handle *h = nbd_create ();
  const char *env;
  int r;
  *out = NULL;
  if (!h)
    return nbd_fail (uri, "nbd_create");
  nbd_set_handle_name (h, "vdisk");
  if (nbd_add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION) < 0
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
  r = nbd_fail (uri, "connect");
  nbd_close (h);
  return r;
}

int
vd__io_nbd_open (struct vd_io **out, const char *uri, int rw)
{
  struct nbd_io *nio;
  char *user = uri_user (uri), psk_path[64] = "";
  const char *env, *password = getenv ("VDISK_NBD_PASSWORD");
  unsigned want = 1;
  int memfd = -1, r;
  int64_t size;

  *out = NULL;
  if (!user && (env = getenv ("VDISK_NBD_USER")) && *env)
    user = strdup (env);
  if (password && *password) {
    if (!user) {
      free (user);
      return vd_error (VD_EINVAL, 0, "%s: VDISK_NBD_PASSWORD needs a user "
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
    r = vd_error (VD_ENOMEM, errno, "%s", uri);
    goto out;
  }
  nio->io.ops = &nbd_ops;
  nio->io.fd = -1;
  nio->memfd = -1;
  r = connect_one (&nio->h[0], uri, user, psk_path[0] ? psk_path : NULL,
                   NULL);
  if (r < 0)
    goto fail;
  nio->n = 1;
  size = nbd_get_size (nio->h[0]);
  if (size <= 0) {
    r = size < 0 ? nbd_fail (uri, "size")
        : vd_error (VD_EINVAL, 0, "%s: the export is empty", uri);
    goto fail;
  }
  nio->size = (uint64_t) size;
  if (rw && nbd_is_read_only (nio->h[0]) == 1) {
    r = vd_error (VD_EROFS, 0, "%s: the server exports this disk "
                  "read-only", uri);
    goto fail;
  }
  nio->can_flush = nbd_can_flush (nio->h[0]) == 1;
  nio->can_zero = rw && nbd_can_zero (nio->h[0]) == 1;
  nio->has_bs = nbd_can_meta_context (nio->h[0],
                                      LIBNBD_CONTEXT_BASE_ALLOCATION) == 1;
  if (want > 1 && nbd_can_multi_conn (nio->h[0]) == 1)
    while (nio->n < want) {
      r = connect_one (&nio->h[nio->n], uri, user,
                       psk_path[0] ? psk_path : NULL, NULL);
      if (r < 0) {
        vd__error_clear ();     /* fewer connections are fine */
        break;
      }
      nio->n++;
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
  int r = connect_one (&h, nio->io.name, nio->user,
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
    return vd_error (VD_ENOMEM, errno, "%s", io->name);
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
    return vd_error (VD_ENOTSUP, 0, "%s: not an NBD disk", io->name);
  path = server_path (nio);
  n = !path ? -1 : value ? asprintf (&export, "meta-set:%s=%s:%s", key,
                                     value, path)
      : asprintf (&export, "meta-set:%s:%s", key, path);
  free (path);
  if (n < 0)
    return vd_error (VD_ENOMEM, errno, "%s", io->name);
  r = side_text (nio, export, &t);
  free (export);
  if (r == 0 && strncmp (t, META_HEADER, strlen (META_HEADER)) != 0)
    r = vd_error (VD_ENOTSUP, 0, "%s: the server does not keep disk "
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
    return vd_error (VD_EINVAL, 0, "%s: not an NBD URI", uri ? uri : "");
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
    r = nbd_fail (uri, "nbd_create");
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
    r = nbd_fail (uri, "connect");
    nbd_close (h);
    goto out;
  }
  nbd_list_callback lcb = { .callback = list_cb, .user_data = &ctx };
  if (nbd_opt_list (h, lcb) < 0)
    r = nbd_fail (uri, "list exports");
  nbd_opt_abort (h);
  nbd_close (h);
out:
  if (memfd >= 0)
    close (memfd);
  free (user);
  return r;
}
