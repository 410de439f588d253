/* A new, empty hosted sparse extent (vd__sparse_create): header, the
 * embedded descriptor, both grain directories and their tables. */
#include "sparse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* VMware's order (§2.4): header, descriptor, redundant GD and tables, GD
 * and tables, then grains from a grain-aligned overHead.  Fills the
 * offsets of h from its capacity, grain and desc_size. */
static void
layout (struct kdmv_header *h, uint64_t *gt_count, uint64_t *gd_sectors)
{
  uint64_t grains = VD_DIV_ROUND_UP (h->capacity, h->grain);

  *gt_count = VD_DIV_ROUND_UP (grains, KDMV_N_GTES);
  *gd_sectors = VD_DIV_ROUND_UP (*gt_count * 4, VD_SECTOR);
  h->rgd_off = 1 + h->desc_size;
  h->gd_off = h->rgd_off + *gd_sectors + *gt_count * KDMV_GT_SECTORS;
  h->overhead = VD_ROUND_UP (h->gd_off + *gd_sectors
                             + *gt_count * KDMV_GT_SECTORS, h->grain);
}

uint64_t
vd__sparse_overhead (uint64_t capacity_sectors, uint32_t grain_sectors,
                     int embedded_desc)
{
  struct kdmv_header h = {
    .capacity = capacity_sectors, .grain = grain_sectors,
    .desc_size = embedded_desc ? VD_EMBEDDED_DESC_SECTORS : 0,
  };
  uint64_t gt_count, gd_sectors;

  layout (&h, &gt_count, &gd_sectors);
  return h.overhead * VD_SECTOR;
}

int
vd__sparse_create (struct vd_io *io, uint64_t capacity,
                   const char *desc_text, size_t desc_len,
                   uint32_t grain)
{
  struct kdmv_header h;
  uint8_t hdr[VD_SECTOR];
  uint64_t gt_count, gd_sectors;
  uint64_t desc_sectors = desc_text ? VD_EMBEDDED_DESC_SECTORS : 0;
  uint32_t *gd;
  uint8_t *raw;
  int r;

  if (capacity == 0 || capacity > UINT32_MAX)
    return vd__error (VD_EINVAL, 0, "%s: a hosted sparse extent holds 1 "
                     "sector to 2 TiB", io->name);
  if (desc_text && desc_len >= desc_sectors * VD_SECTOR)
    return vd__error (VD_EINVAL, 0, "%s: descriptor too large to embed",
                     io->name);
  memset (&h, 0, sizeof h);
  h.version = 1;
  h.flags = KDMV_FLAG_NL_DETECT | KDMV_FLAG_RGD;
  h.capacity = capacity;
  h.grain = grain;
  h.desc_off = desc_text ? 1 : 0;
  h.desc_size = desc_sectors;
  h.n_gtes = KDMV_N_GTES;
  layout (&h, &gt_count, &gd_sectors);
  /* grain offsets are 32-bit sectors: metadata plus every grain must fit */
  if (h.overhead + VD_ROUND_UP (capacity, grain) > UINT32_MAX)
    return vd__error (VD_EINVAL, 0, "%s: %llu sectors is too large for one "
                     "hosted sparse extent (2 TiB including its metadata); "
                     "use a split or flat layout", io->name,
                     (unsigned long long) capacity);
  vd__kdmv_encode (hdr, &h);

  raw = calloc (1, gd_sectors * VD_SECTOR);
  gd = NULL;
  if (!raw)
    return vd__error (VD_ENOMEM, errno, "%s: grain directory", io->name);
  r = io->ops->truncate (io, h.overhead * VD_SECTOR);
  if (r == 0)
    r = vd__io_pwrite (io, hdr, VD_SECTOR, 0);
  if (r == 0 && desc_text) {
    uint8_t *d = calloc (1, desc_sectors * VD_SECTOR);
    if (!d)
      r = vd__error (VD_ENOMEM, errno, "descriptor");
    else {
      memcpy (d, desc_text, desc_len);
      r = vd__io_pwrite (io, d, desc_sectors * VD_SECTOR, VD_SECTOR);
      free (d);
    }
  }
  for (int copy = 0; copy < 2 && r == 0; copy++) {
    uint64_t dir = copy ? h.gd_off : h.rgd_off;
    for (uint64_t i = 0; i < gt_count; i++)
      vd__put_le32 (raw + i * 4,
                    (uint32_t) (dir + gd_sectors + i * KDMV_GT_SECTORS));
    r = vd__io_pwrite (io, raw, gd_sectors * VD_SECTOR, dir * VD_SECTOR);
  }
  free (raw);
  free (gd);
  return r;
}

int
vd__sparse_create_extent (struct vd_io *io, const struct vd_extent_create *c)
{
  return vd__sparse_create (io, c->capacity_sectors, c->desc_text,
                            c->desc_len, c->grain_sectors);
}
