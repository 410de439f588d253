/* vdisk shrink and vdisk defrag: one sparse-rewrite engine, two verbs. */
#include "vdisk-tool.h"

#include <stdlib.h>
#include <string.h>

static int
run (int argc, char **argv)
{
  static const struct option own[] = {
    { "progress", optional_argument, NULL, 'p' },
    OPT_HELP, { 0 } };
  const struct option *opts = with_open_options (own, OO (TRUSTED));
  const char *verb = argv[0];
  int defrag = strcmp (verb, "defrag") == 0;
  struct open_opts oo = { 0 };
  struct progress pr;
  int c, want = 0, pfd = -1, r;
  while ((c = next_option (argc, argv, "p", opts, &oo)) != -1) {
    switch (c) {
    case 'p': want = 1; if (optarg) pfd = atoi (optarg); break;
    default: return usage_error (verb, "invalid option");
    }
  }
  if (optind + 1 != argc)
    return usage_error (verb, "expected one DISK argument");
  progress_init (&pr, want, pfd);
  r = defrag ? vd_disk_defragment (argv[optind], open_flags (&oo, 0),
                                   progress_cb, &pr)
             : vd_disk_shrink (argv[optind], open_flags (&oo, 0),
                               progress_cb, &pr);
  if (r < 0)
    return fail ();
  progress_done (&pr);
  return 0;
}

const struct command cmd_shrink = {
  "shrink", run, "[--progress] DISK",
  "Give back the space of unallocated and all-zero grains of a sparse disk (rewritten compact and renamed into place; content unchanged).",
  "  -p, --progress[=FD]   show progress\n"
  "      --trusted         allow absolute paths and folders in names\n",
};

const struct command cmd_defrag = {
  "defrag", run, "[--progress] DISK",
  "Rewrite a sparse disk with its grains in virtual order and compact metadata (renamed into place; content unchanged).",
  "  -p, --progress[=FD]   show progress\n"
  "      --trusted         allow absolute paths and folders in names\n",
};
