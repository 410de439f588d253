/* vSphere services tier (lib/vsphere/) and the datastore file backend
 * (lib/io-https.c): internals shared by those files and the one hook in
 * lib/disk.c.  Never installed. */
#ifndef VDISK_VSPHERE_INTERNAL_H
#define VDISK_VSPHERE_INTERNAL_H

#include "internal.h"

#include <stddef.h>
#include <stdint.h>

/* Bounds on what a server may send us. */
#define VD_VS_MAX_SOAP (64u << 20)       /* one SOAP answer */
#define VD_VS_MAX_PAGES 1000             /* RetrievePropertiesEx pages */
#define VD_VS_MAX_DEPTH 64               /* element depth we walk */
#define VD_VS_MAX_DISKS 256              /* disks of one VM */
#define VD_VS_MAX_VMS 100000
#define VD_VS_MAX_CAPACITY (UINT64_C (64) << 40)  /* 64 TiB, VMDK's limit */

#ifdef VD_HAVE_VSPHERE
#include <libxml/tree.h>

struct vd_vsphere;

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

/* Find the datacenter path of datastore ds (for /folder URLs);
 * malloc'd into *dc. */
int vd__vs_dc_of (struct vd_vsphere *s, const char *ds, char **dc);
#endif

/* io-https.c.  Is path a vsphere:// URI? */
int vd__is_vsphere_uri (const char *path);
/* Is io a datastore file? */
int vd__io_is_https (const struct vd_io *io);
/* Open a vsphere:// URI.  When near is a datastore file and uri names a
 * file on its server (a parent found through parentFileNameHint), near's
 * session is used; when vd_disk_open_vsphere handed this thread the file
 * already opened, that is used; otherwise this connects (credentials from
 * the environment, see vdisk.h). */
int vd__io_https_open_uri (struct vd_io **out, const char *uri, int rw,
                           struct vd_io *near);
/* Open the file name, relative to near's folder (always: a name that
 * looks like "[ds] path" is a file of that name there), on the same
 * session and datastore as near. */
int vd__io_https_sibling (struct vd_io **out, struct vd_io *near,
                          const char *name, int rw);
#ifdef VD_HAVE_VSPHERE
/* Open "[ds] folder/file" in datacenter dc through session s. */
int vd__io_https_open (struct vd_io **out, struct vd_vsphere *s,
                       const char *dc, const char *dspath,
                       const char *display, int rw);
#endif

#endif
