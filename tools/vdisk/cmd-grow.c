#include "vdisk-tool.h"

#include <stdlib.h>

static int
run (int argc, char **argv)
{
  static const struct option own[] = {
    { "update-geometry", no_argument, NULL, 'g' },
    { "progress", optional_argument, NULL, 'p' },
    OPT_HELP, { 0 } };
  const struct option *opts =
    with_open_options (own, OO (TRUSTED) | OO (FORCE));
  struct open_opts oo = { 0 };
  struct progress pr;
  int c, want = 0, pfd = -1, geo = 0;
  uint64_t size, add = 0;
  const char *s;
  vd_disk *d;
  while ((c = next_option (argc, argv, "gpf", opts, &oo)) != -1) {
    switch (c) {
    case 'g': geo = 1; break;
    case 'p': want = 1; if (optarg) pfd = atoi (optarg); break;
    case 'f': oo.force = 1; break;
    default: return usage_error ("grow", "invalid option");
    }
  }
  if (optind + 2 != argc)
    return usage_error ("grow", "expected DISK and SIZE");
  s = argv[optind + 1];
  if (*s == '+') {
    if (parse_size (s + 1, &add) < 0)
      return usage_error ("grow", "invalid size '%s'", s);
    if (vd_disk_open (&d, argv[optind], open_flags (&oo, 1)
                                          | VD_OPEN_SINGLE_LINK) < 0)
      return fail ();
    size = vd_disk_get_size (d) + add;
    vd_disk_close (d);
  }
  else if (parse_size (s, &size) < 0)
    return usage_error ("grow", "invalid size '%s'", s);
  progress_init (&pr, want, pfd);
  if (vd_disk_grow (argv[optind], size, open_flags (&oo, 0)
                                          | (geo ? VD_GROW_UPDATE_GEOMETRY
                                                 : 0), progress_cb, &pr) < 0)
    return fail ();
  progress_done (&pr);
  return 0;
}

const struct command cmd_grow = {
  "grow", run, "[--update-geometry] [--progress] DISK SIZE",
  "Raise the capacity of a disk (SIZE: new capacity, or +SIZE to add; the "
  "new space reads as zeros).  Refuses children and disks with children.",
  "  -g, --update-geometry recompute ddb.geometry for the new size\n"
  "  -p, --progress[=FD]   show progress\n"
  "  -f, --force           grow even if another disk names it as parent\n"
  "      --trusted         allow absolute paths, folders and '..' in\n"
  "                        extent and parent names\n",
};
