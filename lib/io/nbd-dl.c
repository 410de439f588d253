/* libnbd's functions, loaded on first use (io/nbd-dl.h, lib/base/dl.c);
 * VD_NBD_SONAME comes from mk/nbd.mk. */
#ifdef VD_HAVE_LIBNBD
#include "base/base.h"
#include "io/nbd-dl.h"

VD__DL_DEFINE (struct vd__nbd_fns, vd__nbd_fn, vd__nbd_load, VD_NBD_SONAME,
               "libnbd0", "NBD", VD__NBD_FNS (VD__DL_NAME))
#endif
