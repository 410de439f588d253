#include "vdisk-tool.h"

#include <string.h>

struct map_state {
  int json;
  int n;
};

static const char *
st_name (uint32_t st)
{
  return st == VD_STATUS_DATA ? "data" : st == VD_STATUS_ZERO ? "zero"
         : "hole";
}

static int
emit (uint64_t off, uint64_t len, uint32_t st, void *payload)
{
  struct map_state *m = payload;
  if (m->json)
    printf ("%s\n  {\"start\": %llu, \"length\": %llu, \"type\": \"%s\", "
            "\"data\": %s, \"zero\": %s}", m->n ? "," : "",
            (unsigned long long) off, (unsigned long long) len,
            st_name (st), st == VD_STATUS_DATA ? "true" : "false",
            st == VD_STATUS_DATA ? "false" : "true");
  else
    printf ("%20llu %20llu  %s\n", (unsigned long long) off,
            (unsigned long long) len, st_name (st));
  m->n++;
  return 0;
}

static int
run (int argc, char **argv)
{
  static const struct option own[] = {
    { "json", no_argument, NULL, 'j' },
    { "read-only", no_argument, NULL, 'r' },
    OPT_HELP, { 0 } };
  const struct option *opts =
    with_open_options (own, OO (SINGLE_LINK) | OO (IGNORE_CID) | OO (TRUSTED));
  struct open_opts oo = { 0 };
  struct map_state m = { 0 };
  int c, rc = 0;
  vd_disk *d;

  while ((c = next_option (argc, argv, "jr", opts, &oo)) != -1) {
    switch (c) {
    case 'j': m.json = 1; break;
    case 'r': break;
    default: return usage_error ("map", "invalid option");
    }
  }
  if (optind + 1 != argc)
    return usage_error ("map", "expected one DISK argument");
  if (vd_disk_open (&d, argv[optind], open_flags (&oo, 1)) < 0)
    return fail ();
  if (m.json)
    printf ("[");
  else
    printf ("%20s %20s  %s\n", "offset", "length", "type");
  if (vd_disk_block_status (d, 0, vd_disk_get_size (d), emit, &m) < 0)
    rc = fail ();
  if (m.json)
    printf ("\n]\n");
  vd_disk_close (d);
  return rc;
}

const struct command cmd_map = {
  "map", run, "[--json] [--single-link] DISK",
  "Show which ranges hold data, read as zeros, or are unallocated.",
  "  -j, --json            machine-readable output\n"
  "      --single-link     this link only: its holes stay holes\n"
  "      --ignore-cid      accept a parent whose CID changed\n"
  "      --read-only       accepted; map always opens DISK read-only\n"
  "      --trusted         allow absolute paths, folders and '..' in\n"
  "                        extent and parent names\n",
};
