/* libnbd's functions, loaded on first use (nbd-dl.h, lib/base/dl.c). */
#ifdef VD_HAVE_LIBNBD
#include "base/base.h"
#include "io/nbd-dl.h"

#include <pthread.h>
#include <stdio.h>

/* the library the build was made against (mk/config.mk reads its
 * SONAME), or the one Debian 12 ships */
#ifndef VD_NBD_SONAME
#define VD_NBD_SONAME "libnbd.so.0"
#endif

struct vd__nbd_fns vd__nbd_fn;   /* written once, under once, then read */

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int load_code;
static char load_msg[512];

static void
load (void)
{
#define VD__NBD_NAME(f) #f,
  static const char *const names[] = { VD__NBD_FNS (VD__NBD_NAME) };
#undef VD__NBD_NAME
  struct vd__nbd_fns t;
  load_code = vd__dl_load (VD_NBD_SONAME, "libnbd0", "NBD", names,
                           sizeof names / sizeof names[0], (void **) &t);
  if (load_code == 0)
    vd__nbd_fn = t;
  else
    snprintf (load_msg, sizeof load_msg, "%s", vd_last_error ()->message);
}

int
vd__nbd_load (const char *what)
{
  pthread_once (&once, load);
  if (load_code == 0)
    return 0;
  return vd__error (load_code, 0, "%s: %s", what, load_msg);
}
#endif
