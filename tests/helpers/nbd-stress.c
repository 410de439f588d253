/* nbd-stress URI REFERENCE THREADS READS [write]: THREADS threads read
 * random ranges (1 byte .. 3 MiB, some sequential runs to exercise the
 * read-ahead) of the NBD disk URI at the same time and compare every read
 * that succeeds with the same range of the local file REFERENCE.  With
 * "write", each thread also writes its own 64 KiB pattern into a range
 * of its own and reads it back (REFERENCE is updated to match).
 *
 * Prints "reads N failed F mismatched M writes W wfailed X" and
 * "FAILMSG <message>" for the first failure; exit 0 when M == 0 and
 * every failure carried a message naming an offset, else 1. */
#include <vdisk/vdisk.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct shared {
  vd_disk *d;
  int ref;
  uint64_t size, rsize;          /* all, the part read at random */
  unsigned reads;
  int do_write;
  pthread_mutex_t mu;
  unsigned long n, failed, bad, writes, wfailed, badmsg;
  char first_msg[512];
};

struct worker {
  struct shared *s;
  unsigned id;
  pthread_t t;
};

static uint64_t
rnd (uint64_t *x)
{
  *x ^= *x << 13;
  *x ^= *x >> 7;
  *x ^= *x << 17;
  return *x;
}

static void
note_fail (struct shared *s, int write)
{
  const struct vd_error *e = vd_last_error ();
  pthread_mutex_lock (&s->mu);
  if (write)
    s->wfailed++;
  else
    s->failed++;
  if (!e->message || !strstr (e->message, "offset"))
    s->badmsg++;
  if (!s->first_msg[0])
    snprintf (s->first_msg, sizeof s->first_msg, "%s",
              e->message ? e->message : "(none)");
  pthread_mutex_unlock (&s->mu);
}

static void *
run (void *arg)
{
  struct worker *w = arg;
  struct shared *s = w->s;
  uint64_t x = 0x9e3779b97f4a7c15ull * (w->id + 1);
  size_t max = 3u << 20;
  uint8_t *a = malloc (max), *b = malloc (max);
  uint64_t seq = 0;

  if (!a || !b)
    abort ();
  for (unsigned i = 0; i < s->reads; i++) {
    size_t len;
    uint64_t off;
    if (s->do_write && i % 8 == 0) {
      /* a range of this thread's own above the read area */
      off = s->rsize + ((uint64_t) w->id << 20);
      len = 65536;
      if (off + len <= s->size) {
        /* two writes of the range back to back (the second must land
         * last: NBD does not order requests in flight, the client must),
         * then a read back; a write's failure may be reported by a later
         * call (writes are queued): the read back of a range whose write
         * failed fails, and the range is written again */
        for (size_t k = 0; k < len; k++)
          b[k] = (uint8_t) ~(rnd (&x) >> 24);
        for (size_t k = 0; k < len; k++)
          a[k] = (uint8_t) (rnd (&x) >> 24);
        int tries = 0;
        if (vd_disk_write (s->d, b, len, off) < 0)
          note_fail (s, 1);
        while (vd_disk_write (s->d, a, len, off) < 0) {
          note_fail (s, 1);
          if (++tries > 50) {
            fprintf (stderr, "GAVE UP writing %llu\n",
                     (unsigned long long) off);
            exit (1);
          }
        }
        if (pwrite (s->ref, a, len, (off_t) off) != (ssize_t) len)
          abort ();
        tries = 0;
        while (vd_disk_read (s->d, b, len, off) < 0) {
          note_fail (s, 0);
          if (++tries > 50) {
            fprintf (stderr, "GAVE UP rewriting %llu\n",
                     (unsigned long long) off);
            exit (1);
          }
          if (vd_disk_write (s->d, a, len, off) < 0)
            note_fail (s, 1);
        }
        pthread_mutex_lock (&s->mu);
        s->writes++;
        if (memcmp (a, b, len) != 0) {
          s->bad++;
          fprintf (stderr, "MISMATCH after write at %llu\n",
                   (unsigned long long) off);
        }
        pthread_mutex_unlock (&s->mu);
      }
    }
    if (i % 4 == 0) {           /* a sequential run of 1 MiB reads */
      len = 1u << 20;
      off = seq;
      seq += len;
      if (seq + len > s->rsize)
        seq = 0;
    }
    else {
      len = 1 + (size_t) (rnd (&x) % max);
      off = rnd (&x) % s->rsize;
    }
    if (len > s->rsize - off)
      len = (size_t) (s->rsize - off);
    if (len == 0)
      continue;
    if (vd_disk_read (s->d, a, len, off) < 0) {
      note_fail (s, 0);
      continue;
    }
    /* writes of other threads land in their own ranges only */
    if (pread (s->ref, b, len, (off_t) off) != (ssize_t) len)
      abort ();
    pthread_mutex_lock (&s->mu);
    s->n++;
    if (memcmp (a, b, len) != 0) {
      s->bad++;
      fprintf (stderr, "MISMATCH %zu bytes at %llu\n", len,
               (unsigned long long) off);
    }
    pthread_mutex_unlock (&s->mu);
  }
  free (a);
  free (b);
  return NULL;
}

int
main (int argc, char **argv)
{
  struct shared s;
  unsigned nt;

  if (argc < 5) {
    fprintf (stderr, "usage: nbd-stress URI REFERENCE THREADS READS "
             "[write]\n");
    return 2;
  }
  memset (&s, 0, sizeof s);
  pthread_mutex_init (&s.mu, NULL);
  s.do_write = argc > 5 && strcmp (argv[5], "write") == 0;
  nt = (unsigned) atoi (argv[3]);
  s.reads = (unsigned) atoi (argv[4]);
  if (nt < 1 || nt > 64)
    return 2;
  s.ref = open (argv[2], s.do_write ? O_RDWR : O_RDONLY);
  if (s.ref < 0) {
    perror (argv[2]);
    return 2;
  }
  if (vd_disk_open (&s.d, argv[1], s.do_write ? 0 : VD_OPEN_READ_ONLY) < 0) {
    fprintf (stderr, "open: %s\n", vd_last_error ()->message);
    return 2;
  }
  s.size = vd_disk_get_size (s.d);
  s.rsize = s.do_write ? s.size - ((uint64_t) nt << 20) : s.size;
  if (s.do_write && s.size <= ((uint64_t) nt << 21))
    return 2;
  struct worker *w = calloc (nt, sizeof *w);
  for (unsigned i = 0; i < nt; i++) {
    w[i].s = &s;
    w[i].id = i;
    if (pthread_create (&w[i].t, NULL, run, &w[i]) != 0)
      return 2;
  }
  for (unsigned i = 0; i < nt; i++)
    pthread_join (w[i].t, NULL);
  vd_disk_close (s.d);
  printf ("reads %lu failed %lu mismatched %lu writes %lu wfailed %lu "
          "nomessage %lu\n", s.n, s.failed, s.bad, s.writes, s.wfailed,
          s.badmsg);
  if (s.first_msg[0])
    printf ("FAILMSG %s\n", s.first_msg);
  free (w);
  close (s.ref);
  return s.bad == 0 && s.badmsg == 0 ? 0 : 1;
}
