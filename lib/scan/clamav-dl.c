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

VD__DL_DEFINE (vd__clam_fn, vd__clam_load, VD_CLAM_SONAME, "libclamav12", "ClamAV",
               VD__CLAM_FNS (VD__DL_NAME))
#endif
