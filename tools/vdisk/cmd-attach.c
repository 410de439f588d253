#include "vdisk-tool.h"

static int
run (int argc, char **argv)
{
  static const struct option own[] = { OPT_HELP, { 0 } };
  const struct option *opts =
    with_open_options (own, OO (TRUSTED) | OO (FORCE));
  struct open_opts oo = { 0 };
  int c;
  while ((c = next_option (argc, argv, "f", opts, &oo)) != -1) {
    if (c == 'f')
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
