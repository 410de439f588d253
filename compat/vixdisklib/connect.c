/* libvixDiskLib connections: connect parameters, local connections,
 * PrepareForAccess, EndAccess and Cleanup.  A connection that names a
 * server is made by remote.c.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vix.h"

/* Remote connections (serverName set) reach a `vdisk serve` datastore
 * over NBD: "nbdssl" (TLS with a key derived from userName/password, the
 * default) or "nbd" (plaintext, only when transportModes asks for it). */
VIX_API const char *
VixDiskLib_ListTransportModes (void)
{
  return "file:nbdssl:nbd:https";   /* https: vSphere (vsphere.c) */
}

/* ---- connections ----------------------------------------------------- */

int
vix_is_remote (const VixDiskLibConnectParams *p)
{
  return p && p->serverName && p->serverName[0];
}

VIX_API VixDiskLibConnectParams *
VixDiskLib_AllocateConnectParams (void)
{
  return calloc (1, sizeof (VixDiskLibConnectParams));
}

/* Params from AllocateConnectParams hold the caller's strings; params from
 * GetConnectParams are one block with their strings inside.  Either way a
 * single free() is right. */
VIX_API void
VixDiskLib_FreeConnectParams (VixDiskLibConnectParams *connectParams)
{
  free (connectParams);
}

#define FOR_EACH_STRING(P, X)                                           \
  X ((P)->vmxSpec); X ((P)->serverName); X ((P)->thumbPrint);           \
  X ((P)->vimApiVer);                                                   \
  X ((P)->spec.vStorageObjSpec.id);                                     \
  X ((P)->spec.vStorageObjSpec.datastoreMoRef);                         \
  X ((P)->spec.vStorageObjSpec.ssId)

/* The credential strings depend on credType: their addresses in v[]. */
static size_t
cred_strings (VixDiskLibConnectParams *p, char **v[3])
{
  if (p->credType == VIXDISKLIB_CRED_UID) {
    v[0] = &p->creds.uid.userName;
    v[1] = &p->creds.uid.password;
    return 2;
  }
  if (p->credType == VIXDISKLIB_CRED_SESSIONID) {
    v[0] = &p->creds.sessionId.cookie;
    v[1] = &p->creds.sessionId.userName;
    v[2] = &p->creds.sessionId.key;
    return 3;
  }
  return 0;
}

static void
free_params_strings (VixDiskLibConnectParams *p)
{
  char **creds[3];
  size_t i, n;

#define FREE_ONE(s) (free (s), (s) = NULL)
  FOR_EACH_STRING (p, FREE_ONE);
#undef FREE_ONE
  n = cred_strings (p, creds);
  for (i = 0; i < n; i++) {
    free (*creds[i]);
    *creds[i] = NULL;
  }
}

/* Deep copy src into *dst (separately allocated strings). */
static int
copy_params (VixDiskLibConnectParams *dst, const VixDiskLibConnectParams *src)
{
  char **creds[3];
  size_t i, n;
  int failed = 0;

  *dst = *src;
  dst->state = NULL;
  if (dst->specType != VIXDISKLIB_SPEC_VSTORAGE_OBJECT
      && dst->specType != VIXDISKLIB_SPEC_DATASTORE)
    memset (&dst->spec, 0, sizeof dst->spec);
  if (dst->specType == VIXDISKLIB_SPEC_DATASTORE) {
    /* dsSpec has two strings where vStorageObjSpec has three. */
    dst->spec.vStorageObjSpec.ssId = NULL;
  }
  if (dst->credType != VIXDISKLIB_CRED_UID
      && dst->credType != VIXDISKLIB_CRED_SESSIONID)
    memset (&dst->creds, 0, sizeof dst->creds);

#define DUP_ONE(s) do {                                         \
    if ((s) && !((s) = strdup (s))) failed = 1;                 \
  } while (0)
  FOR_EACH_STRING (dst, DUP_ONE);
#undef DUP_ONE
  n = cred_strings (dst, creds);
  for (i = 0; i < n; i++)
    if (*creds[i] && !(*creds[i] = strdup (*creds[i])))
      failed = 1;
  if (failed) {
    free_params_strings (dst);
    return -1;
  }
  return 0;
}

struct VixDiskLibConnectParam *
vix_conn_new (const VixDiskLibConnectParams *p, Bool readOnly)
{
  struct VixDiskLibConnectParam *c = calloc (1, sizeof *c);

  if (!c || copy_params (&c->params, p) == -1) {
    free (c);
    return NULL;
  }
  c->magic = CONN_MAGIC;
  c->read_only = readOnly ? TRUE : FALSE;
  c->psk_fd = -1;
  return c;
}

VIX_API VixError
VixDiskLib_ConnectEx (const VixDiskLibConnectParams *connectParams,
                      Bool readOnly, const char *snapshotRef,
                      const char *transportModes,
                      VixDiskLibConnection *connection)
{
  static const VixDiskLibConnectParams zero;
  const char *func = "VixDiskLib_Connect";
  struct VixDiskLibConnectParam *c;

  if (!connection)
    return vix_error (VIX_E_INVALID_ARG, func, "connection pointer is NULL");
  *connection = NULL;
  if (!vix_is_initialized ())
    return vix_error (VIX_E_DISK_NOINIT, func,
                      "VixDiskLib_Init/InitEx has not been called");
  if (!connectParams)
    connectParams = &zero;
  if (vix_vsphere_wanted (connectParams))     /* ESXi / vCenter */
    return vix_vsphere_connect (connectParams, readOnly, snapshotRef,
                                transportModes, connection);
  if (vix_is_remote (connectParams))
    return vix_remote_connect (connectParams, readOnly, snapshotRef,
                               transportModes, connection);
  if (snapshotRef && *snapshotRef)
    return vix_error (VIX_E_NOT_SUPPORTED, func,
                      "snapshot \"%s\": snapshots need a vCenter connection, "
                      "which vdisk does not support", snapshotRef);
  if (transportModes && *transportModes && !strstr (transportModes, "file"))
    vix_log (LOG_WARN, "VixDiskLib: transport modes \"%s\" requested; "
             "local disks always use \"file\"\n", transportModes);

  c = vix_conn_new (connectParams, readOnly);
  if (!c)
    return vix_error (VIX_E_OUT_OF_MEMORY, func,
                      "cannot allocate the connection");
  vix_log (LOG_INFO, "VixDiskLib: local connection%s\n",
           readOnly ? " (read-only)" : "");
  *connection = c;
  return VIX_OK;
}

VIX_API VixError
VixDiskLib_Connect (const VixDiskLibConnectParams *connectParams,
                    VixDiskLibConnection *connection)
{
  return VixDiskLib_ConnectEx (connectParams, FALSE, NULL, NULL, connection);
}

VixError
vix_check_conn (const struct VixDiskLibConnectParam *c, const char *func)
{
  if (!c || c->magic != CONN_MAGIC)
    return vix_error (VIX_E_DISK_INVALID_CONNECTION, func,
                      "the connection handle is NULL or not valid");
  return VIX_OK;
}

VIX_API VixError
VixDiskLib_Disconnect (VixDiskLibConnection connection)
{
  VixError err = vix_check_conn (connection, "VixDiskLib_Disconnect");

  if (err != VIX_OK)
    return err;
  vix_vsphere_disconnect (connection);        /* vSphere (vsphere.c) */
  free_params_strings (&connection->params);
  if (connection->psk_fd >= 0 && connection->remote)
    close (connection->psk_fd);
  free (connection->uri_prefix);
  free (connection->uri_query);
  connection->magic = 0;
  free (connection);
  return VIX_OK;
}

VIX_API VixError
VixDiskLib_GetConnectParams (const VixDiskLibConnection connection,
                             VixDiskLibConnectParams **connectParams)
{
  const char *func = "VixDiskLib_GetConnectParams";
  VixError err = vix_check_conn (connection, func);
  VixDiskLibConnectParams tmp, *out;
  char **creds[3];
  size_t i, n, total = sizeof *out;
  char *p;

  if (err != VIX_OK)
    return err;
  if (!connectParams)
    return vix_error (VIX_E_INVALID_ARG, func, "output pointer is NULL");
  *connectParams = NULL;
  tmp = connection->params;

  /* One block: the struct, then its strings. */
#define SIZE_ONE(s) (total += (s) ? strlen (s) + 1 : 0)
  FOR_EACH_STRING (&tmp, SIZE_ONE);
#undef SIZE_ONE
  n = cred_strings (&tmp, creds);
  for (i = 0; i < n; i++)
    total += *creds[i] ? strlen (*creds[i]) + 1 : 0;

  out = malloc (total);
  if (!out)
    return vix_error (VIX_E_OUT_OF_MEMORY, func, "cannot allocate %zu bytes",
                      total);
  *out = tmp;
  p = (char *) (out + 1);
#define PUT_ONE(s) do {                                         \
    if (s) { size_t l_ = strlen (s) + 1;                        \
      memcpy (p, s, l_); (s) = p; p += l_; }                    \
  } while (0)
  FOR_EACH_STRING (out, PUT_ONE);
  n = cred_strings (out, creds);
  for (i = 0; i < n; i++)
    PUT_ONE (*creds[i]);
#undef PUT_ONE
  *connectParams = out;
  return VIX_OK;
}

/* PrepareForAccess, EndAccess and Cleanup with a server: VDDK asks
 * vCenter to hold the VM back from migration while its disks are read.
 * A vdisk server has no VMs to hold back, so there is nothing to do but
 * what VDDK also does first: log in, which checks the server and the
 * credentials (a wrong password fails here, as it would at Connect). */
static VixError
remote_access (const VixDiskLibConnectParams *p, const char *func,
               const char *identity)
{
  VixDiskLibConnection c = NULL;
  VixError err;

  if (!vix_is_remote (p))
    return VIX_OK;
  err = VixDiskLib_ConnectEx (p, TRUE, NULL, NULL, &c);
  if (err != VIX_OK)
    return err;
  vix_log (LOG_INFO, "VixDiskLib: %s (%s) on %s: logged in; a vdisk "
           "server holds no VM to keep from migrating\n", func,
           identity ? identity : "", p->serverName);
  VixDiskLib_Disconnect (c);
  return VIX_OK;
}

VIX_API VixError
VixDiskLib_PrepareForAccess (const VixDiskLibConnectParams *connectParams,
                             const char *identity)
{
  if (vix_fcd_spec (connectParams))     /* first class disk */
    return vix_fcd_access (connectParams, "VixDiskLib_PrepareForAccess", 1);
  return remote_access (connectParams, "VixDiskLib_PrepareForAccess",
                        identity);
}

VIX_API VixError
VixDiskLib_EndAccess (const VixDiskLibConnectParams *connectParams,
                      const char *identity)
{
  if (vix_fcd_spec (connectParams))     /* first class disk */
    return vix_fcd_access (connectParams, "VixDiskLib_EndAccess", 0);
  return remote_access (connectParams, "VixDiskLib_EndAccess", identity);
}

VIX_API VixError
VixDiskLib_Cleanup (const VixDiskLibConnectParams *connectParams,
                    uint32 *numCleanedUp, uint32 *numRemaining)
{
  if (vix_vsphere_wanted (connectParams))     /* ESXi / vCenter */
    return vix_vsphere_cleanup (connectParams, numCleanedUp, numRemaining);
  VixError err = remote_access (connectParams, "VixDiskLib_Cleanup", NULL);

  if (numCleanedUp)
    *numCleanedUp = 0;
  if (numRemaining)
    *numRemaining = 0;
  return err;
}
