/* vdisk inventory SOURCE... : a fleet manifest, one JSON object per line
 * per disk (docs/fleet.md). */
#include "vdisk-tool.h"

#include <stdlib.h>
#include <string.h>

struct inv {
  int json;
  size_t n;
  char **seen;                  /* IDs printed (a disk listed once) */
  size_t cap;
  int err;
};

static int
print_disk (const struct vd_fleet_disk *d, void *payload)
{
  struct inv *iv = payload;
  for (size_t i = 0; i < iv->n; i++)
    if (strcmp (iv->seen[i], d->id) == 0)
      return 0;                 /* two sources name the same disk */
  if (iv->n == iv->cap) {
    size_t nc = iv->cap ? iv->cap * 2 : 64;
    char **nv = realloc (iv->seen, nc * sizeof *nv);
    if (!nv) {
      iv->err = 1;
      return 1;
    }
    iv->seen = nv;
    iv->cap = nc;
  }
  if (!(iv->seen[iv->n] = strdup (d->id))) {
    iv->err = 1;
    return 1;
  }
  iv->n++;
  if (iv->json) {
    char *line = vd_fleet_disk_to_json (d);
    if (!line) {
      iv->err = 1;
      return 1;
    }
    printf ("%s\n", line);
    free (line);
  }
  else
    printf ("%s  %-20s %-24s %12llu %12llu %3u  %s\n", d->id,
            d->vm ? d->vm : "-", d->host,
            (unsigned long long) d->capacity,
            (unsigned long long) d->allocated, d->depth, d->uri);
  return 0;
}

static int
run (int argc, char **argv)
{
  static const struct option opts[] = {
    { "json", no_argument, NULL, 'j' },
    { "text", no_argument, NULL, 't' },
    OPT_HELP, { 0 } };
  struct inv iv = { 1, 0, NULL, 0, 0 };
  int c, rc = 0, text = 0;

  while ((c = getopt_long (argc, argv, "jt", opts, NULL)) != -1) {
    switch (c) {
    case 'j': iv.json = 1; break;
    case 't': text = 1; break;
    default: return usage_error ("inventory", "invalid option");
    }
  }
  if (optind >= argc)
    return usage_error ("inventory", "expected at least one SOURCE (a "
                        "folder of VMs, an nbd[s]:// URI of a vdisk "
                        "server or vsphere://USER@HOST)");
  if (text)
    iv.json = 0;
  if (!iv.json)
    printf ("%-32s  %-20s %-24s %12s %12s %3s  %s\n", "ID", "VM", "HOST",
            "CAPACITY", "ALLOCATED", "DEP", "URI");
  for (int i = optind; i < argc && !iv.err; i++)
    if (vd_fleet_inventory (argv[i], print_disk, &iv) < 0)
      rc = fail ();
  if (iv.err) {
    fprintf (stderr, "vdisk inventory: out of memory\n");
    rc = 1;
  }
  for (size_t i = 0; i < iv.n; i++)
    free (iv.seen[i]);
  free (iv.seen);
  fflush (stdout);
  return rc;
}

const struct command cmd_inventory = {
  "inventory", run, "[--json | --text] SOURCE...",
  "List the disks of folders of VMs (.vmx), vdisk servers (nbd[s]://) and "
  "vSphere hosts (vsphere://USER@HOST[:PORT][?cafile=...|thumbprint=...])"
  "as a fleet manifest: one JSON object per line per disk (id, uri, host, "
  "vm, vmx, device, capacity, allocated, depth), for vdisk scan|backup "
  "--manifest.",
  "  -j, --json            JSON lines (the default: a manifest)\n"
  "  -t, --text            a table instead\n",
};
