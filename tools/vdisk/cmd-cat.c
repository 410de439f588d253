#include "vdisk-tool.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Reads of READ bytes into a ring of NSLOT buffers, written out in order
 * by a writer thread where a write costs a copy (the page cache of a
 * regular file, a pipe, a socket): that copy runs on the other core while
 * the next pieces are read, as nbdcopy's workers do; a terminal or
 * /dev/null is written inline.  A read that fails leaves what came before
 * it written (a remote disk that drops mid-way gives the data it sent); a
 * write that fails stops the reads.  Memory: NSLOT * READ (NDATA_REMOTE
 * * READ for an NBD source), and ZBUF zero
 * bytes that are never written to (no RSS).
 *
 * The output: a regular file gets holes (pwrite past them, ftruncate at
 * the end; where the file already held bytes, the holes are punched, or
 * written as zeros when the file system cannot punch); anything else gets
 * the zeros of the holes written from the zero buffer (no per-read
 * memset, no read of the hole from the disk). */
#define READ (1u << 20)
#define NSLOT 8
#define ZBUF (8u << 20)
/* An NBD source: NREADER threads keep up to NREADER reads of READ bytes
 * in flight, each straight into its data slot (the client's own
 * read-ahead would copy every byte once more: a quarter of cat's CPU), as
 * nbdcopy's requests land in its buffers; NDATA_REMOTE slots hold those
 * and the ones read but not yet written; the queue holds QMAX pieces, as
 * the holes between take an entry but no slot. */
#define NDATA_REMOTE 32
#define QMAX 64
#define NREADER 16
#define CAT_MIN(a, b) ((a) < (b) ? (a) : (b))

enum { P_DATA, P_ZERO, P_PUNCH };
enum { S_READY, S_PENDING, S_READING, S_FAILED };
struct piece {
  uint64_t off, len;
  int kind;                     /* P_ZERO: zeros written (non-regular
                                   output); P_PUNCH: a hole over old bytes */
  int state;                    /* S_*: data to read (readers), being
                                   read, ready to write, failed */
  unsigned dslot;               /* P_DATA: its data slot in the ring */
  char msg[512];                /* S_FAILED: why */
};

struct out {
  vd_disk *d;
  uint8_t *ring;                /* nd * READ bytes */
  unsigned qn, nd;              /* queue entries, data slots */
  unsigned nreader;             /* reader threads (0: read inline) */
  const uint8_t *zeros;         /* ZBUF zero bytes (not for a new file) */
  int sparse;
  int no_punch;                 /* the file system cannot punch holes */
  uint64_t base;                /* the file's position when cat began */
  uint64_t old_end;             /* the file's size then (sparse output) */
  uint64_t pos;                 /* next virtual offset to queue */
  int err;                      /* a read failed, or the map is wrong */
  int threaded;                 /* a writer thread (else written inline) */
  /* the queue, under mu: pieces [tail, head) (mod qn) are filled, their
   * data in slots [dtail, dhead) (mod nd) */
  pthread_mutex_t mu;
  pthread_cond_t wcv, rcv;      /* the writer, the reader sleeps */
  pthread_cond_t dcv;           /* reader threads wait for a piece */
  int wwait, rwait;
  struct piece q[QMAX];
  unsigned head, tail;          /* counters, not reduced mod qn */
  unsigned dhead, dtail;        /* counters, not reduced mod nd */
  unsigned rnext;               /* next piece for a reader thread */
  int done;                     /* no more pieces */
  int werr;                     /* the writer failed: stop */
};

static int
out_write (struct out *o, const uint8_t *p, size_t n, uint64_t off)
{
  for (size_t done = 0; done < n;) {
    ssize_t w = o->sparse
                ? pwrite (1, p + done, n - done,
                          (off_t) (o->base + off + done))
                : write (1, p + done, n - done);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0) {
      fprintf (stderr, "vdisk cat: write to output: %s\n", strerror (errno));
      return -1;
    }
    done += (size_t) w;
  }
  return 0;
}

/* A hole over bytes the file already held: punched, or zeros written. */
static int
out_punch (struct out *o, uint64_t off, uint64_t len)
{
  if (!o->no_punch) {
    if (fallocate (1, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                   (off_t) (o->base + off), (off_t) len) == 0)
      return 0;
    if (errno != EOPNOTSUPP && errno != ENOSYS) {
      fprintf (stderr, "vdisk cat: punch a hole in the output: %s\n",
               strerror (errno));
      return -1;
    }
    o->no_punch = 1;            /* zeros from now on: no failing call each */
  }
  for (uint64_t w = 0; w < len;) {
    size_t n = (size_t) CAT_MIN (len - w, (uint64_t) ZBUF);
    if (out_write (o, o->zeros, n, off + w) < 0)
      return -1;
    w += n;
  }
  return 0;
}

static int
write_piece (struct out *o, const struct piece *pc, const uint8_t *p)
{
  if (pc->kind == P_PUNCH)
    return out_punch (o, pc->off, pc->len);
  for (uint64_t w = 0; w < pc->len;) {
    size_t n = (size_t) CAT_MIN (pc->len - w, (uint64_t) ZBUF);
    if (out_write (o, pc->kind == P_ZERO ? o->zeros : p + w, n,
                   pc->off + w) < 0)
      return -1;
    w += n;
  }
  return 0;
}

/* The writer thread: each piece in order once it is read, then the slot
 * is free.  Each side wakes the other only when it sleeps (no hand-off
 * per piece).  A piece whose read failed ends the copy there: what came
 * before it is written, its error is said. */
static void *
writer (void *payload)
{
  struct out *o = payload;
  pthread_mutex_lock (&o->mu);
  for (;;) {
    struct piece *q = &o->q[o->tail % o->qn];
    while ((o->tail == o->head && !o->done)
           || (o->tail != o->head
               && (q->state == S_PENDING || q->state == S_READING))) {
      o->wwait = 1;
      pthread_cond_wait (&o->wcv, &o->mu);
      o->wwait = 0;
    }
    if (o->tail == o->head)
      break;                    /* done, all written */
    if (q->state == S_FAILED) {
      fprintf (stderr, "vdisk: %s\n", q->msg);
      o->err = 1;
      o->werr = 1;
      pthread_cond_broadcast (&o->rcv);
      pthread_cond_broadcast (&o->dcv);
      break;
    }
    struct piece pc = *q;
    const uint8_t *p = o->ring + (size_t) pc.dslot * READ;
    pthread_mutex_unlock (&o->mu);
    int r = write_piece (o, &pc, p);
    pthread_mutex_lock (&o->mu);
    o->tail++;
    if (pc.kind == P_DATA)
      o->dtail++;
    if (r < 0) {
      o->werr = 1;
      pthread_cond_broadcast (&o->dcv);
    }
    if (o->rwait)
      pthread_cond_signal (&o->rcv);
    if (r < 0)
      break;
  }
  pthread_mutex_unlock (&o->mu);
  return NULL;
}

/* A reader thread (NBD sources): the pending pieces in order, each read
 * straight into its slot. */
static void *
reader (void *payload)
{
  struct out *o = payload;
  pthread_mutex_lock (&o->mu);
  for (;;) {
    while (o->rnext == o->head && !o->done && !o->werr)
      pthread_cond_wait (&o->dcv, &o->mu);
    if (o->werr || o->rnext == o->head)
      break;
    unsigned k = o->rnext++;
    struct piece *q = &o->q[k % o->qn];
    if (q->state != S_PENDING)
      continue;
    q->state = S_READING;       /* (rnext may lag behind the writer
                                   across holes and meet this entry again,
                                   reused: then it is not read twice) */
    uint64_t off = q->off, len = q->len;
    uint8_t *p = o->ring + (size_t) q->dslot * READ;
    pthread_mutex_unlock (&o->mu);
    int r = vd_disk_read (o->d, p, (size_t) len, off);
    pthread_mutex_lock (&o->mu);
    if (r < 0) {
      const struct vd_error *e = vd_last_error ();
      snprintf (q->msg, sizeof q->msg, "%s", e->message && e->message[0]
                ? e->message : vd_strerror (e->code));
      q->state = S_FAILED;
    }
    else
      q->state = S_READY;
    if (o->wwait)
      pthread_cond_signal (&o->wcv);
  }
  pthread_mutex_unlock (&o->mu);
  return NULL;
}

/* Room for the next piece (and, data, a data slot: *dslot), or -1 when
 * the writer failed. */
static int
slot_get (struct out *o, int data, unsigned *dslot)
{
  *dslot = 0;
  if (!o->threaded)
    return o->werr ? -1 : 0;
  pthread_mutex_lock (&o->mu);
  while ((o->head - o->tail == o->qn || (data && o->dhead - o->dtail == o->nd))
         && !o->werr) {
    o->rwait = 1;
    pthread_cond_wait (&o->rcv, &o->mu);
    o->rwait = 0;
  }
  int r = o->werr ? -1 : 0;
  *dslot = o->dhead % o->nd;
  pthread_mutex_unlock (&o->mu);
  return r;
}

/* The piece is ready (or, state S_PENDING, is for the reader threads to
 * read into its data slot): queued, or (no writer thread) written. */
static void
slot_put (struct out *o, unsigned dslot, uint64_t off, uint64_t len,
          int kind, int state)
{
  struct piece pc = { off, len, kind, state, dslot, "" };
  if (!o->threaded) {
    if (write_piece (o, &pc, o->ring + (size_t) dslot * READ) < 0)
      o->werr = 1;
    return;
  }
  pthread_mutex_lock (&o->mu);
  o->q[o->head % o->qn] = pc;
  o->head++;
  if (kind == P_DATA)
    o->dhead++;
  if (state == S_PENDING)
    pthread_cond_signal (&o->dcv);
  else if (o->wwait)
    pthread_cond_signal (&o->wcv);
  pthread_mutex_unlock (&o->mu);
}

static int
copy_run (uint64_t off, uint64_t len, uint32_t st, void *payload)
{
  struct out *o = payload;
  if (off != o->pos) {
    fprintf (stderr, "vdisk cat: the allocation map skipped bytes at "
             "offset %llu\n", (unsigned long long) o->pos);
    o->err = 1;
    return 1;
  }
  o->pos = off + len;
  if (st != VD_STATUS_DATA) {   /* one piece (no slot memory), or none */
    int kind = !o->sparse ? P_ZERO : o->base + off < o->old_end ? P_PUNCH
               : -1;
    if (kind < 0)
      return 0;                 /* a hole in the new part of the file */
    if (kind == P_PUNCH)
      len = CAT_MIN (len, o->old_end - o->base - off);
    unsigned ds;
    if (slot_get (o, 0, &ds) < 0)
      return 1;
    slot_put (o, ds, off, len, kind, S_READY);
    return 0;
  }
  for (uint64_t got = 0; got < len;) {
    size_t k = (size_t) CAT_MIN (len - got, (uint64_t) READ);
    unsigned ds;
    if (slot_get (o, 1, &ds) < 0)
      return 1;
    if (o->nreader) {           /* the reader threads read it */
      slot_put (o, ds, off + got, k, P_DATA, S_PENDING);
      got += k;
      continue;
    }
    if (vd_disk_read (o->d, o->ring + (size_t) ds * READ, k, off + got) < 0) {
      fail ();
      o->err = 1;
      return 1;                 /* the pieces before it are written */
    }
    slot_put (o, ds, off + got, k, P_DATA, S_READY);
    got += k;
  }
  return 0;
}

/* Walk the map, the writer thread (when o->threaded) writing behind; 0,
 * or 1 (said). */
static int
copy_all (struct out *o, uint64_t size)
{
  pthread_t t, rt[NREADER];
  unsigned nr = 0;
  int rc = 0, inited = o->threaded;

  if (o->threaded) {
    pthread_mutex_init (&o->mu, NULL);
    pthread_cond_init (&o->wcv, NULL);
    pthread_cond_init (&o->rcv, NULL);
    pthread_cond_init (&o->dcv, NULL);
    if (pthread_create (&t, NULL, writer, o) != 0)
      o->threaded = 0;          /* write inline then */
  }
  if (!o->threaded)
    o->nreader = 0;
  while (nr < o->nreader && pthread_create (&rt[nr], NULL, reader, o) == 0)
    nr++;
  o->nreader = nr;              /* none: the pieces are read inline */
  /* a failed map is said after the threads are done, and only if no
   * failed read (said by the writer) came first */
  int map_failed = vd_disk_block_status (o->d, 0, size, copy_run, o) < 0;
  if (o->threaded) {
    pthread_mutex_lock (&o->mu);
    o->done = 1;
    pthread_cond_signal (&o->wcv);
    pthread_cond_broadcast (&o->dcv);
    pthread_mutex_unlock (&o->mu);
    for (unsigned i = 0; i < nr; i++)
      pthread_join (rt[i], NULL);
    pthread_join (t, NULL);
  }
  if (map_failed && !o->err)
    rc = fail ();
  if (rc == 0 && (o->err || o->werr))
    rc = 1;
  else if (rc == 0 && o->pos != size) {
    fprintf (stderr, "vdisk cat: the allocation map ended at offset %llu "
             "of %llu\n", (unsigned long long) o->pos,
             (unsigned long long) size);
    rc = 1;
  }
  if (inited) {
    pthread_cond_destroy (&o->wcv);
    pthread_cond_destroy (&o->rcv);
    pthread_cond_destroy (&o->dcv);
    pthread_mutex_destroy (&o->mu);
  }
  return rc;
}

static int
run (int argc, char **argv)
{
  static const struct option own[] = {
    { "read-only", no_argument, NULL, 'r' },
    OPT_HELP, { 0 } };
  const struct option *opts =
    with_open_options (own, OO (SINGLE_LINK) | OO (IGNORE_CID)
                       | OO (TRUSTED) | OO (RAW));
  struct open_opts oo = { 0 };
  int c, rc = 0;
  vd_disk *d;
  uint8_t *ring;

  while ((c = next_option (argc, argv, "r", opts, &oo)) != -1) {
    switch (c) {
    case 'r': break;
    default: return usage_error ("cat", "invalid option");
    }
  }
  if (optind + 1 != argc)
    return usage_error ("cat", "expected one DISK argument");
  if (vd_disk_open (&d, argv[optind], open_flags (&oo, 1)) < 0)
    return fail ();
  /* an NBD URI: reads in flight from reader threads, bigger slots */
  const char *src = argv[optind];
  int remote = strncmp (src, "nbd://", 6) == 0 || strncmp (src, "nbds://", 7) == 0
               || strncmp (src, "nbd+unix://", 11) == 0
               || strncmp (src, "nbds+unix://", 12) == 0;
  unsigned nd = remote ? NDATA_REMOTE : NSLOT;
  if (posix_memalign ((void **) &ring, 4096, (size_t) nd * READ) != 0) {
    vd_disk_close (d);
    fprintf (stderr, "vdisk cat: out of memory\n");
    return 1;
  }
  uint64_t size = vd_disk_get_size (d);
  struct stat st;
  off_t base;
  struct out o = { .d = d, .ring = ring, .qn = remote ? QMAX : NSLOT,
                   .nd = nd, .nreader = remote ? NREADER : 0 };
  /* Into a regular file: write only the allocated ranges and leave holes
   * (a 2 TB disk holding 1 GB of data costs about 1 GB). */
  int have_st = fstat (1, &st) == 0;
  /* A writer thread where a write costs a copy (a file's page cache, a
   * pipe or socket); a terminal or /dev/null is written inline. */
  o.threaded = have_st && (S_ISREG (st.st_mode) || S_ISFIFO (st.st_mode)
                           || S_ISSOCK (st.st_mode));
  if (remote)
    o.threaded = 1;             /* (the readers need the writer thread) */
  /* Appending (>>): pwrite ignores its offset on an O_APPEND file, so
   * such an output is written as a stream (holes as zeros, no punch, no
   * truncate) and the disk lands after the file's old bytes. */
  int oflags = fcntl (1, F_GETFL);
  if (have_st && S_ISREG (st.st_mode) && oflags >= 0 && !(oflags & O_APPEND)
      && (base = lseek (1, 0, SEEK_CUR)) >= 0) {
    o.sparse = 1;
    o.base = (uint64_t) base;
    o.old_end = (uint64_t) st.st_size;
  }
  if ((!o.sparse || o.old_end > o.base) && !(o.zeros = calloc (1, ZBUF))) {
    free (ring);
    vd_disk_close (d);
    fprintf (stderr, "vdisk cat: out of memory\n");
    return 1;
  }
  rc = copy_all (&o, size);
  if (rc == 0 && o.sparse
      && (ftruncate (1, (off_t) (o.base + size)) < 0
          || lseek (1, (off_t) (o.base + size), SEEK_SET) < 0)) {
    fprintf (stderr, "vdisk cat: extend output: %s\n", strerror (errno));
    rc = 1;
  }
  free ((void *) o.zeros);
  free (ring);
  vd_disk_close (d);
  return rc;
}

const struct command cmd_cat = {
  "cat", run, "[--single-link] [--ignore-cid] [--trusted] DISK",
  "Write the whole virtual content of a disk to standard output.",
  "      --single-link     this link only (holes read as zeros)\n"
  "      --ignore-cid      accept a parent whose CID changed\n"
  "      --trusted         allow absolute paths and folders in names\n"
  "      --raw             DISK is a raw image\n"
  "      --read-only       accepted; cat always opens DISK read-only\n",
};
