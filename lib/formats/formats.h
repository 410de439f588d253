/* libvdisk formats tier: the descriptor language, the descriptor inside a
 * file (descfile.c), the change-tracking file, and the extent drivers
 * (struct vd_format_driver, one per extent kind, all in registry.c).
 * Needs base and io only: a driver reaches the content below its
 * extent through e->below, set by the core at open. */
#ifndef VDISK_FORMATS_H
#define VDISK_FORMATS_H

#include "io/io.h"

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

/* ---- the descriptor inside a file (formats/descfile.c) ----------------- */

enum vd_descfile_kind {
  VD_DESCFILE_TEXT = 0,     /* the whole file is descriptor text */
  VD_DESCFILE_EMBEDDED,     /* a KDMV extent with an embedded descriptor */
  VD_DESCFILE_SPARSE,       /* a KDMV extent without one (a lone extent) */
  VD_DESCFILE_DELTA,        /* an ESXi delta extent (COWD, seSparse) */
};
struct vd_descfile {
  enum vd_descfile_kind kind;
  uint8_t magic[8];         /* the first bytes (zeros past a short file) */
  uint64_t file_size;
  uint64_t offset;          /* byte offset of the text (EMBEDDED: area) */
  uint64_t size;            /* bytes of text (EMBEDDED: the whole area;
                               TEXT and DELTA: the file size) */
};
/* Where io keeps its descriptor text.  Only I/O errors and a KDMV
 * header whose descriptor fields are inconsistent fail (with a message;
 * w->kind is then VD_DESCFILE_SPARSE for the latter); what to do with
 * each kind is the caller's policy. */
int vd__descfile_locate (struct vd_io *io, struct vd_descfile *w);
/* The w->size bytes of text at w->offset, NUL-terminated (malloc'd).
 * The one check of the descriptor size cap: more than VD_MAX_DESC_BYTES
 * is VD_ECORRUPT naming io's file, before any allocation. */
int vd__descfile_read (struct vd_io *io, const struct vd_descfile *w,
                       char **text);
/* Read and parse (vd__desc_parse, named where): *text_len (may be NULL)
 * gets the length of the text up to its first NUL. */
int vd__descfile_load (struct vd_io *io, const struct vd_descfile *w,
                       const char *where, struct vd_descriptor **out,
                       size_t *text_len);
/* Write text over the whole embedded area [offset, offset+capacity),
 * NUL-padded; VD_ENOSPC when it does not fit with one NUL after it.
 * Does not flush. */
int vd__descfile_write_embedded (struct vd_io *io, uint64_t offset,
                                 uint64_t capacity, const char *text,
                                 size_t len, const char *where);

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

/* ---- extents and their drivers ------------------------------------------ */

struct vd_link;     /* the core's; drivers only pass it around */
struct vd_extent;
struct vd_disk;

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

struct vd_extent_create;

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
   * content below call e->below. */
  int (*pwrite) (struct vd_extent *e, const void *buf, size_t count,
                 uint64_t off);
  /* Make a range read as zeros (NULL: the core writes zeros). */
  int (*zero) (struct vd_extent *e, uint64_t count, uint64_t off);
  int (*flush) (struct vd_extent *e);
  /* Prepare the file for a clean close (clear uncleanShutdown). */
  int (*close_clean) (struct vd_extent *e);
  /* Check the extent's metadata against its file, reporting through
   * vd__check_report (check-report.c).  fix 0: e is open (drv->open
   * succeeded); returns 0, or an error that stopped the check.  fix 1
   * (only drivers with can_fix): e->io (read-write, locked by the
   * caller) and e->path only; the driver has not opened the file, which
   * open may refuse; repair what is safe, tell each fix through the
   * message callback, and return the number of fixes (>= 0) or an error.
   * NULL: nothing to check beyond open. */
  int (*check) (struct vd_extent *e, struct vd_check_ctx *ctx, int fix);
  int can_fix;
  /* Make a new, empty extent of c->capacity_sectors in the empty file io
   * (and flush nothing: the caller syncs).  NULL: the kind is not made
   * by vdisk through the table (stream: vd__stream_create_empty). */
  int (*create) (struct vd_io *io, const struct vd_extent_create *c);
  /* The extent types (1u << VD_EXTENT_*) the core gives this driver
   * without probing (FLAT and VMFS: flat; ZERO: zero).  0: the driver is
   * chosen by probe score for the binary types (SPARSE, VMFSSPARSE,
   * SESPARSE). */
  unsigned fixed_types;
  /* The extent type an extent opened by this driver reports, when it
   * differs from its descriptor line (stream: VD_EXTENT_STREAM); 0: as
   * the line says. */
  enum vd_extent_type reports_type;
};

/* What a driver's create callback makes. */
struct vd_extent_create {
  uint64_t capacity_sectors;
  uint32_t grain_sectors;     /* sparse kinds */
  const char *desc_text;      /* embedded descriptor (NULL: none) */
  size_t desc_len;
  int prealloc;               /* flat: reserve the space on the device */
};

struct vd_extent {
  struct vd_link *link;     /* the core's; a driver only passes it on */
  const struct vd_format_driver *drv;
  /* The content below this extent for virtual bytes [off, off+len): the
   * parent chain's, zeros without a parent.  Set by the core at open, so
   * a driver never names a function of the layer above (copy-on-write
   * of a partial grain). */
  int (*below) (struct vd_extent *e, void *buf, size_t len, uint64_t off);
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

/* formats/registry.c: every driver, NULL-terminated. */
extern const struct vd_format_driver *const vd__drivers[];
/* The driver the core gives an extent of type t without probing (flat,
 * zero), or NULL when the driver is chosen by probe. */
const struct vd_format_driver *vd__driver_for_type (enum vd_extent_type t);
/* The probed driver that scores highest on the first bytes of a file
 * (buf, len), or NULL when none claims them. */
const struct vd_format_driver *vd__driver_probe (const uint8_t *buf,
                                                 size_t len);
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
/* formats/sparse-create.c: the bytes of metadata (header, descriptor,
 * both grain directories and tables, up to the first grain) of a hosted
 * sparse extent of capacity_sectors as vd__sparse_create lays it out. */
uint64_t vd__sparse_overhead (uint64_t capacity_sectors,
                              uint32_t grain_sectors, int embedded_desc);
/* Read and validate the embedded-descriptor fields of a KDMV header in
 * io: byte offset and size of the descriptor area (both 0 when none). */
int vd__sparse_embedded_desc (struct vd_io *io, uint64_t *off,
                              uint64_t *size);
/* Embedded descriptor size created by vdisk (sectors). */
#define VD_EMBEDDED_DESC_SECTORS 20

/* formats/desc-template.c: the descriptor text of a new disk
 * (descriptor version 1), malloc'd, NULL on failure (message set).  The
 * ddb keys every layout carries: adapterType, geometry, longContentID
 * (random, ending in the CID), uuid (unless no_uuid) and
 * virtualHWVersion; type_ddb adds the layout's own keys (vmfsThin:
 * thinProvisioned; streamOptimized: the tools keys of OVF exports), and a
 * child (parent_hint set) gets ddb.vdisk.created. */
struct vd_desc_template {
  uint32_t cid;
  uint32_t parent_cid;          /* with parent_hint; else ffffffff */
  const char *parent_hint;      /* parentFileNameHint, or NULL */
  const char *create_type;
  const char *extents;          /* extent lines, each ending in '\n' */
  uint64_t capacity;            /* bytes, for a computed geometry */
  enum vd_adapter adapter;      /* unknown: "ide" */
  struct vd_geometry geometry;  /* all zero: computed */
  uint32_t hw_version;          /* 0: 4 */
  const uint8_t *uuid;          /* 16 bytes, or NULL: a random one */
  int no_uuid;                  /* no ddb.uuid line */
  const char *type_ddb;         /* the layout's own ddb lines, or NULL */
};
char *vd__desc_template (const struct vd_desc_template *t);

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

#endif /* VDISK_FORMATS_H */
