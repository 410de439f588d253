/* The one reader and writer of descriptor text inside a file: a text
 * descriptor file, or the descriptor area embedded in a hosted sparse
 * (KDMV) extent, NUL-padded.  The callers (open, the sibling scan,
 * repair, vd_descriptor_refs, rename and the descriptor rewrite) differ
 * only in what they do with each kind of file; the bytes are found,
 * read and written here. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int
vd__descfile_locate (struct vd_io *io, struct vd_descfile *w)
{
  int r;

  memset (w, 0, sizeof *w);
  r = io->ops->size (io, &w->file_size);
  if (r < 0)
    return r;
  w->kind = VD_DESCFILE_TEXT;
  w->size = w->file_size;
  if (w->file_size < 4)
    return 0;
  r = vd__io_pread (io, w->magic, (size_t) VD_MIN (w->file_size, 8), 0);
  if (r < 0)
    return r;
  if (memcmp (w->magic, "KDMV", 4) == 0) {
    w->kind = VD_DESCFILE_SPARSE;     /* what a failure below refused */
    w->size = 0;
    r = vd__sparse_embedded_desc (io, &w->offset, &w->size);
    if (r < 0)
      return r;
    w->kind = w->size ? VD_DESCFILE_EMBEDDED : VD_DESCFILE_SPARSE;
  }
  else if (memcmp (w->magic, "COWD", 4) == 0
           || vd__le64 (w->magic) == UINT64_C (0xcafebabe))
    w->kind = VD_DESCFILE_DELTA;
  return 0;
}

int
vd__descfile_read (struct vd_io *io, const struct vd_descfile *w,
                   char **text)
{
  char *t;
  int r;

  *text = NULL;
  /* the one bound on descriptor text: an embedded area is smaller
   * (KDMV_MAX_DESC_SECTORS); a text file larger than this is not a
   * descriptor and is never read whole into memory */
  if (w->size > VD_MAX_DESC_BYTES)
    return vd__corrupt (io->name, "not a VMDK descriptor (%llu bytes, "
                        "larger than 1 MiB, and no sparse header); to "
                        "read a raw image use the raw option",
                        (unsigned long long) w->size);
  t = malloc ((size_t) w->size + 1);
  if (!t)
    return vd__error (VD_ENOMEM, errno, "%s: descriptor", io->name);
  r = vd__io_pread (io, t, (size_t) w->size, w->offset);
  if (r < 0) {
    free (t);
    return r;
  }
  t[w->size] = '\0';
  *text = t;
  return 0;
}

int
vd__descfile_load (struct vd_io *io, const struct vd_descfile *w,
                   const char *where, struct vd_descriptor **out,
                   size_t *text_len)
{
  char *text;
  int r = vd__descfile_read (io, w, &text);
  *out = NULL;
  if (r < 0)
    return r;
  if (text_len)
    *text_len = strlen (text);
  r = vd__desc_parse (out, text, (size_t) w->size, where);
  free (text);
  return r;
}

int
vd__descfile_write_embedded (struct vd_io *io, uint64_t offset,
                             uint64_t capacity, const char *text, size_t len,
                             const char *where)
{
  char *area;
  int r;

  /* in place, NUL-padded over the whole area: never truncated, and at
   * least one NUL ends the text */
  if (len >= capacity)
    return vd__error (VD_ENOSPC, 0, "%s: descriptor (%zu bytes) no longer "
                     "fits the embedded area of %llu bytes", where, len,
                     (unsigned long long) capacity);
  area = calloc (1, (size_t) capacity);
  if (!area)
    return vd__error (VD_ENOMEM, errno, "%s: descriptor", where);
  memcpy (area, text, len);
  r = vd__io_pwrite (io, area, (size_t) capacity, offset);
  free (area);
  return r;
}
