/* libclamav's functions, loaded on first use (scan/clamav-dl.h, lib/base/dl.c);
 * VD_CLAM_SONAME comes from mk/scan.mk. */
#ifdef VD_HAVE_CLAMAV
#include "base/base.h"
#include "scan/clamav-dl.h"

VD__DL_DEFINE (struct vd__clam_fns, vd__clam_fn, vd__clam_load, VD_CLAM_SONAME,
               "libclamav12", "ClamAV", VD__CLAM_FNS (VD__DL_NAME))
#endif
