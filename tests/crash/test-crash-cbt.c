/* kill -9 of a writer of a tracked disk (changed block tracking): a child
 * process writes at random, the parent kills it after a random delay; a
 * read-only query since the ID taken before the cycle either fails as
 * "interrupted"/"another epoch" (a full copy is then needed) or covers
 * every byte that changed.  Never a missed change.
 * CBT_CYCLES=N (default 500).  (Moved from the cbt API test, unchanged;
 * the helpers are tests/cbt/cbt-helpers.h.) */
#include "tap.h"

#include <vdisk/vdisk.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cbt/cbt-helpers.h"

int
main (void)
{
  struct vd_create_params p;
  const char *env = getenv ("CBT_CYCLES");
  int cycles = env ? atoi (env) : 500;
  vd_disk *d;
  uint64_t at = 0;
  int r;

  if (!mkdtemp (dir))
    return 1;
  snprintf (disk, sizeof disk, "%s/d.vmdk", dir);
  snprintf (ctk, sizeof ctk, "%s/d-ctk.vmdk", dir);
  /* the disk as the API test leaves it: tracked, 300 random writes in */
  vd_create_params_init (&p);
  p.capacity = CAP;
  if (vd_disk_create (disk, &p) < 0 || vd_disk_cbt_enable (disk, 0) < 0
      || vd_disk_open (&d, disk, 0) < 0) {
    printf ("# setup: %s\n", vd_last_error ()->message);
    return 1;
  }
  random_writes (d, 1, 300, 7);
  if (vd_disk_close (d) < 0) {
    printf ("# setup: %s\n", vd_last_error ()->message);
    return 1;
  }

  /* kill -9 cycles */
  int exact = 0, refused = 0, missed = 0, broken = 0;
  srand ((unsigned) time (NULL));
  for (int c = 0; c < cycles; c++) {
    char id[VD_CHANGE_ID_MAX];
    /* an interrupted set is reset by the next read-write open */
    if (vd_disk_open (&d, disk, 0) == 0)
      vd_disk_close (d);
    if (change_id (id) < 0 || read_all (before) < 0) {
      broken++;
      break;
    }
    unsigned seed = (unsigned) rand ();
    int delay = rand () % 15000;
    pid_t pid = fork ();
    if (pid == 0) {
      vd_disk *w;
      if (vd_disk_open (&w, disk, 0) < 0)
        _exit (3);
      random_writes (w, seed, 40, 4);
      vd_disk_close (w);
      _exit (0);
    }
    usleep ((useconds_t) delay);
    kill (pid, SIGKILL);
    waitpid (pid, NULL, 0);
    r = verify (id, &at);
    if (r == 0)
      exact++;
    else if (r == 1)
      refused++;
    else if (r == -1) {
      missed++;
      printf ("#   cycle %d: byte %llu changed but not reported\n", c,
              (unsigned long long) at);
    }
    else {
      broken++;
      printf ("#   cycle %d: %s\n", c, vd_last_error ()->message);
    }
  }
  printf ("# %d kill cycles: %d exact, %d refused (reset), %d missed, %d "
          "errors\n", cycles, exact, refused, missed, broken);
  ok (missed == 0 && broken == 0, "%d kill -9 cycles: no change missed "
      "(%d answered exactly, %d refused as interrupted)", cycles, exact, refused);
  ok (cycles < 20 || (exact > 0 && refused > 0),
      "the kills landed both between and inside change sets");

  char cmd[600];
  snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system (cmd) != 0)
    return 1;
  return done_testing ();
}
