#include "vdisk-tool.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* An empty streamOptimized disk: the stream encoder (convert) run over an
 * empty source, a hole-only raw image in memory (memfd: no file is made
 * anywhere but DISK). */
static int
create_stream (const char *path, const struct vd_create_params *p)
{
  char src_path[64];
  vd_disk *src = NULL;
  int fd = memfd_create ("vdisk-empty", MFD_CLOEXEC), rc = 0;
  if (fd < 0 || ftruncate (fd, (off_t) p->capacity) < 0) {
    perror ("vdisk: create: memfd");
    if (fd >= 0)
      close (fd);
    return 1;
  }
  snprintf (src_path, sizeof src_path, "/proc/self/fd/%d", fd);
  if (vd_disk_open (&src, src_path, VD_OPEN_READ_ONLY | VD_OPEN_RAW
                                    | VD_OPEN_TRUSTED) < 0
      || vd_disk_convert (src, path, p, NULL, NULL) < 0)
    rc = fail ();
  vd_disk_close (src);
  close (fd);
  return rc;
}

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
    { "split-size", required_argument, NULL, 'S' },
    OPT_HELP, { 0 } };
  struct vd_create_params p;
  int c, have_size = 0;

  vd_create_params_init (&p);
  while ((c = getopt_long (argc, argv, "t:a:s:H:", opts, NULL)) != -1) {
    switch (c) {
    case 't':
      p.type = vd_type_from_name (optarg);
      if (p.type == VD_TYPE_UNKNOWN || p.type == VD_TYPE_RAW
          || p.type == VD_TYPE_VMFS_SPARSE || p.type == VD_TYPE_SE_SPARSE)
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
    case 'S':
      if (parse_size (optarg, &p.extent_size) < 0 || p.extent_size == 0
          || p.extent_size % 65536 || p.extent_size > (uint64_t) 2047 << 20)
        return usage_error ("create", "invalid --split-size '%s' (a "
                            "multiple of 64K, at most 2047M)", optarg);
      break;
    default: return usage_error ("create", "invalid option");
    }
  }
  if (optind + 1 != argc)
    return usage_error ("create", "expected one DISK argument");
  if (!have_size)
    return usage_error ("create", "--size is required");
  if (p.capacity % 512)
    return usage_error ("create", "size must be a multiple of 512 bytes");
  if (p.extent_size && p.type != VD_TYPE_SPLIT_SPARSE
      && p.type != VD_TYPE_SPLIT_FLAT)
    return usage_error ("create", "--split-size is for twoGbMaxExtentSparse "
                        "and twoGbMaxExtentFlat");
  if (p.type == VD_TYPE_STREAM_OPTIMIZED) {
    if (p.flags & VD_CREATE_PREALLOCATE)
      return usage_error ("create", "a streamOptimized disk cannot be "
                          "preallocated");
    return create_stream (argv[optind], &p);
  }
  if (vd_disk_create (argv[optind], &p) < 0)
    return fail ();
  return 0;
}

const struct command cmd_create = {
  "create", run, "[--type T] [--adapter A] [--split-size SIZE] "
  "[--preallocate] --size SIZE DISK",
  "Create a new, empty disk.  vmfs is preallocated (thick, as ESXi makes "
  "it); vmfsThin, monolithicFlat and twoGbMaxExtentFlat are thin on the "
  "host unless --preallocate; streamOptimized is an empty stream (its "
  "footer written, no grains).",
  "  -t, --type T          monolithicSparse (default), monolithicFlat,\n"
  "                        twoGbMaxExtentSparse, twoGbMaxExtentFlat, vmfs\n"
  "                        (preallocated), vmfsThin, streamOptimized\n"
  "      --split-size SIZE twoGbMaxExtent*: bytes per extent (a multiple\n"
  "                        of 64K, at most 2047M, the default); the files\n"
  "                        keep VMware's names (-s001.vmdk, -f001.vmdk)\n"
  "  -a, --adapter A       ide (default), buslogic, lsilogic, legacyESX,\n"
  "                        pvscsi (vmfs layouts only)\n"
  "  -s, --size SIZE       capacity: bytes or K, M, G, T (binary)\n"
  "  -H, --hw-version N    ddb.virtualHWVersion (default 4)\n"
  "      --preallocate     allocate flat files up front (vmfs always is)\n"
  "      --overwrite       replace existing files\n",
};
