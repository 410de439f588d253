/* Convert (clone): copy a disk's content, flattened through its chain,
 * into a new disk of any layout vdisk creates, or into a raw file.  Only
 * allocated data is read (the allocation map); blocks of zeros are not
 * written.  The destination appears only when complete (create.c). */
#include "internal.h"

#include <pthread.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (4u << 20)
#define ZBLOCK (64u << 10)
#define WINDOW (UINT64_C (1) << 30)

/* The sink: either a vdisk handle or a raw file. */
struct sink {
  vd_disk *disk;
  struct vd_io *io;
};

static int
sink_write (struct sink *s, const uint8_t *buf, size_t n, uint64_t off)
{
  if (s->disk)
    return vd_disk_write (s->disk, buf, n, off);
  return vd__io_pwrite (s->io, buf, n, off);
}

/* Copy every allocated, non-zero block of src into the sink. */
static int
copy_data (vd_disk *src, struct sink *sink, vd_progress_cb progress,
           void *payload)
{
  uint64_t size = vd_disk_get_size (src);
  struct vd_run_iter it;
  struct vd_run run;
  uint8_t *buf = NULL;
  int r = 0, k;

  if (posix_memalign ((void **) &buf, 4096, CHUNK) != 0)
    return vd__error (VD_ENOMEM, errno, "convert buffer");
  vd__run_iter_init (&it, src, NULL, 0, size, WINDOW, VD_RUNS_DATA);
  while (r == 0 && (k = vd__run_iter_next (&it, &run)) != 0) {
    if (k < 0) {
      r = k;
      break;
    }
    if (k == VD_RUN_WINDOW) {
      if (progress && progress (it.window_end, size, payload))
        r = vd__error (VD_ECANCELED, 0, "convert canceled");
      continue;
    }
    for (uint64_t off = run.off; off < run.off + run.len && r == 0;) {
      size_t n = (size_t) VD_MIN ((uint64_t) CHUNK, run.off + run.len - off);
      r = vd_disk_read (src, buf, n, off);
      /* write the non-zero blocks, coalesced */
      for (size_t b = 0; b < n && r == 0;) {
        size_t bl = VD_MIN ((size_t) ZBLOCK, n - b);
        if (vd__is_zero (buf + b, bl)) {
          b += bl;
          continue;
        }
        size_t e = b + bl;
        while (e < n) {
          size_t l2 = VD_MIN ((size_t) ZBLOCK, n - e);
          if (vd__is_zero (buf + e, l2))
            break;
          e += l2;
        }
        r = sink_write (sink, buf + b, e - b, off + b);
        b = e;
      }
      off += n;
      if (r == 0 && progress && progress (off, size, payload))
        r = vd__error (VD_ECANCELED, 0, "convert canceled");
    }
  }
  vd__run_iter_free (&it);
  free (buf);
  return r;
}

/* The ddb keys the new disk gets from its own parameters (layout, size,
 * identity); every other key of src's top link (a user's or a tool's:
 * toolsVersion, ddb.vdiskNote, ...) is carried over. */
static int
own_key (const char *key)
{
  static const char *const own[] = {
    "ddb.adapterType", "ddb.geometry.cylinders", "ddb.geometry.heads",
    "ddb.geometry.sectors", "ddb.geometry.biosCylinders",
    "ddb.geometry.biosHeads", "ddb.geometry.biosSectors",
    "ddb.longContentID", "ddb.uuid", "ddb.virtualHWVersion",
    "ddb.thinProvisioned", "ddb.encoding", "ddb.vdisk.created",
    "ddb.deletable", "ddb.iofilters", "ddb.sidecars",
  };
  for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
    if (strcmp (key, own[i]) == 0)
      return 1;
  return strncmp (key, "ddb.", 4) != 0;
}

static int
copy_user_keys (vd_disk *src, vd_disk *out)
{
  /* All keys into the new descriptor in memory, then one rewrite: linear
   * in the number of keys. */
  struct vd_link *l = out->top;
  unsigned n = vd_disk_get_meta_count (src);
  size_t copied = 0;
  const char **keys = calloc ((size_t) n + 1, sizeof *keys);
  const char **vals = calloc ((size_t) n + 1, sizeof *vals);
  int r = keys && vals ? 0 : vd__error (VD_ENOMEM, errno, "ddb keys");
  for (unsigned i = 0; i < n && r == 0; i++) {
    const char *k = vd_disk_get_meta_key (src, i);
    const char *v = k ? vd_disk_get_meta (src, k) : NULL;
    if (!k || !v || own_key (k))
      continue;
    keys[copied] = k;
    vals[copied++] = v;
  }
  if (r == 0 && copied) {
    pthread_mutex_lock (&l->mu);
    r = vd__desc_set_ddb_many (l->desc, keys, vals, copied);
    if (r == 0)
      r = vd__link_write_descriptor (l);
    pthread_mutex_unlock (&l->mu);
  }
  free (keys);
  free (vals);
  if (r == VD_ENOSPC) {
    vd__error_clear ();
    r = vd__error (VD_ENOSPC, 0, "%s: its %zu ddb keys do not fit the "
                  "embedded descriptor of a %s disk (%llu bytes); convert "
                  "to a layout with a descriptor file (twoGbMaxExtentSparse, "
                  "monolithicFlat)", vd_disk_get_path (src), copied,
                  l->create_type ? l->create_type : "sparse",
                  (unsigned long long) l->desc_capacity);
  }
  return r;
}

static int convert (vd_disk *src, const char *dst,
                    const struct vd_create_params *params,
                    struct vd_newdisk *ndp, vd_progress_cb progress,
                    void *payload);

int
vd_disk_convert (vd_disk *src, const char *dst,
                 const struct vd_create_params *uparams,
                 vd_progress_cb progress, void *payload)
{
  struct vd_create_params pbuf;
  const struct vd_create_params *params = &pbuf;
  struct vd_newdisk nd;
  int r;

  VD_ENTER ();
  if (!src || !dst || !uparams)
    return vd__error (VD_EINVAL, 0, "convert: missing source, destination "
                     "or parameters");
  if ((r = vd__create_params_take (&pbuf, uparams)) < 0)
    return r;
  memset (&nd, 0, sizeof nd);
  /* an overwrite never replaces a file of the source (any link) */
  struct vd_files protect = { 0 };
  for (unsigned i = 0; i < src->n_links; i++)
    if ((r = vd__files_add_link (&protect, src->links[i], 1, 1)) < 0) {
      vd__files_free (&protect);
      return r;
    }
  nd.protect = &protect;
  r = convert (src, dst, params, &nd, progress, payload);
  vd__files_free (&protect);
  return r;
}

static int
convert (vd_disk *src, const char *dst, const struct vd_create_params *params,
         struct vd_newdisk *ndp, vd_progress_cb progress, void *payload)
{
  struct vd_create_params p;
  struct vd_newdisk nd = *ndp;
  int r;

  p = *params;
  p.capacity = VD_ROUND_UP (vd_disk_get_size (src), (uint64_t) VD_SECTOR);
  if (p.adapter == VD_ADAPTER_UNKNOWN)
    p.adapter = VD_ADAPTER_IDE;

  if (p.type == VD_TYPE_RAW || p.type == VD_TYPE_STREAM_OPTIMIZED) {
    struct vd_io *io = NULL;
    char *name = vd__basename (dst);
    r = vd__newdisk_begin_single (&nd, dst,
                                  (p.flags & VD_CREATE_OVERWRITE) != 0);
    if (r < 0) {
      free (name);
      return r;
    }
    r = name ? vd__io_posix_open (&io, AT_FDCWD, nd.desc_path, nd.desc_path,
                                  VD_IO_RDWR | VD_IO_CREATE)
             : VD_ENOMEM;
    if (r == 0)
      io->nosync = nd.nosync = (p.flags & VD_CREATE_NO_SYNC) != 0;
    if (r == 0 && p.type == VD_TYPE_RAW) {
      struct sink s = { .io = io };
      r = copy_data (src, &s, progress, payload);
      if (r == 0)
        r = io->ops->truncate (io, vd_disk_get_size (src));
    }
    else if (r == 0) {
      r = vd__stream_convert (src, io, name, &p, progress, payload);
    }
    if (r == 0)
      r = vd__io_flush (io);
    vd__io_close (io);
    free (name);
    if (r < 0) {
      vd__newdisk_abort (&nd);
      return r;
    }
    return vd__newdisk_commit (&nd);
  }

  r = vd__newdisk_begin (&nd, dst, &p);
  if (r < 0)
    return r;
  {
    vd_disk *out = NULL;
    struct sink s;
    nd.nosync = (p.flags & VD_CREATE_NO_SYNC) != 0;
    r = vd_disk_open (&out, nd.desc_path,
                      nd.nosync ? VD_OPEN_NO_SYNC | VD_OPEN_FORCE
                                : VD_OPEN_FORCE);
    if (r == 0) {
      s.disk = out;
      s.io = NULL;
      r = copy_data (src, &s, progress, payload);
      if (r == 0)
        r = copy_user_keys (src, out);
      int r2 = vd_disk_close (out);
      if (r == 0)
        r = r2;
    }
  }
  if (r < 0) {
    vd__newdisk_abort (&nd);
    return r;
  }
  return vd__newdisk_commit (&nd);
}
