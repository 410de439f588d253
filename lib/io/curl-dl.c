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

#define VD__CURL_NAME(f) #f,
static const char *const names[] = { VD__CURL_FNS (VD__CURL_NAME) };
#undef VD__CURL_NAME
static struct vd__dl_lib lib = {
  VD_CURL_SONAME, "libcurl4 (libcurl4-openssl-dev to build)", "HTTPS", names, sizeof names / sizeof names[0],
  (void **) &vd__curl_fn, PTHREAD_MUTEX_INITIALIZER, 0, 0, ""
};

int
vd__curl_load (const char *what)
{
  return vd__dl_need (&lib, what);
}
#endif
