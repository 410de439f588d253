#include "vdisk-tool.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Input format when not given: VMDK if the file starts with a sparse
 * magic or its name ends in .vmdk; otherwise a raw image. */
static int
looks_raw (const char *path)
{
  char m[4] = { 0 };
  size_t n = strlen (path);
  int fd;
  if (strncmp (path, "vsphere://", 10) == 0)
    return 0;   /* a datastore disk (its name may end in ?options) */
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t r = read (fd, m, 4);
    close (fd);
    if (r == 4 && (!memcmp (m, "KDMV", 4) || !memcmp (m, "COWD", 4)))
      return 0;
  }
  if (n > 5 && strcasecmp (path + n - 5, ".vmdk") == 0)
    return 0;
  return 1;
}

/* OUT on a vdisk server: a remote create, as 'vdisk upload' does: a
 * vmfs disk over a thin flat file (as ESXi makes a clone) unless --type
 * asks for thick (vmfs) or monolithicSparse; IN's adapter and geometry
 * unless --adapter. */
static int
run_remote (const char *verb, const struct vd_create_params *p,
            int type_given, int adapter_given, char *in, char *out)
{
  const struct command *up = find_command ("upload");
  const char *t = !type_given ? "thin"
                  : p->type == VD_TYPE_VMFS ? "thick"
                  : p->type == VD_TYPE_MONOLITHIC_SPARSE ? "sparse"
                  : "thin";
  char *uargv[8];
  int n = 0;
  if (!up)
    return usage_error (verb, "this build cannot write to NBD servers");
  uargv[n++] = (char *) "upload";
  uargv[n++] = (char *) "--type";
  uargv[n++] = (char *) t;
  if (adapter_given) {
    uargv[n++] = (char *) "--adapter";
    uargv[n++] = (char *) vd_adapter_name (p->adapter);
  }
  uargv[n++] = in;
  uargv[n++] = out;
  uargv[n] = NULL;
  optind = 1;
  return up->run (n, uargv);
}

/* --keep-uuid: the copy has the source's ddb.uuid (a replacement for
 * the same VM), instead of a new one (a second disk).  Sets p->uuid to
 * uuid, or says why not and returns -1. */
static int
keep_source_uuid (vd_disk *src, const char *in, uint8_t uuid[16],
                  struct vd_create_params *p)
{
  const char *u = vd_disk_get_meta (src, "ddb.uuid");
  int n = 0;
  for (int i = 0; u && i < 16; i++) {
    unsigned b;
    int used;
    while (u[n] == ' ' || u[n] == '-')
      n++;
    if (sscanf (u + n, "%2x%n", &b, &used) != 1 || used != 2)
      break;
    uuid[i] = (uint8_t) b;
    n += used;
    if (i == 15 && !u[n])
      p->uuid = uuid;
  }
  if (!p->uuid) {
    fprintf (stderr, "vdisk: %s: --keep-uuid: the disk has no valid "
             "ddb.uuid\n", in);
    return -1;
  }
  return 0;
}

/* --keep-cbt: vdisk's own tracking of IN goes along (checked before
 * anything is written); by default OUT carries none (VMware's "discard
 * the ancillary file").  Returns 0 when it can, else the exit code. */
static int
check_keep_cbt (vd_disk *src, const char *verb, const char *in,
                const struct vd_create_params *p)
{
  struct vd_cbt_info ci = { 0 };
  if (vd_disk_get_cbt (src, &ci) < 0 || ci.state != VD_CBT_ON) {
    fprintf (stderr, "vdisk: %s: --keep-cbt: %s\n", in,
             ci.state == VD_CBT_FOREIGN ? "its tracking file is another "
             "program's; vdisk copies only its own"
             : "changed block tracking is not on (vdisk cbt enable)");
    return 1;
  }
  if (p->type == VD_TYPE_RAW || p->type == VD_TYPE_STREAM_OPTIMIZED)
    return usage_error (verb, "--keep-cbt: a %s copy cannot carry "
                        "tracking", vd_type_name (p->type));
  return 0;
}

static int
run (int argc, char **argv)
{
  static const struct option own[] = {
    { "type", required_argument, NULL, 't' },
    { "adapter", required_argument, NULL, 'a' },
    { "threads", required_argument, NULL, 'j' },
    { "progress", optional_argument, NULL, 'p' },
    { "overwrite", no_argument, NULL, 'O' },
    { "format", required_argument, NULL, 'f' },
    { "hw-version", required_argument, NULL, 'H' },
    { "sync", no_argument, NULL, 'Y' },
    { "keep-uuid", no_argument, NULL, 'K' },
    { "keep-cbt", no_argument, NULL, 'T' },
    OPT_HELP, { 0 } };
  const struct option *opts =
    with_open_options (own, OO (SINGLE_LINK) | OO (IGNORE_CID) | OO (TRUSTED));
  const char *verb = argv[0];
  int durable = 0, keep_uuid = 0, keep_cbt = 0;
  uint8_t uuid[16];
  struct vd_create_params p;
  struct open_opts oo = { 0 };
  struct progress pr;
  int c, want_progress = 0, pfd = -1, fmt = -1, rc = 0, type_given = 0;
  int adapter_given = 0;
  vd_disk *src;

  vd_create_params_init (&p);
  while ((c = next_option (argc, argv, "t:a:j:pf:O", opts, &oo)) != -1) {
    switch (c) {
    case 't':
      p.type = vd_type_from_name (optarg);
      if (p.type == VD_TYPE_UNKNOWN)
        return usage_error (verb, "unknown disk type '%s'", optarg);
      type_given = 1;
      break;
    case 'a':
      p.adapter = vd_adapter_from_name (optarg);
      if (p.adapter == VD_ADAPTER_UNKNOWN)
        return usage_error (verb, "unknown adapter '%s'", optarg);
      adapter_given = 1;
      break;
    case 'j':
      p.threads = (uint32_t) strtoul (optarg, NULL, 10);
      break;
    case 'p':
      want_progress = 1;
      if (optarg)
        pfd = atoi (optarg);
      break;
    case 'O': p.flags |= VD_CREATE_OVERWRITE; break;
    case 'H': p.hw_version = (uint32_t) strtoul (optarg, NULL, 10); break;
    case 'f':
      if (!strcmp (optarg, "raw")) fmt = 1;
      else if (!strcmp (optarg, "vmdk")) fmt = 0;
      else return usage_error (verb, "input format must be raw or vmdk");
      break;
    case 'Y': durable = 1; break;
    case 'K': keep_uuid = 1; break;
    case 'T': keep_cbt = 1; break;
    default: return usage_error (verb, "invalid option");
    }
  }
  if (optind + 2 != argc)
    return usage_error (verb, "expected IN and OUT arguments");
  if (!strncmp (argv[optind + 1], "nbd", 3)
      && strstr (argv[optind + 1], "://"))
    return run_remote (verb, &p, type_given, adapter_given, argv[optind],
                       argv[optind + 1]);
  oo.raw = fmt == -1 ? looks_raw (argv[optind]) : fmt;
  if (vd_disk_open (&src, argv[optind], open_flags (&oo, 1)) < 0)
    return fail ();
  /* keep the source's adapter unless told otherwise */
  if (!vd_disk_get_meta (src, "ddb.adapterType") || p.adapter != VD_ADAPTER_IDE)
    ;
  else if (vd_disk_get_adapter (src) != VD_ADAPTER_UNKNOWN)
    p.adapter = vd_disk_get_adapter (src);
  if (keep_uuid && keep_source_uuid (src, argv[optind], uuid, &p) < 0) {
    vd_disk_close (src);
    return 1;
  }
  if (keep_cbt && (rc = check_keep_cbt (src, verb, argv[optind], &p)) != 0) {
    vd_disk_close (src);
    return rc;
  }
  /* Like qemu-img convert, the output is not fdatasync'ed unless asked:
   * it appears (renamed into place) only when complete either way. */
  if (!durable)
    p.flags |= VD_CREATE_NO_SYNC;
  progress_init (&pr, want_progress, pfd);
  if (vd_disk_convert (src, argv[optind + 1], &p, progress_cb, &pr) < 0)
    rc = fail ();
  else {
    progress_done (&pr);
    if (keep_cbt && vd_disk_cbt_copy (src, argv[optind + 1],
                                      open_flags (&oo, 1) & VD_OPEN_TRUSTED) < 0) {
      rc = fail ();
      fprintf (stderr, "vdisk: %s was made, without tracking\n",
               argv[optind + 1]);
    }
  }
  vd_disk_close (src);
  return rc;
}

const struct command cmd_convert = {
  "convert", run, "[--type T] [--adapter A] [--progress] IN OUT",
  "Copy a disk (or raw image) into a new disk of another layout.",
  "  -t, --type T          layout of OUT: monolithicSparse (default),\n"
  "                        monolithicFlat, twoGbMaxExtentSparse,\n"
  "                        twoGbMaxExtentFlat, vmfs, vmfsThin,\n"
  "                        streamOptimized, raw\n"
  "  -a, --adapter A       adapter of OUT (default: IN's, else ide)\n"
  "  -j, --threads N       compression threads (streamOptimized)\n"
  "  -p, --progress[=FD]   show progress (on stderr, or N/100 lines to FD)\n"
  "  -f, --format F        IN is raw or vmdk (default: guessed from its\n"
  "                        magic and name)\n"
  "  -O, --overwrite       replace OUT if it exists\n"
  "      --sync            fdatasync OUT before it appears (durable)\n"
  "      --keep-cbt        OUT keeps IN's changed block tracking (a copy of\n"
  "                        vdisk's tracking file, descriptor version 3: IN's\n"
  "                        change IDs hold on OUT); default: none\n"
  "      --keep-uuid       OUT keeps IN's ddb.uuid (default: a new one);\n"
  "                        user ddb keys (toolsVersion, your own) are always\n"
  "                        carried over (not into streamOptimized or raw)\n"
  "      --hw-version N    virtualHWVersion of OUT\n"
  "      --single-link     copy only IN's own link (its holes read as zeros)\n"
  "      --ignore-cid      accept a parent whose CID changed\n"
  "      --trusted         allow absolute paths, folders and '..' in\n"
  "                        extent and parent names\n",
};

const struct command cmd_clone = {
  "clone", run, "[--type T] [--adapter A] [--progress] IN OUT",
  "The same as convert (VDDK's name for it).",
  "  (see 'vdisk convert --help')\n",
};
