/* The NBD I/O backend: a disk served over NBD (nbd://, nbds://,
 * nbd+unix://, nbds+unix://) read and written through libnbd, as a raw
 * image (lib/disk.c opens it with VD_OPEN_RAW).  Also the password-to-PSK
 * key derivation shared by `vdisk user`, the client and the VixDiskLib
 * layer.
 *
 * Optional (mk/config.mk): without libnbd (VD_HAVE_LIBNBD unset) the
 * client below is a stub whose calls fail with VD_ENOTSUP ("built without
 * libnbd"); without nettle (VD_HAVE_NETTLE unset) so does the key
 * derivation. */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#ifdef VD_HAVE_LIBNBD
#include <libnbd.h>
#endif
#ifdef VD_HAVE_NETTLE
#include <nettle/pbkdf2.h>
#endif

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
#ifdef VD_HAVE_NETTLE
  uint8_t key[32];
  char *salt;
#endif

  if (!hex || hexsz < VD_NBD_PSK_HEX_SIZE || !password)
    return vd_error (VD_EINVAL, 0, "psk: bad arguments");
  if (!vd_nbd_user_ok (user))
    return vd_error (VD_EINVAL, 0, "psk: user name '%s' is not allowed "
                     "(1-64 of A-Z a-z 0-9 . _ @ -)", user ? user : "");
#ifndef VD_HAVE_NETTLE
  return vd_error (VD_ENOTSUP, 0, "psk: vdisk was built without nettle "
                   "(no key derivation)");
#else
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
#endif
}

/* ---- the backend -------------------------------------------------------- */

#ifdef VD_HAVE_LIBNBD

/* Asynchronous I/O.  Every request goes out with libnbd's nbd_aio_* calls:
 * a read or write is split into CHUNK-sized requests, all in flight at
 * once (at most MAX_INFLIGHT per connection, over up to NBD_MAX_CONNS
 * connections when the server offers multi-conn), and the calling thread
 * waits for its own requests only.  Sequential reads also fill a read-ahead
 * window of RA_SLOTS fixed buffers (never past the known end of a data
 * extent), so a reader that asks 1 MiB at a time still keeps the wire
 * busy.  Memory is bounded: the read-ahead buffers, one small struct per
 * request in flight, the extent cache (MAX_EXTENTS); reads and writes go
 * straight to and from the caller's buffer.
 *
 * Threads: every libnbd call on the handles and every change to the state
 * below happens under nio->mu.  One waiting thread at a time "drives" the
 * connections (poll() without the lock, then nbd_aio_notify_* with it), so
 * completion callbacks run under the lock; the others sleep on nio->cv.
 * A thread that queues a request while another drives wakes it through
 * nio->wakefd so the new request's bytes go out.
 *
 * Errors: each request carries its own result.  A failed read fails the
 * call it belongs to (VD_EIO with the offset and the server's errno) and
 * never hands out a buffer it did not fill; a failed read-ahead is
 * dropped and read again on demand. */

#define CHUNK (1u << 20)            /* request size (less when the server's
                                       maximum block size is smaller) */
#define MAX_INFLIGHT 64
#define RA_SLOTS 128                /* read-ahead buffers at most */
#define RA_MAX (32u << 20)          /* read-ahead at most 32 MiB ... */
#define RA_DEFAULT (8u << 20)       /* ... by default 8 MiB */
#define WB_SLOTS 64                 /* writes in flight at most ... */
#define WB_BYTES (32u << 20)        /* ... holding at most 32 MiB */
#define WFAIL_MAX 16                /* failed write ranges remembered */
#define GROW_AT 2                   /* in flight on each connection before
                                       another one is opened */
#define MAX_EXTENTS 16384           /* extent cache entries */
#define BS_SPAN (1ull << 30)        /* bytes per block status request */
#define BS_PARALLEL 4               /* block status requests in flight */

struct nbd_call {                   /* one pread/pwrite/... of a caller */
  unsigned pending;
  int errnum;                       /* first error */
  uint64_t err_off;
};

enum { SLOT_FREE, SLOT_BUSY, SLOT_DONE, SLOT_FAILED };
struct slot {
  uint64_t off;
  uint32_t len;
  int state;
  int orphan;                       /* drop when the read completes */
  unsigned pins;                    /* threads waiting for it */
  uint8_t *buf;                     /* chunk bytes, made on first use */
};

/* A write in flight: the caller's bytes copied, so pwrite returns once
 * they are queued; the error of any of its requests is kept for the
 * next call (nio->werr). */
struct wbuf {
  uint64_t off, len;
  uint8_t *buf;                     /* NULL: free */
  unsigned pending;                 /* requests not answered (+1 while
                                       they are being queued) */
  int queue_failed;                 /* a request could not be queued */
};

struct extent {
  uint64_t off, len;
  int zero;
};

struct bs_part {                    /* one block status request's answer */
  uint64_t start, end;              /* asked */
  uint64_t got;                     /* covered so far (contiguous) */
  struct extent *e;
  size_t n, cap;
};

struct nbd_io;
struct req {
  struct nbd_io *nio;
  unsigned conn;
  uint64_t seq;
  struct nbd_call *call;
  struct slot *slot;
  uint64_t off;                 /* for the error message */
  struct wbuf *wb;
  uint64_t len;
};

struct nbd_io {
  struct vd_io io;              /* first: vd__io_close frees the pointer */
  struct nbd_handle *h[NBD_MAX_CONNS];
  unsigned n;
  unsigned want;                /* connections to open when busy */
  int connecting;
  char *again;                  /* export name for them (NULL: the URI's) */
  unsigned inflight[NBD_MAX_CONNS];
  uint64_t size;
  uint32_t chunk;               /* bytes per request */
  int can_zero, can_flush, has_bs;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int sync_ok;                  /* mu and cv initialised */
  int driving;
  int wakefd;                   /* eventfd, or -1 */
  /* read-ahead */
  struct slot slots[RA_SLOTS];
  unsigned ra_slots;            /* 0: off */
  unsigned writing;             /* writes in flight: no read-ahead (it
                                   could read what they replace) */
  /* writes in flight (write-behind) and the first error nobody was told */
  struct wbuf wb[WB_SLOTS];
  unsigned n_wb;
  uint64_t wb_bytes;
  int werr;                     /* first write error not yet reported */
  uint64_t werr_off;
  /* ranges whose write failed since the last flush: a read of them fails
   * (their bytes are unknown) until they are written again */
  struct { uint64_t off, len; int err; } wfail[WFAIL_MAX];
  unsigned n_wfail;             /* (past WFAIL_MAX only the flush tells) */
  int wfail_err;                /* the first since the last flush */
  uint64_t wfail_off;
  uint64_t last_end;
  /* extent cache: [ext_start, ext_end) described by ext[0..next) */
  struct extent *ext;
  size_t next;
  uint64_t ext_start, ext_end;
  uint64_t ext_gen;             /* bumped by every write */
  /* counters (VDISK_NBD_STATS) */
  uint64_t seq, max_done_seq, n_req, n_ooo, n_ra_hit, n_failed;
  unsigned max_inflight;
  /* for the side connections to the server's meta: exports */
  char *user;
  char psk_path[64];
  int memfd;                    /* the derived key, or -1 */
};

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

/* The error of a failed request, reported by the thread that asked. */
static int
req_fail (struct nbd_io *nio, const char *what, const struct nbd_call *c)
{
  int e = c->errnum;
  return vd_error (e == EROFS ? VD_EROFS : e == ENOSPC ? VD_ENOSPC
                   : e == ENOTSUP || e == EOPNOTSUPP ? VD_ENOTSUP : VD_EIO,
                   e, "%s: %s at offset %llu failed (the server's answer)",
                   nio->io.name, what, (unsigned long long) c->err_off);
}

static void
wake_driver (struct nbd_io *nio)
{
  uint64_t one = 1;
  if (nio->driving && nio->wakefd >= 0
      && write (nio->wakefd, &one, sizeof one) < 0) {
    /* the counter is full: the driver wakes anyway */
  }
}

/* One round of progress (under mu): drive the connections, or wait for
 * the thread that does. */
static void
drive (struct nbd_io *nio)
{
  struct pollfd pfd[NBD_MAX_CONNS + 1];
  unsigned conn[NBD_MAX_CONNS], np = 0;

  if (nio->driving) {
    pthread_cond_wait (&nio->cv, &nio->mu);
    return;
  }
  nio->driving = 1;
  for (unsigned i = 0; i < nio->n; i++) {
    int fd;
    unsigned dir;
    if (!nio->inflight[i] || (fd = nbd_aio_get_fd (nio->h[i])) < 0)
      continue;
    dir = nbd_aio_get_direction (nio->h[i]);
    pfd[np].fd = fd;
    pfd[np].events = ((dir & LIBNBD_AIO_DIRECTION_READ) ? POLLIN : 0)
                     | ((dir & LIBNBD_AIO_DIRECTION_WRITE) ? POLLOUT : 0);
    pfd[np].revents = 0;
    conn[np++] = i;
  }
  pfd[np].fd = nio->wakefd;
  pfd[np].events = POLLIN;
  pfd[np].revents = 0;
  pthread_mutex_unlock (&nio->mu);
  int r = poll (pfd, np + 1, 1000);
  pthread_mutex_lock (&nio->mu);
  if (r > 0) {
    for (unsigned k = 0; k < np; k++) {
      struct nbd_handle *h = nio->h[conn[k]];
      if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR))
        nbd_aio_notify_read (h);
      else if (pfd[k].revents & POLLOUT)
        nbd_aio_notify_write (h);
    }
    if (pfd[np].revents & POLLIN) {
      uint64_t v;
      if (read (nio->wakefd, &v, sizeof v) < 0) {
        /* nothing to drain */
      }
    }
  }
  /* A connection that died with requests in flight had them aborted by
   * libnbd (their callbacks ran with an error); a connection that is
   * gone without doing so must not leave its waiters asleep forever. */
  for (unsigned i = 0; i < nio->n; i++)
    if (nio->inflight[i] && (nbd_aio_is_dead (nio->h[i]) == 1
                             || nbd_aio_is_closed (nio->h[i]) == 1)
        && nbd_aio_in_flight (nio->h[i]) <= 0)
      nio->inflight[i] = 0;     /* the callbacks are not coming */
  nio->driving = 0;
  pthread_cond_broadcast (&nio->cv);
}

static void
slot_release (struct slot *s)
{
  s->state = SLOT_FREE;
  s->orphan = 0;
}

/* A write request failed (under mu): remembered for the next write or
 * flush (reported once), for reads of the range and for the flush. */
static void
wfail_add (struct nbd_io *nio, uint64_t off, uint64_t len, int err)
{
  if (!nio->werr) {
    nio->werr = err;
    nio->werr_off = off;
  }
  if (!nio->wfail_err) {
    nio->wfail_err = err;
    nio->wfail_off = off;
  }
  if (nio->n_wfail < WFAIL_MAX) {
    nio->wfail[nio->n_wfail].off = off;
    nio->wfail[nio->n_wfail].len = len;
    nio->wfail[nio->n_wfail].err = err;
    nio->n_wfail++;
  }
}

/* One request of a write in flight is done (or was never queued). */
static void
wb_put (struct nbd_io *nio, struct wbuf *wb)
{
  if (--wb->pending)
    return;
  free (wb->buf);
  wb->buf = NULL;
  nio->wb_bytes -= wb->len;
  nio->n_wb--;
  nio->writing--;
}

/* Completion of any request (under mu: it runs in nbd_aio_notify_*). */
static int
req_done (void *user_data, int *error)
{
  struct req *q = user_data;
  struct nbd_io *nio = q->nio;
  int e = *error;

  if (nio->inflight[q->conn])
    nio->inflight[q->conn]--;
  if (q->seq < nio->max_done_seq)
    nio->n_ooo++;                 /* answered out of order */
  else
    nio->max_done_seq = q->seq;
  if (e)
    nio->n_failed++;
  if (q->call) {
    if (e && !q->call->errnum) {
      q->call->errnum = e;
      q->call->err_off = q->off;
    }
    if (q->call->pending)
      q->call->pending--;
  }
  if (q->slot) {
    struct slot *s = q->slot;
    s->state = e ? SLOT_FAILED : SLOT_DONE;
    if (s->orphan && !s->pins)
      slot_release (s);
  }
  if (q->wb) {
    if (e)
      wfail_add (nio, q->off, q->len, e);
    wb_put (nio, q->wb);
  }
  free (q);
  return 1;                     /* retire the command */
}

static int connect_one (struct nbd_handle **out, const char *uri,
                        const char *user, const char *psk_path,
                        const char *export);

/* Open one more connection (multi-conn servers) once every open one has
 * GROW_AT requests in flight: small disks never pay for connections
 * they would not use.  Under mu, dropped while connecting. */
static void
maybe_grow (struct nbd_io *nio)
{
  struct nbd_handle *h;
  int r;

  if (nio->n >= nio->want || nio->connecting)
    return;
  for (unsigned i = 0; i < nio->n; i++)
    if (nio->inflight[i] < GROW_AT)
      return;
  nio->connecting = 1;
  pthread_mutex_unlock (&nio->mu);
  r = connect_one (&h, nio->io.name, nio->user,
                   nio->psk_path[0] ? nio->psk_path : NULL, nio->again);
  pthread_mutex_lock (&nio->mu);
  nio->connecting = 0;
  if (r < 0) {
    vd__error_clear ();         /* fewer connections are fine */
    nio->want = nio->n;
    return;
  }
  nio->h[nio->n++] = h;
}

/* A connection with room for one more request (under mu), driving the
 * others until there is one; -1 when every connection is dead. */
static int
pick_conn (struct nbd_io *nio)
{
  maybe_grow (nio);
  for (;;) {
    int best = -1, live = 0;
    for (unsigned i = 0; i < nio->n; i++) {
      if (nbd_aio_is_ready (nio->h[i]) != 1
          && nbd_aio_is_processing (nio->h[i]) != 1)
        continue;
      live = 1;
      if (nio->inflight[i] < MAX_INFLIGHT
          && (best < 0 || nio->inflight[i] < nio->inflight[best]))
        best = (int) i;
    }
    if (best >= 0 || !live)
      return best;
    drive (nio);
  }
}

enum { OP_READ, OP_WRITE, OP_ZERO };

/* Queue one request (under mu).  On a failure to queue, the call (or the
 * slot) gets the error at once. */
static void
submit (struct nbd_io *nio, int op, void *buf, uint64_t len, uint64_t off,
        struct nbd_call *call, struct slot *slot, struct wbuf *wb)
{
  struct req *q = malloc (sizeof *q);
  int c = pick_conn (nio);
  int64_t cookie = -1;

  if (q && c >= 0) {
    *q = (struct req) { nio, (unsigned) c, ++nio->seq, call, slot, off, wb,
                        len };
    nbd_completion_callback cb = { .callback = req_done, .user_data = q };
    cookie = op == OP_READ
             ? nbd_aio_pread (nio->h[c], buf, (size_t) len, off, cb, 0)
             : op == OP_WRITE
             ? nbd_aio_pwrite (nio->h[c], buf, (size_t) len, off, cb, 0)
             : nbd_aio_zero (nio->h[c], len, off, cb, 0);
  }
  if (cookie < 0) {
    int e = c < 0 ? ENOTCONN : !q ? ENOMEM : nbd_get_errno ();
    free (q);
    nio->n_failed++;
    if (call && !call->errnum) {
      call->errnum = e ? e : EIO;
      call->err_off = off;
    }
    if (slot) {
      slot->state = SLOT_FAILED;
      if (slot->orphan && !slot->pins)
        slot_release (slot);
    }
    if (wb) {
      wfail_add (nio, off, len, e ? e : EIO);
      wb->queue_failed = 1;
    }
    return;
  }
  if (call)
    call->pending++;
  if (wb)
    wb->pending++;
  nio->n_req++;
  if (++nio->inflight[c] > nio->max_inflight)
    nio->max_inflight = nio->inflight[c];
  wake_driver (nio);
}

static void
wait_call (struct nbd_io *nio, struct nbd_call *c)
{
  while (c->pending)
    drive (nio);
}

/* ---- the extent cache ---- */

/* Is [a, b) all zero by the cache?  1 yes, 0 no or unknown. */
static int
cached_zero (struct nbd_io *nio, uint64_t a, uint64_t b)
{
  if (a >= b)
    return 1;
  if (a < nio->ext_start || b > nio->ext_end)
    return 0;
  for (size_t i = 0; i < nio->next; i++) {
    const struct extent *x = &nio->ext[i];
    if (x->off + x->len <= a)
      continue;
    if (x->off >= b)
      break;
    if (!x->zero)
      return 0;
  }
  return 1;
}

/* The end of the data extent holding pos by the cache, or the disk's end
 * when unknown; pos itself when the cache says pos is in a hole. */
static uint64_t
cached_data_end (struct nbd_io *nio, uint64_t pos, uint64_t *next_data)
{
  *next_data = pos;
  if (pos < nio->ext_start || pos >= nio->ext_end)
    return nio->size;
  for (size_t i = 0; i < nio->next; i++) {
    const struct extent *x = &nio->ext[i];
    if (x->off + x->len <= pos)
      continue;
    if (!x->zero)
      return x->off + x->len;
    /* in a hole: where does data start again? */
    for (size_t j = i + 1; j < nio->next; j++)
      if (!nio->ext[j].zero) {
        *next_data = nio->ext[j].off;
        return pos;
      }
    *next_data = nio->ext_end;
    return pos;
  }
  return nio->size;
}

static void
cache_drop (struct nbd_io *nio)
{
  nio->next = 0;
  nio->ext_start = nio->ext_end = 0;
}

/* ---- read-ahead ---- */

static struct slot *
slot_at (struct nbd_io *nio, uint64_t pos)
{
  for (unsigned i = 0; i < nio->ra_slots; i++) {
    struct slot *s = &nio->slots[i];
    if (s->state != SLOT_FREE && !s->orphan && pos >= s->off
        && pos < s->off + s->len)
      return s;
  }
  return NULL;
}

/* Forget the read-ahead buffers that [off, off + len) makes useless:
 * those it overlaps (a write), or all but the ones it reads (a jump). */
static void
ra_drop (struct nbd_io *nio, uint64_t off, uint64_t len, int overlapping)
{
  for (unsigned i = 0; i < nio->ra_slots; i++) {
    struct slot *s = &nio->slots[i];
    int ov = s->off < off + len && off < s->off + s->len;
    if (s->state == SLOT_FREE || s->orphan || ov != overlapping)
      continue;
    if (s->state == SLOT_BUSY || s->pins)
      s->orphan = 1;
    else
      slot_release (s);
  }
}

/* Queue reads of the window of `window` bytes after end (under mu). */
static void
ra_fill (struct nbd_io *nio, uint64_t end, uint64_t window)
{
  uint64_t pos = end, limit = end + window;
  unsigned free_slots = 0;

  /* buffers wholly before end are used up */
  for (unsigned i = 0; i < nio->ra_slots; i++) {
    struct slot *s = &nio->slots[i];
    if (s->state != SLOT_FREE && !s->orphan && !s->pins
        && s->off + s->len <= end) {
      if (s->state == SLOT_BUSY)
        s->orphan = 1;
      else
        slot_release (s);
    }
    if (s->state == SLOT_FREE)
      free_slots++;
  }
  while (free_slots && pos < nio->size && pos < limit) {
    uint64_t next_data, dend = cached_data_end (nio, pos, &next_data);
    struct slot *s = slot_at (nio, pos), *f = NULL;
    if (dend == pos) {          /* a hole: skip it */
      if (next_data <= pos)
        break;
      limit += next_data - pos;
      pos = next_data;
      continue;
    }
    if (s) {
      pos = s->off + s->len;
      continue;
    }
    for (unsigned i = 0; i < nio->ra_slots && !f; i++)
      if (nio->slots[i].state == SLOT_FREE)
        f = &nio->slots[i];
    if (!f || (!f->buf && !(f->buf = malloc (nio->chunk))))
      break;
    /* chunks from the first read-ahead position on, cut at the data end
     * and at buffers already there */
    uint64_t n = VD_MIN ((uint64_t) nio->chunk, VD_MIN (dend, nio->size) - pos);
    for (unsigned i = 0; i < nio->ra_slots; i++) {
      struct slot *o = &nio->slots[i];
      if (o->state != SLOT_FREE && !o->orphan && o->off > pos
          && o->off < pos + n)
        n = o->off - pos;
    }
    f->off = pos;
    f->len = (uint32_t) n;
    f->state = SLOT_BUSY;
    f->orphan = 0;
    submit (nio, OP_READ, f->buf, n, pos, NULL, f, NULL);
    free_slots--;
    pos += n;
  }
}

/* ---- the operations ---- */

/* Is a write in flight over [off, off + len)?  (under mu) */
static int
wb_overlaps (struct nbd_io *nio, uint64_t off, uint64_t len)
{
  for (unsigned i = 0; nio->n_wb && i < WB_SLOTS; i++) {
    const struct wbuf *w = &nio->wb[i];
    if (w->buf && w->off < off + len && off < w->off + w->len)
      return 1;
  }
  return 0;
}

static int
any_live (struct nbd_io *nio)
{
  for (unsigned i = 0; i < nio->n; i++)
    if (nbd_aio_is_ready (nio->h[i]) == 1
        || nbd_aio_is_processing (nio->h[i]) == 1)
      return 1;
  return 0;
}

/* Wait until no write in flight overlaps [off, off + len) (len 0: until
 * none is in flight at all).  Under mu. */
static void
wb_wait (struct nbd_io *nio, uint64_t off, uint64_t len)
{
  while (nio->n_wb && (len == 0 || wb_overlaps (nio, off, len))
         && any_live (nio))
    drive (nio);
}

/* The error of an earlier write, reported once (under mu); 0 if none. */
static int
wb_error (struct nbd_io *nio)
{
  struct nbd_call c = { 0, nio->werr, nio->werr_off };
  if (!nio->werr)
    return 0;
  nio->werr = 0;
  return req_fail (nio, "write", &c);
}

/* A read of [off, off + len) over a range whose write failed: that
 * write's error (the bytes there are unknown).  0 if none. */
static int
wfail_hit (struct nbd_io *nio, uint64_t off, uint64_t len)
{
  for (unsigned i = 0; i < nio->n_wfail; i++)
    if (nio->wfail[i].off < off + len && off < nio->wfail[i].off
        + nio->wfail[i].len) {
      struct nbd_call c = { 0, nio->wfail[i].err, nio->wfail[i].off };
      return req_fail (nio, "write", &c);
    }
  return 0;
}

/* [off, off + len) is written again: failed ranges inside it are
 * forgotten (the flush still reports that they failed). */
static void
wfail_forget (struct nbd_io *nio, uint64_t off, uint64_t len)
{
  for (unsigned i = 0; i < nio->n_wfail;)
    if (nio->wfail[i].off >= off
        && nio->wfail[i].off + nio->wfail[i].len <= off + len)
      nio->wfail[i] = nio->wfail[--nio->n_wfail];
    else
      i++;
}

/* Read [pos, stop) straight into p (which holds off..), CHUNK at a time. */
static void
read_direct (struct nbd_io *nio, uint8_t *p, uint64_t off, uint64_t pos,
             uint64_t stop, struct nbd_call *call)
{
  while (pos < stop) {
    uint64_t n = VD_MIN ((uint64_t) nio->chunk, stop - pos);
    submit (nio, OP_READ, p + (pos - off), n, pos, call, NULL, NULL);
    pos += n;
  }
}

/* Take the read-ahead buffer s's part of [off, end) into p, or read it
 * again if it failed or was overwritten; then let go of s. */
static void
ra_take (struct nbd_io *nio, struct slot *s, uint8_t *p, uint64_t off,
         uint64_t end, struct nbd_call *call)
{
  while (s->state == SLOT_BUSY)
    drive (nio);
  uint64_t a = VD_MAX (s->off, off), b = VD_MIN (s->off + s->len, end);
  if (s->state == SLOT_DONE && !s->orphan) {
    memcpy (p + (a - off), s->buf + (a - s->off), (size_t) (b - a));
    nio->n_ra_hit++;
  }
  else
    read_direct (nio, p, off, a, b, call);
  s->pins--;
  if (!s->pins && (s->orphan || s->state == SLOT_FAILED
                   || s->off + s->len <= end))
    slot_release (s);           /* used up */
}

/* Reads: what the read-ahead holds is copied (or waited for), the rest is
 * read straight into buf.  A sequential reader gets the window after its
 * read queued; one that reads as much as the window at once gets a
 * quarter of it (its own reads keep the wire busy, and what it reads
 * straight into its buffer needs no copy). */
static int
nbdio_pread (struct vd_io *io, void *buf, size_t count, uint64_t off)
{
  struct nbd_io *nio = (struct nbd_io *) io;
  struct nbd_call call = { 0, 0, 0 };
  uint8_t *p = buf;
  uint64_t pos = off, end = off + count;
  uint64_t window = (uint64_t) nio->ra_slots * nio->chunk;
  struct slot *wait_for[RA_SLOTS];
  unsigned nw = 0;
  int r = 0;

  if (count == 0)
    return 0;
  if (off > nio->size || count > nio->size - off)
    return vd_error (VD_EIO, 0, "%s: read of %zu bytes at offset %llu is "
                     "past the end of the export (%llu bytes)", io->name,
                     count, (unsigned long long) off,
                     (unsigned long long) nio->size);
  pthread_mutex_lock (&nio->mu);
  wb_wait (nio, off, count);    /* read what was written */
  if ((r = wfail_hit (nio, off, count)) < 0) {
    pthread_mutex_unlock (&nio->mu);
    return r;
  }
  int seq = nio->ra_slots && (off == nio->last_end
                              || (off > nio->last_end
                                  && cached_zero (nio, nio->last_end, off)));
  if (nio->ra_slots && !seq)
    ra_drop (nio, off, count, 0);
  while (pos < end) {
    struct slot *s = slot_at (nio, pos);
    if (s) {
      if (nw < RA_SLOTS) {
        s->pins++;
        wait_for[nw++] = s;
      }
      pos = VD_MIN (end, s->off + s->len);
      continue;
    }
    uint64_t stop = end;
    for (unsigned i = 0; i < nio->ra_slots; i++) {
      struct slot *o = &nio->slots[i];
      if (o->state != SLOT_FREE && !o->orphan && o->off > pos
          && o->off < stop)
        stop = o->off;
    }
    read_direct (nio, p, off, pos, stop, &call);
    pos = stop;
  }
  if (seq && !nio->writing)
    ra_fill (nio, end, count >= window
                       ? VD_MAX ((uint64_t) nio->chunk, window / 4) : window);
  nio->last_end = end;
  for (unsigned i = 0; i < nw; i++)
    ra_take (nio, wait_for[i], p, off, end, &call);
  wait_call (nio, &call);
  if (call.errnum)
    r = req_fail (nio, "read", &call);
  pthread_mutex_unlock (&nio->mu);
  return r;
}

/* Before a write, zeroing or a flush (under mu): forget what it makes
 * stale. */
static void
write_begin (struct nbd_io *nio, uint64_t off, uint64_t len)
{
  if (nio->ra_slots)
    ra_drop (nio, off, len, 1);
  cache_drop (nio);
  nio->ext_gen++;
}

/* Zeroing, and writes too big to copy: every chunk in flight, then wait
 * (after the writes in flight over the same bytes: NBD does not order
 * requests in flight). */
static int
write_like (struct nbd_io *nio, int op, const uint8_t *p, uint64_t len,
            uint64_t off)
{
  struct nbd_call call = { 0, 0, 0 };
  uint64_t span = op == OP_ZERO ? (1u << 30) : nio->chunk;
  int r;

  pthread_mutex_lock (&nio->mu);
  wb_wait (nio, off, len);
  if ((r = wb_error (nio)) < 0) {
    pthread_mutex_unlock (&nio->mu);
    return r;
  }
  write_begin (nio, off, len);
  nio->writing++;
  for (uint64_t done = 0; done < len;) {
    uint64_t n = VD_MIN (span, len - done);
    submit (nio, op, p ? (void *) (p + done) : NULL, n, off + done, &call,
            NULL, NULL);
    done += n;
  }
  wait_call (nio, &call);
  nio->writing--;
  if (call.errnum)
    r = req_fail (nio, op == OP_ZERO ? "zero" : "write", &call);
  else
    wfail_forget (nio, off, len);
  pthread_mutex_unlock (&nio->mu);
  return r;
}

/* Writes: the bytes are copied and queued (in order after any write in
 * flight over the same bytes), and the call returns; at most WB_SLOTS
 * writes and WB_BYTES bytes are in flight.  A failure is reported by the
 * next write, zeroing or flush. */
static int
write_behind (struct nbd_io *nio, const uint8_t *p, uint64_t len,
              uint64_t off)
{
  struct wbuf *wb = NULL;
  int r;

  pthread_mutex_lock (&nio->mu);
  for (;;) {
    wb = NULL;
    for (unsigned i = 0; i < WB_SLOTS && !wb; i++)
      if (!nio->wb[i].buf)
        wb = &nio->wb[i];
    if ((wb && nio->wb_bytes + len <= WB_BYTES && !wb_overlaps (nio, off, len))
        || !any_live (nio))
      break;
    drive (nio);
  }
  if ((r = wb_error (nio)) < 0 || !wb) {
    pthread_mutex_unlock (&nio->mu);
    return r < 0 ? r : vd_error (VD_EIO, ENOTCONN, "%s: write at offset "
                                 "%llu: no connection", nio->io.name,
                                 (unsigned long long) off);
  }
  uint8_t *copy = malloc (len);
  if (!copy) {
    pthread_mutex_unlock (&nio->mu);
    return write_like (nio, OP_WRITE, p, len, off);
  }
  memcpy (copy, p, len);
  write_begin (nio, off, len);
  wfail_forget (nio, off, len);
  *wb = (struct wbuf) { off, len, copy, 1, 0 };
  nio->n_wb++;
  nio->wb_bytes += len;
  nio->writing++;
  for (uint64_t done = 0; done < len;) {
    uint64_t n = VD_MIN ((uint64_t) nio->chunk, len - done);
    submit (nio, OP_WRITE, copy + done, n, off + done, NULL, NULL, wb);
    done += n;
  }
  int failed = wb->queue_failed;
  wb_put (nio, wb);             /* the hold taken while queuing */
  r = failed ? wb_error (nio) : 0;  /* could not even be queued */
  pthread_mutex_unlock (&nio->mu);
  return r;
}

static int
nbdio_pwrite (struct vd_io *io, const void *buf, size_t count, uint64_t off)
{
  struct nbd_io *nio = (struct nbd_io *) io;
  if (count == 0)
    return 0;
  if (off > nio->size || count > nio->size - off)
    return vd_error (VD_EIO, 0, "%s: write of %zu bytes at offset %llu is "
                     "past the end of the export", io->name, count,
                     (unsigned long long) off);
  if (count > WB_BYTES / 4)
    return write_like (nio, OP_WRITE, buf, count, off);
  return write_behind (nio, buf, count, off);
}

static int
nbdio_flush (struct vd_io *io)
{
  struct nbd_io *nio = (struct nbd_io *) io;
  struct nbd_call call = { 0, 0, 0 };
  int r = 0;

  /* multi-conn: a flush on one connection covers all of them; without
   * it there is only one connection.  The writes in flight are answered
   * first (a flush covers only what the server has answered). */
  pthread_mutex_lock (&nio->mu);
  wb_wait (nio, 0, 0);
  if (nio->wfail_err) {
    /* a write since the last flush failed: say so (once) */
    struct nbd_call c = { 0, nio->wfail_err, nio->wfail_off };
    nio->wfail_err = nio->werr = 0;
    nio->n_wfail = 0;
    r = req_fail (nio, "write", &c);
    pthread_mutex_unlock (&nio->mu);
    return r;
  }
  if (!nio->can_flush) {
    pthread_mutex_unlock (&nio->mu);
    return 0;
  }
  struct req *q = malloc (sizeof *q);
  int64_t cookie = -1;
  if (q) {
    *q = (struct req) { nio, 0, ++nio->seq, &call, NULL, 0, NULL, 0 };
    nbd_completion_callback cb = { .callback = req_done, .user_data = q };
    cookie = nbd_aio_flush (nio->h[0], cb, 0);
  }
  if (cookie < 0) {
    free (q);
    r = nbd_fail (io->name, "flush");
  }
  else {
    call.pending = 1;
    nio->inflight[0]++;
    wake_driver (nio);
    wait_call (nio, &call);
    if (call.errnum)
      r = req_fail (nio, "flush", &call);
  }
  pthread_mutex_unlock (&nio->mu);
  return r;
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
  if (len == 0)
    return 0;
  return write_like (nio, OP_ZERO, NULL, len, off);
}

static int
bs_cb (void *user_data, const char *metacontext, uint64_t offset,
       uint32_t *entries, size_t nr_entries, int *error)
{
  struct bs_part *bp = user_data;
  (void) error;
  if (strcmp (metacontext, LIBNBD_CONTEXT_BASE_ALLOCATION) != 0)
    return 0;
  if (offset != bp->start + bp->got)
    return 0;                   /* not where we are: ignore the chunk */
  for (size_t i = 0; i + 1 < nr_entries; i += 2) {
    uint64_t a = bp->start + bp->got, n = entries[i];
    int zero = (entries[i + 1] & LIBNBD_STATE_ZERO) != 0;
    if (n == 0 || a >= bp->end)
      break;
    n = VD_MIN (n, bp->end - a);
    if (bp->n && bp->e[bp->n - 1].zero == zero)
      bp->e[bp->n - 1].len += n;
    else {
      if (bp->n == bp->cap) {
        size_t nc = bp->cap ? bp->cap * 2 : 64;
        struct extent *ne;
        if (nc > MAX_EXTENTS || !(ne = realloc (bp->e, nc * sizeof *ne)))
          break;                /* keep what fits */
        bp->e = ne;
        bp->cap = nc;
      }
      bp->e[bp->n++] = (struct extent) { a, n, zero };
    }
    bp->got += n;
  }
  return 0;
}

/* Fill the extent cache from pos on: BS_PARALLEL requests of BS_SPAN
 * bytes in flight, kept up to the first one the server answered only in
 * part.  0, or an error. */
static int
cache_fill (struct nbd_io *nio, uint64_t pos)
{
  struct bs_part parts[BS_PARALLEL];
  struct nbd_call call = { 0, 0, 0 };
  unsigned np = 0;
  uint64_t gen = nio->ext_gen;
  int r = 0;

  memset (parts, 0, sizeof parts);
  for (uint64_t a = pos; a < nio->size && np < BS_PARALLEL; np++) {
    struct bs_part *bp = &parts[np];
    uint64_t n = VD_MIN (BS_SPAN, nio->size - a);
    int c = pick_conn (nio);
    struct req *q = malloc (sizeof *q);
    int64_t cookie = -1;
    bp->start = a;
    bp->end = a + n;
    if (q && c >= 0) {
      *q = (struct req) { nio, (unsigned) c, ++nio->seq, &call, NULL, a,
                          NULL, n };
      nbd_extent_callback ecb = { .callback = bs_cb, .user_data = bp };
      nbd_completion_callback cb = { .callback = req_done, .user_data = q };
      cookie = nbd_aio_block_status (nio->h[c], n, a, ecb, cb, 0);
    }
    if (cookie < 0) {
      free (q);
      if (!call.errnum) {
        call.errnum = c < 0 ? ENOTCONN : nbd_get_errno () ? nbd_get_errno ()
                      : EIO;
        call.err_off = a;
      }
      np++;
      break;
    }
    call.pending++;
    nio->n_req++;
    nio->inflight[c]++;
    wake_driver (nio);
    a += n;
  }
  wait_call (nio, &call);
  if (call.errnum)
    r = req_fail (nio, "block status", &call);
  else if (gen != nio->ext_gen || nio->writing) {
    /* a write raced with the question: the answer may be old; the
     * caller asks again (at most once per write) */
    cache_drop (nio);
  }
  else {
    size_t total = 0;
    unsigned k;
    for (k = 0; k < np; k++) {
      total += parts[k].n;
      if (parts[k].got < parts[k].end - parts[k].start)
        break;
    }
    struct extent *e = total ? malloc (total * sizeof *e) : NULL;
    if (total && !e)
      r = vd_error (VD_ENOMEM, errno, "%s: extent cache", nio->io.name);
    else {
      free (nio->ext);
      nio->ext = e;
      nio->next = 0;
      nio->ext_start = pos;
      nio->ext_end = pos;
      for (unsigned i = 0; i < np; i++) {
        for (size_t j = 0; j < parts[i].n; j++)
          nio->ext[nio->next++] = parts[i].e[j];
        nio->ext_end = parts[i].start + parts[i].got;
        if (parts[i].got < parts[i].end - parts[i].start)
          break;
      }
    }
  }
  for (unsigned i = 0; i < BS_PARALLEL; i++)
    free (parts[i].e);
  return r;
}

/* SEEK_DATA / SEEK_HOLE through NBD block status (zero reads as a hole,
 * for the flat driver's map). */
static int
nbdio_seek_data (struct vd_io *io, uint64_t off, int hole, uint64_t *result)
{
  struct nbd_io *nio = (struct nbd_io *) io;
  uint64_t pos = off;
  int r = 0;

  if (!nio->has_bs)
    return VD_ENOTSUP;
  pthread_mutex_lock (&nio->mu);
  if (nio->n_wb) {
    /* writes in flight: the server's answer could be older than them;
     * "data" is always right (and a writer need not wait) */
    pthread_mutex_unlock (&nio->mu);
    return VD_ENOTSUP;
  }
  while (pos < nio->size) {
    if (pos < nio->ext_start || pos >= nio->ext_end) {
      r = cache_fill (nio, pos);
      if (r < 0)
        break;
      if (nio->ext_end <= pos) {        /* no progress: say "data" */
        r = VD_ENOTSUP;
        break;
      }
    }
    for (size_t i = 0; i < nio->next; i++) {
      const struct extent *x = &nio->ext[i];
      if (x->off + x->len <= pos)
        continue;
      if (x->zero == hole) {
        *result = VD_MAX (x->off, off);
        goto out;
      }
    }
    pos = nio->ext_end;
  }
  if (r == 0)
    *result = hole ? nio->size : UINT64_MAX;
out:
  pthread_mutex_unlock (&nio->mu);
  return r;
}

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
    /* read-ahead still in flight lands in our buffers: let it finish */
    pthread_mutex_lock (&nio->mu);
    for (;;) {
      unsigned busy = 0;
      for (unsigned i = 0; i < nio->n; i++)
        busy += nio->inflight[i];
      if (!busy)
        break;
      drive (nio);
    }
    pthread_mutex_unlock (&nio->mu);
  }
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
  if (nio->wakefd >= 0)
    close (nio->wakefd);
  nio->wakefd = -1;
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
  nio->wakefd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (nio->wakefd < 0) {
    r = vd_error (VD_EIO, errno, "%s: eventfd", uri);
    goto fail;
  }
  if (pthread_mutex_init (&nio->mu, NULL) != 0) {
    r = vd_error (VD_ENOMEM, 0, "%s: mutex", uri);
    goto fail;
  }
  if (pthread_cond_init (&nio->cv, NULL) != 0) {
    pthread_mutex_destroy (&nio->mu);
    r = vd_error (VD_ENOMEM, 0, "%s: condition variable", uri);
    goto fail;
  }
  nio->sync_ok = 1;
  r = connect_one (&nio->h[0], uri, user, psk_path[0] ? psk_path : NULL,
                   NULL);
  if (r < 0)
    goto fail;
  nio->n = 1;
  /* requests of CHUNK bytes, or the server's maximum block size if less;
   * the read-ahead window in requests of that size */
  int64_t maxb = nbd_get_block_size (nio->h[0], LIBNBD_SIZE_MAXIMUM);
  nio->chunk = maxb >= 4096 && (uint64_t) maxb < CHUNK ? (uint32_t) maxb
               : CHUNK;
  unsigned long long ra = RA_DEFAULT;
  if ((env = getenv ("VDISK_NBD_READAHEAD")) && *env)
    ra = VD_MIN (strtoull (env, NULL, 10), (unsigned long long) RA_MAX);
  nio->ra_slots = (unsigned) VD_MIN (ra / nio->chunk, (unsigned long long) RA_SLOTS);
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

#else /* !VD_HAVE_LIBNBD */

/* ---- without libnbd: the client answers VD_ENOTSUP ---------------------- */

static int
no_libnbd (const char *uri)
{
  return vd_error (VD_ENOTSUP, 0, "%s: vdisk was built without libnbd, so "
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
    return vd_error (VD_EINVAL, 0, "%s: not an NBD URI", uri ? uri : "");
  return no_libnbd (uri);
}

#endif /* VD_HAVE_LIBNBD */
