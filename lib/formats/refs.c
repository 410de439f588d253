/* vd_descriptor_refs: what a VMDK file is (text descriptor, sparse file
 * with an embedded descriptor, or neither) and which files its descriptor
 * names, without opening any of them.  The NBD plugin builds the set of
 * files that disks use (extents, parents, change tracking) from it. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

int
vd_descriptor_refs (const char *path, vd_ref_cb cb, void *payload)
{
  struct vd_io *io = NULL;
  struct vd_descriptor *d = NULL;
  struct vd_descfile w;
  uint64_t size = 0;
  char *text = NULL;
  int kind = VD_DESC_NONE, embedded = 0, r;

  VD_ENTER ();
  if (!path)
    return vd__error (VD_EINVAL, 0, "no path given");
  r = vd__io_posix_open (&io, AT_FDCWD, path, path, 0);
  if (r < 0)
    return r;
  r = vd__descfile_locate (io, &w);
  if (r < 0 && w.kind == VD_DESCFILE_SPARSE) {
    vd__error_clear ();         /* a sparse extent without a descriptor */
    r = 0;
    goto out;
  }
  if (r < 0 || w.file_size < 4)
    goto out;
  if (w.kind == VD_DESCFILE_SPARSE)
    goto out;                   /* a sparse extent without a descriptor */
  if (w.kind == VD_DESCFILE_EMBEDDED)
    embedded = 1;
  size = w.size;
  if (w.kind == VD_DESCFILE_TEXT && size > VD_MAX_DESC_BYTES)
    goto out;                   /* too large: not what vd_disk_open parses */
  r = vd__descfile_read (io, &w, &text);
  if (r < 0)
    goto out;
  if (vd__desc_parse (&d, text, (size_t) size, path) < 0) {
    vd__error_clear ();         /* not a descriptor: names nothing */
    d = NULL;
    goto out;
  }
  if (embedded)
    kind = VD_DESC_EMBEDDED;
  else {
    /* vd_disk_open stops at the first NUL; a real descriptor file is
     * text to its end, so say whether anything follows the text. */
    kind = VD_DESC_TEXT;
    for (uint64_t i = 0; i < size; i++) {
      unsigned char c = (unsigned char) text[i];
      if (c == 0 || (c < 0x20 && c != '\t' && c != '\n' && c != '\r'
                     && c != '\f')) {
        kind = VD_DESC_TEXT_BINARY;
        break;
      }
    }
  }
  if (cb) {
    const char *v;
    int stop = 0;
    for (size_t i = 0; !stop && i < d->n_extents; i++) {
      const struct vd_desc_extent *e = vd__desc_extent (d, i);
      /* a sparse file's first embedded extent is the file itself */
      if (!e->file || (embedded && i == 0))
        continue;
      stop = cb (e->file, VD_REF_EXTENT, payload);
    }
    if (!stop && (v = vd__desc_get (d, "parentFileNameHint")))
      stop = cb (v, VD_REF_PARENT, payload);
    if (!stop && (v = vd__desc_get (d, "changeTrackPath")))
      stop = cb (v, VD_REF_CHANGE_TRACKING, payload);
  }
out:
  vd__desc_free (d);
  free (text);
  vd__io_close (io);
  return r < 0 ? r : kind;
}
