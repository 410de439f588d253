/* Children: create a child of an open disk (a sparse disk that records
 * its parent's CID), and attach (re-parent) a child to another parent.
 * vmdk-format.md §4.5-4.6, security-checklist.md §4 items 40-44. */
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

/* The name to write in parentFileNameHint for a parent at parent_path,
 * seen from a child in child_dir: a plain name when both share a folder,
 * otherwise the parent's absolute path (opening that needs the trusted
 * option, as VMware's absolute hints do). */
char *
vd__parent_hint (const char *child_dir, const char *parent_path)
{
  char cd[PATH_MAX], pp[PATH_MAX];
  if (!realpath (child_dir, cd) || !realpath (parent_path, pp)) {
    vd__error (VD_ENOENT, errno, "%s: cannot resolve", parent_path);
    return NULL;
  }
  char *pdir = vd__dirname (pp);
  char *r;
  if (!pdir)
    return NULL;
  if (strcmp (pdir, cd) == 0)
    r = vd__basename (pp);
  else
    r = vd__strdup (pp);
  free (pdir);
  return r;
}

/* ---- create child -------------------------------------------------------------------- */

/* A child records its parent's CID, and a child whose parentCID is
 * ffffffff never opens: the parent needs a real CID line first. */
static int
parent_cid_ok (struct vd_link *p)
{
  if (!vd__desc_get (p->desc, "CID") || p->cid == 0xffffffffu)
    return vd__error (VD_EPARENT, 0, "%s: this disk has no CID (content ID) "
                     "line, so a child of it could never open; add a line "
                     "CID=<8 hex digits> to its descriptor first", p->path);
  return 0;
}

int
vd_disk_create_child (vd_disk *parent, const char *path, enum vd_type type,
                      uint32_t flags)
{
  struct vd_create_params p;
  struct vd_newdisk nd;
  char *cdir, *hint;
  int r;

  VD_ENTER ();
  if (!parent || !path)
    return vd__error (VD_EINVAL, 0, "no parent or path");
  if (type == 0)
    type = VD_TYPE_MONOLITHIC_SPARSE;
  if (type != VD_TYPE_MONOLITHIC_SPARSE && type != VD_TYPE_SPLIT_SPARSE)
    return vd__error (VD_ENOTSUP, 0, "%s: a child disk is monolithicSparse "
                     "or twoGbMaxExtentSparse", path);
  if (parent->top->raw)
    return vd__error (VD_EINVAL, 0, "%s: a raw image cannot be a parent",
                     parent->top->path);
  if (parent->top->size % VD_SECTOR)
    return vd__error (VD_EINVAL, 0, "%s: capacity is not whole sectors",
                     parent->top->path);
  if ((r = parent_cid_ok (parent->top)) < 0)
    return r;
  /* the CID the child records must be final: flush pending writes */
  if (parent->rw && (r = vd_disk_flush (parent)) < 0)
    return r;
  vd_create_params_init (&p);
  p.type = type;
  p.capacity = parent->top->size;
  p.flags = flags & (VD_CREATE_OVERWRITE | VD_CREATE_NO_UUID);
  p.adapter = vd_disk_get_adapter (parent);
  if (p.adapter == VD_ADAPTER_UNKNOWN)
    p.adapter = VD_ADAPTER_IDE;
  if (vd_disk_get_hw_version (parent))
    p.hw_version = vd_disk_get_hw_version (parent);
  vd_disk_get_geometry (parent, &p.geometry, NULL);
  cdir = vd__dirname (path);
  hint = cdir ? vd__parent_hint (cdir, parent->top->path) : NULL;
  free (cdir);
  if (!hint)
    return VD_ENOENT;
  memset (&nd, 0, sizeof nd);
  /* an overwrite never replaces a file of the parent chain */
  struct vd_files protect = { 0 };
  r = 0;
  for (unsigned i = 0; i < parent->n_links && r == 0; i++)
    r = vd__files_add_link (&protect, parent->links[i], 1, 1);
  nd.protect = &protect;
  if (r == 0)
    r = vd__newdisk_begin_child (&nd, path, &p, hint, parent->top->cid);
  if (r == 0)
    r = vd__newdisk_commit (&nd);
  vd__files_free (&protect);
  free (hint);
  if (r == 0)
    parent->has_child = 1;
  /* A child of a tracked disk is tracked too, in its own file (VMware
   * keeps one tracking file per link). */
  if (r == 0 && parent->top->cbt_state == VD_CBT_ON) {
    vd_disk *c = NULL;
    r = vd_disk_open (&c, path, flags & VD_OPEN_TRUSTED);
    if (r == 0)
      r = vd__link_cbt_enable (c->top, 0);
    if (c) {
      int r2 = vd_disk_close (c);
      if (r == 0)
        r = r2;
    }
  }
  return r;
}

/* ---- attach ---------------------------------------------------------------------------- */

int
vd_disk_attach (const char *child_path, const char *parent_path,
                uint32_t open_flags)
{
  vd_disk *child = NULL, *parent = NULL;
  char *hint = NULL;
  char buf[16];
  int r;

  VD_ENTER ();
  if (!child_path || !parent_path)
    return vd__error (VD_EINVAL, 0, "attach: need a child and a parent");
  open_flags &= VD_OPEN_TRUSTED | VD_OPEN_FORCE;
  r = vd_disk_open (&parent, parent_path, open_flags | VD_OPEN_READ_ONLY);
  if (r < 0)
    return r;
  /* the child alone: its old parent may be gone or changed */
  r = vd_disk_open (&child, child_path, open_flags | VD_OPEN_SINGLE_LINK
                                          | VD_OPEN_READ_ONLY);
  if (r < 0)
    goto out;
  if (child->top->parent_cid == 0xffffffffu
      && !vd__desc_get (child->top->desc, "parentFileNameHint")) {
    r = vd__error (VD_EPARENT, 0, "%s: is a base disk (no parent), so it "
                  "cannot be attached to another", child_path);
    goto out;
  }
  if (child->top->type != VD_TYPE_MONOLITHIC_SPARSE
      && child->top->type != VD_TYPE_SPLIT_SPARSE
      && child->top->type != VD_TYPE_VMFS_SPARSE
      && child->top->type != VD_TYPE_SE_SPARSE) {
    r = vd__error (VD_EPARENT, 0, "%s: only sparse disks can be children",
                  child_path);
    goto out;
  }
  if (child->top->size != parent->top->size) {
    r = vd__error (VD_EPARENT, 0, "%s: capacity %llu differs from the new "
                  "parent %s (%llu)", child_path,
                  (unsigned long long) child->top->size, parent_path,
                  (unsigned long long) parent->top->size);
    goto out;
  }
  if (vd__same_path (child_path, parent_path)) {
    r = vd__error (VD_EPARENT, 0, "%s: a disk cannot be its own parent",
                  child_path);
    goto out;
  }
  if ((r = parent_cid_ok (parent->top)) < 0)
    goto out;
  /* a new parent changes what the child reads, but not its CID: a disk
   * made from the child would silently read other data */
  if (!(open_flags & VD_OPEN_FORCE)) {
    char *grandchild;
    if (vd__find_child (child->top, 0, &grandchild)) {
      r = vd__error (VD_EPARENT, 0, "%s: %s names it as its parent; a new "
                    "parent would change what that disk reads (force to do "
                    "it anyway)", child_path, grandchild);
      free (grandchild);
      goto out;
    }
  }
  hint = vd__parent_hint (child->top->dir, parent_path);
  if (!hint) {
    r = VD_ENOENT;
    goto out;
  }
  /* rewrite the child's descriptor through a writable single-link
   * handle (the lock keeps other writers out meanwhile) */
  vd_disk_close (child);
  child = NULL;
  r = vd_disk_open (&child, child_path, open_flags | VD_OPEN_SINGLE_LINK
                                          | VD_OPEN_READ_ONLY);
  if (r < 0)
    goto out;
  {
    struct vd_link *l = child->top;
    struct vd_io *rwio = NULL;
    /* the descriptor file itself, opened for writing and locked */
    r = vd__io_posix_open (&rwio, AT_FDCWD, l->path, l->path, VD_IO_RDWR
                           | VD_IO_FOLLOW);
    if (r == 0)
      r = vd__lock (rwio, 1);
    if (r < 0) {
      vd__io_close (rwio);
      goto out;
    }
    if (l->embedded) {
      /* the extent shares the descriptor's io: swap in the writable one */
      if (l->n_extents && l->extents[0].io == l->desc_io)
        l->extents[0].io = rwio;
    }
    vd__io_close (l->desc_io);
    l->desc_io = rwio;
    snprintf (buf, sizeof buf, "%08x", parent->top->cid);
    r = vd__desc_set (l->desc, "parentCID", buf, 0);
    if (r == 0)
      r = vd__desc_set (l->desc, "parentFileNameHint", hint, 1);
    if (r == 0)
      r = vd__link_write_descriptor (l);
  }
out:
  free (hint);
  vd_disk_close (child);
  vd_disk_close (parent);
  return r;
}
