/* vd_probe: what a file is, for front ends that must not parse headers
 * (the CLI's raw-or-VMDK guess, the NBD plugin). */
#include "vdisk/vdisk.h"
#include "tap.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/vdisk-probe.XXXXXX";

static int
probe (const char *name, struct vd_probe_info *pi)
{
  char path[512];
  snprintf (path, sizeof path, "%s/%s", dir, name);
  memset (pi, 0x55, sizeof *pi);
  pi->struct_size = sizeof *pi;
  return vd_probe (path, pi);
}

static void
put (const char *name, const void *data, size_t len)
{
  char path[512];
  snprintf (path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen (path, "wb");
  if (f) {
    fwrite (data, 1, len, f);
    fclose (f);
  }
}

int
main (void)
{
  struct vd_create_params p;
  struct vd_probe_info pi;
  char path[512];
  static const uint8_t cowd[512] = { 'C', 'O', 'W', 'D', 1 };

  if (!mkdtemp (dir))
    return 1;
  vd_create_params_init (&p);
  p.capacity = 8 << 20;
  snprintf (path, sizeof path, "%s/sparse.vmdk", dir);
  ok (vd_disk_create (path, &p) == 0, "create monolithicSparse");
  p.type = VD_TYPE_MONOLITHIC_FLAT;
  snprintf (path, sizeof path, "%s/flat.vmdk", dir);
  ok (vd_disk_create (path, &p) == 0, "create monolithicFlat");
  p.type = VD_TYPE_SPLIT_SPARSE;
  snprintf (path, sizeof path, "%s/split.vmdk", dir);
  ok (vd_disk_create (path, &p) == 0, "create twoGbMaxExtentSparse");
  put ("raw.img", "hello, raw bytes\0\0\0", 19);
  put ("cowd.vmdk", cowd, sizeof cowd);

  ok (probe ("sparse.vmdk", &pi) == 0 && pi.kind == VD_PROBE_SPARSE
      && pi.embedded_descriptor == 1 && pi.compressed == 0
      && pi.capacity == (8u << 20), "monolithicSparse: sparse, embedded "
      "descriptor, capacity from the header");
  ok (probe ("flat.vmdk", &pi) == 0 && pi.kind == VD_PROBE_DESCRIPTOR
      && pi.capacity == 0, "a descriptor file: descriptor");
  ok (probe ("flat-flat.vmdk", &pi) == 0 && pi.kind == VD_PROBE_OTHER,
      "a flat extent of zeros: other");
  ok (probe ("split-s001.vmdk", &pi) == 0 && pi.kind == VD_PROBE_SPARSE
      && pi.embedded_descriptor == 0, "a split sparse extent: sparse, "
      "no descriptor");
  ok (probe ("raw.img", &pi) == 0 && pi.kind == VD_PROBE_OTHER,
      "raw bytes: other");
  ok (probe ("cowd.vmdk", &pi) == 0 && pi.kind == VD_PROBE_VMFS_SPARSE,
      "COWD magic: vmfsSparse");
  ok (probe ("missing.vmdk", &pi) == VD_ENOENT, "a missing file: VD_ENOENT");
  ok (vd_probe (NULL, &pi) == VD_EINVAL && vd_probe (path, NULL) == VD_EINVAL,
      "NULL arguments: VD_EINVAL");
  {
    /* an older caller that knows only struct_size and kind */
    struct { size_t struct_size; int kind; int guard; } old = {
      offsetof (struct vd_probe_info, kind) + sizeof (int), -1, 0x1234 };
    snprintf (path, sizeof path, "%s/sparse.vmdk", dir);
    ok (vd_probe (path, (struct vd_probe_info *) &old) == 0
        && old.kind == VD_PROBE_SPARSE && old.guard == 0x1234,
        "a smaller, older struct gets only the fields it has");
    old.struct_size = 4;
    ok (vd_probe (path, (struct vd_probe_info *) &old) == VD_EINVAL,
        "a struct too small for kind: VD_EINVAL");
  }
  snprintf (path, sizeof path, "rm -rf %s", dir);
  if (system (path) != 0)
    return 1;
  return done_testing ();
}
