/* libclamav, loaded on first use (lib/base/dl.c) by the ClamAV
 * scanner's one-time init: every libclamav function lib/scan calls goes
 * through vd__clam_fn.  Include this instead of <clamav.h>.  A function
 * missing from VD__CLAM_FNS fails the build (libvdisk.so links without
 * -lclamav). */
#ifndef VD_SCAN_CLAMAV_DL_H
#define VD_SCAN_CLAMAV_DL_H


#include <clamav.h>

#define VD__CLAM_FNS(X) \
  X (cl_engine_compile) \
  X (cl_engine_free) \
  X (cl_engine_new) \
  X (cl_engine_set_clcb_virus_found) \
  X (cl_engine_set_num) \
  X (cl_fmap_close) \
  X (cl_fmap_open_memory) \
  X (cl_init) \
  X (cl_load) \
  X (cl_scanmap_callback) \
  X (cl_set_clcb_msg) \
  X (cl_strerror)

struct vd__clam_fns {
#define VD__CLAM_MEMBER(f) __typeof__ (f) *f;
  VD__CLAM_FNS (VD__CLAM_MEMBER)
#undef VD__CLAM_MEMBER
};
extern struct vd__clam_fns vd__clam_fn;

/* Load libclamav.so.12 once (what: the URI or feature, for the message); 0 or
 * VD_ENOTSUP. */
int vd__clam_load (const char *what);

#undef cl_engine_compile
#define cl_engine_compile (vd__clam_fn.cl_engine_compile)
#undef cl_engine_free
#define cl_engine_free (vd__clam_fn.cl_engine_free)
#undef cl_engine_new
#define cl_engine_new (vd__clam_fn.cl_engine_new)
#undef cl_engine_set_clcb_virus_found
#define cl_engine_set_clcb_virus_found (vd__clam_fn.cl_engine_set_clcb_virus_found)
#undef cl_engine_set_num
#define cl_engine_set_num (vd__clam_fn.cl_engine_set_num)
#undef cl_fmap_close
#define cl_fmap_close (vd__clam_fn.cl_fmap_close)
#undef cl_fmap_open_memory
#define cl_fmap_open_memory (vd__clam_fn.cl_fmap_open_memory)
#undef cl_init
#define cl_init (vd__clam_fn.cl_init)
#undef cl_load
#define cl_load (vd__clam_fn.cl_load)
#undef cl_scanmap_callback
#define cl_scanmap_callback (vd__clam_fn.cl_scanmap_callback)
#undef cl_set_clcb_msg
#define cl_set_clcb_msg (vd__clam_fn.cl_set_clcb_msg)
#undef cl_strerror
#define cl_strerror (vd__clam_fn.cl_strerror)

#endif
