/* File-system helpers every tier shares: the one way vdisk replaces a file
 * (a temporary file beside it, written and fsync'ed, renamed over, then the
 * folder fsync'ed), a folder fsync and a recursive remove that never
 * follows a symbolic link.  A crash at any moment leaves either the old or
 * the new file, never a half one. */
#include "base/base.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
vd__fsync_dir (const char *path)
{
  int fd = open (path && *path ? path : ".", O_RDONLY | O_DIRECTORY
                 | O_CLOEXEC);
  if (fd < 0)
    return -1;
  int r = fsync (fd);
  close (fd);
  return r;
}

int
vd__rm_rf (const char *path)
{
  struct stat st;
  if (lstat (path, &st) < 0)
    return errno == ENOENT ? 0 : -1;
  if (!S_ISDIR (st.st_mode))
    return unlink (path);
  DIR *d = opendir (path);
  if (!d)
    return -1;
  struct dirent *de;
  while ((de = readdir (d))) {
    if (!strcmp (de->d_name, ".") || !strcmp (de->d_name, ".."))
      continue;
    char *p = vd__asprintf ("%s/%s", path, de->d_name);
    if (p)
      vd__rm_rf (p);
    free (p);
  }
  closedir (d);
  return rmdir (path);
}

int
vd__write_file_atomic (int dirfd, const char *dir, const char *base,
                       const char *text, size_t len, mode_t mode,
                       int noreplace)
{
  uint8_t rnd[4];
  char tmp[NAME_MAX + 1];
  int fd, r = 0;

  if (vd__random_bytes (rnd, sizeof rnd) < 0)
    return VD_EIO;
  /* .vdisk-tmp-RANDOM with the file's own extension (so a left-over
   * temporary descriptor still reads as one, a JSON file as JSON) */
  const char *ext = strrchr (base, '.');
  if (!ext || strlen (ext) > 16 || ext == base)
    ext = "";
  snprintf (tmp, sizeof tmp, ".vdisk-tmp-%02x%02x%02x%02x%s", rnd[0],
            rnd[1], rnd[2], rnd[3], ext);
  fd = openat (dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC
               | O_NOFOLLOW, mode);
  if (fd < 0)
    return vd__error (vd__errno_code (errno), errno, "%s/%s: cannot create "
                     "the new file", dir, tmp);
  fchmod (fd, mode);
  for (size_t done = 0; done < len && r == 0;) {
    ssize_t n = write (fd, text + done, len - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      r = vd__error (vd__errno_code (errno), errno, "%s/%s: write", dir, tmp);
    else
      done += (size_t) n;
  }
  if (r == 0 && fsync (fd) < 0)
    r = vd__error (vd__errno_code (errno), errno, "%s/%s: fsync", dir, tmp);
  close (fd);
  if (r == 0 && renameat2 (dirfd, tmp, dirfd, base,
                           noreplace ? RENAME_NOREPLACE : 0) < 0) {
    int e = errno;
    r = vd__error (e == EEXIST ? VD_EEXIST : vd__errno_code (e), e,
                  "%s/%s: cannot put the file in place%s", dir, base,
                  e == EEXIST ? " (file exists)" : "");
  }
  if (r < 0)
    unlinkat (dirfd, tmp, 0);
  else
    fsync (dirfd);
  return r;
}

int
vd__replace_file (const char *path, const void *data, size_t len,
                  mode_t mode)
{
  const char *sl = strrchr (path, '/');
  char *dir = sl ? strndup (path, (size_t) (sl - path)) : strdup (".");
  if (!dir)
    return vd__error (VD_ENOMEM, ENOMEM, "%s", path);
  const char *base = sl ? sl + 1 : path;
  int dfd = open (*dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int r;
  if (dfd < 0)
    r = vd__error (vd__errno_code (errno), errno, "%s: cannot open the "
                  "folder", *dir ? dir : "/");
  else {
    r = vd__write_file_atomic (dfd, *dir ? dir : "/", base, data, len, mode,
                               0);
    close (dfd);
  }
  free (dir);
  return r;
}
