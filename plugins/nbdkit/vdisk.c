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
  int depth = 0;

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
    if (slash && ++depth > MAX_DEPTH) {
      *why = "folders nested deeper than " STR (MAX_DEPTH);
      return 0;
    }
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

/* ---- what may be an export ---------------------------------------------- */

/* An export is a disk's descriptor: a text descriptor (text to its end),
 * or a sparse file with an embedded descriptor, that no file in the
 * datastore names as an extent or change-tracking file.  Extents hold the
 * clients' data, so a flat extent can hold descriptor text: which files
 * are extents is decided from the whole datastore, never from a file's
 * own bytes.  Every file the server would open as a descriptor counts
 * when building that set, even a fake one inside an extent (it only
 * makes more files refused, never fewer); descriptor text followed by
 * binary bytes is never opened, so what it names is not used.  A disk
 * that a descriptor names as its parent is served read-only.  Files are compared by st_dev/st_ino, and a file with more
 * than one name (a hard link) is never served. */

#define MAX_FILES 100000        /* directory entries looked at */
/* a sparse file whose embedded descriptor names other extents */
#define EMBEDDED_EXTRA 100

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
};

static int
same_fid (struct fid a, struct fid b)
{
  return a.dev == b.dev && a.ino == b.ino;
}

static struct fid
stat_fid (const struct stat *st)
{
  struct fid f = { st->st_dev, st->st_ino };
  return f;
}

#define GROW(arr, n, cap) \
  ((n) < (cap) || grow_array ((void **) &(arr), &(cap), sizeof *(arr)))

static int
grow_array (void **arr, size_t *cap, size_t elem)
{
  size_t nc = *cap ? *cap * 2 : 64;
  void *p = realloc (*arr, nc * elem);
  if (!p)
    return 0;
  *arr = p;
  *cap = nc;
  return 1;
}

static void
scan_free (struct scan *s)
{
  for (size_t i = 0; i < s->n_cands; i++)
    free (s->cands[i].rel);
  for (size_t i = 0; i < s->n_dangling; i++)
    free (s->dangling[i]);
  free (s->refs);
  free (s->cands);
  free (s->dangling);
  memset (s, 0, sizeof *s);
}

static int
has_vmdk_suffix (const char *name)
{
  size_t n = strlen (name);
  return n >= 5 && strcasecmp (name + n - 5, ".vmdk") == 0;
}

struct ref_ctx {
  struct scan *s;
  int dirfd;
  const char *dirpath;
  size_t owner;
  unsigned extents;             /* extent names seen */
};

static void
add_ref (struct scan *s, const struct stat *st, size_t owner, int kind)
{
  if (!GROW (s->refs, s->n_refs, s->cap_refs)) {
    s->err = 1;
    return;
  }
  s->refs[s->n_refs].file = stat_fid (st);
  s->refs[s->n_refs].owner = owner;
  s->refs[s->n_refs].kind = kind;
  s->n_refs++;
}

/* A name in a descriptor: record the file it reaches (and, for a symlink,
 * both the link and its target), or the path when nothing is there. */
static int
ref_cb (const char *name, int kind, void *payload)
{
  struct ref_ctx *c = payload;
  struct stat st;
  int dfd = name[0] == '/' ? AT_FDCWD : c->dirfd;

  if (kind == VD_REF_EXTENT)
    c->extents++;

  if (fstatat (dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    add_ref (c->s, &st, c->owner, kind);
    if (S_ISLNK (st.st_mode) && fstatat (dfd, name, &st, 0) == 0)
      add_ref (c->s, &st, c->owner, kind);
  }
  else if (errno == ENOENT || errno == ENOTDIR) {
    char *p;
    if (!GROW (c->s->dangling, c->s->n_dangling, c->s->cap_dangling)
        || asprintf (&p, "%s/%s", c->dirpath, name) < 0) {
      c->s->err = 1;
      return 1;
    }
    c->s->dangling[c->s->n_dangling++] = p;
  }
  return c->s->err;
}

static void
scan_dir (int dirfd, const char *dirpath, const char *prefix, int depth,
          struct scan *s)
{
  DIR *d;
  struct dirent *de;
  int fd = dup (dirfd);

  if (fd < 0 || !(d = fdopendir (fd))) {
    if (fd >= 0)
      close (fd);
    return;
  }
  while (!s->err && (de = readdir (d))) {
    struct stat st;
    char *rel, *full;
    if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
      continue;
    if (++s->files > MAX_FILES) {
      s->truncated = 1;
      break;
    }
    if (fstatat (dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
      continue;
    if (!S_ISDIR (st.st_mode)
        && !(S_ISREG (st.st_mode) && has_vmdk_suffix (de->d_name)))
      continue;
    if (asprintf (&rel, "%s%s", prefix, de->d_name) < 0) {
      s->err = 1;
      break;
    }
    if (asprintf (&full, "%s/%s", dirpath, de->d_name) < 0) {
      free (rel);
      s->err = 1;
      break;
    }
    if (S_ISDIR (st.st_mode)) {
      int sub = depth < MAX_DEPTH
        ? openat (dirfd, de->d_name,
                  O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
      char *subprefix;
      /* Deeper folders are not served (relname_ok), and a descriptor
       * names only files in its own folder (plain names; a file reached
       * through a symlink or a second hard link is never served), so
       * nothing down there can name a file that is served. */
      if (sub >= 0) {
        if (asprintf (&subprefix, "%s/", rel) >= 0) {
          scan_dir (sub, full, subprefix, depth + 1, s);
          free (subprefix);
        }
        else
          s->err = 1;
        close (sub);
      }
    }
    else {
      struct ref_ctx c = { s, dirfd, dirpath, s->n_cands, 0 };
      int kind = vd_descriptor_refs (full, ref_cb, &c);
      /* A monolithic sparse or stream file is its only extent: one that
       * names more is never opened (it may be a sparse image a client
       * wrote into a flat extent). */
      if (kind == VD_DESC_EMBEDDED && c.extents > 0)
        kind = EMBEDDED_EXTRA;
      if (kind > 0) {
        if (!GROW (s->cands, s->n_cands, s->cap_cands)) {
          s->err = 1;
        }
        else {
          struct cand *k = &s->cands[s->n_cands++];
          k->rel = rel;
          k->id = stat_fid (&st);
          k->kind = kind;
          k->nlink = st.st_nlink;
          rel = NULL;
        }
      }
    }
    free (rel);
    free (full);
  }
  closedir (d);
}

static int
scan_datastore (struct scan *s)
{
  int fd = open (datastore, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  memset (s, 0, sizeof *s);
  if (fd < 0) {
    nbdkit_error ("%s: %s", datastore, strerror (errno));
    nbdkit_set_error (errno);
    return -1;
  }
  scan_dir (fd, datastore, "", 0, s);
  close (fd);
  if (s->err) {
    nbdkit_error ("%s: out of memory while reading the datastore",
                  datastore);
    nbdkit_set_error (ENOMEM);
    scan_free (s);
    return -1;
  }
  return 0;
}

/* The first file that names f with a kind in mask (1 << VD_REF_*) other
 * than the file owner (NULL: any), or NULL. */
static const struct cand *
named_by (const struct scan *s, struct fid f, unsigned mask,
          const struct fid *owner)
{
  for (size_t i = 0; i < s->n_refs; i++) {
    const struct ref *r = &s->refs[i];
    const struct cand *c = &s->cands[r->owner];
    /* Only a file the server could open as a descriptor (text to its
     * end, or an embedded descriptor) uses what it names: descriptor text
     * a client wrote into an extent, NUL-padded, is never opened, so the
     * files it names are nobody's. */
    if (c->kind != VD_DESC_TEXT && c->kind != VD_DESC_EMBEDDED)
      continue;
    /* A client can write a whole sparse image into a flat extent: from a
     * sparse file only the parent counts (it can never name a file that
     * is then opened as its extent or served as an export). */
    if (c->kind == VD_DESC_EMBEDDED && r->kind != VD_REF_PARENT)
      continue;
    if (same_fid (r->file, f) && (mask & (1u << r->kind))
        && !(owner && same_fid (c->id, *owner)))
      return c;
  }
  return NULL;
}

#define EXTENT_REFS ((1u << VD_REF_EXTENT) | (1u << VD_REF_CHANGE_TRACKING))
#define PARENT_REFS (1u << VD_REF_PARENT)

/* May this candidate be listed and opened as an export? */
static int
cand_exportable (const struct scan *s, const struct cand *c)
{
  return (c->kind == VD_DESC_TEXT || c->kind == VD_DESC_EMBEDDED)
         && c->nlink == 1 && !named_by (s, c->id, EXTENT_REFS, NULL);
}

static int
count_cb (const char *name, int kind, void *payload)
{
  (void) name;
  if (kind == VD_REF_EXTENT)
    ((struct ref_ctx *) payload)->extents++;
  return 0;
}

#define REFUSE(...) do { nbdkit_error (__VA_ARGS__); \
    nbdkit_set_error (EACCES); return -1; } while (0)

/* Is path, a full path, inside the datastore with no symlink on the way
 * (the path is canonical), a regular file with one name?  *st is set. */
static int
plain_file_inside (const char *path, struct stat *st, const char *what)
{
  size_t n = strlen (datastore);
  char *real = realpath (path, NULL);
  int inside = real && strcmp (real, path) == 0
               && strncmp (path, datastore, n) == 0 && path[n] == '/';
  free (real);
  if (!inside)
    REFUSE ("%s: refused: %s is not a file inside the datastore (or is "
            "reached through a symbolic link)", path, what);
  if (lstat (path, st) < 0 || !S_ISREG (st->st_mode))
    REFUSE ("%s: refused: %s is not a regular file", path, what);
  if (st->st_nlink != 1)
    REFUSE ("%s: refused: %s has %ju names (a hard link); a served file "
            "must have exactly one", path, what, (uintmax_t) st->st_nlink);
  return 0;
}

/* The export check before opening: path (canonical, inside the
 * datastore) must be a disk's descriptor that no disk uses as an extent
 * or tracking file.  *ro is set when a disk names it as its parent. */
static int
export_check (const char *path, const struct scan *s, int *ro)
{
  struct stat st;
  const struct cand *c;
  int kind;

  *ro = 0;
  if (s->truncated)
    REFUSE ("%s: refused: the datastore holds more than %d entries, too "
            "many to check which files are extents", path, MAX_FILES);
  if (plain_file_inside (path, &st, "the export") < 0)
    return -1;
  kind = vd_descriptor_refs (path, NULL, NULL);
  if (kind < 0)
    return vd_fail ();
  if (kind == VD_DESC_NONE)
    REFUSE ("%s: refused: not a disk's descriptor (an extent or another "
            "kind of file)", path);
  if (kind == VD_DESC_TEXT_BINARY)
    REFUSE ("%s: refused: binary data follows the descriptor text: this "
            "is an extent holding text, not a descriptor", path);
  if (kind == VD_DESC_EMBEDDED) {
    struct ref_ctx x = { NULL, -1, NULL, 0, 0 };
    if (vd_descriptor_refs (path, count_cb, &x) < 0)
      return vd_fail ();
    if (x.extents > 0)
      REFUSE ("%s: refused: a sparse file whose embedded descriptor names "
              "other extents (%u) is not a disk vdisk serves", path,
              x.extents);
  }
  c = named_by (s, stat_fid (&st), EXTENT_REFS, NULL);
  if (c)
    REFUSE ("%s: refused: %s uses this file as an extent (or change-"
            "tracking file), so its bytes are that disk's content",
            path, c->rel);
  if (named_by (s, stat_fid (&st), PARENT_REFS, NULL))
    *ro = 1;
  return 0;
}

struct names {
  char **v;
  size_t n, cap;
  int err;
};

static int
names_cb (const char *name, int kind, void *payload)
{
  struct names *x = payload;
  if (kind != VD_REF_EXTENT)
    return 0;
  if (!GROW (x->v, x->n, x->cap) || !(x->v[x->n] = strdup (name))) {
    x->err = 1;
    return 1;
  }
  x->n++;
  return 0;
}

/* After the open: every link of the chain is a descriptor inside the
 * datastore that no disk uses as an extent, and every extent of every
 * link is an extent file of that link alone: a .vmdk inside the
 * datastore, not another disk's descriptor, not a parent, not named by
 * any other file. */
static int
verify_open (vd_disk *d, const struct scan *s)
{
  unsigned links = vd_disk_get_link_count (d);
  int r = 0;

  for (unsigned i = 0; i < links && r == 0; i++) {
    struct vd_link_info li;
    struct stat st;
    struct names x = { 0 };
    char *dir, *slash;
    int kind;

    if (vd_disk_get_link_info (d, i, &li) < 0)
      return vd_fail ();
    if (plain_file_inside (li.path, &st, i ? "a parent" : "the disk") < 0)
      return -1;
    struct fid lid = stat_fid (&st);
    kind = vd_descriptor_refs (li.path, names_cb, &x);
    if (kind < 0) {
      r = vd_fail ();
      goto next;
    }
    if (x.err) {
      nbdkit_set_error (ENOMEM);
      r = -1;
      goto next;
    }
    if (kind == VD_DESC_EMBEDDED && x.n > 0) {
      nbdkit_error ("%s: refused: the sparse file %s names other extents",
                    vd_disk_get_path (d), li.path);
      nbdkit_set_error (EACCES);
      r = -1;
      goto next;
    }
    if (i > 0) {
      const struct cand *c = named_by (s, lid, EXTENT_REFS, NULL);
      if (kind != VD_DESC_TEXT && kind != VD_DESC_EMBEDDED) {
        nbdkit_error ("%s: refused: its parent %s is not a disk's "
                      "descriptor", vd_disk_get_path (d), li.path);
        nbdkit_set_error (EACCES);
        r = -1;
        goto next;
      }
      if (c) {
        nbdkit_error ("%s: refused: its parent %s is an extent of %s",
                      vd_disk_get_path (d), li.path, c->rel);
        nbdkit_set_error (EACCES);
        r = -1;
        goto next;
      }
    }
    dir = strdup (li.path);
    slash = dir ? strrchr (dir, '/') : NULL;
    if (!slash) {
      free (dir);
      nbdkit_set_error (ENOMEM);
      r = -1;
      goto next;
    }
    *slash = '\0';
    for (size_t k = 0; k < x.n && r == 0; k++) {
      char *full;
      struct stat es;
      const struct cand *c;
      int ek;
      if (strchr (x.v[k], '/') || asprintf (&full, "%s/%s", dir, x.v[k]) < 0) {
        nbdkit_error ("%s: refused: extent \"%.64s\" is not a plain name",
                      li.path, x.v[k]);
        nbdkit_set_error (EACCES);
        r = -1;
        break;
      }
      if (plain_file_inside (full, &es, "an extent") < 0)
        r = -1;
      else if (!has_vmdk_suffix (full)) {
        nbdkit_error ("%s: refused: extent %s is not a disk file (.vmdk)",
                      li.path, full);
        nbdkit_set_error (EACCES);
        r = -1;
      }
      else if ((c = named_by (s, stat_fid (&es), PARENT_REFS, NULL))) {
        nbdkit_error ("%s: refused: extent %s is the parent of %s",
                      li.path, full, c->rel);
        nbdkit_set_error (EACCES);
        r = -1;
      }
      else if ((c = named_by (s, stat_fid (&es), EXTENT_REFS, &lid))) {
        nbdkit_error ("%s: refused: extent %s is also used by %s",
                      li.path, full, c->rel);
        nbdkit_set_error (EACCES);
        r = -1;
      }
      else if ((ek = vd_descriptor_refs (full, NULL, NULL)) < 0)
        r = vd_fail ();
      else if (ek == VD_DESC_TEXT || ek == VD_DESC_EMBEDDED) {
        nbdkit_error ("%s: refused: extent %s is a disk's descriptor",
                      li.path, full);
        nbdkit_set_error (EACCES);
        r = -1;
      }
      free (full);
    }
    free (dir);
  next:
    for (size_t k = 0; k < x.n; k++)
      free (x.v[k]);
    free (x.v);
  }
  return r;
}

static int
vdisk_list_exports (int readonly, int is_tls,
                    struct nbdkit_exports *exports)
{
  struct scan s;
  const char *why;
  uint64_t listed = 0;
  int r = 0;
  (void) readonly;
  (void) is_tls;
  if (scan_datastore (&s) < 0)
    return -1;
  for (size_t i = 0; i < s.n_cands && listed < MAX_LISTED; i++) {
    const struct cand *c = &s.cands[i];
    if (relname_ok (c->rel, &why) && cand_exportable (&s, c)) {
      /* A link another disk names as its parent is described "parent of
       * CHILD", so that clients listing a datastore's VM disks (vdisk
       * inventory) can leave the older links of chains out. */
      const struct cand *child = named_by (&s, c->id, PARENT_REFS, NULL);
      char *desc = NULL;
      if (child && asprintf (&desc, "parent of %s", child->rel) < 0)
        desc = NULL;
      int ar = nbdkit_add_export (exports, c->rel, desc);
      free (desc);
      if (ar < 0) {
        r = -1;
        break;
      }
      listed++;
    }
  }
  scan_free (&s);
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

static struct fid path_fid (const char *path);

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

static struct fid
path_fid (const char *path)
{
  struct stat st;
  struct fid f = { 0, 0 };
  if (lstat (path, &st) == 0)
    f = stat_fid (&st);
  return f;
}

/* Open path and check what was opened (verify_open); on failure the
 * disk is closed and NULL returned. */
static vd_disk *
open_verified (const char *path, uint32_t flags, const struct scan *s)
{
  vd_disk *d;
  if (vd_disk_open (&d, path, flags) < 0)
    return NULL;
  if (verify_open (d, s) < 0) {
    vd_disk_close (d);
    return NULL;
  }
  return d;
}

/* Open an existing disk (table_lock held). */
static struct entry *
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
        vd_fail ();
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
    vd_fail ();
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

/* A new disk at path must not take a name that a disk in the datastore
 * names but that does not exist yet (its extent or parent would then be
 * the new disk's files): path itself, or STEM-* / STEM.* beside it. */
static int
dangling_clash (const char *path, const struct scan *s)
{
  size_t stem = strlen (path) - 5;      /* path ends in .vmdk */
  for (size_t i = 0; i < s->n_dangling; i++) {
    const char *d = s->dangling[i];
    if (strcmp (d, path) == 0
        || (strncmp (d, path, stem) == 0
            && (d[stem] == '-' || d[stem] == '.' || d[stem] == '_'))) {
      nbdkit_error ("%s: refused: a disk in the datastore names %s, which "
                    "this disk would create", path, d);
      nbdkit_set_error (EEXIST);
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
  struct scan s;
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
      struct scan ms;
      int parent = 0;
      if (scan_datastore (&ms) < 0)
        return NULL;
      d = NULL;
      if (export_check (m->path, &ms, &parent) == 0 && !parent)
        d = open_verified (m->path, 0, &ms);
      scan_free (&ms);
      if (!d)
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

  /* A flat extent of at most 1 MiB holding text the client wrote would
   * read as a descriptor (the library parses text files up to 1 MiB). */
  if (params.type != VD_TYPE_MONOLITHIC_SPARSE && capacity <= (1u << 20)) {
    nbdkit_error ("export '%.64s': refused: a %s disk must be larger than "
                  "1 MiB (its flat file could otherwise pass for a "
                  "descriptor); use sparse for small disks", export, type);
    nbdkit_set_error (EINVAL);
    return NULL;
  }

  /* quotas */
  if (quota_capacity && capacity > quota_capacity) {
    nbdkit_error ("export '%.64s': refused by quota: %" PRIu64 " bytes is "
                  "more than the %" PRIu64 " a disk may have", export,
                  capacity, quota_capacity);
    nbdkit_set_error (EDQUOT);
    return NULL;
  }
  if (scan_datastore (&s) < 0)
    return NULL;
  if (quota_disks) {
    /* every descriptor counts, listed or not */
    uint64_t count = 0;
    for (size_t i = 0; i < s.n_cands; i++)
      if (s.cands[i].kind == VD_DESC_TEXT
          || s.cands[i].kind == VD_DESC_EMBEDDED)
        count++;
    if (count >= quota_disks) {
      nbdkit_error ("export '%.64s': refused by quota: the datastore holds "
                    "%" PRIu64 " disks (at most %" PRIu64 ")", export,
                    count, quota_disks);
      nbdkit_set_error (EDQUOT);
      scan_free (&s);
      return NULL;
    }
  }
  if (s.truncated) {
    nbdkit_error ("export '%.64s': refused: the datastore holds more than "
                  "%d entries, too many to check", export, MAX_FILES);
    nbdkit_set_error (EACCES);
    scan_free (&s);
    return NULL;
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
      scan_free (&s);
      return NULL;
    }
  }

  path = resolve (p, 0);
  if (!path || dangling_clash (path, &s) < 0) {
    scan_free (&s);
    free (path);
    return NULL;
  }
  if (vd_disk_create (path, &params) < 0) {
    vd_fail ();
    scan_free (&s);
    free (path);
    return NULL;
  }
  /* the new disk's files, checked as any export's are */
  scan_free (&s);
  d = NULL;
  if (scan_datastore (&s) == 0) {
    int parent = 0;
    if (export_check (path, &s, &parent) == 0 && !parent)
      d = open_verified (path, 0, &s);
    else if (parent)
      nbdkit_error ("%s: a disk names the new disk as its parent", path);
    scan_free (&s);
  }
  if (!d || vd_disk_set_meta (d, INCOMPLETE_KEY, "1") < 0
      || set_bios_geometry (d, &bios) < 0) {
    if (d)
      vd_fail ();
    vd_disk_close (d);
    nbdkit_error ("%s: created but not opened", path);
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

/* quota-free holds for writes too: a thin or sparse disk grows as it is
 * written, so a write that could leave less than quota-free bytes free
 * is refused (ENOSPC) instead of filling the file system. */
static int
check_free (uint32_t count)
{
  struct statvfs sv;
  if (!quota_free || statvfs (datastore, &sv) < 0)
    return 0;
  uint64_t avail = (uint64_t) sv.f_bavail * sv.f_frsize;
  if (avail < quota_free || avail - quota_free < count) {
    nbdkit_error ("write refused by quota: %" PRIu64 " bytes free, %"
                  PRIu64 " must stay free", avail, quota_free);
    nbdkit_set_error (ENOSPC);
    return -1;
  }
  return 0;
}

static int
vdisk_pwrite (void *handle, const void *buf, uint32_t count,
              uint64_t offset, uint32_t flags)
{
  struct handle *h = handle;
  if (check_free (count) < 0)
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
