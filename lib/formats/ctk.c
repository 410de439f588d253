/* vdisk's change-tracking file (NAME-ctk.vmdk): docs/cbt.md is the format.
 *
 * A 512-byte header, then from byte 4096 one little-endian u64 per block:
 * the sequence number of the last change set that wrote the block (0: not
 * written since the epoch began).  The header holds the epoch UUID, the
 * sequence number of the last completed change set and a dirty flag.
 *
 * Crash safety (no missed change, ever):
 *   1. Before the first data write of a change set, the header is rewritten
 *      with the dirty flag set and synced (vd__ctk_mark).
 *   2. Writes only set bits in an in-memory bitmap of this open (one bit
 *      per block: 256 KiB at most, whatever the disk size).
 *   3. At flush or close (vd__ctk_commit) the array pages of the marked
 *      blocks get seq+1 and are synced, then the header gets seq+1 and the
 *      dirty flag cleared, and is synced.
 * A crash anywhere between 1 and 3 leaves the dirty flag set: the next
 * read-write open starts a new epoch (every old change ID is refused), and
 * a read-only open refuses queries.  So a change is either recorded or
 * every ID that could miss it is invalid.
 *
 * VMware's own tracking files start with another magic; this module never
 * writes one (vd__ctk_open answers VD_CTK_FOREIGN for them). */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define CTK_MAGIC "VDISKCTK"
#define CTK_VERSION 1
#define CTK_HEADER_BYTES 512
#define CTK_ARRAY_OFFSET 4096
#define CTK_PAGE 4096                   /* array I/O unit: 512 blocks */
#define CTK_MIN_BLOCK (64u << 10)       /* 64 KiB, VMware's smallest */
#define CTK_MAX_BLOCK (1u << 30)
#define CTK_TARGET_BLOCKS (1u << 21)    /* block size grows past this */
#define CTK_MAX_BLOCKS (1ull << 24)     /* refuse files claiming more */
#define CTK_FLAG_DIRTY 0x1u

/* Header layout (little-endian):
 *   0  8  magic "VDISKCTK"          32  8  block count
 *   8  4  format version (1)        40  8  sequence (last completed set)
 *  12  4  header bytes (512)        48 16  epoch UUID
 *  16  8  capacity (bytes)          64  8  array offset (4096)
 *  24  4  block size (bytes)        72  4  CRC-32 of bytes 0..71
 *  28  4  flags (bit 0: dirty)      76..511 zero */

struct vd_ctk {
  struct vd_io *io;
  int rw;
  uint64_t capacity;
  uint32_t block_size;
  uint64_t n_blocks;
  uint64_t seq;
  uint8_t epoch[16];
  int dirty_on_disk;        /* the file's header says dirty */
  int was_dirty;            /* it did when opened (an interrupted set) */
  uint8_t *marks;           /* one bit per block written in this open */
  int any_marked;
  pthread_mutex_t mu;
};

uint32_t
vd__ctk_block_size_for (uint64_t capacity)
{
  uint64_t bs = CTK_MIN_BLOCK;
  while (bs < CTK_MAX_BLOCK && VD_DIV_ROUND_UP (capacity, bs) > CTK_TARGET_BLOCKS)
    bs <<= 1;
  return (uint32_t) bs;
}

static void
encode_header (const struct vd_ctk *c, int dirty, uint8_t h[CTK_HEADER_BYTES])
{
  memset (h, 0, CTK_HEADER_BYTES);
  memcpy (h, CTK_MAGIC, 8);
  vd__put_le32 (h + 8, CTK_VERSION);
  vd__put_le32 (h + 12, CTK_HEADER_BYTES);
  vd__put_le64 (h + 16, c->capacity);
  vd__put_le32 (h + 24, c->block_size);
  vd__put_le32 (h + 28, dirty ? CTK_FLAG_DIRTY : 0);
  vd__put_le64 (h + 32, c->n_blocks);
  vd__put_le64 (h + 40, c->seq);
  memcpy (h + 48, c->epoch, 16);
  vd__put_le64 (h + 64, CTK_ARRAY_OFFSET);
  vd__put_le32 (h + 72, (uint32_t) crc32 (0, h, 72));
}

static int
write_header (struct vd_ctk *c, int dirty)
{
  uint8_t h[CTK_HEADER_BYTES];
  int r;
  encode_header (c, dirty, h);
  r = vd__io_pwrite (c->io, h, sizeof h, 0);
  if (r == 0)
    r = vd__io_flush (c->io);
  if (r == 0)
    c->dirty_on_disk = dirty;
  return r;
}

static uint64_t
file_bytes (uint64_t n_blocks)
{
  return CTK_ARRAY_OFFSET + VD_ROUND_UP (n_blocks * 8, CTK_PAGE);
}

/* Give c a new epoch: a fresh UUID, sequence 0, every block 0. */
static int
new_epoch (struct vd_ctk *c)
{
  int r = vd__random_bytes (c->epoch, sizeof c->epoch);
  if (r < 0)
    return r;
  /* RFC 4122 version 4 */
  c->epoch[6] = (uint8_t) ((c->epoch[6] & 0x0f) | 0x40);
  c->epoch[8] = (uint8_t) ((c->epoch[8] & 0x3f) | 0x80);
  c->seq = 0;
  /* Dirty while the array is cleared, so a crash here resets again. */
  if ((r = write_header (c, 1)) < 0)
    return r;
  if ((r = c->io->ops->truncate (c->io, CTK_ARRAY_OFFSET)) < 0
      || (r = c->io->ops->truncate (c->io, file_bytes (c->n_blocks))) < 0)
    return r;
  if ((r = vd__io_flush (c->io)) < 0)
    return r;
  return write_header (c, 0);
}

static struct vd_ctk *
alloc_ctk (struct vd_io *io, uint64_t capacity, uint32_t block_size, int rw)
{
  struct vd_ctk *c = calloc (1, sizeof *c);
  if (!c) {
    vd__error (VD_ENOMEM, errno, "change tracking");
    return NULL;
  }
  c->io = io;
  c->rw = rw;
  c->capacity = capacity;
  c->block_size = block_size;
  c->n_blocks = VD_DIV_ROUND_UP (capacity, block_size);
  if (rw) {
    c->marks = calloc (1, (size_t) VD_DIV_ROUND_UP (c->n_blocks, 8) + 1);
    if (!c->marks) {
      free (c);
      vd__error (VD_ENOMEM, errno, "change tracking bitmap");
      return NULL;
    }
  }
  pthread_mutex_init (&c->mu, NULL);
  return c;
}

int
vd__ctk_create (struct vd_ctk **out, struct vd_io *io, uint64_t capacity)
{
  struct vd_ctk *c;
  int r;
  *out = NULL;
  c = alloc_ctk (io, capacity, vd__ctk_block_size_for (capacity), 1);
  if (!c)
    return VD_ENOMEM;
  r = new_epoch (c);
  if (r < 0) {
    c->io = NULL;
    vd__ctk_close (c);
    return r;
  }
  *out = c;
  return 0;
}

int
vd__ctk_probe (const uint8_t *buf, size_t len)
{
  return len >= 8 && memcmp (buf, CTK_MAGIC, 8) == 0;
}

/* New capacity, same epoch: the array grows or shrinks; blocks past the
 * old end (and the old last, partial block) get the next sequence. */
static int
resize (struct vd_ctk *c, uint64_t capacity)
{
  uint64_t old_blocks = c->n_blocks;
  uint64_t n_blocks = VD_DIV_ROUND_UP (capacity, c->block_size);
  uint8_t *marks = calloc (1, (size_t) VD_DIV_ROUND_UP (n_blocks, 8) + 1);
  int r;
  if (!marks)
    return vd__error (VD_ENOMEM, errno, "change tracking bitmap");
  free (c->marks);
  c->marks = marks;
  /* dirty first: a crash in the middle resets the epoch */
  if ((r = write_header (c, 1)) < 0)
    return r;
  if ((r = c->io->ops->truncate (c->io, file_bytes (n_blocks))) < 0)
    return r;
  c->n_blocks = n_blocks;
  c->capacity = capacity;
  for (uint64_t b = old_blocks ? old_blocks - 1 : 0; b < n_blocks; b++)
    c->marks[b / 8] |= (uint8_t) (1u << (b % 8));
  c->any_marked = n_blocks > 0;
  return vd__ctk_commit (c);
}

int
vd__ctk_open (struct vd_ctk **out, struct vd_io *io, uint64_t capacity,
              int rw)
{
  uint8_t h[CTK_HEADER_BYTES];
  uint64_t fsize, n_blocks, cap;
  uint32_t bs;
  struct vd_ctk *c;
  int r;

  *out = NULL;
  if ((r = io->ops->size (io, &fsize)) < 0)
    return r;
  if (fsize < CTK_HEADER_BYTES)
    return vd__corrupt (io->name, "change-tracking file of %llu bytes "
                        "is shorter than its header",
                        (unsigned long long) fsize);
  if ((r = vd__io_pread (io, h, sizeof h, 0)) < 0)
    return r;
  if (!vd__ctk_probe (h, sizeof h))
    return VD_CTK_FOREIGN;
  if (vd__le32 (h + 72) != (uint32_t) crc32 (0, h, 72))
    return vd__corrupt (io->name, "change-tracking header checksum "
                        "mismatch");
  if (vd__le32 (h + 8) != CTK_VERSION)
    return vd__error (VD_ENOTSUP, 0, "%s: change-tracking format version %u "
                     "(this vdisk knows %u)", io->name, vd__le32 (h + 8),
                     CTK_VERSION);
  cap = vd__le64 (h + 16);
  bs = vd__le32 (h + 24);
  n_blocks = vd__le64 (h + 32);
  /* Every number checked before use: a power-of-two block size in range,
   * a block count that matches the capacity and is bounded, an array that
   * the file really holds. */
  if (vd__le32 (h + 12) != CTK_HEADER_BYTES
      || vd__le64 (h + 64) != CTK_ARRAY_OFFSET
      || bs < CTK_MIN_BLOCK || bs > CTK_MAX_BLOCK || (bs & (bs - 1))
      || n_blocks > CTK_MAX_BLOCKS
      || n_blocks != VD_DIV_ROUND_UP (cap, bs)
      || fsize < file_bytes (n_blocks))
    return vd__corrupt (io->name, "change-tracking header is "
                        "inconsistent (block size %u, %llu blocks, capacity "
                        "%llu, file %llu bytes)", bs,
                        (unsigned long long) n_blocks, (unsigned long long) cap,
                        (unsigned long long) fsize);
  c = alloc_ctk (io, cap, bs, rw);
  if (!c)
    return VD_ENOMEM;
  c->seq = vd__le64 (h + 40);
  memcpy (c->epoch, h + 48, 16);
  c->dirty_on_disk = c->was_dirty = !!(vd__le32 (h + 28) & CTK_FLAG_DIRTY);
  if (rw && !c->was_dirty && cap != capacity
      && VD_DIV_ROUND_UP (capacity, bs) <= CTK_MAX_BLOCKS) {
    /* The disk grew or shrank (vdisk grow): keep the epoch; the blocks
     * that appeared count as changed in a new change set. */
    r = resize (c, capacity);
    if (r < 0) {
      c->io = NULL;
      vd__ctk_close (c);
      return r;
    }
  }
  else if (rw && (c->was_dirty || cap != capacity)) {
    /* An interrupted change set, or a disk too large for this block
     * size: nothing recorded can be trusted any more. */
    c->capacity = capacity;
    c->n_blocks = VD_DIV_ROUND_UP (capacity, bs);
    if (c->n_blocks > CTK_MAX_BLOCKS) {
      c->io = NULL;
      vd__ctk_close (c);
      return vd__error (VD_ENOTSUP, 0, "%s: disk too large to track with "
                       "blocks of %u bytes", io->name, bs);
    }
    free (c->marks);
    c->marks = calloc (1, (size_t) VD_DIV_ROUND_UP (c->n_blocks, 8) + 1);
    if (!c->marks || (r = new_epoch (c)) < 0) {
      r = c->marks ? r : vd__error (VD_ENOMEM, errno, "change tracking");
      c->io = NULL;
      vd__ctk_close (c);
      return r;
    }
  }
  else if (cap != capacity) {
    c->io = NULL;
    vd__ctk_close (c);
    return vd__corrupt (io->name, "tracks %llu bytes but the disk has "
                        "%llu (resized outside tracking; a read-write open "
                        "starts a new epoch)",
                        (unsigned long long) cap,
                        (unsigned long long) capacity);
  }
  *out = c;
  return 0;
}

int
vd__ctk_mark (struct vd_ctk *c, uint64_t off, uint64_t len)
{
  int r = 0;
  if (!c || len == 0)
    return 0;
  if (!c->rw)
    return vd__error (VD_EROFS, 0, "%s: change tracking opened read-only",
                     c->io->name);
  if (off >= c->capacity)
    return 0;
  len = VD_MIN (len, c->capacity - off);
  pthread_mutex_lock (&c->mu);
  if (!c->dirty_on_disk)
    r = write_header (c, 1);   /* before the data write, and synced */
  if (r == 0) {
    for (uint64_t b = off / c->block_size;
         b <= (off + len - 1) / c->block_size; b++)
      c->marks[b / 8] |= (uint8_t) (1u << (b % 8));
    c->any_marked = 1;
  }
  pthread_mutex_unlock (&c->mu);
  return r;
}

int
vd__ctk_commit (struct vd_ctk *c)
{
  uint8_t page[CTK_PAGE];
  int r = 0;
  if (!c || !c->rw)
    return 0;
  pthread_mutex_lock (&c->mu);
  if (!c->any_marked) {
    if (c->dirty_on_disk)
      r = write_header (c, 0);
    pthread_mutex_unlock (&c->mu);
    return r;
  }
  uint64_t next = c->seq + 1;
  const uint64_t per_page = CTK_PAGE / 8;
  uint64_t n_pages = VD_DIV_ROUND_UP (c->n_blocks, per_page);
  for (uint64_t p = 0; p < n_pages && r == 0; p++) {
    uint64_t first = p * per_page;
    uint64_t last = VD_MIN (first + per_page, c->n_blocks);
    int any = 0;
    /* whole bytes of the bitmap: per_page is a multiple of 8 */
    for (uint64_t b = first / 8; b < VD_DIV_ROUND_UP (last, 8); b++)
      if (c->marks[b]) {
        any = 1;
        break;
      }
    if (!any)
      continue;
    uint64_t at = CTK_ARRAY_OFFSET + p * CTK_PAGE;
    size_t n = (size_t) ((last - first) * 8);
    r = vd__io_pread (c->io, page, n, at);
    for (uint64_t b = first; b < last && r == 0; b++)
      if (c->marks[b / 8] & (1u << (b % 8)))
        vd__put_le64 (page + (b - first) * 8, next);
    if (r == 0)
      r = vd__io_pwrite (c->io, page, n, at);
  }
  if (r == 0)
    r = vd__io_flush (c->io);
  if (r == 0) {
    c->seq = next;
    r = write_header (c, 0);
  }
  if (r == 0) {
    memset (c->marks, 0, (size_t) VD_DIV_ROUND_UP (c->n_blocks, 8));
    c->any_marked = 0;
  }
  pthread_mutex_unlock (&c->mu);
  return r;
}

int
vd__ctk_changed (struct vd_ctk *c, uint64_t since, uint64_t off,
                 uint64_t len, vd__ctk_range_cb cb, void *payload)
{
  uint8_t page[CTK_PAGE];
  const uint64_t per_page = CTK_PAGE / 8;
  uint64_t run_start = 0, run_len = 0;
  int r = 0;

  if (off >= c->capacity || len == 0)
    return 0;
  len = VD_MIN (len, c->capacity - off);
  pthread_mutex_lock (&c->mu);
  uint64_t b0 = off / c->block_size, b1 = (off + len - 1) / c->block_size;
  for (uint64_t p = b0 / per_page; p <= b1 / per_page && r == 0; p++) {
    uint64_t first = p * per_page;
    uint64_t last = VD_MIN (first + per_page, c->n_blocks);
    r = vd__io_pread (c->io, page, (size_t) ((last - first) * 8),
                      CTK_ARRAY_OFFSET + p * CTK_PAGE);
    for (uint64_t b = VD_MAX (first, b0); b < last && b <= b1 && r == 0; b++) {
      int changed = vd__le64 (page + (b - first) * 8) > since
                    || (c->marks && (c->marks[b / 8] & (1u << (b % 8))));
      if (!changed)
        continue;
      uint64_t s = b * (uint64_t) c->block_size;
      uint64_t e = VD_MIN (s + c->block_size, c->capacity);
      s = VD_MAX (s, off);
      e = VD_MIN (e, off + len);
      if (run_len && run_start + run_len == s)
        run_len += e - s;
      else {
        if (run_len)
          r = cb (run_start, run_len, payload);
        run_start = s;
        run_len = e - s;
      }
    }
  }
  pthread_mutex_unlock (&c->mu);
  if (r == 0 && run_len)
    r = cb (run_start, run_len, payload);
  return r;
}

void
vd__ctk_info (const struct vd_ctk *c, struct vd__ctk_info *info)
{
  memcpy (info->epoch, c->epoch, 16);
  info->seq = c->seq;
  info->block_size = c->block_size;
  info->n_blocks = c->n_blocks;
  info->capacity = c->capacity;
  info->was_dirty = c->was_dirty;
  info->pending = c->any_marked;
}

void
vd__ctk_close (struct vd_ctk *c)
{
  if (!c)
    return;
  vd__io_close (c->io);
  pthread_mutex_destroy (&c->mu);
  free (c->marks);
  free (c);
}
