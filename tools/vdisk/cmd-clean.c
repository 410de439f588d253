/* vdisk clean FOLDER: the work folders a killed vdisk left behind; and the
 * report of them that info and check print for a disk's folder. */
#include "vdisk-tool.h"

#include <libgen.h>
#include <stdlib.h>
#include <string.h>

static const char *
state_name (int s)
{
  return s == VD_WORKDIR_LIVE ? "live" : s == VD_WORKDIR_STALE ? "stale"
         : "unknown";
}

static void
print_json (FILE *f, const char *dir, const struct vd_workdir *w, size_t n)
{
  fprintf (f, "[");
  for (size_t i = 0; i < n; i++) {
    fprintf (f, "%s\n    {\"dir\": ", i ? "," : "");
    json_str (f, dir);
    fprintf (f, ", \"name\": ");
    json_str (f, w[i].name);
    fprintf (f, ", \"target\": ");
    json_str (f, w[i].target);
    fprintf (f, ", \"pid\": %ld, \"state\": \"%s\", \"bytes\": %llu, "
             "\"removed\": %s}", w[i].pid, state_name (w[i].state),
             (unsigned long long) w[i].bytes, w[i].removed ? "true" : "false");
  }
  fprintf (f, "%s]", n ? "\n  " : "");
}

static void
print_text (FILE *f, const char *prefix, const char *dir,
            const struct vd_workdir *w)
{
  fprintf (f, "%s%s/%s: %s work folder", prefix, dir, w->name,
           state_name (w->state));
  if (w->target)
    fprintf (f, " for %s", w->target);
  if (w->pid)
    fprintf (f, " (pid %ld%s)", w->pid,
             w->state == VD_WORKDIR_STALE ? ", gone"
             : w->state == VD_WORKDIR_LIVE ? ", running" : "");
  else
    fprintf (f, " (creator not recorded)");
  fprintf (f, ", %llu bytes%s\n", (unsigned long long) w->bytes,
           w->removed ? ", removed" : "");
}

/* The folder of a disk path (malloc'd), NULL for a URL. */
static char *
folder_of (const char *disk)
{
  char *c, *d;
  if (strstr (disk, "://"))
    return NULL;
  c = strdup (disk);
  if (!c)
    return NULL;
  d = strdup (dirname (c));
  free (c);
  return d;
}

/* info/check: the leftovers beside disk (not the live ones).  json: print
 * `"leftovers": [...]` (with a leading ",\n  ") to stdout; otherwise a
 * note per folder on stderr.  Never removes anything. */
void
report_leftovers (const char *disk, int json)
{
  char *dir = folder_of (disk);
  struct vd_workdir *w = NULL;
  size_t n = 0, k = 0;
  if (dir && vd_dir_clean (dir, NULL, 0, &w, &n) < 0)
    n = 0;
  for (size_t i = 0; i < n; i++)
    if (w[i].state != VD_WORKDIR_LIVE)
      w[k++] = w[i];
    else {
      free (w[i].name);
      free (w[i].target);
    }
  if (json) {
    printf (",\n  \"leftovers\": ");
    print_json (stdout, dir ? dir : ".", w, k);
  }
  else
    for (size_t i = 0; i < k; i++)
      print_text (stderr, "vdisk: note: ", dir, &w[i]);
  size_t stale = 0;
  for (size_t i = 0; i < k; i++)
    stale += w[i].state == VD_WORKDIR_STALE;
  if (!json && stale)
    fprintf (stderr, "vdisk: note: 'vdisk clean %s' removes the stale "
             "ones\n", dir);
  vd_workdirs_free (w, k);
  free (dir);
}

static int
run (int argc, char **argv)
{
  static const struct option opts[] = {
    { "dry-run", no_argument, NULL, 'n' },
    { "json", no_argument, NULL, 'j' },
    OPT_HELP, { 0 } };
  int c, dry = 0, json = 0, rc = 0;
  struct vd_workdir *w;
  size_t n;
  uint64_t freed = 0;
  const char *dir;

  while ((c = getopt_long (argc, argv, "nj", opts, NULL)) != -1) {
    switch (c) {
    case 'n': dry = 1; break;
    case 'j': json = 1; break;
    default: return usage_error ("clean", "invalid option");
    }
  }
  if (optind + 1 != argc)
    return usage_error ("clean", "expected one FOLDER argument");
  dir = argv[optind];
  if (vd_dir_clean (dir, NULL, dry ? 0 : VD_CLEAN_REMOVE, &w, &n) < 0)
    return fail ();
  for (size_t i = 0; i < n; i++) {
    if (w[i].removed)
      freed += w[i].bytes;
    if (!dry && w[i].state == VD_WORKDIR_STALE && !w[i].removed) {
      fprintf (stderr, "vdisk: %s/%s: could not remove it all\n", dir,
               w[i].name);
      rc = 1;
    }
  }
  if (json) {
    printf ("{\n  \"format_version\": 1,\n  \"dry_run\": %s,\n  "
            "\"freed_bytes\": %llu,\n  \"work_folders\": ",
            dry ? "true" : "false", (unsigned long long) freed);
    print_json (stdout, dir, w, n);
    printf ("\n}\n");
  }
  else {
    for (size_t i = 0; i < n; i++)
      print_text (stdout, "", dir, &w[i]);
    printf ("%zu work folder%s, %llu bytes freed%s.\n", n, n == 1 ? "" : "s",
            (unsigned long long) freed, dry ? " (dry run: nothing removed)"
                                            : "");
  }
  vd_workdirs_free (w, n);
  return rc;
}

const struct command cmd_clean = {
  "clean", run, "[--dry-run] [--json] FOLDER",
  "Remove the hidden work folders (.vdisk-new-*, .vdisk-work-*) that a "
  "killed vdisk left in FOLDER: only those whose creating process is gone; "
  "a folder of a running vdisk, or of unknown creator, is listed and kept.",
  "  -n, --dry-run         list them, remove nothing\n"
  "  -j, --json            machine-readable output\n",
};
