/* The table of extent drivers.  For an extent whose type names a binary
 * file (SPARSE, VMFSSPARSE, SESPARSE) the core reads the first sector and
 * picks the driver with the highest probe score. */
#include "internal.h"

#include <string.h>

const struct vd_format_driver *const vd__drivers[] = {
  &vd__sparse_driver,
  &vd__stream_driver,
  &vd__cowd_driver,
  &vd__sesparse_driver,
  NULL
};

const struct vd_format_driver *
vd__driver_by_name (const char *name)
{
  for (size_t i = 0; vd__drivers[i]; i++)
    if (strcmp (vd__drivers[i]->name, name) == 0)
      return vd__drivers[i];
  return NULL;
}
