/* libxml2's functions, loaded on first use (vsphere/xml-dl.h, lib/base/dl.c);
 * VD_XML_SONAME comes from mk/vsphere.mk. */
#ifdef VD_HAVE_VSPHERE
#include "base/base.h"
#include "vsphere/xml-dl.h"

VD__DL_DEFINE (struct vd__xml_fns, vd__xml_fn, vd__xml_load, VD_XML_SONAME,
               "libxml2", "vSphere", VD__XML_FNS (VD__DL_NAME) VD__XML_VARS (VD__DL_NAME))
#endif
