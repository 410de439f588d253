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

VD__DL_DEFINE (vd__xml_fn, vd__xml_load, VD_XML_SONAME, "libxml2", "vSphere",
               VD__XML_FNS (VD__DL_NAME) VD__XML_VARS (VD__DL_NAME))
#endif
