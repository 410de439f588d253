/* The asynchronous NBD client's shared state (internal to lib/io/io-nbd*.c):
 *   io-nbd.c            connection, handshake, open/close, meta, listing
 *   io-nbd-engine.c     the request engine (driving, completions, writes)
 *   io-nbd-readahead.c  reads and the read-ahead window
 *   io-nbd-bs.c         block status and the extent cache
 * Only built with libnbd (VD_HAVE_LIBNBD). */
#ifndef VD_IO_NBD_H
#define VD_IO_NBD_H

#include "io/io.h"

#include <libnbd.h>
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

enum { OP_READ, OP_WRITE, OP_ZERO };

/* io-nbd.c */
int vd__nbd_connect_one (struct nbd_handle **out, const char *uri,
                         const char *user, const char *psk_path,
                         const char *export);

/* io-nbd-engine.c (every one under nio->mu but vd__nbd_fail) */
int vd__nbd_fail (const char *name, const char *what);
int vd__nbd_req_fail (struct nbd_io *nio, const char *what,
                      const struct nbd_call *c);
void vd__nbd_wake_driver (struct nbd_io *nio);
void vd__nbd_drive (struct nbd_io *nio);
void vd__nbd_slot_release (struct slot *s);
int vd__nbd_req_done (void *user_data, int *error);
int vd__nbd_pick_conn (struct nbd_io *nio);
void vd__nbd_submit (struct nbd_io *nio, int op, void *buf, uint64_t len,
                     uint64_t off, struct nbd_call *call, struct slot *slot,
                     struct wbuf *wb);
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
