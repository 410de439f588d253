/* libcurl.so.4's functions, loaded on first use (io/curl-dl.h, lib/base/dl.c). */
#ifdef VD_HAVE_VSPHERE
#include "base/base.h"
#include "io/curl-dl.h"

#include <pthread.h>
#include <stdio.h>

/* the library the build was made against (mk/config.mk reads its
 * SONAME), or the one Debian 12 ships */
#ifndef VD_CURL_SONAME
#define VD_CURL_SONAME "libcurl.so.4"
#endif

struct vd__curl_fns vd__curl_fn;   /* written once, under once, then read */

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int load_code;
static char load_msg[512];

static void
load (void)
{
#define VD__CURL_NAME(f) #f,
  static const char *const names[] = { VD__CURL_FNS (VD__CURL_NAME) };
#undef VD__CURL_NAME
  struct vd__curl_fns t;
  load_code = vd__dl_load (VD_CURL_SONAME, "libcurl4 (libcurl4-openssl-dev to build)", "HTTPS", names,
                           sizeof names / sizeof names[0], (void **) &t);
  if (load_code == 0)
    vd__curl_fn = t;
  else
    snprintf (load_msg, sizeof load_msg, "%s", vd_last_error ()->message);
}

int
vd__curl_load (const char *what)
{
  pthread_once (&once, load);
  if (load_code == 0)
    return 0;
  return vd__error (load_code, 0, "%s: %s", what, load_msg);
}
#endif
