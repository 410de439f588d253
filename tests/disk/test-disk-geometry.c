/* Geometry as VMware computes it, names, and name rules. */
#include "internal.h"
#include "tap.h"

int
main (void)
{
  struct vd_geometry g;
  vd_geometry_compute (&g, UINT64_C (1) << 30, VD_ADAPTER_IDE);
  ok (g.cylinders == 2080 && g.heads == 16 && g.sectors == 63,
      "1 GiB ide: 2080/16/63 (got %u/%u/%u)", g.cylinders, g.heads,
      g.sectors);
  vd_geometry_compute (&g, UINT64_C (1) << 30, VD_ADAPTER_LSILOGIC);
  ok (g.cylinders == 130 && g.heads == 255 && g.sectors == 63,
      "1 GiB lsilogic: 130/255/63 (got %u/%u/%u)", g.cylinders, g.heads,
      g.sectors);
  vd_geometry_compute (&g, UINT64_C (100) << 30, VD_ADAPTER_IDE);
  is_u64 (g.cylinders, 16383, "IDE cylinders capped at 16383");
  vd_geometry_compute (&g, UINT64_C (2) << 40, VD_ADAPTER_BUSLOGIC);
  is_u64 (g.cylinders, 65535, "SCSI cylinders capped at 65535");
  vd_geometry_compute (&g, 512, VD_ADAPTER_IDE);
  is_u64 (g.cylinders, 1, "a tiny disk still has one cylinder");

  ok (vd_type_from_name ("2GbMaxExtentSparse") == VD_TYPE_SPLIT_SPARSE,
      "old split name");
  is_str (vd_type_name (VD_TYPE_SPLIT_SPARSE), "twoGbMaxExtentSparse",
          "canonical split name");
  ok (vd_adapter_from_name ("legacyESX") == VD_ADAPTER_LEGACY_ESX,
      "legacyESX");
  ok (vd_adapter_from_name ("scsi") == VD_ADAPTER_UNKNOWN, "scsi unknown");

  ok (vd__name_ok ("disk-s001.vmdk", 0), "plain name ok");
  ok (!vd__name_ok ("../etc/passwd", 0), "dotdot refused");
  ok (!vd__name_ok ("/etc/passwd", 0), "absolute refused untrusted");
  ok (vd__name_ok ("/srv/vm/disk-flat.vmdk", 1), "absolute ok trusted");
  /* trusted allows '..' (a parent named "../base.vmdk", as qemu-img
   * reads it): absolute paths are allowed there already */
  ok (vd__name_ok ("../base.vmdk", 1), "dotdot ok trusted");
  ok (vd__name_ok ("/srv/../etc/x", 1), "dotdot in an absolute path ok trusted");
  ok (!vd__name_ok ("..", 0) && !vd__name_ok ("../base.vmdk", 0), "dotdot refused untrusted");
  ok (!vd__name_ok ("json:{\"x\":1}", 1), "protocol prefix refused");
  ok (!vd__name_ok ("nbd:host:10809", 0), "nbd: refused");
  ok (!vd__name_ok ("a\\b", 1), "backslash refused");
  ok (!vd__name_ok ("a\001b", 0), "control characters refused");
  ok (!vd__name_ok ("", 0), "empty refused");
  {
    char longname[300];
    memset (longname, 'a', 299);
    longname[299] = '\0';
    ok (!vd__name_ok (longname, 0), "over 255 bytes refused");
  }
  uint8_t z[100] = { 0 };
  ok (vd__is_zero (z, 100), "zeros are zero");
  z[99] = 1;
  ok (!vd__is_zero (z, 100), "a late byte is seen");
  z[99] = 0;
  z[3] = 1;
  ok (!vd__is_zero (z, 100), "an early byte is seen");
  return done_testing ();
}
