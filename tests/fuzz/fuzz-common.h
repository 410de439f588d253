/* Shared by the fuzz targets (tests/fuzz/fuzz-*.c): an input becomes a
 * set of in-memory files (vd__memfs), then the library opens, reads,
 * maps, checks and (for some targets) writes the disk they form.
 *
 * Input container: the first file's bytes, then for every further file
 * "@@VDFZ@@" NAME "\n" BYTES.  The first file is "disk.vmdk" unless the
 * input itself starts with "@@VDFZ@@NAME\n".  tests/fuzz/make-seeds.py
 * writes inputs in this form. */
#ifndef VDISK_FUZZ_COMMON_H
#define VDISK_FUZZ_COMMON_H

#include "internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FZ_SEP "@@VDFZ@@"
#define FZ_SEP_LEN 8
#define FZ_MAX_FILES 8
#define FZ_MAX_READS 64
#define FZ_CHUNK (64u * 1024)

struct fz_files {
  struct vd_memfs *fs;
  char first[72];
};

/* Split data into files; fills f (f->fs NULL on failure). */
static int __attribute__ ((unused))
fz_split (struct fz_files *f, const uint8_t *data, size_t size, int multi)
{
  const uint8_t *p = data, *end = data + size;
  int n = 0;

  f->fs = vd__memfs_new ();
  strcpy (f->first, "disk.vmdk");
  if (!f->fs)
    return -1;
  if (!multi)
    return vd__memfs_add (f->fs, f->first, data, size);
  while (p <= end && n < FZ_MAX_FILES) {
    char name[72] = "disk.vmdk";
    const uint8_t *body = p, *next;
    if ((size_t) (end - p) >= FZ_SEP_LEN
        && memcmp (p, FZ_SEP, FZ_SEP_LEN) == 0) {
      const uint8_t *nl = memchr (p + FZ_SEP_LEN, '\n',
                                  (size_t) (end - p - FZ_SEP_LEN));
      size_t len;
      if (!nl)
        break;
      len = (size_t) (nl - p - FZ_SEP_LEN);
      if (len == 0 || len >= sizeof name || memchr (p + FZ_SEP_LEN, '/', len)
          || memchr (p + FZ_SEP_LEN, 0, len))
        break;
      memcpy (name, p + FZ_SEP_LEN, len);
      name[len] = 0;
      body = nl + 1;
    }
    else if (n > 0)
      break;
    next = memmem (body, (size_t) (end - body), FZ_SEP, FZ_SEP_LEN);
    if (!next)
      next = end;
    if (n == 0)
      strcpy (f->first, name);
    if (vd__memfs_add (f->fs, name, body, (size_t) (next - body)) < 0)
      return -1;
    n++;
    if (next == end)
      break;
    p = next;
  }
  return 0;
}

static int
fz_status_cb (uint64_t offset, uint64_t length, uint32_t status, void *pl)
{
  unsigned *runs = pl;
  (void) offset;
  (void) length;
  if (status > VD_STATUS_HOLE)
    abort ();                   /* the API promises one of three */
  return ++*runs > 4096;
}

/* Everything a reader does with an open disk. */
static void __attribute__ ((unused))
fz_read_all (vd_disk *d)
{
  static uint8_t buf[FZ_CHUNK];
  uint64_t size = vd_disk_get_size (d);
  struct vd_geometry g1, g2;
  struct vd_extent_info ei;
  struct vd_link_info li;
  unsigned runs = 0;

  vd_disk_get_geometry (d, &g1, &g2);
  (void) vd_disk_get_create_type (d);
  (void) vd_disk_get_type (d);
  (void) vd_disk_get_adapter (d);
  (void) vd_disk_get_uuid (d);
  (void) vd_disk_get_parent_hint (d);
  (void) vd_disk_get_meta (d, "ddb.adapterType");
  for (unsigned i = 0; i < vd_disk_get_meta_count (d) && i < 64; i++)
    (void) vd_disk_get_meta_key (d, i);
  for (unsigned i = 0; i < vd_disk_get_extent_count (d) && i < 64; i++)
    (void) vd_disk_get_extent (d, i, &ei);
  for (unsigned i = 0; i < vd_disk_get_link_count (d); i++)
    (void) vd_disk_get_link_info (d, i, &li);
  /* the whole disk when small, else FZ_MAX_READS chunks spread over it */
  if (size <= (uint64_t) FZ_MAX_READS * FZ_CHUNK) {
    for (uint64_t off = 0; off < size; off += FZ_CHUNK)
      if (vd_disk_read (d, buf, (size_t) VD_MIN (FZ_CHUNK, size - off), off)
          < 0)
        break;
  }
  else
    for (unsigned i = 0; i < FZ_MAX_READS; i++) {
      uint64_t off = size / FZ_MAX_READS * i / 512 * 512;
      (void) vd_disk_read (d, buf, (size_t) VD_MIN (FZ_CHUNK, size - off),
                           off);
    }
  /* unaligned small reads cross grain and extent edges */
  if (size > 1024)
    (void) vd_disk_read (d, buf, 700, size / 2 - 3);
  (void) vd_disk_block_status (d, 0, VD_MIN (size, (uint64_t) 64 << 20),
                               fz_status_cb, &runs);
}

static void
fz_check_msg (int severity, const char *msg, void *payload)
{
  (void) payload;
  if (severity < 0 || severity > VD_CHECK_SEVERITY_CORRUPT || !msg)
    abort ();
}

/* Open read-only, read everything, then check. */
static void __attribute__ ((unused))
fz_open_read_check (const char *name, uint32_t flags, int check)
{
  vd_disk *d = NULL;
  if (vd_disk_open (&d, name, flags | VD_OPEN_READ_ONLY) == 0) {
    fz_read_all (d);
    vd_disk_close (d);
  }
  else {
    if (vd_last_error ()->code == 0 || !vd_last_error ()->message)
      abort ();                 /* a failure must say why */
    if (getenv ("FZ_VERBOSE"))
      fprintf (stderr, "open %s: %s\n", name, vd_last_error ()->message);
  }
  if (check) {
    struct vd_check_result res;
    int r = vd_check (name, flags, &res, fz_check_msg, NULL);
    if (getenv ("FZ_VERBOSE"))
      fprintf (stderr, "check %s: %d corrupt %llu leaks %llu\n", name, r,
               (unsigned long long) res.corruptions,
               (unsigned long long) res.leaks);
  }
}

/* Open read-write (in memory: nothing reaches a real file), write a few
 * grains chosen from the input, flush and close. */
static void __attribute__ ((unused))
fz_write_some (const char *name, const uint8_t *data, size_t size)
{
  static uint8_t buf[3 * 4096 + 100];
  vd_disk *d = NULL;
  uint64_t cap;
  if (vd_disk_open (&d, name, VD_OPEN_FORCE) < 0)
    return;
  cap = vd_disk_get_size (d);
  memset (buf, 0xa5, sizeof buf);
  for (unsigned i = 0; i < 4 && cap > 0; i++) {
    uint32_t h = 2166136261u;
    for (size_t k = i; k < size && k < 4096; k += 97)
      h = (h ^ data[k]) * 16777619u;
    uint64_t off = (uint64_t) h * 512 % cap;
    size_t n = (size_t) VD_MIN ((uint64_t) (i & 1 ? 4096 : 3 * 4096 + 100),
                                cap - off);
    static uint8_t back[sizeof buf];
    int r;
    if (i == 3)
      r = vd_disk_zero (d, n, off);
    else
      r = vd_disk_write (d, buf, n, off);
    /* what was written successfully reads back (zeros after a zero) */
    if (r == 0 && vd_disk_read (d, back, n, off) == 0
        && (i == 3 ? !vd__is_zero (back, n) : memcmp (back, buf, n) != 0))
      abort ();
  }
  (void) vd_disk_flush (d);
  vd_disk_close (d);
}

static void __attribute__ ((unused))
fz_run (const uint8_t *data, size_t size, int multi, int check, int write)
{
  struct fz_files f;
  if (fz_split (&f, data, size, multi) == 0) {
    vd__memfs_set_current (f.fs);
    fz_open_read_check (f.first, 0, check);
    if (write)
      fz_write_some (f.first, data, size);
    vd__memfs_set_current (NULL);
  }
  vd__memfs_free (f.fs);
}

#endif /* VDISK_FUZZ_COMMON_H */
