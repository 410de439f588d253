/* An in-memory I/O backend for unit tests and fuzzing. */
#include "io/io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct mem_io {
  struct vd_io io;
  uint8_t *data;
  size_t len, cap;
  int writable;
};

static int
mem_pread (struct vd_io *io, void *buf, size_t count, uint64_t off)
{
  struct mem_io *m = (struct mem_io *) io;
  if (off > m->len || count > m->len - off)
    return vd__error (VD_EIO, 0, "%s: unexpected end of file reading %zu "
                     "bytes at offset %llu", io->name, count,
                     (unsigned long long) off);
  if (count)    /* an empty file has no buffer (trust: fuzz finding) */
    memcpy (buf, m->data + off, count);
  return 0;
}

static int
mem_grow (struct mem_io *m, uint64_t size)
{
  if (size > ((uint64_t) 1 << 31))
    return vd__error (VD_ENOSPC, 0, "%s: in-memory file limit", m->io.name);
  if (size > m->cap) {
    size_t cap = VD_MAX ((size_t) size, m->cap * 2);
    uint8_t *p = realloc (m->data, cap);
    if (!p)
      return vd__error (VD_ENOMEM, errno, "%s: grow", m->io.name);
    memset (p + m->cap, 0, cap - m->cap);
    m->data = p;
    m->cap = cap;
  }
  if (size > m->len)
    m->len = (size_t) size;
  return 0;
}

static int
mem_pwrite (struct vd_io *io, const void *buf, size_t count, uint64_t off)
{
  struct mem_io *m = (struct mem_io *) io;
  if (!m->writable)
    return vd__error (VD_EROFS, 0, "%s: read-only", io->name);
  if (off + count < off || mem_grow (m, off + count) < 0)
    return vd__error (VD_ENOSPC, 0, "%s: too large", io->name);
  memcpy (m->data + off, buf, count);
  return 0;
}

static int
mem_flush (struct vd_io *io)
{
  (void) io;
  return 0;
}

static int
mem_size (struct vd_io *io, uint64_t *size)
{
  *size = ((struct mem_io *) io)->len;
  return 0;
}

static int
mem_truncate (struct vd_io *io, uint64_t size)
{
  struct mem_io *m = (struct mem_io *) io;
  if (size < m->len) {
    memset (m->data + size, 0, m->len - size);
    m->len = (size_t) size;
    return 0;
  }
  return mem_grow (m, size);
}

static int
mem_punch (struct vd_io *io, uint64_t off, uint64_t len)
{
  struct mem_io *m = (struct mem_io *) io;
  if (off < m->len)
    memset (m->data + off, 0, (size_t) VD_MIN (len, m->len - off));
  return 0;
}

static void
mem_close (struct vd_io *io)
{
  free (((struct mem_io *) io)->data);
}

static const struct vd_io_ops mem_ops = {
  .pread = mem_pread,
  .pwrite = mem_pwrite,
  .flush = mem_flush,
  .size = mem_size,
  .truncate = mem_truncate,
  .punch_hole = mem_punch,
  .seek_data = NULL,
  .close = mem_close,
};

int
vd__io_mem_open (struct vd_io **out, const char *name, const void *data,
                 size_t len, int writable)
{
  struct mem_io *m = calloc (1, sizeof *m);
  if (!m || !(m->io.name = strdup (name))) {
    free (m);
    return vd__error (VD_ENOMEM, errno, "mem open");
  }
  m->io.ops = &mem_ops;
  m->io.fd = -1;
  m->writable = writable;
  if (len && mem_grow (m, len) < 0) {
    free (m->io.name);
    free (m);
    return VD_ENOMEM;
  }
  if (len)
    memcpy (m->data, data, len);
  *out = &m->io;
  return 0;
}

/* ---- a named set of in-memory files (fuzzing) ------------------------- */

struct memfs_file {
  char *name;
  uint8_t *data;
  size_t len;
};

struct vd_memfs {
  struct memfs_file *files;
  size_t n;
};

static __thread struct vd_memfs *current_fs;

struct vd_memfs *
vd__memfs_new (void)
{
  return calloc (1, sizeof (struct vd_memfs));
}

int
vd__memfs_add (struct vd_memfs *fs, const char *name, const void *data,
               size_t len)
{
  struct memfs_file *p = realloc (fs->files, (fs->n + 1) * sizeof *p);
  if (!p)
    return VD_ENOMEM;
  fs->files = p;
  p[fs->n].name = strdup (name);
  p[fs->n].data = malloc (len ? len : 1);
  if (!p[fs->n].name || !p[fs->n].data) {
    free (p[fs->n].name);
    free (p[fs->n].data);
    return VD_ENOMEM;
  }
  memcpy (p[fs->n].data, data, len);
  p[fs->n].len = len;
  fs->n++;
  return 0;
}

void
vd__memfs_free (struct vd_memfs *fs)
{
  if (!fs)
    return;
  for (size_t i = 0; i < fs->n; i++) {
    free (fs->files[i].name);
    free (fs->files[i].data);
  }
  free (fs->files);
  free (fs);
}

void
vd__memfs_set_current (struct vd_memfs *fs)
{
  current_fs = fs;
}

struct vd_memfs *
vd__memfs_current (void)
{
  return current_fs;
}

int
vd__memfs_open (struct vd_memfs *fs, struct vd_io **out, const char *name,
                int writable)
{
  for (size_t i = 0; i < fs->n; i++)
    if (strcmp (fs->files[i].name, name) == 0)
      return vd__io_mem_open (out, name, fs->files[i].data, fs->files[i].len,
                              writable);
  return vd__error (VD_ENOENT, 0, "%s: open: No such file (in memory)", name);
}
