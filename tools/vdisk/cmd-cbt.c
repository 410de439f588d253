/* vdisk cbt enable|disable|status DISK, vdisk changes DISK --since ID. */
#include "vdisk-tool.h"

#include <inttypes.h>
#include <string.h>

static const char *
state_name (enum vd_cbt_state s)
{
  switch (s) {
  case VD_CBT_OFF: return "off";
  case VD_CBT_ON: return "on";
  case VD_CBT_FOREIGN: return "foreign";
  case VD_CBT_BROKEN: return "broken";
  case VD_CBT_DROPPED: return "dropped";
  }
  return "unknown";
}

static int
status (const char *path, uint32_t flags, int json)
{
  vd_disk *d;
  struct vd_cbt_info ci;
  if (vd_disk_open (&d, path, flags | VD_OPEN_READ_ONLY) < 0)
    return fail ();
  if (vd_disk_get_cbt (d, &ci) < 0) {
    vd_disk_close (d);
    return fail ();
  }
  int version = vd_disk_get_descriptor_version (d);
  if (json) {
    printf ("{\"format_version\": 1, \"disk\": ");
    json_str (stdout, path);
    printf (", \"state\": \"%s\", \"descriptor_version\": %d, \"file\": ",
            state_name (ci.state), version);
    if (ci.file)
      json_str (stdout, ci.file);
    else
      printf ("null");
    if (ci.state == VD_CBT_ON)
      printf (", \"change_id\": \"%s\", \"sequence\": %" PRIu64
              ", \"block_size\": %u", ci.change_id, ci.sequence,
              ci.block_size);
    if (ci.problem) {
      printf (", \"problem\": ");
      json_str (stdout, ci.problem);
    }
    printf ("}\n");
  }
  else {
    printf ("state: %s\n", state_name (ci.state));
    printf ("descriptor version: %d\n", version);
    if (ci.file)
      printf ("tracking file: %s\n", ci.file);
    if (ci.state == VD_CBT_ON) {
      printf ("change ID: %s\n", ci.change_id);
      printf ("block size: %u\n", ci.block_size);
    }
    if (ci.problem)
      printf ("problem: %s\n", ci.problem);
  }
  vd_disk_close (d);
  return 0;
}

static int
run_cbt (int argc, char **argv)
{
  static const struct option own[] = {
    { "json", no_argument, NULL, 'j' },
    OPT_HELP, { 0 } };
  const struct option *opts =
    with_open_options (own, OO (FORCE) | OO (TRUSTED));
  struct open_opts oo = { 0 };
  int c, json = 0;
  while ((c = next_option (argc, argv, "fj", opts, &oo)) != -1) {
    switch (c) {
    case 'j': json = 1; break;
    case 'f': oo.force = 1; break;
    default: return usage_error ("cbt", "invalid option");
    }
  }
  if (optind + 2 != argc)
    return usage_error ("cbt", "expected enable, disable or status and one "
                        "DISK");
  const char *verb = argv[optind], *path = argv[optind + 1];
  uint32_t flags = open_flags (&oo, 0);
  if (strcmp (verb, "status") == 0)
    return status (path, flags & VD_OPEN_TRUSTED, json);
  if (strcmp (verb, "enable") == 0) {
    if (vd_disk_cbt_enable (path, flags) < 0)
      return fail ();
  }
  else if (strcmp (verb, "disable") == 0) {
    if (vd_disk_cbt_disable (path, flags) < 0)
      return fail ();
  }
  else
    return usage_error ("cbt", "unknown action '%s' (enable, disable, "
                        "status)", verb);
  return json ? status (path, flags & VD_OPEN_TRUSTED, 1) : 0;
}

const struct command cmd_cbt = {
  "cbt", run_cbt, "[--json] enable|disable|status DISK",
  "Changed block tracking: turn it on (NAME-ctk.vmdk, descriptor version "
  "3), off (back to version 1), or show it and the current change ID.",
  "  -j, --json            machine-readable state\n"
  "  -f, --force           replace another program's tracking file (kept "
  "as .stale); write even if a child names the disk\n"
  "      --trusted         accept names outside the disk's folder\n",
};

struct areas {
  int json, n;
  uint64_t bytes;
};

static int
area_cb (uint64_t off, uint64_t len, void *payload)
{
  struct areas *a = payload;
  if (a->json)
    printf ("%s\n  {\"offset\": %" PRIu64 ", \"length\": %" PRIu64 "}",
            a->n ? "," : "", off, len);
  else
    printf ("%" PRIu64 "\t%" PRIu64 "\n", off, len);
  a->n++;
  a->bytes += len;
  return 0;
}

static int
run_changes (int argc, char **argv)
{
  static const struct option own[] = {
    { "since", required_argument, NULL, 's' },
    { "offset", required_argument, NULL, 'o' },
    { "length", required_argument, NULL, 'l' },
    { "json", no_argument, NULL, 'j' },
    OPT_HELP, { 0 } };
  const struct option *opts = with_open_options (own, OO (TRUSTED));
  struct open_opts oo = { 0 };
  const char *since = NULL;
  uint64_t off = 0, len = UINT64_MAX;
  int c, json = 0;
  while ((c = next_option (argc, argv, "s:o:l:j", opts, &oo)) != -1) {
    switch (c) {
    case 's': since = optarg; break;
    case 'o':
      if (parse_size (optarg, &off) < 0)
        return usage_error ("changes", "bad offset '%s'", optarg);
      break;
    case 'l':
      if (parse_size (optarg, &len) < 0)
        return usage_error ("changes", "bad length '%s'", optarg);
      break;
    case 'j': json = 1; break;
    default: return usage_error ("changes", "invalid option");
    }
  }
  if (optind + 1 != argc)
    return usage_error ("changes", "expected one DISK argument");
  if (!since)
    return usage_error ("changes", "--since ID is required (a change ID "
                        "from 'vdisk cbt status', or '*' for every "
                        "allocated area)");
  vd_disk *d;
  if (vd_disk_open (&d, argv[optind], open_flags (&oo, 1)) < 0)
    return fail ();
  struct areas a = { json, 0, 0 };
  if (json) {
    printf ("{\"format_version\": 1, \"since\": ");
    json_str (stdout, since);
    printf (", \"areas\": [");
  }
  int r = vd_disk_query_changed_areas (d, since, off, len, area_cb, &a);
  if (r < 0) {
    if (json)
      printf ("]}\n");
    fflush (stdout);
    fail ();
    vd_disk_close (d);
    return 1;
  }
  if (json) {
    struct vd_cbt_info ci;
    printf ("%s], \"bytes\": %" PRIu64, a.n ? "\n" : "", a.bytes);
    if (vd_disk_get_cbt (d, &ci) == 0 && ci.state == VD_CBT_ON)
      printf (", \"change_id\": \"%s\"", ci.change_id);
    printf ("}\n");
  }
  vd_disk_close (d);
  return 0;
}

const struct command cmd_changes = {
  "changes", run_changes, "--since ID [--json] [--offset B] [--length B] DISK",
  "The areas written since a change ID (offset and length in bytes, one "
  "per line); '*' lists every allocated area.",
  "  -s, --since ID        a change ID from 'vdisk cbt status', or '*'\n"
  "  -o, --offset BYTES    start of the range asked (default 0)\n"
  "  -l, --length BYTES    length of the range (default: to the end)\n"
  "  -j, --json            machine-readable areas\n"
  "      --trusted         accept names outside the disk's folder\n",
};
