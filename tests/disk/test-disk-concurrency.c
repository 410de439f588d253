/* Concurrency (security-checklist.md §6 and §5 T5):
 * - two read-write handles in one process: the second is refused;
 * - a writer in another process: refused; after kill -9 of it a new
 *   writer succeeds at once and the disk shows uncleanShutdown;
 * - a VMware DISK.vmdk.lck/ folder: read-write refused (VD_ELOCKED)
 *   unless VD_OPEN_FORCE; read-only allowed;
 * - a race: several processes loop open-write-close; at no moment do two
 *   hold the disk for writing (each logs its span, checked afterwards);
 * - many threads read one handle at once (a sparse child over a parent)
 *   and get the right bytes; `make tsan` runs this under ThreadSanitizer. */
#include "internal.h"
#include "tap.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CAP (4u << 20)
#define THREADS 8

static char dir[200], pdisk[300], pchild[300], plck[300], plog[300];
static uint8_t content[CAP];
static vd_disk *shared;

static void
pattern (uint8_t *b, size_t n, uint64_t seed)
{
  uint64_t x = seed * 0x9e3779b97f4a7c15ull + 3;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b[i] = (uint8_t) x;
  }
}

static void *
reader (void *arg)
{
  uint64_t s = (uint64_t) (uintptr_t) arg * 7919 + 1;
  static __thread uint8_t buf[200000];
  long bad = 0;
  for (int i = 0; i < 300; i++) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    size_t len = 1 + s % sizeof buf;
    uint64_t off = (s >> 20) % (CAP - len);
    if (vd_disk_read (shared, buf, len, off) < 0
        || memcmp (buf, content + off, len) != 0)
      bad++;
  }
  return (void *) bad;
}

static int
create (const char *path)
{
  struct vd_create_params p;
  vd_create_params_init (&p);
  p.capacity = CAP;
  return vd_disk_create (path, &p);
}

int
main (void)
{
  vd_disk *a = NULL, *b = NULL;
  struct vd_check_result res;
  int fds[2], r;
  pid_t pid;
  char c;

  snprintf (dir, sizeof dir, "/tmp/vdisk-conc-%d", (int) getpid ());
  snprintf (pdisk, sizeof pdisk, "%s/d.vmdk", dir);
  snprintf (pchild, sizeof pchild, "%s/c.vmdk", dir);
  snprintf (plck, sizeof plck, "%s/d.vmdk.lck", dir);
  snprintf (plog, sizeof plog, "%s/spans", dir);
  if (mkdir (dir, 0755) < 0 || create (pdisk) < 0) {
    printf ("Bail out! setup\n");
    return 1;
  }

  /* two handles, one process */
  ok (vd_disk_open (&a, pdisk, 0) == 0, "first read-write handle opens");
  r = vd_disk_open (&b, pdisk, 0);
  ok (r == VD_ELOCKED, "a second read-write handle in the same process is "
      "refused (%d: %s)", r, vd_last_error ()->message);
  if (r == 0)
    vd_disk_close (b);
  vd_disk_close (a);

  /* another process holds it, then dies by kill -9 */
  if (pipe (fds) < 0)
    return 1;
  if ((pid = fork ()) == 0) {
    vd_disk *d;
    uint8_t x[512] = { 1 };
    if (vd_disk_open (&d, pdisk, 0) < 0 || vd_disk_write (d, x, 512, 0) < 0)
      _exit (1);
    if (write (fds[1], "r", 1) != 1)
      _exit (1);
    pause ();
    _exit (0);
  }
  close (fds[1]);
  ok (read (fds[0], &c, 1) == 1, "a writer process holds the disk");
  close (fds[0]);
  r = vd_disk_open (&a, pdisk, 0);
  ok (r == VD_ELOCKED, "a writer in another process is refused (%d)", r);
  if (r == 0)
    vd_disk_close (a);
  kill (pid, SIGKILL);
  waitpid (pid, NULL, 0);
  ok (vd_check (pdisk, 0, &res, NULL, NULL) == 0 && res.unclean == 1,
      "after kill -9 the disk shows uncleanShutdown");
  r = vd_disk_open (&a, pdisk, 0);
  ok (r == 0, "after kill -9 a new writer gets the disk at once (%s)",
      r ? vd_last_error ()->message : "ok");
  if (r == 0)
    vd_disk_close (a);

  /* VMware lock folder */
  mkdir (plck, 0755);
  r = vd_disk_open (&a, pdisk, 0);
  ok (r == VD_ELOCKED && strstr (vd_last_error ()->message, ".lck"),
      "a .lck folder refuses a read-write open, naming it (%s)",
      vd_last_error ()->message);
  if (r == 0)
    vd_disk_close (a);
  r = vd_disk_open (&a, pdisk, VD_OPEN_READ_ONLY);
  ok (r == 0, "a .lck folder allows a read-only open");
  if (r == 0)
    vd_disk_close (a);
  r = vd_disk_open (&a, pdisk, VD_OPEN_FORCE);
  ok (r == 0, "VD_OPEN_FORCE overrides the .lck folder");
  if (r == 0)
    vd_disk_close (a);
  rmdir (plck);

  /* race: 4 processes loop open-write-close for about a second */
  {
    int n = 4, overlap = 0, spans = 0;
    for (int k = 0; k < n; k++)
      if (fork () == 0) {
        int fd = open (plog, O_WRONLY | O_CREAT | O_APPEND, 0644);
        struct timespec t0, t;
        clock_gettime (CLOCK_MONOTONIC, &t0);
        do {
          vd_disk *d;
          uint8_t x[4096];
          char rec[32];
          memset (x, k, sizeof x);
          if (vd_disk_open (&d, pdisk, 0) == 0) {
            snprintf (rec, sizeof rec, "+%d\n", k);
            if (write (fd, rec, strlen (rec)) < 0)
              _exit (1);
            vd_disk_write (d, x, sizeof x, (uint64_t) k * 65536);
            snprintf (rec, sizeof rec, "-%d\n", k);
            if (write (fd, rec, strlen (rec)) < 0)
              _exit (1);
            vd_disk_close (d);
          }
          clock_gettime (CLOCK_MONOTONIC, &t);
        } while (t.tv_sec - t0.tv_sec < 1);
        _exit (0);
      }
    for (int k = 0; k < n; k++)
      wait (NULL);
    FILE *f = fopen (plog, "r");
    char line[32];
    int holders = 0;
    while (f && fgets (line, sizeof line, f)) {
      if (line[0] == '+') {
        spans++;
        if (++holders > 1)
          overlap++;
      }
      else
        holders--;
    }
    if (f)
      fclose (f);
    ok (spans > 0 && overlap == 0, "race of 4 writer processes: %d write "
        "sessions, %d overlapping", spans, overlap);
    ok (vd_check (pdisk, 0, &res, NULL, NULL) == 0 && res.corruptions == 0,
        "the raced disk checks clean");
  }

  /* many readers on one handle: a child over a parent */
  {
    pthread_t th[THREADS];
    long bad = 0;
    vd_disk *d;
    pattern (content, CAP, 5);
    memset (content + CAP / 4, 0, CAP / 4);
    r = vd_disk_open (&d, pdisk, 0);
    if (r == 0)
      r = vd_disk_write (d, content, CAP, 0);
    if (r == 0)
      r = vd_disk_create_child (d, pchild, 0, 0);
    vd_disk_close (d);
    if (r == 0 && vd_disk_open (&d, pchild, 0) == 0) {
      pattern (content + 1000000, 700000, 6);
      r = vd_disk_write (d, content + 1000000, 700000, 1000000);
      vd_disk_close (d);
    }
    ok (r == 0, "child with data over a parent");
    r = vd_disk_open (&shared, pchild, VD_OPEN_READ_ONLY);
    for (int i = 0; r == 0 && i < THREADS; i++)
      pthread_create (&th[i], NULL, reader, (void *) (uintptr_t) i);
    for (int i = 0; r == 0 && i < THREADS; i++) {
      void *v;
      pthread_join (th[i], &v);
      bad += (long) v;
    }
    ok (r == 0 && bad == 0, "%d threads x 300 random reads on one handle: "
        "%ld wrong", THREADS, bad);
    vd_disk_close (shared);
  }

  {
    char cmd[300];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system (cmd) != 0)
      return 1;
  }
  return done_testing ();
}
