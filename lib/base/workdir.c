/* Hidden work folders: the ".vdisk-new-*" folder in which create, convert
 * and child build a new disk (create.c), and the ".vdisk-work-*" folder in
 * which shrink, defragment and grow rebuild one (manage.c).
 *
 * A process killed in the middle leaves its work folder behind, holding up
 * to a whole disk.  So each folder names its creator and records its
 * target:
 *   .vdisk-KIND-PID-START-BOOT-RANDOM
 * PID and START (field 22 of /proc/PID/stat, clock ticks since boot) tell
 * a reused pid from the creator; BOOT (the first 32 bits of the kernel's
 * boot id) tells a pid of an earlier boot.  The file ".vdisk-target"
 * inside holds the file name of the disk being built.  The creator also
 * holds an flock on the folder for as long as it lives, so a creator in
 * another pid namespace (a container sharing the folder) is never taken
 * for gone.
 *
 * A folder is stale when its creator is gone: another boot, no such pid,
 * or a pid of a later start time; and its flock is free.  Folders of an
 * older vdisk (no creator in the name) are reported as of unknown creator
 * and never removed. */
#include "base/base.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define TARGET_FILE ".vdisk-target"

/* Read a small file without following a symlink or blocking on a FIFO. */
static ssize_t
read_small (int dirfd, const char *name, char *buf, size_t cap)
{
  int fd = openat (dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK
                                | O_CLOEXEC | O_NOCTTY);
  struct stat st;
  ssize_t n = -1;
  if (fd < 0)
    return -1;
  if (fstat (fd, &st) == 0 && S_ISREG (st.st_mode))
    n = read (fd, buf, cap - 1);
  close (fd);
  if (n >= 0)
    buf[n] = '\0';
  return n;
}

static uint32_t
boot_tag (void)
{
  char b[64];
  uint32_t v = 0;
  if (read_small (AT_FDCWD, "/proc/sys/kernel/random/boot_id", b, sizeof b)
      < 8)
    return 0;
  for (int i = 0; i < 8 && isxdigit ((unsigned char) b[i]); i++)
    v = (v << 4) | (uint32_t) (isdigit ((unsigned char) b[i])
                               ? b[i] - '0'
                               : tolower ((unsigned char) b[i]) - 'a' + 10);
  return v;
}

/* Field 22 (starttime) of /proc/PID/stat; 0 on failure.  *gone is set
 * when there is certainly no such process. */
static unsigned long long
start_time (long pid, int *gone)
{
  char path[64], b[1024];
  const char *p;
  unsigned long long v = 0;
  *gone = 0;
  snprintf (path, sizeof path, "/proc/%ld/stat", pid);
  if (read_small (AT_FDCWD, path, b, sizeof b) <= 0) {
    int e = errno;
    /* /proc itself there, the pid not: gone */
    if (e == ENOENT && access ("/proc/self/stat", R_OK) == 0)
      *gone = 1;
    return 0;
  }
  p = strrchr (b, ')');         /* the command name may hold anything */
  if (!p)
    return 0;
  p++;
  for (int field = 2; *p && field < 22; p++)
    if (*p == ' ')
      field++;
  v = strtoull (p, NULL, 10);
  return v;
}

int
vd__workdir_make (const char *dir, const char *kind, const char *target,
                  char **path_out, int *fd_out)
{
  uint8_t rnd[4];
  int gone;
  long pid = (long) getpid ();
  unsigned long long st = start_time (pid, &gone);
  char *path;
  int fd, tfd;
  size_t len;

  *path_out = NULL;
  *fd_out = -1;
  if (vd__random_bytes (rnd, sizeof rnd) < 0)
    return VD_EIO;
  path = vd__asprintf ("%s/.vdisk-%s-%ld-%llu-%08" PRIx32 "-%02x%02x%02x%02x",
                       dir, kind, pid, st, boot_tag (), rnd[0], rnd[1],
                       rnd[2], rnd[3]);
  if (!path)
    return VD_ENOMEM;
  if (mkdir (path, 0755) < 0) {
    int e = errno;
    int r = vd__error (vd__errno_code (e), e, "%s: cannot create files in "
                      "this folder (for %s)", dir, target ? target : "a disk");
    free (path);
    return r;
  }
  fd = open (path, O_DIRECTORY | O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 || flock (fd, LOCK_EX | LOCK_NB) < 0) {
    int e = errno;
    if (fd >= 0)
      close (fd);
    rmdir (path);
    free (path);
    return vd__error (VD_EIO, e, "%s: cannot lock the work folder", dir);
  }
  tfd = openat (fd, TARGET_FILE, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC
                                 | O_NOFOLLOW, 0644);
  len = target ? strlen (target) : 0;
  if (tfd < 0 || write (tfd, target ? target : "", len) != (ssize_t) len) {
    int e = errno;
    if (tfd >= 0)
      close (tfd);
    unlinkat (fd, TARGET_FILE, 0);
    close (fd);
    rmdir (path);
    free (path);
    return vd__error (vd__errno_code (e), e, "%s: cannot write in the work "
                     "folder", dir);
  }
  close (tfd);
  *path_out = path;
  *fd_out = fd;
  return 0;
}

/* Remove the plain entries of a work folder (never following a link, never
 * descending) and the folder; dirfd is the parent.  0, or -1 when
 * something stayed. */
static int
remove_at (int dirfd, const char *name)
{
  int fd = openat (dirfd, name, O_DIRECTORY | O_RDONLY | O_NOFOLLOW
                                | O_CLOEXEC);
  DIR *d;
  struct dirent *de;
  if (fd < 0)
    return -1;
  d = fdopendir (fd);
  if (!d) {
    close (fd);
    return -1;
  }
  while ((de = readdir (d)))
    if (strcmp (de->d_name, ".") && strcmp (de->d_name, ".."))
      unlinkat (fd, de->d_name, 0);
  closedir (d);
  return unlinkat (dirfd, name, AT_REMOVEDIR) == 0 ? 0 : -1;
}

void
vd__workdir_remove (const char *path, int fd)
{
  char *dir = vd__dirname (path), *base = vd__basename (path);
  if (dir && base) {
    int dfd = open (dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (dfd >= 0) {
      remove_at (dfd, base);
      close (dfd);
    }
  }
  if (fd >= 0)
    close (fd);
  free (dir);
  free (base);
}

/* ".vdisk-new-..." or ".vdisk-work-..."? */
static int
is_workdir_name (const char *n)
{
  return strncmp (n, ".vdisk-new-", 11) == 0
      || strncmp (n, ".vdisk-work-", 12) == 0;
}

/* Creator of a work folder from its name: 0 unknown (an older name). */
static int
parse_creator (const char *n, long *pid, unsigned long long *st,
               uint32_t *boot)
{
  const char *p = n + (n[7] == 'n' ? 11 : 12);
  char *end;
  unsigned long v;
  errno = 0;
  *pid = strtol (p, &end, 10);
  if (errno || end == p || *end != '-' || *pid <= 0)
    return 0;
  p = end + 1;
  *st = strtoull (p, &end, 10);
  if (errno || end == p || *end != '-')
    return 0;
  p = end + 1;
  v = strtoul (p, &end, 16);
  if (errno || end != p + 8 || *end != '-')
    return 0;
  *boot = (uint32_t) v;
  return 1;
}

/* Bytes the regular files of a folder take. */
static uint64_t
folder_bytes (int fd)
{
  int dup_fd = dup (fd);
  DIR *d = dup_fd >= 0 ? fdopendir (dup_fd) : NULL;
  struct dirent *de;
  uint64_t sum = 0;
  if (!d) {
    if (dup_fd >= 0)
      close (dup_fd);
    return 0;
  }
  while ((de = readdir (d))) {
    struct stat st;
    if (fstatat (fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0
        && S_ISREG (st.st_mode))
      sum += (uint64_t) st.st_blocks * 512;
  }
  closedir (d);
  return sum;
}

void
vd_workdirs_free (struct vd_workdir *list, size_t n)
{
  if (!list)
    return;
  for (size_t i = 0; i < n; i++) {
    free (list[i].name);
    free (list[i].target);
  }
  free (list);
}

int
vd_dir_clean (const char *dir, const char *target, uint32_t flags,
              struct vd_workdir **list, size_t *n_out)
{
  struct vd_workdir *v = NULL;
  size_t n = 0, cap = 0;
  uint32_t boot = boot_tag ();
  int dfd, r = 0;
  DIR *d;
  struct dirent *de;

  VD_ENTER ();
  if (list)
    *list = NULL;
  if (n_out)
    *n_out = 0;
  if (!dir)
    return vd__error (VD_EINVAL, 0, "clean: no folder given");
  dfd = open (dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (dfd < 0)
    return vd__error (vd__errno_code (errno), errno, "%s: cannot open the "
                     "folder", dir);
  d = fdopendir (dup (dfd));
  if (!d) {
    r = vd__error (vd__errno_code (errno), errno, "%s: cannot list", dir);
    close (dfd);
    return r;
  }
  while ((de = readdir (d))) {
    struct vd_workdir w;
    struct stat st;
    char tb[NAME_MAX + 2];
    long pid = 0;
    unsigned long long stime = 0;
    uint32_t wboot = 0;
    int fd, known, gone = 0;

    if (!is_workdir_name (de->d_name))
      continue;
    if (fstatat (dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0
        || !S_ISDIR (st.st_mode))
      continue;                 /* a symlink or file of that name: not ours */
    fd = openat (dfd, de->d_name, O_DIRECTORY | O_RDONLY | O_NOFOLLOW
                                  | O_CLOEXEC);
    if (fd < 0)
      continue;
    memset (&w, 0, sizeof w);
    known = parse_creator (de->d_name, &pid, &stime, &wboot);
    if (read_small (fd, TARGET_FILE, tb, sizeof tb) >= 0 && tb[0]
        && !strchr (tb, '/'))
      w.target = vd__strdup (tb);
    if (target && w.target && strcmp (w.target, target) != 0) {
      free (w.target);
      close (fd);
      continue;
    }
    if (target && !w.target && !known) {
      close (fd);               /* an older vdisk's: only a listing of all */
      continue;
    }
    w.state = VD_WORKDIR_UNKNOWN;
    if (known) {
      unsigned long long now;
      w.pid = pid;
      if (boot && wboot && boot != wboot)
        gone = 1;
      else {
        now = start_time (pid, &gone);
        if (!gone && now && now != stime)
          gone = 1;             /* the pid was reused */
        w.state = gone ? VD_WORKDIR_STALE
                : now ? VD_WORKDIR_LIVE : VD_WORKDIR_UNKNOWN;
      }
      if (gone) {
        /* a creator we cannot see (another pid namespace) still holds
         * the lock */
        if (flock (fd, LOCK_EX | LOCK_NB) < 0)
          w.state = VD_WORKDIR_LIVE;
        else
          w.state = VD_WORKDIR_STALE;
      }
    }
    w.bytes = folder_bytes (fd);
    if (w.state == VD_WORKDIR_STALE && (flags & VD_CLEAN_REMOVE))
      w.removed = remove_at (dfd, de->d_name) == 0;
    close (fd);                 /* drops our flock */
    if (!list) {
      free (w.target);
      n++;
      continue;
    }
    w.name = vd__strdup (de->d_name);
    if (n == cap) {
      size_t nc = cap ? cap * 2 : 8;
      struct vd_workdir *p = realloc (v, nc * sizeof *p);
      if (!p) {
        free (w.name);
        free (w.target);
        r = vd__error (VD_ENOMEM, errno, "clean");
        break;
      }
      v = p;
      cap = nc;
    }
    v[n++] = w;
  }
  closedir (d);
  close (dfd);
  if (r < 0) {
    vd_workdirs_free (v, n);
    return r;
  }
  if (list)
    *list = v;
  if (n_out)
    *n_out = n;
  return 0;
}

void
vd__workdir_clean_stale (const char *dir, const char *target)
{
  if (vd_dir_clean (dir, target, VD_CLEAN_REMOVE, NULL, NULL) < 0)
    vd__error_clear ();
}
