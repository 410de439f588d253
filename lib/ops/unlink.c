/* vd_disk_unlink (an operation beside create: commit removes the links it
 * collapsed with it): the descriptor first (from then on there is no disk,
 * only files), then the extents and the change-tracking file; never a
 * file another disk or the parent chain uses. */
#include "internal.h"

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

/* ---- unlink ------------------------------------------------------------------ */

int
vd_disk_unlink (const char *path, uint32_t flags)
{
  vd_disk *src = NULL, *chain = NULL;
  struct vd_guard *g = NULL;
  int trusted = (flags & VD_OPEN_TRUSTED) != 0, r;
  struct vd_link *l;
  struct stat st;

  VD_ENTER ();
  if (!path || !*path)
    return vd__error (VD_EINVAL, 0, "unlink: no disk given");
  r = vd_disk_open (&src, path, VD_OPEN_READ_ONLY | VD_OPEN_SINGLE_LINK
                                  | (flags & VD_OPEN_TRUSTED));
  if (r < 0)
    return r;
  l = src->top;
  if (l->raw) {
    r = vd__error (VD_EINVAL, 0, "%s: a raw image is a single file: delete "
                  "it with rm", path);
    goto out;
  }
  g = calloc (1, sizeof *g);
  if (!g) {
    r = vd__error (VD_ENOMEM, errno, "unlink");
    goto out;
  }
  r = vd__guard_link (g, l, trusted);
  if (r < 0)
    goto out;
  if (!(flags & VD_OPEN_FORCE) && (r = vd__refuse_children (l, "deleting")) < 0)
    goto out;
  if (flags & VD_UNLINK_DESCRIPTOR_ONLY) {
    /* only the descriptor goes; it must not be another disk's file
     * (an embedded descriptor is the disk's data too) */
    struct vd_file_id self;
    struct vd_user u;
    if (vd__file_id (l->path, &self) == 0
        && vd__find_user (l->dir, &self, 1, VD_USE_EXTENT | VD_USE_CTK,
                          &self, 1, NULL, &u)) {
      r = vd__error (VD_EPARENT, 0, "%s: another disk in this folder, %s, "
                    "uses this file as %s; refusing to delete it", path,
                    u.disk, vd__use_name (u.how));
      free (u.disk);
      goto out;
    }
    if (unlink (l->path) < 0)
      r = vd__error (vd__errno_code (errno), errno, "%s: cannot delete",
                    l->path);
    else
      fsync (l->dirfd);
    goto out;
  }
  if ((r = vd__refuse_shared (l, 1, "deleting it",
                              "the descriptor-only option removes only "
                              "this descriptor")) < 0
      || (r = vd__refuse_alias (l, path)) < 0)
    goto out;
  /* Never a file of the parent chain, whatever the extent lines say. */
  if (l->parent_cid != 0xffffffffu
      || vd__desc_get (l->desc, "parentFileNameHint")) {
    if (vd_disk_open (&chain, path, VD_OPEN_READ_ONLY | VD_OPEN_IGNORE_CID
                                      | (flags & VD_OPEN_TRUSTED)) < 0)
      vd__error_clear ();      /* parent missing: nothing to protect */
    for (unsigned k = 1; chain && k < chain->n_links && r == 0; k++) {
      struct vd_link *p = chain->links[k];
      for (size_t i = 0; i < l->n_extents && r == 0; i++) {
        if (!l->extents[i].path)
          continue;
        if (vd__same_path (l->extents[i].path, p->path))
          r = vd__error (VD_EPARENT, 0, "%s: extent %s is the descriptor of "
                        "its parent; refusing to delete it", path,
                        l->extents[i].path);
        for (size_t j = 0; j < p->n_extents && r == 0; j++)
          if (p->extents[j].path
              && vd__same_path (l->extents[i].path, p->extents[j].path))
            r = vd__error (VD_EPARENT, 0, "%s: extent %s belongs to its "
                          "parent %s too; refusing to delete it", path,
                          l->extents[i].path, p->path);
      }
    }
    vd_disk_close (chain);
    if (r < 0)
      goto out;
  }
  /* The descriptor first: from then on there is no disk, only files. */
  if (unlink (l->path) < 0) {
    r = vd__error (vd__errno_code (errno), errno, "%s: cannot delete",
                  l->path);
    goto out;
  }
  for (size_t i = 0; i < l->n_extents; i++) {
    struct vd_extent *e = &l->extents[i];
    if (!e->io || e->io == l->desc_io)
      continue;
    if (unlink (e->path) < 0 && errno != ENOENT && r == 0)
      r = vd__error (vd__errno_code (errno), errno, "%s: cannot delete the "
                    "extent", e->path);
  }
  {
    const char *ctk = vd__desc_get (l->desc, "changeTrackPath");
    if (ctk && vd__name_ok (ctk, 0)
        && fstatat (l->dirfd, ctk, &st, AT_SYMLINK_NOFOLLOW) == 0
        && S_ISREG (st.st_mode) && unlinkat (l->dirfd, ctk, 0) < 0 && r == 0)
      r = vd__error (vd__errno_code (errno), errno, "%s/%s: cannot delete "
                    "the change-tracking file", l->dir, ctk);
  }
  fsync (l->dirfd);
out:
  if (g)
    vd__guard_release (g);
  free (g);
  vd_disk_close (src);
  return r;
}
