#include "vdisk-tool.h"

static int
run (int argc, char **argv)
{
  static const struct option own[] = {
    OPT_HELP, { 0 } };
  const struct option *opts =
    with_open_options (own, OO (FORCE) | OO (TRUSTED));
  struct open_opts oo = { 0 };
  int c;
  while ((c = next_option (argc, argv, "f", opts, &oo)) != -1) {
    switch (c) {
    case 'f': oo.force = 1; break;
    default: return usage_error ("rename", "invalid option");
    }
  }
  if (optind + 2 != argc)
    return usage_error ("rename", "expected OLD and NEW");
  if (vd_disk_rename (argv[optind], argv[optind + 1], open_flags (&oo, 0))
      < 0)
    return fail ();
  return 0;
}

const struct command cmd_rename = {
  "rename", run, "[--force] OLD NEW",
  "Rename a disk and all its files (extents, change tracking) with "
  "VMware's naming; never replaces a file, puts everything back on "
  "failure.",
  "  -f, --force           rename even if another disk names it as parent\n"
  "      --trusted         accept extent and parent names outside the "
  "folder\n",
};
