#include "vdisk-tool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BUF (1u << 20)

static int
run (int argc, char **argv)
{
  static const struct option own[] = {
    { "offset", required_argument, NULL, 'o' },
    { "file", required_argument, NULL, 'f' },
    OPT_HELP, { 0 } };
  const struct option *opts = with_open_options (own, OO (FORCE));
  struct open_opts oo = { 0 };
  const char *file = NULL;
  uint64_t offset = 0;
  int c, fd = 0, rc = 0, have_off = 0;
  vd_disk *d;
  uint8_t *buf;

  while ((c = next_option (argc, argv, "o:f:", opts, &oo)) != -1) {
    switch (c) {
    case 'o':
      if (parse_size (optarg, &offset) < 0)
        return usage_error ("write", "invalid offset '%s'", optarg);
      have_off = 1;
      break;
    case 'f': file = optarg; break;
    default: return usage_error ("write", "invalid option");
    }
  }
  if (optind + 1 != argc)
    return usage_error ("write", "expected one DISK argument");
  if (!have_off)
    return usage_error ("write", "--offset is required");
  if (file && (fd = open (file, O_RDONLY | O_CLOEXEC)) < 0) {
    fprintf (stderr, "vdisk write: %s: %s\n", file, strerror (errno));
    return 1;
  }
  if (vd_disk_open (&d, argv[optind], open_flags (&oo, 0)) < 0) {
    if (file)
      close (fd);
    return fail ();
  }
  buf = malloc (BUF);
  if (!buf) {
    fprintf (stderr, "vdisk write: out of memory\n");
    rc = 1;
    goto out;
  }
  for (;;) {
    size_t have = 0;
    /* fill the buffer so writes are large */
    while (have < BUF) {
      ssize_t n = read (fd, buf + have, BUF - have);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0) {
        fprintf (stderr, "vdisk write: read input: %s\n", strerror (errno));
        rc = 1;
        goto out;
      }
      if (n == 0)
        break;
      have += (size_t) n;
    }
    if (have == 0)
      break;
    if (vd_disk_write (d, buf, have, offset) < 0) {
      rc = fail ();
      goto out;
    }
    offset += have;
    if (have < BUF)
      break;
  }
out:
  free (buf);
  {
    /* The library dropped another program's change tracking: say so. */
    struct vd_cbt_info ci;
    if (vd_disk_get_cbt (d, &ci) == 0 && ci.state == VD_CBT_DROPPED)
      fprintf (stderr, "vdisk: %s\n", ci.problem);
  }
  if (vd_disk_close (d) < 0 && rc == 0)
    rc = fail ();
  if (file)
    close (fd);
  return rc;
}

const struct command cmd_write = {
  "write", run, "--offset BYTES [--file F] DISK",
  "Write bytes (standard input, or a file) into a disk at an offset.",
  "  -o, --offset BYTES    where to write (any byte offset; K/M/G ok)\n"
  "  -f, --file F          read the data from F instead of stdin\n"
  "      --force           write even though a child names this disk as its\n"
  "                        parent (the child is invalidated) or a VMware\n"
  "                        .lck folder exists\n",
};
