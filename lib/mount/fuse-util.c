/* Helpers of the FUSE mounts: the mount folder's checks, fusermount3,
 * programs spawned with only stdin/out/err, the driver's log. */
#include "fuse-internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef VD_HAVE_FUSE

void
vd__mnt_fuse_config (struct fuse_conn_info *conn, struct fuse_config *cfg)
{
  cfg->kernel_cache = 1;
  cfg->attr_timeout = 86400;
  cfg->entry_timeout = 86400;
  cfg->negative_timeout = 86400;
  cfg->use_ino = 1;
  /* big requests: max_write also sets max_pages (reads of 1 MiB) */
  conn->max_write = 1u << 20;
  conn->max_read = 1u << 20;          /* as the max_read mount option */
  conn->max_readahead = 1u << 20;     /* the kernel caps it at its own */
  conn->max_background = 64;          /* async reads in flight */
  if (conn->capable & FUSE_CAP_ASYNC_READ)
    conn->want |= FUSE_CAP_ASYNC_READ;
}

extern char **environ;

/* A spawned program gets stdin/out/err only: a descriptor another thread
 * of the caller has open on a mount would keep that mount busy for the
 * spawned program's life. */
void
vd__mnt_close_others (posix_spawn_file_actions_t *fa)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34)
  posix_spawn_file_actions_addclosefrom_np (fa, 3);
#else
  (void) fa;
#endif
}

int
vd__mnt_dir_check (const char *dir, dev_t *dev)
{
  struct stat st;
  if (stat (dir, &st) < 0)
    return vd__error (vd__errno_code (errno), errno, "%s: %s", dir,
                     strerror (errno));
  if (!S_ISDIR (st.st_mode))
    return vd__error (VD_EINVAL, ENOTDIR, "%s: not a folder", dir);
  DIR *d = opendir (dir);
  if (!d)
    return vd__error (vd__errno_code (errno), errno, "%s: %s", dir,
                     strerror (errno));
  struct dirent *e;
  int empty = 1;
  while ((e = readdir (d)))
    if (strcmp (e->d_name, ".") && strcmp (e->d_name, "..")) {
      empty = 0;
      break;
    }
  closedir (d);
  if (!empty)
    return vd__error (VD_EINVAL, ENOTEMPTY, "%s: the folder is not empty",
                     dir);
  *dev = st.st_dev;
  return 0;
}

int
vd__mnt_fuse_check (void)
{
  if (access ("/dev/fuse", R_OK | W_OK) < 0)
    return vd__error (VD_ENOTSUP, errno, "/dev/fuse: %s (FUSE is not "
                     "available: load the fuse module, or run where "
                     "/dev/fuse is present)", strerror (errno));
  return 0;
}

/* Run argv (PATH lookup), wait; its exit status, or -1. */
int
vd__mnt_run_wait (char *const argv[], int quiet)
{
  posix_spawn_file_actions_t fa;
  pid_t pid;
  int st;
  posix_spawn_file_actions_init (&fa);
  if (quiet) {
    posix_spawn_file_actions_addopen (&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen (&fa, 2, "/dev/null", O_WRONLY, 0);
  }
  vd__mnt_close_others (&fa);
  int r = posix_spawnp (&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy (&fa);
  if (r != 0)
    return -1;
  while (waitpid (pid, &st, 0) < 0)
    if (errno != EINTR)
      return -1;
  return WIFEXITED (st) ? WEXITSTATUS (st) : -1;
}

/* Is dir a mount point (a dead FUSE mount counts)? */
static int
is_mountpoint (const char *dir)
{
  struct stat a, b;
  char up[4096];
  snprintf (up, sizeof up, "%s/..", dir);
  if (stat (dir, &a) < 0)
    return errno == ENOTCONN || errno == EIO;
  if (stat (up, &b) < 0)
    return 0;
  return a.st_dev != b.st_dev || a.st_ino == b.st_ino;
}

/* Unmount dir: fusermount3 -u [-z] (which root and users may run).
 * A folder that is no longer a mount point is done. */
int
vd__mnt_unmount_dir (const char *dir, int force)
{
  if (!is_mountpoint (dir))
    return 0;
  char *argv[6];
  int a = 0;
  argv[a++] = "fusermount3";
  argv[a++] = "-u";
  argv[a++] = "-q";
  if (force)
    argv[a++] = "-z";
  argv[a++] = (char *) dir;
  argv[a] = NULL;
  /* A program spawned by another thread holds a copy of the caller's
   * descriptors for an instant (until it closes them and execs): retry
   * a busy folder for up to 2 s before calling it busy. */
  int r = -1;
  for (int i = 0; i < 20; i++) {
    if ((r = vd__mnt_run_wait (argv, 1)) == 0 || !is_mountpoint (dir))
      return 0;
    if (r < 0 || force)
      break;
    struct timespec ts = { 0, 100 * 1000 * 1000 };
    nanosleep (&ts, NULL);
  }
  return vd__error (VD_EIO, EBUSY, "%s: cannot unmount (busy: a program "
                   "still uses it%s)", dir,
                   r < 0 ? "; or fusermount3 is missing" : "");
}

/* The last line the driver wrote (for messages). */
void
vd__mnt_log_tail (const char *log, char *out, size_t n)
{
  out[0] = 0;
  FILE *f = fopen (log, "r");
  if (!f)
    return;
  char line[512];
  while (fgets (line, sizeof line, f)) {
    line[strcspn (line, "\n")] = 0;
    if (line[0])
      snprintf (out, n, "%s", line);
  }
  fclose (f);
}

#endif /* VD_HAVE_FUSE */
