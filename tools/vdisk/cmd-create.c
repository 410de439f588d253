#include "vdisk-tool.h"

#include <stdlib.h>
#include <string.h>

static int
run (int argc, char **argv)
{
  static const struct option opts[] = {
    { "type", required_argument, NULL, 't' },
    { "adapter", required_argument, NULL, 'a' },
    { "size", required_argument, NULL, 's' },
    { "hw-version", required_argument, NULL, 'H' },
    { "preallocate", no_argument, NULL, 'P' },
    { "overwrite", no_argument, NULL, 'O' },
    OPT_HELP, { 0 } };
  struct vd_create_params p;
  int c, have_size = 0;

  vd_create_params_init (&p);
  while ((c = getopt_long (argc, argv, "t:a:s:H:", opts, NULL)) != -1) {
    switch (c) {
    case 't':
      p.type = vd_type_from_name (optarg);
      if (p.type == VD_TYPE_UNKNOWN || p.type == VD_TYPE_RAW)
        return usage_error ("create", "unknown disk type '%s'", optarg);
      break;
    case 'a':
      p.adapter = vd_adapter_from_name (optarg);
      if (p.adapter == VD_ADAPTER_UNKNOWN)
        return usage_error ("create", "unknown adapter '%s' (ide, buslogic, "
                            "lsilogic, legacyESX, pvscsi)", optarg);
      break;
    case 's':
      if (parse_size (optarg, &p.capacity) < 0 || p.capacity == 0)
        return usage_error ("create", "invalid size '%s'", optarg);
      have_size = 1;
      break;
    case 'H':
      p.hw_version = (uint32_t) strtoul (optarg, NULL, 10);
      if (p.hw_version == 0 || p.hw_version > 99)
        return usage_error ("create", "invalid hardware version '%s'",
                            optarg);
      break;
    case 'P': p.flags |= VD_CREATE_PREALLOCATE; break;
    case 'O': p.flags |= VD_CREATE_OVERWRITE; break;
    default: return usage_error ("create", "invalid option");
    }
  }
  if (optind + 1 != argc)
    return usage_error ("create", "expected one DISK argument");
  if (!have_size)
    return usage_error ("create", "--size is required");
  if (p.capacity % 512)
    return usage_error ("create", "size must be a multiple of 512 bytes");
  if (vd_disk_create (argv[optind], &p) < 0)
    return fail ();
  return 0;
}

const struct command cmd_create = {
  "create", run, "[--type T] [--adapter A] --size SIZE DISK",
  "Create a new, empty disk.",
  "  -t, --type T          monolithicSparse (default), monolithicFlat,\n"
  "                        twoGbMaxExtentSparse, twoGbMaxExtentFlat, vmfs,\n"
  "                        vmfsThin\n"
  "  -a, --adapter A       ide (default), buslogic, lsilogic, legacyESX,\n"
  "                        pvscsi (vmfs layouts only)\n"
  "  -s, --size SIZE       capacity: bytes or K, M, G, T (binary)\n"
  "  -H, --hw-version N    ddb.virtualHWVersion (default 4)\n"
  "      --preallocate     allocate flat files up front\n"
  "      --overwrite       replace existing files\n",
};
