/* libvixDiskLib remote connections: a connection whose parameters name a
 * server reaches a `vdisk serve` datastore over NBD, "nbdssl" (TLS with a
 * key derived from userName/password, the default) or "nbd" (plaintext,
 * only when transportModes asks for it).  Open names an export by its
 * datastore path; Clone onto such a connection creates the disk on the
 * server.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vix.h"

/* Percent-encode s for a URI path (keeps unreserved characters and '/'). */
static char *
uri_encode (const char *s)
{
  size_t n = strlen (s);
  char *out = malloc (3 * n + 1), *q = out;
  if (!out)
    return NULL;
  for (; *s; s++) {
    unsigned char c = (unsigned char) *s;
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
        || (c >= '0' && c <= '9') || strchr ("-._~/", c))
      *q++ = (char) c;
    else
      q += sprintf (q, "%%%02X", c);
  }
  *q = '\0';
  return out;
}

/* The URI of export name on connection c (malloc'd). */
char *
vix_remote_uri (const struct VixDiskLibConnectParam *c, const char *export)
{
  char *enc = uri_encode (export), *uri = NULL;
  if (enc && asprintf (&uri, "%s%s%s", c->uri_prefix, enc, c->uri_query) < 0)
    uri = NULL;
  free (enc);
  return uri;
}

/* Open export name of connection c (only VD_OPEN_READ_ONLY of vd_flags
 * counts); a failure as vix_remote_error says. */
VixError
vix_remote_open (const struct VixDiskLibConnectParam *c, const char *export,
                 uint32_t vd_flags, vd_disk **disk, const char *func)
{
  char *uri = vix_remote_uri (c, export);
  int rc;

  if (!uri)
    return vix_error (VIX_E_OUT_OF_MEMORY, func, "URI");
  rc = vd_disk_open (disk, uri, vd_flags & VD_OPEN_READ_ONLY);
  free (uri);
  return rc < 0 ? vix_remote_error (rc, func, c) : VIX_OK;
}

/* A failed NBD connection or open as a VixError. */
VixError
vix_remote_error (int rc, const char *func, const struct VixDiskLibConnectParam *c)
{
  const struct vd_error *e = vd_last_error ();
  const char *msg = e->message && *e->message ? e->message
    : vd_strerror (rc);
  const char *user = c->params.credType == VIXDISKLIB_CRED_UID
    && c->params.creds.uid.userName ? c->params.creds.uid.userName : "";

  if (rc == VD_EIO && e->errnum == EACCES)
    return vix_error (VIX_E_AUTHENTICATION_FAIL, func, "server \"%s\": "
                      "login refused for user \"%s\" (wrong user name or "
                      "password, or the server has no such user): %s",
                      c->params.serverName, user, msg);
  if (rc == VD_EIO && e->errnum == ECONNREFUSED)
    return vix_error (VIX_E_HOST_NETWORK_CONN_REFUSED, func, "server \"%s\": "
                      "connection refused (is `vdisk serve` running?): %s",
                      c->params.serverName, msg);
  if (rc == VD_EIO && (e->errnum == ENOENT || e->errnum == EHOSTUNREACH
                       || e->errnum == ENETUNREACH))
    return vix_error (VIX_E_HOST_SERVER_NOT_FOUND, func, "server \"%s\": "
                      "%s", c->params.serverName, msg);
  return vd_to_vix (rc, func);
}

/* The URI prefix and query of connection c to server (user: the TLS
 * user, NULL for plaintext); serverName "unix:/path/to/socket" reaches a
 * Unix socket.  0, or -1 when out of memory. */
static int
make_uris (struct VixDiskLibConnectParam *c, const char *server,
           const char *user, unsigned port)
{
  int tls = user != NULL;

  if (strncmp (server, "unix:", 5) == 0) {
    char *sock = uri_encode (server + 5);
    if (!sock
        || asprintf (&c->uri_prefix, "%s://%s%s/",
                     tls ? "nbds+unix" : "nbd+unix", tls ? user : "",
                     tls ? "@" : "") < 0
        || asprintf (&c->uri_query, "?socket=%s%s%s%d", sock,
                     tls ? "&tls-psk-file=" : "", tls ? "/proc/self/fd/" : "",
                     tls ? c->psk_fd : 0) < 0) {
      free (sock);
      return -1;
    }
    if (!tls)
      c->uri_query[strlen (c->uri_query) - 1] = '\0';  /* the stray 0 */
    free (sock);
    return 0;
  }
  int v6 = strchr (server, ':') != NULL;
  if (asprintf (&c->uri_prefix, "%s://%s%s%s%s%s:%u/", tls ? "nbds" : "nbd",
                tls ? user : "", tls ? "@" : "", v6 ? "[" : "", server,
                v6 ? "]" : "", port) < 0
      || (tls ? asprintf (&c->uri_query, "?tls-psk-file=/proc/self/fd/%d",
                          c->psk_fd)
          : asprintf (&c->uri_query, "%s", "")) < 0)
    return -1;
  return 0;
}

VixError
vix_remote_connect (const VixDiskLibConnectParams *p, Bool readOnly,
                const char *snapshotRef, const char *transportModes,
                VixDiskLibConnection *connection)
{
  const char *func = "VixDiskLib_Connect";
  const char *user = NULL, *password = NULL, *server = p->serverName;
  struct VixDiskLibConnectParam *c;
  int tls = 1, rc, explicit_port = 1;
  unsigned port = 10809;
  char hex[VD_NBD_PSK_HEX_SIZE], *probe;

  if (snapshotRef && *snapshotRef)
    return vix_error (VIX_E_NOT_SUPPORTED, func,
                      "snapshot \"%s\": snapshots need a vCenter connection, "
                      "which vdisk does not support", snapshotRef);
  if (transportModes && *transportModes) {
    if (strstr (transportModes, "nbdssl"))
      tls = 1;
    else if (strstr (transportModes, "nbd"))
      tls = 0;
    else
      return vix_error (VIX_E_NOT_SUPPORTED, func, "server \"%s\": "
                        "transport modes \"%s\": vdisk reaches servers only "
                        "through nbdssl or nbd", server, transportModes);
  }
  if (p->credType == VIXDISKLIB_CRED_UID) {
    user = p->creds.uid.userName;
    password = p->creds.uid.password;
  }
  if (tls && (!user || !*user || !password))
    return vix_error (VIX_E_AUTHENTICATION_FAIL, func, "server \"%s\": "
                      "nbdssl needs credType VIXDISKLIB_CRED_UID with a "
                      "userName and password", server);
  if (tls && !vd_nbd_user_ok (user))
    return vix_error (VIX_E_AUTHENTICATION_FAIL, func, "server \"%s\": user "
                      "name \"%s\" is not valid", server, user);
  /* The NBD port: nfcHostPort, else port (unless it is VDDK's HTTPS 443 or
   * NFC 902 default), else 10809. */
  if (p->nfcHostPort && p->nfcHostPort != 902)
    port = p->nfcHostPort;
  else if (p->port && p->port != 443)
    port = p->port;
  else
    explicit_port = 0;

  c = vix_conn_new (p, readOnly);
  if (!c)
    return vix_error (VIX_E_OUT_OF_MEMORY, func,
                      "cannot allocate the connection");
  c->remote = 1;
  c->transport = tls ? "nbdssl" : "nbd";
  if (tls) {
    /* The key never touches a disk: a memfd named in the URI. */
    if (vd_nbd_psk_derive (hex, sizeof hex, user, password) < 0) {
      VixError err = vd_to_vix (vd_last_error ()->code, func);
      VixDiskLib_Disconnect (c);
      return err;
    }
    c->psk_fd = memfd_create ("vixdisklib-psk", MFD_CLOEXEC);
    if (c->psk_fd < 0 || dprintf (c->psk_fd, "%s:%s\n", user, hex) < 0) {
      explicit_bzero (hex, sizeof hex);
      VixDiskLib_Disconnect (c);
      return vix_error (VIX_E_FAIL, func, "memfd for the TLS key: %s",
                        strerror (errno));
    }
    explicit_bzero (hex, sizeof hex);
  }
  if (make_uris (c, server, tls ? user : NULL, port) < 0) {
    VixDiskLib_Disconnect (c);
    return vix_error (VIX_E_OUT_OF_MEMORY, func, "URI");
  }
  /* Log in now, as VDDK does at Connect: a wrong password fails here. */
  probe = vix_remote_uri (c, "");
  rc = probe ? vd_nbd_list_exports (probe, NULL, NULL) : VD_ENOMEM;
  free (probe);
  if (rc < 0) {
    VixError err;
    /* With VDDK's default ports the caller most likely meant vCenter or
     * ESXi, whose protocols vdisk does not speak. */
    if (!explicit_port && strncmp (server, "unix:", 5) != 0
        && !(rc == VD_EIO && vd_last_error ()->errnum == EACCES))
      err = vix_error (VIX_E_NOT_SUPPORTED, func, "server \"%s\": no vdisk "
                       "NBD server answered on port %u; remote connections "
                       "to vCenter/ESXi are not supported, only to `vdisk "
                       "serve` datastores (give nfcHostPort for another "
                       "port): %s", server, port,
                       vd_last_error ()->message);
    else
      err = vix_remote_error (rc, func, c);
    VixDiskLib_Disconnect (c);
    return err;
  }
  vix_log (LOG_INFO, "VixDiskLib: connected to %s (%s%s)\n", server,
           c->transport, readOnly ? ", read-only" : "");
  *connection = c;
  return VIX_OK;
}

/* Clone onto a remote datastore: the server creates the disk (the
 * plugin's create:TYPE,OPTIONS:BYTES:PATH export) and only allocated data
 * is sent.  As VMware's guide says of ESXi, the clone becomes a
 * VIXDISKLIB_DISK_VMFS_FLAT disk whatever the create parameters say: a
 * `vmfs` descriptor over a thin (sparse) -flat.vmdk, with the source's
 * adapter, geometry and hardware version.  The server refuses an existing
 * name (no overwrite); its reason comes back with the error. */
/* ",adapter=A,geometry=C/H/S,bios=C/H/S,hw=N" from the source disk (the
 * create parameters' adapter where the source has none). */
static void
remote_create_options (char *out, size_t n, vd_disk *src,
                       const struct vd_create_params *p)
{
  struct vd_geometry phys, bios;
  enum vd_adapter a = vd_disk_get_adapter (src);
  uint32_t hw = vd_disk_get_hw_version (src);
  size_t len;

  if (a == VD_ADAPTER_UNKNOWN)
    a = p->adapter;
  snprintf (out, n, ",adapter=%s", vd_adapter_name (a));
  vd_disk_get_geometry (src, &phys, &bios);
  len = strlen (out);
  if (phys.cylinders && phys.heads && phys.sectors && phys.heads <= 255
      && phys.sectors <= 63)
    snprintf (out + len, n - len, ",geometry=%u/%u/%u", phys.cylinders,
              phys.heads, phys.sectors);
  len = strlen (out);
  if (bios.cylinders && bios.heads && bios.sectors && bios.heads <= 255
      && bios.sectors <= 63)
    snprintf (out + len, n - len, ",bios=%u/%u/%u", bios.cylinders,
              bios.heads, bios.sectors);
  len = strlen (out);
  if (hw >= 3 && hw <= 255)
    snprintf (out + len, n - len, ",hw=%u", hw);
}

struct rclone {
  vd_disk *src, *dst;
  uint8 *buf;
  uint64_t done, total;
  struct vix_progress *pc;
  int rc;
};

#define RCLONE_CHUNK (4u << 20)

static int
rclone_cb (uint64_t off, uint64_t len, uint32_t status, void *payload)
{
  struct rclone *r = payload;
  if (status != VD_STATUS_DATA) {   /* a new disk reads as zeros */
    r->done += len;
    return 0;
  }
  while (len) {
    size_t n = (size_t) (len < RCLONE_CHUNK ? len : RCLONE_CHUNK);
    if ((r->rc = vd_disk_read (r->src, r->buf, n, off)) < 0
        || (r->rc = vd_disk_write (r->dst, r->buf, n, off)) < 0)
      return 1;
    off += n;
    len -= n;
    r->done += n;
    if (vix_progress_cb (r->done, r->total, r->pc)) {
      r->rc = VD_ECANCELED;
      return 1;
    }
  }
  return 0;
}

VixError
vix_remote_clone (const struct VixDiskLibConnectParam *c, const char *dstPath,
              vd_disk *src, const struct vd_create_params *p,
              struct vix_progress *pc, const char *func)
{
  struct rclone r = { src, NULL, NULL, 0, vd_disk_get_size (src), pc, 0 };
  const char *type = "thin";
  char *export = NULL, *uri, opts[160];
  VixError err = VIX_OK;
  int rc;

  if (c->read_only)
    return vix_error (VIX_E_FILE_READ_ONLY, func, "%s: the connection to "
                      "\"%s\" is read-only", dstPath, c->params.serverName);
  remote_create_options (opts, sizeof opts, src, p);
  if (asprintf (&export, "create:%s%s:%llu:%s", type, opts,
                (unsigned long long) r.total, dstPath) < 0)
    return vix_error (VIX_E_OUT_OF_MEMORY, func, "URI");
  uri = vix_remote_uri (c, export);
  free (export);
  if (!uri)
    return vix_error (VIX_E_OUT_OF_MEMORY, func, "URI");
  rc = vd_disk_open (&r.dst, uri, 0);
  free (uri);
  if (rc < 0)    /* the server's reason: exists, folder, quota, name */
    return vix_remote_error (rc, func, c);
  r.buf = malloc (RCLONE_CHUNK);
  if (!r.buf)
    err = vix_error (VIX_E_OUT_OF_MEMORY, func, "buffer");
  else if ((rc = vd_disk_block_status (src, 0, r.total, rclone_cb, &r)) < 0
           || (rc = r.rc) < 0 || (rc = vd_disk_flush (r.dst)) < 0)
    err = vd_to_vix (rc, func);
  rc = vd_disk_close (r.dst);
  if (rc < 0 && err == VIX_OK)
    err = vd_to_vix (rc, func);
  free (r.buf);
  if (err == VIX_OK)
    vix_log (LOG_INFO, "VixDiskLib: cloned to %s on %s (%s)\n", dstPath,
             c->params.serverName, type);
  return err;
}
