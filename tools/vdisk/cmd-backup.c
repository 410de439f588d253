/* vdisk backup VMFOLDER REPO | backup list|verify|prune REPO,
 * vdisk restore REPO [POINT] DEST. */
#include "vdisk-tool.h"
#include "fleet-run.h"

#include <errno.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

struct lister {
  int json, n;
};

static int
list_cb (const struct vd_backup_point *p, void *payload)
{
  struct lister *l = payload;
  if (l->json) {
    printf ("%s\n  {\"point\": ", l->n ? "," : "");
    json_str (stdout, p->name);
    printf (", \"time\": ");
    json_str (stdout, p->time);
    printf (", \"disks\": %u, \"incremental\": %u, \"bytes_written\": %"
            PRIu64 ", \"synced\": %s", p->disks, p->incremental,
            p->bytes_written, p->synced ? "true" : "false");
    if (p->error) {
      printf (", \"error\": ");
      json_str (stdout, p->error);
    }
    printf ("}");
  }
  else if (p->error)
    printf ("%s  unreadable: %s\n", p->name, p->error);
  else
    printf ("%s  %s  %u disks (%u incremental)  %" PRIu64 " bytes%s\n",
            p->name, p->time ? p->time : "?", p->disks, p->incremental,
            p->bytes_written, p->synced ? "" : "  not synced (--no-sync)");
  l->n++;
  return 0;
}

/* ---- --manifest: one shard of a fleet ---------------------------------
 * The unit of a backup is the VM: the shard that holds a VM's first disk
 * (manifest order) backs up the whole VM folder into OUT/repo/<that
 * disk's ID> and writes the results of all its disks; the shards holding
 * the VM's other disks write nothing for them.  A VM's disks are on one
 * host, so --per-host still holds. */

struct backup_job {
  struct vd_backup_options *o;
  const char *out;
  char shard[48];
  char err[1024], point[160];
};

static char *
dir_of (const char *path)
{
  const char *slash = strrchr (path, '/');
  return slash ? strndup (path, (size_t) (slash - path)) : strdup (".");
}

static int
fleet_backup (void *payload, const vd_fleet *fleet, size_t i,
              struct vd_fleet_result *res)
{
  struct backup_job *j = payload;
  const struct vd_fleet_disk *d = vd_fleet_get (fleet, i), *first = d;
  struct vd_backup_result br;
  char *folder, *repo = NULL;
  int r;

  if (!d->vmx) {
    res->status = "failed";
    res->error = "backup --manifest backs up VM folders: this disk has no "
                 ".vmx (a disk of a server)";
    return 0;
  }
  for (size_t k = 0; k < vd_fleet_count (fleet); k++) {
    const struct vd_fleet_disk *x = vd_fleet_get (fleet, k);
    if (x->vmx && strcmp (x->vmx, d->vmx) == 0) {
      first = x;
      break;
    }
  }
  if (first != d)
    return 1;                   /* the shard of the VM's first disk does it */
  folder = dir_of (d->vmx);
  if (!folder || asprintf (&repo, "%s/repo", j->out) < 0
      || (mkdir (repo, 0755) < 0 && errno != EEXIST)) {
    free (folder);
    free (repo);
    res->status = "failed";
    res->error = "out of memory or cannot make OUT/repo";
    return 0;
  }
  free (repo);
  if (asprintf (&repo, "%s/repo/%s", j->out, d->id) < 0) {
    free (folder);
    res->status = "failed";
    res->error = "out of memory";
    return 0;
  }
  r = vd_backup_vm (folder, repo, j->o, &br);
  free (folder);
  free (repo);
  if (r < 0) {
    snprintf (j->err, sizeof j->err, "%s", vd_last_error ()->message);
    res->status = "failed";
    res->error = j->err;
    return 0;
  }
  snprintf (j->point, sizeof j->point, "repo/%s/%s", d->id, br.point);
  res->status = "done";
  res->detail = j->point;
  res->bytes_read = br.bytes_read;
  /* the VM's other disks: done with it */
  for (size_t k = 0; k < vd_fleet_count (fleet); k++) {
    const struct vd_fleet_disk *x = vd_fleet_get (fleet, k);
    if (x == d || !x->vmx || strcmp (x->vmx, d->vmx) != 0)
      continue;
    struct vd_fleet_result o2;
    memset (&o2, 0, sizeof o2);
    o2.id = x->id;
    o2.uri = x->uri;
    o2.host = x->host;
    o2.job = "backup";
    o2.status = "done";
    o2.detail = j->point;
    o2.shard = j->shard;
    if (vd_fleet_result_write (j->out, &o2) < 0)
      fail ();
  }
  return 0;
}

static void
fleet_backup_clear (void *payload)
{
  (void) payload;
}

static int
run_backup (int argc, char **argv)
{
  static const struct option opts[] = {
    { "full", no_argument, NULL, 'F' },
    { "force", no_argument, NULL, 'f' },
    { "json", no_argument, NULL, 'j' },
    { "keep", required_argument, NULL, 'k' },
    { "progress", optional_argument, NULL, 'p' },
    { "manifest", required_argument, NULL, 'M' },
    { "shard", required_argument, NULL, 'S' },
    { "out", required_argument, NULL, 'o' },
    { "per-host", required_argument, NULL, 'K' },
    { "rdm-data", no_argument, NULL, 'R' },
    { "full-type", required_argument, NULL, 'T' },
    { "no-sync", no_argument, NULL, 'N' },
    OPT_HELP, { 0 } };
  struct fleet_opts fo = { NULL, NULL, NULL, 0 };
  struct vd_backup_options o = { sizeof o, 0, NULL, NULL, NULL, 0 };
  struct progress pr;
  int c, json = 0, want_progress = 0, pfd = -1;
  long keep = -1;
  char *summary = NULL;
  while ((c = getopt_long (argc, argv, "Ffjk:p::", opts, NULL)) != -1) {
    switch (c) {
    case 'F': o.flags |= VD_BACKUP_FULL; break;
    case 'f': o.flags |= VD_BACKUP_FORCE; break;
    case 'R': o.flags |= VD_BACKUP_RDM_DATA; break;
    case 'N': o.flags |= VD_BACKUP_NO_SYNC; break;
    case 'T':
      if (!strcmp (optarg, "stream") || !strcmp (optarg, "streamOptimized"))
        o.full_type = VD_TYPE_STREAM_OPTIMIZED;
      else if (!strcmp (optarg, "sparse") || !strcmp (optarg, "monolithicSparse"))
        o.full_type = VD_TYPE_MONOLITHIC_SPARSE;
      else
        return usage_error ("backup", "--full-type takes monolithicSparse "
                            "(sparse) or streamOptimized (stream)");
      break;
    case 'j': json = 1; break;
    case 'k': {
      char *end;
      keep = strtol (optarg, &end, 10);
      if (*end || keep < 1)
        return usage_error ("backup", "--keep takes a number >= 1");
      break;
    }
    case 'p':
      want_progress = 1;
      if (optarg)
        pfd = atoi (optarg);
      break;
    case 'M': fo.manifest = optarg; break;
    case 'S': fo.shard = optarg; break;
    case 'o': fo.out = optarg; break;
    case 'K':
      if (fleet_parse_per_host (optarg, &fo.per_host) < 0)
        return usage_error ("backup", "--per-host takes a number >= 1");
      break;
    default: return usage_error ("backup", "invalid option");
    }
  }
  int n = argc - optind;
  const char *a0 = n > 0 ? argv[optind] : "";
  if (!fo.manifest && (fo.shard || fo.out || fo.per_host))
    return usage_error ("backup", "--shard, --out and --per-host go with "
                        "--manifest");
  if (fo.manifest) {
    struct backup_job bj;
    struct fleet_job job = { "backup", fleet_backup, fleet_backup_clear, &bj };
    if (n != 0)
      return usage_error ("backup", "--manifest takes no VMFOLDER or REPO "
                          "(the repositories go under --out DIR/repo)");
    memset (&bj, 0, sizeof bj);
    bj.o = &o;
    bj.out = fo.out;
    snprintf (bj.shard, sizeof bj.shard, "%s", fo.shard ? fo.shard : "0/1");
    return fleet_run ("backup", &fo, &job);
  }
  if (strcmp (a0, "list") == 0 && n == 2) {
    struct lister l = { json, 0 };
    if (json)
      printf ("{\"format_version\": 1, \"points\": [");
    if (vd_backup_list (argv[optind + 1], list_cb, &l) < 0)
      return fail ();
    if (json)
      printf ("%s]}\n", l.n ? "\n" : "");
    return 0;
  }
  if (strcmp (a0, "verify") == 0 && (n == 2 || n == 3)) {
    if (vd_backup_verify (argv[optind + 1], n == 3 ? argv[optind + 2] : NULL) < 0)
      return fail ();
    printf ("verified: every file and every disk chain matches its manifest\n");
    return 0;
  }
  if (strcmp (a0, "prune") == 0 && n == 2) {
    if (keep < 1)
      return usage_error ("backup", "prune needs --keep N");
    if (vd_backup_prune (argv[optind + 1], (unsigned) keep) < 0)
      return fail ();
    return 0;
  }
  if (n != 2)
    return usage_error ("backup", "expected VMFOLDER REPO (or list|verify|"
                        "prune REPO)");
  progress_init (&pr, want_progress, pfd);
  if (pr.enabled) {
    o.progress = progress_cb;
    o.payload = &pr;
  }
  o.summary_json = &summary;   /* also for the RDM warning below */
  struct vd_backup_result res;
  int r = vd_backup_vm (argv[optind], argv[optind + 1], &o, &res);
  progress_done (&pr);
  if (r < 0)
    return fail ();
  if (summary && strstr (summary, "\"data_skipped\""))
    fprintf (stderr, "vdisk: warning: the data of an RDM disk could not be "
             "read (only its descriptor was saved): see \"data_skipped\" "
             "in the point's manifest (--json)\n");
  if (json)
    printf ("%s\n", summary ? summary : "{}");
  else
    fprintf (stderr, "vdisk: point %s: %u disks, %" PRIu64 " bytes read, %"
             PRIu64 " written\n", res.point, res.disks, res.bytes_read,
             res.bytes_written);
  free (summary);
  return 0;
}

const struct command cmd_backup = {
  "backup", run_backup,
  "[--full] [--full-type T] [--rdm-data] [--no-sync] [--json] VMFOLDER REPO | list [--json] REPO | verify REPO [POINT]"
  " | prune --keep N REPO\n       vdisk backup [--full] --manifest M --out DIR"
  " [--shard I/N|auto/N] [--per-host K]",
  "Back up a VM folder (every disk of its .vmx, the .vmx/.vmsd/.vmxf/.nvram)"
  " into a repository of VMDK chains: full, or incremental from changed "
  "block tracking; list, verify or prune its points.",
  "  -F, --full            a full point even where an incremental is possible\n"
  "  -f, --force           accept a repository of another VM\n"
  "      --full-type T     a full point's disk files: monolithicSparse\n"
  "                        (default) or streamOptimized (compressed; the\n"
  "                        incrementals are sparse children of it)\n"
  "      --rdm-data        RDM disks: also save the mapped device's data\n"
  "                        when it can be read (default: the descriptor)\n"
  "      --no-sync         scratch repositories: skip the fdatasync of the\n"
  "                        point's files (a power loss may damage the point;\n"
  "                        verify finds it); the point says \"not synced\"\n"
  "  -k, --keep N          prune: keep the newest N points\n"
  "  -j, --json            the new point's manifest / the list as JSON\n"
  "  -p, --progress[=FD]   progress on stderr, or N/100 lines on FD\n"
  "      --manifest M      every VM of a manifest (vdisk inventory): each\n"
  "                        into DIR/repo/ID, a result DIR/ID.json per disk\n"
  "      --shard I/N       only shard I of N (auto/N: JOB_COMPLETION_INDEX\n"
  "                        or SLURM_ARRAY_TASK_ID)\n"
  "      --out DIR         results and repositories (vdisk report DIR)\n"
  "      --per-host K      each source host's disks on at most K shards\n",
};

static int
run_restore (int argc, char **argv)
{
  static const struct option opts[] = {
    { "at", required_argument, NULL, 'a' },
    { "type", required_argument, NULL, 't' },
    { "disk", required_argument, NULL, 'd' },
    { "keep-cbt", no_argument, NULL, 'K' },
    { "rdm", required_argument, NULL, 'R' },
    { "force", no_argument, NULL, 'f' },
    OPT_HELP, { 0 } };
  struct vd_restore_options o = { sizeof o, 0, 0, NULL, -1 };
  int c;
  while ((c = getopt_long (argc, argv, "a:t:d:f", opts, NULL)) != -1) {
    switch (c) {
    case 'a': o.at = optarg; break;
    case 'f': o.flags |= VD_RESTORE_FORCE; break;
    case 't':
      o.type = vd_type_from_name (optarg);
      if (!o.type)
        return usage_error ("restore", "unknown type '%s'", optarg);
      break;
    case 'd': {
      char *end;
      long v = strtol (optarg, &end, 10);
      if (*end || v < 0 || v > 255)
        return usage_error ("restore", "--disk takes a disk number (0, 1, ...)");
      o.disk = (int) v;
      break;
    }
    case 'K': o.flags |= VD_RESTORE_KEEP_CBT; break;
    case 'R':
      if (strcmp (optarg, "keep") == 0)
        o.flags |= VD_RESTORE_RDM_KEEP;
      else if (strcmp (optarg, "data") == 0)
        o.flags |= VD_RESTORE_RDM_DATA;
      else
        return usage_error ("restore", "--rdm takes 'keep' or 'data'");
      break;
    default: return usage_error ("restore", "invalid option");
    }
  }
  int n = argc - optind;
  if (n != 2 && n != 3)
    return usage_error ("restore", "expected REPO [POINT] DEST");
  if (n == 3 && o.at)
    return usage_error ("restore", "give a POINT or --at, not both");
  char *report = NULL;
  if (vd_restore_vm (argv[optind], n == 3 ? argv[optind + 1] : NULL,
                     argv[argc - 1], &o, &report) < 0)
    return fail ();
  if (report)
    fputs (report, stderr);
  free (report);
  return 0;
}

const struct command cmd_restore = {
  "restore", run_restore,
  "[--at TIME] [--type T] [--disk N] [--keep-cbt] [--rdm keep|data] [--force] REPO [POINT] DEST",
  "Rebuild a VM folder from a backup point (the newest, a named one, or the "
  "newest at or before --at): disks in any layout, the saved .nvram.  DEST "
  "may be 'vsphere://USER@HOST/[DATASTORE] FOLDER': the disks go up as thin "
  "vmfs flat disks, then the .vmx and .nvram.",
  "  -a, --at TIME         newest point at or before TIME (UTC, YYYY-MM-DDTHH:MM[:SS])\n"
  "  -t, --type T          layout of the restored disks (default: as backed up)\n"
  "  -d, --disk N          restore only disk N (0 = the first of the .vmx)\n"
  "      --keep-cbt        keep changed block tracking on the restored disks\n"
  "      --rdm keep        restore RDM mapping descriptors whose device is\n"
  "                        still there (default: leave them out of the .vmx\n"
  "                        and say what to re-add: the guide's phase one)\n"
  "      --rdm data        restore an RDM's data saved by backup --rdm-data\n"
  "                        as a virtual disk of the RDM's name\n"
  "  -f, --force           vsphere:// DEST: replace files already there\n",
};
