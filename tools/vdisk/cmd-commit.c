#include "vdisk-tool.h"

#include <stdlib.h>

static int
run (int argc, char **argv)
{
  static const struct option opts[] = {
    { "into", required_argument, NULL, 'i' },
    { "progress", optional_argument, NULL, 'p' },
    { "trusted", no_argument, NULL, 'T' },
    OPT_HELP, { 0 } };
  struct open_opts oo = { 0 };
  struct progress pr;
  const char *into = NULL;
  int c, want = 0, pfd = -1;
  while ((c = getopt_long (argc, argv, "i:p", opts, NULL)) != -1) {
    switch (c) {
    case 'i': into = optarg; break;
    case 'p': want = 1; if (optarg) pfd = atoi (optarg); break;
    case 'T': oo.trusted = 1; break;
    default: return usage_error ("commit", "invalid option");
    }
  }
  if (optind + 1 != argc)
    return usage_error ("commit", "expected one CHILD argument");
  progress_init (&pr, want, pfd);
  if (vd_disk_commit (argv[optind], into, open_flags (&oo, 0), progress_cb,
                      &pr) < 0)
    return fail ();
  progress_done (&pr);
  return 0;
}

const struct command cmd_commit = {
  "commit", run, "[--into ANCESTOR] [--progress] CHILD",
  "Merge a child's data into its parent (or an older ancestor); the "
  "child then sits directly on that ancestor and reads as before.",
  "  -i, --into ANCESTOR   commit into this ancestor, collapsing the links\n"
  "                        between\n"
  "  -p, --progress[=FD]   show progress\n"
  "      --trusted         allow absolute paths, folders and '..' in\n"
  "                        extent and parent names\n",
};
