/* libnbd's functions, loaded on first use (nbd-dl.h, lib/base/dl.c). */
#ifdef VD_HAVE_LIBNBD
#include "base/base.h"
#include "io/nbd-dl.h"

/* the library the build was made against (mk/config.mk reads its
 * SONAME), or the one Debian 12 ships */
#ifndef VD_NBD_SONAME
#define VD_NBD_SONAME "libnbd.so.0"
#endif

struct vd__nbd_fns vd__nbd_fn;   /* filled once (lib/base/dl.c), then read */

VD__DL_DEFINE (vd__nbd_fn, vd__nbd_load, VD_NBD_SONAME, "libnbd0", "NBD",
               VD__NBD_FNS (VD__DL_NAME))
#endif
