/* The VMDK4 hosted sparse header ("KDMV", vmdk-format.md §2): its byte
 * layout, limits and layout arithmetic, in one place for the sparse
 * driver, its check and repair, create, and space-needed.  Private to
 * lib/formats. */
#ifndef VDISK_KDMV_H
#define VDISK_KDMV_H

#include "internal.h"

#define KDMV_MAGIC 0x564d444bu
#define KDMV_FLAG_NL_DETECT 0x1u
#define KDMV_FLAG_RGD 0x2u
#define KDMV_FLAG_ZEROED_GTE 0x4u
#define KDMV_FLAG_COMPRESSED 0x10000u
#define KDMV_FLAG_MARKERS 0x20000u
#define KDMV_KNOWN_INCOMPAT (KDMV_FLAG_COMPRESSED | KDMV_FLAG_MARKERS)
#define KDMV_GD_AT_END UINT64_C (0xffffffffffffffff)
#define KDMV_N_GTES 512u
#define KDMV_GT_BYTES (KDMV_N_GTES * 4u)
#define KDMV_GT_SECTORS (KDMV_GT_BYTES / VD_SECTOR)
#define KDMV_MAX_GRAIN 2048u               /* sectors (1 MiB) */
#define KDMV_MAX_GD_BYTES (64u << 20)       /* metadata cap per extent */
#define KDMV_MAX_DESC_SECTORS 1024u


struct kdmv_header {
  uint32_t magic, version, flags;
  uint64_t capacity, grain, desc_off, desc_size;
  uint32_t n_gtes;
  uint64_t rgd_off, gd_off, overhead;
  uint8_t unclean;
  uint8_t nl[4];
  uint16_t compress;
};

/* Byte offset of the uncleanShutdown flag in the header sector. */
#define KDMV_UNCLEAN_OFFSET 72

/* Decode / encode the header sector (encode writes the magic and the
 * newline-detection bytes; the rest of the sector is zeros). */
void vd__kdmv_decode (struct kdmv_header *h, const uint8_t *b);
void vd__kdmv_encode (uint8_t *b, const struct kdmv_header *h);
/* Read and decode the header of io (*fsize: the file size); VD_ECORRUPT
 * for a short file or another magic. */
int vd__kdmv_read (struct vd_io *io, struct kdmv_header *h, uint64_t *fsize);
/* Region [off, off+n) sectors lies inside a file of fsize bytes. */
int vd__kdmv_in_file (uint64_t off, uint64_t n, uint64_t fsize);

#endif /* VDISK_KDMV_H */
