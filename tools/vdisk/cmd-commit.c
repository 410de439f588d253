#include "vdisk-tool.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_LINKS 32

static int
same_file (const char *a, const char *b)
{
  struct stat sa, sb;
  return stat (a, &sa) == 0 && stat (b, &sb) == 0 && sa.st_dev == sb.st_dev
         && sa.st_ino == sb.st_ino;
}

/* The links between child and the ancestor a commit --into collapses
 * (the library removes them once the child sits on the ancestor). */
static unsigned
collapsed_links (const char *child, const char *into, uint32_t flags,
                 char **out)
{
  vd_disk *d;
  unsigned n = 0, count, k;
  if (!into || vd_disk_open (&d, child, flags | VD_OPEN_READ_ONLY
                                        | VD_OPEN_IGNORE_CID) < 0)
    return 0;
  count = vd_disk_get_link_count (d);
  for (k = 1; k < count; k++) {
    struct vd_link_info li;
    if (vd_disk_get_link_info (d, k, &li) == 0 && same_file (li.path, into))
      break;
  }
  for (unsigned i = 1; i < k && k < count && n < MAX_LINKS; i++) {
    struct vd_link_info li;
    if (vd_disk_get_link_info (d, i, &li) == 0 && li.path
        && (out[n] = strdup (li.path)))
      n++;
  }
  vd_disk_close (d);
  return n;
}

static int
run (int argc, char **argv)
{
  static const struct option opts[] = {
    { "into", required_argument, NULL, 'i' },
    { "progress", optional_argument, NULL, 'p' },
    { "trusted", no_argument, NULL, 'T' },
    { "force", no_argument, NULL, 'f' },
    OPT_HELP, { 0 } };
  struct open_opts oo = { 0 };
  struct progress pr;
  const char *into = NULL;
  char *mid[MAX_LINKS];
  unsigned n_mid;
  int c, want = 0, pfd = -1, rc = 0;
  while ((c = getopt_long (argc, argv, "i:pf", opts, NULL)) != -1) {
    switch (c) {
    case 'i': into = optarg; break;
    case 'p': want = 1; if (optarg) pfd = atoi (optarg); break;
    case 'T': oo.trusted = 1; break;
    case 'f': oo.force = 1; break;
    default: return usage_error ("commit", "invalid option");
    }
  }
  if (optind + 1 != argc)
    return usage_error ("commit", "expected one CHILD argument");
  n_mid = collapsed_links (argv[optind], into,
                           oo.trusted ? VD_OPEN_TRUSTED : 0, mid);
  progress_init (&pr, want, pfd);
  if (vd_disk_commit (argv[optind], into, open_flags (&oo, 0), progress_cb,
                      &pr) < 0)
    rc = fail ();
  else
    progress_done (&pr);
  /* say what happened to the links in between, whatever the outcome */
  for (unsigned i = 0; i < n_mid; i++) {
    struct stat st;
    if (stat (mid[i], &st) < 0)
      printf ("removed %s: collapsed into %s, which holds its data now\n",
              mid[i], into);
    else if (rc == 0)
      printf ("kept %s\n", mid[i]);
    free (mid[i]);
  }
  return rc;
}

const struct command cmd_commit = {
  "commit", run, "[--into ANCESTOR] [--force] [--progress] CHILD",
  "Merge a child's data into its parent (or an older ancestor); the "
  "child then sits directly on that ancestor and reads as before.",
  "  -i, --into ANCESTOR   commit into this ancestor; the links between are\n"
  "                        no longer valid disks and are removed (each one\n"
  "                        named on the output)\n"
  "  -f, --force           commit even though another child of the parent\n"
  "                        (or of a link between) would no longer open\n"
  "  -p, --progress[=FD]   show progress\n"
  "      --trusted         allow absolute paths, folders and '..' in\n"
  "                        extent and parent names\n",
};
