/* libvixDiskLib: a VixDiskLib-compatible layer over libvdisk (private
 * header shared by the files of compat/vixdisklib).
 *
 * Written only against the public native API (vdisk/vdisk.h).  Local
 * (hosted) disks are opened as files; a connection that names a server
 * reaches a `vdisk serve` datastore over NBD (remote.c).
 *
 * The files, by concern:
 *   errors.c     VixError texts, the recent-error ring, GetErrorText,
 *                vd_to_vix (native error -> VixError)
 *   lifecycle.c  Init/InitEx/Exit, the config file, the log hooks, the
 *                registry of open handles (all process-wide state)
 *   connect.c    connect parameters, local connections, PrepareForAccess,
 *                EndAccess, Cleanup
 *   remote.c     NBD URIs, remote connect, remote clone
 *   vsphere.c    ESXi / vCenter connections (SOAP, datastore file service),
 *                their disks, changed areas, clone onto them, FCDs by ID
 *   handle.c     Open/OpenEx/Close/GetInfo, metadata keys
 *   io.c         sync and async I/O, worker threads, Wait, Flush,
 *                QueryAllocatedBlocks, QueryChangedAreas
 *   manage.c     Create, Clone, CreateChild, Attach, Grow, Shrink,
 *                Defragment, Rename, Unlink, SpaceNeeded, CheckRepair
 *
 * State: the library keeps a per-process init count and the log callbacks
 * (guarded by one mutex), a small ring of recent error messages so that
 * GetErrorText can explain an error that a completion callback received
 * on a worker thread, and the list of open disk handles.  VixDiskLib's
 * Init/Exit are process-wide by definition (no context is passed), so the
 * list is process-wide too: the last Exit flushes and closes every handle
 * still open (a program that exits without Close keeps its writes), and
 * so does the library's destructor at process exit.  Handles inherited
 * through fork() belong to the parent and are never touched by the child.
 * No thread is started before the first asynchronous I/O on a handle, so
 * Init is safe before fork().
 *
 * Every function declared here has hidden visibility (the objects are
 * built with -fvisibility=hidden, and libvixDiskLib.syms exports only
 * VixDiskLib_*); only VIX_API marks a VixDiskLib entry point.
 */
#ifndef VDISK_COMPAT_VIX_H
#define VDISK_COMPAT_VIX_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "vdisk/vdisk.h"
#include "vdisk/vixDiskLib.h"

#define VIX_API __attribute__((visibility ("default")))

#define HANDLE_MAGIC 0x56495848u  /* "VIXH" */
#define HANDLE_CLOSED 0x56495843u /* "VIXC": closed by Exit, not freed */
#define CONN_MAGIC 0x5649584du    /* "VIXM" */
#define AIO_THREADS 4
#define ERR_MSG_MAX 1024

/* ---- connections (connect.c, remote.c) ------------------------------- */

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
  struct vix_vsphere *vsphere;     /* vSphere connections (vsphere.c) */
};

/* ---- disk handles (handle.c, io.c) ----------------------------------- */

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
  const char *transport;           /* "file", "nbdssl", "nbd", "https" */
  struct vix_vs_disk *vs;          /* a vSphere disk (vsphere.c) or NULL */

  pthread_mutex_t lock;
  pthread_cond_t work_cond;        /* a request was queued, or stop */
  pthread_cond_t idle_cond;        /* pending reached 0 */
  struct aio_req *head, *tail;
  unsigned pending;                /* queued + running */
  unsigned nthreads;
  int stopping;
  pthread_t threads[AIO_THREADS];
};

/* ---- errors (errors.c) ----------------------------------------------- */

/* Record an error (the message says what happened, prefixed with func),
 * log it as a warning and return code. */
VixError vix_error (VixError code, const char *func, const char *fmt, ...)
  __attribute__((format (printf, 3, 4)));

/* VIX_E_NOT_SUPPORTED: "WHAT is not supported by vdisk's libvixDiskLib". */
VixError vix_not_supported (const char *func, const char *what);

/* Translate the native library's last error (rc, a VD_E* code) into a
 * VixError, keeping its message in VDDK terms. */
VixError vd_to_vix (int rc, const char *func);

/* ---- lifecycle and process state (lifecycle.c) ----------------------- */

enum { LOG_INFO, LOG_WARN, LOG_PANIC };

/* To the log, warning or panic hook given to Init (stderr for warnings
 * when none was given and VDISK_VIX_DEBUG is set). */
void vix_log (int level, const char *fmt, ...)
  __attribute__((format (printf, 2, 3)));

/* Whether Init/InitEx has been called more often than Exit. */
int vix_is_initialized (void);

/* Whether vdisk.trustedPaths (config file) or VDISK_VIX_TRUSTED is set. */
int vix_trusted (void);

/* The registry of open handles, and closing all of them (Exit, process
 * exit). */
void vix_register_handle (struct VixDiskLibHandleStruct *h);
void vix_unregister_handle (struct VixDiskLibHandleStruct *h);

/* ---- connections (connect.c) ----------------------------------------- */

/* VIX_E_DISK_INVALID_CONNECTION unless c is a live connection. */
VixError vix_check_conn (const struct VixDiskLibConnectParam *c,
                         const char *func);

/* Whether the parameters name a server (serverName set). */
int vix_is_remote (const VixDiskLibConnectParams *p);

/* A new connection holding a deep copy of p (magic set, psk_fd -1, not
 * remote); NULL when out of memory.  Freed by VixDiskLib_Disconnect. */
struct VixDiskLibConnectParam *vix_conn_new (const VixDiskLibConnectParams *p,
                                             Bool readOnly);

/* ---- remote connections (remote.c) ----------------------------------- */

VixError vix_remote_connect (const VixDiskLibConnectParams *p, Bool readOnly,
                             const char *snapshotRef,
                             const char *transportModes,
                             VixDiskLibConnection *connection);

/* The NBD URI of export name on connection c (malloc'd, NULL when out of
 * memory). */
char *vix_remote_uri (const struct VixDiskLibConnectParam *c,
                      const char *export);

/* Open export on connection c read-only when vd_flags has
 * VD_OPEN_READ_ONLY (other flags do not apply over NBD). */
VixError vix_remote_open (const struct VixDiskLibConnectParam *c,
                          const char *export, uint32_t vd_flags,
                          vd_disk **disk, const char *func);

/* A failed NBD connection or open (rc from libvdisk) as a VixError. */
VixError vix_remote_error (int rc, const char *func,
                           const struct VixDiskLibConnectParam *c);

struct vix_progress;
/* Clone the open disk src to dstPath on the remote datastore of c. */
VixError vix_remote_clone (const struct VixDiskLibConnectParam *c,
                           const char *dstPath, vd_disk *src,
                           const struct vd_create_params *p,
                           struct vix_progress *pc, const char *func);

/* ---- handles (handle.c) ---------------------------------------------- */

/* VIX_E_INVALID_ARG unless h is an open handle (a handle closed by Exit
 * says so). */
VixError vix_check_handle (const struct VixDiskLibHandleStruct *h,
                           const char *func);

/* VD_OPEN_* flags for VIXDISKLIB_FLAG_OPEN_* flags on connection c (the
 * trusted opt-in included); vix_local_flags for a local connection. */
int vix_open_flags (uint32 vix_flags, const struct VixDiskLibConnectParam *c);
int vix_local_flags (uint32 vix_flags);

/* The disk path names on connection c, whatever the connection reaches
 * (vSphere, a first class disk, a `vdisk serve` datastore, a local file):
 * the one open dispatch of Open and Clone.  *vs: a vSphere disk's data
 * or NULL; *name: what to log (path or the first class disk's ID). */
struct vix_vs_disk;
VixError vix_open_source (const struct VixDiskLibConnectParam *c,
                          const char *path, uint32 vix_flags, vd_disk **disk,
                          struct vix_vs_disk **vs, const char **name,
                          const char *func);

/* Whether the handle's disk is a local file (transport "file"). */
int vix_is_local (const struct VixDiskLibHandleStruct *h);

/* Finish the queued I/O, stop the workers and close the disk (its tables
 * and footer are written).  The handle's memory stays.  Returns the
 * result of vd_disk_close. */
int vix_shutdown_handle (struct VixDiskLibHandleStruct *h);

/* ---- I/O (io.c) ------------------------------------------------------ */

/* Wait until no asynchronous request of h is queued or running. */
void vix_wait_idle (struct VixDiskLibHandleStruct *h);

/* ---- progress (manage.c) --------------------------------------------- */

/* Progress of a libvdisk operation as a VixDiskLibProgressFunc: the
 * percentage is reported when it changes (a total of 0 is 100%), and the
 * caller's FALSE cancels the operation. */
/* fcd.c: connections whose spec is VIXDISKLIB_SPEC_VSTORAGE_OBJECT (a
 * first class disk of the local FCD catalog). */
int vix_fcd_spec (const VixDiskLibConnectParams *p);
VixError vix_fcd_open (const struct VixDiskLibConnectParam *c,
                       const char *path, uint32_t vd_flags, vd_disk **disk);
VixError vix_fcd_access (const VixDiskLibConnectParams *p, const char *func,
                         int disabled);
/* A remote (`vdisk serve`) connection whose spec is a vStorageObjSpec:
 * Open reaches the server's export "[datastoreMoRef] fcd:ID[@SSID]". */
int vix_fcd_remote (const struct VixDiskLibConnectParam *c);
VixError vix_fcd_remote_open (const struct VixDiskLibConnectParam *c,
                              const char *path, uint32_t vd_flags,
                              vd_disk **disk);

/* vsphere.c: connections to ESXi or vCenter (the remote rule: serverName
 * and port 443, a vmxSpec "moref=...", a thumbPrint, or
 * VDISK_VIX_REMOTE=vsphere), their disks read through the datastore file
 * service (transport "https").  Hooks: ConnectEx, Disconnect, Cleanup
 * (connect.c), Open, Close, ReadMetadata (handle.c), Write and
 * QueryChangedAreas (io.c), Clone (manage.c). */
struct vix_progress;
int vix_vsphere_wanted (const VixDiskLibConnectParams *p);
VixError vix_vsphere_connect (const VixDiskLibConnectParams *p, Bool readOnly,
                              const char *snapshotRef,
                              const char *transportModes,
                              VixDiskLibConnection *connection);
void vix_vsphere_disconnect (struct VixDiskLibConnectParam *c);
VixError vix_vsphere_cleanup (const VixDiskLibConnectParams *p,
                              uint32 *numCleanedUp, uint32 *numRemaining);
/* Open path (or the connection's first class disk) read-only; *vs gets
 * what QueryChangedAreas and ReadMetadata("changeId") need. */
VixError vix_vsphere_open (const struct VixDiskLibConnectParam *c,
                           const char *path, uint32 vix_flags,
                           vd_disk **disk, struct vix_vs_disk **vs,
                           const char *func);
void vix_vs_disk_free (struct vix_vs_disk *vs);
const char *vix_vsphere_change_id (const struct VixDiskLibHandleStruct *h);
VixError vix_vsphere_changed_areas (struct VixDiskLibHandleStruct *h,
                                    const VixDiskLibQueryChangedAreaParams *q,
                                    VixDiskLibDiskChangeInfo **changeInfo);
/* Clone the local srcPath onto the datastore of dst as dstPath. */
VixError vix_vsphere_clone_to (const struct VixDiskLibConnectParam *dst,
                               const char *dstPath,
                               const struct VixDiskLibConnectParam *src,
                               const char *srcPath, Bool overWrite,
                               struct vix_progress *pc, const char *func);

struct vix_progress {
  VixDiskLibProgressFunc fn;
  void *data;
  int last;                     /* last percentage reported, or -1 */
};
int vix_progress_cb (uint64_t done, uint64_t total, void *payload);

#endif
