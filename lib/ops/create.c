/* Creating disks: every layout vdisk writes, with VMware's names,
 * descriptor keys and geometry. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* VMware splits at 2047 MiB (vmdk-format.md §4.1). */
#define SPLIT_SECTORS UINT64_C (4192256)
#define GRAIN_SECTORS 128u

void
vd_create_params_init (struct vd_create_params *p)
{
  memset (p, 0, sizeof *p);
  p->struct_size = sizeof *p;
  p->type = VD_TYPE_MONOLITHIC_SPARSE;
  p->adapter = VD_ADAPTER_IDE;
  p->hw_version = 4;
}

char *
vd__make_descriptor (const struct vd_create_params *p,
                     const char *create_type, const char *extents,
                     uint32_t cid, const char *parent_hint,
                     uint32_t parent_cid)
{
  struct vd_desc_template t = {
    .cid = cid, .parent_cid = parent_cid, .parent_hint = parent_hint,
    .create_type = create_type, .extents = extents,
    .capacity = p->capacity, .adapter = p->adapter,
    .geometry = p->geometry, .hw_version = p->hw_version,
    .uuid = p->uuid, .no_uuid = (p->flags & VD_CREATE_NO_UUID) != 0,
    .type_ddb = p->type == VD_TYPE_VMFS_THIN ? "ddb.thinProvisioned = \"1\"\n"
                                             : NULL,
  };
  return vd__desc_template (&t);
}

/* ---- the work folder ----------------------------------------------------------- */

static int
add_name (struct vd_newdisk *nd, const char *name)
{
  char **p = realloc (nd->names, (nd->n_names + 1) * sizeof *p);
  if (!p)
    return vd__error (VD_ENOMEM, errno, "create");
  nd->names = p;
  p[nd->n_names] = vd__strdup (name);
  if (!p[nd->n_names])
    return VD_ENOMEM;
  nd->n_names++;
  return 0;
}

static int
exists_in (const char *dir, const char *name)
{
  char *p = vd__path_join (dir, name);
  struct stat st;
  int r = p && lstat (p, &st) == 0;
  free (p);
  return r;
}

static int
start_workdir (struct vd_newdisk *nd, const char *path, int overwrite)
{
  char *base = vd__basename (path);
  int r;
  const char *hint = nd->parent_hint;
  uint32_t pcid = nd->parent_cid;
  const struct vd_files *protect = nd->protect;
  memset (nd, 0, sizeof *nd);
  nd->parent_hint = hint;
  nd->parent_cid = pcid;
  nd->protect = protect;
  nd->overwrite = overwrite;
  nd->dstdir = vd__dirname (path);
  if (!base || !nd->dstdir) {
    free (base);
    vd__newdisk_abort (nd);
    return VD_ENOMEM;
  }
  if (!vd__name_ok (base, 0)) {
    r = vd__error (VD_EINVAL, 0, "%s: invalid disk file name", path);
    free (base);
    vd__newdisk_abort (nd);
    return r;
  }
  /* what an earlier, killed run for this target left behind */
  vd__workdir_clean_stale (nd->dstdir, base);
  r = vd__workdir_make (nd->dstdir, "new", base, &nd->tmpdir, &nd->wfd);
  nd->desc_path = nd->tmpdir ? vd__asprintf ("%s/%s", nd->tmpdir, base)
                             : NULL;
  free (base);
  if (r < 0 || !nd->desc_path) {
    vd__newdisk_abort (nd);
    return r < 0 ? r : VD_ENOMEM;
  }
  return 0;
}

void
vd__newdisk_abort (struct vd_newdisk *nd)
{
  if (nd->tmpdir)
    vd__workdir_remove (nd->tmpdir, nd->wfd);
  for (size_t i = 0; i < nd->n_names; i++)
    free (nd->names[i]);
  free (nd->names);
  free (nd->tmpdir);
  free (nd->dstdir);
  free (nd->desc_path);
  memset (nd, 0, sizeof *nd);
}

/* name (in the final folder) may be taken by the new disk: it does not
 * exist, or an overwrite replaces it and it is no file of the source and
 * no other disk's extent, parent or change-tracking file. */
static int
ensure_free (struct vd_newdisk *nd, const char *name)
{
  struct vd_file_id id, skip[2];
  struct vd_user u;
  struct stat st;
  size_t n_skip = 0;
  char *p, *desc;
  int r = 0;

  if (!nd->overwrite && exists_in (nd->dstdir, name))
    return vd__error (VD_EEXIST, 0, "%s/%s: file exists (use --overwrite or "
                     "VD_CREATE_OVERWRITE to replace it)", nd->dstdir, name);
  if (!nd->overwrite)
    return 0;
  p = vd__path_join (nd->dstdir, name);
  if (!p)
    return VD_ENOMEM;
  if (lstat (p, &st) < 0 || !S_ISREG (st.st_mode)) {
    free (p);
    return 0;                     /* nothing to replace, or only a name */
  }
  id.dev = st.st_dev;
  id.ino = st.st_ino;
  for (size_t i = 0; nd->protect && i < nd->protect->n && r == 0; i++)
    if (nd->protect->ids[i].dev == id.dev
        && nd->protect->ids[i].ino == id.ino)
      r = vd__error (VD_EINVAL, 0, "%s: is a file of the source disk%s%s; "
                    "refusing to replace it", p,
                    strcmp (p, nd->protect->names[i]) ? ", " : "",
                    strcmp (p, nd->protect->names[i])
                      ? nd->protect->names[i] : "");
  /* the file itself and the descriptor the new disk replaces (a disk
   * replaced as a whole does not count as another) */
  skip[n_skip++] = id;
  desc = vd__basename (nd->desc_path);
  if (desc) {
    char *dp = vd__path_join (nd->dstdir, desc);
    if (dp && vd__file_id (dp, &skip[n_skip]) == 0)
      n_skip++;
    free (dp);
  }
  free (desc);
  if (r == 0 && vd__find_user (nd->dstdir, &id, 1, VD_USE_ANY, skip, n_skip,
                               NULL, &u)) {
    r = vd__error (VD_EPARENT, 0, "%s: another disk in this folder, %s, "
                  "uses it as %s; refusing to replace it", p, u.disk,
                  vd__use_name (u.how));
    free (u.disk);
  }
  free (p);
  return r;
}

int
vd__newdisk_commit (struct vd_newdisk *nd)
{
  int dfd = open (nd->dstdir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  int tfd = open (nd->tmpdir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  size_t done = 0;
  int r = 0;

  if (dfd < 0 || tfd < 0) {
    r = vd__error (VD_EIO, errno, "%s: open folder", nd->dstdir);
    goto out;
  }
  if (!nd->nosync)
    fsync (tfd);
  /* Extents first, the descriptor (last name) last: until it appears
   * nobody can open the new disk. */
  for (; done < nd->n_names; done++) {
    unsigned fl = nd->overwrite ? 0 : RENAME_NOREPLACE;
    if (renameat2 (tfd, nd->names[done], dfd, nd->names[done], fl) < 0) {
      int e = errno;
      r = vd__error (e == EEXIST ? VD_EEXIST : VD_EIO, e,
                    "%s/%s: cannot move the new file into place",
                    nd->dstdir, nd->names[done]);
      break;
    }
  }
  if (r < 0) {
    /* put back what moved, so abort removes everything */
    while (done-- > 0)
      renameat (dfd, nd->names[done], tfd, nd->names[done]);
  }
  else if (!nd->nosync)
    fsync (dfd);
out:
  if (dfd >= 0)
    close (dfd);
  if (tfd >= 0)
    close (tfd);
  /* on success only the work folder's own files stay in it */
  vd__newdisk_abort (nd);
  return r;
}

int
vd__newdisk_begin_single (struct vd_newdisk *nd, const char *path,
                          int overwrite)
{
  char *base;
  int r = start_workdir (nd, path, overwrite);
  if (r < 0)
    return r;
  base = vd__basename (path);
  r = base ? ensure_free (nd, base) : VD_ENOMEM;
  if (r == 0)
    r = add_name (nd, base);
  free (base);
  if (r < 0)
    vd__newdisk_abort (nd);
  return r;
}

/* Create tmpdir/name as an empty file of size bytes. */
static int
new_file (struct vd_newdisk *nd, const char *name, struct vd_io **out)
{
  char *p = vd__path_join (nd->tmpdir, name);
  int r;
  if (!p)
    return VD_ENOMEM;
  r = add_name (nd, name);
  if (r == 0)
    r = vd__io_posix_open (out, AT_FDCWD, p, p, VD_IO_RDWR | VD_IO_CREATE);
  free (p);
  return r;
}

static int
make_flat (struct vd_newdisk *nd, const char *name, uint64_t bytes,
           int prealloc)
{
  struct vd_io *io;
  int r = new_file (nd, name, &io);
  if (r < 0)
    return r;
  int e;
  r = io->ops->truncate (io, bytes);
  if (r == 0 && prealloc && (e = vd__io_allocate (io, 0, bytes)) != 0)
    r = vd__error (VD_ENOSPC, e, "%s: preallocate %llu bytes", name,
                  (unsigned long long) bytes);
  vd__io_close (io);
  return r;
}

static int
make_sparse (struct vd_newdisk *nd, const char *name, uint64_t sectors,
             const char *desc)
{
  struct vd_io *io;
  int r = new_file (nd, name, &io);
  if (r < 0)
    return r;
  r = vd__sparse_create (io, sectors, desc, desc ? strlen (desc) : 0,
                         GRAIN_SECTORS);
  vd__io_close (io);
  return r;
}

static int
append (char **s, const char *fmt, ...)
{
  va_list ap;
  char *add = NULL, *n;
  va_start (ap, fmt);
  if (vasprintf (&add, fmt, ap) < 0)
    add = NULL;
  va_end (ap);
  if (!add)
    return vd__error (VD_ENOMEM, errno, "create");
  n = vd__asprintf ("%s%s", *s ? *s : "", add);
  free (add);
  if (!n)
    return VD_ENOMEM;
  free (*s);
  *s = n;
  return 0;
}

/* The parameters every layout needs: a capacity in whole sectors and an
 * adapter that fits the layout. */
static int
check_params (const char *path, const struct vd_create_params *p)
{
  if (p->capacity == 0 || p->capacity % VD_SECTOR)
    return vd__error (VD_EINVAL, 0, "%s: capacity %llu must be a positive "
                     "multiple of 512 bytes", path,
                     (unsigned long long) p->capacity);
  if (p->adapter == VD_ADAPTER_PVSCSI
      && (p->type == VD_TYPE_MONOLITHIC_SPARSE
          || p->type == VD_TYPE_SPLIT_SPARSE
          || p->type == VD_TYPE_MONOLITHIC_FLAT
          || p->type == VD_TYPE_SPLIT_FLAT))
    return vd__error (VD_EINVAL, 0, "%s: the pvscsi adapter is only for ESXi "
                     "layouts (vmfs, vmfsThin)", path);
  if (!vd_adapter_name (p->adapter))
    return vd__error (VD_EINVAL, 0, "%s: unknown adapter type", path);
  return 0;
}

/* monolithicSparse: one file, base, with the descriptor inside. */
static int
begin_mono_sparse (struct vd_newdisk *nd, const char *path, const char *base,
                   const struct vd_create_params *p, uint32_t cid,
                   char **ext, char **desc)
{
  uint64_t sectors = p->capacity / VD_SECTOR;
  int r;

  if (sectors > UINT32_MAX)
    return vd__error (VD_EINVAL, 0, "%s: a monolithicSparse disk holds at "
                      "most 2 TiB; use twoGbMaxExtentSparse or a flat layout",
                      path);
  r = append (ext, "RW %llu SPARSE \"%s\"\n",
              (unsigned long long) sectors, base);
  if (r == 0 && !(*desc = vd__make_descriptor (p, vd_type_name (p->type), *ext,
                                               cid, nd->parent_hint,
                                               nd->parent_cid)))
    r = VD_ENOMEM;
  if (r == 0)
    r = ensure_free (nd, base);
  if (r == 0)
    r = make_sparse (nd, base, sectors, *desc);
  return r;
}

/* monolithicFlat, vmfs, vmfsThin: one data file, stem-flat.vmdk. */
static int
begin_flat (struct vd_newdisk *nd, const char *stem,
            const struct vd_create_params *p, uint32_t cid,
            char **ext, char **desc)
{
  uint64_t sectors = p->capacity / VD_SECTOR;
  int prealloc = (p->flags & VD_CREATE_PREALLOCATE) != 0;
  char *fname = vd__asprintf ("%s-flat.vmdk", stem);
  int r;

  if (!fname)
    return VD_ENOMEM;
  if (p->type == VD_TYPE_MONOLITHIC_FLAT)
    r = append (ext, "RW %llu FLAT \"%s\" 0\n",
                (unsigned long long) sectors, fname);
  else
    r = append (ext, "RW %llu VMFS \"%s\"\n",
                (unsigned long long) sectors, fname);
  /* QEMU does not read createType "vmfsThin": write what newer ESXi
   * writes, "vmfs" with ddb.thinProvisioned. */
  if (r == 0
      && !(*desc = vd__make_descriptor (p, p->type == VD_TYPE_MONOLITHIC_FLAT
                                              ? "monolithicFlat" : "vmfs",
                                        *ext, cid, nd->parent_hint,
                                        nd->parent_cid)))
    r = VD_ENOMEM;
  if (r == 0)
    r = ensure_free (nd, fname);
  if (r == 0)
    r = make_flat (nd, fname, p->capacity,
                   prealloc || p->type == VD_TYPE_VMFS);
  free (fname);
  return r;
}

/* twoGbMaxExtentSparse / twoGbMaxExtentFlat: stem-sNNN / stem-fNNN. */
static int
begin_split (struct vd_newdisk *nd, const char *path, const char *stem,
             const struct vd_create_params *p, uint32_t cid,
             char **ext, char **desc)
{
  uint64_t sectors = p->capacity / VD_SECTOR;
  int prealloc = (p->flags & VD_CREATE_PREALLOCATE) != 0;
  int sparse = p->type == VD_TYPE_SPLIT_SPARSE;
  uint64_t split = p->extent_size ? p->extent_size / VD_SECTOR
                                  : SPLIT_SECTORS;
  int r = 0;

  if (p->extent_size % 65536 || split > SPLIT_SECTORS)
    return vd__error (VD_EINVAL, 0, "%s: extent size %llu: a split layout's "
                      "extents are a multiple of 64 KiB, at most 2047 MiB",
                      path, (unsigned long long) p->extent_size);
  uint64_t n = VD_DIV_ROUND_UP (sectors, split);
  if (n > 9999)
    return vd__error (VD_EINVAL, 0, "%s: too large for a split layout", path);
  for (uint64_t i = 0; i < n && r == 0; i++) {
    uint64_t s = VD_MIN (split, sectors - i * split);
    char *fname = vd__asprintf ("%s-%c%03llu.vmdk", stem, sparse ? 's' : 'f',
                                (unsigned long long) (i + 1));
    if (!fname)
      return VD_ENOMEM;
    if (sparse)
      r = append (ext, "RW %llu SPARSE \"%s\"\n", (unsigned long long) s,
                  fname);
    else
      r = append (ext, "RW %llu FLAT \"%s\" 0\n", (unsigned long long) s,
                  fname);
    if (r == 0)
      r = ensure_free (nd, fname);
    if (r == 0)
      r = sparse ? make_sparse (nd, fname, s, NULL)
                 : make_flat (nd, fname, s * VD_SECTOR, prealloc);
    free (fname);
  }
  if (r == 0 && !(*desc = vd__make_descriptor (p, vd_type_name (p->type), *ext,
                                               cid, nd->parent_hint,
                                               nd->parent_cid)))
    r = VD_ENOMEM;
  return r;
}

/* The separate descriptor file, base, last in the list. */
static int
write_descriptor_file (struct vd_newdisk *nd, const char *base,
                       const char *desc)
{
  struct vd_io *io;
  int r = ensure_free (nd, base);
  if (r == 0)
    r = new_file (nd, base, &io);
  if (r == 0) {
    r = vd__io_pwrite (io, desc, strlen (desc), 0);
    vd__io_close (io);
  }
  return r;
}

int
vd__newdisk_begin (struct vd_newdisk *nd, const char *path,
                   const struct vd_create_params *p)
{
  char *base = NULL, *stem = NULL, *ext = NULL, *desc = NULL;
  uint32_t cid = p->cid ? p->cid : vd__random_cid ();
  const char *ct = vd_type_name (p->type);
  int r = check_params (path, p);

  if (r < 0)
    return r;
  r = start_workdir (nd, path, (p->flags & VD_CREATE_OVERWRITE) != 0);
  if (r < 0)
    return r;
  base = vd__basename (path);
  if (!base) {
    r = VD_ENOMEM;
    goto out;
  }
  stem = vd__strdup (base);
  if (!stem) {
    r = VD_ENOMEM;
    goto out;
  }
  if (strlen (stem) > 5 && strcmp (stem + strlen (stem) - 5, ".vmdk") == 0)
    stem[strlen (stem) - 5] = '\0';

  switch (p->type) {
  case VD_TYPE_MONOLITHIC_SPARSE:
    r = begin_mono_sparse (nd, path, base, p, cid, &ext, &desc);
    break;
  case VD_TYPE_MONOLITHIC_FLAT:
  case VD_TYPE_VMFS:
  case VD_TYPE_VMFS_THIN:
    r = begin_flat (nd, stem, p, cid, &ext, &desc);
    break;
  case VD_TYPE_SPLIT_SPARSE:
  case VD_TYPE_SPLIT_FLAT:
    r = begin_split (nd, path, stem, p, cid, &ext, &desc);
    break;
  case VD_TYPE_STREAM_OPTIMIZED:
    r = vd__error (VD_ENOTSUP, 0, "%s: a streamOptimized disk is written in "
                  "one pass: make it with convert (clone) from another "
                  "disk", path);
    break;
  default:
    r = vd__error (VD_ENOTSUP, 0, "%s: vdisk cannot create disks of type "
                  "%s", path, ct ? ct : "(unknown)");
  }
  if (r == 0 && p->type != VD_TYPE_MONOLITHIC_SPARSE)
    r = write_descriptor_file (nd, base, desc);
out:
  free (base);
  free (stem);
  free (ext);
  free (desc);
  if (r < 0)
    vd__newdisk_abort (nd);
  return r;
}

int
vd__newdisk_begin_child (struct vd_newdisk *nd, const char *path,
                         const struct vd_create_params *params,
                         const char *parent_hint, uint32_t parent_cid)
{
  nd->parent_hint = parent_hint;
  nd->parent_cid = parent_cid;
  return vd__newdisk_begin (nd, path, params);
}

/* The oldest struct vd_create_params (0.1, before extent_size). */
#define PARAMS_V1_SIZE offsetof (struct vd_create_params, extent_size)

int
vd__create_params_take (struct vd_create_params *out,
                        const struct vd_create_params *in)
{
  vd_create_params_init (out);
  if (!in || in->struct_size < PARAMS_V1_SIZE)
    return vd__error (VD_EINVAL, 0, "create parameters: struct_size %u is "
                     "smaller than the oldest struct vd_create_params (%zu "
                     "bytes)", in ? in->struct_size : 0,
                     (size_t) PARAMS_V1_SIZE);
  /* an older, smaller struct: the fields it lacks keep their defaults */
  memcpy (out, in, VD_MIN ((size_t) in->struct_size, sizeof *out));
  out->struct_size = sizeof *out;
  return 0;
}

int
vd_disk_create (const char *path, const struct vd_create_params *uparams)
{
  struct vd_create_params pbuf;
  const struct vd_create_params *params = &pbuf;
  struct vd_newdisk nd;
  int r;
  VD_ENTER ();
  if (!path || !uparams)
    return vd__error (VD_EINVAL, 0, "no path or parameters (struct_size)");
  if ((r = vd__create_params_take (&pbuf, uparams)) < 0)
    return r;
  memset (&nd, 0, sizeof nd);
  if (params->type == VD_TYPE_STREAM_OPTIMIZED) {
    /* An empty stream: opened for writing, it is filled front to back. */
    struct vd_io *io = NULL;
    char *name = vd__basename (path);
    if (params->capacity == 0 || params->capacity % VD_SECTOR != 0) {
      free (name);
      return vd__error (VD_EINVAL, 0, "%s: capacity %llu is not a positive "
                       "multiple of 512", path,
                       (unsigned long long) params->capacity);
    }
    r = name ? vd__newdisk_begin_single (&nd, path, (params->flags
                                                     & VD_CREATE_OVERWRITE) != 0)
             : vd__error (VD_ENOMEM, errno, "%s", path);
    if (r < 0) {
      free (name);
      return r;
    }
    nd.nosync = (params->flags & VD_CREATE_NO_SYNC) != 0;
    r = vd__io_posix_open (&io, AT_FDCWD, nd.desc_path, nd.desc_path,
                           VD_IO_RDWR | VD_IO_CREATE);
    if (r == 0) {
      io->nosync = nd.nosync;
      r = vd__stream_create_empty (io, name, params);
      if (r == 0)
        r = vd__io_flush (io);
      vd__io_close (io);
    }
    free (name);
    if (r < 0) {
      vd__newdisk_abort (&nd);
      return r;
    }
    return vd__newdisk_commit (&nd);
  }
  r = vd__newdisk_begin (&nd, path, params);
  if (r < 0)
    return r;
  return vd__newdisk_commit (&nd);
}
