#include "vdisk-tool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUF (1u << 20)

static int
write_all (int fd, const uint8_t *p, size_t n)
{
  while (n) {
    ssize_t w = write (fd, p, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      fprintf (stderr, "vdisk cat: write to output: %s\n", strerror (errno));
      return -1;
    }
    p += w;
    n -= (size_t) w;
  }
  return 0;
}

struct sparse_out {
  vd_disk *d;
  uint8_t *buf;
  uint64_t base;
  int err;
};

static int
copy_run (uint64_t off, uint64_t len, uint32_t st, void *payload)
{
  struct sparse_out *so = payload;
  if (st != VD_STATUS_DATA)
    return 0;
  while (len) {
    size_t n = (size_t) (len < BUF ? len : BUF);
    if (vd_disk_read (so->d, so->buf, n, off) < 0) {
      fail ();
      so->err = 1;
      return 1;
    }
    for (size_t done = 0; done < n;) {
      ssize_t w = pwrite (1, so->buf + done, n - done,
                          (off_t) (so->base + off + done));
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0) {
        fprintf (stderr, "vdisk cat: write to output: %s\n",
                 strerror (errno));
        so->err = 1;
        return 1;
      }
      done += (size_t) w;
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
  /* Into a regular file: write only the allocated ranges and leave holes
   * (a 2 TB disk holding 1 GB of data costs about 1 GB). */
  if (fstat (1, &st) == 0 && S_ISREG (st.st_mode)
      && (base = lseek (1, 0, SEEK_CUR)) >= 0) {
    struct sparse_out so = { .d = d, .buf = buf, .base = (uint64_t) base };
    if (vd_disk_block_status (d, 0, size, copy_run, &so) < 0 || so.err)
      rc = so.err ? 1 : fail ();
    else if (ftruncate (1, (off_t) (so.base + size)) < 0
             || lseek (1, (off_t) (so.base + size), SEEK_SET) < 0) {
      fprintf (stderr, "vdisk cat: extend output: %s\n", strerror (errno));
      rc = 1;
    }
    free (buf);
    vd_disk_close (d);
    return rc;
  }
  for (uint64_t off = 0; off < size;) {
    size_t n = (size_t) (size - off < BUF ? size - off : BUF);
    if (vd_disk_read (d, buf, n, off) < 0) {
      rc = fail ();
      break;
    }
    if (write_all (1, buf, n) < 0) {
      rc = 1;
      break;
    }
    off += n;
  }
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
