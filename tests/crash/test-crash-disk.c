/* kill -9 crash test (security-checklist.md §5 T3).
 *
 * A child process runs a seeded random workload on a disk: writes at
 * random offsets (sector-aligned or not, 1 byte to 150 KB), flushing at
 * random points; before each write it logs "started i" and after each
 * successful flush "flushed i" to a side file, fdatasync'ed.  The parent
 * kills it with SIGKILL after a random delay, then (with the same seed it
 * replays the workload in memory) checks that:
 * - the disk opens, and vd_check finds no corruption (leaks allowed; a
 *   grain table whose two copies differ is counted apart: it must be
 *   repairable by check --repair);
 * - every write covered by the last logged flush is present;
 * - every other byte holds its flushed content or that of a write started
 *   after the flush;
 * - the disk opens for writing again.
 * Layouts: monolithicSparse, twoGbMaxExtentSparse, monolithicFlat, a
 * child; plus kills during commit and during convert.
 * CRASH_KILLS=N kills per layout (default 6; make crash-long: 1000);
 * CRASH_ONLY=WORD runs only the layouts whose name holds WORD. */
#include "internal.h"
#include "tap.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CAP (4u << 20)
#define NOPS 120

static char dir[200], pdisk[300], pchild[300], pout[300], plog[300];
static uint8_t committed[CAP], got[2 * CAP];
static unsigned long long needed_repair;

struct op {
  uint64_t off;
  size_t len;
  int flush;
};

static uint64_t
rnd (uint64_t *s)
{
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static void
pattern (uint8_t *b, size_t n, uint64_t seed)
{
  uint64_t x = seed * 0x9e3779b97f4a7c15ull + 7;
  for (size_t i = 0; i < n; i++)
    b[i] = (uint8_t) (rnd (&x) >> 11);
}

static void
gen_ops (uint64_t seed, struct op *ops)
{
  uint64_t s = seed * 2654435761u + 99;
  for (int i = 0; i < NOPS; i++) {
    size_t len = 1 + rnd (&s) % 150000;
    uint64_t off = rnd (&s) % (CAP - len);
    if (rnd (&s) % 2) {            /* sector-aligned half the time */
      off &= ~(uint64_t) 511;
      len = (len + 511) & ~(size_t) 511;
      if (off + len > CAP)
        off = CAP - len;
    }
    ops[i].off = off;
    ops[i].len = len;
    ops[i].flush = rnd (&s) % 4 == 0;
  }
}

static void
logrec (int fd, char kind, int i)
{
  char rec[16];
  snprintf (rec, sizeof rec, "%c %08d\n", kind, i);
  if (write (fd, rec, 11) != 11 || fdatasync (fd) < 0)
    _exit (3);
}

enum kind { K_WRITES, K_COMMIT, K_CONVERT };

/* The workload (child process). */
static void
child_run (enum kind k, const char *target, uint64_t seed)
{
  struct op ops[NOPS];
  static uint8_t buf[150000 + 512];
  vd_disk *d;
  int fd = open (plog, O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0)
    _exit (2);
  if (k == K_COMMIT)
    _exit (vd_disk_commit (pchild, NULL, 0, NULL, NULL) < 0);
  if (k == K_CONVERT) {
    struct vd_create_params p;
    vd_create_params_init (&p);
    if (vd_disk_open (&d, pdisk, VD_OPEN_READ_ONLY) < 0)
      _exit (2);
    _exit (vd_disk_convert (d, pout, &p, NULL, NULL) < 0);
  }
  gen_ops (seed, ops);
  if (vd_disk_open (&d, target, 0) < 0)
    _exit (2);
  for (int i = 0; i < NOPS; i++) {
    pattern (buf, ops[i].len, seed * 1000 + (uint64_t) i);
    logrec (fd, 'S', i);
    if (vd_disk_write (d, buf, ops[i].len, ops[i].off) < 0)
      _exit (4);
    if (ops[i].flush) {
      if (vd_disk_flush (d) < 0)
        _exit (5);
      logrec (fd, 'F', i);
    }
  }
  if (vd_disk_close (d) < 0)
    _exit (6);
  logrec (fd, 'F', NOPS - 1);
  _exit (0);
}

static void
rm_rf (void)
{
  char cmd[400];
  snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system (cmd) != 0)
    abort ();
}

static int
create (const char *path, enum vd_type t)
{
  struct vd_create_params p;
  vd_create_params_init (&p);
  p.type = t;
  p.capacity = CAP;
  return vd_disk_create (path, &p);
}

/* Fresh disk with known content (committed). */
static int
setup (enum vd_type t, int child, int child_data)
{
  vd_disk *d;
  int r;
  rm_rf ();
  if (mkdir (dir, 0755) < 0 || create (pdisk, t) < 0
      || vd_disk_open (&d, pdisk, 0) < 0)
    return -1;
  pattern (committed, CAP, 12345);
  memset (committed + CAP / 2, 0, CAP / 4);   /* some holes */
  r = vd_disk_write (d, committed, CAP, 0);
  if (r == 0 && child)
    r = vd_disk_create_child (d, pchild, 0, 0);
  if (vd_disk_close (d) < 0 || r < 0)
    return -1;
  if (child_data) {
    if (vd_disk_open (&d, pchild, 0) < 0)
      return -1;
    pattern (committed + 100000, 300000, 777);
    r = vd_disk_write (d, committed + 100000, 300000, 100000);
    if (vd_disk_close (d) < 0 || r < 0)
      return -1;
  }
  return 0;
}

/* started / flushed indices from the side log. */
static void
read_log (int *started, int *flushed)
{
  FILE *f = fopen (plog, "r");
  char kind;
  int i;
  *started = *flushed = -1;
  while (f && fscanf (f, " %c %d", &kind, &i) == 2) {
    if (kind == 'S')
      *started = i;
    else if (kind == 'F')
      *flushed = i;
  }
  if (f)
    fclose (f);
}

/* Opens, checks, reads as allowed; 0 or -1 with why. */
static int
verify (const char *path, uint64_t seed, int started, int flushed,
        int writes, const char **why)
{
  static uint8_t expect[CAP];
  struct op ops[NOPS];
  struct vd_check_result res;
  vd_disk *d;
  memcpy (expect, committed, CAP);
  if (writes) {
    gen_ops (seed, ops);
    for (int i = 0; i <= flushed; i++)
      pattern (expect + ops[i].off, ops[i].len, seed * 1000 + (uint64_t) i);
  }
  if (vd_disk_open (&d, path, VD_OPEN_READ_ONLY) < 0) {
    *why = vd_last_error ()->message;
    return -1;
  }
  if (vd_disk_get_size (d) != CAP || vd_disk_read (d, got, CAP, 0) < 0) {
    *why = "cannot read the disk";
    vd_disk_close (d);
    return -1;
  }
  vd_disk_close (d);
  if (writes && started > flushed) {
    /* bytes of writes after the flush may be old or new */
    static uint8_t alt[150000 + 512];
    static uint8_t okmask[CAP];
    memset (okmask, 0, sizeof okmask);
    for (uint64_t i = 0; i < CAP; i++)
      okmask[i] = got[i] == expect[i];
    for (int k = flushed + 1; k <= started && k < NOPS; k++) {
      pattern (alt, ops[k].len, seed * 1000 + (uint64_t) k);
      for (size_t j = 0; j < ops[k].len; j++)
        if (got[ops[k].off + j] == alt[j])
          okmask[ops[k].off + j] = 1;
    }
    for (uint64_t i = 0; i < CAP; i++)
      if (!okmask[i]) {
        *why = "a byte is neither flushed content nor a later write";
        return -1;
      }
  }
  else if (memcmp (got, expect, CAP) != 0) {
    *why = "flushed content lost";
    return -1;
  }
  if (vd_check (path, 0, &res, NULL, NULL) < 0) {
    *why = vd_last_error ()->message;
    return -1;
  }
  if (res.corruptions) {
    struct vd_check_result r2 = { .corruptions = 1 };
    if (vd_check_repair (path, VD_OPEN_FORCE, &r2, NULL, NULL) < 0
        || r2.corruptions) {
      *why = "check finds corruption";
      return -1;
    }
    needed_repair++;
  }
  if (vd_disk_open (&d, path, VD_OPEN_FORCE) < 0) {
    *why = vd_last_error ()->message;
    return -1;
  }
  vd_disk_close (d);
  return 0;
}

static double
now (void)
{
  struct timespec t;
  clock_gettime (CLOCK_MONOTONIC, &t);
  return (double) t.tv_sec + (double) t.tv_nsec / 1e9;
}

struct layout {
  const char *name;
  enum vd_type type;
  int child;
  enum kind kind;
};

int
main (void)
{
  static const struct layout layouts[] = {
    { "monolithicSparse", VD_TYPE_MONOLITHIC_SPARSE, 0, K_WRITES },
    { "twoGbMaxExtentSparse", VD_TYPE_SPLIT_SPARSE, 0, K_WRITES },
    { "monolithicFlat", VD_TYPE_MONOLITHIC_FLAT, 0, K_WRITES },
    { "child of monolithicSparse", VD_TYPE_MONOLITHIC_SPARSE, 1, K_WRITES },
    { "commit", VD_TYPE_MONOLITHIC_SPARSE, 1, K_COMMIT },
    { "convert", VD_TYPE_MONOLITHIC_SPARSE, 0, K_CONVERT },
  };
  const char *e = getenv ("CRASH_KILLS");
  int kills = e ? atoi (e) : 6;
  unsigned long long all_kills = 0, all_bad = 0, all_lost = 0;

  snprintf (dir, sizeof dir, "%s/vdisk-crash-%d",
            access ("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp",
            (int) getpid ());
  snprintf (pdisk, sizeof pdisk, "%s/d.vmdk", dir);
  snprintf (pchild, sizeof pchild, "%s/c.vmdk", dir);
  snprintf (pout, sizeof pout, "%s/o.vmdk", dir);
  snprintf (plog, sizeof plog, "%s/log", dir);

  for (size_t li = 0; li < sizeof layouts / sizeof layouts[0]; li++) {
    const struct layout *L = &layouts[li];
    const char *target = L->child && L->kind == K_WRITES ? pchild : pdisk;
    const char *only = getenv ("CRASH_ONLY");   /* a layout name part */
    unsigned long long bad = 0, lost = 0, done = 0;
    double t0, full, scale = 0.7;
    const char *why = NULL;
    pid_t pid;
    int st;

    if (only && !strstr (L->name, only))
      continue;
    /* one run to completion measures the workload */
    if (setup (L->type, L->child, L->kind == K_COMMIT) < 0) {
      ok (0, "%s: setup", L->name);
      continue;
    }
    t0 = now ();
    if ((pid = fork ()) == 0)
      child_run (L->kind, target, 1);
    waitpid (pid, &st, 0);
    full = now () - t0;
    if (!WIFEXITED (st) || WEXITSTATUS (st) != 0) {
      ok (0, "%s: workload runs (exit %d)", L->name, WEXITSTATUS (st));
      continue;
    }
    for (int k = 0; k < kills; k++) {
      uint64_t seed = (uint64_t) k + 2;
      int started, flushed, r;
      if (setup (L->type, L->child, L->kind == K_COMMIT) < 0) {
        bad++;
        continue;
      }
      if ((pid = fork ()) == 0)
        child_run (L->kind, target, seed);
      /* the delay adapts: earlier after a run that finished before the
       * kill, later after one that was cut, so that about half of the
       * kills land inside even short operations (commit, convert) */
      usleep ((useconds_t) (full * scale * 1e6 * (double) (rand () % 1000)
                            / 1000.0));
      kill (pid, SIGKILL);
      waitpid (pid, &st, 0);
      done += WIFEXITED (st);
      scale = WIFEXITED (st) ? scale * 0.85 : VD_MIN (1.0, scale * 1.05);
      all_kills++;
      read_log (&started, &flushed);
      if (L->kind == K_COMMIT) {
        /* the child reads the same after an interrupted commit, and a
         * new commit completes it */
        r = verify (pchild, seed, -1, -1, 0, &why);
        if (r == 0 && vd_disk_commit (pchild, NULL, 0, NULL, NULL) < 0) {
          r = -1;
          why = vd_last_error ()->message;
        }
        if (r == 0)
          r = verify (pdisk, seed, -1, -1, 0, &why);
      }
      else if (L->kind == K_CONVERT) {
        struct stat sb;
        r = verify (pdisk, seed, -1, -1, 0, &why);
        if (r == 0 && stat (pout, &sb) == 0)
          r = verify (pout, seed, -1, -1, 0, &why);
      }
      else
        r = verify (target, seed, started, flushed, 1, &why);
      if (r < 0) {
        bad++;
        if (why && strstr (why, "lost"))
          lost++;
        if (bad <= 3)
          printf ("#   %s kill %d (started %d, flushed %d): %s\n", L->name,
                  k, started, flushed, why ? why : "?");
      }
    }
    all_bad += bad;
    all_lost += lost;
    ok (bad == 0, "%s: %d kills (%llu runs had already finished), %llu "
        "corrupted or unreadable, %llu lost flushed writes", L->name, kills,
        done, bad, lost);
    fflush (stdout);
  }
  printf ("# crash test: %llu kills, %llu corrupted disks, %llu lost flushed "
          "writes, %llu disks needed check --repair (table copies differ)\n",
          all_kills, all_bad, all_lost, needed_repair);
  rm_rf ();
  return done_testing ();
}
