/* streamOptimized writer: vd__stream_convert (the reader is stream.c).
 *
 * It produces layout A of vmdk-format.md §3.4, VMware's streaming layout:
 * it is what VMware's own exporters (ovftool, ESXi, disklib) emit and
 * therefore what ESXi/vCenter OVF import is built for; 7-Zip reads only
 * that layout (it requires the GD/GT markers and the footer); QEMU and
 * open-vmdk read it too.  It is also a pure stream -- written strictly
 * front to back, never seeking back -- so memory stays at one GT plus the
 * GD, whatever the disk size.  Layout B (open-vmdk) would need the whole
 * GT array in memory or a rewrite at the front after the data.
 *
 * The on-disk constants are repeated from stream.c on purpose (the two
 * files share no private header); they are fixed by the format. */

#include "internal.h"
#include "formats/stream-enc.h"

#include <errno.h>
#include <isa-l/igzip_lib.h>
#include <libdeflate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


/* The sparse header (§2.1) of our streams: version 3, 128-sector grains,
 * descriptor at 1 (20 sectors), no RGD, deflate. */
void
vd__sw_header (uint8_t *p, uint64_t capacity, uint64_t gd)
{
  const struct kdmv_header h = {
    .version = 3,
    .flags = SO_FLAGS_STREAM,
    .capacity = capacity,
    .grain = SW_GRAIN,
    .desc_off = 1,
    .desc_size = SW_DESC_SECTORS,
    .n_gtes = KDMV_N_GTES,
    .gd_off = gd,
    .overhead = SW_OVERHEAD,
    .compress = 1,              /* compressAlgorithm: deflate */
  };
  vd__kdmv_encode (p, &h);      /* magic and newline bytes included */
}

int
vd__sw_compress (struct libdeflate_compressor **ld, uint8_t *lvl_buf,
             const uint8_t *in, uint8_t *out, size_t out_cap,
             uint32_t *clen)
{
  struct isal_zstream zs;
  size_t n;

  isal_deflate_stateless_init (&zs);
  zs.level = 2;
  zs.level_buf = lvl_buf;
  zs.level_buf_size = ISAL_DEF_LVL2_DEFAULT;
  zs.gzip_flag = IGZIP_ZLIB;
  zs.end_of_stream = 1;
  zs.flush = NO_FLUSH;
  zs.next_in = (uint8_t *) in;
  zs.avail_in = SW_GRAIN_BYTES;
  zs.next_out = out;
  zs.avail_out = (uint32_t) out_cap;
  if (isal_deflate_stateless (&zs) == COMP_OK)
    {
      *clen = zs.total_out;
      return 0;
    }
  /* Not expected (out_cap exceeds the stored-block bound), but safe. */
  if (!*ld && !(*ld = libdeflate_alloc_compressor (1)))
    return vd__error (VD_ENOMEM, errno, "compressor");
  n = libdeflate_zlib_compress (*ld, in, SW_GRAIN_BYTES, out, out_cap);
  if (n == 0)
    return vd__error (VD_EIO, 0, "compressing a grain failed");
  *clen = (uint32_t) n;
  return 0;
}


int
vd__sw_flush (struct vd__sw_out *o)
{
  int r;

  if (o->len == 0)
    return 0;
  r = vd__io_pwrite (o->io, o->buf, o->len, o->pos);
  if (r < 0)
    return r;
  o->pos += o->len;
  o->len = 0;
  return 0;
}

uint64_t
vd__sw_tell (const struct vd__sw_out *o)
{
  return o->pos + o->len;
}

int
vd__sw_put (struct vd__sw_out *o, const void *data, size_t n)
{
  const uint8_t *p = data;
  int r;

  while (n > 0)
    {
      size_t k = VD_MIN (n, SW_WBUF - o->len);
      if (p)
        memcpy (o->buf + o->len, p, k);
      else
        memset (o->buf + o->len, 0, k);
      o->len += k;
      n -= k;
      if (p)
        p += k;
      if (o->len == SW_WBUF)
        {
          r = vd__sw_flush (o);
          if (r < 0)
            return r;
        }
    }
  return 0;
}

/* Zero padding up to the next sector. */
int
vd__sw_pad (struct vd__sw_out *o)
{
  uint64_t t = vd__sw_tell (o) % VD_SECTOR;
  return t ? vd__sw_put (o, NULL, VD_SECTOR - t) : 0;
}

int
vd__sw_marker (struct vd__sw_out *o, uint64_t num, uint32_t type)
{
  uint8_t m[VD_SECTOR];

  memset (m, 0, sizeof m);
  vd__put_le64 (m, num);
  vd__put_le32 (m + 12, type);
  return vd__sw_put (o, m, sizeof m);
}

/* Emit the GT of table gt (if it holds anything) and note it in the GD. */
int
vd__sw_emit_gt (struct vd__sw_out *o, uint32_t *gd, uint64_t gt, uint32_t *table,
            int *used)
{
  uint8_t raw[KDMV_GT_BYTES];
  unsigned k;
  int r;

  if (!*used)
    return 0;
  r = vd__sw_marker (o, KDMV_GT_SECTORS, SO_MARKER_GT);
  if (r < 0)
    return r;
  gd[gt] = (uint32_t) (vd__sw_tell (o) / VD_SECTOR);
  for (k = 0; k < KDMV_N_GTES; k++)
    vd__put_le32 (raw + 4 * k, table[k]);
  r = vd__sw_put (o, raw, sizeof raw);
  memset (table, 0, KDMV_GT_BYTES);
  *used = 0;
  return r;
}

/* The end of a stream (layout A): [GD marker][GD][FOOTER marker][footer]
 * [EOS].  gd has n_gts entries. */
int
vd__sw_tail (struct vd__sw_out *o, const uint32_t *gd, uint64_t n_gts,
         uint64_t sectors)
{
  uint8_t sec[VD_SECTOR];
  uint64_t gd_at, i;
  int r;

  r = vd__sw_marker (o, VD_DIV_ROUND_UP (n_gts * 4, VD_SECTOR), SO_MARKER_GD);
  if (r < 0)
    return r;
  gd_at = vd__sw_tell (o) / VD_SECTOR;
  for (i = 0; i < n_gts; i++)
    {
      uint8_t le[4];
      vd__put_le32 (le, gd[i]);
      r = vd__sw_put (o, le, 4);
      if (r < 0)
        return r;
    }
  r = vd__sw_pad (o);
  if (r == 0)
    r = vd__sw_marker (o, 1, SO_MARKER_FOOTER);
  if (r == 0)
    {
      vd__sw_header (sec, sectors, gd_at);
      r = vd__sw_put (o, sec, VD_SECTOR);
    }
  if (r == 0)
    r = vd__sw_marker (o, 0, SO_MARKER_EOS);
  return r;
}

int
vd__sw_value_ok (const char *s)
{
  for (; *s; s++)
    if (*s == '"' || *s == '\r' || *s == '\n')
      return 0;
  return 1;
}

int
vd__sw_prologue (struct vd__sw_out *o, uint64_t sectors, const char *desc)
{
  uint8_t sec[VD_SECTOR];
  size_t len = strlen (desc);
  int r;

  if (len > SW_DESC_SECTORS * VD_SECTOR)
    return vd__error (VD_EINVAL, 0, "%s: descriptor too long", o->io->name);
  vd__sw_header (sec, sectors, KDMV_GD_AT_END);
  r = vd__sw_put (o, sec, VD_SECTOR);
  if (r == 0)
    r = vd__sw_put (o, desc, len);
  if (r == 0)
    r = vd__sw_put (o, NULL, SW_OVERHEAD * VD_SECTOR - vd__sw_tell (o));
  return r;
}

char *
vd__sw_descriptor (enum vd_adapter src_adapter, const char *name,
                   uint64_t sectors, const struct vd_create_params *params,
                   uint32_t cid)
{
  struct vd_desc_template t = {
    .cid = cid, .create_type = "streamOptimized",
    .capacity = sectors * VD_SECTOR, .adapter = params->adapter,
    .geometry = params->geometry, .hw_version = params->hw_version,
    .uuid = params->uuid,
    .no_uuid = (params->flags & VD_CREATE_NO_UUID) != 0,
    .type_ddb = "ddb.toolsInstallType = \"4\"\n"
                "ddb.toolsVersion = \"2147483647\"\n",
  };
  char *ext, *text;

  if (t.adapter == VD_ADAPTER_UNKNOWN)
    t.adapter = src_adapter;
  if (t.adapter == VD_ADAPTER_UNKNOWN)
    t.adapter = VD_ADAPTER_IDE;
  ext = vd__asprintf ("RW %llu SPARSE \"%s\"\n", (unsigned long long) sectors,
                      name);
  if (!ext)
    return NULL;
  t.extents = ext;
  text = vd__desc_template (&t);
  free (ext);
  return text;
}

/* ======================================================================
 * An empty stream (vd_disk_create) and the appender that fills it.
 *
 * vd_disk_create of type streamOptimized writes the prologue of layout A
 * (header with GD_AT_END, descriptor, padding to sector 128) and the tail
 * of an empty stream (a GD of zeros, footer, EOS): qemu-img, 7-Zip and
 * vmdkinfo read it as a disk of zeros.
 *
 * Opened for writing, such a disk takes writes at increasing offsets:
 * the appender holds the grain being filled; a write into a later grain
 * compresses it (the same encoder as convert, one grain at a time, on
 * the caller's thread) and writes it over the old tail, and each GT
 * follows its last grain as in convert.  The tail (the current GT, the
 * GD, the footer and EOS) is written after the data at every flush and
 * at close, so the file is a complete stream after each of them; between
 * two flushes the new grains overwrite the old tail.
 * ==================================================================== */

int
vd__stream_create_empty (struct vd_io *out, const char *name,
                         const struct vd_create_params *params)
{
  struct vd__sw_out o = { .io = out };
  uint64_t sectors = VD_DIV_ROUND_UP (params->capacity, VD_SECTOR);
  uint64_t n_gts = VD_DIV_ROUND_UP (VD_DIV_ROUND_UP (sectors, SW_GRAIN),
                                    KDMV_N_GTES);
  uint32_t *gd = NULL, cid = params->cid;
  char *desc = NULL;
  int r;

  if (!name || !*name || !vd__sw_value_ok (name) || strlen (name) > 255)
    return vd__error (VD_EINVAL, 0, "%s: bad extent name for the "
                     "descriptor", out->name ? out->name : "?");
  if (n_gts * 4 > KDMV_MAX_GD_BYTES)
    return vd__error (VD_ENOTSUP, 0, "%s: disk of %llu bytes is too large "
                     "for a streamOptimized file", out->name,
                     (unsigned long long) params->capacity);
  while (cid == 0 || cid == 0xffffffffu || cid == 0xfffffffeu)
    cid = vd__random_cid ();
  desc = vd__sw_descriptor (VD_ADAPTER_UNKNOWN, name, sectors, params, cid);
  o.buf = malloc (SW_WBUF);
  gd = calloc (n_gts ? n_gts : 1, 4);
  if (!desc || !o.buf || !gd)
    {
      r = vd__error (VD_ENOMEM, errno, "%s: new stream", out->name);
      goto out;
    }
  r = vd__sw_prologue (&o, sectors, desc);
  if (r == 0)
    r = vd__sw_tail (&o, gd, n_gts, sectors);
  if (r == 0)
    r = vd__sw_flush (&o);
 out:
  free (gd);
  free (o.buf);
  free (desc);
  return r;
}

struct vd__stream_appender {
  struct vd_io *io;
  const char *path;
  uint64_t sectors;             /* capacity */
  uint64_t n_grains, n_gts;
  uint64_t data_sec;            /* where the next grain or GT goes */
  uint64_t next_grain;          /* grains below are written: behind */
  uint64_t pend_grain;          /* the grain in pend (== next_grain) */
  int pend_used;
  uint8_t *pend;                /* SW_GRAIN_BYTES */
  uint64_t cur_gt;
  int table_used;
  uint32_t table[KDMV_N_GTES];
  uint32_t *gd;                 /* n_gts entries */
  uint8_t *obuf;                /* a compressed grain with its marker */
  uint8_t *lvl_buf;
  struct libdeflate_compressor *ld;
  int tail_ok;                  /* the file ends with a valid tail */
};

void
vd__stream_appender_free (struct vd__stream_appender *a)
{
  if (!a)
    return;
  free (a->pend);
  free (a->gd);
  free (a->obuf);
  free (a->lvl_buf);
  libdeflate_free_compressor (a->ld);
  free (a);
}

int
vd__stream_appender_new (struct vd__stream_appender **out, struct vd_io *io,
                         const char *path, uint64_t capacity_sectors,
                         uint64_t first_sector)
{
  struct vd__stream_appender *a = calloc (1, sizeof *a);

  *out = NULL;
  if (!a)
    return vd__error (VD_ENOMEM, errno, "%s: stream writer", path);
  a->io = io;
  a->path = path;
  a->sectors = capacity_sectors;
  a->n_grains = VD_DIV_ROUND_UP (capacity_sectors, SW_GRAIN);
  a->n_gts = VD_DIV_ROUND_UP (a->n_grains, KDMV_N_GTES);
  a->data_sec = first_sector;
  a->tail_ok = 1;
  a->pend = calloc (1, SW_GRAIN_BYTES);
  a->gd = calloc (a->n_gts ? a->n_gts : 1, 4);
  a->obuf = malloc (SW_OUT_CAP + VD_SECTOR);
  a->lvl_buf = malloc (ISAL_DEF_LVL2_DEFAULT);
  if (!a->pend || !a->gd || !a->obuf || !a->lvl_buf)
    {
      vd__stream_appender_free (a);
      return vd__error (VD_ENOMEM, errno, "%s: stream writer", path);
    }
  *out = a;
  return 0;
}

/* Write len bytes at sector data_sec, padded to a sector, and move on. */
static int
sa_put (struct vd__stream_appender *a, uint8_t *p, size_t len)
{
  size_t padded = VD_ROUND_UP (len, (size_t) VD_SECTOR);
  int r;

  if (a->data_sec + padded / VD_SECTOR > UINT32_MAX - 4)
    return vd__error (VD_ENOTSUP, 0, "%s: output exceeds 2 TiB, the limit "
                     "of 32-bit sector offsets", a->path);
  memset (p + len, 0, padded - len);
  a->tail_ok = 0;
  r = vd__io_pwrite (a->io, p, padded, a->data_sec * VD_SECTOR);
  if (r < 0)
    return r;
  a->data_sec += padded / VD_SECTOR;
  return 0;
}

/* The current GT, after its last grain (only when it holds one). */
static int
sa_emit_gt (struct vd__stream_appender *a)
{
  unsigned k;
  int r;

  if (!a->table_used)
    return 0;
  memset (a->obuf, 0, VD_SECTOR);
  vd__put_le64 (a->obuf, KDMV_GT_SECTORS);
  vd__put_le32 (a->obuf + 12, SO_MARKER_GT);
  for (k = 0; k < KDMV_N_GTES; k++)
    vd__put_le32 (a->obuf + VD_SECTOR + 4 * k, a->table[k]);
  a->gd[a->cur_gt] = (uint32_t) (a->data_sec + 1);
  r = sa_put (a, a->obuf, VD_SECTOR + KDMV_GT_BYTES);
  if (r < 0)
    {
      a->gd[a->cur_gt] = 0;
      return r;
    }
  memset (a->table, 0, sizeof a->table);
  a->table_used = 0;
  return 0;
}

/* Compress and write the pending grain (nothing for zeros), close it. */
static int
sa_emit_pending (struct vd__stream_appender *a)
{
  uint64_t g = a->pend_grain;
  uint32_t clen = 0;
  int r;

  if (a->pend_used && !vd__is_zero (a->pend, SW_GRAIN_BYTES))
    {
      if (g / KDMV_N_GTES != a->cur_gt)
        {
          r = sa_emit_gt (a);
          if (r < 0)
            return r;
          a->cur_gt = g / KDMV_N_GTES;
        }
      r = vd__sw_compress (&a->ld, a->lvl_buf, a->pend, a->obuf + 12,
                       SW_OUT_CAP - 12, &clen);
      if (r < 0)
        return r;
      vd__put_le64 (a->obuf, g * SW_GRAIN);
      vd__put_le32 (a->obuf + 8, clen);
      a->table[g % KDMV_N_GTES] = (uint32_t) a->data_sec;
      a->table_used = 1;
      r = sa_put (a, a->obuf, 12 + (size_t) clen);
      if (r < 0)
        {
          a->table[g % KDMV_N_GTES] = 0;
          return r;
        }
    }
  memset (a->pend, 0, SW_GRAIN_BYTES);
  a->pend_used = 0;
  a->next_grain = g + 1;
  a->pend_grain = g + 1;
  return 0;
}

int
vd__stream_appender_write (struct vd__stream_appender *a, const void *buf,
                           size_t count, uint64_t off)
{
  const uint8_t *p = buf;
  int r;

  if (count == 0)
    return 0;
  if (off / SW_GRAIN_BYTES < a->next_grain)
    return vd__error (VD_EINVAL, 0, "%s: a streamOptimized disk is written "
                     "front to back: the write at byte %llu is behind the "
                     "end of the stream (bytes before %llu are already "
                     "compressed and written); write at increasing offsets",
                     a->path, (unsigned long long) off,
                     (unsigned long long) (a->next_grain * SW_GRAIN_BYTES));
  while (count > 0)
    {
      uint64_t g = off / SW_GRAIN_BYTES, in = off % SW_GRAIN_BYTES;
      size_t n = (size_t) VD_MIN ((uint64_t) count, SW_GRAIN_BYTES - in);

      while (a->pend_grain < g)
        {
          if (!a->pend_used)
            {
              /* skip the untouched grains at once */
              a->next_grain = a->pend_grain = g;
              break;
            }
          r = sa_emit_pending (a);
          if (r < 0)
            return r;
        }
      memcpy (a->pend + in, p, n);
      a->pend_used = 1;
      a->tail_ok = 0;
      p += n;
      off += n;
      count -= n;
    }
  return 0;
}

/* GTE of grain g while writing: the pending grain gives 0 (read it with
 * vd__stream_appender_pending); *gt_sector is the sector of g's GT in
 * the file when that table is written (else 0 and *gte is set). */
void
vd__stream_appender_lookup (const struct vd__stream_appender *a, uint64_t g,
                            uint32_t *gte, uint32_t *gt_sector)
{
  *gte = 0;
  *gt_sector = 0;
  if (g >= a->n_grains)
    return;
  if (g / KDMV_N_GTES == a->cur_gt)
    *gte = a->table[g % KDMV_N_GTES];
  else
    *gt_sector = a->gd[g / KDMV_N_GTES];
}

/* Copy grain g into out (SW_GRAIN_BYTES) if it is the one being filled. */
int
vd__stream_appender_pending (const struct vd__stream_appender *a,
                             uint64_t g, uint8_t *out)
{
  if (!a->pend_used || g != a->pend_grain)
    return 0;
  if (out)
    memcpy (out, a->pend, SW_GRAIN_BYTES);
  return 1;
}

/* Write the tail after the data: the pending grain and current GT as they
 * are (without closing them), the GD, the footer and EOS; cut the file
 * there and sync.  final: the last call (close). */
int
vd__stream_appender_sync (struct vd__stream_appender *a, int final)
{
  struct vd__stream_appender save;
  uint32_t *gd = NULL;
  struct vd__sw_out o = { .io = a->io };
  int r = 0;

  if (a->tail_ok && !final)
    return vd__io_flush (a->io);
  /* Emit on a copy, so that writes may still go into this grain. */
  save = *a;
  gd = malloc ((a->n_gts ? a->n_gts : 1) * 4);
  o.buf = malloc (SW_WBUF);
  if (!gd || !o.buf)
    {
      free (gd);
      free (o.buf);
      return vd__error (VD_ENOMEM, errno, "%s: stream tail", a->path);
    }
  memcpy (gd, a->gd, a->n_gts * 4);
  if (!final)
    {
      /* work on copies of the pending grain and the table */
      a->gd = gd;
      a->pend = malloc (SW_GRAIN_BYTES);
      if (!a->pend)
        r = vd__error (VD_ENOMEM, errno, "%s: stream tail", a->path);
      else
        memcpy (a->pend, save.pend, SW_GRAIN_BYTES);
    }
  if (r == 0 && a->pend_used)
    r = sa_emit_pending (a);
  if (r == 0)
    r = sa_emit_gt (a);
  if (r == 0)
    {
      o.pos = a->data_sec * VD_SECTOR;
      r = vd__sw_tail (&o, a->gd, a->n_gts, a->sectors);
    }
  if (r == 0)
    r = vd__sw_flush (&o);
  if (r == 0)
    r = a->io->ops->truncate (a->io, vd__sw_tell (&o));
  if (r == 0)
    r = vd__io_flush (a->io);
  free (o.buf);
  if (!final)
    {
      /* back to the state before: the next grain overwrites this tail */
      struct libdeflate_compressor *ld = a->ld;
      free (a->pend);
      *a = save;
      a->ld = ld;
      free (gd);
      if (r == 0)
        a->tail_ok = 1;
    }
  else
    free (gd);
  return r;
}

uint64_t
vd__stream_appender_end (const struct vd__stream_appender *a)
{
  return a->data_sec * VD_SECTOR;
}

