/* The first class disks of `vdisk vsphere ls` (vd_vsphere_fcd_list): one
 * line each (their snapshots indented below), or the "fcds" member of
 * --json.  A server without a
 * VStorageObjectManager (ESXi's simulator) lists none and says so on
 * standard error; ls still succeeds. */
#include "vdisk-tool.h"

#include <stdio.h>

/* The FCD's snapshots (RetrieveSnapshotInfo): "  snapshot ID  TIME  DESC"
 * lines, or a "snapshots" member (null when they cannot be listed). */
static void
print_snapshots (vd_vsphere *s, const struct vd_vsphere_fcd *f, int json)
{
  struct vd_vsphere_fcd_snapshot *v;
  size_t n;
  if (vd_vsphere_fcd_snapshots (s, f->id, f->datastore_moref, &v, &n) < 0) {
    fprintf (stderr, "vdisk vsphere ls: snapshots of %s not listed: %s\n",
             f->id, vd_last_error ()->message);
    if (json)
      printf (", \"snapshots\": null");
    return;
  }
  if (json)
    printf (", \"snapshots\": [");
  for (size_t i = 0; i < n; i++) {
    if (!json) {
      printf ("  snapshot %s  %s  %s\n", v[i].id,
              v[i].create_time ? v[i].create_time : "-", v[i].description);
      continue;
    }
    printf ("%s{\"id\": ", i ? ", " : "");
    json_str (stdout, v[i].id);
    printf (", \"description\": ");
    json_str (stdout, v[i].description);
    printf (", \"create_time\": ");
    json_str (stdout, v[i].create_time);
    printf ("}");
  }
  if (json)
    printf ("]");
  vd_vsphere_fcd_snapshots_free (v, n);
}

void
vsphere_print_fcds (vd_vsphere *s, int json)
{
  struct vd_vsphere_fcd *v;
  size_t n;

  if (vd_vsphere_fcd_list (s, NULL, &v, &n) < 0) {
    fprintf (stderr, "vdisk vsphere ls: first class disks not listed: %s\n",
             vd_last_error ()->message);
    if (json)
      printf (",\n \"fcds\": null");
    return;
  }
  if (json)
    printf (",\n \"fcds\": [");
  for (size_t i = 0; i < n; i++) {
    const struct vd_vsphere_fcd *f = &v[i];
    if (!json) {
      printf ("fcd %s  %s  %s  %llu bytes\n", f->id, f->name, f->file,
              (unsigned long long) f->capacity);
      print_snapshots (s, f, 0);
      continue;
    }
    printf ("%s\n  {\"id\": ", i ? "," : "");
    json_str (stdout, f->id);
    printf (", \"name\": ");
    json_str (stdout, f->name);
    printf (", \"datastore\": ");
    json_str (stdout, f->datastore);
    printf (", \"datastore_moref\": ");
    json_str (stdout, f->datastore_moref);
    printf (", \"file\": ");
    json_str (stdout, f->file);
    printf (", \"capacity\": %llu", (unsigned long long) f->capacity);
    print_snapshots (s, f, 1);
    printf ("}");
  }
  if (json)
    printf ("]");
  vd_vsphere_fcd_list_free (v, n);
}
