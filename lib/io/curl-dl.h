/* libcurl, loaded on first use (lib/base/dl.c): every libcurl function
 * libvdisk calls goes through vd__curl_fn.  Include this instead of
 * <curl/curl.h> (its compile-time option type checks are off: they call
 * the functions by name).  The calls that make something from nothing
 * (a handle, a list, the global init) load libcurl first; the others
 * need what those made.  A function missing from VD__CURL_FNS fails the
 * build (libvdisk.so links without -lcurl). */
#ifndef VD_IO_CURL_DL_H
#define VD_IO_CURL_DL_H

#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

#define VD__CURL_FNS(X) \
  X (curl_easy_cleanup) \
  X (curl_easy_escape) \
  X (curl_easy_getinfo) \
  X (curl_easy_init) \
  X (curl_easy_perform) \
  X (curl_easy_setopt) \
  X (curl_easy_strerror) \
  X (curl_easy_unescape) \
  X (curl_free) \
  X (curl_global_init) \
  X (curl_share_cleanup) \
  X (curl_share_init) \
  X (curl_share_setopt) \
  X (curl_slist_append) \
  X (curl_slist_free_all) \
  X (curl_version_info)

struct vd__curl_fns {
#define VD__CURL_MEMBER(f) __typeof__ (f) *f;
  VD__CURL_FNS (VD__CURL_MEMBER)
#undef VD__CURL_MEMBER
};
extern struct vd__curl_fns vd__curl_fn;

/* Load libcurl.so.4 once (what: the URI or feature, for the message); 0 or
 * VD_ENOTSUP. */
int vd__curl_load (const char *what);

#undef curl_easy_cleanup
#define curl_easy_cleanup (vd__curl_fn.curl_easy_cleanup)
#undef curl_easy_escape
#define curl_easy_escape (vd__curl_fn.curl_easy_escape)
#undef curl_easy_getinfo
#define curl_easy_getinfo (vd__curl_fn.curl_easy_getinfo)
#undef curl_easy_init
#define curl_easy_init (vd__curl_fn.curl_easy_init)
#undef curl_easy_perform
#define curl_easy_perform (vd__curl_fn.curl_easy_perform)
#undef curl_easy_setopt
#define curl_easy_setopt (vd__curl_fn.curl_easy_setopt)
#undef curl_easy_strerror
#define curl_easy_strerror (vd__curl_fn.curl_easy_strerror)
#undef curl_easy_unescape
#define curl_easy_unescape (vd__curl_fn.curl_easy_unescape)
#undef curl_free
#define curl_free (vd__curl_fn.curl_free)
#undef curl_global_init
#define curl_global_init (vd__curl_fn.curl_global_init)
#undef curl_share_cleanup
#define curl_share_cleanup (vd__curl_fn.curl_share_cleanup)
#undef curl_share_init
#define curl_share_init (vd__curl_fn.curl_share_init)
#undef curl_share_setopt
#define curl_share_setopt (vd__curl_fn.curl_share_setopt)
#undef curl_slist_append
#define curl_slist_append (vd__curl_fn.curl_slist_append)
#undef curl_slist_free_all
#define curl_slist_free_all (vd__curl_fn.curl_slist_free_all)
#undef curl_version_info
#define curl_version_info (vd__curl_fn.curl_version_info)

/* The calls that need no handle load libcurl first (NULL, or
 * CURLE_FAILED_INIT, with the error recorded, when it cannot be
 * loaded); freeing NULL is a no-op without it. */
static inline CURL *
vd__curl_w_easy_init (void)
{
  return vd__curl_load ("HTTPS") < 0 ? NULL : curl_easy_init ();
}
static inline CURLSH *
vd__curl_w_share_init (void)
{
  return vd__curl_load ("HTTPS") < 0 ? NULL : curl_share_init ();
}
static inline CURLcode
vd__curl_w_global_init (long flags)
{
  return vd__curl_load ("HTTPS") < 0 ? CURLE_FAILED_INIT
         : curl_global_init (flags);
}
static inline struct curl_slist *
vd__curl_w_slist_append (struct curl_slist *l, const char *s)
{
  return vd__curl_load ("HTTPS") < 0 ? NULL
         : curl_slist_append (l, s);
}
static inline curl_version_info_data *
vd__curl_w_version_info (CURLversion v)
{
  return vd__curl_load ("HTTPS") < 0 ? NULL : curl_version_info (v);
}
static inline void
vd__curl_w_free (void *p)
{
  if (p)
    curl_free (p);
}
static inline void
vd__curl_w_easy_cleanup (CURL *h)
{
  if (h)
    curl_easy_cleanup (h);
}
static inline CURLSHcode
vd__curl_w_share_cleanup (CURLSH *h)
{
  return h ? curl_share_cleanup (h) : CURLSHE_OK;
}
static inline void
vd__curl_w_slist_free_all (struct curl_slist *l)
{
  if (l)
    curl_slist_free_all (l);
}
#undef curl_easy_init
#define curl_easy_init vd__curl_w_easy_init
#undef curl_share_init
#define curl_share_init vd__curl_w_share_init
#undef curl_global_init
#define curl_global_init vd__curl_w_global_init
#undef curl_slist_append
#define curl_slist_append vd__curl_w_slist_append
#undef curl_version_info
#define curl_version_info vd__curl_w_version_info
#undef curl_free
#define curl_free vd__curl_w_free
#undef curl_easy_cleanup
#define curl_easy_cleanup vd__curl_w_easy_cleanup
#undef curl_share_cleanup
#define curl_share_cleanup vd__curl_w_share_cleanup
#undef curl_slist_free_all
#define curl_slist_free_all vd__curl_w_slist_free_all

#endif
