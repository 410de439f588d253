/* libvdisk internals: shared by lib/ only, never installed. */
#ifndef VDISK_INTERNAL_H
#define VDISK_INTERNAL_H

#define VD_BUILDING_LIBRARY 1
#include "vdisk/vdisk.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define VD_SECTOR 512u
#define VD_MAX_CHAIN 32          /* links in one chain */
#define VD_MAX_EXTENTS 4096      /* extent lines in one descriptor */
#define VD_MAX_DESC_BYTES (1u << 20)  /* descriptor text, 1 MiB */

#define VD_MIN(a, b) ((a) < (b) ? (a) : (b))
#define VD_MAX(a, b) ((a) > (b) ? (a) : (b))
#define VD_ROUND_UP(x, a) ((((x) + (a) - 1) / (a)) * (a))
#define VD_DIV_ROUND_UP(x, a) (((x) + (a) - 1) / (a))

/* ---- errors (errors.c) ------------------------------------------------ */

/* Record an error (first error wins until vd__error_reset).  Returns code
 * so callers can write `return vd_error (VD_EIO, errno, "...")`. */
int vd_error (int code, int errnum, const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));
/* Called at every public entry point: clears the record, sets context. */
void vd__error_reset (const char *context);
/* Map an errno to a VD_E* code (ENOSPC -> VD_ENOSPC, ...). */
int vd__errno_code (int errnum);
/* Quote untrusted text for a message: at most 64 bytes, non-printables
 * escaped.  Returns a pointer into buf. */
const char *vd__quote (char *buf, size_t bufsz, const char *s, size_t len);

/* Every public entry point starts with VD_ENTER(): the outermost call on
 * a thread clears the error record; nested public calls (convert calling
 * vd_disk_read) keep the first error. */
int vd__enter (const char *context);
void vd__leave (int *guard);
#define VD_ENTER()                                                      \
  __attribute__ ((cleanup (vd__leave), unused)) int vd__guard_ =         \
    vd__enter (__func__)
/* Forget an error that the caller handled (a fallback was taken). */
void vd__error_clear (void);

/* ---- I/O backends (io-*.c) -------------------------------------------- */

struct vd_io;

struct vd_io_ops {
  /* Read exactly count bytes; reading past EOF is an error (VD_EIO). */
  int (*pread) (struct vd_io *io, void *buf, size_t count, uint64_t off);
  int (*pwrite) (struct vd_io *io, const void *buf, size_t count,
                 uint64_t off);
  int (*flush) (struct vd_io *io);
  int (*size) (struct vd_io *io, uint64_t *size);
  int (*truncate) (struct vd_io *io, uint64_t size);
  /* Release space; may be a no-op.  Reads of the range give zeros. */
  int (*punch_hole) (struct vd_io *io, uint64_t off, uint64_t len);
  /* Next data / hole at or after off (SEEK_DATA/SEEK_HOLE); may be NULL. */
  int (*seek_data) (struct vd_io *io, uint64_t off, int hole,
                    uint64_t *result);
  void (*close) (struct vd_io *io);
};

struct vd_io {
  const struct vd_io_ops *ops;
  char *name;     /* for messages */
  int fd;         /* -1 when not a file */
  int failed;     /* a flush failed: every later flush fails (fsyncgate) */
  int nosync;     /* VD_OPEN_NO_SYNC: flush does not fdatasync */
};

/* io-posix.c: open path (relative to dirfd unless absolute) without
 * following a final symlink; must be a regular file. */
#define VD_IO_RDWR     0x1
#define VD_IO_CREATE   0x2   /* O_CREAT|O_EXCL */
#define VD_IO_FOLLOW   0x4   /* allow a symlink (trusted opens) */
int vd__io_posix_open (struct vd_io **out, int dirfd, const char *path,
                       const char *display, int flags);
/* io-mem.c: a growable in-memory file (fuzzing, unit tests).  The data
 * is copied. */
int vd__io_mem_open (struct vd_io **out, const char *name,
                     const void *data, size_t len, int writable);

/* Test hooks (thread-local, so the library keeps no global state): a
 * wrapper applied to every file the library opens on this thread (the
 * fault-injecting backend uses it), and an in-memory file system that
 * replaces the real one (fuzzers).  NULL turns them off. */
typedef int (*vd_io_wrap_fn) (struct vd_io **io, void *arg);
void vd__io_set_wrapper (vd_io_wrap_fn fn, void *arg);

/* io-nbd.c: open an NBD URI (nbd://, nbds://, nbd+unix://, nbds+unix://)
 * as a raw device. */
int vd__io_nbd_open (struct vd_io **out, const char *uri, int rw);
/* The disk database of the disk io serves, from a vdisk server's meta:
 * export: *text is "# vdisk-meta 1" and KEY = "VALUE" lines (malloc'd),
 * or NULL when the server keeps none (not a vdisk server).  Untrusted:
 * the caller keeps only well-formed ddb lines. */
int vd__io_nbd_get_meta (struct vd_io *io, char **text);
/* Set (value NULL: remove) a ddb key of that disk on the server
 * (meta-set: export); a refusal carries the server's reason. */
int vd__io_nbd_set_meta (struct vd_io *io, const char *key,
                         const char *value);
/* Does path look like a URI vd__io_nbd_open takes? */
int vd__is_uri (const char *path);

static inline int
vd__io_pread (struct vd_io *io, void *buf, size_t count, uint64_t off)
{
  return io->ops->pread (io, buf, count, off);
}
static inline int
vd__io_pwrite (struct vd_io *io, const void *buf, size_t count,
               uint64_t off)
{
  return io->ops->pwrite (io, buf, count, off);
}
int vd__io_flush (struct vd_io *io);
void vd__io_close (struct vd_io *io);

/* A registry of named in-memory files, so that the open path can be
 * driven from memory (fuzzers): when set on a thread, vd_disk_open looks
 * names up here instead of the file system. */
struct vd_memfs;
struct vd_memfs *vd__memfs_new (void);
int vd__memfs_add (struct vd_memfs *fs, const char *name, const void *data,
                   size_t len);
void vd__memfs_free (struct vd_memfs *fs);
void vd__memfs_set_current (struct vd_memfs *fs); /* thread-local */
struct vd_memfs *vd__memfs_current (void);
int vd__memfs_open (struct vd_memfs *fs, struct vd_io **out,
                    const char *name, int writable);

/* ---- descriptor (formats/descriptor.c) -------------------------------- */

enum vd_line_kind {
  VD_LINE_OTHER = 0,   /* comment, blank or unknown: kept verbatim */
  VD_LINE_HEADER,      /* key=value */
  VD_LINE_EXTENT,
  VD_LINE_DDB,         /* ddb.key = "value" */
};

struct vd_desc_extent {
  enum vd_access access;
  uint64_t sectors;
  char type[16];        /* "FLAT", "SPARSE", ... as written, upper-cased */
  char *file;           /* NULL for ZERO */
  uint64_t offset;      /* sectors (FLAT) */
  int has_offset;
};

struct vd_desc_line {
  enum vd_line_kind kind;
  char *raw;            /* the original text (no line end); NULL if new */
  char *key;            /* header/ddb key as written */
  char *value;          /* unquoted value */
  int quoted;           /* header value was quoted */
  int modified;         /* emit from key/value rather than raw */
  struct vd_desc_extent ext;  /* VD_LINE_EXTENT */
};

struct vd_descriptor {
  struct vd_desc_line *lines;
  size_t n_lines, cap_lines;
  size_t n_extents;
  /* Indexes rebuilt after every change of the line array, so each
   * lookup is O(1) however many lines a (hostile) descriptor has:
   * the line numbers of the extent and ddb lines in order, and an
   * open-addressed table of the first ddb line of each key (line + 1,
   * 0 empty; hash_cap a power of two). */
  size_t *ext_at, *ddb_at, n_ddb;
  size_t *ddb_hash, hash_cap;
  int crlf;             /* the original used CRLF */
};

/* Parse text of len bytes (stops at the first NUL).  Strict checks of
 * security-checklist §4 items 3-11.  where names the file for messages. */
int vd__desc_parse (struct vd_descriptor **out, const char *text, size_t len,
                    const char *where);
void vd__desc_free (struct vd_descriptor *d);
/* Header key lookup (case-insensitive); NULL if absent. */
const char *vd__desc_get (const struct vd_descriptor *d, const char *key);
/* Set header key (quoted or bare); appends after the last header line. */
int vd__desc_set (struct vd_descriptor *d, const char *key,
                  const char *value, int quoted);
const char *vd__desc_get_ddb (const struct vd_descriptor *d,
                              const char *key);
/* value NULL removes the key. */
int vd__desc_set_ddb (struct vd_descriptor *d, const char *key,
                      const char *value);
/* Set n keys at once (new ones after the last ddb line, in order): one
 * index rebuild, so linear in n. */
int vd__desc_set_ddb_many (struct vd_descriptor *d, const char *const *keys,
                           const char *const *values, size_t n);
/* i-th extent line (0-based). */
const struct vd_desc_extent *vd__desc_extent (const struct vd_descriptor *d,
                                              size_t i);
/* The same as a line (modifiable; NULL if i is out of range). */
struct vd_desc_line *vd__desc_extent_line (struct vd_descriptor *d, size_t i);
/* Number of ddb lines and the i-th of them (NULL if out of range). */
size_t vd__desc_ddb_count (const struct vd_descriptor *d);
const struct vd_desc_line *vd__desc_ddb_line (const struct vd_descriptor *d,
                                              size_t i);
int vd__desc_add_extent (struct vd_descriptor *d,
                         const struct vd_desc_extent *e);
/* Emit the text (NUL-terminated, malloc'd); unmodified lines verbatim. */
char *vd__desc_emit (const struct vd_descriptor *d, size_t *len);
/* Check a string that will be written into a descriptor value. */
int vd__desc_value_ok (const char *s);
/* Add, change (file) or remove (NULL) the "# Change Tracking File"
 * section with its changeTrackPath key, where VMware puts it. */
int vd__desc_set_change_track (struct vd_descriptor *d, const char *file);

/* ---- change-tracking file (formats/ctk.c, format in docs/cbt.md) ------- */

struct vd_ctk;
#define VD_CTK_FOREIGN 1   /* vd__ctk_open: not a vdisk tracking file */
typedef int (*vd__ctk_range_cb) (uint64_t off, uint64_t len, void *payload);
struct vd__ctk_info {
  uint8_t epoch[16];
  uint64_t seq;             /* last completed change set */
  uint32_t block_size;
  uint64_t n_blocks;
  uint64_t capacity;
  int was_dirty;            /* an interrupted change set when opened */
  int pending;              /* blocks marked in this open, not committed */
};
/* Block size for a disk of capacity bytes (64 KiB up, at most ~2M blocks). */
uint32_t vd__ctk_block_size_for (uint64_t capacity);
/* New tracking in io (truncated): a new epoch, sequence 0.  The ctk owns io
 * on success. */
int vd__ctk_create (struct vd_ctk **out, struct vd_io *io, uint64_t capacity);
/* 1 when the bytes start like a vdisk tracking file. */
int vd__ctk_probe (const uint8_t *buf, size_t len);
/* Open (owns io on success, 0).  VD_CTK_FOREIGN (positive): another
 * program's file, io untouched.  rw: an interrupted change set or another
 * capacity starts a new epoch. */
int vd__ctk_open (struct vd_ctk **out, struct vd_io *io, uint64_t capacity,
                  int rw);
/* Record that [off, off+len) is about to be written: the dirty flag
 * reaches the file (synced) before this returns the first time. */
int vd__ctk_mark (struct vd_ctk *c, uint64_t off, uint64_t len);
/* End the change set: marked blocks get the next sequence number. */
int vd__ctk_commit (struct vd_ctk *c);
/* Runs of blocks changed after sequence since (committed, or marked in
 * this open), clipped to [off, off+len), ascending and merged. */
int vd__ctk_changed (struct vd_ctk *c, uint64_t since, uint64_t off,
                     uint64_t len, vd__ctk_range_cb cb, void *payload);
void vd__ctk_info (const struct vd_ctk *c, struct vd__ctk_info *info);
void vd__ctk_close (struct vd_ctk *c);

/* ---- disks, links, extents -------------------------------------------- */

struct vd_link;
struct vd_extent;

/* The result of mapping a range of an extent. */
enum vd_map_status {
  VD_MAP_DATA = 0,      /* plain bytes at file_offset in the extent file */
  VD_MAP_ZERO = 1,      /* reads zeros; do not look at the parent */
  VD_MAP_HOLE = 2,      /* unallocated: parent, or zeros */
  VD_MAP_DRIVER = 3,    /* allocated, only drv->pread can read it */
};

struct vd_map {
  enum vd_map_status status;
  uint64_t length;       /* bytes from the asked offset with this status */
  uint64_t file_offset;  /* VD_MAP_DATA: byte offset in e->io */
};

struct vd_check_ctx {
  struct vd_check_result *res;
  vd_check_message_cb message;
  void *payload;
  const char *file;
};
void vd__check_report (struct vd_check_ctx *ctx, int severity,
                       const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));

struct vd_format_driver {
  const char *name;
  size_t instance_size;        /* bytes of e->state, zeroed by the core */
  /* Score 0..100 for how well the first bytes of a file match. */
  int (*probe) (const uint8_t *buf, size_t len);
  /* e->io, e->size, e->file_offset and e->link are set; validate the
   * file and fill e->state.  rw: the extent will be written. */
  int (*open) (struct vd_extent *e, int rw);
  void (*close) (struct vd_extent *e);
  /* Map [off, off+len) (extent-relative, len > 0): fill m for the first
   * run; m->length in (0, len]. */
  int (*map) (struct vd_extent *e, uint64_t off, uint64_t len,
              struct vd_map *m);
  /* For VD_MAP_DRIVER runs. */
  int (*pread) (struct vd_extent *e, void *buf, size_t count, uint64_t off);
  /* NULL: extent cannot be written.  Partial grains that need the
   * content below call vd__link_read_below. */
  int (*pwrite) (struct vd_extent *e, const void *buf, size_t count,
                 uint64_t off);
  /* Make a range read as zeros (NULL: the core writes zeros). */
  int (*zero) (struct vd_extent *e, uint64_t count, uint64_t off);
  int (*flush) (struct vd_extent *e);
  /* Prepare the file for a clean close (clear uncleanShutdown). */
  int (*close_clean) (struct vd_extent *e);
  int (*check) (struct vd_extent *e, struct vd_check_ctx *ctx);
};

struct vd_extent {
  struct vd_link *link;
  const struct vd_format_driver *drv;
  void *state;
  struct vd_io *io;         /* NULL for ZERO */
  char *name;               /* as in the descriptor */
  char *path;               /* resolved, for messages and info */
  enum vd_extent_type type;
  enum vd_access access;
  uint64_t start;           /* virtual byte offset */
  uint64_t size;            /* bytes */
  uint64_t file_offset;     /* bytes */
  int rw;                   /* opened for writing */
  int embedded_desc;        /* this file holds the link's descriptor */
};

struct vd_link {
  struct vd_disk *disk;
  struct vd_link *parent;   /* NULL for a base or in single-link mode */
  char *path;               /* descriptor path as opened */
  char *dir;                /* its folder */
  int dirfd;
  struct vd_descriptor *desc;
  struct vd_io *desc_io;    /* separate descriptor file, or the extent */
  size_t desc_len;          /* bytes of descriptor text now on disk */
  int embedded;             /* the descriptor lives inside extent 0 */
  uint64_t desc_offset;     /* embedded: byte offset of the text area */
  uint64_t desc_capacity;   /* embedded: bytes available */
  struct vd_extent *extents;
  size_t n_extents;
  uint64_t size;
  enum vd_type type;
  const char *create_type;
  uint32_t cid, parent_cid;
  int rw;
  int cid_renewed;          /* CID already changed in this open */
  int raw;                  /* VD_OPEN_RAW */
  int remote;               /* served over NBD: ddb changes go to the server */
  pthread_mutex_t mu;       /* CID update and descriptor rewrite */
  /* Change tracking (ctk-link.c), top link only. */
  struct vd_ctk *ctk;       /* vdisk's tracking file, open */
  int cbt_state;            /* enum vd_cbt_state */
  char *cbt_problem;        /* why VD_CBT_BROKEN / what was done */
};

struct vd_disk {
  struct vd_link *top;
  struct vd_link *links[VD_MAX_CHAIN];  /* [0] = top */
  unsigned n_links;
  uint32_t flags;
  int rw;
  int failed;               /* a write or flush failed: refuse more */
  int has_child;            /* a child was made from this handle */
  uint32_t commit_cid;      /* ddb.vdisk.commitCID of the top, or 0 */
};

/* chain.c */
#define VD_COMMIT_KEY "ddb.vdisk.commitCID"
/* Refuse a read-write open of l when a disk beside it names it as its
 * parent with a matching CID. */
int vd__check_no_child (struct vd_link *l);
/* 1 when a VMDK beside l names l as its parent (with match_cid, only one
 * whose parentCID equals l's CID); *child is then its path (free it). */
int vd__find_child (struct vd_link *l, int match_cid, char **child);
/* Do two paths name the same file (device and inode)? */
int vd__same_path (const char *a, const char *b);

/* ---- who uses a file: one rule for every command that writes, renames
 * or removes files (chain.c) ---------------------------------------------
 * A file is known by device and inode, so a hard link is the same file. */
struct vd_file_id {
  dev_t dev;
  ino_t ino;
};
/* 0, or -1 when path does not exist. */
int vd__file_id (const char *path, struct vd_file_id *id);
/* A list of files, with their paths (for messages). */
struct vd_files {
  struct vd_file_id *ids;
  char **names;
  size_t n, cap;
};
/* Add the files of link l: its extents, and with with_desc its descriptor
 * file, with with_ctk its change-tracking file (files that do not exist
 * are left out, each file once). */
int vd__files_add_link (struct vd_files *f, struct vd_link *l, int with_desc,
                        int with_ctk);
/* Add one file (0 when it does not exist or is listed already). */
int vd__files_add (struct vd_files *f, const char *path);
void vd__files_free (struct vd_files *f);
#define VD_USE_EXTENT 0x1u
#define VD_USE_PARENT 0x2u
#define VD_USE_CTK    0x4u
#define VD_USE_DESC   0x8u   /* the file is that disk's own descriptor */
#define VD_USE_ANY    0xfu
struct vd_user {
  char *disk;     /* the using disk's descriptor path (free it) */
  size_t which;   /* index into the ids asked about */
  unsigned how;   /* VD_USE_* */
};
/* 1 when a VMDK in folder dir (other than the files skip[0..n_skip))
 * uses one of the files ids[0..n) in one of the ways of the mask uses: an
 * extent line (resolved by vd__extent_path's rule), parentFileNameHint
 * (with parent_cid, only a child whose parentCID equals *parent_cid),
 * changeTrackPath, or (VD_USE_DESC) the file is that disk's descriptor.
 * *u then says who and how.  0 when none (or the
 * folder cannot be listed); never an error. */
int vd__find_user (const char *dir, const struct vd_file_id *ids, size_t n,
                   unsigned uses, const struct vd_file_id *skip,
                   size_t n_skip, const uint32_t *parent_cid,
                   struct vd_user *u);
/* "an extent", "its parent", "its change-tracking file" */
const char *vd__use_name (unsigned how);
/* VD_EPARENT, naming the other disk and the file, when another disk in
 * l's folder uses a file of l (its extents; with with_ctk its change-
 * tracking file; an embedded descriptor's file) in any way.  what says
 * what the caller was about to do ("deleting it"); hint (may be NULL) how
 * to go on. */
int vd__refuse_shared (struct vd_link *l, int with_ctk, const char *what,
                       const char *hint);

/* The path of the file extent i of descriptor d names (*out NULL for a
 * ZERO extent), the one rule of every path that resolves extent names:
 * a descriptor embedded in a sparse file (monolithicSparse,
 * streamOptimized) has that file, self, as its first extent whatever the
 * line says; any other name must pass vd__name_ok (trusted) and is taken
 * in dir. */
int vd__extent_path (const struct vd_descriptor *d, size_t i, int embedded,
                     const char *self, const char *dir, int trusted,
                     char **out);
/* Block status of one link alone (holes stay holes). */
int vd__link_block_status (struct vd_link *l, uint64_t off, uint64_t len,
                           vd_block_status_cb cb, void *payload);
/* Set the CID of l (and count it as this open's renewal). */
int vd__link_set_cid (struct vd_link *l, uint32_t cid);

/* The extent of l holding virtual byte off (off < l->size). */
struct vd_extent *vd__find_extent (struct vd_link *l, uint64_t off);
/* Read the content the link's parent chain gives for [off, off+len) of
 * virtual disk (zeros without a parent).  Used for copy-on-write. */
int vd__link_read_below (struct vd_link *link, void *buf, size_t len,
                         uint64_t off);
/* Called before the first data write of an open: renews the CID. */
int vd__link_before_write (struct vd_link *link);
/* Rewrite the link's descriptor (in place when it fits, else atomically). */
int vd__link_write_descriptor (struct vd_link *link);

/* ctk-link.c: change tracking of the top link. */
/* At open: find and open the descriptor's changeTrackPath. */
int vd__link_cbt_attach (struct vd_link *l, int rw, uint32_t flags);
/* Before the first write: drop another program's tracking (unless
 * VD_OPEN_FORCE); then mark [off, off+len). */
int vd__link_cbt_mark (struct vd_link *l, uint64_t off, uint64_t len);
/* Turn tracking on for l (open read-write): a new NAME-ctk.vmdk, the
 * section and version 3. */
int vd__link_cbt_enable (struct vd_link *l, uint32_t flags);
/* At flush and close. */
int vd__link_cbt_commit (struct vd_link *l);
void vd__link_cbt_close (struct vd_link *l);
/* NAME-ctk.vmdk for a descriptor NAME.vmdk (malloc'd). */
char *vd__ctk_name_for (const char *descriptor_path);

/* formats/registry.c */
extern const struct vd_format_driver *const vd__drivers[];
extern const struct vd_format_driver vd__flat_driver;
extern const struct vd_format_driver vd__zero_driver;
extern const struct vd_format_driver vd__sparse_driver;
extern const struct vd_format_driver vd__stream_driver;
extern const struct vd_format_driver vd__cowd_driver;
extern const struct vd_format_driver vd__sesparse_driver;

/* formats/sparse.c: create an empty hosted sparse extent file.
 * desc_text (may be NULL) is embedded at sector 1. */
int vd__sparse_create (struct vd_io *io, uint64_t capacity_sectors,
                       const char *desc_text, size_t desc_len,
                       uint32_t grain_sectors);
/* Read and validate the embedded-descriptor fields of a KDMV header in
 * io: byte offset and size of the descriptor area (both 0 when none). */
int vd__sparse_embedded_desc (struct vd_io *io, uint64_t *off,
                              uint64_t *size);
/* Embedded descriptor size created by vdisk (sectors). */
#define VD_EMBEDDED_DESC_SECTORS 20

/* formats/stream.c: write a streamOptimized file from src to out (a new,
 * empty file).  name is the file name written in the embedded
 * descriptor's extent line.  Compresses on params->threads workers;
 * output is deterministic whatever the thread count. */
int vd__stream_convert (vd_disk *src, struct vd_io *out, const char *name,
                        const struct vd_create_params *params,
                        vd_progress_cb progress, void *payload);

/* formats/stream-write.c: an empty stream (header, descriptor, a GD of
 * zeros, footer, EOS) in the new, empty file out. */
int vd__stream_create_empty (struct vd_io *out, const char *name,
                             const struct vd_create_params *params);
/* The appender: fills an empty stream front to back (the streamOptimized
 * driver's write mode).  Grains go from sector first_sector on; a write
 * into a grain before the one being filled is refused (VD_EINVAL).  Not
 * thread-safe: the caller serialises. */
struct vd__stream_appender;
int vd__stream_appender_new (struct vd__stream_appender **out,
                             struct vd_io *io, const char *path,
                             uint64_t capacity_sectors,
                             uint64_t first_sector);
int vd__stream_appender_write (struct vd__stream_appender *a,
                               const void *buf, size_t count, uint64_t off);
void vd__stream_appender_lookup (const struct vd__stream_appender *a,
                                 uint64_t g, uint32_t *gte,
                                 uint32_t *gt_sector);
int vd__stream_appender_pending (const struct vd__stream_appender *a,
                                 uint64_t g, uint8_t *out);
/* Write the tail (GTs, GD, footer, EOS) after the data and sync; the
 * stream is complete after it.  Writes may follow unless final. */
int vd__stream_appender_sync (struct vd__stream_appender *a, int final);
/* Bytes of the file the data occupies so far. */
uint64_t vd__stream_appender_end (const struct vd__stream_appender *a);
void vd__stream_appender_free (struct vd__stream_appender *a);

/* create.c: a new disk is made in a hidden folder beside its final place
 * and renamed into place (extents first, descriptor last) only when
 * complete, so a failure leaves nothing half-made. */
struct vd_newdisk {
  char *dstdir;          /* final folder */
  char *tmpdir;          /* hidden work folder inside dstdir */
  char *desc_path;       /* tmpdir/NAME: open this to fill the disk */
  char **names;          /* every file, descriptor last */
  size_t n_names;
  int overwrite;
  int nosync;               /* skip the folder fsyncs */
  const char *parent_hint;  /* children only (set before begin) */
  uint32_t parent_cid;
  /* set before begin: files an overwrite must never replace (the source
   * of a convert, the parent chain of a child) */
  const struct vd_files *protect;
  int wfd;                  /* holds the work folder's lock (tmpdir set) */
};
/* Create the files of an empty disk of layout params->type (not stream,
 * not raw) in a work folder. */
int vd__newdisk_begin (struct vd_newdisk *nd, const char *path,
                       const struct vd_create_params *params);
/* The same for a child: parentCID and parentFileNameHint. */
int vd__newdisk_begin_child (struct vd_newdisk *nd, const char *path,
                             const struct vd_create_params *params,
                             const char *parent_hint, uint32_t parent_cid);
/* Only make the work folder and reserve the name (raw and stream). */
int vd__newdisk_begin_single (struct vd_newdisk *nd, const char *path,
                              int overwrite);
int vd__newdisk_commit (struct vd_newdisk *nd);
void vd__newdisk_abort (struct vd_newdisk *nd);
/* The descriptor text of a new disk (descriptor version 1). */
char *vd__make_descriptor (const struct vd_create_params *p,
                           const char *create_type, const char *extents,
                           uint32_t cid, const char *parent_hint,
                           uint32_t parent_cid);

/* ---- work folders (workdir.c) ----------------------------------------- */

/* Make dir/.vdisk-KIND-<creator>-<random> for the disk file name target,
 * held (flock) through *fd until vd__workdir_remove or exit. */
int vd__workdir_make (const char *dir, const char *kind, const char *target,
                      char **path, int *fd);
/* Remove a work folder made by vd__workdir_make (its plain files and
 * itself) and close fd (if >= 0). */
void vd__workdir_remove (const char *path, int fd);
/* Remove the stale work folders of target in dir (errors ignored). */
void vd__workdir_clean_stale (const char *dir, const char *target);

/* ---- locking (lock.c) -------------------------------------------------- */

/* QEMU-compatible OFD byte locks.  rw: take the write permission and
 * refuse other writers; otherwise a shared reader that lets writers in. */
int vd__lock (struct vd_io *io, int rw);

/* ---- helpers (util.c) --------------------------------------------------- */

int vd__random_bytes (void *buf, size_t len);
uint32_t vd__random_cid (void);
/* All bytes zero? */
int vd__is_zero (const void *buf, size_t len);
char *vd__strdup (const char *s);
char *vd__asprintf (const char *fmt, ...)
  __attribute__ ((format (printf, 1, 2)));
/* Is name acceptable as an extent or parent name (security §4 item 11)?
 * trusted permits absolute paths and folders (never protocol prefixes). */
int vd__name_ok (const char *name, int trusted);
/* Directory part / base part of a path (malloc'd). */
char *vd__dirname (const char *path);
char *vd__basename (const char *path);
/* Join dir and name unless name is absolute. */
char *vd__path_join (const char *dir, const char *name);

static inline uint32_t
vd__le32 (const uint8_t *p)
{
  return (uint32_t) p[0] | ((uint32_t) p[1] << 8) | ((uint32_t) p[2] << 16)
         | ((uint32_t) p[3] << 24);
}
static inline uint64_t
vd__le64 (const uint8_t *p)
{
  return (uint64_t) vd__le32 (p) | ((uint64_t) vd__le32 (p + 4) << 32);
}
static inline void
vd__put_le32 (uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t) v;
  p[1] = (uint8_t) (v >> 8);
  p[2] = (uint8_t) (v >> 16);
  p[3] = (uint8_t) (v >> 24);
}
static inline void
vd__put_le64 (uint8_t *p, uint64_t v)
{
  vd__put_le32 (p, (uint32_t) v);
  vd__put_le32 (p + 4, (uint32_t) (v >> 32));
}

/* ---- trust: fault injection, VMware lock folders (io-fault.c, repair.c)
 * (block owned by the trust work; see tests/fuzz, tests/crash) --------- */

/* A fault plan for vd__io_set_wrapper (vd__fault_wrap, arg = the plan):
 * the counted calls of every wrapped file are numbered from 1 across all
 * files; call number fail_at (0: never) fails with kind, and with sticky
 * every later counted call fails too (a device that went away). */
#define VD_FAULT_PREAD    0x01
#define VD_FAULT_PWRITE   0x02
#define VD_FAULT_FLUSH    0x04
#define VD_FAULT_TRUNCATE 0x08   /* truncate and punch_hole */
#define VD_FAULT_WRITES   (VD_FAULT_PWRITE | VD_FAULT_FLUSH | VD_FAULT_TRUNCATE)
#define VD_FAULT_ALL      (VD_FAULT_WRITES | VD_FAULT_PREAD)
enum vd_fault_kind {
  VD_FAULT_EIO = 0,
  VD_FAULT_ENOSPC = 1,
  VD_FAULT_SHORT = 2,        /* a write lands in part, then ENOSPC */
};
struct vd_fault {
  unsigned counted;          /* VD_FAULT_* calls that are numbered */
  uint64_t fail_at;
  enum vd_fault_kind kind;
  int sticky;
  uint64_t calls;            /* out: counted calls seen (atomic) */
  uint64_t injected;         /* out: faults injected (atomic) */
  uint64_t writes, flushes;  /* out: pwrite and flush calls (atomic) */
  unsigned failed_kind;      /* out: VD_FAULT_* of the first fault */
};
void vd__fault_init (struct vd_fault *f);
int vd__fault_wrap (struct vd_io **io, void *arg);

/* repair.c: refuse a read-write open while a VMware lock folder
 * (PATH.lck/) exists beside the descriptor, unless VD_OPEN_FORCE;
 * read-only opens pass.  0 or VD_ELOCKED. */
int vd__check_vmware_lock (const char *path, uint32_t flags);
/* ---- end of the trust block ------------------------------------------- */

/* ---- scan block (lib/scan.c, lib/scan-clamav.c) ------------------------ */
/* A scanner with a destructor for its state (the libclamav backend). */
int vd__scanner_make (vd_scanner **out, vd_scan_fn fn, void *state,
                      size_t overlap, void (*free_state) (void *),
                      unsigned signatures);
/* ---- end of the scan block -------------------------------------------- */

#endif /* VDISK_INTERNAL_H */
