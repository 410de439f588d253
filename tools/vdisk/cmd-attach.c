#include "vdisk-tool.h"

static int
run (int argc, char **argv)
{
  static const struct option opts[] = {
    { "trusted", no_argument, NULL, 'T' },
    { "force", no_argument, NULL, 'f' }, OPT_HELP, { 0 } };
  struct open_opts oo = { 0 };
  int c;
  while ((c = getopt_long (argc, argv, "f", opts, NULL)) != -1) {
    if (c == 'T')
      oo.trusted = 1;
    else if (c == 'f')
      oo.force = 1;
    else
      return usage_error ("attach", "invalid option");
  }
  if (optind + 2 != argc)
    return usage_error ("attach", "expected CHILD and NEWPARENT arguments");
  if (vd_disk_attach (argv[optind], argv[optind + 1], open_flags (&oo, 0)) < 0)
    return fail ();
  return 0;
}

const struct command cmd_attach = {
  "attach", run, "[--force] CHILD NEWPARENT",
  "Give an existing child disk a new parent (same capacity); refused "
  "while another disk names CHILD as its parent.",
  "  -f, --force           attach even though a disk made from CHILD would\n"
  "                        then read other data\n"
  "      --trusted         allow absolute paths and folders in names\n",
};
