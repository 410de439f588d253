/* The NBD client's request engine: a receiving thread per connection,
 * requests queued under the lock and sent outside it, completions landing
 * in their call, read-ahead buffer or write; writes are queued behind
 * (see io-nbd.h for the design). */

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef VD_HAVE_LIBNBD
#include "io-nbd.h"

/* An error from libnbd: its message, and EACCES for a refused TLS login
 * so callers (VixDiskLib) can tell wrong credentials from other errors. */
int
vd__nbd_fail (const char *name, const char *what)
{
  const char *msg = nbd_get_error ();
  int e = nbd_get_errno ();
  if (!msg)
    msg = "unknown error";
  if (strstr (msg, "handshake") || strstr (msg, "psk")
      || strstr (msg, "PSK") || strstr (msg, "decryption")
      || strstr (msg, "TLS") || strstr (msg, "tls"))
    return vd__error (VD_EIO, EACCES, "%s: %s: TLS refused (wrong user "
                     "name or key, or TLS not configured): %s", name, what,
                     msg);
  return vd__error (e == ENOENT ? VD_ENOENT : e == EROFS ? VD_EROFS
                   : e == ENOSPC ? VD_ENOSPC : VD_EIO,
                   e, "%s: %s: %s", name, what, msg);
}

/* The error of a failed request, reported by the thread that asked. */
int
vd__nbd_req_fail (struct nbd_io *nio, const char *what,
                  const struct nbd_call *c)
{
  int e = c->errnum;
  return vd__error (e == EROFS ? VD_EROFS : e == ENOSPC ? VD_ENOSPC
                   : e == ENOTSUP || e == EOPNOTSUPP ? VD_ENOTSUP : VD_EIO,
                   e, "%s: %s at offset %llu failed (the server's answer)",
                   nio->io.name, what, (unsigned long long) c->err_off);
}

/* ---- the connections' receiving threads ---- */

static void *
rx_main (void *payload)
{
  struct nbd_rx *rx = payload;
  struct nbd_io *nio = rx->nio;
  struct nbd_handle *h = nio->h[rx->i];
  int wfd = nio->wfd[rx->i];

  while (!__atomic_load_n (&nio->quit, __ATOMIC_ACQUIRE)) {
    int fd = nbd_aio_get_fd (h);
    if (fd < 0 || nbd_aio_is_dead (h) == 1 || nbd_aio_is_closed (h) == 1)
      break;
    unsigned dir = nbd_aio_get_direction (h);
    struct pollfd pfd[2] = {
      { fd, (short) (((dir & LIBNBD_AIO_DIRECTION_READ) ? POLLIN : 0)
                     | ((dir & LIBNBD_AIO_DIRECTION_WRITE) ? POLLOUT : 0)), 0 },
      { wfd, POLLIN, 0 } };
    int r = poll (pfd, 2, -1);
    if (r < 0) {
      /* (EINTR, or a passing shortage): never leave a live handle
       * without its reader, whose requests would then wait forever */
      if (errno != EINTR)
        usleep (1000);
      continue;
    }
    if (pfd[1].revents & POLLIN) {
      uint64_t v;
      if (read (wfd, &v, sizeof v) < 0) {
        /* nothing to drain */
      }
    }
    if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))
      nbd_aio_notify_read (h);
    else if (pfd[0].revents & POLLOUT)
      nbd_aio_notify_write (h);
  }
  /* stopped, or the connection is gone: libnbd failed (called back)
   * what was in flight on it; nothing more is sent to it */
  pthread_mutex_lock (&nio->mu);
  nio->alive[rx->i] = 0;
  pthread_cond_broadcast (&nio->cv);
  pthread_mutex_unlock (&nio->mu);
  return NULL;
}

/* Connection i (nio->h[i], connected) gets its eventfd and receiving
 * thread; 0, or an error (the handle is left to the caller). */
int
vd__nbd_conn_start (struct nbd_io *nio, unsigned i)
{
  nio->wfd[i] = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (nio->wfd[i] < 0)
    return vd__error (VD_EIO, errno, "%s: eventfd", nio->io.name);
  nio->rx[i].nio = nio;
  nio->rx[i].i = i;
  nio->rx[i].started = 0;
  nio->alive[i] = 1;
  int e = pthread_create (&nio->rx[i].t, NULL, rx_main, &nio->rx[i]);
  if (e != 0) {
    nio->alive[i] = 0;
    close (nio->wfd[i]);
    nio->wfd[i] = -1;
    return vd__error (VD_ENOMEM, e, "%s: receiving thread", nio->io.name);
  }
  nio->rx[i].started = 1;
  return 0;
}

/* Stop every receiving thread (no lock held; nothing in flight). */
void
vd__nbd_conns_stop (struct nbd_io *nio)
{
  uint64_t one = 1;
  __atomic_store_n (&nio->quit, 1, __ATOMIC_RELEASE);
  for (unsigned i = 0; i < NBD_MAX_CONNS; i++) {
    if (nio->rx[i].started) {
      if (write (nio->wfd[i], &one, sizeof one) < 0) {
        /* the counter is full: it wakes anyway */
      }
      pthread_join (nio->rx[i].t, NULL);
      nio->rx[i].started = 0;
    }
    if (nio->wfd[i] >= 0)
      close (nio->wfd[i]);
    nio->wfd[i] = -1;
  }
}

void
vd__nbd_slot_release (struct slot *s)
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

/* A request is done, with error e or 0 (under mu): its call, slot or
 * write learns it, and q is freed. */
static void
req_finish (struct nbd_io *nio, struct req *q, int e)
{
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
    if (q->call->pending && !--q->call->pending && q->call->cv)
      pthread_cond_signal (q->call->cv);
  }
  if (q->slot) {
    struct slot *s = q->slot;
    s->state = e ? SLOT_FAILED : SLOT_DONE;
    if (s->orphan && !s->pins)
      vd__nbd_slot_release (s);
  }
  if (q->wb) {
    if (e)
      wfail_add (nio, q->off, q->len, e);
    wb_put (nio, q->wb);
  }
  free (q);
}

/* libnbd's completion callback: in a receiving thread (or in the thread
 * that sends, for an answer that came at once), holding the handle's
 * lock, never mu. */
static int
req_done (void *user_data, int *error)
{
  struct req *q = user_data;
  struct nbd_io *nio = q->nio;
  pthread_mutex_lock (&nio->mu);
  req_finish (nio, q, *error);
  if (nio->gwait)
    pthread_cond_broadcast (&nio->cv);
  pthread_mutex_unlock (&nio->mu);
  return 1;                     /* retire the command */
}

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
  vd__nbd_issue (nio);          /* what is queued goes out meanwhile */
  pthread_mutex_unlock (&nio->mu);
  r = vd__nbd_connect_one (&h, nio->io.name, nio->user,
                   nio->psk_path[0] ? nio->psk_path : NULL, nio->again);
  pthread_mutex_lock (&nio->mu);
  nio->connecting = 0;
  if (r == 0) {
    nio->h[nio->n] = h;
    if ((r = vd__nbd_conn_start (nio, nio->n)) < 0) {
      nio->h[nio->n] = NULL;
      pthread_mutex_unlock (&nio->mu);  /* no libnbd call under mu */
      nbd_shutdown (h, 0);
      nbd_close (h);
      pthread_mutex_lock (&nio->mu);
    }
  }
  if (r < 0) {
    vd__error_clear ();         /* fewer connections are fine */
    nio->want = nio->n;
    return;
  }
  nio->n++;
}

/* A live connection with room for one more request (under mu), waiting
 * for one if they are all busy; -1 when every connection is dead. */
static int
pick_conn (struct nbd_io *nio)
{
  maybe_grow (nio);
  for (;;) {
    int best = -1, live = 0;
    for (unsigned i = 0; i < nio->n; i++) {
      if (!nio->alive[i])
        continue;
      live = 1;
      if (nio->inflight[i] < MAX_INFLIGHT
          && (best < 0 || nio->inflight[i] < nio->inflight[best]))
        best = (int) i;
    }
    if (best >= 0 || !live)
      return best;
    vd__nbd_wait (nio);
  }
}

/* q (filled) on connection c: counted, and queued to be sent. */
static void
queue (struct nbd_io *nio, struct req *q)
{
  if (q->call)
    q->call->pending++;
  if (q->wb)
    q->wb->pending++;
  nio->n_req++;
  if (++nio->inflight[q->conn] > nio->max_inflight)
    nio->max_inflight = nio->inflight[q->conn];
  q->next = NULL;
  *nio->sq_tail = q;
  nio->sq_tail = &q->next;
}

/* A request that could not be made (no connection, no memory): its call,
 * slot or write fails at once. */
static void
refuse (struct nbd_io *nio, uint64_t off, uint64_t len, int e,
        struct nbd_call *call, struct slot *slot, struct wbuf *wb)
{
  nio->n_failed++;
  if (call && !call->errnum) {
    call->errnum = e;
    call->err_off = off;
  }
  if (slot) {
    slot->state = SLOT_FAILED;
    if (slot->orphan && !slot->pins)
      vd__nbd_slot_release (slot);
  }
  if (wb) {
    wfail_add (nio, off, len, e);
    wb->queue_failed = 1;
  }
}

/* Make one request (under mu): queued, sent by vd__nbd_issue.  If it
 * cannot be made, the call (or the slot, or the write) gets the error at
 * once. */
static void
submit (struct nbd_io *nio, int op, void *buf, uint64_t len, uint64_t off,
        struct nbd_call *call, struct slot *slot, struct wbuf *wb,
        struct bs_part *bp)
{
  int c = pick_conn (nio);
  struct req *q = c >= 0 ? malloc (sizeof *q) : NULL;
  if (!q) {
    refuse (nio, off, len, c < 0 ? ENOTCONN : ENOMEM, call, slot, wb);
    return;
  }
  *q = (struct req) { nio, (unsigned) c, ++nio->seq, call, slot, off, wb,
                      len, op, buf, bp, NULL, 0 };
  queue (nio, q);
}

void
vd__nbd_submit (struct nbd_io *nio, int op, void *buf, uint64_t len,
                uint64_t off, struct nbd_call *call, struct slot *slot,
                struct wbuf *wb)
{
  submit (nio, op, buf, len, off, call, slot, wb, NULL);
}

/* A block status request of [off, off + len), answered into bp. */
void
vd__nbd_submit_bs (struct nbd_io *nio, uint64_t len, uint64_t off,
                   struct bs_part *bp, struct nbd_call *call)
{
  submit (nio, OP_BS, NULL, len, off, call, NULL, NULL, bp);
}

/* Send one request on its connection (no lock held): the cookie, or -1
 * (then the callback will not run). */
static int64_t
send_one (struct nbd_io *nio, struct req *q)
{
  struct nbd_handle *h = nio->h[q->conn];
  nbd_completion_callback cb = { .callback = req_done, .user_data = q };
  switch (q->op) {
  case OP_READ:
    return nbd_aio_pread (h, q->buf, (size_t) q->len, q->off, cb, 0);
  case OP_WRITE:
    return nbd_aio_pwrite (h, q->buf, (size_t) q->len, q->off, cb, 0);
  case OP_ZERO:
    return nbd_aio_zero (h, q->len, q->off, cb, 0);
  case OP_FLUSH:
    return nbd_aio_flush (h, cb, 0);
  default: {
    nbd_extent_callback ecb = { .callback = vd__nbd_bs_cb, .user_data = q->bp };
    return nbd_aio_block_status (h, q->len, q->off, ecb, cb, 0);
  }
  }
}

/* Send what is queued (under mu, dropped while sending): a request that
 * libnbd refuses fails at once; a connection whose socket is full gets
 * its receiving thread woken to write the rest. */
void
vd__nbd_issue (struct nbd_io *nio)
{
  while (nio->sq_head) {
    struct req *list = nio->sq_head, *failed = NULL, *next;
    unsigned wake = 0, sent = 0;
    nio->sq_head = NULL;
    nio->sq_tail = &nio->sq_head;
    pthread_mutex_unlock (&nio->mu);
    for (struct req *q = list; q; q = next) {
      unsigned c = q->conn;
      next = q->next;           /* q may be answered (freed) once sent */
      if (send_one (nio, q) < 0) {
        int e = nbd_get_errno ();
        q->err = e ? e : EIO;
        q->next = failed;
        failed = q;
      }
      sent |= 1u << c;
    }
    /* once per connection sent to: the socket is full (its thread writes
     * the rest), or the handle died right here (its thread, asleep in
     * poll, must notice) */
    for (unsigned c = 0; c < NBD_MAX_CONNS; c++)
      if ((sent & (1u << c))
          && ((nbd_aio_get_direction (nio->h[c]) & LIBNBD_AIO_DIRECTION_WRITE)
              || nbd_aio_is_dead (nio->h[c]) == 1
              || nbd_aio_is_closed (nio->h[c]) == 1))
        wake |= 1u << c;
    for (unsigned c = 0; wake; c++, wake >>= 1) {
      uint64_t one = 1;
      if ((wake & 1) && write (nio->wfd[c], &one, sizeof one) < 0) {
        /* the counter is full: it wakes anyway */
      }
    }
    pthread_mutex_lock (&nio->mu);
    for (struct req *q = failed; q; q = next) {
      next = q->next;
      req_finish (nio, q, q->err);
    }
    if (failed && nio->gwait)
      pthread_cond_broadcast (&nio->cv);
  }
}

/* One round of waiting (under mu): send what is queued, or sleep until
 * an answer comes (or a connection dies). */
void
vd__nbd_wait (struct nbd_io *nio)
{
  if (nio->sq_head)
    vd__nbd_issue (nio);
  else {
    nio->gwait++;
    pthread_cond_wait (&nio->cv, &nio->mu);
    nio->gwait--;
  }
}

/* Leave the lock, sending what this thread queued first. */
void
vd__nbd_unlock (struct nbd_io *nio)
{
  vd__nbd_issue (nio);
  pthread_mutex_unlock (&nio->mu);
}

/* Wait for the answers of call c (under mu), on a condition variable of
 * its own: with many threads waiting, each answer wakes one, not all. */
void
vd__nbd_wait_call (struct nbd_io *nio, struct nbd_call *c)
{
  pthread_cond_t cv;
  if (!c->pending)
    return;
  pthread_cond_init (&cv, NULL);
  c->cv = &cv;
  while (c->pending) {
    if (nio->sq_head)
      vd__nbd_issue (nio);
    else
      pthread_cond_wait (&cv, &nio->mu);
  }
  c->cv = NULL;
  pthread_cond_destroy (&cv);
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
    if (nio->alive[i])
      return 1;
  return 0;
}

/* Wait until no write in flight overlaps [off, off + len) (len 0: until
 * none is in flight at all).  Under mu. */
void
vd__nbd_wb_wait (struct nbd_io *nio, uint64_t off, uint64_t len)
{
  while (nio->n_wb && (len == 0 || wb_overlaps (nio, off, len))
         && any_live (nio))
    vd__nbd_wait (nio);
}

/* The error of an earlier write, reported once (under mu); 0 if none. */
static int
wb_error (struct nbd_io *nio)
{
  struct nbd_call c = { 0, nio->werr, nio->werr_off, NULL };
  if (!nio->werr)
    return 0;
  nio->werr = 0;
  return vd__nbd_req_fail (nio, "write", &c);
}

/* A read of [off, off + len) over a range whose write failed: that
 * write's error (the bytes there are unknown).  0 if none. */
int
vd__nbd_wfail_hit (struct nbd_io *nio, uint64_t off, uint64_t len)
{
  for (unsigned i = 0; i < nio->n_wfail; i++)
    if (nio->wfail[i].off < off + len && off < nio->wfail[i].off
        + nio->wfail[i].len) {
      struct nbd_call c = { 0, nio->wfail[i].err, nio->wfail[i].off, NULL };
      return vd__nbd_req_fail (nio, "write", &c);
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

/* Before a write, zeroing or a flush (under mu): forget what it makes
 * stale. */
static void
write_begin (struct nbd_io *nio, uint64_t off, uint64_t len)
{
  if (nio->ra_slots)
    vd__nbd_ra_drop (nio, off, len, 1);
  vd__nbd_cache_drop (nio);
  nio->ext_gen++;
}

/* Zeroing, and writes too big to copy: every chunk in flight, then wait
 * (after the writes in flight over the same bytes: NBD does not order
 * requests in flight). */
static int
write_like (struct nbd_io *nio, int op, const uint8_t *p, uint64_t len,
            uint64_t off)
{
  struct nbd_call call = { 0, 0, 0, NULL };
  uint64_t span = op == OP_ZERO ? (1u << 30) : nio->chunk;
  int r;

  pthread_mutex_lock (&nio->mu);
  vd__nbd_wb_wait (nio, off, len);
  if ((r = wb_error (nio)) < 0) {
    vd__nbd_unlock (nio);
    return r;
  }
  write_begin (nio, off, len);
  nio->writing++;
  for (uint64_t done = 0; done < len;) {
    uint64_t n = VD_MIN (span, len - done);
    vd__nbd_submit (nio, op, p ? (void *) (p + done) : NULL, n, off + done,
                    &call, NULL, NULL);
    done += n;
  }
  vd__nbd_wait_call (nio, &call);
  nio->writing--;
  if (call.errnum)
    r = vd__nbd_req_fail (nio, op == OP_ZERO ? "zero" : "write", &call);
  else
    wfail_forget (nio, off, len);
  vd__nbd_unlock (nio);
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
    vd__nbd_wait (nio);
  }
  if ((r = wb_error (nio)) < 0 || !wb) {
    vd__nbd_unlock (nio);
    return r < 0 ? r : vd__error (VD_EIO, ENOTCONN, "%s: write at offset "
                                 "%llu: no connection", nio->io.name,
                                 (unsigned long long) off);
  }
  uint8_t *copy = malloc (len);
  if (!copy) {
    vd__nbd_unlock (nio);
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
    vd__nbd_submit (nio, OP_WRITE, copy + done, n, off + done, NULL, NULL, wb);
    done += n;
  }
  int failed = wb->queue_failed;
  wb_put (nio, wb);             /* the hold taken while queuing */
  r = failed ? wb_error (nio) : 0;  /* could not even be queued */
  vd__nbd_unlock (nio);
  return r;
}

int
vd__nbdio_pwrite (struct vd_io *io, const void *buf, size_t count, uint64_t off)
{
  struct nbd_io *nio = (struct nbd_io *) io;
  if (count == 0)
    return 0;
  if (off > nio->size || count > nio->size - off)
    return vd__error (VD_EIO, 0, "%s: write of %zu bytes at offset %llu is "
                     "past the end of the export", io->name, count,
                     (unsigned long long) off);
  if (count > WB_BYTES / 4)
    return write_like (nio, OP_WRITE, buf, count, off);
  return write_behind (nio, buf, count, off);
}

int
vd__nbdio_flush (struct vd_io *io)
{
  struct nbd_io *nio = (struct nbd_io *) io;
  struct nbd_call call = { 0, 0, 0, NULL };
  int r = 0;

  /* multi-conn: a flush on one connection covers all of them; without
   * it there is only one connection.  The writes in flight are answered
   * first (a flush covers only what the server has answered). */
  pthread_mutex_lock (&nio->mu);
  vd__nbd_wb_wait (nio, 0, 0);
  if (nio->wfail_err) {
    /* a write since the last flush failed: say so (once) */
    struct nbd_call c = { 0, nio->wfail_err, nio->wfail_off, NULL };
    nio->wfail_err = nio->werr = 0;
    nio->n_wfail = 0;
    r = vd__nbd_req_fail (nio, "write", &c);
    vd__nbd_unlock (nio);
    return r;
  }
  if (!nio->can_flush) {
    vd__nbd_unlock (nio);
    return 0;
  }
  /* (multi-conn: any live connection's flush covers them all) */
  unsigned c = 0;
  while (c < nio->n && !nio->alive[c])
    c++;
  struct req *q = c < nio->n ? malloc (sizeof *q) : NULL;
  if (!q) {
    r = vd__error (c < nio->n ? VD_ENOMEM : VD_EIO,
                   c < nio->n ? ENOMEM : ENOTCONN, "%s: flush: %s",
                   io->name, c < nio->n ? "out of memory"
                   : "the connection is gone");
    vd__nbd_unlock (nio);
    return r;
  }
  *q = (struct req) { nio, c, ++nio->seq, &call, NULL, 0, NULL, 0, OP_FLUSH,
                      NULL, NULL, NULL, 0 };
  queue (nio, q);
  vd__nbd_wait_call (nio, &call);
  if (call.errnum)
    r = vd__nbd_req_fail (nio, "flush", &call);
  vd__nbd_unlock (nio);
  return r;
}

int
vd__nbdio_size (struct vd_io *io, uint64_t *size)
{
  *size = ((struct nbd_io *) io)->size;
  return 0;
}

int
vd__nbdio_truncate (struct vd_io *io, uint64_t size)
{
  (void) size;
  return vd__error (VD_ENOTSUP, 0, "%s: an NBD export cannot be resized",
                   io->name);
}

int
vd__nbdio_punch_hole (struct vd_io *io, uint64_t off, uint64_t len)
{
  struct nbd_io *nio = (struct nbd_io *) io;
  if (!nio->can_zero)
    return VD_ENOTSUP;
  if (len == 0)
    return 0;
  return write_like (nio, OP_ZERO, NULL, len, off);
}

#endif /* VD_HAVE_LIBNBD */
