/* First class disks: relocate, moving an FCD to another datastore folder
 * with its UUID, snapshots, metadata and attachments (the .vmx entries
 * follow).  Refused while a backup program holds relocation off
 * (PrepareForAccess). */
#include "fcd/fcd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


static int
copy_file (int sfd, int dfd, const char *name, const char *where)
{
  int in = openat (sfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  int out = in >= 0 ? openat (dfd, name, O_WRONLY | O_CREAT | O_TRUNC
                              | O_CLOEXEC | O_NOFOLLOW, 0644) : -1;
  char *buf = malloc (1u << 20);
  int r = 0;
  if (in < 0 || out < 0 || !buf)
    r = vd__error (VD_EIO, errno, "%s/%s: copy", where, name);
  while (r == 0) {
    ssize_t k = read (in, buf, 1u << 20);
    if (k < 0)
      r = vd__error (VD_EIO, errno, "%s/%s: read", where, name);
    if (k <= 0)
      break;
    if (write (out, buf, (size_t) k) != k)
      r = vd__error (vd__errno_code (errno), errno, "%s/%s: write", where,
                    name);
  }
  if (r == 0 && fsync (out) < 0)
    r = vd__error (VD_EIO, errno, "%s/%s: fsync", where, name);
  free (buf);
  if (in >= 0)
    close (in);
  if (out >= 0)
    close (out);
  return r;
}

/* The FCD folder from src to dst: one rename on one file system, else a
 * copy into dst's work folder renamed into place (src stays until the
 * catalog of dst holds the FCD). */
static int
move_folder (const char *src, const char *dst, const char *tmp)
{
  if (rename (src, dst) == 0)
    return 0;
  if (errno != EXDEV)
    return vd__error (VD_EIO, errno, "%s: move to %s", src, dst);
  fcd_rm_folder (tmp);
  if (mkdir (tmp, 0755) < 0)
    return vd__error (VD_EIO, errno, "%s: make folder", tmp);
  DIR *d = opendir (src);
  int tfd = open (tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = 0;
  struct dirent *de;
  if (!d || tfd < 0)
    r = vd__error (VD_EIO, errno, "%s: open", src);
  while (r == 0 && (de = readdir (d))) {
    struct stat st;
    if (fstatat (dirfd (d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0
        && S_ISREG (st.st_mode))
      r = copy_file (dirfd (d), tfd, de->d_name, src);
  }
  if (r == 0)
    fsync (tfd);
  if (d)
    closedir (d);
  if (tfd >= 0)
    close (tfd);
  if (r == 0 && rename (tmp, dst) < 0)
    r = vd__error (VD_EIO, errno, "%s: rename to %s", tmp, dst);
  return r;
}

static int
dest_has (struct vd_fcd_store *d, const char *uuid)
{
  char u[VD_FCD_ID_SIZE];
  int r = fcd_resolve_id (d, uuid, u);
  vd__error_clear ();
  return r == 0 && strcmp (u, uuid) == 0;
}

/* Copy the FCD's rows from s's catalog into d's (one transaction). */
static int
copy_rows (struct vd_fcd_store *s, struct vd_fcd_store *d, const char *uuid)
{
  char *db = vd__asprintf ("%s/%s", s->ds, FCD_CATALOG);
  if (!db)
    return VD_ENOMEM;
  int r = fcd_sql (d, "ATTACH DATABASE ? AS src", "t", db);
  free (db);
  if (r < 0)
    return r;
  static const char *const copy[] = {
    "INSERT INTO main.fcd SELECT * FROM src.fcd WHERE uuid = ?",
    "INSERT INTO main.fcd_meta SELECT * FROM src.fcd_meta WHERE uuid = ?",
    "INSERT INTO main.snapshot SELECT * FROM src.snapshot WHERE uuid = ? "
    "ORDER BY seq",
    "INSERT INTO main.attachment SELECT * FROM src.attachment WHERE uuid = ?",
  };
  if ((r = fcd_begin (d)) == 0) {
    for (size_t i = 0; r == 0 && i < sizeof copy / sizeof *copy; i++)
      r = fcd_sql (d, copy[i], "t", uuid);
    r = fcd_end (d, r);
  }
  sqlite3_exec (d->db, "DETACH DATABASE src", NULL, NULL, NULL);
  return r;
}

/* Point the FCD's .vmx entries at its top link in the store at. */
static int
retarget_to (struct vd_fcd_store *s, struct vd_fcd_store *at,
             const char *uuid)
{
  struct fcd_row row;
  int r = fcd_load (s, uuid, &row);
  if (r < 0)
    return r;
  r = fcd_retarget (s, at, uuid, row.path);
  fcd_row_free (&row);
  return r;
}

/* From the moved folder on: repeatable. */
static int
relocate_tail (struct vd_fcd_store *s, struct vd_fcd_store *d,
               struct intent *in)
{
  const char *uuid = in->uuid;
  char *src = fcd_folder (s, uuid);
  int r = src ? 0 : VD_ENOMEM;
  if (r == 0 && !dest_has (d, uuid)) {
    r = retarget_to (s, d, uuid);
    if (r == 0)
      r = copy_rows (s, d, uuid);
  }
  fcd_checkpoint (s);
  if (r == 0)
    r = fcd_rm_folder (src);
  if (r == 0 && (r = fcd_begin (s)) == 0) {
    r = fcd_sql (s, "DELETE FROM fcd WHERE uuid = ?", "t", uuid);
    if (r == 0)
      r = fcd_intent_done (s, in);
    r = fcd_end (s, r);
  }
  free (src);
  return r;
}

static int
open_dest (struct vd_fcd_store *s, const char *dest, uint32_t flags,
           struct vd_fcd_store **d)
{
  int r = vd_fcd_store_open (d, dest, flags);
  if (r < 0)
    return r;
  if (strcmp ((*d)->ds, s->ds) == 0) {
    vd_fcd_store_close (*d);
    *d = NULL;
    return vd__error (VD_EINVAL, 0, "%s: relocate: the FCD is already in "
                     "this datastore", dest);
  }
  if ((r = fcd_lock (*d, 0)) < 0) {
    vd_fcd_store_close (*d);
    *d = NULL;
  }
  return r;
}

int
vd_fcd_relocate (vd_fcd_store *s, const char *id, const char *dest)
{
  struct intent in = { .op = "relocate" };
  struct fcd_row row;
  struct vd_fcd_store *d = NULL;
  char *src = NULL, *dst = NULL, *tmp = NULL;
  VD_ENTER ();
  if (!s || !dest)
    return vd__error (VD_EINVAL, 0, "relocate: no store or destination");
  int r = fcd_lock (s, 1);
  if (r < 0)
    return r;
  if ((r = fcd_load_id (s, id, &row)) < 0)
    goto out0;
  if (row.reloc) {
    r = vd__error (VD_ELOCKED, 0, "FCD %s: relocation is disabled (a backup "
                  "program is accessing it: PrepareForAccess); try again "
                  "after EndAccess", row.uuid);
    goto out;
  }
  if ((r = fcd_check_no_writer (s, row.path)) < 0)
    goto out;
  if ((r = open_dest (s, dest, VD_FCD_CREATE, &d)) < 0)
    goto out;
  if (dest_has (d, row.uuid)) {
    r = vd__error (VD_EEXIST, 0, "%s: already holds an FCD %s", d->ds,
                  row.uuid);
    goto out;
  }
  src = fcd_folder (s, row.uuid);
  dst = fcd_folder (d, row.uuid);
  tmp = vd__asprintf ("%s/%s/.%s.tmp", d->ds, FCD_DIR, row.uuid);
  if (!src || !dst || !tmp) {
    r = VD_ENOMEM;
    goto out;
  }
  memcpy (in.uuid, row.uuid, sizeof in.uuid);
  in.arg = d->ds;
  r = fcd_intent_begin (s, &in, NULL, NULL);
  in.arg = NULL;
  if (r < 0)
    goto out;
  fcd_checkpoint (s);
  if ((r = move_folder (src, dst, tmp)) < 0) {
    fcd_rm_folder (tmp);
    fcd_intent_done (s, &in);
    goto out;
  }
  fcd_checkpoint (s);
  r = relocate_tail (s, d, &in);
  if (r == 0)
    fcd_checkpoint (s);
out:
  free (src);
  free (dst);
  free (tmp);
  if (d) {
    fcd_unlock (d);
    vd_fcd_store_close (d);
  }
  fcd_row_free (&row);
out0:
  fcd_unlock (s);
  return r;
}

int
fcd_recover_relocate (struct vd_fcd_store *s, struct intent *in)
{
  const char *uuid = in->uuid, *dest = in->arg;
  struct vd_fcd_store *d = NULL;
  struct stat st;
  if (!dest || dest[0] != '/')
    return vd__error (VD_ECORRUPT, 0, "%s/%s: malformed relocate intent",
                     s->ds, FCD_CATALOG);
  int r = open_dest (s, dest, 0, &d);
  if (r == VD_ENOENT) {
    /* relocate makes the destination's catalog before its intent: none
     * there means nothing was moved */
    char *src = fcd_folder (s, uuid);
    int have = src && lstat (src, &st) == 0;
    free (src);
    if (have) {
      vd__error_clear ();
      return fcd_intent_done (s, in);
    }
  }
  if (r < 0)
    return r;
  char *src = fcd_folder (s, uuid), *dst = fcd_folder (d, uuid);
  char *tmp = vd__asprintf ("%s/%s/.%s.tmp", d->ds, FCD_DIR, uuid);
  if (!src || !dst || !tmp)
    r = VD_ENOMEM;
  else if (dest_has (d, uuid) || lstat (src, &st) < 0)
    r = relocate_tail (s, d, in);       /* forward */
  else {
    /* the source is whole: undo any copy */
    r = fcd_rm_folder (tmp);
    if (r == 0 && lstat (dst, &st) == 0)
      r = fcd_rm_folder (dst);
    if (r == 0)
      r = retarget_to (s, s, uuid);
    if (r == 0)
      r = fcd_intent_done (s, in);
  }
  free (src);
  free (dst);
  free (tmp);
  fcd_unlock (d);
  vd_fcd_store_close (d);
  return r;
}
