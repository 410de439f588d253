/* libcurl's functions, loaded on first use (io/curl-dl.h, lib/base/dl.c);
 * VD_CURL_SONAME comes from mk/vsphere.mk. */
#ifdef VD_HAVE_VSPHERE
#include "base/base.h"
#include "io/curl-dl.h"

VD__DL_DEFINE (struct vd__curl_fns, vd__curl_fn, vd__curl_load, VD_CURL_SONAME,
               "libcurl4 (libcurl4-openssl-dev to build)", "HTTPS", VD__CURL_FNS (VD__DL_NAME))
#endif
