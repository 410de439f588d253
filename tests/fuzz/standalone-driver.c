/* Replay fuzz inputs without libFuzzer (plain gcc, ASan optional).
 *
 * Two uses:
 * - included by tests/fuzz/test-fuzz-replay.c with FZ_TARGET_TABLE set:
 *   replays tests/fuzz/corpus/<target>/ and tests/fuzz/corpus/regress/
 *   <target>-* for every target, one TAP line per target;
 * - compiled with one fuzz-*.c: `driver FILE|DIR...` runs each input once
 *   (to reproduce a crash with gdb or valgrind). */
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

typedef int (*fz_fn) (const uint8_t *data, size_t size);

static int
fz_run_file (fz_fn fn, const char *path)
{
  FILE *f = fopen (path, "rb");
  uint8_t *buf;
  long n;
  if (!f)
    return -1;
  fseek (f, 0, SEEK_END);
  n = ftell (f);
  fseek (f, 0, SEEK_SET);
  buf = malloc (n > 0 ? (size_t) n : 1);
  if (!buf || (n > 0 && fread (buf, 1, (size_t) n, f) != (size_t) n)) {
    free (buf);
    fclose (f);
    return -1;
  }
  fclose (f);
  fn (buf, (size_t) n);
  free (buf);
  return 0;
}

/* Run every regular file of dir whose name starts with prefix; returns
 * the count, or -1 when dir cannot be read. */
static long
fz_run_dir (fz_fn fn, const char *dir, const char *prefix)
{
  DIR *d = opendir (dir);
  struct dirent *de;
  long count = 0;
  if (!d)
    return -1;
  while ((de = readdir (d))) {
    char path[4096];
    struct stat st;
    if (de->d_name[0] == '.'
        || strncmp (de->d_name, prefix, strlen (prefix)) != 0)
      continue;
    snprintf (path, sizeof path, "%s/%s", dir, de->d_name);
    if (stat (path, &st) < 0 || !S_ISREG (st.st_mode))
      continue;
    if (fz_run_file (fn, path) == 0)
      count++;
  }
  closedir (d);
  return count;
}

#ifdef FZ_TARGET_TABLE
struct fz_target {
  const char *name;
  fz_fn fn;
};
static const struct fz_target fz_targets[] = { FZ_TARGET_TABLE };

int
main (void)
{
  const char *top = getenv ("VDISK_TOP");
  char dir[4096], regress[4096], prefix[64];
  int n = 0, fail = 0;
  snprintf (regress, sizeof regress, "%s/tests/fuzz/corpus/regress",
            top ? top : ".");
  for (size_t i = 0; i < sizeof fz_targets / sizeof fz_targets[0]; i++) {
    struct timespec t0, t1;
    long a, b;
    clock_gettime (CLOCK_MONOTONIC, &t0);
    snprintf (dir, sizeof dir, "%s/tests/fuzz/corpus/%s", top ? top : ".",
              fz_targets[i].name);
    snprintf (prefix, sizeof prefix, "%s-", fz_targets[i].name);
    a = fz_run_dir (fz_targets[i].fn, dir, "");
    b = fz_run_dir (fz_targets[i].fn, regress, prefix);
    clock_gettime (CLOCK_MONOTONIC, &t1);
    n++;
    /* reaching this line means no input crashed or tripped a sanitizer */
    if (a > 0) {
      printf ("ok %d - fuzz replay %s: %ld corpus + %ld regression inputs "
              "(%.2f s)\n", n, fz_targets[i].name, a, b < 0 ? 0 : b,
              (double) (t1.tv_sec - t0.tv_sec)
              + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9);
    }
    else {
      printf ("not ok %d - fuzz replay %s: no corpus in %s\n", n,
              fz_targets[i].name, dir);
      fail++;
    }
    fflush (stdout);
  }
  printf ("1..%d\n", n);
  return fail ? 1 : 0;
}
#else
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
main (int argc, char **argv)
{
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat (argv[i], &st) == 0 && S_ISDIR (st.st_mode))
      fz_run_dir (LLVMFuzzerTestOneInput, argv[i], "");
    else if (fz_run_file (LLVMFuzzerTestOneInput, argv[i]) < 0)
      fprintf (stderr, "%s: %s\n", argv[i], strerror (errno));
    printf ("%s: done\n", argv[i]);
  }
  return 0;
}
#endif
