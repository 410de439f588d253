#include "vdisk-tool.h"

#include <string.h>

struct msgs {
  int json, n;
};

static void
on_message (int severity, const char *msg, void *payload)
{
  struct msgs *m = payload;
  const char *sev = severity == VD_CHECK_SEVERITY_CORRUPT ? "corruption"
                    : severity == VD_CHECK_SEVERITY_LEAK ? "leak"
                    : severity == VD_CHECK_SEVERITY_REPAIRABLE ? "repairable"
                    : "info";
  if (m->json) {
    printf ("%s\n    {\"severity\": \"%s\", \"message\": ", m->n ? "," : "",
            sev);
    json_str (stdout, msg);
    printf ("}");
  }
  else
    printf ("%s: %s\n", sev, msg);
  m->n++;
}

static int
run (int argc, char **argv)
{
  static const struct option opts[] = {
    { "json", no_argument, NULL, 'j' },
    { "trusted", no_argument, NULL, 'T' },
    { "ignore-cid", no_argument, NULL, 'I' },
    { "repair", no_argument, NULL, 'r' },
    { "force", no_argument, NULL, 'F' },
    OPT_HELP, { 0 } };
  struct open_opts oo = { 0 };
  struct vd_check_result res;
  struct msgs m = { 0 };
  int c, repair = 0, force = 0, refused = 0;

  while ((c = getopt_long (argc, argv, "j", opts, NULL)) != -1) {
    switch (c) {
    case 'j': m.json = 1; break;
    case 'T': oo.trusted = 1; break;
    case 'I': oo.ignore_cid = 1; break;
    case 'r': repair = 1; break;
    case 'F': force = 1; break;
    default: return usage_error ("check", "invalid option");
    }
  }
  if (optind + 1 != argc)
    return usage_error ("check", "expected one DISK argument");
  if (m.json)
    printf ("{\n  \"format_version\": 1,\n  \"messages\": [");
  if (repair) {
    /* repair first (it opens the files itself), then check what is left */
    uint32_t rf = open_flags (&oo, 1) & ~VD_OPEN_READ_ONLY;
    int n = vd_check_repair (argv[optind], rf | (force ? VD_OPEN_FORCE : 0),
                             NULL, on_message, &m);
    if (n < 0) {
      refused = 1;
      if (m.json)
        printf ("%s\n    {\"severity\": \"repair-refused\", "
                "\"message\": ", m.n ? "," : "");
      else
        printf ("repair refused: ");
      if (m.json) {
        json_str (stdout, vd_last_error ()->message);
        printf ("}");
        m.n++;
      }
      else
        printf ("%s\n", vd_last_error ()->message);
      if (n == VD_ELOCKED || n == VD_ENOENT || n == VD_EIO) {
        if (m.json)
          printf ("\n  ],\n  \"complete\": false\n}\n");
        fail ();
        return 1;
      }
    }
    else if (!m.json)
      printf ("%d repairs made.\n", n);
  }
  if (vd_check (argv[optind], open_flags (&oo, 1), &res, on_message, &m) < 0) {
    if (m.json)
      printf ("\n  ],\n  \"complete\": false\n}\n");
    fail ();
    return 1;
  }
  if (m.json) {
    printf ("\n  ],\n  \"complete\": true,\n  \"corruptions\": %llu,\n"
            "  \"leaks\": %llu,\n  \"repairable\": %llu,\n"
            "  \"allocated_grains\": %llu,\n"
            "  \"unclean_shutdown\": %s",
            (unsigned long long) res.corruptions,
            (unsigned long long) res.leaks,
            (unsigned long long) res.repairable,
            (unsigned long long) res.allocated,
            res.unclean ? "true" : "false");
    report_leftovers (argv[optind], 1);
    printf ("\n}\n");
  }
  else {
    report_leftovers (argv[optind], 0);
    if (res.corruptions == 0 && res.leaks == 0 && res.repairable == 0)
      printf ("No errors were found on the disk.\n");
    else {
      if (res.corruptions)
        printf ("%llu errors were found on the disk.\n",
                (unsigned long long) res.corruptions);
      if (res.leaks)
        printf ("%llu leaked grains were found on the disk.\n",
                (unsigned long long) res.leaks);
      if (res.repairable && !refused)
        printf ("%llu safe inconsistencies were found; "
                "'vdisk check --repair' fixes them.\n",
                (unsigned long long) res.repairable);
      else if (res.repairable)
        printf ("%llu safe inconsistencies were found; they are left "
                "as they are because the repair was refused (above).\n",
                (unsigned long long) res.repairable);
    }
    printf ("%llu grains allocated.\n", (unsigned long long) res.allocated);
  }
  if (res.corruptions)
    return 2;
  if (res.leaks || res.repairable)
    return 3;
  return 0;
}

const struct command cmd_check = {
  "check", run, "[--json] [--repair [--force]] DISK",
  "Check a disk's metadata against its files (exit 0 clean, 1 could not "
  "check, 2 corruption, 3 leaks only, as qemu-img check).  With --repair, "
  "first repair what can be repaired safely (a lagging or damaged grain "
  "table copy, trailing leaked grains, a stale uncleanShutdown flag) and "
  "say why anything else is refused; the exit code then describes the "
  "disk after the repair.",
  "  -j, --json            machine-readable output\n"
  "  -r, --repair          repair hosted sparse extents in place\n"
  "      --force           repair even if a VMware .lck folder exists\n"
  "      --ignore-cid      accept a parent whose CID changed\n"
  "      --trusted         allow absolute paths, folders and '..' in extent\n"
  "                        and parent names\n",
};
