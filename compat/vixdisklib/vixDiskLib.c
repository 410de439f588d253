/* libvixDiskLib: a VixDiskLib-compatible layer over libvdisk.
 *
 * Written only against the public native API (vdisk/vdisk.h).  Local
 * (hosted) disks only: a connection that names a server is refused.
 *
 * State: the library keeps a per-process init count and the log callbacks
 * (guarded by one mutex), a small ring of recent error messages so that
 * GetErrorText can explain an error that a completion callback received
 * on a worker thread, and the list of open disk handles.  VixDiskLib's
 * Init/Exit are process-wide by definition (no context is passed), so the
 * list is process-wide too, under the same mutex: the last Exit flushes
 * and closes every handle still open (a program that exits without Close
 * keeps its writes), and so does the library's destructor at process
 * exit.  Handles inherited through fork() belong to the parent and are
 * never touched by the child.  No thread is started before the first
 * asynchronous I/O on a handle, so Init is safe before fork().
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vdisk/vdisk.h"
#include "vdisk/vixDiskLib.h"

#define VIX_API __attribute__((visibility ("default")))

#define HANDLE_MAGIC 0x56495848u /* "VIXH" */
#define HANDLE_CLOSED 0x56495843u /* "VIXC": closed by Exit, not freed */
#define CONN_MAGIC 0x5649584du   /* "VIXM" */
#define AIO_THREADS 4
#define ERR_MSG_MAX 1024
#define ERR_RING 16

/* ---- process state --------------------------------------------------- */

static pthread_mutex_t lib_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned lib_init_count;
static VixDiskLibGenericLogFunc *lib_log_fn;
static VixDiskLibGenericLogFunc *lib_warn_fn;
static VixDiskLibGenericLogFunc *lib_panic_fn;
static int lib_trusted;         /* vdisk.trustedPaths from the config */

/* Recent errors, newest last: lets GetErrorText explain a code that was
 * produced on another thread (completion callbacks). */
struct err_slot {
  VixError code;
  char msg[ERR_MSG_MAX];
};
static struct err_slot err_ring[ERR_RING];
static unsigned err_ring_next;

/* The last error on this thread. */
static __thread struct err_slot tls_err;

enum { LOG_INFO, LOG_WARN, LOG_PANIC };

static void vix_log (int level, const char *fmt, ...)
  __attribute__((format (printf, 2, 3)));

static void
vix_log (int level, const char *fmt, ...)
{
  VixDiskLibGenericLogFunc *fn;
  va_list ap;

  pthread_mutex_lock (&lib_lock);
  fn = level == LOG_PANIC ? lib_panic_fn
    : level == LOG_WARN ? lib_warn_fn : lib_log_fn;
  pthread_mutex_unlock (&lib_lock);

  va_start (ap, fmt);
  if (fn)
    fn (fmt, ap);
  else if (level != LOG_INFO && getenv ("VDISK_VIX_DEBUG")) {
    fputs ("libvixDiskLib: ", stderr);
    vfprintf (stderr, fmt, ap);
  }
  va_end (ap);
}

/* ---- errors ---------------------------------------------------------- */

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

  pthread_mutex_lock (&lib_lock);
  err_ring[err_ring_next % ERR_RING] = tls_err;
  err_ring_next++;
  pthread_mutex_unlock (&lib_lock);
}

/* Record an error: the message says what happened.  Returns code. */
static VixError vix_error (VixError code, const char *func,
                           const char *fmt, ...)
  __attribute__((format (printf, 3, 4)));

static VixError
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

static VixError
not_supported (const char *func, const char *what)
{
  return vix_error (VIX_E_NOT_SUPPORTED, func,
                    "%s is not supported by vdisk's libvixDiskLib yet "
                    "(libvdisk has no native support for it)", what);
}

/* Translate the native library's last error into a VixError, keeping its
 * message. */
static VixError
vd_to_vix (int rc, const char *func)
{
  const struct vd_error *e = vd_last_error ();
  const char *msg = e->message && *e->message ? e->message
    : vd_strerror (rc);
  int errnum = e->errnum;
  char fixed[ERR_MSG_MAX];
  VixError code;

  switch (rc) {
  case VD_EINVAL: code = VIX_E_INVALID_ARG; break;
  case VD_EIO:
    if (errnum == EACCES || errnum == EPERM)
      code = VIX_E_FILE_ACCESS_ERROR;
    else if (errnum == EFBIG)
      code = VIX_E_FILE_TOO_BIG;
    else if (errnum == ENOSPC || errnum == EDQUOT)
      code = VIX_E_DISK_FULL;
    else
      code = VIX_E_FILE_ERROR;
    break;
  case VD_ENOMEM: code = VIX_E_OUT_OF_MEMORY; break;
  case VD_ENOTSUP: code = VIX_E_NOT_SUPPORTED; break;
  case VD_ECORRUPT: code = VIX_E_DISK_INVALIDDISK; break;
  case VD_ENOENT: code = VIX_E_FILE_NOT_FOUND; break;
  case VD_EPARENT:
    code = e->reason == VD_REASON_PARENT_MISSING ? VIX_E_DISK_PARTIALCHAIN
      : VIX_E_DISK_CID_MISMATCH;
    break;
  case VD_EROFS: code = VIX_E_FILE_READ_ONLY; break;
  case VD_ECANCELED: code = VIX_E_CANCELLED; break;
  case VD_ELOCKED: code = VIX_E_FILE_ALREADY_LOCKED; break;
  case VD_EEXIST: code = VIX_E_FILE_ALREADY_EXISTS; break;
  case VD_ENOSPC: code = VIX_E_DISK_FULL; break;
  default: code = VIX_E_FAIL; break;
  }
  {
    /* The native messages name the CLI's options; say it in VDDK terms. */
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
    if (changed) {
      snprintf (fixed, sizeof fixed, "%s", buf);
      msg = fixed;
    }
  }
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
      pthread_mutex_lock (&lib_lock);
      for (i = 0; i < ERR_RING && i < err_ring_next; i++) {
        struct err_slot *s = &err_ring[(err_ring_next - 1 - i) % ERR_RING];
        if (s->code == code && s->msg[0]) {
          snprintf (buf, sizeof buf, "%s", s->msg);
          detail = buf;
          break;
        }
      }
      pthread_mutex_unlock (&lib_lock);
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

/* ---- library lifecycle ----------------------------------------------- */

static int
truthy (const char *v)
{
  return !strcasecmp (v, "1") || !strcasecmp (v, "true")
    || !strcasecmp (v, "yes") || !strcasecmp (v, "on");
}

/* The VDDK config file is "key = value" lines.  vdisk reads one key of its
 * own, vdisk.trustedPaths, and ignores the rest. */
static void
read_config (const char *path)
{
  FILE *f;
  char line[1024];
  int trusted = -1;

  if (!path || !*path)
    return;
  f = fopen (path, "r");
  if (!f) {
    vix_log (LOG_WARN, "VixDiskLib: cannot read config file %s: %s\n",
             path, strerror (errno));
    return;
  }
  while (fgets (line, sizeof line, f)) {
    char *k = line, *eq, *v, *end;

    while (*k == ' ' || *k == '\t')
      k++;
    if (*k == '#' || *k == ';' || !(eq = strchr (k, '=')))
      continue;
    for (end = eq; end > k && (end[-1] == ' ' || end[-1] == '\t'); end--)
      ;
    *end = '\0';
    v = eq + 1;
    while (*v == ' ' || *v == '\t' || *v == '"')
      v++;
    end = v + strlen (v);
    while (end > v && strchr (" \t\r\n\"", end[-1]))
      end--;
    *end = '\0';
    if (!strcasecmp (k, "vdisk.trustedPaths"))
      trusted = truthy (v);
  }
  fclose (f);
  if (trusted >= 0) {
    pthread_mutex_lock (&lib_lock);
    lib_trusted = trusted;
    pthread_mutex_unlock (&lib_lock);
  }
}

VIX_API VixError
VixDiskLib_InitEx (uint32 majorVersion, uint32 minorVersion,
                   VixDiskLibGenericLogFunc *log,
                   VixDiskLibGenericLogFunc *warn,
                   VixDiskLibGenericLogFunc *panic,
                   const char *libDir, const char *configFile)
{
  const char *env;

  (void) libDir;
  if (majorVersion < 1)
    return vix_error (VIX_E_INVALID_ARG, "VixDiskLib_InitEx",
                      "API version %u.%u is not valid",
                      majorVersion, minorVersion);
  pthread_mutex_lock (&lib_lock);
  lib_init_count++;
  lib_log_fn = log;
  lib_warn_fn = warn;
  lib_panic_fn = panic;
  env = getenv ("VDISK_VIX_TRUSTED");
  if (env)
    lib_trusted = truthy (env);
  pthread_mutex_unlock (&lib_lock);
  read_config (configFile);
  vix_log (LOG_INFO, "VixDiskLib: vdisk %s, API version %u.%u requested\n",
           vd_get_version (), majorVersion, minorVersion);
  return VIX_OK;
}

VIX_API VixError
VixDiskLib_Init (uint32 majorVersion, uint32 minorVersion,
                 VixDiskLibGenericLogFunc *log,
                 VixDiskLibGenericLogFunc *warn,
                 VixDiskLibGenericLogFunc *panic, const char *libDir)
{
  return VixDiskLib_InitEx (majorVersion, minorVersion, log, warn, panic,
                            libDir, NULL);
}

static void close_all_handles (const char *why);

/* The last Exit flushes and closes the handles still open, then forgets
 * the callbacks. */
VIX_API void
VixDiskLib_Exit (void)
{
  int last;

  vix_log (LOG_INFO, "VixDiskLib: exit\n");
  pthread_mutex_lock (&lib_lock);
  last = lib_init_count == 1;
  pthread_mutex_unlock (&lib_lock);
  if (last)
    close_all_handles ("VixDiskLib_Exit");
  pthread_mutex_lock (&lib_lock);
  if (lib_init_count > 0 && --lib_init_count == 0) {
    lib_log_fn = lib_warn_fn = lib_panic_fn = NULL;
  }
  pthread_mutex_unlock (&lib_lock);
}

/* A process that exits without Close or Exit (bindings closing at exit)
 * keeps its writes too. */
__attribute__((destructor)) static void
vix_at_exit (void)
{
  pthread_mutex_lock (&lib_lock);
  lib_log_fn = lib_warn_fn = lib_panic_fn = NULL;  /* their code may be gone */
  pthread_mutex_unlock (&lib_lock);
  close_all_handles ("process exit");
}

static int
is_initialized (void)
{
  unsigned n;

  pthread_mutex_lock (&lib_lock);
  n = lib_init_count;
  pthread_mutex_unlock (&lib_lock);
  return n > 0;
}

/* Remote connections (serverName set) reach a `vdisk serve` datastore
 * over NBD: "nbdssl" (TLS with a key derived from userName/password, the
 * default) or "nbd" (plaintext, only when transportModes asks for it). */
VIX_API const char *
VixDiskLib_ListTransportModes (void)
{
  return "file:nbdssl:nbd";
}

/* ---- connections ----------------------------------------------------- */

struct VixDiskLibConnectParam {
  uint32 magic;
  Bool read_only;
  VixDiskLibConnectParams params;  /* deep copy, strings owned */
  /* remote (NBD) connections */
  int remote;
  const char *transport;           /* "nbdssl" or "nbd" */
  char *uri_prefix;                /* "nbds://user@host:port/" */
  char *uri_query;                 /* "?tls-psk-file=/proc/self/fd/N" */
  int psk_fd;                      /* memfd with "user:key", or -1 */
};

static int
is_remote (const VixDiskLibConnectParams *p)
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

/* ---- remote connections: a `vdisk serve` datastore over NBD ---------- */

VIX_API VixError VixDiskLib_Disconnect (VixDiskLibConnection connection);

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
static char *
remote_uri (const struct VixDiskLibConnectParam *c, const char *export)
{
  char *enc = uri_encode (export), *uri = NULL;
  if (enc && asprintf (&uri, "%s%s%s", c->uri_prefix, enc, c->uri_query) < 0)
    uri = NULL;
  free (enc);
  return uri;
}

/* A failed NBD connection or open as a VixError. */
static VixError
remote_error (int rc, const char *func, const struct VixDiskLibConnectParam *c)
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

static VixError
remote_connect (const VixDiskLibConnectParams *p, Bool readOnly,
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

  c = calloc (1, sizeof *c);
  if (!c || copy_params (&c->params, p) == -1) {
    free (c);
    return vix_error (VIX_E_OUT_OF_MEMORY, func,
                      "cannot allocate the connection");
  }
  c->magic = CONN_MAGIC;
  c->read_only = readOnly ? TRUE : FALSE;
  c->remote = 1;
  c->transport = tls ? "nbdssl" : "nbd";
  c->psk_fd = -1;
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
  /* serverName "unix:/path/to/socket" reaches a Unix socket. */
  if (strncmp (server, "unix:", 5) == 0) {
    char *sock = uri_encode (server + 5);
    if (!sock
        || asprintf (&c->uri_prefix, "%s://%s%s/", tls ? "nbds+unix" : "nbd+unix",
                     tls ? user : "", tls ? "@" : "") < 0
        || asprintf (&c->uri_query, "?socket=%s%s%s%d", sock,
                     tls ? "&tls-psk-file=" : "", tls ? "/proc/self/fd/" : "",
                     tls ? c->psk_fd : 0) < 0) {
      free (sock);
      VixDiskLib_Disconnect (c);
      return vix_error (VIX_E_OUT_OF_MEMORY, func, "URI");
    }
    if (!tls)
      c->uri_query[strlen (c->uri_query) - 1] = '\0';  /* the stray 0 */
    free (sock);
  }
  else {
    int v6 = strchr (server, ':') != NULL;
    if (asprintf (&c->uri_prefix, "%s://%s%s%s%s%s:%u/", tls ? "nbds" : "nbd",
                  tls ? user : "", tls ? "@" : "", v6 ? "[" : "", server,
                  v6 ? "]" : "", port) < 0
        || (tls ? asprintf (&c->uri_query, "?tls-psk-file=/proc/self/fd/%d",
                            c->psk_fd)
            : asprintf (&c->uri_query, "%s", "")) < 0) {
      VixDiskLib_Disconnect (c);
      return vix_error (VIX_E_OUT_OF_MEMORY, func, "URI");
    }
  }
  /* Log in now, as VDDK does at Connect: a wrong password fails here. */
  probe = remote_uri (c, "");
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
      err = remote_error (rc, func, c);
    VixDiskLib_Disconnect (c);
    return err;
  }
  vix_log (LOG_INFO, "VixDiskLib: connected to %s (%s%s)\n", server,
           c->transport, readOnly ? ", read-only" : "");
  *connection = c;
  return VIX_OK;
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
  if (!is_initialized ())
    return vix_error (VIX_E_DISK_NOINIT, func,
                      "VixDiskLib_Init/InitEx has not been called");
  if (!connectParams)
    connectParams = &zero;
  if (is_remote (connectParams))
    return remote_connect (connectParams, readOnly, snapshotRef,
                           transportModes, connection);
  if (snapshotRef && *snapshotRef)
    return vix_error (VIX_E_NOT_SUPPORTED, func,
                      "snapshot \"%s\": snapshots need a vCenter connection, "
                      "which vdisk does not support", snapshotRef);
  if (transportModes && *transportModes && !strstr (transportModes, "file"))
    vix_log (LOG_WARN, "VixDiskLib: transport modes \"%s\" requested; "
             "local disks always use \"file\"\n", transportModes);

  c = calloc (1, sizeof *c);
  if (!c || copy_params (&c->params, connectParams) == -1) {
    free (c);
    return vix_error (VIX_E_OUT_OF_MEMORY, func,
                      "cannot allocate the connection");
  }
  c->magic = CONN_MAGIC;
  c->read_only = readOnly ? TRUE : FALSE;
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

static VixError
check_conn (const struct VixDiskLibConnectParam *c, const char *func)
{
  if (!c || c->magic != CONN_MAGIC)
    return vix_error (VIX_E_DISK_INVALID_CONNECTION, func,
                      "the connection handle is NULL or not valid");
  return VIX_OK;
}

VIX_API VixError
VixDiskLib_Disconnect (VixDiskLibConnection connection)
{
  VixError err = check_conn (connection, "VixDiskLib_Disconnect");

  if (err != VIX_OK)
    return err;
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
  VixError err = check_conn (connection, func);
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

  if (!is_remote (p))
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
  return remote_access (connectParams, "VixDiskLib_PrepareForAccess",
                        identity);
}

VIX_API VixError
VixDiskLib_EndAccess (const VixDiskLibConnectParams *connectParams,
                      const char *identity)
{
  return remote_access (connectParams, "VixDiskLib_EndAccess", identity);
}

VIX_API VixError
VixDiskLib_Cleanup (const VixDiskLibConnectParams *connectParams,
                    uint32 *numCleanedUp, uint32 *numRemaining)
{
  VixError err = remote_access (connectParams, "VixDiskLib_Cleanup", NULL);

  if (numCleanedUp)
    *numCleanedUp = 0;
  if (numRemaining)
    *numRemaining = 0;
  return err;
}

/* ---- handles --------------------------------------------------------- */

struct aio_req {
  struct aio_req *next;
  int is_write;
  uint64 offset;                /* bytes */
  size_t count;                 /* bytes */
  uint8 *buf;
  VixDiskLibCompletionCB cb;
  void *cb_data;
};

struct VixDiskLibHandleStruct {
  uint32 magic;
  vd_disk *disk;
  struct VixDiskLibHandleStruct *reg_prev, *reg_next;  /* open handles */
  pid_t pid;                       /* the process that opened it */
  int stream_writer;               /* an empty stream opened to be filled */
  uint32 flags;
  VixDiskLibSectorType capacity;   /* sectors */
  const char *transport;           /* "file", "nbdssl", "nbd" */

  pthread_mutex_t lock;
  pthread_cond_t work_cond;        /* a request was queued, or stop */
  pthread_cond_t idle_cond;        /* pending reached 0 */
  struct aio_req *head, *tail;
  unsigned pending;                /* queued + running */
  unsigned nthreads;
  int stopping;
  pthread_t threads[AIO_THREADS];
};

static VixError
check_handle (const struct VixDiskLibHandleStruct *h, const char *func)
{
  if (h && h->magic == HANDLE_CLOSED)
    return vix_error (VIX_E_INVALID_ARG, func, "the disk handle was closed "
                      "by VixDiskLib_Exit (its writes were flushed); only "
                      "VixDiskLib_Close may still be called on it");
  if (!h || h->magic != HANDLE_MAGIC)
    return vix_error (VIX_E_INVALID_ARG, func,
                      "the disk handle is NULL or not valid");
  return VIX_OK;
}

/* ---- the open handles (process-wide, as Init/Exit; under lib_lock) ---- */

static struct VixDiskLibHandleStruct *open_handles;

static void
register_handle (struct VixDiskLibHandleStruct *h)
{
  pthread_mutex_lock (&lib_lock);
  h->reg_prev = NULL;
  h->reg_next = open_handles;
  if (open_handles)
    open_handles->reg_prev = h;
  open_handles = h;
  pthread_mutex_unlock (&lib_lock);
}

static void
unregister_handle (struct VixDiskLibHandleStruct *h)
{
  pthread_mutex_lock (&lib_lock);
  if (h->reg_prev)
    h->reg_prev->reg_next = h->reg_next;
  else if (open_handles == h)
    open_handles = h->reg_next;
  if (h->reg_next)
    h->reg_next->reg_prev = h->reg_prev;
  h->reg_prev = h->reg_next = NULL;
  pthread_mutex_unlock (&lib_lock);
}

static int
open_flags (uint32 vix_flags, const struct VixDiskLibConnectParam *c)
{
  int trusted;
  uint32 f = 0;

  /* ConnectEx's readOnly is a hint for the transport: for local files
   * VMware documents ConnectEx as equivalent to Connect, so only the open
   * flag makes a local handle read-only (a writable open is writable or
   * fails at Open, never silently downgraded). */
  if ((vix_flags & VIXDISKLIB_FLAG_OPEN_READ_ONLY)
      || (c->read_only && c->remote))
    f |= VD_OPEN_READ_ONLY;
  if (vix_flags & VIXDISKLIB_FLAG_OPEN_SINGLE_LINK)
    f |= VD_OPEN_SINGLE_LINK;
  if (vix_flags & VIXDISKLIB_FLAG_OPEN_UNBUFFERED)
    f |= VD_OPEN_UNBUFFERED;
  pthread_mutex_lock (&lib_lock);
  trusted = lib_trusted;
  pthread_mutex_unlock (&lib_lock);
  if (trusted)
    f |= VD_OPEN_TRUSTED;
  /* COMPRESSION_* only change the network wire format: nothing to do for
   * local files. */
  return (int) f;
}

VIX_API VixError
VixDiskLib_Open (const VixDiskLibConnection connection, const char *path,
                 uint32 flags, VixDiskLibHandle *diskHandle)
{
  const char *func = "VixDiskLib_Open";
  struct VixDiskLibHandleStruct *h;
  VixError err;
  vd_disk *disk;
  int rc;

  if (!diskHandle)
    return vix_error (VIX_E_INVALID_ARG, func, "handle pointer is NULL");
  *diskHandle = NULL;
  if ((err = check_conn (connection, func)) != VIX_OK)
    return err;
  if (!path || !*path)
    return vix_error (VIX_E_INVALID_ARG, func, "the disk path is empty");

  if (connection->remote) {
    /* A datastore path ("[ds] vm/disk.vmdk") names the export. */
    char *uri = remote_uri (connection, path);
    if (!uri)
      return vix_error (VIX_E_OUT_OF_MEMORY, func, "URI");
    rc = vd_disk_open (&disk, uri, (uint32_t) open_flags (flags, connection)
                       & (VD_OPEN_READ_ONLY));
    free (uri);
    if (rc < 0)
      return remote_error (rc, func, connection);
  }
  else {
    rc = vd_disk_open (&disk, path,
                       (uint32_t) open_flags (flags, connection));
    if (rc < 0)
      return vd_to_vix (rc, func);
  }

  h = calloc (1, sizeof *h);
  if (!h) {
    vd_disk_close (disk);
    return vix_error (VIX_E_OUT_OF_MEMORY, func, "%s: cannot allocate handle",
                      path);
  }
  h->magic = HANDLE_MAGIC;
  h->disk = disk;
  h->flags = flags;
  h->capacity = vd_disk_get_size (disk) / VIXDISKLIB_SECTOR_SIZE;
  h->transport = connection->remote ? connection->transport
    : VIXDISKLIB_TRANSPORT_FILE;
  h->pid = getpid ();
  h->stream_writer = !vd_disk_is_read_only (disk)
    && vd_disk_get_type (disk) == VD_TYPE_STREAM_OPTIMIZED;
  pthread_mutex_init (&h->lock, NULL);
  pthread_cond_init (&h->work_cond, NULL);
  pthread_cond_init (&h->idle_cond, NULL);
  register_handle (h);
  vix_log (LOG_INFO, "VixDiskLib: opened %s (%s, %llu sectors, flags 0x%x, "
           "transport %s)\n", path, vd_disk_get_create_type (disk),
           (unsigned long long) h->capacity, flags, h->transport);
  *diskHandle = h;
  return VIX_OK;
}

VIX_API VixError
VixDiskLib_OpenEx (const VixDiskLibConnection connection,
                   const VixDiskLibOpenParams *openParams,
                   VixDiskLibHandle *diskHandle)
{
  if (!openParams) {
    if (diskHandle)
      *diskHandle = NULL;
    return vix_error (VIX_E_INVALID_ARG, "VixDiskLib_OpenEx",
                      "open parameters are NULL");
  }
  return VixDiskLib_Open (connection, openParams->path, openParams->flags,
                          diskHandle);
}

static void wait_idle (struct VixDiskLibHandleStruct *h);

/* Finish the queued I/O, stop the workers and close the disk (its tables
 * and footer are written).  The handle's memory stays. */
static int
shutdown_handle (struct VixDiskLibHandleStruct *h)
{
  unsigned i;
  int rc;

  wait_idle (h);
  pthread_mutex_lock (&h->lock);
  h->stopping = 1;
  pthread_cond_broadcast (&h->work_cond);
  pthread_mutex_unlock (&h->lock);
  for (i = 0; i < h->nthreads; i++)
    pthread_join (h->threads[i], NULL);
  h->nthreads = 0;
  rc = vd_disk_close (h->disk);
  h->disk = NULL;
  pthread_cond_destroy (&h->idle_cond);
  pthread_cond_destroy (&h->work_cond);
  pthread_mutex_destroy (&h->lock);
  return rc;
}

VIX_API VixError
VixDiskLib_Close (VixDiskLibHandle diskHandle)
{
  const char *func = "VixDiskLib_Close";
  struct VixDiskLibHandleStruct *h = diskHandle;
  VixError err;
  int rc;

  if (h && h->magic == HANDLE_CLOSED) {
    /* closed (and flushed) by Exit: now it is freed */
    unregister_handle (h);
    h->magic = 0;
    free (h);
    return VIX_OK;
  }
  if ((err = check_handle (h, func)) != VIX_OK)
    return err;
  unregister_handle (h);
  h->magic = 0;
  rc = shutdown_handle (h);
  free (h);
  if (rc < 0)
    return vd_to_vix (rc, func);
  return VIX_OK;
}

/* Close every handle this process still has open (Exit, process exit):
 * each is flushed and closed and stays allocated as HANDLE_CLOSED, so a
 * later Close of it is harmless.  Handles inherited through fork() are
 * the parent's: they are forgotten, their files left alone. */
static void
close_all_handles (const char *why)
{
  struct VixDiskLibHandleStruct *h;
  pid_t self = getpid ();

  for (;;) {
    pthread_mutex_lock (&lib_lock);
    for (h = open_handles; h; h = h->reg_next)
      if (h->magic == HANDLE_MAGIC)
        break;
    if (h)
      h->magic = HANDLE_CLOSED;   /* claimed: no other caller takes it */
    pthread_mutex_unlock (&lib_lock);
    if (!h)
      break;
    if (h->pid != self || !h->disk) {
      h->disk = NULL;             /* the parent's (or already gone) */
      continue;
    }
    {
      char *path = strdup (vd_disk_get_path (h->disk));
      int rc = shutdown_handle (h);
      if (rc < 0)
        vix_log (LOG_WARN, "VixDiskLib: %s: closing %s, still open: %s\n",
                 why, path ? path : "a disk", vd_last_error ()->message);
      else
        vix_log (LOG_INFO, "VixDiskLib: %s: flushed and closed %s, which "
                 "was still open\n", why, path ? path : "a disk");
      free (path);
    }
  }
}

static VixDiskLibAdapterType
adapter_to_vix (enum vd_adapter a)
{
  switch (a) {
  case VD_ADAPTER_IDE: return VIXDISKLIB_ADAPTER_IDE;
  case VD_ADAPTER_BUSLOGIC: return VIXDISKLIB_ADAPTER_SCSI_BUSLOGIC;
  case VD_ADAPTER_LSILOGIC: return VIXDISKLIB_ADAPTER_SCSI_LSILOGIC;
  default: return VIXDISKLIB_ADAPTER_UNKNOWN;
  }
}

static int
adapter_from_vix (VixDiskLibAdapterType a, enum vd_adapter *out)
{
  switch (a) {
  case VIXDISKLIB_ADAPTER_IDE: *out = VD_ADAPTER_IDE; return 0;
  case VIXDISKLIB_ADAPTER_SCSI_BUSLOGIC: *out = VD_ADAPTER_BUSLOGIC; return 0;
  case VIXDISKLIB_ADAPTER_SCSI_LSILOGIC: *out = VD_ADAPTER_LSILOGIC; return 0;
  default: return -1;
  }
}

static int
type_from_vix (VixDiskLibDiskType t, enum vd_type *out)
{
  switch (t) {
  case VIXDISKLIB_DISK_MONOLITHIC_SPARSE:
    *out = VD_TYPE_MONOLITHIC_SPARSE; return 0;
  case VIXDISKLIB_DISK_MONOLITHIC_FLAT: *out = VD_TYPE_MONOLITHIC_FLAT; return 0;
  case VIXDISKLIB_DISK_SPLIT_SPARSE: *out = VD_TYPE_SPLIT_SPARSE; return 0;
  case VIXDISKLIB_DISK_SPLIT_FLAT: *out = VD_TYPE_SPLIT_FLAT; return 0;
  case VIXDISKLIB_DISK_VMFS_FLAT: *out = VD_TYPE_VMFS; return 0;
  case VIXDISKLIB_DISK_STREAM_OPTIMIZED:
    *out = VD_TYPE_STREAM_OPTIMIZED; return 0;
  case VIXDISKLIB_DISK_VMFS_THIN: *out = VD_TYPE_VMFS_THIN; return 0;
  case VIXDISKLIB_DISK_VMFS_SPARSE: *out = VD_TYPE_VMFS_SPARSE; return 0;
  default: return -1;
  }
}

static char *
strdup_or_null (const char *s)
{
  return s ? strdup (s) : NULL;
}

VIX_API VixError
VixDiskLib_GetInfo (VixDiskLibHandle diskHandle, VixDiskLibInfo **info)
{
  const char *func = "VixDiskLib_GetInfo";
  struct VixDiskLibHandleStruct *h = diskHandle;
  VixError err = check_handle (h, func);
  struct vd_geometry phys, bios;
  const char *parent, *uuid;
  VixDiskLibInfo *i;

  if (err != VIX_OK)
    return err;
  if (!info)
    return vix_error (VIX_E_INVALID_ARG, func, "output pointer is NULL");
  *info = NULL;
  i = calloc (1, sizeof *i);
  if (!i)
    return vix_error (VIX_E_OUT_OF_MEMORY, func, "cannot allocate info");

  vd_disk_get_geometry (h->disk, &phys, &bios);
  i->physGeo.cylinders = phys.cylinders;
  i->physGeo.heads = phys.heads;
  i->physGeo.sectors = phys.sectors;
  if (bios.cylinders == 0 && bios.heads == 0 && bios.sectors == 0)
    bios = phys;              /* no ddb.geometry.bios*: same as physical */
  i->biosGeo.cylinders = bios.cylinders;
  i->biosGeo.heads = bios.heads;
  i->biosGeo.sectors = bios.sectors;
  i->capacity = h->capacity;
  i->adapterType = adapter_to_vix (vd_disk_get_adapter (h->disk));
  i->numLinks = (int) vd_disk_get_link_count (h->disk);
  i->logicalSectorSize = VIXDISKLIB_SECTOR_SIZE;
  i->physicalSectorSize = VIXDISKLIB_SECTOR_SIZE;
  parent = vd_disk_get_parent_hint (h->disk);
  uuid = vd_disk_get_uuid (h->disk);
  i->parentFileNameHint = strdup_or_null (parent);
  i->uuid = strdup_or_null (uuid);
  if ((parent && !i->parentFileNameHint) || (uuid && !i->uuid)) {
    VixDiskLib_FreeInfo (i);
    return vix_error (VIX_E_OUT_OF_MEMORY, func, "cannot allocate info");
  }
  *info = i;
  return VIX_OK;
}

VIX_API void
VixDiskLib_FreeInfo (VixDiskLibInfo *info)
{
  if (!info)
    return;
  free (info->parentFileNameHint);
  free (info->uuid);
  free (info);
}

VIX_API const char *
VixDiskLib_GetTransportMode (VixDiskLibHandle diskHandle)
{
  if (check_handle (diskHandle, "VixDiskLib_GetTransportMode") != VIX_OK)
    return VIXDISKLIB_TRANSPORT_FILE;
  return diskHandle->transport;
}

/* ---- I/O ------------------------------------------------------------- */

/* Check a sector range; set *offset and *count in bytes. */
static VixError
check_range (struct VixDiskLibHandleStruct *h, const char *func,
             VixDiskLibSectorType start, VixDiskLibSectorType num,
             const void *buf, uint64 *offset, size_t *count)
{
  if (!buf && num)
    return vix_error (VIX_E_INVALID_ARG, func, "%s: buffer is NULL",
                      vd_disk_get_path (h->disk));
  if (start > h->capacity || num > h->capacity - start)
    return vix_error (VIX_E_DISK_OUTOFRANGE, func,
                      "%s: sectors %llu+%llu are beyond the capacity of "
                      "%llu sectors", vd_disk_get_path (h->disk),
                      (unsigned long long) start, (unsigned long long) num,
                      (unsigned long long) h->capacity);
  if (num > SIZE_MAX / VIXDISKLIB_SECTOR_SIZE)
    return vix_error (VIX_E_INVALID_ARG, func, "%s: %llu sectors is too "
                      "many for one request", vd_disk_get_path (h->disk),
                      (unsigned long long) num);
  *offset = start * VIXDISKLIB_SECTOR_SIZE;
  *count = (size_t) num * VIXDISKLIB_SECTOR_SIZE;
  return VIX_OK;
}

static VixError
do_io (struct VixDiskLibHandleStruct *h, const char *func, int is_write,
       uint8 *buf, size_t count, uint64 offset)
{
  int rc;

  if (count == 0)
    return VIX_OK;
  rc = is_write ? vd_disk_write (h->disk, buf, count, offset)
    : vd_disk_read (h->disk, buf, count, offset);
  return rc < 0 ? vd_to_vix (rc, func) : VIX_OK;
}

VIX_API VixError
VixDiskLib_Read (VixDiskLibHandle diskHandle, VixDiskLibSectorType startSector,
                 VixDiskLibSectorType numSectors, uint8 *readBuffer)
{
  const char *func = "VixDiskLib_Read";
  VixError err = check_handle (diskHandle, func);
  uint64 offset;
  size_t count;

  if (err != VIX_OK)
    return err;
  err = check_range (diskHandle, func, startSector, numSectors, readBuffer,
                     &offset, &count);
  if (err != VIX_OK)
    return err;
  return do_io (diskHandle, func, 0, readBuffer, count, offset);
}

VIX_API VixError
VixDiskLib_Write (VixDiskLibHandle diskHandle,
                  VixDiskLibSectorType startSector,
                  VixDiskLibSectorType numSectors, const uint8 *writeBuffer)
{
  const char *func = "VixDiskLib_Write";
  VixError err = check_handle (diskHandle, func);
  uint64 offset;
  size_t count;

  if (err != VIX_OK)
    return err;
  err = check_range (diskHandle, func, startSector, numSectors, writeBuffer,
                     &offset, &count);
  if (err != VIX_OK)
    return err;
  return do_io (diskHandle, func, 1, (uint8 *) writeBuffer, count, offset);
}

static void
run_request (struct VixDiskLibHandleStruct *h, struct aio_req *r)
{
  VixError err = do_io (h, r->is_write ? "VixDiskLib_WriteAsync"
                        : "VixDiskLib_ReadAsync", r->is_write, r->buf,
                        r->count, r->offset);
  if (r->cb)
    r->cb (r->cb_data, err);
  free (r);
}

static void
request_done (struct VixDiskLibHandleStruct *h)
{
  pthread_mutex_lock (&h->lock);
  if (--h->pending == 0)
    pthread_cond_broadcast (&h->idle_cond);
  pthread_mutex_unlock (&h->lock);
}

static void *
aio_worker (void *arg)
{
  struct VixDiskLibHandleStruct *h = arg;
  struct aio_req *r;

  pthread_mutex_lock (&h->lock);
  for (;;) {
    while (!h->head && !h->stopping)
      pthread_cond_wait (&h->work_cond, &h->lock);
    if (!h->head)
      break;                    /* stopping, queue drained */
    r = h->head;
    h->head = r->next;
    if (!h->head)
      h->tail = NULL;
    pthread_mutex_unlock (&h->lock);
    run_request (h, r);
    pthread_mutex_lock (&h->lock);
    if (--h->pending == 0)
      pthread_cond_broadcast (&h->idle_cond);
  }
  pthread_mutex_unlock (&h->lock);
  return NULL;
}

static void
wait_idle (struct VixDiskLibHandleStruct *h)
{
  pthread_mutex_lock (&h->lock);
  while (h->pending > 0)
    pthread_cond_wait (&h->idle_cond, &h->lock);
  pthread_mutex_unlock (&h->lock);
}

static VixError
queue_io (VixDiskLibHandle diskHandle, const char *func, int is_write,
          VixDiskLibSectorType start, VixDiskLibSectorType num,
          uint8 *buf, VixDiskLibCompletionCB cb, void *cb_data)
{
  struct VixDiskLibHandleStruct *h = diskHandle;
  VixError err = check_handle (h, func);
  struct aio_req *r;
  uint64 offset;
  size_t count;
  int inline_run = 0;

  if (err != VIX_OK)
    return err;
  err = check_range (h, func, start, num, buf, &offset, &count);
  if (err != VIX_OK)
    return err;
  if (is_write && vd_disk_is_read_only (h->disk))
    return vix_error (VIX_E_FILE_READ_ONLY, func,
                      "%s: the disk was opened read-only",
                      vd_disk_get_path (h->disk));
  r = calloc (1, sizeof *r);
  if (!r)
    return vix_error (VIX_E_OUT_OF_MEMORY, func, "cannot queue the request");
  r->is_write = is_write;
  r->offset = offset;
  r->count = count;
  r->buf = buf;
  r->cb = cb;
  r->cb_data = cb_data;

  if (h->stream_writer) {
    /* A stream is written front to back: run its requests here, in the
     * order they are queued (the callback still runs once). */
    pthread_mutex_lock (&h->lock);
    h->pending++;
    pthread_mutex_unlock (&h->lock);
    run_request (h, r);
    request_done (h);
    return VIX_ASYNC;
  }
  pthread_mutex_lock (&h->lock);
  /* Threads start with the first asynchronous request, never earlier. */
  while (h->nthreads < AIO_THREADS && !h->stopping) {
    if (pthread_create (&h->threads[h->nthreads], NULL, aio_worker, h) != 0)
      break;
    h->nthreads++;
  }
  h->pending++;
  if (h->nthreads == 0)
    inline_run = 1;             /* no thread could start: run it here */
  else {
    if (h->tail)
      h->tail->next = r;
    else
      h->head = r;
    h->tail = r;
    pthread_cond_signal (&h->work_cond);
  }
  pthread_mutex_unlock (&h->lock);

  if (inline_run) {
    vix_log (LOG_WARN, "VixDiskLib: %s: no worker thread could be started; "
             "running the request synchronously\n", func);
    run_request (h, r);
    request_done (h);
  }
  return VIX_ASYNC;
}

VIX_API VixError
VixDiskLib_ReadAsync (VixDiskLibHandle diskHandle,
                      VixDiskLibSectorType startSector,
                      VixDiskLibSectorType numSectors, uint8 *readBuffer,
                      VixDiskLibCompletionCB callback, void *cbData)
{
  return queue_io (diskHandle, "VixDiskLib_ReadAsync", 0, startSector,
                   numSectors, readBuffer, callback, cbData);
}

VIX_API VixError
VixDiskLib_WriteAsync (VixDiskLibHandle diskHandle,
                       VixDiskLibSectorType startSector,
                       VixDiskLibSectorType numSectors,
                       const uint8 *writeBuffer,
                       VixDiskLibCompletionCB callback, void *cbData)
{
  return queue_io (diskHandle, "VixDiskLib_WriteAsync", 1, startSector,
                   numSectors, (uint8 *) writeBuffer, callback, cbData);
}

VIX_API VixError
VixDiskLib_Wait (VixDiskLibHandle diskHandle)
{
  VixError err = check_handle (diskHandle, "VixDiskLib_Wait");

  if (err != VIX_OK)
    return err;
  wait_idle (diskHandle);
  return VIX_OK;
}

VIX_API VixError
VixDiskLib_Flush (VixDiskLibHandle diskHandle)
{
  const char *func = "VixDiskLib_Flush";
  VixError err = check_handle (diskHandle, func);
  int rc;

  if (err != VIX_OK)
    return err;
  /* Flush covers every write that completed, including queued ones. */
  wait_idle (diskHandle);
  if (vd_disk_is_read_only (diskHandle->disk))
    return VIX_OK;
  rc = vd_disk_flush (diskHandle->disk);
  return rc < 0 ? vd_to_vix (rc, func) : VIX_OK;
}

/* ---- allocated blocks ------------------------------------------------ */

struct blocks_ctx {
  uint64 chunk;                 /* bytes */
  uint64 end;                   /* bytes, end of the query */
  VixDiskLibBlock *v;
  size_t n, cap;
  int oom;
};

static int
blocks_cb (uint64_t offset, uint64_t length, uint32_t status, void *payload)
{
  struct blocks_ctx *c = payload;
  uint64 first, last;           /* chunk-aligned byte range */

  /* Zeroed grains and holes read as zeros: only DATA is allocated. */
  if (status != VD_STATUS_DATA || length == 0)
    return 0;
  first = offset / c->chunk * c->chunk;
  last = (offset + length + c->chunk - 1) / c->chunk * c->chunk;
  if (last > c->end)
    last = c->end;
  first /= VIXDISKLIB_SECTOR_SIZE;
  last /= VIXDISKLIB_SECTOR_SIZE;
  if (c->n > 0 && c->v[c->n - 1].offset + c->v[c->n - 1].length >= first) {
    VixDiskLibBlock *b = &c->v[c->n - 1];
    if (last > b->offset + b->length)
      b->length = last - b->offset;
    return 0;
  }
  if (c->n == c->cap) {
    size_t ncap = c->cap ? c->cap * 2 : 64;
    VixDiskLibBlock *nv = realloc (c->v, ncap * sizeof *nv);
    if (!nv) {
      c->oom = 1;
      return 1;
    }
    c->v = nv;
    c->cap = ncap;
  }
  c->v[c->n].offset = first;
  c->v[c->n].length = last - first;
  c->n++;
  return 0;
}

VIX_API VixError
VixDiskLib_QueryAllocatedBlocks (VixDiskLibHandle diskHandle,
                                 VixDiskLibSectorType startSector,
                                 VixDiskLibSectorType numSectors,
                                 VixDiskLibSectorType chunkSize,
                                 VixDiskLibBlockList **blockList)
{
  const char *func = "VixDiskLib_QueryAllocatedBlocks";
  struct VixDiskLibHandleStruct *h = diskHandle;
  VixError err = check_handle (h, func);
  struct blocks_ctx c;
  VixDiskLibBlockList *list;
  const char *path;
  size_t i;
  int rc;

  if (err != VIX_OK)
    return err;
  path = vd_disk_get_path (h->disk);
  if (!blockList)
    return vix_error (VIX_E_INVALID_ARG, func, "output pointer is NULL");
  *blockList = NULL;
  if (chunkSize < VIXDISKLIB_MIN_CHUNK_SIZE
      || chunkSize > VIXDISKLIB_MAX_CHUNK_SIZE)
    return vix_error (VIX_E_INVALID_ARG, func,
                      "%s: chunk size %llu sectors is outside %d..%d",
                      path, (unsigned long long) chunkSize,
                      VIXDISKLIB_MIN_CHUNK_SIZE, VIXDISKLIB_MAX_CHUNK_SIZE);
  if (startSector % chunkSize != 0 || numSectors % chunkSize != 0)
    return vix_error (VIX_E_INVALID_ARG, func,
                      "%s: start sector %llu and sector count %llu must be "
                      "multiples of the chunk size %llu", path,
                      (unsigned long long) startSector,
                      (unsigned long long) numSectors,
                      (unsigned long long) chunkSize);
  if (numSectors / chunkSize > VIXDISKLIB_MAX_CHUNK_NUMBER)
    return vix_error (VIX_E_INVALID_ARG, func,
                      "%s: %llu chunks in one query; the limit is %d", path,
                      (unsigned long long) (numSectors / chunkSize),
                      VIXDISKLIB_MAX_CHUNK_NUMBER);
  /* Callers query whole chunks: the last one may run past a capacity
   * that is not a multiple of the chunk size (nbdkit's vddk plugin rounds
   * its last request up).  A range that ends less than one chunk past the
   * capacity is answered up to the capacity; one that starts at or past
   * the capacity, or runs a whole chunk or more past it, is refused. */
  if (numSectors > 0
      && (startSector >= h->capacity
          || numSectors > h->capacity - startSector + (chunkSize - 1)))
    return vix_error (VIX_E_DISK_OUTOFRANGE, func,
                      "%s: sectors %llu+%llu are beyond the capacity of "
                      "%llu sectors (a query may run past it by less than "
                      "one chunk of %llu sectors)", path,
                      (unsigned long long) startSector,
                      (unsigned long long) numSectors,
                      (unsigned long long) h->capacity,
                      (unsigned long long) chunkSize);
  if (startSector > h->capacity)
    return vix_error (VIX_E_DISK_OUTOFRANGE, func,
                      "%s: start sector %llu is beyond the capacity of "
                      "%llu sectors", path, (unsigned long long) startSector,
                      (unsigned long long) h->capacity);
  if (numSectors > h->capacity - startSector)
    numSectors = h->capacity - startSector;   /* clip the last chunk */

  memset (&c, 0, sizeof c);
  c.chunk = chunkSize * VIXDISKLIB_SECTOR_SIZE;
  c.end = (startSector + numSectors) * VIXDISKLIB_SECTOR_SIZE;
  if (numSectors > 0) {
    rc = vd_disk_block_status (h->disk, startSector * VIXDISKLIB_SECTOR_SIZE,
                               numSectors * VIXDISKLIB_SECTOR_SIZE,
                               blocks_cb, &c);
    if (c.oom) {
      free (c.v);
      return vix_error (VIX_E_OUT_OF_MEMORY, func,
                        "%s: cannot allocate the block list", path);
    }
    if (rc < 0) {
      free (c.v);
      return vd_to_vix (rc, func);
    }
  }

  list = malloc (offsetof (VixDiskLibBlockList, blocks)
                 + (c.n ? c.n : 1) * sizeof (VixDiskLibBlock));
  if (!list) {
    free (c.v);
    return vix_error (VIX_E_OUT_OF_MEMORY, func,
                      "%s: cannot allocate the block list", path);
  }
  list->numBlocks = (uint32) c.n;
  for (i = 0; i < c.n; i++)
    list->blocks[i] = c.v[i];
  free (c.v);
  *blockList = list;
  return VIX_OK;
}

VIX_API VixError
VixDiskLib_FreeBlockList (VixDiskLibBlockList *blockList)
{
  free (blockList);
  return VIX_OK;
}

VIX_API struct areas_ctx {
  VixDiskLibBlock *v;
  uint32 n, cap;
  int nomem;
};

static int
area_cb (uint64_t off, uint64_t len, void *payload)
{
  struct areas_ctx *c = payload;
  if (c->n == c->cap) {
    uint32 cap = c->cap ? c->cap * 2 : 64;
    VixDiskLibBlock *nv = cap > c->cap ? realloc (c->v, cap * sizeof *nv) : NULL;
    if (!nv) {
      c->nomem = 1;
      return 1;
    }
    c->v = nv;
    c->cap = cap;
  }
  /* whole sectors covering the area */
  c->v[c->n].offset = off / VIXDISKLIB_SECTOR_SIZE;
  c->v[c->n].length = (off + len + VIXDISKLIB_SECTOR_SIZE - 1)
                      / VIXDISKLIB_SECTOR_SIZE - off / VIXDISKLIB_SECTOR_SIZE;
  c->n++;
  return 0;
}

/* The areas written since params->changeId, from vdisk's changed block
 * tracking (vd_disk_query_changed_areas; "*" lists every allocated area).
 * An ID of another tracking epoch is VIX_E_FILE_ERROR, as VMware's
 * FileFault: the caller takes a full copy. */
VIX_API VixError
VixDiskLib_QueryChangedAreas (VixDiskLibHandle diskHandle,
                              const VixDiskLibQueryChangedAreaParams *params,
                              VixDiskLibDiskChangeInfo **changeInfo)
{
  const char *func = "VixDiskLib_QueryChangedAreas";
  struct VixDiskLibHandleStruct *h = diskHandle;
  VixError err = check_handle (h, func);
  struct areas_ctx c = { NULL, 0, 0, 0 };
  if (changeInfo)
    *changeInfo = NULL;
  if (err != VIX_OK)
    return err;
  if (!params || !params->changeId || !changeInfo)
    return vix_error (VIX_E_INVALID_ARG, func, "parameters, change ID or "
                      "output pointer is NULL");
  if (params->startOffset > h->capacity)
    return vix_error (VIX_E_DISK_OUTOFRANGE, func, "%s: start sector %llu is "
                      "beyond the capacity of %llu sectors",
                      vd_disk_get_path (h->disk),
                      (unsigned long long) params->startOffset,
                      (unsigned long long) h->capacity);
  VixDiskLibSectorType len = params->length ? params->length
                             : h->capacity - params->startOffset;
  if (len > h->capacity - params->startOffset)
    len = h->capacity - params->startOffset;
  int rc = vd_disk_query_changed_areas (h->disk, params->changeId,
                                        params->startOffset
                                        * VIXDISKLIB_SECTOR_SIZE,
                                        len * VIXDISKLIB_SECTOR_SIZE,
                                        area_cb, &c);
  if (rc == 0 && c.nomem)
    rc = VD_ENOMEM;
  if (rc < 0) {
    free (c.v);
    if (rc == VD_EPARENT || rc == VD_ENOENT)
      return vix_error (VIX_E_FILE_ERROR, func, "%s",
                        vd_last_error ()->message);
    return vd_to_vix (rc, func);
  }
  VixDiskLibDiskChangeInfo *ci = calloc (1, sizeof *ci);
  if (!ci) {
    free (c.v);
    return vix_error (VIX_E_OUT_OF_MEMORY, func, "change info");
  }
  ci->startOffset = params->startOffset;
  ci->length = len;
  ci->numAreas = c.n;
  ci->areas = c.v;
  *changeInfo = ci;
  return VIX_OK;
}

VIX_API void
VixDiskLib_FreeChangedAreas (VixDiskLibDiskChangeInfo *changeInfo)
{
  if (!changeInfo)
    return;
  free (changeInfo->areas);
  free (changeInfo);
}

/* ---- metadata -------------------------------------------------------- */

#define DDB "ddb."

/* "adapterType" -> "ddb.adapterType" (a key already starting with "ddb."
 * is taken as is). */
static char *
ddb_key (const char *key)
{
  char *k;

  if (!strncmp (key, DDB, strlen (DDB)))
    return strdup (key);
  k = malloc (strlen (DDB) + strlen (key) + 1);
  if (k) {
    strcpy (k, DDB);
    strcat (k, key);
  }
  return k;
}

static const char *
strip_ddb (const char *key)
{
  return strncmp (key, DDB, strlen (DDB)) ? key : key + strlen (DDB);
}

VIX_API VixError
VixDiskLib_GetMetadataKeys (VixDiskLibHandle diskHandle, char *keysBuffer,
                            size_t bufLen, size_t *requiredLen)
{
  const char *func = "VixDiskLib_GetMetadataKeys";
  struct VixDiskLibHandleStruct *h = diskHandle;
  VixError err = check_handle (h, func);
  unsigned i, n;
  size_t need = 1, pos = 0;

  if (err != VIX_OK)
    return err;
  n = vd_disk_get_meta_count (h->disk);
  for (i = 0; i < n; i++) {
    const char *k = vd_disk_get_meta_key (h->disk, i);
    if (k)
      need += strlen (strip_ddb (k)) + 1;
  }
  if (requiredLen)
    *requiredLen = need;
  if (!keysBuffer || bufLen < need)
    return VIX_E_BUFFER_TOOSMALL;  /* the size protocol, not a failure */
  for (i = 0; i < n; i++) {
    const char *k = vd_disk_get_meta_key (h->disk, i);
    size_t l;
    if (!k)
      continue;
    k = strip_ddb (k);
    l = strlen (k) + 1;
    memcpy (keysBuffer + pos, k, l);
    pos += l;
  }
  keysBuffer[pos] = '\0';
  return VIX_OK;
}

VIX_API VixError
VixDiskLib_ReadMetadata (VixDiskLibHandle diskHandle, const char *key,
                         char *buf, size_t bufLen, size_t *requiredLen)
{
  const char *func = "VixDiskLib_ReadMetadata";
  struct VixDiskLibHandleStruct *h = diskHandle;
  VixError err = check_handle (h, func);
  const char *val;
  char *k;
  size_t need;

  if (err != VIX_OK)
    return err;
  if (!key || !*key)
    return vix_error (VIX_E_INVALID_ARG, func, "the key is empty");
  struct vd_cbt_info ci;
  if (strcmp (key, "changeId") == 0) {
    /* Not a ddb key: the disk's current change ID, for the
     * QueryChangedAreas of the next backup (vdisk's tracking). */
    if (vd_disk_get_cbt (h->disk, &ci) < 0 || ci.state != VD_CBT_ON)
      return vix_error (VIX_E_DISK_KEY_NOTFOUND, func, "%s: changed block "
                        "tracking is not on, so there is no changeId",
                        vd_disk_get_path (h->disk));
    val = ci.change_id;
  }
  else {
    if (!(k = ddb_key (key)))
      return vix_error (VIX_E_OUT_OF_MEMORY, func, "out of memory");
    val = vd_disk_get_meta (h->disk, k);
    free (k);
  }
  if (!val)
    return vix_error (VIX_E_DISK_KEY_NOTFOUND, func,
                      "%s: the disk database has no key \"%s\"",
                      vd_disk_get_path (h->disk), key);
  need = strlen (val) + 1;
  if (requiredLen)
    *requiredLen = need;
  if (!buf || bufLen < need)
    return VIX_E_BUFFER_TOOSMALL;
  memcpy (buf, val, need);
  return VIX_OK;
}

VIX_API VixError
VixDiskLib_WriteMetadata (VixDiskLibHandle diskHandle, const char *key,
                          const char *val)
{
  const char *func = "VixDiskLib_WriteMetadata";
  struct VixDiskLibHandleStruct *h = diskHandle;
  VixError err = check_handle (h, func);
  char *k;
  int rc;

  if (err != VIX_OK)
    return err;
  if (!key || !*key)
    return vix_error (VIX_E_INVALID_ARG, func, "the key is empty");
  if (!(k = ddb_key (key)))
    return vix_error (VIX_E_OUT_OF_MEMORY, func, "out of memory");
  /* VDDK cannot delete keys: NULL is stored as an empty value. */
  rc = vd_disk_set_meta (h->disk, k, val ? val : "");
  free (k);
  return rc < 0 ? vd_to_vix (rc, func) : VIX_OK;
}

/* ---- create, clone, check -------------------------------------------- */

static VixError
fill_create_params (struct vd_create_params *p,
                    const VixDiskLibCreateParams *cp, const char *func,
                    const char *path)
{
  vd_create_params_init (p);
  if (type_from_vix (cp->diskType, &p->type) < 0)
    return vix_error (VIX_E_INVALID_ARG, func, "%s: disk type %d is not "
                      "valid", path, (int) cp->diskType);
  if (adapter_from_vix (cp->adapterType, &p->adapter) < 0)
    return vix_error (VIX_E_INVALID_ARG, func, "%s: adapter type %d is not "
                      "valid", path, (int) cp->adapterType);
  if ((cp->logicalSectorSize && cp->logicalSectorSize != 512)
      || (cp->physicalSectorSize && cp->physicalSectorSize != 512))
    return vix_error (VIX_E_NOT_SUPPORTED, func, "%s: sector sizes %u/%u: "
                      "vdisk supports only 512-byte sectors", path,
                      cp->logicalSectorSize, cp->physicalSectorSize);
  if (cp->hwVersion)
    p->hw_version = cp->hwVersion;
  return VIX_OK;
}

VIX_API VixError
VixDiskLib_Create (const VixDiskLibConnection connection, const char *path,
                   const VixDiskLibCreateParams *createParams,
                   VixDiskLibProgressFunc progressFunc,
                   void *progressCallbackData)
{
  const char *func = "VixDiskLib_Create";
  struct vd_create_params p;
  VixError err;
  int rc;

  if ((err = check_conn (connection, func)) != VIX_OK)
    return err;
  if (!path || !*path || !createParams)
    return vix_error (VIX_E_INVALID_ARG, func,
                      "the path or the create parameters are missing");
  if ((err = fill_create_params (&p, createParams, func, path)) != VIX_OK)
    return err;
  if (createParams->capacity == 0
      || createParams->capacity > UINT64_MAX / VIXDISKLIB_SECTOR_SIZE)
    return vix_error (VIX_E_INVALID_ARG, func, "%s: capacity of %llu "
                      "sectors is not valid", path,
                      (unsigned long long) createParams->capacity);
  p.capacity = createParams->capacity * VIXDISKLIB_SECTOR_SIZE;
  if (progressFunc)
    progressFunc (progressCallbackData, 0);
  rc = vd_disk_create (path, &p);
  if (rc < 0)
    return vd_to_vix (rc, func);
  if (progressFunc)
    progressFunc (progressCallbackData, 100);
  vix_log (LOG_INFO, "VixDiskLib: created %s (%s, %llu sectors)\n", path,
           vd_type_name (p.type), (unsigned long long) createParams->capacity);
  return VIX_OK;
}

struct progress_ctx {
  VixDiskLibProgressFunc fn;
  void *data;
  int last;                     /* last percentage reported */
};

static int
progress_adapter (uint64_t done, uint64_t total, void *payload)
{
  struct progress_ctx *c = payload;
  int pct;

  if (!c->fn)
    return 0;
  pct = total ? (int) (done >= total ? 100 : done * 100 / total) : 100;
  if (pct == c->last)
    return 0;
  c->last = pct;
  return c->fn (c->data, pct) ? 0 : 1;   /* FALSE from the caller: cancel */
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
  struct progress_ctx *pc;
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
    if (progress_adapter (r->done, r->total, r->pc)) {
      r->rc = VD_ECANCELED;
      return 1;
    }
  }
  return 0;
}

static VixError
remote_clone (const struct VixDiskLibConnectParam *c, const char *dstPath,
              vd_disk *src, const struct vd_create_params *p,
              struct progress_ctx *pc, const char *func)
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
  uri = remote_uri (c, export);
  free (export);
  if (!uri)
    return vix_error (VIX_E_OUT_OF_MEMORY, func, "URI");
  rc = vd_disk_open (&r.dst, uri, 0);
  free (uri);
  if (rc < 0)    /* the server's reason: exists, folder, quota, name */
    return remote_error (rc, func, c);
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

VIX_API VixError
VixDiskLib_Clone (const VixDiskLibConnection dstConnection,
                  const char *dstPath,
                  const VixDiskLibConnection srcConnection,
                  const char *srcPath,
                  const VixDiskLibCreateParams *vixCreateParams,
                  VixDiskLibProgressFunc progressFunc,
                  void *progressCallbackData, Bool overWrite)
{
  const char *func = "VixDiskLib_Clone";
  struct progress_ctx pc = { progressFunc, progressCallbackData, -1 };
  struct vd_create_params p;
  vd_disk *src;
  VixError err;
  int rc;

  if ((err = check_conn (dstConnection, func)) != VIX_OK
      || (err = check_conn (srcConnection, func)) != VIX_OK)
    return err;
  if (!dstPath || !*dstPath || !srcPath || !*srcPath || !vixCreateParams)
    return vix_error (VIX_E_INVALID_ARG, func,
                      "source, destination or create parameters missing");
  if ((err = fill_create_params (&p, vixCreateParams, func, dstPath))
      != VIX_OK)
    return err;
  if (overWrite)
    p.flags |= VD_CREATE_OVERWRITE;

  if (srcConnection->remote) {
    char *uri = remote_uri (srcConnection, srcPath);
    rc = uri ? vd_disk_open (&src, uri, VD_OPEN_READ_ONLY) : VD_ENOMEM;
    free (uri);
    if (rc < 0)
      return remote_error (rc, func, srcConnection);
  }
  else {
    rc = vd_disk_open (&src, srcPath,
                       (uint32_t) open_flags (VIXDISKLIB_FLAG_OPEN_READ_ONLY,
                                              srcConnection));
    if (rc < 0)
      return vd_to_vix (rc, func);
  }
  if (dstConnection->remote) {
    err = remote_clone (dstConnection, dstPath, src, &p, &pc, func);
    vd_disk_close (src);
    if (err == VIX_OK && progressFunc && pc.last != 100)
      progressFunc (progressCallbackData, 100);
    return err;
  }
  rc = vd_disk_convert (src, dstPath, &p, progress_adapter, &pc);
  if (rc < 0) {
    err = vd_to_vix (rc, func);
    vd_disk_close (src);
    return err;
  }
  vd_disk_close (src);
  if (progressFunc && pc.last != 100)
    progressFunc (progressCallbackData, 100);
  vix_log (LOG_INFO, "VixDiskLib: cloned %s to %s (%s)\n", srcPath, dstPath,
           vd_type_name (p.type));
  return VIX_OK;
}

struct check_ctx {
  uint64 reported;
};

static void
check_message (int severity, const char *message, void *payload)
{
  struct check_ctx *c = payload;

  c->reported++;
  vix_log (severity == VD_CHECK_SEVERITY_INFO ? LOG_INFO : LOG_WARN,
           "VixDiskLib: check: %s\n", message);
}

VIX_API VixError
VixDiskLib_CheckRepair (const VixDiskLibConnection connection,
                        const char *filename, Bool repair)
{
  const char *func = "VixDiskLib_CheckRepair";
  struct vd_check_result res;
  struct check_ctx c = { 0 };
  VixError err;
  int rc;

  if ((err = check_conn (connection, func)) != VIX_OK)
    return err;
  if (!filename || !*filename)
    return vix_error (VIX_E_INVALID_ARG, func, "the file name is empty");
  memset (&res, 0, sizeof res);
  res.struct_size = sizeof res;
  rc = vd_check (filename,
                 (uint32_t) open_flags (VIXDISKLIB_FLAG_OPEN_READ_ONLY,
                                        connection),
                 &res, check_message, &c);
  if (rc < 0)
    return vd_to_vix (rc, func);
  if (res.corruptions > 0) {
    if (repair)
      return vix_error (VIX_E_DISK_CANTREPAIR, func,
                        "%s: %llu corruptions found; vdisk cannot repair "
                        "disks yet (repair is not supported)", filename,
                        (unsigned long long) res.corruptions);
    return vix_error (VIX_E_DISK_NEEDSREPAIR, func,
                      "%s: %llu corruptions found", filename,
                      (unsigned long long) res.corruptions);
  }
  if (res.leaks > 0)
    vix_log (LOG_WARN, "VixDiskLib: %s: %llu leaked grains (no data is "
             "lost)%s\n", filename, (unsigned long long) res.leaks,
             repair ? "; vdisk cannot reclaim them yet" : "");
  vix_log (LOG_INFO, "VixDiskLib: %s: check done: %llu grains allocated, "
           "%llu warnings%s\n", filename, (unsigned long long) res.allocated,
           (unsigned long long) res.warnings,
           res.unclean ? ", unclean shutdown flag set" : "");
  return VIX_OK;
}

/* ---- not supported yet ----------------------------------------------- */

/* A redo log over the open parent.  The parent handle refuses writes from
 * then on (they would break the child). */
VIX_API VixError
VixDiskLib_CreateChild (VixDiskLibHandle diskHandle, const char *childPath,
                        VixDiskLibDiskType diskType,
                        VixDiskLibProgressFunc progressFunc,
                        void *progressCallbackData)
{
  const char *func = "VixDiskLib_CreateChild";
  struct VixDiskLibHandleStruct *h = diskHandle;
  VixError err = check_handle (h, func);
  enum vd_type type;
  int rc;

  if (err != VIX_OK)
    return err;
  if (!childPath || !*childPath)
    return vix_error (VIX_E_INVALID_ARG, func, "the child path is empty");
  if (diskType == VIXDISKLIB_DISK_MONOLITHIC_SPARSE)
    type = VD_TYPE_MONOLITHIC_SPARSE;
  else if (diskType == VIXDISKLIB_DISK_SPLIT_SPARSE)
    type = VD_TYPE_SPLIT_SPARSE;
  else
    return vix_error (VIX_E_NOT_SUPPORTED, func, "%s: child disk type %d: "
                      "vdisk makes hosted sparse children only "
                      "(MONOLITHIC_SPARSE or SPLIT_SPARSE)", childPath,
                      (int) diskType);
  /* Let queued writes reach the parent before it is frozen. */
  wait_idle (h);
  if (progressFunc)
    progressFunc (progressCallbackData, 0);
  rc = vd_disk_create_child (h->disk, childPath, type, 0);
  if (rc < 0)
    return vd_to_vix (rc, func);
  if (progressFunc)
    progressFunc (progressCallbackData, 100);
  vix_log (LOG_INFO, "VixDiskLib: created child %s of %s\n", childPath,
           vd_disk_get_path (h->disk));
  return VIX_OK;
}

/* ---- disk management (libvdisk manage.c) ------------------------------ */

struct vix_progress {
  VixDiskLibProgressFunc fn;
  void *data;
  int last;
};

static int
vix_progress_cb (uint64_t done, uint64_t total, void *payload)
{
  struct vix_progress *v = payload;
  int pct;
  if (!v->fn || total == 0)
    return 0;
  pct = (int) (done * 100 / total);
  if (pct == v->last)
    return 0;
  v->last = pct;
  return v->fn (v->data, pct) ? 0 : 1;   /* FALSE cancels */
}

static int
local_flags (uint32 vix_flags)
{
  struct VixDiskLibConnectParam c;
  memset (&c, 0, sizeof c);
  return open_flags (vix_flags, &c);
}

static int
is_local (const struct VixDiskLibHandleStruct *h)
{
  return strcmp (h->transport, VIXDISKLIB_TRANSPORT_FILE) == 0;
}

VIX_API VixError
VixDiskLib_SpaceNeededForClone (VixDiskLibHandle diskHandle,
                                VixDiskLibDiskType cloneDiskType,
                                uint64 *spaceNeeded)
{
  const char *func = "VixDiskLib_SpaceNeededForClone";
  struct VixDiskLibHandleStruct *h = diskHandle;
  VixError err = check_handle (h, func);
  enum vd_type type;
  uint64_t bytes = 0;
  int rc;

  if (err != VIX_OK)
    return err;
  if (!spaceNeeded)
    return vix_error (VIX_E_INVALID_ARG, func, "spaceNeeded is NULL");
  *spaceNeeded = 0;
  if (type_from_vix (cloneDiskType, &type) < 0)
    return vix_error (VIX_E_INVALID_ARG, func, "unknown disk type %d",
                      (int) cloneDiskType);
  wait_idle (h);
  rc = vd_disk_space_needed (h->disk, type, &bytes);
  if (rc < 0)
    return vd_to_vix (rc, func);
  *spaceNeeded = bytes;
  return VIX_OK;
}

VIX_API VixError
VixDiskLib_Grow (VixDiskLibConnection connection, const char *path,
                 VixDiskLibSectorType capacityInSectors, Bool updateGeometry,
                 VixDiskLibProgressFunc progressFunc,
                 void *progressCallbackData)
{
  const char *func = "VixDiskLib_Grow";
  struct vix_progress vp = { progressFunc, progressCallbackData, -1 };
  VixError err;
  int rc;

  if ((err = check_conn (connection, func)) != VIX_OK)
    return err;
  if (connection->remote)
    return not_supported (func, "growing a disk over the network");
  if (!path || !*path)
    return vix_error (VIX_E_INVALID_ARG, func, "the disk path is empty");
  if (capacityInSectors == 0
      || capacityInSectors > UINT64_MAX / VIXDISKLIB_SECTOR_SIZE)
    return vix_error (VIX_E_INVALID_ARG, func, "%s: bad capacity %llu "
                      "sectors", path, (unsigned long long) capacityInSectors);
  rc = vd_disk_grow (path, capacityInSectors * VIXDISKLIB_SECTOR_SIZE,
                     ((uint32_t) local_flags (0) & VD_OPEN_TRUSTED)
                     | (updateGeometry ? VD_GROW_UPDATE_GEOMETRY : 0),
                     vix_progress_cb, &vp);
  return rc < 0 ? vd_to_vix (rc, func) : VIX_OK;
}

/* Shrink and Defragment work on closed disks: the handle's disk is closed,
 * rewritten and opened again with the same flags. */
static VixError
rewrite_open_disk (VixDiskLibHandle diskHandle, int defrag,
                   VixDiskLibProgressFunc progressFunc, void *data)
{
  const char *func = defrag ? "VixDiskLib_Defragment" : "VixDiskLib_Shrink";
  struct VixDiskLibHandleStruct *h = diskHandle;
  struct vix_progress vp = { progressFunc, data, -1 };
  VixError err = check_handle (h, func);
  uint32_t f;
  char *path;
  int rc, rc2;

  if (err != VIX_OK)
    return err;
  if (!is_local (h))
    return not_supported (func, "rewriting a disk over the network");
  /* allowed on read-only handles too: the content does not change */
  wait_idle (h);
  path = strdup (vd_disk_get_path (h->disk));
  if (!path)
    return vix_error (VIX_E_OUT_OF_MEMORY, func, "path");
  f = (uint32_t) local_flags (h->flags);
  vd_disk_close (h->disk);
  h->disk = NULL;
  rc = defrag ? vd_disk_defragment (path, f & VD_OPEN_TRUSTED,
                                    vix_progress_cb, &vp)
              : vd_disk_shrink (path, f & VD_OPEN_TRUSTED, vix_progress_cb,
                                &vp);
  err = rc < 0 ? vd_to_vix (rc, func) : VIX_OK;
  rc2 = vd_disk_open (&h->disk, path, f);
  if (rc2 == VD_EPARENT && !(f & VD_OPEN_READ_ONLY))
    /* a child made from this handle: writes stay refused */
    rc2 = vd_disk_open (&h->disk, path, f | VD_OPEN_READ_ONLY);
  if (rc2 < 0) {
    /* the handle cannot be used any more */
    h->disk = NULL;
    h->magic = 0;
    err = vd_to_vix (rc2, func);
  }
  free (path);
  return err;
}

VIX_API VixError
VixDiskLib_Shrink (VixDiskLibHandle diskHandle,
                   VixDiskLibProgressFunc progressFunc,
                   void *progressCallbackData)
{
  return rewrite_open_disk (diskHandle, 0, progressFunc,
                            progressCallbackData);
}

VIX_API VixError
VixDiskLib_Defragment (VixDiskLibHandle diskHandle,
                       VixDiskLibProgressFunc progressFunc,
                       void *progressCallbackData)
{
  return rewrite_open_disk (diskHandle, 1, progressFunc,
                            progressCallbackData);
}

VIX_API VixError
VixDiskLib_Rename (const char *srcFileName, const char *dstFileName)
{
  const char *func = "VixDiskLib_Rename";
  int rc;
  if (!srcFileName || !*srcFileName || !dstFileName || !*dstFileName)
    return vix_error (VIX_E_INVALID_ARG, func, "empty file name");
  rc = vd_disk_rename (srcFileName, dstFileName,
                       (uint32_t) local_flags (0) & VD_OPEN_TRUSTED);
  return rc < 0 ? vd_to_vix (rc, func) : VIX_OK;
}

VIX_API VixError
VixDiskLib_Unlink (VixDiskLibConnection connection, const char *path)
{
  const char *func = "VixDiskLib_Unlink";
  VixError err;
  int rc;
  if ((err = check_conn (connection, func)) != VIX_OK)
    return err;
  if (connection->remote)
    return not_supported (func, "deleting a disk over the network");
  if (!path || !*path)
    return vix_error (VIX_E_INVALID_ARG, func, "the disk path is empty");
  rc = vd_disk_unlink (path, (uint32_t) local_flags (0) & VD_OPEN_TRUSTED);
  return rc < 0 ? vd_to_vix (rc, func) : VIX_OK;
}

static VixError
attach_check (struct VixDiskLibHandleStruct *p,
              struct VixDiskLibHandleStruct *c, const char *func)
{
  VixError err;
  if ((err = check_handle (p, func)) != VIX_OK
      || (err = check_handle (c, func)) != VIX_OK)
    return err;
  if (!is_local (p) || !is_local (c))
    return not_supported (func, "attaching disks over the network");
  if (p == c || strcmp (vd_disk_get_path (p->disk),
                        vd_disk_get_path (c->disk)) == 0)
    return vix_error (VIX_E_INVALID_ARG, func, "%s: a disk cannot be its "
                      "own parent", vd_disk_get_path (c->disk));
  if (vd_disk_get_size (p->disk) != vd_disk_get_size (c->disk))
    return vix_error (VIX_E_DISK_CAPACITY_MISMATCH, func, "%s: capacity "
                      "differs from the parent %s",
                      vd_disk_get_path (c->disk), vd_disk_get_path (p->disk));
  if (!vd_disk_get_parent_hint (c->disk))
    return vix_error (VIX_E_INVALID_ARG, func, "%s: is a base disk, not a "
                      "child", vd_disk_get_path (c->disk));
  return VIX_OK;
}

/* The child is re-parented onto the parent (vd_disk_attach on the closed
 * child), then opened again: its handle reads the new chain. */
VIX_API VixError
VixDiskLib_Attach (VixDiskLibHandle parent, VixDiskLibHandle child)
{
  const char *func = "VixDiskLib_Attach";
  struct VixDiskLibHandleStruct *p = parent, *c = child;
  VixError err = attach_check (p, c, func);
  char *cpath, *ppath;
  uint32_t f;
  int rc, rc2;

  if (err != VIX_OK)
    return err;
  wait_idle (c);
  wait_idle (p);
  cpath = strdup (vd_disk_get_path (c->disk));
  ppath = strdup (vd_disk_get_path (p->disk));
  if (!cpath || !ppath) {
    free (cpath);
    free (ppath);
    return vix_error (VIX_E_OUT_OF_MEMORY, func, "path");
  }
  f = (uint32_t) local_flags (c->flags);
  vd_disk_close (c->disk);
  c->disk = NULL;
  rc = vd_disk_attach (cpath, ppath, f & VD_OPEN_TRUSTED);
  err = rc < 0 ? vd_to_vix (rc, func) : VIX_OK;
  rc2 = vd_disk_open (&c->disk, cpath, f);
  if (rc2 < 0) {
    c->disk = NULL;
    c->magic = 0;
    err = vd_to_vix (rc2, func);
  }
  free (cpath);
  free (ppath);
  return err;
}

VIX_API VixError
VixDiskLib_IsAttachPossible (VixDiskLibHandle parent, VixDiskLibHandle child)
{
  return attach_check (parent, child, "VixDiskLib_IsAttachPossible");
}
