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
 * write that fails stops the reads.  Memory: NSLOT * READ, and ZBUF zero
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
#define CAT_MIN(a, b) ((a) < (b) ? (a) : (b))

enum { P_DATA, P_ZERO, P_PUNCH };
struct piece {
  uint64_t off, len;
  int kind;                     /* P_ZERO: zeros written (non-regular
                                   output); P_PUNCH: a hole over old bytes */
};

struct out {
  vd_disk *d;
  uint8_t *ring;                /* NSLOT * READ bytes */
  const uint8_t *zeros;         /* ZBUF zero bytes (not for a new file) */
  int sparse;
  int no_punch;                 /* the file system cannot punch holes */
  uint64_t base;                /* the file's position when cat began */
  uint64_t old_end;             /* the file's size then (sparse output) */
  uint64_t pos;                 /* next virtual offset to queue */
  int err;                      /* a read failed, or the map is wrong */
  int threaded;                 /* a writer thread (else written inline) */
  /* the queue, under mu: pieces [tail, head) (mod NSLOT) are filled */
  pthread_mutex_t mu;
  pthread_cond_t wcv, rcv;      /* the writer, the reader sleeps */
  int wwait, rwait;
  struct piece q[NSLOT];
  unsigned head, tail;          /* counters, not reduced mod NSLOT */
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

/* The writer thread: each piece in order, then the slot is free.  Each
 * side wakes the other only when it sleeps (no hand-off per piece). */
static void *
writer (void *payload)
{
  struct out *o = payload;
  pthread_mutex_lock (&o->mu);
  for (;;) {
    while (o->tail == o->head && !o->done) {
      o->wwait = 1;
      pthread_cond_wait (&o->wcv, &o->mu);
      o->wwait = 0;
    }
    if (o->tail == o->head)
      break;                    /* done, all written */
    struct piece pc = o->q[o->tail % NSLOT];
    const uint8_t *p = o->ring + (size_t) (o->tail % NSLOT) * READ;
    pthread_mutex_unlock (&o->mu);
    int r = write_piece (o, &pc, p);
    pthread_mutex_lock (&o->mu);
    o->tail++;
    if (r < 0)
      o->werr = 1;
    if (o->rwait)
      pthread_cond_signal (&o->rcv);
    if (r < 0)
      break;
  }
  pthread_mutex_unlock (&o->mu);
  return NULL;
}

/* A free slot for the next piece, or -1 when the writer failed. */
static int
slot_get (struct out *o)
{
  if (!o->threaded)
    return o->werr ? -1 : 0;
  pthread_mutex_lock (&o->mu);
  while (o->head - o->tail == NSLOT && !o->werr) {
    o->rwait = 1;
    pthread_cond_wait (&o->rcv, &o->mu);
    o->rwait = 0;
  }
  int r = o->werr ? -1 : (int) (o->head % NSLOT);
  pthread_mutex_unlock (&o->mu);
  return r;
}

/* The piece in slot i is ready: queued, or (no writer thread) written. */
static void
slot_put (struct out *o, int i, uint64_t off, uint64_t len, int kind)
{
  struct piece pc = { off, len, kind };
  if (!o->threaded) {
    if (write_piece (o, &pc, o->ring + (size_t) i * READ) < 0)
      o->werr = 1;
    return;
  }
  pthread_mutex_lock (&o->mu);
  o->q[o->head % NSLOT] = pc;
  o->head++;
  if (o->wwait)
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
    int i = slot_get (o);
    if (i < 0)
      return 1;
    slot_put (o, i, off, len, kind);
    return 0;
  }
  for (uint64_t got = 0; got < len;) {
    size_t k = (size_t) CAT_MIN (len - got, (uint64_t) READ);
    int i = slot_get (o);
    if (i < 0)
      return 1;
    if (vd_disk_read (o->d, o->ring + (size_t) i * READ, k, off + got) < 0) {
      fail ();
      o->err = 1;
      return 1;                 /* the pieces before it are written */
    }
    slot_put (o, i, off + got, k, P_DATA);
    got += k;
  }
  return 0;
}

/* Walk the map, the writer thread (when o->threaded) writing behind; 0,
 * or 1 (said). */
static int
copy_all (struct out *o, uint64_t size)
{
  pthread_t t;
  int rc = 0, inited = o->threaded;

  if (o->threaded) {
    pthread_mutex_init (&o->mu, NULL);
    pthread_cond_init (&o->wcv, NULL);
    pthread_cond_init (&o->rcv, NULL);
    if (pthread_create (&t, NULL, writer, o) != 0)
      o->threaded = 0;          /* write inline then */
  }
  if (vd_disk_block_status (o->d, 0, size, copy_run, o) < 0 && !o->err)
    rc = fail ();
  if (o->threaded) {
    pthread_mutex_lock (&o->mu);
    o->done = 1;
    pthread_cond_signal (&o->wcv);
    pthread_mutex_unlock (&o->mu);
    pthread_join (t, NULL);
  }
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
  if (posix_memalign ((void **) &ring, 4096, (size_t) NSLOT * READ) != 0) {
    vd_disk_close (d);
    fprintf (stderr, "vdisk cat: out of memory\n");
    return 1;
  }
  uint64_t size = vd_disk_get_size (d);
  struct stat st;
  off_t base;
  struct out o = { .d = d, .ring = ring };
  /* Into a regular file: write only the allocated ranges and leave holes
   * (a 2 TB disk holding 1 GB of data costs about 1 GB). */
  int have_st = fstat (1, &st) == 0;
  /* A writer thread where a write costs a copy (a file's page cache, a
   * pipe or socket); a terminal or /dev/null is written inline. */
  o.threaded = have_st && (S_ISREG (st.st_mode) || S_ISFIFO (st.st_mode)
                           || S_ISSOCK (st.st_mode));
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
