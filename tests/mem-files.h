/* Helpers of the unit tests that run the library over its in-memory file
 * system (lib/io-mem.c, vd__memfs_*; the fuzz targets drive it the same
 * way, tests/fuzz/fuzz-common.h).
 *
 * While a memfs is current (vd__memfs_set_current, per thread), every file
 * the library opens is looked up by its base name in the memfs; each open
 * gets its own copy, so writes last as long as the handle (nothing reaches
 * a real file, nothing persists after vd_disk_close).  The memfs cannot
 * create files, so the disks are made by vd_disk_create in a scratch
 * folder, loaded with mf_load_dir and the scratch files deleted: an open
 * that succeeds afterwards can only have read memory. */
#ifndef VDISK_TEST_MEM_FILES_H
#define VDISK_TEST_MEM_FILES_H

#include "internal.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The whole of file path in a new buffer (*len its size), or NULL. */
static uint8_t * __attribute__ ((unused))
mf_slurp (const char *path, size_t *len)
{
  FILE *f = fopen (path, "rb");
  uint8_t *buf = NULL;
  long n;
  if (!f)
    return NULL;
  if (fseek (f, 0, SEEK_END) == 0 && (n = ftell (f)) >= 0
      && fseek (f, 0, SEEK_SET) == 0 && (buf = malloc ((size_t) n + 1))
      && fread (buf, 1, (size_t) n, f) == (size_t) n)
    *len = (size_t) n;
  else {
    free (buf);
    buf = NULL;
  }
  fclose (f);
  return buf;
}

/* Every regular file of dir into fs under its name; then the files are
 * deleted when unlink_them.  Returns the number of files, -1 on error. */
static int __attribute__ ((unused))
mf_load_dir (struct vd_memfs *fs, const char *dir, int unlink_them)
{
  DIR *d = opendir (dir);
  struct dirent *e;
  int n = 0;
  if (!d)
    return -1;
  while ((e = readdir (d))) {
    char p[512];
    struct stat st;
    size_t len = 0;
    uint8_t *buf;
    snprintf (p, sizeof p, "%s/%s", dir, e->d_name);
    if (stat (p, &st) < 0 || !S_ISREG (st.st_mode))
      continue;
    if (!(buf = mf_slurp (p, &len)) || vd__memfs_add (fs, e->d_name, buf, len) < 0) {
      free (buf);
      closedir (d);
      return -1;
    }
    free (buf);
    if (unlink_them)
      unlink (p);
    n++;
  }
  closedir (d);
  return n;
}

/* Remove every file of dir, then dir. */
static void __attribute__ ((unused))
mf_rm_dir (const char *dir)
{
  DIR *d = opendir (dir);
  struct dirent *e;
  if (d) {
    while ((e = readdir (d))) {
      char p[512];
      if (strcmp (e->d_name, ".") == 0 || strcmp (e->d_name, "..") == 0)
        continue;
      snprintf (p, sizeof p, "%s/%s", dir, e->d_name);
      unlink (p);
    }
    closedir (d);
  }
  rmdir (dir);
}

/* Deterministic bytes, different for every (offset, seed). */
static void __attribute__ ((unused))
mf_fill (uint8_t *p, size_t n, uint64_t off, unsigned seed)
{
  for (size_t i = 0; i < n; i++)
    p[i] = (uint8_t) ((((off + i) * 2654435761u) >> 13) ^ (seed * 0x9e));
}

static int __attribute__ ((unused))
mf_all_zero (const uint8_t *p, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (p[i])
      return 0;
  return 1;
}

#endif /* VDISK_TEST_MEM_FILES_H */
