/* vdisk report DIR: merge the per-disk results of a fleet job. */
#include "vdisk-tool.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct rep {
  int json;
};

static int
print_result (const struct vd_fleet_result *r, void *payload)
{
  struct rep *rp = payload;
  if (rp->json)
    return 0;
  if (!strcmp (r->status, "infected"))
    for (size_t i = 0; i < r->n_hits; i++)
      printf ("%s %s: %s FOUND at sectors %llu-%llu (byte %llu, %llu "
              "bytes)\n", r->id, r->uri ? r->uri : "-",
              r->hits[i].name ? r->hits[i].name : "?",
              (unsigned long long) r->hits[i].first_sector,
              (unsigned long long) r->hits[i].last_sector,
              (unsigned long long) r->hits[i].offset,
              (unsigned long long) r->hits[i].length);
  else if (!strcmp (r->status, "failed"))
    printf ("%s %s: FAILED: %s\n", r->id, r->uri ? r->uri : "-",
            r->error ? r->error : "?");
  else if (!strcmp (r->status, "missing"))
    printf ("%s %s: NOT DONE\n", r->id, r->uri ? r->uri : "-");
  return 0;
}

static int
run (int argc, char **argv)
{
  static const struct option opts[] = {
    { "json", no_argument, NULL, 'j' },
    { "manifest", required_argument, NULL, 'M' },
    OPT_HELP, { 0 } };
  struct rep rp = { 0 };
  const char *manifest = NULL;
  char *kept = NULL, *json = NULL;
  vd_fleet *fleet = NULL;
  struct vd_fleet_totals t;
  int c;

  while ((c = getopt_long (argc, argv, "jM:", opts, NULL)) != -1) {
    switch (c) {
    case 'j': rp.json = 1; break;
    case 'M': manifest = optarg; break;
    default: usage_error ("report", "invalid option"); return 2;
    }
  }
  if (optind + 1 != argc) {
    usage_error ("report", "expected one results folder DIR");
    return 2;
  }
  if (!manifest && asprintf (&kept, "%s/manifest.jsonl", argv[optind]) >= 0
      && access (kept, R_OK) == 0)
    manifest = kept;
  if (manifest && vd_fleet_load (&fleet, manifest) < 0) {
    fail ();
    free (kept);
    return 2;
  }
  if (vd_fleet_report (argv[optind], fleet, print_result, &rp, &t,
                       rp.json ? &json : NULL) < 0) {
    fail ();
    vd_fleet_free (fleet);
    free (kept);
    return 2;
  }
  if (rp.json)
    printf ("%s\n", json);
  else
    printf ("%llu disks: %llu done (%llu clean, %llu infected), %llu "
            "failed, %llu not done; %llu hits, %llu bytes read%s\n",
            (unsigned long long) t.disks, (unsigned long long) t.done,
            (unsigned long long) t.clean, (unsigned long long) t.infected,
            (unsigned long long) t.failed, (unsigned long long) t.missing,
            (unsigned long long) t.hits, (unsigned long long) t.bytes_read,
            fleet ? "" : " (no manifest: disks without a result unknown)");
  free (json);
  vd_fleet_free (fleet);
  free (kept);
  fflush (stdout);
  /* as vdisk scan: 1 when anything was found, else 2 when a disk failed
   * or is not done, else 0 */
  return t.infected ? 1 : t.failed || t.missing ? 2 : 0;
}

const struct command cmd_report = {
  "report", run, "[--json] [--manifest M] DIR",
  "Merge the per-disk results of vdisk scan|backup --manifest ... --out "
  "DIR: totals, every hit, every disk failed or not yet done.  Exit "
  "status: 1 when a virus was found, else 2 when a disk failed or has no "
  "result yet, else 0.",
  "  -j, --json            one JSON document (totals, disks, hits, not_done)\n"
  "  -M, --manifest M      the manifest (default: DIR/manifest.jsonl, kept\n"
  "                        by the first shard)\n",
};
