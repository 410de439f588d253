/* libvixDiskLib errors: VixError texts, the ring of recent errors that
 * GetErrorText reads, and the translation of libvdisk's errors (vd_to_vix).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vix.h"

#define ERR_RING 16

/* Recent errors, newest last: lets GetErrorText explain a code that was
 * produced on another thread (completion callbacks). */
struct err_slot {
  VixError code;
  char msg[ERR_MSG_MAX];
};
static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;
static struct err_slot err_ring[ERR_RING];      /* under err_lock */
static unsigned err_ring_next;

/* The last error on this thread. */
static __thread struct err_slot tls_err;

struct code_text {
  VixError code;
  const char *text;
};

static const struct code_text code_texts[] = {
  { VIX_OK, "The operation was successful" },
  { VIX_E_FAIL, "Unknown error" },
  { VIX_E_OUT_OF_MEMORY, "Memory allocation failed: out of memory" },
  { VIX_E_INVALID_ARG, "One of the parameters was invalid" },
  { VIX_E_FILE_NOT_FOUND, "A file was not found" },
  { VIX_E_OBJECT_IS_BUSY, "This function cannot be performed because the handle is executing another function" },
  { VIX_E_NOT_SUPPORTED, "The operation is not supported" },
  { VIX_E_FILE_ERROR, "A file access error occurred on the host or guest operating system" },
  { VIX_E_DISK_FULL, "An error occurred while writing a file; the disk is full" },
  { VIX_E_INCORRECT_FILE_TYPE, "An error occurred while accessing a file: wrong file type" },
  { VIX_E_CANCELLED, "The operation was canceled" },
  { VIX_E_FILE_READ_ONLY, "The file is write-protected" },
  { VIX_E_FILE_ALREADY_EXISTS, "The file already exists" },
  { VIX_E_FILE_ACCESS_ERROR, "You do not have access rights to this file" },
  { VIX_E_REQUIRES_LARGE_FILES, "The file system does not support large files" },
  { VIX_E_FILE_ALREADY_LOCKED, "The file is already in use" },
  { VIX_E_NOT_SUPPORTED_ON_REMOTE_OBJECT, "The command is not supported on remote objects" },
  { VIX_E_FILE_TOO_BIG, "The file is too big for the filesystem" },
  { VIX_E_FILE_NAME_INVALID, "The file name is not valid" },
  { VIX_E_ALREADY_EXISTS, "The object already exists" },
  { VIX_E_BUFFER_TOOSMALL, "The buffer is too small" },
  { VIX_E_OBJECT_NOT_FOUND, "The object was not found" },
  { VIX_E_HOST_NOT_CONNECTED, "Unable to connect to the host" },
  { VIX_E_INVALID_UTF8_STRING, "The string is not valid UTF-8" },
  { VIX_E_ARGUMENT_TOO_BIG, "An argument is too big" },
  { VIX_E_HOST_USER_PERMISSIONS, "Insufficient permissions in the host operating system" },
  { VIX_E_HOST_SERVER_NOT_FOUND, "The server was not found" },
  { VIX_E_HOST_NETWORK_CONN_REFUSED, "The server refused the connection" },
  { VIX_E_HOST_TCP_SOCKET_ERROR, "A network socket error occurred" },
  { VIX_E_HOST_TCP_CONN_LOST, "The network connection was lost" },
  { VIX_E_NET_HTTP_SSL_SECURITY, "The server's certificate could not be verified" },
  { VIX_E_INVALID_HANDLE, "The handle is not valid" },
  { VIX_E_DISK_INVAL, "One of the parameters supplied is invalid" },
  { VIX_E_DISK_NOINIT, "The disk library has not been initialized" },
  { VIX_E_DISK_NOIO, "The called function requires the virtual disk to be opened for I/O" },
  { VIX_E_DISK_PARTIALCHAIN, "The called function cannot be performed on partial chains: open the parent virtual disk" },
  { VIX_E_DISK_NEEDSREPAIR, "The specified virtual disk needs repair" },
  { VIX_E_DISK_OUTOFRANGE, "You have requested access to an area of the virtual disk that is out of bounds" },
  { VIX_E_DISK_CID_MISMATCH, "The parent virtual disk has been modified since the child was created: content ID mismatch" },
  { VIX_E_DISK_CANTSHRINK, "The specified virtual disk cannot be shrunk" },
  { VIX_E_DISK_UNSUPPORTEDDISKVERSION, "The disk has an unsupported format version" },
  { VIX_E_DISK_OPENPARENT, "The parent of this virtual disk could not be opened" },
  { VIX_E_DISK_NOTSUPPORTED, "The specified feature is not supported by this version" },
  { VIX_E_DISK_TOOMANYREDO, "The chain of redo logs is too deep" },
  { VIX_E_DISK_KEY_NOTFOUND, "The metadata key was not found" },
  { VIX_E_DISK_INVALID_CONNECTION, "The connection handle is not valid" },
  { VIX_E_DISK_CANTREPAIR, "The virtual disk is corrupted and cannot be repaired" },
  { VIX_E_DISK_INVALIDDISK, "The specified file is not a valid virtual disk" },
  { VIX_E_DISK_CAPACITY_MISMATCH, "Parent and child disks have different capacities" },
  { VIX_E_DISK_PARENT_NOTALLOWED, "This disk type cannot be a parent" },
  { VIX_E_DISK_ATTACH_ROOTLINK, "Both disks are root links" },
  { VIX_E_CANNOT_CONNECT_TO_HOST, "Cannot connect to host" },
  { VIX_E_NOT_FOR_REMOTE_HOST, "Not supported for remote hosts" },
  { VIX_ASYNC, "The asynchronous operation was queued" },
  { VIX_E_ASYNC_MIXEDMODE_UNSUPPORTED, "Mixing synchronous and asynchronous I/O is not supported" },
};

static const char *
code_text (VixError err)
{
  size_t i;

  for (i = 0; i < sizeof code_texts / sizeof code_texts[0]; i++)
    if (code_texts[i].code == VIX_ERROR_CODE (err))
      return code_texts[i].text;
  return NULL;
}

static void
remember_error (VixError code, const char *msg)
{
  tls_err.code = code;
  snprintf (tls_err.msg, sizeof tls_err.msg, "%s", msg);

  pthread_mutex_lock (&err_lock);
  err_ring[err_ring_next % ERR_RING] = tls_err;
  err_ring_next++;
  pthread_mutex_unlock (&err_lock);
}

VixError
vix_error (VixError code, const char *func, const char *fmt, ...)
{
  char msg[ERR_MSG_MAX];
  int n;
  va_list ap;

  n = snprintf (msg, sizeof msg, "%s: ", func);
  if (n < 0 || (size_t) n >= sizeof msg)
    n = 0;
  va_start (ap, fmt);
  vsnprintf (msg + n, sizeof msg - (size_t) n, fmt, ap);
  va_end (ap);
  remember_error (code, msg);
  vix_log (LOG_WARN, "%s\n", msg);
  return code;
}

VixError
vix_not_supported (const char *func, const char *what)
{
  return vix_error (VIX_E_NOT_SUPPORTED, func,
                    "%s is not supported by vdisk's libvixDiskLib yet "
                    "(libvdisk has no native support for it)", what);
}

/* The VixError for a libvdisk error code (errnum: the errno behind it). */
static VixError
vix_code (int rc, int errnum)
{
  switch (rc) {
  case VD_EINVAL: return VIX_E_INVALID_ARG;
  case VD_EIO:
    if (errnum == EACCES || errnum == EPERM)
      return VIX_E_FILE_ACCESS_ERROR;
    if (errnum == EFBIG)
      return VIX_E_FILE_TOO_BIG;
    if (errnum == ENOSPC || errnum == EDQUOT)
      return VIX_E_DISK_FULL;
    /* a server (vSphere's datastore file service, NBD) as VDDK 8's
     * network codes */
    if (errnum == ECONNREFUSED)
      return VIX_E_HOST_NETWORK_CONN_REFUSED;
    if (errnum == ECONNRESET || errnum == EPIPE || errnum == ECONNABORTED)
      return VIX_E_HOST_TCP_CONN_LOST;
    if (errnum == ETIMEDOUT)
      return VIX_E_HOST_TCP_SOCKET_ERROR;
    if (errnum == EHOSTUNREACH || errnum == ENETUNREACH)
      return VIX_E_HOST_SERVER_NOT_FOUND;
    return VIX_E_FILE_ERROR;
  case VD_ENOMEM: return VIX_E_OUT_OF_MEMORY;
  case VD_ENOTSUP: return VIX_E_NOT_SUPPORTED;
  case VD_ECORRUPT: return VIX_E_DISK_INVALIDDISK;
  case VD_ENOENT: return VIX_E_FILE_NOT_FOUND;
  case VD_EPARENT:
    return vd_last_error ()->reason == VD_REASON_PARENT_MISSING
           || errnum == ENOENT ? VIX_E_DISK_PARTIALCHAIN
      : VIX_E_DISK_CID_MISMATCH;
  case VD_EROFS: return VIX_E_FILE_READ_ONLY;
  case VD_ECANCELED: return VIX_E_CANCELLED;
  case VD_ELOCKED: return VIX_E_FILE_ALREADY_LOCKED;
  case VD_EEXIST: return VIX_E_FILE_ALREADY_EXISTS;
  case VD_ENOSPC: return VIX_E_DISK_FULL;
  default: return VIX_E_FAIL;
  }
}

/* The native messages name the CLI's options; say it in VDDK terms.
 * Returns msg, or fixed (ERR_MSG_MAX bytes) holding the changed text. */
static const char *
vddk_terms (const char *msg, int rc, const char *func, char *fixed)
{
  static const struct { const char *cli, *vddk; } hints[] = {
    { " (use --overwrite or VD_CREATE_OVERWRITE to replace it)", NULL },
    { "run 'vdisk check'", "run VixDiskLib_CheckRepair" },
    { "'vdisk check --repair'", "VixDiskLib_CheckRepair with repair TRUE" },
    { "convert it to change it", "clone it (VixDiskLib_Clone) to change "
      "it" },
    { "convert the disk to a writable layout", "clone the disk "
      "(VixDiskLib_Clone) to a writable type" },
    { "as create makes", "as VixDiskLib_Create makes" },
  };
  char buf[ERR_MSG_MAX];
  size_t i;
  int changed = 0;

  snprintf (buf, sizeof buf, "%s", msg);
  for (i = 0; i < sizeof hints / sizeof hints[0]; i++) {
    char *at = strstr (buf, hints[i].cli);
    if (at) {
      char rest[ERR_MSG_MAX];
      snprintf (rest, sizeof rest, "%s", at + strlen (hints[i].cli));
      snprintf (at, sizeof buf - (size_t) (at - buf), "%s%s",
                hints[i].vddk ? hints[i].vddk : "", rest);
      changed = 1;
    }
  }
  if (rc == VD_EEXIST) {
    size_t l = strlen (buf);
    snprintf (buf + l, sizeof buf - l, "%s", !strcmp (func,
              "VixDiskLib_Clone") ? " (pass overWrite = TRUE to "
              "VixDiskLib_Clone to replace it)" : !strcmp (func,
              "VixDiskLib_Create") ? " (VixDiskLib_Create never "
              "replaces a disk: remove it with VixDiskLib_Unlink first, "
              "or use VixDiskLib_Clone with overWrite = TRUE)" : "");
    changed = 1;
  }
  if (!changed)
    return msg;
  snprintf (fixed, ERR_MSG_MAX, "%s", buf);
  return fixed;
}

VixError
vd_to_vix (int rc, const char *func)
{
  const struct vd_error *e = vd_last_error ();
  const char *msg = e->message && *e->message ? e->message
    : vd_strerror (rc);
  char fixed[ERR_MSG_MAX];
  VixError code = vix_code (rc, e->errnum);

  msg = vddk_terms (msg, rc, func, fixed);
  /* Tell VixDiskLib users how to give the native "trusted" opt-in. */
  if (e->reason == VD_REASON_UNTRUSTED_NAME)
    return vix_error (code, func, "%s (VixDiskLib: set vdisk.trustedPaths = "
                      "\"TRUE\" in the InitEx config file, or "
                      "VDISK_VIX_TRUSTED=1)", msg);
  return vix_error (code, func, "%s", msg);
}

VIX_API char *
VixDiskLib_GetErrorText (VixError err, const char *locale)
{
  char buf[ERR_MSG_MAX + 128];
  const char *base = code_text (err);
  const char *detail = NULL;
  VixError code = VIX_ERROR_CODE (err);
  unsigned i;

  (void) locale;
  if (code != VIX_OK && code != VIX_ASYNC) {
    if (tls_err.code == code && tls_err.msg[0])
      detail = tls_err.msg;
    else {
      pthread_mutex_lock (&err_lock);
      for (i = 0; i < ERR_RING && i < err_ring_next; i++) {
        struct err_slot *s = &err_ring[(err_ring_next - 1 - i) % ERR_RING];
        if (s->code == code && s->msg[0]) {
          snprintf (buf, sizeof buf, "%s", s->msg);
          detail = buf;
          break;
        }
      }
      pthread_mutex_unlock (&err_lock);
    }
  }
  if (detail)
    return strdup (detail);
  if (base)
    return strdup (base);
  snprintf (buf, sizeof buf, "VixDiskLib error %llu (no further details)",
            (unsigned long long) code);
  return strdup (buf);
}

VIX_API void
VixDiskLib_FreeErrorText (char *errMsg)
{
  free (errMsg);
}
