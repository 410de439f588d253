/* The table of extent drivers: every kind vdisk reads, flat and zero
 * included.  FLAT/VMFS and ZERO lines get their driver by type
 * (fixed_types); for an extent whose type names a binary file (SPARSE,
 * VMFSSPARSE, SESPARSE) the core reads the first sector and takes the
 * probed driver with the highest score.  A new extent format is one
 * driver file and one line here. */
#include "internal.h"

const struct vd_format_driver *const vd__drivers[] = {
  &vd__sparse_driver,
  &vd__stream_driver,
  &vd__cowd_driver,
  &vd__sesparse_driver,
  &vd__flat_driver,
  &vd__zero_driver,
  NULL
};

const struct vd_format_driver *
vd__driver_for_type (enum vd_extent_type t)
{
  for (size_t i = 0; vd__drivers[i]; i++)
    if (vd__drivers[i]->fixed_types & (1u << t))
      return vd__drivers[i];
  return NULL;
}

const struct vd_format_driver *
vd__driver_probe (const uint8_t *buf, size_t len)
{
  const struct vd_format_driver *drv = NULL;
  int best = 0;
  for (size_t i = 0; vd__drivers[i]; i++) {
    const struct vd_format_driver *d = vd__drivers[i];
    int score;
    if (d->fixed_types || !d->probe)
      continue;
    score = d->probe (buf, len);
    if (score > best) {
      best = score;
      drv = d;
    }
  }
  return drv;
}
