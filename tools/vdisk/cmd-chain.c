#include "vdisk-tool.h"

#include <time.h>

static int
run (int argc, char **argv)
{
  static const struct option opts[] = {
    { "json", no_argument, NULL, 'j' },
    { "ignore-cid", no_argument, NULL, 'I' },
    { "trusted", no_argument, NULL, 'T' },
    OPT_HELP, { 0 } };
  struct open_opts oo = { 0 };
  int c, json = 0, rc = 0;
  vd_disk *d;

  while ((c = getopt_long (argc, argv, "j", opts, NULL)) != -1) {
    switch (c) {
    case 'j': json = 1; break;
    case 'I': oo.ignore_cid = 1; break;
    case 'T': oo.trusted = 1; break;
    default: return usage_error ("chain", "invalid option");
    }
  }
  if (optind + 1 != argc)
    return usage_error ("chain", "expected one DISK argument");
  if (vd_disk_open (&d, argv[optind], open_flags (&oo, 1)) < 0)
    return fail ();
  unsigned n = vd_disk_get_link_count (d);
  if (json)
    printf ("{\n  \"format_version\": 1,\n  \"capacity\": %llu,\n"
            "  \"links\": [", (unsigned long long) vd_disk_get_size (d));
  else
    printf ("%-4s %-22s %-8s %-8s %14s %14s %-19s %s\n", "link", "type",
            "CID", "parent", "on disk", "allocated", "modified", "file");
  /* oldest first, so a user can find the link of a given day */
  for (unsigned k = n; k-- > 0;) {
    struct vd_link_info li;
    char when[32];
    time_t t;
    if (vd_disk_get_link_info (d, k, &li) < 0) {
      rc = fail ();
      break;
    }
    t = (time_t) li.mtime;
    strftime (when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime (&t));
    if (json) {
      printf ("%s\n    {\"depth\": %u, \"file\": ", k == n - 1 ? "" : ",",
              n - 1 - k);
      json_str (stdout, li.path);
      printf (", \"create_type\": ");
      json_str (stdout, li.create_type);
      printf (", \"cid\": \"%08x\", \"parent_cid\": \"%08x\", "
              "\"file_bytes\": %llu, \"allocated_bytes\": %llu, "
              "\"mtime\": %lld, \"extents\": %u}", li.cid, li.parent_cid,
              (unsigned long long) li.file_bytes,
              (unsigned long long) li.allocated_bytes, (long long) li.mtime,
              li.extents);
    }
    else
      printf ("%-4u %-22s %08x %08x %14llu %14llu %-19s %s\n", n - 1 - k,
              li.create_type, li.cid, li.parent_cid,
              (unsigned long long) li.file_bytes,
              (unsigned long long) li.allocated_bytes, when, li.path);
  }
  if (json)
    printf ("\n  ]\n}\n");
  vd_disk_close (d);
  return rc;
}

const struct command cmd_chain = {
  "chain", run, "[--json] DISK",
  "List every link of a disk's chain, oldest (base) first.",
  "  -j, --json            machine-readable output\n"
  "      --ignore-cid      accept a parent whose CID changed\n"
  "      --trusted         allow absolute paths, folders and '..' in\n"
  "                        extent and parent names\n",
};
