/* libclamav.so.12's functions, loaded on first use (scan/clamav-dl.h, lib/base/dl.c). */
#ifdef VD_HAVE_CLAMAV
#include "base/base.h"
#include "scan/clamav-dl.h"

#include <pthread.h>
#include <stdio.h>

/* the library the build was made against (mk/config.mk reads its
 * SONAME), or the one Debian 12 ships */
#ifndef VD_CLAM_SONAME
#define VD_CLAM_SONAME "libclamav.so.12"
#endif

struct vd__clam_fns vd__clam_fn;   /* written once, under once, then read */

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int load_code;
static char load_msg[512];

static void
load (void)
{
#define VD__CLAM_NAME(f) #f,
  static const char *const names[] = { VD__CLAM_FNS (VD__CLAM_NAME) };
#undef VD__CLAM_NAME
  struct vd__clam_fns t;
  load_code = vd__dl_load (VD_CLAM_SONAME, "libclamav12", "ClamAV", names,
                           sizeof names / sizeof names[0], (void **) &t);
  if (load_code == 0)
    vd__clam_fn = t;
  else
    snprintf (load_msg, sizeof load_msg, "%s", vd_last_error ()->message);
}

int
vd__clam_load (const char *what)
{
  pthread_once (&once, load);
  if (load_code == 0)
    return 0;
  return vd__error (load_code, 0, "%s: %s", what, load_msg);
}
#endif
