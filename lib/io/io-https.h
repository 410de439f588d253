/* The datastore file backend (io-https.c): a file of a vSphere datastore
 * read through the datastore HTTP file service,
 *   GET https://HOST/folder/PATH?dcPath=DC&dsName=DS   (Range: bytes=A-B)
 *
 * The io tier knows nothing of SOAP or sessions: whoever opens a file
 * (lib/vsphere/open.c) hands it a vd_https_session, a const table of what
 * the file needs from its session (curl handles carrying the session
 * cookie and TLS policy, a new login after a 401/403, a reference count),
 * and the file calls only that table.  So every edge goes down the tiers
 * and the library keeps no registration state. */
#ifndef VDISK_IO_HTTPS_H
#define VDISK_IO_HTTPS_H

#include "io/io.h"

struct vd_https_session {
  /* A new CURL * set up for the session (TLS policy, shared cookie);
   * NULL on error (recorded).  Callable from any thread. */
  void *(*curl) (void *ctx);
  /* Log in again (the server answered 401/403); 0 or an error. */
  int (*relogin) (void *ctx);
  /* Each open file holds one reference to ctx. */
  void (*ref) (void *ctx);
  void (*unref) (void *ctx);
};

/* "[ds] folder/file" -> ds, "folder/file" (malloc'd, both NULL on error);
 * refuses an empty name, a ".." component (not "disk..1.vmdk"), an
 * absolute path and a trailing '/'. */
int vd__https_split_dspath (const char *dspath, char **ds, char **path);

/* "BASE/folder/PATH?dcPath=DC&dsName=DS", every part %-escaped with the
 * CURL handle h; malloc'd, NULL when out of memory. */
char *vd__https_folder_url (void *h, const char *base, const char *dc,
                            const char *ds, const char *path);

/* Open "[ds] folder/file" of datacenter dc on the server at base
 * ("https://HOST:PORT"; host "HOST:PORT" names it in messages) through
 * the session (sops, ctx), read-only: rw is refused.  The file is named
 * "vsphere://HOST/[ds] folder/file".  The first request learns the size
 * and refuses a server that ignores Range. */
int vd__io_https_open (struct vd_io **out, const struct vd_https_session *sops,
                       void *ctx, const char *base, const char *host,
                       const char *dc, const char *dspath, int rw);
/* Is io a datastore file? */
int vd__io_is_https (const struct vd_io *io);
/* Open the file name, relative to near's folder (always: a name that
 * looks like "[ds] path" is a file of that name there), on the same
 * session and datastore as near (an extent of near's descriptor). */
int vd__io_https_sibling (struct vd_io **out, struct vd_io *near,
                          const char *name, int rw);
/* Open uri, "vsphere://HOST/[ds] folder/file" as near's name is made (a
 * parent found through parentFileNameHint), on near's session: uri must
 * name a file on near's server. */
int vd__io_https_parent (struct vd_io **out, struct vd_io *near,
                         const char *uri, int rw);

#endif
