/* libxml2.so.2's functions, loaded on first use (vsphere/xml-dl.h, lib/base/dl.c). */
#ifdef VD_HAVE_VSPHERE
#include "base/base.h"
#include "vsphere/xml-dl.h"

#include <pthread.h>
#include <stdio.h>

/* the library the build was made against (mk/config.mk reads its
 * SONAME), or the one Debian 12 ships */
#ifndef VD_XML_SONAME
#define VD_XML_SONAME "libxml2.so.2"
#endif

struct vd__xml_fns vd__xml_fn;   /* written once, under once, then read */

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int load_code;
static char load_msg[512];

static void
load (void)
{
#define VD__XML_NAME(f) #f,
  static const char *const names[] = { VD__XML_FNS (VD__XML_NAME) VD__XML_VARS (VD__XML_NAME) };
#undef VD__XML_NAME
  struct vd__xml_fns t;
  load_code = vd__dl_load (VD_XML_SONAME, "libxml2", "vSphere", names,
                           sizeof names / sizeof names[0], (void **) &t);
  if (load_code == 0)
    vd__xml_fn = t;
  else
    snprintf (load_msg, sizeof load_msg, "%s", vd_last_error ()->message);
}

int
vd__xml_load (const char *what)
{
  pthread_once (&once, load);
  if (load_code == 0)
    return 0;
  return vd__error (load_code, 0, "%s: %s", what, load_msg);
}
#endif
