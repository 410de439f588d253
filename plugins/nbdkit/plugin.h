/* nbdkit-vdisk-plugin: private header shared by the plugin's files.
 *
 *   vdisk.c          the plugin table, configuration, the table of open
 *                    disks, open/close, the data callbacks; all of the
 *                    plugin's process-wide state is defined there
 *   datastore.c      export-name rules, resolve, the datastore scan and
 *                    the export checks, list_exports, quotas
 *   create-export.c  "create:TYPE[,OPTIONS]:BYTES:PATH" and the
 *                    incomplete marker of a disk created over NBD
 *   meta-export.c    the text exports "meta:", "meta-set:" and "status:"
 *   scan-cache.c     the datastore scan kept between opens while
 *                    nothing it read changed
 *   fcd-export.c     "fcd:ID[@SSID]": a first class disk of the
 *                    datastore's catalog by its UUID (a snapshot: read-only)
 *
 * Written against the public libvdisk API only.  The objects are built
 * with -fvisibility=hidden: only nbdkit's plugin_init is exported.
 */
#ifndef VDISK_PLUGIN_H
#define VDISK_PLUGIN_H

#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <vdisk/vdisk.h>

/* ---- error reporting ---------------------------------------------------
 * nbdkit 1.32 answers a refused NBD_OPT_GO with NBD_REP_ERR_UNKNOWN and no
 * text, so a client cannot tell "exists" from "quota".  Every message and
 * errno the plugin gives nbdkit is also kept for the calling thread
 * (last_msg, last_errno); a refused open is then recorded and served by
 * the status: export (meta-export.c).  The macros route the plugin's
 * calls there. */
void report_error (const char *fmt, ...)
  __attribute__ ((format (printf, 1, 2)));
void report_errno (int err);
#define nbdkit_error report_error
#define nbdkit_set_error report_errno

/* Report the last libvdisk error to nbdkit; returns -1. */
int plugin_fail (void);

#define STR_(x) #x
#define STR(x) STR_(x)

#define MAX_NAME 1024           /* bytes of an export name */
#define MAX_DEPTH 8             /* folder depth walked for list_exports */
#define MAX_LISTED 10000        /* disks listed at most */
#define MAX_FILES 100000        /* directory entries looked at */
/* The ddb key that marks a disk created over NBD until its final flush
 * and close (a crashed or interrupted upload stays marked). */
#define INCOMPLETE_KEY "ddb.vdisk.incomplete"

/* ---- open disks, shared by the connections to one export ------------ */

struct entry {
  struct entry *next;
  char *path;                   /* full canonical path */
  char *create_name;            /* the create: export that made it */
  vd_disk *disk;
  unsigned refs;
  int rw;                       /* the handle is writable */
  int created;                  /* made by this server: clear the mark */
  pthread_mutex_t mu;           /* write/flush generations */
  uint64_t wgen, fgen;          /* last write, last flushed write */
  uint64_t flushes;             /* successful flushes */
  int failed;
};

/* create: exports this server made whose disks are still incomplete.  A
 * client may connect to the same create: name again (nbdinfo asks
 * NBD_OPT_INFO before NBD_OPT_GO; an interrupted upload resumes) and gets
 * the disk it made rather than a refusal. */
struct made {
  struct made *next;
  char *name, *path;
};

struct handle {
  struct entry *e;
  int can_write;
  char *text;                   /* meta:, meta-set:, status: exports */
  size_t text_len;
};

/* A refused open, answered by status: (meta-export.c). */
#define FAIL_SLOTS 64           /* refusals remembered */
struct failure {
  char *export;
  char peer[64];
  int err;
  char *msg;
  time_t when;
};

/* ---- process-wide state (defined in vdisk.c) ------------------------- */

/* configuration, set before the server starts */
extern char *datastore;         /* canonical folder */
extern char *ds_name;           /* optional "[name]" the exports may carry */
extern char *default_name;      /* export served for "" */
extern uint64_t quota_capacity; /* per created disk, 0: unlimited */
extern uint64_t quota_free;     /* bytes that must stay free */
extern uint64_t quota_disks;    /* disks in the datastore, 0: unlimited */
extern int allow_create;
extern uint64_t max_listed;     /* exports listed at most: MAX_LISTED, or
                                   lower (VDISK_PLUGIN_MAX_LISTED, tests) */

extern pthread_mutex_t table_lock;
extern struct entry *table;     /* open disks, under table_lock */
extern struct made *made_list;  /* under table_lock */
extern struct failure failures[FAIL_SLOTS];  /* under fail_lock */
extern pthread_mutex_t fail_lock;
extern pthread_mutex_t scan_lock;  /* the cached scan */
extern struct scan *scan_cached;   /* under scan_lock, or NULL */
extern pthread_mutex_t meta_lock;  /* meta-set: and meta text, one at a time */
extern __thread char last_msg[512];  /* the thread's last error message */
extern __thread int last_errno;      /* and errno */

/* ---- the datastore (datastore.c) ------------------------------------- */

struct fid {
  dev_t dev;
  ino_t ino;
};

struct ref {
  struct fid file;              /* the file named */
  size_t owner;                 /* index in cands of the naming file */
  int kind;                     /* VD_REF_* */
};

struct cand {
  char *rel;                    /* path inside the datastore */
  struct fid id;
  int kind;                     /* VD_DESC_* */
  nlink_t nlink;
};

/* What a scan read: a folder or a .vmdk file, as it was (scan cache). */
struct stamp {
  char *rel;                    /* path inside the datastore, "" the top */
  struct fid id;
  struct timespec mtime, ctime;
  off_t size;
  nlink_t nlink;
};

/* Every .vmdk file of the datastore and what its descriptor names. */
struct scan {
  struct ref *refs;
  size_t n_refs, cap_refs;
  struct cand *cands;
  size_t n_cands, cap_cands;
  char **dangling;              /* named but absent: full paths */
  size_t n_dangling, cap_dangling;
  size_t files;
  int err;                      /* out of memory */
  int truncated;                /* more than MAX_FILES entries */
  /* the scan cache (datastore.c) */
  struct stamp *stamps;         /* every folder and .vmdk file read */
  size_t n_stamps, cap_stamps;
  int no_cache;                 /* may not be reused (see scan_datastore) */
  struct timespec taken;        /* CLOCK_MONOTONIC at the start */
  struct timespec real;         /* CLOCK_REALTIME at the start */
  unsigned users;               /* the cached copy: its holders */
  unsigned long seq;            /* the cached copy: its scans_begun */
  struct scan *shared;          /* a caller's view of the cached copy */
};

int same_fid (struct fid a, struct fid b);
/* The identity of path (not followed), or { 0, 0 }. */
struct fid path_fid (const char *path);

/* Resolve an export name to a full path inside the datastore (malloc'd;
 * NULL with the error reported).  must_exist: the file must exist and no
 * component may be a symlink; otherwise the folder must exist (without
 * symlinks) and the file must not. */
char *resolve (const char *export, int must_exist);
/* name without an optional "[datastore] " prefix (which must name this
 * datastore when --datastore-name was given); NULL: another datastore. */
const char *strip_datastore (const char *name);
/* path (a full path) relative to the datastore when it begins with
 * "DATASTORE/": what follows (may be empty), else NULL.  Only the
 * prefix: no file is looked at. */
const char *inside_datastore (const char *path);

/* Read the datastore into *s (0), or report the error (-1).  The last
 * scan is reused while nothing it read changed (scan_datastore says
 * when); scan_free releases *s either way. */
int scan_datastore (struct scan *s);
void scan_free (struct scan *s);
/* Drop the cached scan (unload). */
void scan_cache_drop (void);
/* scan-cache.c's parts of the scan (datastore.c): read the datastore
 * afresh (scan_read, 0 or -1 reported), free what a scan holds, and
 * note a folder or .vmdk file it read (scan_stamp; rel is copied). */
int scan_read (struct scan *s);
void scan_free_arrays (struct scan *s);
void scan_stamp (struct scan *s, const char *rel, const struct stat *st);

/* The export check before opening: path (canonical, inside the
 * datastore) must be a disk's descriptor that no disk uses as an extent
 * or tracking file.  *ro is set when a disk names it as its parent. */
int export_check (const char *path, const struct scan *s, int *ro);

/* Open path and check what was opened (every link and extent); on
 * failure the disk is closed and NULL returned. */
vd_disk *open_verified (const char *path, uint32_t flags,
                        const struct scan *s);

/* Quotas: may a disk of capacity bytes (fully allocated when prealloc)
 * be created?  Reads the datastore into *s: 0 (the caller frees *s), or
 * -1 reported (nothing to free). */
int quota_check_create (const char *export, uint64_t capacity, int prealloc,
                        struct scan *s);
/* May count more bytes be written (quota-free)?  0, or -1 reported. */
int quota_check_write (uint32_t count);

int vdisk_list_exports (int readonly, int is_tls,
                        struct nbdkit_exports *exports);
const char *vdisk_default_export (int readonly, int is_tls);

/* ---- open disks (vdisk.c) -------------------------------------------- */

/* A new entry for an opened disk, in the table (table_lock held); takes
 * path and disk, or returns NULL (ENOMEM set) and takes nothing. */
struct entry *new_entry (char *path, vd_disk *disk, int rw);

/* Open an existing disk export (table_lock held). */
struct entry *open_existing (const char *export, int readonly);

/* Open a disk export (the plugin's open, after the text exports). */
void *vdisk_open (int readonly);
void vdisk_close (void *handle);

/* ---- create: exports (create-export.c) ------------------------------- */

/* "create:TYPE[,OPTION...]:BYTES:PATH" (table_lock held). */
struct entry *open_create (const char *export, int readonly);

/* At the last close of a disk this server created: clear its incomplete
 * mark if every write was flushed and nothing failed. */
void finish_created (struct entry *e);

/* Forget the create: exports made (unload). */
void free_made_list (void);

/* ---- first class disks (fcd-export.c) -------------------------------- */

/* Is export (after an optional "[datastore] " prefix) "fcd:..."? */
int is_fcd_export (const char *export);
/* Open "fcd:ID[@SSID]" (table_lock held): the FCD's top link, or the
 * snapshot's link with *readonly set.  The link is then opened as the
 * export of its path inside the datastore, with every check of such an
 * export. */
struct entry *open_fcd (const char *export, int *readonly);
/* Add "fcd:ID" for every FCD of the datastore's catalog and
 * "fcd:ID@SSID" for every snapshot (list_exports), while *listed stays
 * below max_listed (a longer list is cut, logged once).  The catalog is
 * opened read-only: listing changes nothing.  No catalog is no error; 0, or -1 (nbdkit's add
 * failed). */
int list_fcd_exports (struct nbdkit_exports *exports, uint64_t *listed);

/* ---- text exports (meta-export.c) ------------------------------------ */

void *open_meta (const char *export, int readonly);
void *open_status (const char *export);
/* Remember the calling thread's last error as the refusal of export. */
void record_failure (const char *export);
void free_failures (void);

#endif
