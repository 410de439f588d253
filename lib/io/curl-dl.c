/* libcurl.so.4's functions, loaded on first use (io/curl-dl.h, lib/base/dl.c). */
#ifdef VD_HAVE_VSPHERE
#include "base/base.h"
#include "io/curl-dl.h"

/* the library the build was made against (mk/config.mk reads its
 * SONAME), or the one Debian 12 ships */
#ifndef VD_CURL_SONAME
#define VD_CURL_SONAME "libcurl.so.4"
#endif

struct vd__curl_fns vd__curl_fn;   /* filled once (lib/base/dl.c), then read */

VD__DL_DEFINE (vd__curl_fn, vd__curl_load, VD_CURL_SONAME, "libcurl4 (libcurl4-openssl-dev to build)", "HTTPS",
               VD__CURL_FNS (VD__DL_NAME))
#endif
