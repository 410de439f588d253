#include "vdisk-tool.h"

static int
run (int argc, char **argv)
{
  static const struct option own[] = {
    { "type", required_argument, NULL, 't' },
    OPT_HELP, { 0 } };
  const struct option *opts = with_open_options (own, OO (TRUSTED));
  struct open_opts oo = { 0 };
  enum vd_type type = VD_TYPE_MONOLITHIC_SPARSE;
  int c, rc = 0;
  vd_disk *p;

  while ((c = next_option (argc, argv, "t:", opts, &oo)) != -1) {
    switch (c) {
    case 't':
      type = vd_type_from_name (optarg);
      if (type != VD_TYPE_MONOLITHIC_SPARSE && type != VD_TYPE_SPLIT_SPARSE)
        return usage_error ("child", "a child is monolithicSparse or "
                            "twoGbMaxExtentSparse");
      break;
    default: return usage_error ("child", "invalid option");
    }
  }
  if (optind + 2 != argc)
    return usage_error ("child", "expected PARENT and CHILD arguments");
  if (vd_disk_open (&p, argv[optind], open_flags (&oo, 1)) < 0)
    return fail ();
  if (vd_disk_create_child (p, argv[optind + 1], type, 0) < 0)
    rc = fail ();
  vd_disk_close (p);
  return rc;
}

const struct command cmd_child = {
  "child", run, "[--type T] PARENT CHILD",
  "Create a child disk (redo log / snapshot) of PARENT; write to the "
  "child from then on.",
  "  -t, --type T          monolithicSparse (default) or "
  "twoGbMaxExtentSparse\n"
  "      --trusted         allow absolute paths and folders in names\n",
};
