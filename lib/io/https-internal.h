/* The datastore file backend's parts (io-https.c: the file, its block
 * cache and opening; https-get.c: one ranged GET; https-ahead.c: the
 * parallel read-ahead of sequential reads).  Never installed. */
#ifndef VDISK_HTTPS_INTERNAL_H
#define VDISK_HTTPS_INTERNAL_H

#include "io/io-https.h"

#ifdef VD_HAVE_VSPHERE

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define VD_HTTPS_BLOCK (1u << 20)      /* cache block */
#define VD_HTTPS_NBLOCKS 24            /* cache blocks per file */
#define VD_HTTPS_MAX_AHEAD 8u          /* blocks fetched at once */

/* Read-ahead: AH_CONNS connections, each with its own GET of one chunk
 * at a time, fill at most AH_SLOTS chunks ahead of the reader (bounded
 * memory: AH_SLOTS * AH_CHUNK). */
#define VD_HTTPS_AH_CHUNK (4u << 20)
#define VD_HTTPS_AH_CONNS 4
#define VD_HTTPS_AH_SLOTS 8
/* Sequential bytes read before the read-ahead starts, and how far a read
 * may jump forward and still be served by it. */
#define VD_HTTPS_AH_AFTER (4u << 20)
#define VD_HTTPS_AH_SKIP (8u << 20)

struct vd_https_block {
  uint64_t idx;                   /* block number */
  uint8_t *data;
  size_t len;                     /* valid bytes (short at end of file) */
  uint64_t used;                  /* LRU tick */
  int valid;
};

enum { AH_FREE, AH_WANT, AH_BUSY, AH_DONE, AH_FAILED };

struct vd_https_slot {
  uint64_t off;                   /* file offset of the chunk */
  size_t len;
  uint8_t *data;                  /* VD_HTTPS_AH_CHUNK bytes */
  int state;                      /* AH_* */
  int discard;                    /* BUSY, no longer wanted */
  atomic_int cancel;              /* stops its transfer */
  int code, errnum;               /* AH_FAILED: the worker's error */
  char msg[1024];                 /* its message (as vd_error's) */
};

struct https_io;

struct vd_https_worker {
  struct https_io *f;
  void *h;                        /* its own CURL handle (connection) */
  pthread_t th;
};

struct vd_https_ahead {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int running, stop;
  struct vd_https_worker w[VD_HTTPS_AH_CONNS];
  int nw;
  struct vd_https_slot slot[VD_HTTPS_AH_SLOTS];
  uint64_t next;                  /* offset of the next chunk to ask for */
};

struct https_io {
  struct vd_io io;
  const struct vd_https_session *sops;
  void *sctx;                     /* the session (one reference) */
  char *base, *host;              /* https://HOST:PORT, HOST:PORT */
  char *dc, *ds, *path;           /* datacenter, datastore, "folder/file" */
  char *url;
  void *h;                        /* the cache's CURL handle */
  pthread_mutex_t mu;             /* everything below, one read at a time */
  uint64_t size;
  struct vd_https_block blocks[VD_HTTPS_NBLOCKS];
  uint64_t tick;
  uint64_t next_seq;              /* block after the last miss */
  unsigned ahead;                 /* current cache read-ahead, blocks */
  uint64_t seq_end;               /* end of the previous read */
  uint64_t seq_run;               /* bytes read sequentially so far */
  struct vd_https_ahead ah;
};

/* https-get.c: GET bytes [start, start+want) of f into dst with handle h
 * (exactly those bytes, a 206 with the matching Content-Range and the
 * file's size; a 401/403 logs in again once).  With probe, want is 1 and
 * f->size is learnt from Content-Range (an empty file: 0).  cancel (may
 * be NULL) set stops the transfer (VD_ECANCELED). */
int vd__https_get (struct https_io *f, void *h, uint64_t start,
                   uint64_t want, uint8_t *dst, int probe,
                   const atomic_int *cancel);
/* The same (not a probe, not cancelable) straight into cache blocks:
 * byte k of the answer lands in blocks[k / VD_HTTPS_BLOCK]. */
int vd__https_get_blocks (struct https_io *f, void *h, uint64_t start,
                          uint64_t want, uint8_t *const *blocks);

/* https-ahead.c, all with f->mu held.  Serve count bytes at off from the
 * read-ahead: 1 done, 0 it does not hold off (start it there, or read
 * through the cache), negative an error (one chunk's GET failed: its
 * message). */
int vd__https_ahead_read (struct https_io *f, uint8_t *p, size_t count,
                          uint64_t off);
/* (Re)start the read-ahead at off (the connections made the first time).
 * On failure (no connection, no memory) it is left stopped. */
int vd__https_ahead_start (struct https_io *f, uint64_t off);
void vd__https_ahead_init (struct https_io *f);
/* Stop the transfers, join the connections, free the chunks. */
void vd__https_ahead_free (struct https_io *f);

#endif /* VD_HAVE_VSPHERE */
#endif
