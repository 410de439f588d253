/* nbdkit-vdisk-plugin, the datastore: which names are exports (the name
 * rules and resolve), which files are disks' descriptors and which are
 * their extents (the scan of the datastore, the checks before and after
 * an open), list_exports, and the quotas. */
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

/* (see plugin.h) */
const char *
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

/* (see plugin.h) */
const char *
inside_datastore (const char *path)
{
  size_t n = strlen (datastore);
  return strncmp (path, datastore, n) == 0 && path[n] == '/'
         ? path + n + 1 : NULL;
}

/* (see plugin.h) */
char *
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

/* a sparse file whose embedded descriptor names other extents */
#define EMBEDDED_EXTRA 100

int
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

void
scan_free_arrays (struct scan *s)
{
  for (size_t i = 0; i < s->n_stamps; i++)
    free (s->stamps[i].rel);
  free (s->stamps);
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
  /* what a path (or a symbolic link) reaches can change without a change
   * to a folder the scan read: such a scan is never reused */
  if (strchr (name, '/'))
    c->s->no_cache = 1;

  if (fstatat (dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    add_ref (c->s, &st, c->owner, kind);
    if (S_ISLNK (st.st_mode))
      c->s->no_cache = 1;
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
    scan_stamp (s, rel, &st);
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

int
scan_read (struct scan *s)
{
  int fd = open (datastore, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct stat st;
  memset (s, 0, sizeof *s);
  clock_gettime (CLOCK_MONOTONIC, &s->taken);
  clock_gettime (CLOCK_REALTIME, &s->real);
  if (fd < 0) {
    nbdkit_error ("%s: %s", datastore, strerror (errno));
    nbdkit_set_error (errno);
    return -1;
  }
  if (fstat (fd, &st) == 0)
    scan_stamp (s, "", &st);
  else
    s->no_cache = 1;
  scan_dir (fd, datastore, "", 0, s);
  close (fd);
  if (s->err) {
    nbdkit_error ("%s: out of memory while reading the datastore",
                  datastore);
    nbdkit_set_error (ENOMEM);
    scan_free_arrays (s);
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
  char *real = realpath (path, NULL);
  int inside = real && strcmp (real, path) == 0 && inside_datastore (path);
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
int
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
    return plugin_fail ();
  if (kind == VD_DESC_NONE)
    REFUSE ("%s: refused: not a disk's descriptor (an extent or another "
            "kind of file)", path);
  if (kind == VD_DESC_TEXT_BINARY)
    REFUSE ("%s: refused: binary data follows the descriptor text: this "
            "is an extent holding text, not a descriptor", path);
  if (kind == VD_DESC_EMBEDDED) {
    struct ref_ctx x = { NULL, -1, NULL, 0, 0 };
    if (vd_descriptor_refs (path, count_cb, &x) < 0)
      return plugin_fail ();
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
      return plugin_fail ();
    if (plain_file_inside (li.path, &st, i ? "a parent" : "the disk") < 0)
      return -1;
    struct fid lid = stat_fid (&st);
    kind = vd_descriptor_refs (li.path, names_cb, &x);
    if (kind < 0) {
      r = plugin_fail ();
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
        r = plugin_fail ();
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

int
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
  for (size_t i = 0; i < s.n_cands && listed < max_listed; i++) {
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
  if (r == 0)
    r = list_fcd_exports (exports, &listed);
  return r;
}

const char *
vdisk_default_export (int readonly, int is_tls)
{
  (void) readonly;
  (void) is_tls;
  return default_name ? default_name : "";
}

struct fid
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
vd_disk *
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

/* ---- quotas ------------------------------------------------------------ */

int
quota_check_create (const char *export, uint64_t capacity, int prealloc,
                    struct scan *s)
{
  struct statvfs sv;

  if (quota_capacity && capacity > quota_capacity) {
    nbdkit_error ("export '%.64s': refused by quota: %" PRIu64 " bytes is "
                  "more than the %" PRIu64 " a disk may have", export,
                  capacity, quota_capacity);
    nbdkit_set_error (EDQUOT);
    return -1;
  }
  if (scan_datastore (s) < 0)
    return -1;
  if (quota_disks) {
    /* every descriptor counts, listed or not */
    uint64_t count = 0;
    for (size_t i = 0; i < s->n_cands; i++)
      if (s->cands[i].kind == VD_DESC_TEXT
          || s->cands[i].kind == VD_DESC_EMBEDDED)
        count++;
    if (count >= quota_disks) {
      nbdkit_error ("export '%.64s': refused by quota: the datastore holds "
                    "%" PRIu64 " disks (at most %" PRIu64 ")", export,
                    count, quota_disks);
      nbdkit_set_error (EDQUOT);
      scan_free (s);
      return -1;
    }
  }
  if (s->truncated) {
    nbdkit_error ("export '%.64s': refused: the datastore holds more than "
                  "%d entries, too many to check", export, MAX_FILES);
    nbdkit_set_error (EACCES);
    scan_free (s);
    return -1;
  }
  if (statvfs (datastore, &sv) == 0) {
    uint64_t avail = (uint64_t) sv.f_bavail * sv.f_frsize;
    uint64_t need = prealloc ? capacity : 0;
    if (avail < need || avail - need < quota_free) {
      nbdkit_error ("export '%.64s': refused by quota: %" PRIu64 " bytes "
                    "free, %" PRIu64 " needed and %" PRIu64 " must stay "
                    "free", export, avail, need, quota_free);
      nbdkit_set_error (prealloc && avail < need ? ENOSPC : EDQUOT);
      scan_free (s);
      return -1;
    }
  }
  return 0;
}

/* quota-free holds for writes too: a thin or sparse disk grows as it is
 * written, so a write that could leave less than quota-free bytes free
 * is refused (ENOSPC) instead of filling the file system. */
int
quota_check_write (uint32_t count)
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
