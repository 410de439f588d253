/* nbdkit-vdisk-plugin: serve the VMDK disks (and chains) of one folder,
 * a "datastore", over NBD.  Written against the public libvdisk API only.
 *
 * An export name is a disk path inside the datastore ("vm/disk.vmdk", or
 * VDDK's "[datastore] vm/disk.vmdk").  Reserved, never-listed forms:
 * "create:TYPE[,OPTIONS]:BYTES:PATH" creates a new disk and serves it
 * writable (create-export.c); "meta:PATH" and "meta-set:KEY=VALUE:PATH"
 * read and set its disk database; "status:EXPORT" says why an open of
 * EXPORT was refused (meta-export.c).  Which files may be exports is
 * decided in datastore.c.  See nbdkit-vdisk-plugin(1).
 *
 * This file: the plugin table, the configuration, the table of open
 * disks, open and close, the data callbacks, and all of the plugin's
 * process-wide state (nbdkit plugins are process-wide by design). */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <unistd.h>

#include "plugin.h"

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

/* ---- process-wide state ------------------------------------------------ */

/* configuration (set before the server starts) */
char *datastore;                /* canonical folder */
char *ds_name;                  /* optional "[name]" the exports may carry */
char *default_name;             /* export served for "" */
uint64_t quota_capacity;        /* per created disk, 0: unlimited */
uint64_t quota_free;            /* bytes that must stay free */
uint64_t quota_disks;           /* disks in the datastore, 0: unlimited */
int allow_create = 1;
uint64_t max_listed = MAX_LISTED;

/* open disks, shared by the connections to one export */
pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
struct entry *table;
struct made *made_list;         /* create: exports still incomplete */

/* refusals answered by status:, and meta-set: one at a time */
struct failure failures[FAIL_SLOTS];
pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t meta_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t scan_lock = PTHREAD_MUTEX_INITIALIZER;
struct scan *scan_cached;

/* the calling thread's last error, for status: */
__thread char last_msg[512];
__thread int last_errno;

/* ---- errors ------------------------------------------------------------ */

static int
plugin_errno (int code)
{
  switch (code) {
  case VD_EINVAL: return EINVAL;
  case VD_ENOMEM: return ENOMEM;
  case VD_ENOTSUP: return EOPNOTSUPP;
  case VD_ENOENT: return ENOENT;
  case VD_EROFS: return EROFS;
  case VD_ELOCKED: return EBUSY;
  case VD_EEXIST: return EEXIST;
  case VD_ENOSPC: return ENOSPC;
  default: return EIO;
  }
}

/* Report the last libvdisk error to nbdkit; returns -1. */
int
plugin_fail (void)
{
  const struct vd_error *err = vd_last_error ();
  nbdkit_error ("vdisk: %s", err->message && err->message[0]
                ? err->message : vd_strerror (err->code));
  nbdkit_set_error (plugin_errno (err->code));
  return -1;
}


/* ---- configuration ----------------------------------------------------- */

static void
vdisk_unload (void)
{
  free_made_list ();
  scan_cache_drop ();
  free (datastore);
  free (ds_name);
  free (default_name);
}

static int
parse_bytes (const char *key, const char *value, uint64_t *out)
{
  int64_t v = nbdkit_parse_size (value);
  if (v < 0) {
    nbdkit_error ("%s: could not parse size '%s'", key, value);
    return -1;
  }
  *out = (uint64_t) v;
  return 0;
}

static int
vdisk_config (const char *key, const char *value)
{
  if (strcmp (key, "dir") == 0) {
    free (datastore);
    datastore = nbdkit_realpath (value);
    if (!datastore)
      return -1;
  }
  else if (strcmp (key, "datastore") == 0) {
    free (ds_name);
    ds_name = strdup (value);
  }
  else if (strcmp (key, "default") == 0) {
    free (default_name);
    default_name = strdup (value);
  }
  else if (strcmp (key, "quota-capacity") == 0)
    return parse_bytes (key, value, &quota_capacity);
  else if (strcmp (key, "quota-free") == 0)
    return parse_bytes (key, value, &quota_free);
  else if (strcmp (key, "quota-disks") == 0) {
    if (nbdkit_parse_uint64_t (key, value, &quota_disks) < 0)
      return -1;
  }
  else if (strcmp (key, "create") == 0) {
    int b = nbdkit_parse_bool (value);
    if (b < 0)
      return -1;
    allow_create = b;
  }
  else {
    nbdkit_error ("unknown parameter '%s'", key);
    return -1;
  }
  return 0;
}

static int
vdisk_config_complete (void)
{
  struct stat st;
  if (!datastore) {
    nbdkit_error ("you must give the datastore folder: dir=FOLDER");
    return -1;
  }
  if (stat (datastore, &st) < 0 || !S_ISDIR (st.st_mode)) {
    nbdkit_error ("%s: not a folder", datastore);
    return -1;
  }
  /* for tests only: a lower cap of list_exports, so that a cut list is
   * tested without 10000 disks */
  const char *ml = getenv ("VDISK_PLUGIN_MAX_LISTED");
  if (ml) {
    char *end;
    unsigned long long v = strtoull (ml, &end, 10);
    if (end != ml && !*end && v > 0 && v < MAX_LISTED)
      max_listed = v;
  }
  return 0;
}

#define vdisk_config_help \
  "dir=<FOLDER>         (required) The datastore folder to serve.\n" \
  "datastore=<NAME>     Accept only '[NAME] path' datastore prefixes.\n" \
  "default=<PATH>       The disk served for the empty export name.\n" \
  "quota-capacity=<SIZE> Largest disk a client may create.\n" \
  "quota-free=<SIZE>    Space that must stay free after a create.\n" \
  "quota-disks=<N>      Most disks the datastore may hold.\n" \
  "create=false         Refuse creating disks remotely."

/* ---- open / close ------------------------------------------------------ */

/* The open entry of this file: same path, or same inode. */
static struct entry *
find_entry (const char *path)
{
  struct fid f = path_fid (path);
  for (struct entry *e = table; e; e = e->next)
    if (strcmp (e->path, path) == 0
        || (f.ino && same_fid (f, path_fid (e->path))))
      return e;
  return NULL;
}

struct entry *
new_entry (char *path, vd_disk *disk, int rw)
{
  struct entry *e = calloc (1, sizeof *e);
  if (!e) {
    nbdkit_set_error (ENOMEM);
    return NULL;
  }
  e->path = path;
  e->disk = disk;
  e->rw = rw;
  e->refs = 1;
  pthread_mutex_init (&e->mu, NULL);
  e->next = table;
  table = e;
  return e;
}

/* Open an existing disk (table_lock held). */
struct entry *
open_existing (const char *export, int readonly)
{
  char *path = resolve (export, 1);
  struct entry *e;
  struct scan s;
  vd_disk *d;
  int rw = !readonly, parent = 0;

  if (!path)
    return NULL;
  if (scan_datastore (&s) < 0) {
    free (path);
    return NULL;
  }
  if (export_check (path, &s, &parent) < 0) {
    scan_free (&s);
    free (path);
    return NULL;
  }
  e = find_entry (path);
  if (e) {
    /* Share the open handle; one that had to fall back to read-only
     * (a disk with a child) stays read-only for everyone. */
    scan_free (&s);
    if (parent) {
      /* a child appeared since it was opened: no more writes */
      pthread_mutex_lock (&e->mu);
      e->rw = 0;
      pthread_mutex_unlock (&e->mu);
    }
    e->refs++;
    free (path);
    return e;
  }
  if (parent) {
    /* A disk another disk names as its parent: a write would break the
     * child (whatever its parentCID says), so never writable. */
    nbdkit_debug ("%s: serving read-only: a disk names it as its parent",
                  path);
    rw = 0;
  }
  d = open_verified (path, rw ? 0 : VD_OPEN_READ_ONLY, &s);
  if (!d && rw) {
    int code = vd_last_error ()->code;
    /* A disk with a child, or a layout vdisk only reads: serve it
     * read-only rather than not at all. */
    if (code != VD_EPARENT && code != VD_EROFS && code != VD_ENOTSUP) {
      if (code != VD_OK)
        plugin_fail ();
      scan_free (&s);
      free (path);
      return NULL;
    }
    nbdkit_debug ("%s: serving read-only: %s", path,
                  vd_last_error ()->message);
    d = open_verified (path, VD_OPEN_READ_ONLY, &s);
    rw = 0;
  }
  /* a refusal by verify_open was reported; a library error was not */
  if (!d && vd_last_error ()->code != VD_OK)
    plugin_fail ();
  scan_free (&s);
  if (!d) {
    free (path);
    return NULL;
  }
  if (rw && vd_disk_is_read_only (d))
    rw = 0;
  e = new_entry (path, d, rw);
  if (!e) {
    vd_disk_close (d);
    free (path);
  }
  return e;
}

void *
vdisk_open (int readonly)
{
  const char *export = nbdkit_export_name ();
  struct handle *h;
  struct entry *e;

  if (!export)
    export = "";
  if (export[0] == '\0') {
    if (!default_name) {
      nbdkit_error ("no export name given: name a disk inside the "
                    "datastore (list them with nbdinfo --list)");
      nbdkit_set_error (ENOENT);
      return NULL;
    }
    export = default_name;
  }
  h = calloc (1, sizeof *h);
  if (!h) {
    nbdkit_set_error (ENOMEM);
    return NULL;
  }
  pthread_mutex_lock (&table_lock);
  if (strncmp (export, "create:", 7) == 0)
    e = open_create (export, readonly);
  else if (is_fcd_export (export))
    e = open_fcd (export, &readonly);
  else
    e = open_existing (export, readonly);
  pthread_mutex_unlock (&table_lock);
  if (!e) {
    free (h);
    return NULL;
  }
  h->e = e;
  h->can_write = e->rw && !readonly;
  return h;
}

void
vdisk_close (void *handle)
{
  struct handle *h = handle;
  struct entry *e = h->e, **pp;

  pthread_mutex_lock (&table_lock);
  if (--e->refs == 0) {
    for (pp = &table; *pp != e; pp = &(*pp)->next)
      ;
    *pp = e->next;
    if (e->created)
      finish_created (e);
    if (vd_disk_close (e->disk) < 0)
      nbdkit_error ("%s: close: %s", e->path, vd_last_error ()->message);
    pthread_mutex_destroy (&e->mu);
    free (e->path);
    free (e->create_name);
    free (e);
  }
  pthread_mutex_unlock (&table_lock);
  free (h);
}

/* ---- data ------------------------------------------------------------- */

static int64_t
vdisk_get_size (void *handle)
{
  struct handle *h = handle;
  return (int64_t) vd_disk_get_size (h->e->disk);
}

static int
vdisk_block_size (void *handle, uint32_t *minimum, uint32_t *preferred,
                  uint32_t *maximum)
{
  struct handle *h = handle;
  struct vd_extent_info info;
  *minimum = 1;
  *preferred = 4096;
  *maximum = 0xffffffff;
  if (vd_disk_get_extent (h->e->disk, 0, &info) == 0
      && info.grain_size >= 512 && info.grain_size <= 32 * 1024 * 1024
      && (info.grain_size & (info.grain_size - 1)) == 0)
    *preferred = (uint32_t) info.grain_size;
  return 0;
}

static const char *
vdisk_export_description (void *handle)
{
  struct handle *h = handle;
  const char *t = vd_disk_get_create_type (h->e->disk);
  return nbdkit_printf_intern ("%s%s", t ? t : "vmdk",
                               h->can_write ? "" : " (read-only)");
}

static int
vdisk_can_write (void *handle)
{
  return ((struct handle *) handle)->can_write;
}

static int
vdisk_can_flush (void *handle)
{
  (void) handle;
  return 1;
}

static int
vdisk_can_fua (void *handle)
{
  (void) handle;
  return NBDKIT_FUA_NATIVE;
}

static int
vdisk_can_trim (void *handle)
{
  return ((struct handle *) handle)->can_write;
}

static int
vdisk_can_zero (void *handle)
{
  (void) handle;
  return 1;
}

static int
vdisk_can_fast_zero (void *handle)
{
  (void) handle;
  return 0;
}

static int
vdisk_can_extents (void *handle)
{
  (void) handle;
  return 1;
}

/* Connections to one export share one handle, so a flush on any of them
 * covers the writes of all of them. */
static int
vdisk_can_multi_conn (void *handle)
{
  (void) handle;
  return 1;
}

static int
vdisk_can_cache (void *handle)
{
  (void) handle;
  return NBDKIT_CACHE_EMULATE;
}

static int
vdisk_pread (void *handle, void *buf, uint32_t count, uint64_t offset,
             uint32_t flags)
{
  struct handle *h = handle;
  (void) flags;
  if (vd_disk_read (h->e->disk, buf, count, offset) < 0)
    return plugin_fail ();
  return 0;
}

/* Count a write about to happen; refused once the entry is read-only
 * (a disk found to have a child while connections were open). */
static int
mark_write (struct entry *e)
{
  int rw;
  pthread_mutex_lock (&e->mu);
  rw = e->rw;
  if (rw)
    e->wgen++;
  pthread_mutex_unlock (&e->mu);
  if (!rw) {
    nbdkit_error ("%s: read-only: a disk names it as its parent", e->path);
    nbdkit_set_error (EROFS);
    return -1;
  }
  return 0;
}

static int
mark_failed (struct entry *e)
{
  pthread_mutex_lock (&e->mu);
  e->failed = 1;
  pthread_mutex_unlock (&e->mu);
  return plugin_fail ();
}

static int
do_flush (struct entry *e)
{
  uint64_t gen;
  pthread_mutex_lock (&e->mu);
  gen = e->wgen;
  pthread_mutex_unlock (&e->mu);
  if (vd_disk_flush (e->disk) < 0)
    return mark_failed (e);
  pthread_mutex_lock (&e->mu);
  if (gen > e->fgen)
    e->fgen = gen;
  e->flushes++;
  pthread_mutex_unlock (&e->mu);
  return 0;
}

static int
vdisk_pwrite (void *handle, const void *buf, uint32_t count,
              uint64_t offset, uint32_t flags)
{
  struct handle *h = handle;
  if (quota_check_write (count) < 0)
    return -1;
  if (mark_write (h->e) < 0)
    return -1;
  if (vd_disk_write (h->e->disk, buf, count, offset) < 0)
    return mark_failed (h->e);
  if (flags & NBDKIT_FLAG_FUA)
    return do_flush (h->e);
  return 0;
}

static int
vdisk_zero (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  struct handle *h = handle;
  if (flags & NBDKIT_FLAG_FAST_ZERO) {
    nbdkit_set_error (ENOTSUP);
    return -1;
  }
  if (mark_write (h->e) < 0)
    return -1;
  if (vd_disk_zero (h->e->disk, count, offset) < 0)
    return mark_failed (h->e);
  if (flags & NBDKIT_FLAG_FUA)
    return do_flush (h->e);
  return 0;
}

/* A trim may leave anything behind; zeroing releases what the layout
 * can release and gives reads of zeros. */
static int
vdisk_trim (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  return vdisk_zero (handle, count, offset, flags & NBDKIT_FLAG_FUA);
}

static int
vdisk_flush (void *handle, uint32_t flags)
{
  struct handle *h = handle;
  (void) flags;
  return do_flush (h->e);
}

struct extents_ctx {
  struct nbdkit_extents *extents;
  int req_one;
  int err;
};

static int
extent_cb (uint64_t offset, uint64_t length, uint32_t status, void *payload)
{
  struct extents_ctx *x = payload;
  uint32_t type = 0;
  if (status == VD_STATUS_ZERO)
    type = NBDKIT_EXTENT_ZERO;
  else if (status == VD_STATUS_HOLE)
    type = NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO;
  if (nbdkit_add_extent (x->extents, offset, length, type) < 0) {
    x->err = 1;
    return 1;
  }
  return x->req_one;
}

static int
vdisk_extents (void *handle, uint32_t count, uint64_t offset,
               uint32_t flags, struct nbdkit_extents *extents)
{
  struct handle *h = handle;
  struct extents_ctx x = { extents, (flags & NBDKIT_FLAG_REQ_ONE) != 0, 0 };
  if (vd_disk_block_status (h->e->disk, offset, count, extent_cb, &x) < 0)
    return plugin_fail ();
  return x.err ? -1 : 0;
}

/* ---- the plugin: text exports first, then disks ------------------------ */

/* The plugin's open: reserved text exports here, disks in vdisk_open;
 * every refusal is recorded for status:. */
static void *
reserved_open (int readonly)
{
  const char *export = nbdkit_export_name ();
  void *h;

  last_msg[0] = '\0';
  last_errno = 0;
  if (!export)
    export = "";
  if (strncmp (export, "status:", 7) == 0)
    return open_status (export);
  if (strncmp (export, "meta:", 5) == 0
      || strncmp (export, "meta-set:", 9) == 0)
    h = open_meta (export, readonly);
  else
    h = vdisk_open (readonly);
  if (!h)
    record_failure (export);
  return h;
}

static void
reserved_close (void *handle)
{
  struct handle *h = handle;
  free (h->text);
  h->text = NULL;
  if (h->e)
    vdisk_close (h);
  else
    free (h);
}

static void
reserved_unload (void)
{
  free_failures ();
  vdisk_unload ();
}

static int64_t
reserved_get_size (void *handle)
{
  struct handle *h = handle;
  return h->text ? (int64_t) h->text_len : vdisk_get_size (handle);
}

static int
reserved_block_size (void *handle, uint32_t *minimum, uint32_t *preferred,
                     uint32_t *maximum)
{
  struct handle *h = handle;
  if (!h->text)
    return vdisk_block_size (handle, minimum, preferred, maximum);
  *minimum = 1;
  *preferred = 4096;
  *maximum = 0xffffffff;
  return 0;
}

static const char *
reserved_export_description (void *handle)
{
  struct handle *h = handle;
  return h->text ? "vdisk text (read-only)"
    : vdisk_export_description (handle);
}

static int
reserved_can_flush (void *handle)
{
  return ((struct handle *) handle)->text ? 0 : vdisk_can_flush (handle);
}

static int
reserved_can_extents (void *handle)
{
  return ((struct handle *) handle)->text ? 0 : vdisk_can_extents (handle);
}

static int
reserved_pread (void *handle, void *buf, uint32_t count, uint64_t offset,
                uint32_t flags)
{
  struct handle *h = handle;
  if (!h->text)
    return vdisk_pread (handle, buf, count, offset, flags);
  if (offset > h->text_len || count > h->text_len - offset) {
    nbdkit_set_error (EINVAL);
    return -1;
  }
  memcpy (buf, h->text + offset, count);
  return 0;
}

static struct nbdkit_plugin plugin = {
  .name = "vdisk",
  .longname = "nbdkit VMDK plugin (libvdisk)",
  .version = VD_VERSION_STRING,
  .unload = reserved_unload,
  .config = vdisk_config,
  .config_complete = vdisk_config_complete,
  .config_help = vdisk_config_help,
  .magic_config_key = "dir",
  .list_exports = vdisk_list_exports,
  .default_export = vdisk_default_export,
  .open = reserved_open,
  .close = reserved_close,
  .get_size = reserved_get_size,
  .block_size = reserved_block_size,
  .export_description = reserved_export_description,
  .can_write = vdisk_can_write,
  .can_flush = reserved_can_flush,
  .can_fua = vdisk_can_fua,
  .can_trim = vdisk_can_trim,
  .can_zero = vdisk_can_zero,
  .can_fast_zero = vdisk_can_fast_zero,
  .can_extents = reserved_can_extents,
  .can_multi_conn = vdisk_can_multi_conn,
  .can_cache = vdisk_can_cache,
  .pread = reserved_pread,
  .pwrite = vdisk_pwrite,
  .flush = vdisk_flush,
  .trim = vdisk_trim,
  .zero = vdisk_zero,
  .extents = vdisk_extents,
  .errno_is_preserved = 0,
};

NBDKIT_REGISTER_PLUGIN (plugin)

/* ---- error reporting (see plugin.h) ------------------------------------ */

#undef nbdkit_error
#undef nbdkit_set_error

void
report_error (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (last_msg, sizeof last_msg, fmt, ap);
  va_end (ap);
  nbdkit_error ("%s", last_msg);
}

void
report_errno (int err)
{
  last_errno = err;
  nbdkit_set_error (err);
}
