/* The disks beside a disk: who uses a file (as an extent, a parent, a
 * change-tracking file or a descriptor), found by listing the folder and
 * reading each descriptor cheaply.  Open refuses a write that would
 * invalidate a child or change a disk sharing files; manage refuses to
 * move or delete what another disk uses.  A leaf: only the descriptor
 * parser and io below it. */
#include "internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_SCAN_FILES 4096
#define MAX_SMALL_DESC (64u << 10)

/* ---- reading another disk's descriptor cheaply --------------------------- */

/* Parse the descriptor of the VMDK file path without opening its extents.
 * Returns 0 with *out NULL when the file is not a descriptor; *embedded
 * says whether the text lives inside a sparse file. */
static int
peek_descriptor (int dirfd, const char *name, struct vd_descriptor **out,
                 int *embedded)
{
  struct vd_io *io = NULL;
  struct vd_descfile w;

  *out = NULL;
  *embedded = 0;
  if (vd__io_posix_open (&io, dirfd, name, name, 0) < 0
      || vd__descfile_locate (io, &w) < 0 || w.file_size < 4)
    goto out;
  if (w.kind == VD_DESCFILE_EMBEDDED)
    *embedded = 1;
  else if (w.kind == VD_DESCFILE_SPARSE || w.file_size > MAX_SMALL_DESC
           || w.magic[0] == 0)
    goto out;
  /* a file that is not a descriptor is simply not a user */
  if (vd__descfile_load (io, &w, name, out, NULL) < 0)
    *out = NULL;
out:
  vd__error_clear ();
  vd__io_close (io);
  return 0;
}

int
vd__same_path (const char *a, const char *b)
{
  struct stat sa, sb;
  return stat (a, &sa) == 0 && stat (b, &sb) == 0 && sa.st_dev == sb.st_dev
         && sa.st_ino == sb.st_ino;
}

int
vd__file_id (const char *path, struct vd_file_id *id)
{
  struct stat st;
  if (!path || stat (path, &st) < 0)
    return -1;
  id->dev = st.st_dev;
  id->ino = st.st_ino;
  return 0;
}

/* The index in ids[0..n) of the file dir/name (or name, when absolute),
 * or -1. */
static long
id_index (int dirfd, const char *name, const struct vd_file_id *ids,
          size_t n)
{
  struct stat st;
  if (!name || !vd__name_ok (name, 1)
      || fstatat (name[0] == '/' ? AT_FDCWD : dirfd, name, &st, 0) < 0)
    return -1;
  for (size_t i = 0; i < n; i++)
    if (ids[i].dev == st.st_dev && ids[i].ino == st.st_ino)
      return (long) i;
  return -1;
}

/* One question to the folder: who uses one of ids[0..n) in one of the
 * ways of uses (vd__find_user's rule); u is the first answer. */
struct user_query {
  const struct vd_file_id *ids;
  size_t n;
  unsigned uses;
  const uint32_t *parent_cid;
  struct vd_user u;
  int found;
};

/* How the disk dir/name (descriptor desc, st its file) uses a file of q,
 * or 0; *k is then the file's index in q->ids. */
static unsigned
match_use (const struct user_query *q, int fd, const char *name,
           const struct stat *st, const struct vd_descriptor *desc,
           int embedded, long *k)
{
  unsigned how = 0;

  if (q->uses & VD_USE_DESC)
    for (size_t i = 0; i < q->n && !how; i++)
      if (q->ids[i].dev == st->st_dev && q->ids[i].ino == st->st_ino) {
        *k = (long) i;
        how = VD_USE_DESC;
      }
  if (!how && (q->uses & VD_USE_PARENT)) {
    const char *hint = vd__desc_get (desc, "parentFileNameHint");
    const char *pc = vd__desc_get (desc, "parentCID");
    if (hint && (!q->parent_cid
                 || (pc && (uint32_t) strtoul (pc, NULL, 16)
                             == *q->parent_cid))
        && (*k = id_index (fd, hint, q->ids, q->n)) >= 0)
      how = VD_USE_PARENT;
  }
  /* An embedded descriptor's only extent is the file holding it (open
   * refuses one that names more): bytes a client wrote into a flat
   * extent that happen to form a sparse header name nobody's files. */
  size_t n_ext = embedded ? VD_MIN (desc->n_extents, (size_t) 1)
                          : desc->n_extents;
  for (size_t i = 0; !how && (q->uses & VD_USE_EXTENT) && i < n_ext; i++) {
    const struct vd_desc_extent *e = vd__desc_extent (desc, i);
    /* vd__extent_path's rule: an embedded descriptor's first extent is
     * the file holding it */
    const char *file = embedded && i == 0 ? name : e->file;
    if (file && (*k = id_index (fd, file, q->ids, q->n)) >= 0)
      how = VD_USE_EXTENT;
  }
  if (!how && (q->uses & VD_USE_CTK)
      && (*k = id_index (fd, vd__desc_get (desc, "changeTrackPath"), q->ids,
                         q->n)) >= 0)
    how = VD_USE_CTK;
  return how;
}

/* Answer the questions q[0..nq) in one listing of dir (the files skip
 * left out), each with its first user in the folder's order.  Returns
 * how many were answered; never an error. */
static int
find_users (const char *dir, struct user_query *q, size_t nq,
            const struct vd_file_id *skip, size_t n_skip)
{
  DIR *d;
  struct dirent *de;
  int scanned = 0, found = 0, open_q = 0, fd;

  for (size_t i = 0; i < nq; i++) {
    memset (&q[i].u, 0, sizeof q[i].u);
    q[i].found = 0;
    if (q[i].n)
      open_q++;
  }
  if (!open_q)
    return 0;
  fd = open (dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (fd < 0 || !(d = fdopendir (fd))) {
    if (fd >= 0)
      close (fd);
    return 0;                   /* cannot list: nothing to compare */
  }
  fd = dirfd (d);
  while (found < open_q && (de = readdir (d)) && scanned < MAX_SCAN_FILES) {
    size_t len = strlen (de->d_name);
    struct vd_descriptor *desc;
    struct stat st;
    int embedded, is_skip = 0;
    if (len < 5 || strcasecmp (de->d_name + len - 5, ".vmdk") != 0)
      continue;
    if (fstatat (fd, de->d_name, &st, 0) < 0 || !S_ISREG (st.st_mode))
      continue;
    for (size_t i = 0; i < n_skip; i++)
      if (skip[i].dev == st.st_dev && skip[i].ino == st.st_ino)
        is_skip = 1;
    if (is_skip)
      continue;
    scanned++;
    peek_descriptor (fd, de->d_name, &desc, &embedded);
    if (!desc)
      continue;
    for (size_t i = 0; i < nq; i++) {
      long k = -1;
      unsigned how;
      if (q[i].found || !q[i].n)
        continue;
      how = match_use (&q[i], fd, de->d_name, &st, desc, embedded, &k);
      if (how) {
        q[i].u.disk = vd__path_join (dir, de->d_name);
        q[i].u.which = (size_t) k;
        q[i].u.how = how;
        q[i].found = q[i].u.disk != NULL;
        found += q[i].found;
      }
    }
    vd__desc_free (desc);
  }
  closedir (d);
  return found;
}

int
vd__find_user (const char *dir, const struct vd_file_id *ids, size_t n,
               unsigned uses, const struct vd_file_id *skip, size_t n_skip,
               const uint32_t *parent_cid, struct vd_user *u)
{
  struct user_query q = { .ids = ids, .n = n, .uses = uses,
                          .parent_cid = parent_cid };
  int found = find_users (dir, &q, 1, skip, n_skip);
  *u = q.u;
  return found;
}

int
vd__find_child (struct vd_link *l, int match_cid, char **child)
{
  struct vd_file_id self;
  struct vd_user u;

  *child = NULL;
  if (l->dirfd < 0 || vd__file_id (l->path, &self) < 0)
    return 0;
  if (!vd__find_user (l->dir, &self, 1, VD_USE_PARENT, &self, 1,
                      match_cid ? &l->cid : NULL, &u))
    return 0;
  *child = u.disk;
  return 1;
}

const char *
vd__use_name (unsigned how)
{
  return how == VD_USE_PARENT ? "its parent"
         : how == VD_USE_CTK ? "its change-tracking file"
         : how == VD_USE_DESC ? "its descriptor" : "an extent";
}

/* Append the file at path to the list unless it is there already (by
 * device and inode) or does not exist. */
int
vd__files_add (struct vd_files *f, const char *path)
{
  struct vd_file_id id;
  if (!path || vd__file_id (path, &id) < 0)
    return 0;
  for (size_t j = 0; j < f->n; j++)
    if (f->ids[j].dev == id.dev && f->ids[j].ino == id.ino)
      return 0;
  if (f->n == f->cap) {
    size_t cap = f->cap ? 2 * f->cap : 8;
    struct vd_file_id *ni = realloc (f->ids, cap * sizeof *ni);
    if (ni)
      f->ids = ni;
    char **nn = realloc (f->names, cap * sizeof *nn);
    if (nn)
      f->names = nn;
    if (!ni || !nn)
      return vd__error (VD_ENOMEM, errno, "file list");
    f->cap = cap;
  }
  f->names[f->n] = vd__strdup (path);
  if (!f->names[f->n])
    return VD_ENOMEM;
  f->ids[f->n++] = id;
  return 0;
}

int
vd__files_add_link (struct vd_files *f, struct vd_link *l, int with_desc,
                    int with_ctk)
{
  const char *ctk = with_ctk ? vd__desc_get (l->desc, "changeTrackPath")
                             : NULL;
  int r = 0;
  if (with_desc)
    r = vd__files_add (f, l->path);
  for (size_t i = 0; i < l->n_extents && r == 0; i++)
    if (l->extents[i].io)
      r = vd__files_add (f, l->extents[i].path);
  if (r == 0 && ctk && vd__name_ok (ctk, 0)) {
    char *p = vd__path_join (l->dir, ctk);
    r = p ? vd__files_add (f, p) : VD_ENOMEM;
    free (p);
  }
  return r;
}

void
vd__files_free (struct vd_files *f)
{
  for (size_t i = 0; i < f->n; i++)
    free (f->names[i]);
  free (f->names);
  free (f->ids);
  memset (f, 0, sizeof *f);
}

static int
shared_error (struct vd_link *l, const struct vd_user *u, const char *file,
              const char *what, const char *hint)
{
  return vd__error_why (VD_REASON_SHARED_FILE,
                        vd__error (VD_EPARENT, 0, "%s: another disk in this "
                                  "folder, %s, uses %s as %s: %s would "
                                  "change that disk too%s%s%s", l->path,
                                  u->disk, file, vd__use_name (u->how), what,
                                  hint ? " (" : "", hint ? hint : "",
                                  hint ? ")" : ""));
}

int
vd__refuse_shared (struct vd_link *l, int with_ctk, const char *what,
                   const char *hint)
{
  struct vd_files f = { 0 }, self = { 0 };
  struct vd_user u;
  int r;

  /* the files the disk writes or removes other than its descriptor file,
   * in any use; the descriptor file (an embedded one holds the data) as
   * another disk's extent or change-tracking file (children naming it
   * as their parent are the callers' own check, which force overrides) */
  r = vd__files_add (&self, l->path);
  if (r == 0)
    r = vd__files_add (&f, l->path);
  if (r == 0)
    r = vd__files_add_link (&f, l, 0, with_ctk);
  if (r == 0 && self.n && f.n
      && (vd__find_user (l->dir, f.ids + 1, f.n - 1, VD_USE_ANY, self.ids,
                         self.n, NULL, &u)
          ? (u.which++, 1)
          : vd__find_user (l->dir, f.ids, 1, VD_USE_EXTENT | VD_USE_CTK,
                           self.ids, self.n, NULL, &u))) {
    char *base = vd__basename (f.names[u.which]);
    r = shared_error (l, &u, base ? base : f.names[u.which], what, hint);
    free (base);
    free (u.disk);
  }
  vd__files_free (&f);
  vd__files_free (&self);
  return r;
}

static int
child_error (struct vd_link *l, const char *child)
{
  return vd__error_why (VD_REASON_HAS_CHILD,
                        vd__error (VD_EPARENT, 0, "%s: %s is a child of this "
                                  "disk (its parentCID %08x matches); "
                                  "writing here would invalidate it.  Open "
                                  "the child instead (or use the force "
                                  "option to write here and invalidate the "
                                  "child)", l->path, child, l->cid));
}

int
vd__check_no_child (struct vd_link *l)
{
  char *child;
  int r = 0;
  if (vd__find_child (l, 1, &child)) {
    r = child_error (l, child);
    free (child);
  }
  return r;
}

int
vd__check_rw_open (struct vd_link *l)
{
  struct vd_files f = { 0 }, self = { 0 };
  struct vd_file_id me;
  struct user_query q[3];
  int r, with_child;

  /* the three questions of vd__check_no_child and vd__refuse_shared (l,
   * 0, ...), asked in one listing, answered in that order */
  memset (q, 0, sizeof q);
  with_child = l->dirfd >= 0 && vd__file_id (l->path, &me) == 0;
  if (with_child) {
    q[0].ids = &me;
    q[0].n = 1;
    q[0].uses = VD_USE_PARENT;
    q[0].parent_cid = &l->cid;
  }
  r = vd__files_add (&self, l->path);
  if (r == 0)
    r = vd__files_add (&f, l->path);
  if (r == 0)
    r = vd__files_add_link (&f, l, 0, 0);
  if (r == 0 && self.n && f.n) {
    q[1].ids = f.ids + 1;
    q[1].n = f.n - 1;
    q[1].uses = VD_USE_ANY;
    q[2].ids = f.ids;
    q[2].n = 1;
    q[2].uses = VD_USE_EXTENT | VD_USE_CTK;
  }
  if (q[0].n || q[1].n || q[2].n)
    find_users (l->dir, q, 3, with_child ? &me : self.ids,
                with_child ? 1 : self.n);
  if (q[0].found)
    r = child_error (l, q[0].u.disk);
  else if (r == 0 && (q[1].found || q[2].found)) {
    struct vd_user *u = q[1].found ? &q[1].u : &q[2].u;
    size_t which = q[1].found ? u->which + 1 : u->which;
    char *base = vd__basename (f.names[which]);
    r = shared_error (l, u, base ? base : f.names[which], "writing to it",
                      "force the write to do it anyway");
    free (base);
  }
  for (int i = 0; i < 3; i++)
    free (q[i].u.disk);
  vd__files_free (&f);
  vd__files_free (&self);
  return r;
}

/* VD_EPARENT when a VMDK in l's folder names l as its parent. */
int
vd__refuse_children (struct vd_link *l, const char *what)
{
  char *child;
  int r = 0;
  if (vd__find_child (l, 0, &child)) {
    r = vd__error_why (VD_REASON_HAS_CHILD, vd__error (VD_EPARENT, 0, "%s: %s names this disk as its parent; "
                  "%s it would break that child (force to do it anyway)",
                  l->path, child, what));
    free (child);
  }
  return r;
}

/* VD_EINVAL when path is another name of a disk that renaming or
 * deleting its files would break: a symbolic link (the disk it points to
 * would lose its extents but keep its descriptor), or a text descriptor
 * with a second hard link (that name would name files that are gone).  A
 * sparse file with an embedded descriptor is the whole disk: another
 * name of it keeps all of it. */
int
vd__refuse_alias (struct vd_link *l, const char *path)
{
  struct stat st;
  struct vd_io_stat ist;
  if (lstat (path, &st) == 0 && S_ISLNK (st.st_mode))
    return vd__error (VD_EINVAL, 0, "%s: is a symbolic link; give the path "
                     "of the disk's descriptor itself", path);
  if (!l->embedded && vd__io_stat (l->desc_io, &ist) == 0 && ist.nlink > 1)
    return vd__error (VD_EINVAL, 0, "%s: this descriptor has %ju names (hard "
                     "links); moving or deleting its files would leave the "
                     "other names naming files that are gone (remove them "
                     "first)", path, (uintmax_t) ist.nlink);
  return 0;
}
