#include "vdisk-tool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Writes of up to BUF bytes (big write(2) calls), filled by reads of
 * READ bytes: a read that fails leaves what came before it written (a
 * remote disk that drops mid-way gives the data it sent). */
#define BUF (8u << 20)
#define READ (1u << 20)

/* The output: a regular file gets holes (lseek past them, ftruncate at
 * the end); anything else (a pipe, a terminal, /dev/null) gets the zeros
 * of the holes written from one zero buffer (no per-read memset, no read
 * of the hole from the disk). */
struct out {
  vd_disk *d;
  uint8_t *buf;
  const uint8_t *zeros;         /* BUF zero bytes (non-regular output) */
  int sparse;
  uint64_t base;                /* the file's position when cat began */
  uint64_t pos;                 /* next virtual offset to write */
  int err;
};

static int
out_write (struct out *o, const uint8_t *p, size_t n, uint64_t off)
{
  for (size_t done = 0; done < n;) {
    ssize_t w = o->sparse
                ? pwrite (1, p + done, n - done,
                          (off_t) (o->base + off + done))
                : write (1, p + done, n - done);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0) {
      fprintf (stderr, "vdisk cat: write to output: %s\n", strerror (errno));
      return -1;
    }
    done += (size_t) w;
  }
  return 0;
}

static int
copy_run (uint64_t off, uint64_t len, uint32_t st, void *payload)
{
  struct out *o = payload;
  if (off != o->pos) {
    fprintf (stderr, "vdisk cat: the allocation map skipped bytes at "
             "offset %llu\n", (unsigned long long) o->pos);
    o->err = 1;
    return 1;
  }
  o->pos = off + len;
  if (st != VD_STATUS_DATA && o->sparse)
    return 0;                   /* a hole in the file */
  while (len) {
    size_t n = (size_t) (len < BUF ? len : BUF);
    const uint8_t *p = o->zeros;
    if (st == VD_STATUS_DATA) {
      for (size_t got = 0; got < n; got += READ) {
        size_t k = n - got < READ ? n - got : READ;
        if (vd_disk_read (o->d, o->buf + got, k, off + got) < 0) {
          fail ();
          o->err = 1;
          if (got)
            out_write (o, o->buf, got, off);
          return 1;
        }
      }
      p = o->buf;
    }
    if (out_write (o, p, n, off) < 0) {
      o->err = 1;
      return 1;
    }
    off += n;
    len -= n;
  }
  return 0;
}

static int
run (int argc, char **argv)
{
  static const struct option own[] = {
    { "read-only", no_argument, NULL, 'r' },
    OPT_HELP, { 0 } };
  const struct option *opts =
    with_open_options (own, OO (SINGLE_LINK) | OO (IGNORE_CID)
                       | OO (TRUSTED) | OO (RAW));
  struct open_opts oo = { 0 };
  int c, rc = 0;
  vd_disk *d;
  uint8_t *buf;

  while ((c = next_option (argc, argv, "r", opts, &oo)) != -1) {
    switch (c) {
    case 'r': break;
    default: return usage_error ("cat", "invalid option");
    }
  }
  if (optind + 1 != argc)
    return usage_error ("cat", "expected one DISK argument");
  if (vd_disk_open (&d, argv[optind], open_flags (&oo, 1)) < 0)
    return fail ();
  if (posix_memalign ((void **) &buf, 4096, BUF) != 0) {
    vd_disk_close (d);
    fprintf (stderr, "vdisk cat: out of memory\n");
    return 1;
  }
  uint64_t size = vd_disk_get_size (d);
  struct stat st;
  off_t base;
  struct out o = { .d = d, .buf = buf };
  /* Into a regular file: write only the allocated ranges and leave holes
   * (a 2 TB disk holding 1 GB of data costs about 1 GB). */
  if (fstat (1, &st) == 0 && S_ISREG (st.st_mode)
      && (base = lseek (1, 0, SEEK_CUR)) >= 0) {
    o.sparse = 1;
    o.base = (uint64_t) base;
  }
  else if (!(o.zeros = calloc (1, BUF))) {
    free (buf);
    vd_disk_close (d);
    fprintf (stderr, "vdisk cat: out of memory\n");
    return 1;
  }
  if (vd_disk_block_status (d, 0, size, copy_run, &o) < 0 || o.err)
    rc = o.err ? 1 : fail ();
  else if (o.pos != size) {
    fprintf (stderr, "vdisk cat: the allocation map ended at offset %llu "
             "of %llu\n", (unsigned long long) o.pos,
             (unsigned long long) size);
    rc = 1;
  }
  else if (o.sparse
           && (ftruncate (1, (off_t) (o.base + size)) < 0
               || lseek (1, (off_t) (o.base + size), SEEK_SET) < 0)) {
    fprintf (stderr, "vdisk cat: extend output: %s\n", strerror (errno));
    rc = 1;
  }
  free ((void *) o.zeros);
  free (buf);
  vd_disk_close (d);
  return rc;
}

const struct command cmd_cat = {
  "cat", run, "[--single-link] [--ignore-cid] [--trusted] DISK",
  "Write the whole virtual content of a disk to standard output.",
  "      --single-link     this link only (holes read as zeros)\n"
  "      --ignore-cid      accept a parent whose CID changed\n"
  "      --trusted         allow absolute paths and folders in names\n"
  "      --raw             DISK is a raw image\n"
  "      --read-only       accepted; cat always opens DISK read-only\n",
};
