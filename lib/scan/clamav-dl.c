/* libclamav.so.12's functions, loaded on first use (scan/clamav-dl.h, lib/base/dl.c). */
#ifdef VD_HAVE_CLAMAV
#include "base/base.h"
#include "scan/clamav-dl.h"

/* the library the build was made against (mk/config.mk reads its
 * SONAME), or the one Debian 12 ships */
#ifndef VD_CLAM_SONAME
#define VD_CLAM_SONAME "libclamav.so.12"
#endif

struct vd__clam_fns vd__clam_fn;   /* filled once (lib/base/dl.c), then read */

#define VD__CLAM_NAME(f) #f,
static const char *const names[] = { VD__CLAM_FNS (VD__CLAM_NAME) };
#undef VD__CLAM_NAME
static struct vd__dl_lib lib = {
  VD_CLAM_SONAME, "libclamav12", "ClamAV", names, sizeof names / sizeof names[0],
  (void **) &vd__clam_fn, PTHREAD_MUTEX_INITIALIZER, 0, 0, ""
};

int
vd__clam_load (const char *what)
{
  return vd__dl_need (&lib, what);
}
#endif
