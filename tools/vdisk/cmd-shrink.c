#include "vdisk-tool.h"

#include <stdlib.h>

static int
run (int argc, char **argv)
{
  static const struct option opts[] = {
    { "progress", optional_argument, NULL, 'p' },
    { "trusted", no_argument, NULL, 'T' },
    OPT_HELP, { 0 } };
  struct open_opts oo = { 0 };
  struct progress pr;
  int c, want = 0, pfd = -1;
  while ((c = getopt_long (argc, argv, "p", opts, NULL)) != -1) {
    switch (c) {
    case 'p': want = 1; if (optarg) pfd = atoi (optarg); break;
    case 'T': oo.trusted = 1; break;
    default: return usage_error ("shrink", "invalid option");
    }
  }
  if (optind + 1 != argc)
    return usage_error ("shrink", "expected one DISK argument");
  progress_init (&pr, want, pfd);
  if (vd_disk_shrink (argv[optind], open_flags (&oo, 0), progress_cb, &pr) < 0)
    return fail ();
  progress_done (&pr);
  return 0;
}

const struct command cmd_shrink = {
  "shrink", run, "[--progress] DISK",
  "Give back the space of unallocated and all-zero grains of a sparse disk (rewritten compact and renamed into place; content unchanged).",
  "  -p, --progress[=FD]   show progress\n",
};
