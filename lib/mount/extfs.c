/* In-process ext2/3/4 volumes, read-only: libext2fs (e2fsprogs) reads
 * the metadata through an io_manager of ours that reads the partition
 * through the mount's source (vd_disk_read for a vd_disk: no partition
 * file, no second FUSE hop), and file data bypasses libext2fs: each open
 * file gets its block map once (the extent tree, or the block pointers
 * of an indirect-mapped file), checked against the file system and the
 * partition, and reads go from the map straight to the source into the
 * reply buffer, outside the metadata lock. */
#include "extfs-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#if defined VD_HAVE_FUSE && defined VD_HAVE_EXT2FS

/* ---- the io_manager ------------------------------------------------------- */

#define IO_PREFIX "vdisk-extfs:"

static errcode_t
io_read64 (io_channel ch, unsigned long long block, int count, void *data)
{
  struct vd_extfs *x = ch->private_data;
  uint64_t bs = (uint64_t) ch->block_size;
  uint64_t n = count < 0 ? (uint64_t) -(int64_t) count : (uint64_t) count * bs;
  /* the partition bounds every read (a block number past its end is a
   * corrupt pointer, not a read of the next partition) */
  if (bs == 0 || block > x->len / bs || n > x->len - block * bs)
    return EXT2_ET_SHORT_READ;
  if (n == 0)
    return 0;
  if (x->src->read (x->src->ctx, data, (size_t) n, x->off + block * bs) < 0) {
    vd__error_clear ();
    return EIO;
  }
  return 0;
}

static errcode_t
io_read (io_channel ch, unsigned long block, int count, void *data)
{
  return io_read64 (ch, block, count, data);
}

static errcode_t
io_write64 (io_channel ch, unsigned long long block, int count,
            const void *data)
{
  (void) ch; (void) block; (void) count; (void) data;
  return EXT2_ET_RO_FILSYS;
}

static errcode_t
io_write (io_channel ch, unsigned long block, int count, const void *data)
{
  return io_write64 (ch, block, count, data);
}

static errcode_t
io_write_byte (io_channel ch, unsigned long off, int count, const void *data)
{
  (void) ch; (void) off; (void) count; (void) data;
  return EXT2_ET_RO_FILSYS;
}

static errcode_t
io_set_blksize (io_channel ch, int blksize)
{
  if (blksize <= 0 || blksize > 65536)
    return EXT2_ET_INVALID_ARGUMENT;
  ch->block_size = blksize;
  return 0;
}

static errcode_t
io_flush (io_channel ch)
{
  (void) ch;
  return 0;
}

static errcode_t
io_set_option (io_channel ch, const char *opt, const char *arg)
{
  (void) ch; (void) opt; (void) arg;
  return EXT2_ET_INVALID_ARGUMENT;
}

static errcode_t
io_close (io_channel ch)
{
  if (--ch->refcount > 0)
    return 0;
  free (ch->name);
  free (ch);
  return 0;
}

static errcode_t io_open (const char *name, int flags, io_channel *out);

static struct struct_io_manager extfs_io = {
  .magic = EXT2_ET_MAGIC_IO_MANAGER,
  .name = "vdisk source I/O manager",
  .open = io_open,
  .close = io_close,
  .set_blksize = io_set_blksize,
  .read_blk = io_read,
  .write_blk = io_write,
  .flush = io_flush,
  .write_byte = io_write_byte,
  .set_option = io_set_option,
  .read_blk64 = io_read64,
  .write_blk64 = io_write64,
};

/* name is IO_PREFIX and the address of the struct vd_extfs (the only
 * way ext2fs_open2 passes a context to an io_manager). */
static errcode_t
io_open (const char *name, int flags, io_channel *out)
{
  void *p = NULL;
  if (!name || strncmp (name, IO_PREFIX, strlen (IO_PREFIX)) != 0
      || sscanf (name + strlen (IO_PREFIX), "%p", &p) != 1 || !p)
    return EXT2_ET_BAD_DEVICE_NAME;
  if (flags & IO_FLAG_RW)
    return EXT2_ET_RO_FILSYS;
  io_channel ch = calloc (1, sizeof *ch);
  if (!ch || !(ch->name = strdup (name))) {
    free (ch);
    return EXT2_ET_NO_MEMORY;
  }
  ch->magic = EXT2_ET_MAGIC_IO_CHANNEL;
  ch->manager = &extfs_io;
  ch->block_size = 1024;
  ch->refcount = 1;
  ch->private_data = p;
  *out = ch;
  return 0;
}

/* ---- opening the file system ---------------------------------------------- */

int
vd__extfs_errno (errcode_t e)
{
  if (e > 0 && e < 256)
    return -(int) e;
  switch (e) {
  case EXT2_ET_FILE_NOT_FOUND: return -ENOENT;
  case EXT2_ET_NO_DIRECTORY: return -ENOTDIR;
  case EXT2_ET_NO_MEMORY: return -ENOMEM;
  case EXT2_ET_SYMLINK_LOOP: return -ELOOP;
  case EXT2_ET_RO_FILSYS: return -EROFS;
  default: return -EIO;
  }
}

/* The superblock's geometry, checked before libext2fs sizes its tables
 * by it: the blocks fit the partition, and the group count (and so the
 * group descriptors libext2fs allocates) stays sane. */
static int
sb_check (struct vd_extfs *x)
{
  struct ext2_super_block sb;
  if (x->len < 2048 || x->src->read (x->src->ctx, &sb, sizeof sb,
                                     x->off + 1024) < 0)
    return x->len < 2048
             ? vd__corrupt (x->name, "volume %u: too small for an ext "
                            "file system", x->number)
             : vd__error (VD_EIO, 0, "%s: volume %u: cannot read the "
                          "superblock", x->name, x->number);
  /* (on disk little-endian, as libext2fs reads it) */
  uint16_t magic = ext2fs_le16_to_cpu (sb.s_magic);
  uint32_t logbs = ext2fs_le32_to_cpu (sb.s_log_block_size);
  uint32_t incompat = ext2fs_le32_to_cpu (sb.s_feature_incompat);
  uint32_t ipg = ext2fs_le32_to_cpu (sb.s_inodes_per_group);
  if (magic != EXT2_SUPER_MAGIC)
    return vd__corrupt (x->name, "volume %u: no ext superblock (magic "
                        "0x%04x)", x->number, magic);
  if (logbs > EXT2_MAX_BLOCK_LOG_SIZE - EXT2_MIN_BLOCK_LOG_SIZE)
    return vd__corrupt (x->name, "volume %u: superblock: block size 2^%u "
                        "KiB", x->number, logbs);
  uint64_t bs = (uint64_t) 1024 << logbs;
  uint64_t blocks = ext2fs_le32_to_cpu (sb.s_blocks_count);
  if (incompat & EXT4_FEATURE_INCOMPAT_64BIT)
    blocks |= (uint64_t) ext2fs_le32_to_cpu (sb.s_blocks_count_hi) << 32;
  if (blocks == 0 || blocks > x->len / bs)
    return vd__corrupt (x->name, "volume %u: superblock: %llu blocks of "
                        "%llu bytes do not fit the partition (%llu bytes)",
                        x->number, (unsigned long long) blocks,
                        (unsigned long long) bs,
                        (unsigned long long) x->len);
  /* (with bigalloc too: libext2fs checks it is clusters per group
   * times blocks per cluster) */
  uint64_t bpg = ext2fs_le32_to_cpu (sb.s_blocks_per_group);
  if (bpg < 256 || (blocks + bpg - 1) / bpg > (1u << 20) || ipg == 0)
    return vd__corrupt (x->name, "volume %u: superblock: %llu blocks per "
                        "group, %u inodes per group", x->number,
                        (unsigned long long) bpg, ipg);
  return 0;
}

/* libext2fs's messages (com_err keeps its tables in a list of its own:
 * added once per process) */
static pthread_once_t ext2_messages = PTHREAD_ONCE_INIT;
static void
ext2_messages_init (void)
{
  initialize_ext2_error_table ();
}

int
vd__mnt_extfs (struct vd_mount *m, const struct vd_partition *pt,
               dev_t dev0)
{
  pthread_once (&ext2_messages, ext2_messages_init);
  struct vd_extfs *x = calloc (1, sizeof *x);
  if (!x)
    return vd__error (VD_ENOMEM, 0, "out of memory");
  x->src = &m->src;
  x->name = m->name;
  x->number = pt->number;
  x->off = pt->offset;
  x->len = pt->length;
  pthread_mutex_init (&x->lock, NULL);
  m->ext = x;
  int r = sb_check (x);
  if (r < 0) {
    vd__mnt_extfs_free (m);
    return r;
  }
  char ioname[64];
  snprintf (ioname, sizeof ioname, IO_PREFIX "%p", (void *) x);
  errcode_t e = ext2fs_open2 (ioname, NULL, EXT2_FLAG_64BITS, 0, 0,
                              &extfs_io, &x->fs);
  if (e) {
    x->fs = NULL;
    vd__mnt_extfs_free (m);
    return vd__corrupt (m->name, "volume %u: libext2fs cannot open the "
                        "file system: %s", pt->number, error_message (e));
  }
  /* (the geometry sb_check checked: the blocks fit the partition) */
  x->bs = x->fs->blocksize;
  x->nblocks = ext2fs_blocks_count (x->fs->super);
  r = vd__mnt_fuse_start (m, &vd__extfs_ops,
                          (m->flags & VD_MOUNT_ALLOW_OTHER)
                            ? ",default_permissions" : "", dev0);
  if (r < 0)
    vd__mnt_extfs_free (m);
  return r;
}

void
vd__mnt_extfs_free (struct vd_mount *m)
{
  struct vd_extfs *x = m->ext;
  if (!x)
    return;
  if (x->fs)
    ext2fs_close_free (&x->fs);
  pthread_mutex_destroy (&x->lock);
  free (x);
  m->ext = NULL;
}

/* ---- block maps ------------------------------------------------------------ */

struct mapb {
  struct vd_extfs *x;
  struct extfs_file *f;
  size_t cap;
  uint64_t limit;           /* blocks that hold the file's bytes */
  uint64_t next;            /* the first logical block not yet mapped */
  uint64_t mapped, max_mapped;
  int strict;               /* a folder or link that libext2fs walks itself
                               (whole, ignoring i_size): no block past the
                               size, no uninitialised extent */
  const char *why;          /* the corruption found */
  int err;                  /* ENOMEM: out of memory (else corrupt) */
};

/* Add logical blocks lblk..+len at pblk (data 0: an uninitialised
 * extent, read as zeros: only its place is checked).  1: past the end of
 * the file, stop; -1: corrupt (b->why) or out of memory (b->err). */
static int
add_run (struct mapb *b, uint64_t lblk, uint64_t pblk, uint64_t len,
         int data)
{
  struct vd_extfs *x = b->x;
  if (len == 0 || lblk < b->next || lblk + len < lblk) {
    b->why = "extents out of order or overlapping";
    return -1;
  }
  if (lblk >= b->limit && !b->strict)
    return 1;
  if (b->strict && (lblk + len > b->limit || !data)) {
    b->why = "a folder or link block past its size, or uninitialised";
    return -1;
  }
  if (pblk <= x->fs->super->s_first_data_block || pblk >= x->nblocks
      || len > x->nblocks - pblk) {
    b->why = "a block outside the file system";
    return -1;
  }
  b->next = lblk + len;
  if (len > b->limit - lblk)
    len = b->limit - lblk;
  if (!data)
    return 0;
  b->mapped += len;
  if (b->mapped > b->max_mapped) {
    b->why = "more blocks than the file system holds (or a folder past "
             "its bound)";
    return -1;
  }
  struct extfs_file *f = b->f;
  struct extfs_run *last = f->nruns ? &f->runs[f->nruns - 1] : NULL;
  if (last && last->lblk + last->len == lblk && last->pblk + last->len == pblk) {
    last->len += len;
    return 0;
  }
  if (f->nruns == b->cap) {
    if (b->cap >= EXTFS_RUNS_MAX) {
      b->why = "too fragmented (more than 2^20 runs)";
      return -1;
    }
    size_t nc = b->cap ? b->cap * 2 : 16;
    struct extfs_run *nr = realloc (f->runs, nc * sizeof *nr);
    if (!nr) {
      b->err = ENOMEM;
      return -1;
    }
    f->runs = nr;
    b->cap = nc;
  }
  f->runs[f->nruns++] = (struct extfs_run) { lblk, pblk, len };
  return 0;
}

static int
map_extents (struct mapb *b, ext2_ino_t ino, struct ext2_inode *inode)
{
  ext2_extent_handle_t h;
  struct ext2fs_extent ex;
  errcode_t e = ext2fs_extent_open2 (b->x->fs, ino, inode, &h);
  if (e) {
    if (e == EXT2_ET_NO_MEMORY)
      b->err = ENOMEM;
    else
      b->why = "a bad extent tree";
    return -1;
  }
  int r = 0;
  uint64_t steps = 0;
  for (e = ext2fs_extent_get (h, EXT2_EXTENT_ROOT, &ex); !e;
       e = ext2fs_extent_get (h, EXT2_EXTENT_NEXT, &ex)) {
    /* the tree's depth is bounded and every leaf extent must follow the
     * one before: a bound on the walk stops empty leaves repeated */
    if (++steps > 2 * (uint64_t) EXTFS_RUNS_MAX) {
      b->why = "an extent tree too large";
      r = -1;
      break;
    }
    if (!(ex.e_flags & EXT2_EXTENT_FLAGS_LEAF)
        || (ex.e_flags & EXT2_EXTENT_FLAGS_SECOND_VISIT))
      continue;
    r = add_run (b, ex.e_lblk, ex.e_pblk, ex.e_len,
                 !(ex.e_flags & EXT2_EXTENT_FLAGS_UNINIT));
    if (r)
      break;
  }
  ext2fs_extent_free (h);
  if (r == 0 && e && e != EXT2_ET_EXTENT_NO_NEXT) {
    if (e == EXT2_ET_NO_MEMORY)
      b->err = ENOMEM;
    else
      b->why = "a bad extent tree";
    r = -1;
  }
  return r < 0 ? -1 : 0;
}

static int
block_cb (ext2_filsys fs, blk64_t *blocknr, e2_blkcnt_t blockcnt,
          blk64_t ref_blk, int ref_offset, void *priv)
{
  struct mapb *b = priv;
  (void) fs; (void) ref_blk; (void) ref_offset;
  if (blockcnt < 0)
    return 0;
  return add_run (b, (uint64_t) blockcnt, *blocknr, 1, 1) ? BLOCK_ABORT : 0;
}

int
vd__extfs_map (struct vd_extfs *x, ext2_ino_t ino, struct ext2_inode *inode,
               uint64_t max_bytes, struct extfs_file *f)
{
  memset (f, 0, sizeof *f);
  f->ino = ino;
  f->size = EXT2_I_SIZE (inode);
  if (f->size > (uint64_t) INT64_MAX - x->bs)
    return -EIO;
  struct mapb b = { .x = x, .f = f, .limit = (f->size + x->bs - 1) / x->bs,
                    .max_mapped = VD_MIN (x->nblocks, max_bytes / x->bs + 1),
                    .strict = max_bytes != UINT64_MAX };
  int r = 0;
  if (inode->i_flags & EXT4_INLINE_DATA_FL) {
    size_t n = 0;
    errcode_t e = ext2fs_inline_data_size (x->fs, ino, &n);
    /* at most the inode's i_block and its in-inode extended attributes */
    if (e || n > EXT2_INODE_SIZE (x->fs->super) + sizeof inode->i_block)
      return e ? vd__extfs_errno (e) : -EIO;
    if (!(f->inline_data = malloc (n + 1)))
      return -ENOMEM;
    if ((e = ext2fs_inline_data_get (x->fs, ino, inode, f->inline_data, &n))) {
      vd__extfs_file_free (f);
      return vd__extfs_errno (e);
    }
    f->inline_len = n;
    return 0;
  }
  if (inode->i_flags & EXT4_EXTENTS_FL)
    r = map_extents (&b, ino, inode);
  else if (!ext2fs_inode_has_valid_blocks2 (x->fs, inode))
    r = 0;                       /* a fast symlink, a device: no blocks */
  else {
    errcode_t e = ext2fs_block_iterate3 (x->fs, ino, BLOCK_FLAG_READ_ONLY
                                         | BLOCK_FLAG_DATA_ONLY, NULL,
                                         block_cb, &b);
    if (b.why || b.err)
      r = -1;
    else if (e) {
      if (e == EXT2_ET_NO_MEMORY)
        b.err = ENOMEM;
      else
        b.why = "a bad indirect block";
      r = -1;
    }
  }
  if (r < 0) {
    vd__extfs_file_free (f);
    return b.err == ENOMEM ? -ENOMEM : -EIO;
  }
  return 0;
}

void
vd__extfs_file_free (struct extfs_file *f)
{
  free (f->runs);
  free (f->inline_data);
  f->runs = NULL;
  f->inline_data = NULL;
  f->nruns = f->inline_len = 0;
}

/* ---- reads ----------------------------------------------------------------- */

int
vd__extfs_read (struct vd_extfs *x, const struct extfs_file *f, char *buf,
                size_t size, uint64_t off)
{
  if (off >= f->size)
    return 0;
  if (size > f->size - off)
    size = (size_t) (f->size - off);
  if (f->inline_data) {
    size_t have = off < f->inline_len ? f->inline_len - (size_t) off : 0;
    have = VD_MIN (have, size);
    if (have)
      memcpy (buf, f->inline_data + off, have);
    memset (buf + have, 0, size - have);
    return (int) size;
  }
  uint64_t bs = x->bs;
  /* the first run that ends after off */
  size_t lo = 0, hi = f->nruns;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if ((f->runs[mid].lblk + f->runs[mid].len) * bs <= off)
      lo = mid + 1;
    else
      hi = mid;
  }
  size_t i = lo, done = 0;
  while (done < size) {
    uint64_t pos = off + done;
    while (i < f->nruns && (f->runs[i].lblk + f->runs[i].len) * bs <= pos)
      i++;
    const struct extfs_run *run = i < f->nruns ? &f->runs[i] : NULL;
    size_t n;
    if (run && run->lblk * bs <= pos) {
      uint64_t within = pos - run->lblk * bs;
      n = (size_t) VD_MIN ((uint64_t) (size - done), run->len * bs - within);
      if (x->src->read (x->src->ctx, buf + done, n,
                        x->off + run->pblk * bs + within) < 0) {
        vd__error_clear ();
        return -EIO;
      }
    } else {
      uint64_t next = run ? run->lblk * bs : UINT64_MAX;
      n = (size_t) VD_MIN ((uint64_t) (size - done), next - pos);
      memset (buf + done, 0, n);
    }
    done += n;
  }
  return (int) size;
}

#endif
