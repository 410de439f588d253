/* vd_probe: what a file is, so front ends need not parse headers. */
#include "kdmv.h"

#include <fcntl.h>
#include <stddef.h>
#include <string.h>

int
vd_probe (const char *path, struct vd_probe_info *out)
{
  struct vd_probe_info pi;
  struct vd_descfile w;
  struct vd_io *io = NULL;
  size_t n;
  int r;

  VD_ENTER ();
  if (!path || !out)
    return vd__error (VD_EINVAL, 0, "probe: no path or no result");
  n = out->struct_size;
  if (n < offsetof (struct vd_probe_info, kind) + sizeof out->kind)
    return vd__error (VD_EINVAL, 0, "%s: probe: struct_size %zu is too "
                     "small", path, n);
  memset (&pi, 0, sizeof pi);
  r = vd__io_posix_open (&io, AT_FDCWD, path, path, 0);
  if (r < 0)
    return r;
  r = vd__descfile_locate (io, &w);
  if (r < 0)
    goto out;
  switch (w.kind) {
  case VD_DESCFILE_EMBEDDED:
  case VD_DESCFILE_SPARSE: {
    struct kdmv_header h;
    uint64_t fsize;
    pi.kind = VD_PROBE_SPARSE;
    pi.embedded_descriptor = w.kind == VD_DESCFILE_EMBEDDED;
    r = vd__kdmv_read (io, &h, &fsize);
    if (r < 0)
      goto out;
    pi.compressed = (h.flags & KDMV_FLAG_COMPRESSED) != 0;
    pi.capacity = h.capacity <= UINT64_MAX / VD_SECTOR
                    ? h.capacity * VD_SECTOR : 0;
    break;
  }
  case VD_DESCFILE_DELTA:
    pi.kind = memcmp (w.magic, "COWD", 4) == 0 ? VD_PROBE_VMFS_SPARSE
                                                : VD_PROBE_SESPARSE;
    break;
  case VD_DESCFILE_TEXT:
    if (w.file_size >= 1) {     /* (too large: not a descriptor) */
      struct vd_descriptor *d = NULL;
      if (vd__descfile_load (io, &w, path, &d, NULL) == 0)
        pi.kind = VD_PROBE_DESCRIPTOR;
      else
        vd__error_clear ();     /* not a descriptor: other data */
      vd__desc_free (d);
    }
    break;
  }
  pi.struct_size = VD_MIN (n, sizeof pi);
  memcpy (out, &pi, pi.struct_size);
out:
  vd__io_close (io);
  return r;
}
