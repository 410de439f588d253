/* Repair of hosted sparse extents (vdisk check --repair).
 * security-checklist.md §2.3. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Repair one hosted sparse extent file: the sparse driver's check with
 * its fix mode, on the file alone (a normal open may refuse it). */
static int
repair_file (const char *path, struct vd_check_ctx *ctx, uint32_t flags)
{
  struct vd_extent e;
  int r;
  memset (&e, 0, sizeof e);
  r = vd__check_vmware_lock (path, flags & VD_OPEN_FORCE);
  if (r < 0)
    return r;
  r = vd__io_posix_open (&e.io, AT_FDCWD, path, path, VD_IO_RDWR);
  if (r < 0)
    return r;
  e.path = (char *) path;
  e.drv = &vd__sparse_driver;
  r = vd__lock (e.io, 1);
  if (r == 0)
    r = e.drv->check (&e, ctx, 1);
  vd__io_close (e.io);
  return r;
}

/* The files of the top link's hosted sparse extents, from its
 * descriptor (read here: a normal open may refuse the damaged disk). */
static int
rx_extent_paths (const char *path, uint32_t flags, char ***out, size_t *n)
{
  struct vd_io *io = NULL;
  struct vd_descriptor *d = NULL;
  struct vd_descfile w;
  char *dir = NULL;
  int r;

  *out = NULL;
  *n = 0;
  r = vd__io_posix_open (&io, AT_FDCWD, path, path, VD_IO_FOLLOW);
  if (r < 0)
    return r;
  r = vd__descfile_locate (io, &w);
  if (r < 0)
    goto out;
  if (w.kind == VD_DESCFILE_SPARSE) {   /* a lone extent: repair the file itself */
    *out = calloc (1, sizeof **out);
    if (*out && ((*out)[0] = vd__strdup (path)))
      *n = 1;
    else
      r = VD_ENOMEM;
    goto out;
  }
  r = vd__descfile_load (io, &w, path, &d, NULL);
  if (r < 0)
    goto out;
  dir = vd__dirname (path);
  *out = calloc (d->n_extents ? d->n_extents : 1, sizeof **out);
  if (!dir || !*out) {
    r = VD_ENOMEM;
    goto out;
  }
  for (size_t i = 0; i < d->n_extents; i++) {
    const struct vd_desc_extent *e = vd__desc_extent (d, i);
    if (!e->file || strcmp (e->type, "SPARSE") != 0)
      continue;
    /* the rule of every open: an embedded descriptor's extent is this
     * very file, whatever name its line gives (a copy names the
     * original) */
    r = vd__extent_path (d, i, w.kind == VD_DESCFILE_EMBEDDED, path, dir,
                         (flags & VD_OPEN_TRUSTED) != 0, &(*out)[*n]);
    if (r < 0)
      goto out;
    (*n)++;
  }
out:
  if (r < 0 && *out) {
    for (size_t i = 0; i < *n; i++)
      free ((*out)[i]);
    free (*out);
    *out = NULL;
    *n = 0;
  }
  free (dir);
  vd__desc_free (d);
  vd__io_close (io);
  return r;
}

int
vd_check_repair (const char *path, uint32_t open_flags,
                 struct vd_check_result *result,
                 vd_check_message_cb message, void *payload)
{
  struct vd_check_result scratch;
  struct vd_check_ctx ctx = { .res = result ? result : &scratch,
                              .message = message, .payload = payload,
                              .file = path };
  char **files = NULL;
  size_t n = 0;
  int r, fixes = 0;

  VD_ENTER ();
  if (!path)
    return vd__error (VD_EINVAL, 0, "repair: no path");
  if (open_flags & VD_OPEN_READ_ONLY)
    return vd__error (VD_EINVAL, 0, "%s: repair writes; a read-only repair "
                     "is a check", path);
  r = vd__check_vmware_lock (path, open_flags);
  if (r < 0)
    return r;
  r = rx_extent_paths (path, open_flags, &files, &n);
  if (r < 0)
    return r;
  {
    /* a copied descriptor names the original's extents: repairing them
     * writes another disk's files */
    struct vd_files f = { 0 }, self = { 0 };
    struct vd_user u;
    char *dir = vd__dirname (path);
    r = dir ? vd__files_add (&self, path) : VD_ENOMEM;
    for (size_t i = 0; i < n && r == 0; i++)
      r = vd__files_add (&f, files[i]);
    if (r == 0 && !(open_flags & VD_OPEN_FORCE)
        && vd__find_user (dir, f.ids, f.n,
                          VD_USE_EXTENT | VD_USE_CTK | VD_USE_DESC, self.ids,
                          self.n, NULL, &u)) {
      r = vd__error (VD_EPARENT, 0, "%s: another disk in this folder, %s, "
                    "uses %s as %s too; the repair would write that "
                    "disk's file (force to repair it anyway)", path, u.disk,
                    f.names[u.which], vd__use_name (u.how));
      free (u.disk);
    }
    vd__files_free (&f);
    vd__files_free (&self);
    free (dir);
  }
  for (size_t i = 0; i < n && r >= 0; i++) {
    r = repair_file (files[i], &ctx, open_flags);
    if (r > 0)
      fixes += r;
  }
  for (size_t i = 0; i < n; i++)
    free (files[i]);
  free (files);
  if (r < 0)
    return r;
  /* what is left, as a check sees it */
  if (result) {
    r = vd_check (path, open_flags & ~VD_OPEN_READ_ONLY, result, message,
                  payload);
    if (r < 0)
      return r;
  }
  return fixes;
}
