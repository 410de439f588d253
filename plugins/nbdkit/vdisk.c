/* nbdkit-vdisk-plugin: serve the VMDK disks (and chains) of one folder,
 * a "datastore", over NBD.  Written against the public libvdisk API only.
 *
 * An export name is a disk path inside the datastore ("vm/disk.vmdk", or
 * VDDK's "[datastore] vm/disk.vmdk").  Reserved, never-listed forms:
 * "create:TYPE[,OPTIONS]:BYTES:PATH" creates a new disk and serves it
 * writable; "meta:PATH" and "meta-set:KEY=VALUE:PATH" read and set its
 * disk database; "status:EXPORT" says why an open of EXPORT was refused.
 * See nbdkit-vdisk-plugin(1). */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <vdisk/vdisk.h>

/* ---- error reporting ---------------------------------------------------
 * nbdkit 1.32 answers a refused NBD_OPT_GO with NBD_REP_ERR_UNKNOWN and no
 * text, so a client cannot tell "exists" from "quota".  Every message and
 * errno this file gives nbdkit is also kept for the calling thread; a
 * refused open is then recorded and served by the status: export (see
 * "reserved exports" below).  The macros route this file's calls here. */
static __thread char last_msg[512];
static __thread int last_errno;

static void report_error (const char *fmt, ...)
  __attribute__ ((format (printf, 1, 2)));
static void
report_error (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (last_msg, sizeof last_msg, fmt, ap);
  va_end (ap);
  nbdkit_error ("%s", last_msg);
}

static void
report_errno (int err)
{
  last_errno = err;
  nbdkit_set_error (err);
}
#define nbdkit_error report_error
#define nbdkit_set_error report_errno

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

#define STR_(x) #x
#define STR(x) STR_(x)
#define VERSION_STRING \
  STR (VD_VERSION_MAJOR) "." STR (VD_VERSION_MINOR) "." STR (VD_VERSION_MICRO)

#define MAX_NAME 1024           /* bytes of an export name */
#define MAX_DEPTH 8             /* folder depth walked for list_exports */
#define MAX_LISTED 10000        /* disks listed at most */
/* The ddb key that marks a disk created over NBD until its final flush
 * and close (a crashed or interrupted upload stays marked). */
#define INCOMPLETE_KEY "ddb.vdisk.incomplete"

/* ---- configuration (set before the server starts) ------------------- */

static char *datastore;         /* canonical folder */
static char *ds_name;           /* optional "[name]" the exports may carry */
static char *default_name;      /* export served for "" */
static uint64_t quota_capacity; /* per created disk, 0: unlimited */
static uint64_t quota_free;     /* bytes that must stay free */
static uint64_t quota_disks;    /* disks in the datastore, 0: unlimited */
static int allow_create = 1;

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

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry *table;

/* create: exports this server made whose disks are still incomplete.  A
 * client may connect to the same create: name again (nbdinfo asks
 * NBD_OPT_INFO before NBD_OPT_GO; an interrupted upload resumes) and gets
 * the disk it made rather than a refusal. */
struct made {
  struct made *next;
  char *name, *path;
};
static struct made *made_list;

struct handle {
  struct entry *e;
  int can_write;
  char *text;                   /* meta:, meta-set:, status: exports */
  size_t text_len;
};

static int
vd_errno (int code)
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
static int
vd_fail (void)
{
  const struct vd_error *err = vd_last_error ();
  nbdkit_error ("vdisk: %s", err->message && err->message[0]
                ? err->message : vd_strerror (err->code));
  nbdkit_set_error (vd_errno (err->code));
  return -1;
}

static void
vdisk_unload (void)
{
  while (made_list) {
    struct made *m = made_list;
    made_list = m->next;
    free (m->name);
    free (m->path);
    free (m);
  }
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

/* ---- export names ----------------------------------------------------- */

static int
name_char_ok (unsigned char c)
{
  return isalnum (c) || strchr (" ._-+()~,@=", c) != NULL;
}

/* Check a disk name relative to the datastore: components of allowed
 * characters, none empty or starting with '.', ending in .vmdk. */
static int
relname_ok (const char *name, const char **why)
{
  size_t len = strlen (name);
  const char *p = name;

  if (len == 0 || len > MAX_NAME) {
    *why = "empty or too long";
    return 0;
  }
  if (name[0] == '/') {
    *why = "absolute paths are not allowed";
    return 0;
  }
  while (*p) {
    const char *slash = strchr (p, '/');
    size_t n = slash ? (size_t) (slash - p) : strlen (p);
    if (n == 0) {
      *why = "empty path component";
      return 0;
    }
    if (p[0] == '.') {
      *why = (n == 2 && p[1] == '.') ? "'..' is not allowed"
             : "components may not start with '.'";
      return 0;
    }
    for (size_t i = 0; i < n; i++)
      if (!name_char_ok ((unsigned char) p[i])) {
        *why = "character not allowed";
        return 0;
      }
    p += n;
    if (*p == '/')
      p++;
  }
  if (len < 5 || strcasecmp (name + len - 5, ".vmdk") != 0) {
    *why = "the name must end in .vmdk";
    return 0;
  }
  return 1;
}

/* Strip an optional "[datastore] " prefix. */
static const char *
strip_datastore (const char *name)
{
  const char *close;
  if (name[0] != '[')
    return name;
  close = strchr (name, ']');
  if (!close)
    return NULL;
  if (ds_name && ((size_t) (close - name - 1) != strlen (ds_name)
                  || strncmp (name + 1, ds_name, strlen (ds_name)) != 0))
    return NULL;
  close++;
  while (*close == ' ')
    close++;
  return close;
}

/* Resolve an export name to a full path inside the datastore.  must_exist:
 * the file must exist and no component may be a symlink; otherwise the
 * folder must exist (without symlinks) and the file must not. */
static char *
resolve (const char *export, int must_exist)
{
  const char *rel = strip_datastore (export), *why = NULL;
  char *full, *real;
  struct stat st;

  if (!rel) {
    nbdkit_error ("export '%.64s': unknown datastore prefix", export);
    nbdkit_set_error (EINVAL);
    return NULL;
  }
  if (!relname_ok (rel, &why)) {
    nbdkit_error ("export '%.64s': refused: %s", export, why);
    nbdkit_set_error (EINVAL);
    return NULL;
  }
  if (asprintf (&full, "%s/%s", datastore, rel) < 0) {
    nbdkit_set_error (ENOMEM);
    return NULL;
  }
  if (must_exist) {
    /* realpath equal to the joined path: no symlink anywhere below the
     * datastore, so nothing can lead out of it. */
    real = realpath (full, NULL);
    if (!real) {
      nbdkit_error ("export '%.64s': %s", export, strerror (errno));
      nbdkit_set_error (errno);
      free (full);
      return NULL;
    }
    if (strcmp (real, full) != 0) {
      nbdkit_error ("export '%.64s': refused: the path goes through a "
                    "symbolic link", export);
      nbdkit_set_error (EINVAL);
      free (real);
      free (full);
      return NULL;
    }
    free (real);
    if (lstat (full, &st) < 0 || !S_ISREG (st.st_mode)) {
      nbdkit_error ("export '%.64s': not a regular file", export);
      nbdkit_set_error (EINVAL);
      free (full);
      return NULL;
    }
  }
  else {
    char *dir = strdup (full), *slash = dir ? strrchr (dir, '/') : NULL;
    if (!slash) {
      free (dir);
      free (full);
      nbdkit_set_error (ENOMEM);
      return NULL;
    }
    *slash = '\0';
    real = realpath (dir, NULL);
    if (!real || strcmp (real, dir) != 0) {
      nbdkit_error ("export '%.64s': refused: its folder %s", export,
                    real ? "goes through a symbolic link"
                    : "does not exist");
      nbdkit_set_error (real ? EINVAL : ENOENT);
      free (real);
      free (dir);
      free (full);
      return NULL;
    }
    free (real);
    free (dir);
    if (lstat (full, &st) == 0 || errno != ENOENT) {
      nbdkit_error ("export '%.64s': refused: the disk already exists",
                    export);
      nbdkit_set_error (EEXIST);
      free (full);
      return NULL;
    }
  }
  return full;
}

/* ---- walking the datastore --------------------------------------------- */

/* Is this .vmdk file a disk's descriptor (text, or a sparse extent with an
 * embedded descriptor), rather than an extent of some other disk? */
static int
is_descriptor (int dirfd, const char *name)
{
  uint8_t buf[1024];
  ssize_t n;
  int fd = openat (dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC
                   | O_NONBLOCK);
  if (fd < 0)
    return 0;
  n = pread (fd, buf, sizeof buf - 1, 0);
  close (fd);
  if (n < 4)
    return 0;
  if (memcmp (buf, "KDMV", 4) == 0) {
    /* VMDK4 header: descriptorOffset (sectors) at byte 28 */
    uint64_t off = 0;
    if (n < 36)
      return 0;
    for (int i = 7; i >= 0; i--)
      off = (off << 8) | buf[28 + i];
    return off != 0;
  }
  buf[n] = '\0';
  for (ssize_t i = 0; i < n; i++)
    if (buf[i] == '\0')
      return 0;                 /* binary: a flat or other extent */
  return strstr ((char *) buf, "createType") != NULL;
}

struct walk {
  struct nbdkit_exports *exports;  /* NULL: only count */
  uint64_t count;
  int err;
  char **names;                 /* the disks found (with exports) */
  size_t n, cap;
};

static void
walk (int dirfd, const char *prefix, int depth, struct walk *w)
{
  DIR *d;
  struct dirent *de;
  int fd = dup (dirfd);

  if (fd < 0 || !(d = fdopendir (fd))) {
    if (fd >= 0)
      close (fd);
    return;
  }
  while (!w->err && w->count < MAX_LISTED && (de = readdir (d))) {
    struct stat st;
    char *rel;
    const char *why;
    if (de->d_name[0] == '.')
      continue;
    if (fstatat (dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
      continue;
    if (asprintf (&rel, "%s%s", prefix, de->d_name) < 0) {
      w->err = 1;
      break;
    }
    if (S_ISDIR (st.st_mode) && depth < MAX_DEPTH) {
      int sub = openat (dirfd, de->d_name,
                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      char *subprefix;
      if (sub >= 0) {
        if (asprintf (&subprefix, "%s/", rel) >= 0) {
          walk (sub, subprefix, depth + 1, w);
          free (subprefix);
        }
        close (sub);
      }
    }
    else if (S_ISREG (st.st_mode) && relname_ok (rel, &why)
             && is_descriptor (dirfd, de->d_name)) {
      if (w->exports) {
        if (w->n == w->cap) {
          size_t nc = w->cap ? w->cap * 2 : 64;
          char **nv = realloc (w->names, nc * sizeof *nv);
          if (nv) {
            w->names = nv;
            w->cap = nc;
          }
        }
        if (w->n < w->cap) {
          w->names[w->n++] = rel;
          rel = NULL;
        }
        else
          w->err = 1;
      }
      w->count++;
    }
    free (rel);
  }
  closedir (d);
}

static int
walk_datastore (struct walk *w)
{
  int fd = open (datastore, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    nbdkit_error ("%s: %s", datastore, strerror (errno));
    return -1;
  }
  walk (fd, "", 0, w);
  close (fd);
  return w->err ? -1 : 0;
}

/* The datastore-relative name of the parent of disk rel (its
 * parentFileNameHint against rel's folder), or NULL: a base disk, or a
 * parent outside the datastore. */
static char *
parent_of (const char *rel)
{
  vd_disk *d;
  char *path = NULL, *r = NULL;
  const char *hint, *slash = strrchr (rel, '/');
  if (asprintf (&path, "%s/%s", datastore, rel) < 0)
    return NULL;
  if (vd_disk_open (&d, path, VD_OPEN_READ_ONLY | VD_OPEN_SINGLE_LINK) < 0) {
    free (path);
    return NULL;
  }
  hint = vd_disk_get_parent_hint (d);
  if (hint && hint[0] != '/' && !strstr (hint, "..")
      && asprintf (&r, "%.*s%s", slash ? (int) (slash - rel + 1) : 0, rel,
                   hint) < 0)
    r = NULL;
  vd_disk_close (d);
  free (path);
  return r;
}

/* Every disk; a link that another listed disk names as its parent is
 * described "parent of CHILD" so that clients listing the VM disks of a
 * datastore (vdisk inventory) can leave the older links of chains out. */
static int
vdisk_list_exports (int readonly, int is_tls,
                    struct nbdkit_exports *exports)
{
  struct walk w = { exports, 0, 0, NULL, 0, 0 };
  char **parent;
  int r;
  (void) readonly;
  (void) is_tls;
  r = walk_datastore (&w);
  parent = calloc (w.n ? w.n : 1, sizeof *parent);
  for (size_t i = 0; r == 0 && parent && i < w.n; i++)
    parent[i] = parent_of (w.names[i]);
  for (size_t i = 0; r == 0 && i < w.n; i++) {
    char *desc = NULL;
    for (size_t j = 0; parent && j < w.n && !desc; j++)
      if (parent[j] && strcmp (parent[j], w.names[i]) == 0
          && asprintf (&desc, "parent of %s", w.names[j]) < 0)
        desc = NULL;
    if (nbdkit_add_export (exports, w.names[i], desc) < 0)
      r = -1;
    free (desc);
  }
  for (size_t i = 0; i < w.n; i++) {
    free (w.names[i]);
    if (parent)
      free (parent[i]);
  }
  free (parent);
  free (w.names);
  return r;
}

static const char *
vdisk_default_export (int readonly, int is_tls)
{
  (void) readonly;
  (void) is_tls;
  return default_name ? default_name : "";
}

/* ---- open / close ------------------------------------------------------ */

static struct entry *
find_entry (const char *path)
{
  for (struct entry *e = table; e; e = e->next)
    if (strcmp (e->path, path) == 0)
      return e;
  return NULL;
}

static struct entry *
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
static struct entry *
open_existing (const char *export, int readonly)
{
  char *path = resolve (export, 1);
  struct entry *e;
  vd_disk *d;
  int rw = !readonly;

  if (!path)
    return NULL;
  e = find_entry (path);
  if (e) {
    /* Share the open handle; one that had to fall back to read-only
     * (a disk with a child) stays read-only for everyone. */
    e->refs++;
    free (path);
    return e;
  }
  if (vd_disk_open (&d, path, readonly ? VD_OPEN_READ_ONLY : 0) < 0) {
    int code = vd_last_error ()->code;
    /* A disk with a child, or a layout vdisk only reads: serve it
     * read-only rather than not at all. */
    if (readonly || (code != VD_EPARENT && code != VD_EROFS
                     && code != VD_ENOTSUP)) {
      vd_fail ();
      free (path);
      return NULL;
    }
    nbdkit_debug ("%s: serving read-only: %s", path,
                  vd_last_error ()->message);
    if (vd_disk_open (&d, path, VD_OPEN_READ_ONLY) < 0) {
      vd_fail ();
      free (path);
      return NULL;
    }
    rw = 0;
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

/* The options of "create:TYPE,OPTION,...:BYTES:PATH", each KEY=VALUE:
 * adapter=NAME, geometry=C/H/S (physical), bios=C/H/S, hw=N.  A clone
 * onto the server keeps its source's adapter and geometry this way. */
static int
parse_chs (const char *v, struct vd_geometry *g)
{
  unsigned long c, h, s;
  char *end;
  errno = 0;
  c = strtoul (v, &end, 10);
  if (end == v || *end != '/' || errno)
    return -1;
  v = end + 1;
  h = strtoul (v, &end, 10);
  if (end == v || *end != '/' || errno)
    return -1;
  v = end + 1;
  s = strtoul (v, &end, 10);
  if (end == v || *end != '\0' || errno)
    return -1;
  if (c < 1 || c > UINT32_MAX || h < 1 || h > 255 || s < 1 || s > 63)
    return -1;
  g->cylinders = (uint32_t) c;
  g->heads = (uint32_t) h;
  g->sectors = (uint32_t) s;
  return 0;
}

static int
create_options (const char *export, char *opts,
                struct vd_create_params *params, struct vd_geometry *bios)
{
  char *save = NULL;
  for (char *o = strtok_r (opts, ",", &save); o;
       o = strtok_r (NULL, ",", &save)) {
    char *v = strchr (o, '=');
    int bad = !v;
    if (v) {
      *v++ = '\0';
      if (strcmp (o, "adapter") == 0) {
        params->adapter = vd_adapter_from_name (v);
        bad = params->adapter == VD_ADAPTER_UNKNOWN;
      }
      else if (strcmp (o, "geometry") == 0)
        bad = parse_chs (v, &params->geometry) < 0;
      else if (strcmp (o, "bios") == 0)
        bad = parse_chs (v, bios) < 0;
      else if (strcmp (o, "hw") == 0) {
        char *end;
        unsigned long n = strtoul (v, &end, 10);
        bad = end == v || *end || n < 3 || n > 255;
        params->hw_version = (uint32_t) n;
      }
      else
        bad = 1;
    }
    if (bad) {
      nbdkit_error ("export '%.64s': bad create option '%s%s%s' (adapter="
                    "NAME, geometry=C/H/S, bios=C/H/S, hw=N)", export, o,
                    v ? "=" : "", v ? v : "");
      nbdkit_set_error (EINVAL);
      return -1;
    }
  }
  return 0;
}

static int
set_bios_geometry (vd_disk *d, const struct vd_geometry *g)
{
  char v[16];
  if (!g->cylinders)
    return 0;
  snprintf (v, sizeof v, "%u", g->cylinders);
  if (vd_disk_set_meta (d, "ddb.geometry.biosCylinders", v) < 0)
    return -1;
  snprintf (v, sizeof v, "%u", g->heads);
  if (vd_disk_set_meta (d, "ddb.geometry.biosHeads", v) < 0)
    return -1;
  snprintf (v, sizeof v, "%u", g->sectors);
  return vd_disk_set_meta (d, "ddb.geometry.biosSectors", v);
}

/* "create:TYPE[,OPTION...]:BYTES:PATH" (table_lock held). */
static struct entry *
open_create (const char *export, int readonly)
{
  char type[256], *end, *path, *opts;
  const char *p = export + 7, *colon;
  uint64_t capacity;
  struct vd_create_params params;
  struct vd_geometry bios = { 0, 0, 0 };
  struct statvfs sv;
  struct entry *e;
  vd_disk *d;

  /* A client opening more connections to the disk it is creating
   * (multi-conn) joins the handle of its first connection. */
  for (e = table; e; e = e->next)
    if (e->create_name && strcmp (e->create_name, export) == 0) {
      e->refs++;
      return e;
    }
  for (struct made *m = made_list; m; m = m->next)
    if (strcmp (m->name, export) == 0 && !readonly) {
      const char *v;
      if (vd_disk_open (&d, m->path, 0) < 0)
        break;
      v = vd_disk_get_meta (d, INCOMPLETE_KEY);
      if (!v || strcmp (v, "1") != 0) {
        vd_disk_close (d);      /* complete now: a create must refuse */
        break;
      }
      path = strdup (m->path);
      e = path ? new_entry (path, d, 1) : NULL;
      if (!e) {
        free (path);
        vd_disk_close (d);
        return NULL;
      }
      e->created = 1;
      e->create_name = strdup (export);
      return e;
    }
  if (readonly || !allow_create) {
    nbdkit_error ("export '%.64s': creating disks is not allowed on this "
                  "server%s", export, readonly ? " (read-only)" : "");
    nbdkit_set_error (EPERM);
    return NULL;
  }
  colon = strchr (p, ':');
  if (!colon || (size_t) (colon - p) >= sizeof type) {
    nbdkit_error ("export '%.64s': expected create:TYPE[,OPTION...]:BYTES:"
                  "PATH", export);
    nbdkit_set_error (EINVAL);
    return NULL;
  }
  memcpy (type, p, (size_t) (colon - p));
  type[colon - p] = '\0';
  opts = strchr (type, ',');
  if (opts)
    *opts++ = '\0';
  p = colon + 1;
  errno = 0;
  if (!isdigit ((unsigned char) *p)
      || (capacity = strtoull (p, &end, 10), errno) || *end != ':'
      || capacity == 0 || capacity % 512) {
    nbdkit_error ("export '%.64s': the size must be a non-zero multiple of "
                  "512 bytes", export);
    nbdkit_set_error (EINVAL);
    return NULL;
  }
  p = end + 1;

  vd_create_params_init (&params);
  params.capacity = capacity;
  params.adapter = VD_ADAPTER_LSILOGIC;
  if (strcmp (type, "thin") == 0)
    params.type = VD_TYPE_VMFS_THIN;
  else if (strcmp (type, "thick") == 0 || strcmp (type, "preallocated") == 0) {
    params.type = VD_TYPE_VMFS;
    params.flags |= VD_CREATE_PREALLOCATE;
  }
  else if (strcmp (type, "sparse") == 0) {
    params.type = VD_TYPE_MONOLITHIC_SPARSE;
    params.adapter = VD_ADAPTER_IDE;
  }
  else {
    nbdkit_error ("export '%.64s': unknown disk type '%s' (thin, thick, "
                  "sparse)", export, type);
    nbdkit_set_error (EINVAL);
    return NULL;
  }
  if (opts && create_options (export, opts, &params, &bios) < 0)
    return NULL;

  /* quotas */
  if (quota_capacity && capacity > quota_capacity) {
    nbdkit_error ("export '%.64s': refused by quota: %" PRIu64 " bytes is "
                  "more than the %" PRIu64 " a disk may have", export,
                  capacity, quota_capacity);
    nbdkit_set_error (EDQUOT);
    return NULL;
  }
  if (quota_disks) {
    struct walk w = { NULL, 0, 0, NULL, 0, 0 };
    if (walk_datastore (&w) < 0)
      return NULL;
    if (w.count >= quota_disks) {
      nbdkit_error ("export '%.64s': refused by quota: the datastore holds "
                    "%" PRIu64 " disks (at most %" PRIu64 ")", export,
                    w.count, quota_disks);
      nbdkit_set_error (EDQUOT);
      return NULL;
    }
  }
  if (statvfs (datastore, &sv) == 0) {
    uint64_t avail = (uint64_t) sv.f_bavail * sv.f_frsize;
    uint64_t need = (params.flags & VD_CREATE_PREALLOCATE) ? capacity : 0;
    if (avail < need || avail - need < quota_free) {
      nbdkit_error ("export '%.64s': refused by quota: %" PRIu64 " bytes "
                    "free, %" PRIu64 " needed and %" PRIu64 " must stay "
                    "free", export, avail, need, quota_free);
      nbdkit_set_error ((params.flags & VD_CREATE_PREALLOCATE)
                        && avail < need ? ENOSPC : EDQUOT);
      return NULL;
    }
  }

  path = resolve (p, 0);
  if (!path)
    return NULL;
  if (vd_disk_create (path, &params) < 0) {
    vd_fail ();
    free (path);
    return NULL;
  }
  if (vd_disk_open (&d, path, 0) < 0
      || vd_disk_set_meta (d, INCOMPLETE_KEY, "1") < 0
      || set_bios_geometry (d, &bios) < 0) {
    vd_fail ();
    nbdkit_debug ("%s: created but not opened", path);
    free (path);
    return NULL;
  }
  e = new_entry (path, d, 1);
  if (!e) {
    vd_disk_close (d);
    free (path);
    return NULL;
  }
  e->created = 1;
  e->create_name = strdup (export);
  struct made *m = calloc (1, sizeof *m);
  if (m && (m->name = strdup (export)) && (m->path = strdup (path))) {
    m->next = made_list;
    made_list = m;
  }
  else if (m) {
    free (m->name);
    free (m);
  }
  nbdkit_debug ("%s: created (%s, %" PRIu64 " bytes)", path, type,
                capacity);
  return e;
}

static void *
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

static void
vdisk_close (void *handle)
{
  struct handle *h = handle;
  struct entry *e = h->e, **pp;

  pthread_mutex_lock (&table_lock);
  if (--e->refs == 0) {
    for (pp = &table; *pp != e; pp = &(*pp)->next)
      ;
    *pp = e->next;
    /* A created disk stays marked incomplete unless it was flushed,
     * every write was flushed and nothing failed. */
    if (e->created && !e->failed && e->flushes > 0 && e->fgen == e->wgen
        && vd_disk_flush (e->disk) == 0
        && vd_disk_set_meta (e->disk, INCOMPLETE_KEY, NULL) < 0)
      nbdkit_error ("%s: %s", e->path, vd_last_error ()->message);
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
    return vd_fail ();
  return 0;
}

static void
mark_write (struct entry *e)
{
  pthread_mutex_lock (&e->mu);
  e->wgen++;
  pthread_mutex_unlock (&e->mu);
}

static int
mark_failed (struct entry *e)
{
  pthread_mutex_lock (&e->mu);
  e->failed = 1;
  pthread_mutex_unlock (&e->mu);
  return vd_fail ();
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
  mark_write (h->e);
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
  mark_write (h->e);
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
    return vd_fail ();
  return x.err ? -1 : 0;
}

/* ---- reserved exports: meta:, meta-set:, status: ------------------------
 * Small read-only text exports beside the disks (never listed):
 *   meta:PATH                the disk database of PATH
 *   meta-set:KEY=VALUE:PATH  set a ddb key of PATH, then as meta:
 *   meta-set:KEY:PATH        remove it, then as meta:
 *   status:EXPORT            why this client's last open of EXPORT failed
 * meta: and meta-set: open PATH exactly as a disk export is opened (same
 * name checks, same shared handle, same read-only rules).  See
 * nbdkit-vdisk-plugin(1). */

#define FAIL_SLOTS 64           /* refusals remembered */
#define FAIL_TTL 600            /* seconds a refusal is answered */
#define META_HEADER "# vdisk-meta 1\n"
#define STATUS_HEADER "# vdisk-status 1\n"

struct failure {
  char *export;
  char peer[64];
  int err;
  char *msg;
  time_t when;
};
static struct failure failures[FAIL_SLOTS];
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;
/* meta-set: and the text made from the ddb, one at a time */
static pthread_mutex_t meta_lock = PTHREAD_MUTEX_INITIALIZER;

static const struct { int err; const char *name; } errno_names[] = {
  { EEXIST, "EEXIST" }, { ENOENT, "ENOENT" }, { EDQUOT, "EDQUOT" },
  { ENOSPC, "ENOSPC" }, { EROFS, "EROFS" }, { EPERM, "EPERM" },
  { EACCES, "EACCES" }, { EBUSY, "EBUSY" }, { EINVAL, "EINVAL" },
  { ENOMEM, "ENOMEM" }, { EOPNOTSUPP, "EOPNOTSUPP" }, { EIO, "EIO" },
};

static const char *
errno_name (int err)
{
  for (size_t i = 0; i < sizeof errno_names / sizeof errno_names[0]; i++)
    if (errno_names[i].err == err)
      return errno_names[i].name;
  return "EIO";
}

/* Who is asking: the uid on a Unix socket, else the address (no port),
 * so one client cannot read the refusals of another host. */
static void
peer_key (char *out, size_t n)
{
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  char addr[INET6_ADDRSTRLEN] = "?";

  snprintf (out, n, "?");
  memset (&ss, 0, sizeof ss);
  if (nbdkit_peer_name ((struct sockaddr *) &ss, &len) < 0)
    return;
  if (ss.ss_family == AF_UNIX)
    snprintf (out, n, "uid:%" PRId64, nbdkit_peer_uid ());
  else if (ss.ss_family == AF_INET) {
    inet_ntop (AF_INET, &((struct sockaddr_in *) &ss)->sin_addr, addr,
               sizeof addr);
    snprintf (out, n, "inet:%s", addr);
  }
  else if (ss.ss_family == AF_INET6) {
    inet_ntop (AF_INET6, &((struct sockaddr_in6 *) &ss)->sin6_addr, addr,
               sizeof addr);
    snprintf (out, n, "inet6:%s", addr);
  }
}

/* The message without the server's own folder: "DATASTORE/vm/x.vmdk"
 * becomes "vm/x.vmdk". */
static char *
client_message (const char *msg)
{
  size_t dl = strlen (datastore);
  char *out = malloc (strlen (msg) + 1), *q = out;
  if (!out)
    return NULL;
  while (*msg) {
    if (strncmp (msg, datastore, dl) == 0 && msg[dl] == '/')
      msg += dl + 1;
    else
      *q++ = *msg++;
  }
  *q = '\0';
  return out;
}

static void
record_failure (const char *export)
{
  char peer[64];
  struct failure *f = NULL;
  time_t now = time (NULL);
  char *name = strdup (export), *msg = client_message (last_msg[0]
                                                      ? last_msg
                                                      : "refused");
  if (!name || !msg) {
    free (name);
    free (msg);
    return;
  }
  peer_key (peer, sizeof peer);
  pthread_mutex_lock (&fail_lock);
  for (size_t i = 0; i < FAIL_SLOTS && !f; i++)
    if (failures[i].export && strcmp (failures[i].export, export) == 0
        && strcmp (failures[i].peer, peer) == 0)
      f = &failures[i];
  for (size_t i = 0; i < FAIL_SLOTS && !f; i++)
    if (!failures[i].export)
      f = &failures[i];
  if (!f) {
    f = &failures[0];
    for (size_t i = 1; i < FAIL_SLOTS; i++)
      if (failures[i].when < f->when)
        f = &failures[i];
  }
  free (f->export);
  free (f->msg);
  f->export = name;
  f->msg = msg;
  f->err = last_errno ? last_errno : EIO;
  f->when = now;
  snprintf (f->peer, sizeof f->peer, "%s", peer);
  pthread_mutex_unlock (&fail_lock);
}

static void
free_failures (void)
{
  for (size_t i = 0; i < FAIL_SLOTS; i++) {
    free (failures[i].export);
    free (failures[i].msg);
    failures[i].export = failures[i].msg = NULL;
  }
}

static char *
status_text (const char *export, size_t *len)
{
  char peer[64], *text = NULL;
  time_t now = time (NULL);
  int n = -1;

  peer_key (peer, sizeof peer);
  pthread_mutex_lock (&fail_lock);
  for (size_t i = 0; i < FAIL_SLOTS; i++) {
    struct failure *f = &failures[i];
    if (f->export && strcmp (f->export, export) == 0
        && strcmp (f->peer, peer) == 0 && now - f->when <= FAIL_TTL) {
      n = asprintf (&text, STATUS_HEADER "%s %s\n", errno_name (f->err),
                    f->msg);
      break;
    }
  }
  pthread_mutex_unlock (&fail_lock);
  if (n < 0)
    n = asprintf (&text, STATUS_HEADER "OK no refusal recorded\n");
  if (n < 0)
    return NULL;
  *len = (size_t) n;
  return text;
}

/* Keys a client may not set: the server's own marks. */
static int
key_is_servers (const char *key)
{
  return strncasecmp (key, "ddb.vdisk.", 10) == 0;
}

/* "# vdisk-meta 1" and one `KEY = "VALUE"` line per ddb key: the top
 * link's keys, then adapter, geometry and hardware version inherited from
 * a parent (vd_disk_get_meta's view).  meta_lock held. */
static char *
meta_text (vd_disk *d, size_t *len)
{
  static const char *const inherited[] = {
    "ddb.adapterType", "ddb.geometry.cylinders", "ddb.geometry.heads",
    "ddb.geometry.sectors", "ddb.geometry.biosCylinders",
    "ddb.geometry.biosHeads", "ddb.geometry.biosSectors",
    "ddb.virtualHWVersion",
  };
  char *text = NULL;
  size_t size = 0;
  unsigned n = vd_disk_get_meta_count (d);
  FILE *fp = open_memstream (&text, &size);

  if (!fp)
    return NULL;
  fputs (META_HEADER, fp);
  for (unsigned i = 0; i < n; i++) {
    const char *k = vd_disk_get_meta_key (d, i), *v;
    if (k && (v = vd_disk_get_meta (d, k)))
      fprintf (fp, "%s = \"%s\"\n", k, v);
  }
  for (size_t j = 0; j < sizeof inherited / sizeof inherited[0]; j++) {
    const char *v = vd_disk_get_meta (d, inherited[j]);
    unsigned i;
    for (i = 0; i < n; i++) {
      const char *k = vd_disk_get_meta_key (d, i);
      if (k && strcmp (k, inherited[j]) == 0)
        break;
    }
    if (i == n && v)
      fprintf (fp, "%s = \"%s\"\n", inherited[j], v);
  }
  if (fclose (fp) != 0) {
    free (text);
    return NULL;
  }
  *len = size;
  return text;
}

static void *
open_meta (const char *export, int readonly)
{
  int set = strncmp (export, "meta-set:", 9) == 0;
  const char *path = export + (set ? 9 : 5);
  char *key = NULL, *value = NULL;
  struct handle *h;
  struct entry *e;

  if (set) {
    const char *last = strrchr (path, ':');
    if (!last || last == path) {
      nbdkit_error ("export '%.64s': expected meta-set:KEY=VALUE:PATH or "
                    "meta-set:KEY:PATH", export);
      nbdkit_set_error (EINVAL);
      return NULL;
    }
    key = strndup (path, (size_t) (last - path));
    if (!key) {
      nbdkit_set_error (ENOMEM);
      return NULL;
    }
    if ((value = strchr (key, '=')))
      *value++ = '\0';
    path = last + 1;
    if (key_is_servers (key)) {
      nbdkit_error ("export '%.64s': refused: keys ddb.vdisk.* are kept by "
                    "the server", export);
      nbdkit_set_error (EPERM);
      free (key);
      return NULL;
    }
  }
  if (!*path && default_name)
    path = default_name;
  h = calloc (1, sizeof *h);
  if (!h) {
    nbdkit_set_error (ENOMEM);
    free (key);
    return NULL;
  }
  pthread_mutex_lock (&table_lock);
  e = open_existing (path, readonly);
  pthread_mutex_unlock (&table_lock);
  if (!e) {
    free (h);
    free (key);
    return NULL;
  }
  h->e = e;
  pthread_mutex_lock (&meta_lock);
  if (set && (readonly || !e->rw)) {
    nbdkit_error ("export '%.64s': refused: %s is served read-only%s",
                  export, path, readonly ? " (read-only server)"
                  : " (it has a child, or another client opened it "
                  "read-only)");
    nbdkit_set_error (EROFS);
  }
  else if (set && vd_disk_set_meta (e->disk, key, value) < 0)
    vd_fail ();
  else if (!(h->text = meta_text (e->disk, &h->text_len)))
    nbdkit_set_error (ENOMEM);
  pthread_mutex_unlock (&meta_lock);
  free (key);
  if (!h->text) {
    vdisk_close (h);
    return NULL;
  }
  return h;
}

static void *
open_status (const char *export)
{
  struct handle *h = calloc (1, sizeof *h);
  if (!h || !(h->text = status_text (export + 7, &h->text_len))) {
    free (h);
    nbdkit_set_error (ENOMEM);
    return NULL;
  }
  return h;
}

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
  .version = VERSION_STRING,
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
