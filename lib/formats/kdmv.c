/* The KDMV header codec and the embedded-descriptor area (kdmv.h). */
#include "kdmv.h"

#include <string.h>


void
vd__kdmv_decode (struct kdmv_header *h, const uint8_t *b)
{
  h->magic = vd__le32 (b + 0);
  h->version = vd__le32 (b + 4);
  h->flags = vd__le32 (b + 8);
  h->capacity = vd__le64 (b + 12);
  h->grain = vd__le64 (b + 20);
  h->desc_off = vd__le64 (b + 28);
  h->desc_size = vd__le64 (b + 36);
  h->n_gtes = vd__le32 (b + 44);
  h->rgd_off = vd__le64 (b + 48);
  h->gd_off = vd__le64 (b + 56);
  h->overhead = vd__le64 (b + 64);
  h->unclean = b[72];
  memcpy (h->nl, b + 73, 4);
  h->compress = (uint16_t) (b[77] | (b[78] << 8));
}

void
vd__kdmv_encode (uint8_t *b, const struct kdmv_header *h)
{
  memset (b, 0, VD_SECTOR);
  vd__put_le32 (b + 0, KDMV_MAGIC);
  vd__put_le32 (b + 4, h->version);
  vd__put_le32 (b + 8, h->flags);
  vd__put_le64 (b + 12, h->capacity);
  vd__put_le64 (b + 20, h->grain);
  vd__put_le64 (b + 28, h->desc_off);
  vd__put_le64 (b + 36, h->desc_size);
  vd__put_le32 (b + 44, h->n_gtes);
  vd__put_le64 (b + 48, h->rgd_off);
  vd__put_le64 (b + 56, h->gd_off);
  vd__put_le64 (b + 64, h->overhead);
  b[72] = h->unclean;
  b[73] = '\n';
  b[74] = ' ';
  b[75] = '\r';
  b[76] = '\n';
  b[77] = (uint8_t) h->compress;
  b[78] = (uint8_t) (h->compress >> 8);
}

int
vd__kdmv_read (struct vd_io *io, struct kdmv_header *h, uint64_t *fsize)
{
  uint8_t b[VD_SECTOR];
  int r = io->ops->size (io, fsize);
  if (r < 0)
    return r;
  if (*fsize < VD_SECTOR)
    return vd__corrupt (io->name, "file is %llu bytes, too short for "
                        "a sparse header",
                        (unsigned long long) *fsize);
  r = vd__io_pread (io, b, sizeof b, 0);
  if (r < 0)
    return r;
  vd__kdmv_decode (h, b);
  if (h->magic != KDMV_MAGIC)
    return vd__corrupt (io->name, "not a hosted sparse extent (bad "
                        "magic)");
  return 0;
}

int
vd__kdmv_in_file (uint64_t off, uint64_t n, uint64_t fsize)
{
  uint64_t max = fsize / VD_SECTOR;
  return off <= max && n <= max - off;
}

int
vd__sparse_embedded_desc (struct vd_io *io, uint64_t *off, uint64_t *size)
{
  struct kdmv_header h;
  uint64_t fsize;
  int r = vd__kdmv_read (io, &h, &fsize);
  *off = *size = 0;
  if (r < 0)
    return r;
  if (h.desc_off == 0 && h.desc_size == 0)
    return 0;
  if (h.desc_off == 0 || h.desc_size == 0)
    return vd__corrupt (io->name, "embedded descriptor offset %llu "
                        "with size %llu is inconsistent",
                        (unsigned long long) h.desc_off,
                        (unsigned long long) h.desc_size);
  if (h.desc_size > KDMV_MAX_DESC_SECTORS)
    return vd__corrupt (io->name, "embedded descriptor of %llu "
                        "sectors is larger than the limit of %u",
                        (unsigned long long) h.desc_size,
                        KDMV_MAX_DESC_SECTORS);
  if (!vd__kdmv_in_file (h.desc_off, h.desc_size, fsize))
    return vd__corrupt (io->name, "embedded descriptor (sectors %llu "
                        "+ %llu) lies past end of file",
                        (unsigned long long) h.desc_off,
                        (unsigned long long) h.desc_size);
  *off = h.desc_off * VD_SECTOR;
  *size = h.desc_size * VD_SECTOR;
  return 0;
}
