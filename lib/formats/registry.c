/* The table of extent drivers.  For an extent whose type names a binary
 * file (SPARSE, VMFSSPARSE, SESPARSE) the core reads the first sector and
 * picks the driver with the highest probe score. */
#include "internal.h"

const struct vd_format_driver *const vd__drivers[] = {
  &vd__sparse_driver,
  &vd__stream_driver,
  &vd__cowd_driver,
  &vd__sesparse_driver,
  NULL
};
