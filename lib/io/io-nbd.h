/* The asynchronous NBD client's shared state (internal to lib/io/io-nbd*.c):
 *   io-nbd.c            connection, handshake, open/close, meta, listing
 *   io-nbd-engine.c     the request engine (receiving threads, sending,
 *                       completions, writes)
 *   io-nbd-readahead.c  reads and the read-ahead window
 *   io-nbd-bs.c         block status and the extent cache
 * Only built with libnbd (VD_HAVE_LIBNBD). */
#ifndef VD_IO_NBD_H
#define VD_IO_NBD_H

#include "io/io.h"

#include "io/nbd-dl.h"
#include <pthread.h>

#define NBD_MAX_CONNS 8
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
 * Threads: each connection has its own receiving thread, as nbdcopy's
 * workers do: it polls the connection's socket and calls
 * nbd_aio_notify_* without nio->mu, so the answers of several connections
 * are read in parallel; a completion callback takes nio->mu to record its
 * result and wakes the waiters (nio->cv).  Lock order: a libnbd handle's
 * own lock, then nio->mu; so no libnbd call on a handle is ever made
 * under nio->mu.  Requests are made under mu (their bookkeeping: the
 * caller's count, the connection's, the slot) and queued; the thread
 * that queued them sends them (nbd_aio_*) after dropping mu, before it
 * waits or returns (vd__nbd_issue); a request answered before its
 * nbd_aio_* call returns is fine, its bookkeeping is already done.  A
 * receiving thread is woken through its eventfd when a request waits to
 * be written (the socket was full).  Connections that died are marked
 * dead by their thread (nio->alive); libnbd fails what was in flight.
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
#define RA_DEFAULT (8u << 20)       /* ... by default 8 MiB (16 MiB cost
                                       15% more CPU: the buffers go cold
                                       before they are copied out) */
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
  pthread_cond_t *cv;               /* its waiter's own, while it waits:
                                       the last answer wakes that thread
                                       alone */
};

enum { SLOT_FREE, SLOT_BUSY, SLOT_DONE, SLOT_FAILED };
enum { OP_READ, OP_WRITE, OP_ZERO, OP_FLUSH, OP_BS };
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
  uint64_t off;
  struct wbuf *wb;
  uint64_t len;
  int op;                       /* OP_* */
  void *buf;                    /* read into, or written from */
  struct bs_part *bp;           /* OP_BS: the answer */
  struct req *next;             /* queued to be sent */
  int err;                      /* why libnbd refused to send it */
};

struct nbd_rx {                 /* a connection's receiving thread */
  struct nbd_io *nio;
  unsigned i;
  pthread_t t;
  int started;
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
  unsigned gwait;               /* threads waiting on cv (an answer wakes
                                   them only if there are any) */
  /* the receiving threads, their eventfds (-1: none), which connections
   * still live, and the stop flag (atomic) */
  struct nbd_rx rx[NBD_MAX_CONNS];
  int wfd[NBD_MAX_CONNS];
  int alive[NBD_MAX_CONNS];
  int quit;
  /* requests made and not yet sent (sent by vd__nbd_issue) */
  struct req *sq_head, **sq_tail;
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
  unsigned reading;             /* preads under way: more than one means
                                   the caller keeps its own reads in
                                   flight (no read-ahead then) ... */
  unsigned par_quiet;           /* ... nor for this many reads after */
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

/* io-nbd.c */
int vd__nbd_connect_one (struct nbd_handle **out, const char *uri,
                         const char *user, const char *psk_path,
                         const char *export);

/* io-nbd-engine.c (every one under nio->mu but vd__nbd_fail and the
 * connection's start and stop) */
int vd__nbd_fail (const char *name, const char *what);
int vd__nbd_req_fail (struct nbd_io *nio, const char *what,
                      const struct nbd_call *c);
int vd__nbd_conn_start (struct nbd_io *nio, unsigned i);
void vd__nbd_conns_stop (struct nbd_io *nio);
void vd__nbd_issue (struct nbd_io *nio);
void vd__nbd_wait (struct nbd_io *nio);
void vd__nbd_unlock (struct nbd_io *nio);
void vd__nbd_slot_release (struct slot *s);
void vd__nbd_submit (struct nbd_io *nio, int op, void *buf, uint64_t len,
                     uint64_t off, struct nbd_call *call, struct slot *slot,
                     struct wbuf *wb);
void vd__nbd_submit_bs (struct nbd_io *nio, uint64_t len, uint64_t off,
                        struct bs_part *bp, struct nbd_call *call);
int vd__nbd_bs_cb (void *user_data, const char *metacontext, uint64_t offset,
                   uint32_t *entries, size_t nr_entries, int *error);
void vd__nbd_wait_call (struct nbd_io *nio, struct nbd_call *c);
void vd__nbd_wb_wait (struct nbd_io *nio, uint64_t off, uint64_t len);
int vd__nbd_wfail_hit (struct nbd_io *nio, uint64_t off, uint64_t len);
int vd__nbdio_pwrite (struct vd_io *io, const void *buf, size_t count,
                      uint64_t off);
int vd__nbdio_flush (struct vd_io *io);
int vd__nbdio_size (struct vd_io *io, uint64_t *size);
int vd__nbdio_truncate (struct vd_io *io, uint64_t size);
int vd__nbdio_punch_hole (struct vd_io *io, uint64_t off, uint64_t len);

/* io-nbd-readahead.c */
void vd__nbd_ra_drop (struct nbd_io *nio, uint64_t off, uint64_t len,
                      int overlapping);
int vd__nbdio_pread (struct vd_io *io, void *buf, size_t count,
                     uint64_t off);

/* io-nbd-bs.c */
int vd__nbd_cached_zero (struct nbd_io *nio, uint64_t a, uint64_t b);
uint64_t vd__nbd_cached_data_end (struct nbd_io *nio, uint64_t pos,
                                  uint64_t *next_data);
void vd__nbd_cache_drop (struct nbd_io *nio);
int vd__nbdio_seek_data (struct vd_io *io, uint64_t off, int hole,
                         uint64_t *result);

#endif
