#include "vdisk-tool.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Links are numbered from the top everywhere in the CLI (as in the
 * library and in scan): link 0 is the disk named on the command line,
 * link 1 its parent, ..., link N-1 the base.  chain lists them base
 * first, so that the link of a given day is found reading down. */

enum created_from { FROM_NONE, FROM_VMSD, FROM_STAMP, FROM_MTIME };
static const char *const from_name[] = { "", "vmsd", "stamp", "file time" };

struct link_row {
  struct vd_link_info li;
  int64_t created;
  enum created_from from;
};

static const char *
base_name (const char *p)
{
  const char *s = strrchr (p, '/');
  return s ? s + 1 : p;
}

/* "YYYY-MM-DDTHH:MM:SSZ" (UTC) as written by vdisk; -1 if not. */
static int64_t
parse_stamp (const char *s)
{
  struct tm tm;
  const char *end;
  memset (&tm, 0, sizeof tm);
  if (!s || !(end = strptime (s, "%Y-%m-%dT%H:%M:%SZ", &tm)) || *end)
    return -1;
  return (int64_t) timegm (&tm);
}

/* The .vmsd files in dir: a snapshot "snapshotN" froze the disks it lists
 * (snapshotN.diskM.fileName) at snapshotN.createTimeHigh/Low (microseconds
 * since 1970, split in two 32-bit halves); the child made then was created
 * at that time.  Returns the time the disk named name was frozen, or -1. */
static int64_t
vmsd_frozen (const char *dir, const char *name)
{
  DIR *d = opendir (dir);
  struct dirent *de;
  int64_t best = -1;
  if (!d)
    return -1;
  while ((de = readdir (d)) != NULL) {
    size_t n = strlen (de->d_name);
    char *path, line[4096];
    FILE *f;
    /* up to 256 snapshots: their times, and which froze the disk */
    static const unsigned max_snap = 256;
    uint32_t hi[256], lo[256];
    unsigned char has[256], names[256];
    if (n < 6 || strcmp (de->d_name + n - 5, ".vmsd") != 0)
      continue;
    if (asprintf (&path, "%s/%s", dir, de->d_name) < 0)
      continue;
    f = fopen (path, "r");
    free (path);
    if (!f)
      continue;
    memset (has, 0, sizeof has);
    memset (names, 0, sizeof names);
    while (fgets (line, sizeof line, f)) {
      unsigned s;
      char key[64], val[3000];
      if (sscanf (line, "snapshot%u.%63[A-Za-z0-9.] = \"%2999[^\"]\"", &s,
                  key, val) != 3 || s >= max_snap)
        continue;
      if (!strcmp (key, "createTimeHigh"))
        hi[s] = (uint32_t) strtoll (val, NULL, 10), has[s] |= 1;
      else if (!strcmp (key, "createTimeLow"))
        lo[s] = (uint32_t) strtoll (val, NULL, 10), has[s] |= 2;
      else if (!strncmp (key, "disk", 4) && strchr (key, '.')
               && !strcmp (strchr (key, '.'), ".fileName")
               && !strcmp (base_name (val), name))
        names[s] = 1;
    }
    fclose (f);
    for (unsigned s = 0; s < max_snap; s++)
      if (names[s] && has[s] == 3) {
        int64_t t = (int64_t) ((((uint64_t) hi[s] << 32) | lo[s]) / 1000000);
        if (best < 0 || t < best)
          best = t;
      }
  }
  closedir (d);
  return best;
}

static char *
dir_of (const char *p)
{
  const char *s = strrchr (p, '/');
  if (!s)
    return strdup (".");
  if (s == p)
    return strdup ("/");
  return strndup (p, (size_t) (s - p));
}

/* Each link's creation time: from a .vmsd snapshot that froze its parent,
 * else from the ddb.vdisk.created stamp vdisk writes into every child it
 * makes, else the descriptor's modification time (marked as such). */
static void
find_created (struct link_row *rows, unsigned n, uint32_t flags)
{
  for (unsigned k = 0; k < n; k++) {
    struct link_row *r = &rows[k];
    vd_disk *one;
    r->from = FROM_NONE;
    if (k + 1 < n) {
      char *dir = dir_of (r->li.path);
      int64_t t = dir ? vmsd_frozen (dir, base_name (rows[k + 1].li.path))
                      : -1;
      free (dir);
      if (t >= 0) {
        r->created = t;
        r->from = FROM_VMSD;
        continue;
      }
    }
    if (vd_disk_open (&one, r->li.path, flags | VD_OPEN_READ_ONLY
                                        | VD_OPEN_SINGLE_LINK
                                        | VD_OPEN_IGNORE_CID) == 0) {
      int64_t t = parse_stamp (vd_disk_get_meta (one, "ddb.vdisk.created"));
      vd_disk_close (one);
      if (t >= 0) {
        r->created = t;
        r->from = FROM_STAMP;
        continue;
      }
    }
    r->created = r->li.mtime;
    r->from = FROM_MTIME;
  }
}

/* DATE: "YYYY-MM-DD" (the end of that day), "YYYY-MM-DD HH:MM[:SS]" or
 * "YYYY-MM-DDTHH:MM[:SS]" (local time), or "@SECONDS". */
static int
parse_date (const char *s, int64_t *out)
{
  struct tm tm;
  const char *end;
  static const char *const fmts[] = { "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S",
                                      "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M" };
  if (s[0] == '@') {
    char *e;
    long long v = strtoll (s + 1, &e, 10);
    if (e == s + 1 || *e)
      return -1;
    *out = v;
    return 0;
  }
  for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
    memset (&tm, 0, sizeof tm);
    if ((end = strptime (s, fmts[i], &tm)) && !*end) {
      tm.tm_isdst = -1;
      *out = (int64_t) mktime (&tm);
      return 0;
    }
  }
  memset (&tm, 0, sizeof tm);
  if ((end = strptime (s, "%Y-%m-%d", &tm)) && !*end) {
    tm.tm_hour = 23; tm.tm_min = 59; tm.tm_sec = 59;
    tm.tm_isdst = -1;
    *out = (int64_t) mktime (&tm);
    return 0;
  }
  return -1;
}

static void
fmt_time (char *buf, size_t n, int64_t when)
{
  time_t t = (time_t) when;
  struct tm tm;
  if (!localtime_r (&t, &tm) || !strftime (buf, n, "%Y-%m-%d %H:%M:%S", &tm))
    snprintf (buf, n, "@%lld", (long long) when);
}

static int
run (int argc, char **argv)
{
  static const struct option own[] = {
    { "json", no_argument, NULL, 'j' },
    { "at", required_argument, NULL, 'a' },
    OPT_HELP, { 0 } };
  const struct option *opts =
    with_open_options (own, OO (IGNORE_CID) | OO (TRUSTED));
  struct open_opts oo = { 0 };
  int c, json = 0, rc = 0;
  const char *at = NULL;
  int64_t at_time = 0;
  vd_disk *d;

  while ((c = next_option (argc, argv, "j", opts, &oo)) != -1) {
    switch (c) {
    case 'j': json = 1; break;
    case 'a': at = optarg; break;
    default: return usage_error ("chain", "invalid option");
    }
  }
  if (optind + 1 != argc)
    return usage_error ("chain", "expected one DISK argument");
  if (at && parse_date (at, &at_time) < 0)
    return usage_error ("chain", "--at: \"%s\" is not a date (YYYY-MM-DD, "
                        "YYYY-MM-DD HH:MM[:SS] or @SECONDS)", at);
  if (vd_disk_open (&d, argv[optind], open_flags (&oo, 1)) < 0)
    return fail ();
  unsigned n = vd_disk_get_link_count (d);
  struct link_row *rows = calloc (n ? n : 1, sizeof *rows);
  if (!rows) {
    vd_disk_close (d);
    fprintf (stderr, "vdisk: out of memory\n");
    return 1;
  }
  for (unsigned k = 0; k < n; k++)
    if (vd_disk_get_link_info (d, k, &rows[k].li) < 0) {
      rc = fail ();
      goto out;
    }
  find_created (rows, n, open_flags (&oo, 1) & VD_OPEN_TRUSTED);

  if (at) {
    /* the newest link made on or before the date: opened read-only (with
     * its ancestors) it holds the data as of that day */
    unsigned pick = n;
    for (unsigned k = 0; k < n && pick == n; k++)
      if (rows[k].created <= at_time)
        pick = k;
    char when[32];
    if (pick == n) {
      fmt_time (when, sizeof when, rows[n - 1].created);
      fprintf (stderr, "vdisk: %s: no link of this chain existed at %s "
               "(the base was created %s, %s)\n", argv[optind], at, when,
               from_name[rows[n - 1].from]);
      rc = 1;
      goto out;
    }
    fmt_time (when, sizeof when, rows[pick].created);
    if (json) {
      printf ("{\n  \"format_version\": 1,\n  \"at\": %lld,\n  \"link\": %u,"
              "\n  \"file\": ", (long long) at_time, pick);
      json_str (stdout, rows[pick].li.path);
      printf (",\n  \"created\": %lld,\n  \"created_from\": ",
              (long long) rows[pick].created);
      json_str (stdout, from_name[rows[pick].from]);
      printf ("\n}\n");
    }
    else
      printf ("%s\nlink %u, created %s (%s): open it read-only, e.g. "
              "'vdisk cat%s %s'\n", rows[pick].li.path, pick, when,
              from_name[rows[pick].from], oo.trusted ? " --trusted" : "",
              rows[pick].li.path);
    goto out;
  }

  if (json)
    printf ("{\n  \"format_version\": 1,\n  \"capacity\": %llu,\n"
            "  \"links\": [", (unsigned long long) vd_disk_get_size (d));
  else
    printf ("%-4s %-22s %-8s %-8s %14s %14s %-19s %-31s %s\n", "link",
            "type", "CID", "parent", "on disk", "allocated", "modified",
            "created", "file");
  /* oldest first, so a user can find the link of a given day */
  for (unsigned k = n; k-- > 0;) {
    const struct vd_link_info *li = &rows[k].li;
    char when[32], made[32], made_col[48];
    fmt_time (when, sizeof when, li->mtime);
    fmt_time (made, sizeof made, rows[k].created);
    if (json) {
      printf ("%s\n    {\"link\": %u, \"file\": ", k == n - 1 ? "" : ",", k);
      json_str (stdout, li->path);
      printf (", \"create_type\": ");
      json_str (stdout, li->create_type);
      printf (", \"cid\": \"%08x\", \"parent_cid\": \"%08x\", "
              "\"file_bytes\": %llu, \"allocated_bytes\": %llu, "
              "\"mtime\": %lld, \"created\": %lld, \"created_from\": ",
              li->cid, li->parent_cid, (unsigned long long) li->file_bytes,
              (unsigned long long) li->allocated_bytes, (long long) li->mtime,
              (long long) rows[k].created);
      json_str (stdout, from_name[rows[k].from]);
      printf (", \"extents\": %u}", li->extents);
    }
    else {
      snprintf (made_col, sizeof made_col, "%s (%s)", made,
                from_name[rows[k].from]);
      printf ("%-4u %-22s %08x %08x %14llu %14llu %-19s %-31s %s\n", k,
              li->create_type, li->cid, li->parent_cid,
              (unsigned long long) li->file_bytes,
              (unsigned long long) li->allocated_bytes, when, made_col,
              li->path);
    }
  }
  if (json)
    printf ("\n  ]\n}\n");
out:
  free (rows);
  vd_disk_close (d);
  return rc;
}

const struct command cmd_chain = {
  "chain", run, "[--json] [--ignore-cid] [--trusted] [--at DATE] DISK",
  "List every link of a disk's chain, base first, with its creation time.  "
  "The time comes from the VM's .vmsd snapshot list when there is one, else from the "
  "ddb.vdisk.created stamp vdisk writes into every child it makes, else "
  "the descriptor's file time, marked as such.  Links are numbered from "
  "the top: link 0 is DISK, the base has the highest number (as in "
  "'vdisk scan').  With --at DATE, name the link to open read-only to see "
  "the data of that day: the newest link created on or before DATE.",
  "  -j, --json            machine-readable output\n"
  "      --at DATE         the link for DATE: YYYY-MM-DD (the end of that\n"
  "                        day), 'YYYY-MM-DD HH:MM[:SS]' (local time) or\n"
  "                        @SECONDS\n"
  "      --ignore-cid      accept a parent whose CID changed\n"
  "      --trusted         allow absolute paths, folders and '..' in\n"
  "                        extent and parent names\n",
};
