#include "vdisk-tool.h"

static int
run (int argc, char **argv)
{
  static const struct option opts[] = {
    { "trusted", no_argument, NULL, 'T' }, OPT_HELP, { 0 } };
  struct open_opts oo = { 0 };
  int c;
  while ((c = getopt_long (argc, argv, "", opts, NULL)) != -1) {
    if (c == 'T')
      oo.trusted = 1;
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
  "attach", run, "CHILD NEWPARENT",
  "Give an existing child disk a new parent (same capacity).",
  "      --trusted         allow absolute paths and folders in names\n",
};
