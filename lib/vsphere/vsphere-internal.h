/* vSphere services tier (lib/vsphere/): internals shared by its files.
 * The datastore file backend it opens files with is the io tier's
 * (io/io-https.h).  Never installed. */
#ifndef VDISK_VSPHERE_INTERNAL_H
#define VDISK_VSPHERE_INTERNAL_H

#include "internal.h"
#include "io/io-https.h"

#include <stddef.h>
#include <stdint.h>

/* Bounds on what a server may send us. */
#define VD_VS_MAX_SOAP (64u << 20)       /* one SOAP answer */
#define VD_VS_MAX_PAGES 1000             /* RetrievePropertiesEx pages */
#define VD_VS_MAX_DEPTH 64               /* element depth we walk */
#define VD_VS_MAX_DISKS 256              /* disks of one VM */
#define VD_VS_MAX_VMS 100000
#define VD_VS_MAX_CAPACITY (UINT64_C (64) << 40)  /* 64 TiB, VMDK's limit */
#define VD_VS_MAX_FILE (UINT64_C (256) << 20)   /* a .vmx/.nvram copied whole */

#ifdef VD_HAVE_VSPHERE
#include <pthread.h>
#include <stdatomic.h>

#include "io/curl-dl.h"
#include "vsphere/xml-dl.h"

/* A session (session.c; its transfers http.c, its calls soap.c). */
struct vd_vsphere {
  atomic_int refs;
  pthread_mutex_t mu;          /* the SOAP handle and the fields below */
  char *host;                  /* HOST:PORT */
  char *base;                  /* https://HOST:PORT */
  char *user;
  char *password;
  char *cafile;
  uint8_t pin[32];
  size_t pin_len;              /* 0, 20 (SHA-1) or 32 (SHA-256) */
  int insecure;
  char seen[100];              /* the thumbprint the server showed */
  int pin_failed;
  pthread_mutex_t pin_mu;
  CURLSH *share;
  pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
  CURL *soap;
  int logged_in;
  /* service content */
  char *pc, *sm, *root, *viewmgr, *api_type, *api_version, *full_name;
  char *filemgr, *search;      /* FileManager, SearchIndex (or NULL) */
};

/* http.c: a message for a failed transfer (a refused pin named). */
int vd__vs_curl_fail (struct vd_vsphere *s, CURLcode c, const char *what);
/* http.c: set up the session's shared cookies, DNS and TLS sessions. */
int vd__vs_share_init (struct vd_vsphere *s);
/* http.c: a curl write callback into a bounded buffer (max bytes; more
 * stops the transfer with CURLE_WRITE_ERROR).  p is NUL-terminated. */
struct vd_vs_buf {
  char *p;
  size_t len, cap, max;
};
size_t vd__vs_buf_write (char *data, size_t size, size_t n, void *arg);

/* soap.c: one call with s->mu held, no re-login; *fault_type (when not
 * NULL) gets a fault's type (NotAuthenticated, InvalidLogin, ...). */
int vd__vs_call_locked (struct vd_vsphere *s, xmlDocPtr req, xmlDocPtr *doc,
                        xmlNodePtr *ret, char **fault_type);

/* Take / drop a reference (the https backend holds one per file). */
void vd__vs_ref (struct vd_vsphere *s);
void vd__vs_unref (struct vd_vsphere *s);

/* A new curl handle set up for this session: TLS policy, the shared
 * session cookie, timeouts.  NULL on error (recorded). */
void *vd__vs_curl (struct vd_vsphere *s);
/* "https://HOST:PORT" */
const char *vd__vs_base (const struct vd_vsphere *s);
const char *vd__vs_host (const struct vd_vsphere *s);
/* Log in again after the server said our session is gone. */
int vd__vs_relogin (struct vd_vsphere *s);

/* Call a vim25 method: body is the XML of the method element (built by
 * the caller with vd__vs_req_*), consumed.  On success *doc is the
 * answer and *ret the method's response element.  A SOAP fault is an
 * error naming the fault.  An expired session is retried once after a
 * new login. */
int vd__vs_call (struct vd_vsphere *s, xmlDocPtr req, xmlDocPtr *doc,
                 xmlNodePtr *ret);
/* Start a request for method on the managed object (type, value). */
xmlDocPtr vd__vs_req (const char *method, const char *this_type,
                      const char *this_value, xmlNodePtr *method_node);
/* Add <name>text</name> (escaped by libxml2) under parent. */
xmlNodePtr vd__vs_add (xmlNodePtr parent, const char *name, const char *text);
/* Add <name type="T">value</name> (a moref). */
xmlNodePtr vd__vs_add_ref (xmlNodePtr parent, const char *name,
                           const char *type, const char *value);
/* Set xsi:type on an element. */
void vd__vs_xsi_type (xmlNodePtr n, const char *type);

/* Answers: the first child element named name (local name), or NULL. */
xmlNodePtr vd__vs_child (xmlNodePtr n, const char *name);
/* Next sibling element with the same local name as n, or NULL. */
xmlNodePtr vd__vs_next (xmlNodePtr n, const char *name);
/* Text content of the child name (malloc'd, at most 64 KiB), or NULL. */
char *vd__vs_text (xmlNodePtr n, const char *name);
/* An attribute, malloc'd or NULL. */
char *vd__vs_attr (xmlNodePtr n, const char *name);
/* A decimal number in child name: 0 found, 1 absent; an error when it
 * is not a number or exceeds max. */
int vd__vs_u64 (xmlNodePtr n, const char *name, uint64_t max, uint64_t *v,
                const char *what);
/* xsi:type of n without a prefix (malloc'd) or NULL. */
char *vd__vs_type (xmlNodePtr n);

/* Service content morefs. */
const char *vd__vs_pc (const struct vd_vsphere *s);
const char *vd__vs_root (const struct vd_vsphere *s);
const char *vd__vs_viewmgr (const struct vd_vsphere *s);

/* snapshot.c: start a task method (req consumed); *task gets its moref.
 * Then wait at most timeout_s (0: 600) seconds for it to end; *result
 * (may be NULL) gets info.result's text. */
int vd__vs_start_task (struct vd_vsphere *s, xmlDocPtr req, char **task);
int vd__vs_wait_task (struct vd_vsphere *s, const char *task,
                      const char *what, unsigned timeout_s, char **result);

/* fcd.c: the VStorageObjectManager (*moref malloc'd; *host: ESXi's), and
 * whether an FCD or snapshot ID is a short printable string. */
int vd__vs_fcd_manager (struct vd_vsphere *s, char **moref, int *host);
int vd__vs_fcd_id_ok (const char *id);

/* Find the datacenter path of datastore ds (for /folder URLs);
 * malloc'd into *dc. */
int vd__vs_dc_of (struct vd_vsphere *s, const char *ds, char **dc);
#endif

#ifdef VD_HAVE_VSPHERE
/* open.c: open "[ds] folder/file" through session s (io-https.c): in
 * datacenter dc, or (NULL) the one the inventory gives for ds. */
int vd__vs_open_file (struct vd_io **out, struct vd_vsphere *s,
                      const char *dc, const char *dspath, int rw);
#endif

/* open.c (stubs.c: NULL): %XX-decode n bytes of s, as every vsphere://
 * path is; NULL when it decodes to a NUL or on error.  malloc'd. */
char *vd__vs_unescape (const char *s, size_t n);

/* upload.c (stubs.c without vSphere): vd_vsphere_upload and
 * vd_vsphere_put_file that also say which PUTs they began, so that a
 * caller undoing a failed restore deletes only what it made: *put gets
 * VD_VS_PUT_DATA for the -flat extent (put_file: the file) and
 * VD_VS_PUT_DESC for the descriptor, never on VD_EEXIST. */
#define VD_VS_PUT_DATA 1u
#define VD_VS_PUT_DESC 2u
int vd__vs_upload (vd_vsphere *s, const char *src_path, const char *dc,
                   const char *dspath, uint32_t flags,
                   vd_progress_cb progress, void *payload, unsigned *put);
int vd__vs_put_file (vd_vsphere *s, const char *local_path, const char *dc,
                     const char *dspath, uint32_t flags, unsigned *put);

#endif
