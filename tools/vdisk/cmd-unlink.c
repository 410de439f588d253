#include "vdisk-tool.h"

static int
run (int argc, char **argv)
{
  static const struct option opts[] = {
    { "force", no_argument, NULL, 'f' },
    { "trusted", no_argument, NULL, 'T' },
    { "descriptor-only", no_argument, NULL, 'D' },
    OPT_HELP, { 0 } };
  struct open_opts oo = { 0 };
  uint32_t extra = 0;
  int c;
  while ((c = getopt_long (argc, argv, "f", opts, NULL)) != -1) {
    switch (c) {
    case 'f': oo.force = 1; break;
    case 'T': oo.trusted = 1; break;
    case 'D': extra |= VD_UNLINK_DESCRIPTOR_ONLY; break;
    default: return usage_error ("unlink", "invalid option");
    }
  }
  if (optind + 1 != argc)
    return usage_error ("unlink", "expected one DISK argument");
  if (vd_disk_unlink (argv[optind], open_flags (&oo, 0) | extra) < 0)
    return fail ();
  return 0;
}

const struct command cmd_unlink = {
  "unlink", run, "[--force] [--descriptor-only] DISK",
  "Delete a disk and all its files (never its parent); refused while "
  "another disk names it as its parent, uses one of its files, or a "
  "writer has it open.",
  "  -f, --force           delete even if another disk names it as parent\n"
  "      --descriptor-only delete only the descriptor file (a copied\n"
  "                        descriptor whose extents another disk uses)\n"
  "      --trusted         accept extent names outside the folder\n",
};
