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

#define VD__NBD_NAME(f) #f,
static const char *const names[] = { VD__NBD_FNS (VD__NBD_NAME) };
#undef VD__NBD_NAME
static struct vd__dl_lib lib = {
  VD_NBD_SONAME, "libnbd0", "NBD", names, sizeof names / sizeof names[0],
  (void **) &vd__nbd_fn, PTHREAD_MUTEX_INITIALIZER, 0, 0, ""
};

int
vd__nbd_load (const char *what)
{
  return vd__dl_need (&lib, what);
}
#endif
