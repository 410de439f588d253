#include "vdisk-tool.h"

static int
run (int argc, char **argv)
{
  static const struct option opts[] = {
    { "json", no_argument, NULL, 'j' },
    { "trusted", no_argument, NULL, 'T' },
    OPT_HELP, { 0 } };
  struct open_opts oo = { 0 };
  enum vd_type type;
  uint64_t bytes;
  int c, json = 0, r;
  vd_disk *d;
  while ((c = getopt_long (argc, argv, "j", opts, NULL)) != -1) {
    switch (c) {
    case 'j': json = 1; break;
    case 'T': oo.trusted = 1; break;
    default: return usage_error ("space-needed", "invalid option");
    }
  }
  if (optind + 2 != argc)
    return usage_error ("space-needed", "expected DISK and TYPE");
  type = vd_type_from_name (argv[optind + 1]);
  if (type == VD_TYPE_UNKNOWN)
    return usage_error ("space-needed", "unknown disk type '%s'",
                        argv[optind + 1]);
  if (vd_disk_open (&d, argv[optind], open_flags (&oo, 1)) < 0)
    return fail ();
  r = vd_disk_space_needed (d, type, &bytes);
  if (r < 0) {
    fail ();                    /* before close clears the error */
    vd_disk_close (d);
    return 1;
  }
  vd_disk_close (d);
  if (json) {
    printf ("{ \"type\": ");
    json_str (stdout, vd_type_name (type));
    printf (", \"bytes\": %llu, \"upper-bound\": %s }\n",
            (unsigned long long) bytes,
            type == VD_TYPE_STREAM_OPTIMIZED ? "true" : "false");
  }
  else
    printf ("%llu\n", (unsigned long long) bytes);
  return 0;
}

const struct command cmd_space_needed = {
  "space-needed", run, "[--json] DISK TYPE",
  "Bytes a clone of DISK into layout TYPE would use (from the allocation "
  "map; an upper bound for streamOptimized).",
  "  -j, --json            print a JSON object\n"
  "      --trusted         allow absolute paths, folders and '..' in\n"
  "                        extent and parent names\n",
};
