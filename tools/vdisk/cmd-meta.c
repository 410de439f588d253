#include "vdisk-tool.h"

#include <stdlib.h>
#include <string.h>

/* VDDK users write keys without the "ddb." prefix ("adapterType"). */
static char *
full_key (const char *k)
{
  size_t n = strlen (k);
  char *s = malloc (n + 5);
  if (!s)
    return NULL;
  if (strncmp (k, "ddb.", 4) == 0)
    memcpy (s, k, n + 1);
  else {
    memcpy (s, "ddb.", 4);
    memcpy (s + 4, k, n + 1);
  }
  return s;
}

static int
run (int argc, char **argv)
{
  static const struct option own[] = {
    { "delete", required_argument, NULL, 'd' },
    { "json", no_argument, NULL, 'j' },
    OPT_HELP, { 0 } };
  const struct option *opts =
    with_open_options (own, OO (TRUSTED) | OO (FORCE));
  struct open_opts oo = { 0 };
  const char *del = NULL;
  char *key = NULL;
  int c, json = 0, rc = 0, nargs;
  vd_disk *d;

  while ((c = next_option (argc, argv, "d:jf", opts, &oo)) != -1) {
    switch (c) {
    case 'd': del = optarg; break;
    case 'j': json = 1; break;
    case 'f': oo.force = 1; break;
    default: return usage_error ("meta", "invalid option");
    }
  }
  nargs = argc - optind;
  if (nargs < 1 || nargs > 3 || (del && nargs != 1))
    return usage_error ("meta", "expected DISK [KEY [VALUE]] or --delete KEY "
                        "DISK");
  if (del || nargs == 3) {
    const char *k = del ? del : argv[optind + 1];
    const char *v = del ? NULL : argv[optind + 2];
    if (v && strpbrk (v, "\"\r\n"))
      return usage_error ("meta", "a value may not hold a double quote or a "
                          "line break");
    if (!*k || strpbrk (k, "\"\r\n= "))
      return usage_error ("meta", "invalid key '%s'", k);
    key = full_key (k);
    if (!key)
      return usage_error ("meta", "out of memory");
    if (vd_disk_open (&d, argv[optind], open_flags (&oo, 0)) < 0) {
      free (key);
      return fail ();
    }
    if (vd_disk_set_meta (d, key, v) < 0)
      rc = fail ();
    if (vd_disk_close (d) < 0 && rc == 0)
      rc = fail ();
    free (key);
    return rc;
  }
  if (vd_disk_open (&d, argv[optind], open_flags (&oo, 1)) < 0)
    return fail ();
  if (nargs == 2) {
    key = full_key (argv[optind + 1]);
    const char *v = key ? vd_disk_get_meta (d, key) : NULL;
    if (!v) {
      fprintf (stderr, "vdisk: %s: no metadata key %s\n", argv[optind],
               key ? key : argv[optind + 1]);
      rc = 1;
    }
    else if (json) {
      printf ("{ ");
      json_str (stdout, key);
      printf (": ");
      json_str (stdout, v);
      printf (" }\n");
    }
    else
      printf ("%s\n", v);
  }
  else {
    unsigned n = vd_disk_get_meta_count (d);
    if (json)
      printf ("{");
    for (unsigned i = 0; i < n; i++) {
      const char *k = vd_disk_get_meta_key (d, i);
      const char *v = k ? vd_disk_get_meta (d, k) : NULL;
      if (!k)
        continue;
      if (json) {
        printf ("%s\n  ", i ? "," : "");
        json_str (stdout, k);
        printf (": ");
        json_str (stdout, v ? v : "");
      }
      else
        printf ("%s = \"%s\"\n", k, v ? v : "");
    }
    if (json)
      printf ("\n}\n");
  }
  free (key);
  vd_disk_close (d);
  return rc;
}

const struct command cmd_meta = {
  "meta", run, "[--json] DISK [KEY [VALUE]] | --delete KEY DISK",
  "List the disk database (ddb.*) of a disk, show one key, or set one "
  "(the \"ddb.\" prefix may be left out).",
  "  -d, --delete KEY      remove KEY\n"
  "  -j, --json            print JSON\n"
  "  -f, --force           write even though a child names this disk\n"
  "      --trusted         allow absolute paths, folders and '..' in\n"
  "                        extent and parent names\n",
};
