/* libxml2.so.2's functions, loaded on first use (vsphere/xml-dl.h, lib/base/dl.c). */
#ifdef VD_HAVE_VSPHERE
#include "base/base.h"
#include "vsphere/xml-dl.h"

/* the library the build was made against (mk/config.mk reads its
 * SONAME), or the one Debian 12 ships */
#ifndef VD_XML_SONAME
#define VD_XML_SONAME "libxml2.so.2"
#endif

struct vd__xml_fns vd__xml_fn;   /* filled once (lib/base/dl.c), then read */

#define VD__XML_NAME(f) #f,
static const char *const names[] = { VD__XML_FNS (VD__XML_NAME) VD__XML_VARS (VD__XML_NAME) };
#undef VD__XML_NAME
static struct vd__dl_lib lib = {
  VD_XML_SONAME, "libxml2", "vSphere", names, sizeof names / sizeof names[0],
  (void **) &vd__xml_fn, PTHREAD_MUTEX_INITIALIZER, 0, 0, ""
};

int
vd__xml_load (const char *what)
{
  return vd__dl_need (&lib, what);
}
#endif
