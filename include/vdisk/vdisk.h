/* libvdisk: read, write and create VMware VMDK virtual disks.
 *
 * This is the one stable public header.  Conventions (see libvdisk(3)):
 * - Fallible calls return 0 (or a count) on success and a negative VD_E*
 *   code on failure; the details are in vd_last_error(), a thread-local
 *   record valid until the next vd_ call on the same thread.
 * - Output parameters come first.  Whatever is returned through **out is
 *   owned by the caller.  Getters returning const char * borrow from the
 *   handle and stay valid until the handle is closed.
 * - Offsets and lengths are in bytes unless a name says otherwise.
 * - A handle may be used for reads from several threads at once.  Writes
 *   are serialised internally.
 */
#ifndef VDISK_VDISK_H
#define VDISK_VDISK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && defined(VD_BUILDING_LIBRARY)
#define VD_API __attribute__((visibility("default")))
#else
#define VD_API
#endif

/* The version of vdisk: the one source from which the Makefile (library
 * file name, vdisk.pc), vd_get_version(), `vdisk -V` and the nbdkit
 * plugin take it. */
#define VD_VERSION_MAJOR 0
#define VD_VERSION_MINOR 1
#define VD_VERSION_MICRO 0
/* The same as a string literal, "MAJOR.MINOR.MICRO" (since 0.1.0). */
#define VD_VERSION_STRING VD__VSTR (VD_VERSION_MAJOR) "." \
  VD__VSTR (VD_VERSION_MINOR) "." VD__VSTR (VD_VERSION_MICRO)
#define VD__VSTR(x) VD__VSTR_ (x)
#define VD__VSTR_(x) #x

/* "0.1.0"
 * Errors: none.
 * NULL: no arguments.
 * Since 0.1. */
VD_API const char *vd_get_version (void);

/* ---- errors ---------------------------------------------------------- */

#define VD_OK          0
#define VD_EINVAL     (-1)  /* bad argument (offset past the end, bad name) */
#define VD_EIO        (-2)  /* the operating system reported an I/O error */
#define VD_ENOMEM     (-3)
#define VD_ENOTSUP    (-4)  /* a valid feature vdisk does not handle */
#define VD_ECORRUPT   (-5)  /* the disk's metadata is invalid or hostile */
#define VD_ENOENT     (-6)  /* a file does not exist */
#define VD_EPARENT    (-7)  /* parent missing, CID mismatch, has a child */
#define VD_EROFS      (-8)  /* write to a read-only handle or extent */
#define VD_ECANCELED  (-9)  /* a progress callback asked to stop */
#define VD_ELOCKED    (-10) /* another writer holds the disk */
#define VD_EEXIST     (-11) /* the destination exists */
#define VD_ENOSPC     (-12) /* no space left on the device */

struct vd_error {
  int code;             /* VD_E* */
  int errnum;           /* errno at the point of failure, or 0 */
  const char *context;  /* the public entry point, e.g. "vd_disk_open" */
  const char *message;  /* names the file and the problem */
  int reason;           /* VD_REASON_*: why, for programs (0: none given) */
};

/* Machine-readable reasons (struct vd_error.reason), so callers need not
 * read message texts.  Since 0.1. */
#define VD_REASON_NONE            0
#define VD_REASON_CID_MISMATCH    1  /* VD_EPARENT: parentCID != parent CID */
#define VD_REASON_PARENT_MISSING  2  /* VD_EPARENT: the parent is not there */
#define VD_REASON_HAS_CHILD       3  /* VD_EPARENT: a child names this disk */
#define VD_REASON_UNTRUSTED_NAME  4  /* a name needs the trusted option */
#define VD_REASON_SHARED_FILE     5  /* VD_EPARENT: another disk uses a file */
#define VD_REASON_BAD_CHAIN       6  /* VD_EPARENT: the chain is malformed */

/* The last error on this thread.  Never NULL; code is 0 when none.
 * Errors: none.
 * NULL: no arguments.
 * Since 0.1. */
VD_API const struct vd_error *vd_last_error (void);
/* A short static description of a VD_E* code.
 * Errors: none (an unknown code gets a generic text).
 * NULL: no arguments.
 * Since 0.1. */
VD_API const char *vd_strerror (int code);

/* ---- disk types and adapters ----------------------------------------- */

enum vd_type {
  VD_TYPE_UNKNOWN = 0,
  VD_TYPE_MONOLITHIC_SPARSE = 1,
  VD_TYPE_MONOLITHIC_FLAT = 2,
  VD_TYPE_SPLIT_SPARSE = 3,        /* twoGbMaxExtentSparse */
  VD_TYPE_SPLIT_FLAT = 4,          /* twoGbMaxExtentFlat */
  VD_TYPE_VMFS = 5,                /* vmfs (flat, thick) */
  VD_TYPE_VMFS_THIN = 6,           /* vmfs + ddb.thinProvisioned */
  VD_TYPE_STREAM_OPTIMIZED = 7,
  VD_TYPE_VMFS_SPARSE = 8,         /* COWD redo log */
  VD_TYPE_SE_SPARSE = 9,
  VD_TYPE_CUSTOM = 10,             /* any other createType */
  VD_TYPE_RAW = 11,                /* a plain raw image (convert only) */
};

enum vd_adapter {
  VD_ADAPTER_UNKNOWN = 0,
  VD_ADAPTER_IDE = 1,
  VD_ADAPTER_BUSLOGIC = 2,
  VD_ADAPTER_LSILOGIC = 3,
  VD_ADAPTER_LEGACY_ESX = 4,
  VD_ADAPTER_PVSCSI = 5,
};

/* createType name <-> enum ("monolithicSparse", ...).  from_name returns
 * VD_TYPE_UNKNOWN for names it does not know.
 * Errors: none.
 * NULL: from_name (NULL) gives UNKNOWN; name () of an unknown value gives
 * NULL.
 * The four calls: vd_type_from_name, vd_type_name, vd_adapter_from_name,
 * vd_adapter_name.
 * Since 0.1. */
VD_API enum vd_type vd_type_from_name (const char *name);
VD_API const char *vd_type_name (enum vd_type type);
VD_API enum vd_adapter vd_adapter_from_name (const char *name);
VD_API const char *vd_adapter_name (enum vd_adapter adapter);

/* ---- opening --------------------------------------------------------- */

typedef struct vd_disk vd_disk;

#define VD_OPEN_READ_ONLY    0x0001u /* no lock for writing, nothing written */
#define VD_OPEN_SINGLE_LINK  0x0002u /* this link only: holes stay holes */
#define VD_OPEN_TRUSTED      0x0004u /* allow absolute or sub-folder names */
#define VD_OPEN_IGNORE_CID   0x0008u /* read-only: accept parentCID mismatch */
#define VD_OPEN_FORCE        0x0010u /* write even if a child, a disk sharing
                                        an extent, or .lck exists */
#define VD_OPEN_RAW          0x0020u /* the file is a raw image, not VMDK */
#define VD_OPEN_UNBUFFERED   0x0040u /* accepted for VDDK; no effect */
#define VD_OPEN_NO_SYNC      0x0080u /* flush keeps write order but skips
                                        fdatasync (qemu's cache=unsafe) */

/* Open a disk by its descriptor (a text descriptor, or a sparse extent
 * with an embedded descriptor).  A read-write open takes the write lock
 * on every file of the top link and fails with VD_ELOCKED if another
 * handle or process holds it.  Without VD_OPEN_FORCE it fails with
 * VD_EPARENT while a disk beside it names it as its parent (matching
 * CID), or another disk in its folder uses one of its extent files (a
 * copied descriptor): writing would change that disk too.  An extent line
 * that disagrees with its sparse header's capacity is VD_ECORRUPT.
 * Errors: VD_EINVAL (NULL out or path, bad flags), VD_ENOENT, VD_EIO,
 * VD_ENOMEM, VD_ECORRUPT, VD_ENOTSUP, VD_EPARENT, VD_ELOCKED.
 * NULL: NULL out or path: VD_EINVAL (*out is set to NULL first when out
 * is given).
 * Since 0.1. */
VD_API int vd_disk_open (vd_disk **out, const char *path, uint32_t flags);

/* Flush, clear the uncleanShutdown flag, release locks and free.  The
 * handle is freed even when an error is returned.  NULL is accepted.
 * Errors: what the final flush returns (VD_EIO, VD_ENOSPC).
 * NULL: NULL is accepted (returns 0).
 * Since 0.1. */
VD_API int vd_disk_close (vd_disk *disk);

/* pread/pwrite semantics: exactly count bytes at offset, or an error.
 * offset + count beyond the capacity is VD_EINVAL.
 * Errors: VD_EINVAL (range past the capacity), VD_EROFS (write to a
 * read-only handle), VD_EIO, VD_ENOSPC, VD_ECORRUPT.
 * NULL: NULL disk, or NULL buf with count > 0: VD_EINVAL.  Both
 * vd_disk_read and vd_disk_write.
 * Since 0.1. */
VD_API int vd_disk_read (vd_disk *disk, void *buf, size_t count,
                        uint64_t offset);
VD_API int vd_disk_write (vd_disk *disk, const void *buf, size_t count,
                         uint64_t offset);
/* Make a range read as zeros, allocating as little as the layout allows.
 * Errors: as vd_disk_write.
 * NULL: NULL disk: VD_EINVAL.
 * Since 0.1. */
VD_API int vd_disk_zero (vd_disk *disk, uint64_t count, uint64_t offset);
/* Make every completed write durable (fdatasync of data, then metadata).
 * Errors: VD_EIO, VD_ENOSPC; 0 for a read-only handle.
 * NULL: NULL disk: VD_EINVAL.
 * Since 0.1. */
VD_API int vd_disk_flush (vd_disk *disk);

/* ---- information ----------------------------------------------------- */

struct vd_geometry {
  uint32_t cylinders;
  uint32_t heads;
  uint32_t sectors;
};

/* The getters, from vd_disk_get_size to vd_disk_get_link_count: what the
 * open disk's top link says (the ddb values looked up through the chain).
 * Errors: none (they cannot fail; absent values read as 0 or NULL).
 * NULL: a NULL disk gives the value of "nothing": 0, NULL,
 * VD_TYPE_UNKNOWN, VD_ADAPTER_UNKNOWN, read-only 1, CID ffffffff,
 * descriptor version 1, zero geometry.
 * Since 0.1. */
VD_API uint64_t vd_disk_get_size (const vd_disk *disk);        /* bytes */
VD_API int vd_disk_is_read_only (const vd_disk *disk);
VD_API const char *vd_disk_get_path (const vd_disk *disk);
/* The createType string as written in the descriptor ("raw" for raw). */
VD_API const char *vd_disk_get_create_type (const vd_disk *disk);
VD_API enum vd_type vd_disk_get_type (const vd_disk *disk);
VD_API enum vd_adapter vd_disk_get_adapter (const vd_disk *disk);
/* Physical (ddb.geometry.*) and BIOS geometry; zeros where absent. */
VD_API void vd_disk_get_geometry (const vd_disk *disk,
                                 struct vd_geometry *physical,
                                 struct vd_geometry *bios);
VD_API uint32_t vd_disk_get_hw_version (const vd_disk *disk);
VD_API uint32_t vd_disk_get_cid (const vd_disk *disk);
VD_API uint32_t vd_disk_get_parent_cid (const vd_disk *disk);
/* ddb.uuid as stored ("60 00 c2 ..."), or NULL. */
VD_API const char *vd_disk_get_uuid (const vd_disk *disk);
VD_API int vd_disk_get_descriptor_version (const vd_disk *disk);
/* parentFileNameHint, or NULL for a base disk. */
VD_API const char *vd_disk_get_parent_hint (const vd_disk *disk);
/* Number of links in the open chain (1 for a base disk). */
VD_API unsigned vd_disk_get_link_count (const vd_disk *disk);

enum vd_extent_type {
  VD_EXTENT_FLAT = 1,
  VD_EXTENT_SPARSE = 2,
  VD_EXTENT_ZERO = 3,
  VD_EXTENT_VMFS = 4,
  VD_EXTENT_VMFSSPARSE = 5,
  VD_EXTENT_SESPARSE = 6,
  VD_EXTENT_STREAM = 7,  /* a SPARSE extent with compressed grains */
};

enum vd_access {
  VD_ACCESS_RW = 1,
  VD_ACCESS_RDONLY = 2,
  VD_ACCESS_NOACCESS = 3,
};

struct vd_extent_info {
  const char *file;        /* resolved path; NULL for ZERO extents */
  const char *name;        /* the name as written in the descriptor */
  enum vd_extent_type type;
  enum vd_access access;
  uint64_t start;          /* first virtual byte */
  uint64_t size;           /* bytes of virtual disk */
  uint64_t file_offset;    /* FLAT offset in the file, bytes */
  uint64_t file_size;      /* size of the file on disk, bytes */
  uint32_t version;        /* sparse header version, 0 for flat */
  uint64_t grain_size;     /* bytes, 0 for flat */
};

/* Number of extents of the top link.
 * Errors: none.
 * NULL: a NULL disk has 0.
 * Since 0.1. */
VD_API unsigned vd_disk_get_extent_count (const vd_disk *disk);
/* Extent i of the top link; returns VD_EINVAL for a bad index.
 * Errors: VD_EINVAL (bad index).
 * NULL: NULL disk or info: VD_EINVAL.
 * Since 0.1. */
VD_API int vd_disk_get_extent (const vd_disk *disk, unsigned i,
                              struct vd_extent_info *info);

/* ---- the files a descriptor names -------------------------------------- */

#define VD_DESC_NONE        0 /* not a descriptor (an extent, other data) */
#define VD_DESC_TEXT        1 /* a text descriptor file, text to its end */
#define VD_DESC_TEXT_BINARY 2 /* parses as a text descriptor, but NULs or
                                 other binary bytes follow the text (what a
                                 flat extent holding descriptor text is) */
#define VD_DESC_EMBEDDED    3 /* a sparse file with an embedded descriptor */

#define VD_REF_EXTENT          1 /* an extent line's file */
#define VD_REF_PARENT          2 /* parentFileNameHint */
#define VD_REF_CHANGE_TRACKING 3 /* changeTrackPath (the -ctk.vmdk file) */

/* Called with each name as written in the descriptor (not resolved;
 * relative names are relative to the descriptor's folder).  Return
 * non-zero to stop. */
typedef int (*vd_ref_cb) (const char *name, int kind, void *payload);

/* Classify the VMDK file at path (never following a final symlink; it
 * must be a regular file) and call cb (may be NULL) for every file its
 * descriptor names: each extent, except a sparse file's first embedded
 * extent, which is the file itself; then the parent and change-tracking
 * file.  Nothing named is opened.  Returns a VD_DESC_* kind (a file that
 * does not parse as a descriptor is VD_DESC_NONE, not an error), or a
 * negative VD_E* when path cannot be opened or read.
 * Errors: VD_EINVAL, VD_ENOENT, VD_EIO (path cannot be opened or is not a
 * regular file), VD_ENOMEM.
 * NULL: NULL path: VD_EINVAL; cb may be NULL.
 * Since 0.1. */
VD_API int vd_descriptor_refs (const char *path, vd_ref_cb cb,
                              void *payload);

/* ---- what a file is ----------------------------------------------------- */

#define VD_PROBE_OTHER       0 /* none of the below (raw data, unknown) */
#define VD_PROBE_DESCRIPTOR  1 /* a text descriptor file (parses as one) */
#define VD_PROBE_SPARSE      2 /* a hosted sparse (KDMV) extent: monolithic
                                  or split sparse, or streamOptimized */
#define VD_PROBE_VMFS_SPARSE 3 /* an ESXi vmfsSparse (COWD) extent */
#define VD_PROBE_SESPARSE    4 /* an ESXi seSparse extent */

struct vd_probe_info {
  size_t struct_size;       /* in: sizeof (struct vd_probe_info); an older,
                               smaller struct gets the fields it has */
  int kind;                 /* VD_PROBE_* */
  int embedded_descriptor;  /* SPARSE: the file holds its descriptor */
  int compressed;           /* SPARSE: streamOptimized (compressed grains) */
  uint64_t capacity;        /* SPARSE: bytes, from the header; else 0 */
};

/* Say what the file at path is from its first bytes and, for a sparse
 * extent, its header, so callers need not know the on-disk layouts.
 * Never follows a final symlink; path must be a regular file.  Nothing is
 * written and nothing else is opened.  Returns 0 (out filled); VD_EINVAL
 * for a NULL argument or a struct_size below the first two fields;
 * VD_ENOENT/VD_EIO/VD_EINVAL when path cannot be opened or is not a
 * regular file; VD_ECORRUPT for a sparse header whose embedded-descriptor
 * fields are inconsistent.  Any thread.
 * Errors: as above.
 * NULL: NULL path or out: VD_EINVAL.
 * Since 0.1.0. */
VD_API int vd_probe (const char *path, struct vd_probe_info *out);

/* ---- disk database (descriptor metadata) ----------------------------- */

/* The value of a ddb key (e.g. "ddb.adapterType"), looked up in this link
 * then its ancestors; NULL if absent.
 * Errors: none (NULL when absent).
 * NULL: NULL disk or key: NULL.
 * Since 0.1. */
VD_API const char *vd_disk_get_meta (const vd_disk *disk, const char *key);
/* Number of ddb keys in the top link, and the i-th key.
 * Errors: none.
 * NULL: NULL disk: 0 keys, key NULL; an index out of range: NULL.  Both
 * vd_disk_get_meta_count and vd_disk_get_meta_key.
 * Since 0.1. */
VD_API unsigned vd_disk_get_meta_count (const vd_disk *disk);
VD_API const char *vd_disk_get_meta_key (const vd_disk *disk, unsigned i);
/* Set (or, with value NULL, remove) a ddb key and rewrite the descriptor.
 * Keys must start with "ddb." and hold [A-Za-z0-9._-]; values may not
 * hold '"', CR, LF or NUL.  The keys readers interpret are validated
 * (VD_EINVAL): adapterType (a known adapter), geometry.cylinders/heads/
 * sectors and their bios* forms (1..2^32-1, 1..255, 1..63),
 * virtualHWVersion (1..255), thinProvisioned (0 or 1), uuid (16 hex bytes
 * separated by spaces).
 * Errors: VD_EINVAL (bad key or value), VD_EROFS (read-only handle),
 * VD_EIO, VD_ENOSPC, VD_ENOMEM.
 * NULL: NULL disk or key: VD_EINVAL; value NULL removes the key.
 * Since 0.1. */
VD_API int vd_disk_set_meta (vd_disk *disk, const char *key,
                            const char *value);

/* ---- allocation map -------------------------------------------------- */

#define VD_STATUS_DATA 0u  /* allocated, holds data */
#define VD_STATUS_ZERO 1u  /* reads as zeros: zeroed grain or ZERO extent */
#define VD_STATUS_HOLE 2u  /* not allocated anywhere in the chain */

/* Called with runs in ascending order, adjacent runs of the same status
 * merged.  Return non-zero to stop early (vd_disk_block_status then
 * returns 0). */
typedef int (*vd_block_status_cb) (uint64_t offset, uint64_t length,
                                  uint32_t status, void *payload);

/* The allocation map of [offset, offset+length): cb gets each run with its
 * VD_STATUS_*, through the whole chain.
 * Errors: VD_EINVAL (range past the capacity), VD_EIO, VD_ECORRUPT.
 * NULL: NULL disk or cb: VD_EINVAL.
 * Since 0.1. */
VD_API int vd_disk_block_status (vd_disk *disk, uint64_t offset,
                                uint64_t length, vd_block_status_cb cb,
                                void *payload);

/* ---- creating -------------------------------------------------------- */

#define VD_CREATE_PREALLOCATE 0x0001u /* allocate flat files up front */
#define VD_CREATE_OVERWRITE   0x0002u /* replace existing files */
#define VD_CREATE_NO_UUID     0x0004u /* do not write ddb.uuid */
#define VD_CREATE_NO_SYNC     0x0008u /* convert: do not fdatasync the new
                                         disk (as qemu-img convert) */

struct vd_create_params {
  uint32_t struct_size;        /* sizeof (struct vd_create_params) */
  enum vd_type type;
  uint64_t capacity;           /* bytes, a multiple of 512 */
  enum vd_adapter adapter;
  uint32_t hw_version;         /* ddb.virtualHWVersion */
  struct vd_geometry geometry; /* zeros: compute as VMware does */
  uint32_t flags;              /* VD_CREATE_* */
  uint32_t cid;                /* 0: random */
  const uint8_t *uuid;         /* 16 bytes, or NULL: random */
  uint32_t threads;            /* worker threads where used; 0: auto */
  uint64_t extent_size;        /* split layouts: bytes per extent, a
                                  multiple of 64 KiB up to 2047 MiB; 0:
                                  2047 MiB (VMware's) */
};

/* Fill in the defaults: monolithicSparse, ide, hardware version 4.
 * Errors: none.
 * NULL: params must not be NULL.
 * Since 0.1. */
VD_API void vd_create_params_init (struct vd_create_params *params);

/* Create a new disk.  Refuses to replace files unless
 * VD_CREATE_OVERWRITE.  Nothing is left behind on failure.
 *
 * VD_TYPE_STREAM_OPTIMIZED makes an empty stream (it reads as zeros).
 * Opened read-write with vd_disk_open, an empty stream is written front
 * to back: writes at increasing offsets are compressed into grains as
 * they pass (writes inside the grain being filled may overlap); a write
 * into a grain already passed fails with VD_EINVAL, naming the offset.
 * vd_disk_flush and vd_disk_close write the grain tables and the footer
 * after the data, so the file is a complete stream after each; a crash
 * between two flushes leaves a stream without its footer.  A stream that
 * holds data opens read-only (VD_ENOTSUP for read-write).
 * Errors: VD_EINVAL (bad params, too small a struct_size), VD_EEXIST
 * (files exist), VD_ENOTSUP, VD_EIO, VD_ENOSPC, VD_ENOMEM.
 * NULL: NULL path or params: VD_EINVAL.
 * Since 0.1. */
VD_API int vd_disk_create (const char *path,
                          const struct vd_create_params *params);

/* The geometry VMware gives a disk of this size on this adapter.
 * Errors: none.
 * NULL: out must not be NULL.
 * Since 0.1. */
VD_API void vd_geometry_compute (struct vd_geometry *out, uint64_t capacity,
                                enum vd_adapter adapter);

/* Progress: return non-zero to cancel (the operation fails with
 * VD_ECANCELED and leaves nothing behind). */
typedef int (*vd_progress_cb) (uint64_t done, uint64_t total, void *payload);

/* ---- chains: child disks (redo logs, snapshots) ---------------------- */

/* Create a child (a hosted sparse delta: VD_TYPE_MONOLITHIC_SPARSE, the
 * default when type is 0, or VD_TYPE_SPLIT_SPARSE) of the open disk
 * parent at path.  Its parentCID is the parent's CID and its
 * parentFileNameHint names the parent (relative when both sit in one
 * folder).  From then on the parent handle refuses writes: a write would
 * change the parent's CID and break the child. */
/* (A parent without a CID line is refused, VD_EPARENT: such a child
 * could never open.)
 * Errors: VD_EINVAL (bad type or flags), VD_EPARENT, VD_ENOTSUP,
 * VD_EEXIST, VD_EIO, VD_ENOSPC, VD_ENOMEM.
 * NULL: NULL parent or path: VD_EINVAL.
 * Since 0.1. */
VD_API int vd_disk_create_child (vd_disk *parent, const char *path,
                                 enum vd_type type, uint32_t flags);

/* Give the existing child at child_path a new parent (re-parent): the
 * capacities must match and the child must not be a base disk.  Writes
 * the new parentCID and parentFileNameHint into the child.  Refused
 * (VD_EPARENT) when the parent has no CID line, and while a disk beside
 * the child names it as its parent (its content would change under that
 * disk) unless open_flags has VD_OPEN_FORCE.
 * Errors: VD_EPARENT (a base disk, not a sparse child, capacities differ,
 * its own parent, the parent has no CID line, a disk names the child),
 * VD_ENOENT, and the open errors of vd_disk_open (VD_ECORRUPT,
 * VD_ELOCKED, ...).
 * NULL: NULL child_path or parent_path: VD_EINVAL.
 * Since 0.1. */
VD_API int vd_disk_attach (const char *child_path, const char *parent_path,
                           uint32_t open_flags);

/* Merge the child's data into its parent, or into the ancestor at
 * ancestor_path (NULL: the parent), collapsing the links between: the
 * child is then re-parented onto the ancestor and the chain reads exactly
 * as before.  Crash-safe: an interrupted commit leaves every link
 * readable through the child, and running it again completes it.
 * Refused (VD_EPARENT) while another child of the ancestor or of a link
 * between would no longer open (a sibling), or another disk uses one of
 * the ancestor's files, unless open_flags has VD_OPEN_FORCE.  The links
 * between are no longer valid disks once the child sits on the ancestor:
 * they are removed (vd_disk_unlink) after the child's descriptor is
 * rewritten; an error names a link that could not be removed.
 * Errors: VD_EPARENT, VD_EINVAL, VD_ENOENT, VD_ECANCELED (progress stopped
 * it), VD_EIO, VD_ENOSPC, VD_ENOMEM, VD_ELOCKED.
 * NULL: NULL child_path: VD_EINVAL; ancestor_path and progress may be
 * NULL.
 * Since 0.1. */
VD_API int vd_disk_commit (const char *child_path, const char *ancestor_path,
                           uint32_t open_flags, vd_progress_cb progress,
                           void *payload);

struct vd_link_info {
  const char *path;          /* the link's descriptor */
  const char *create_type;
  uint32_t cid;
  uint32_t parent_cid;
  uint64_t file_bytes;       /* size of its files on disk (allocated) */
  uint64_t allocated_bytes;  /* virtual bytes this link holds */
  int64_t mtime;             /* descriptor modification, seconds */
  unsigned extents;
};

/* Link i of the open chain: 0 is the top (newest), link_count-1 the
 * base.
 * Errors: VD_EINVAL (i >= the link count), VD_EIO.
 * NULL: NULL disk or info: VD_EINVAL.
 * Since 0.1. */
VD_API int vd_disk_get_link_info (vd_disk *disk, unsigned i,
                                  struct vd_link_info *info);

/* ---- convert / clone ------------------------------------------------- */


/* Copy the content of src (flattened through its chain) into a new disk
 * at dst of the layout in params (capacity is taken from src; type
 * VD_TYPE_RAW writes a raw file).  Only allocated data is read; zero
 * blocks are not written.  The destination appears only when complete.
 * The ddb keys of src's top link other than the ones the new disk makes
 * itself (adapter, geometry, IDs, hardware version, provisioning) are
 * carried over, except into streamOptimized and raw; params->uuid NULL
 * gives the copy a new ddb.uuid.
 * Errors: VD_EINVAL (bad params), VD_EEXIST, VD_ENOTSUP, VD_ECANCELED,
 * VD_EIO, VD_ENOSPC, VD_ECORRUPT, VD_ENOMEM.
 * NULL: NULL src, dst or params: VD_EINVAL; progress may be NULL.
 * Since 0.1. */
VD_API int vd_disk_convert (vd_disk *src, const char *dst,
                           const struct vd_create_params *params,
                           vd_progress_cb progress, void *payload);

/* ---- check ----------------------------------------------------------- */

#define VD_CHECK_SEVERITY_INFO 0
#define VD_CHECK_SEVERITY_LEAK 1
#define VD_CHECK_SEVERITY_CORRUPT 2
#define VD_CHECK_SEVERITY_REPAIRABLE 3 /* safe, and --repair fixes it */

struct vd_check_result {
  uint32_t struct_size;
  uint64_t corruptions;    /* problems that lose or mix up data */
  uint64_t leaks;          /* grains in the file that nothing uses */
  uint64_t warnings;       /* oddities that are not errors */
  uint64_t allocated;      /* grains in use */
  int unclean;             /* uncleanShutdown was set */
  uint64_t repairable;     /* safe inconsistencies repair fixes (a lagging
                              redundant table copy) */
};

typedef void (*vd_check_message_cb) (int severity, const char *message,
                                    void *payload);

/* Check every extent of the disk at path against its files.  Returns 0
 * when the check ran (look at result), negative when it could not.
 * Errors: VD_EINVAL, VD_ECORRUPT (the disk cannot be opened to check), the
 * open errors of vd_disk_open (VD_ENOENT, VD_ECORRUPT, VD_ELOCKED,
 * VD_EPARENT, ...).
 * NULL: NULL path or result: VD_EINVAL; message may be NULL.
 * Since 0.1. */
VD_API int vd_check (const char *path, uint32_t open_flags,
                    struct vd_check_result *result,
                    vd_check_message_cb message, void *payload);

/* ---- check: repair -------------------------------------------------- */
/* Repair the hosted sparse extents (monolithicSparse, twoGbMaxExtentSparse,
 * a sparse child) of the disk at path in place, taking the write lock:
 * - a grain table whose primary and redundant copies disagree only where
 *   one copy is 0 (an interrupted write) gets the union of both;
 * - a damaged or missing table or directory entry is rebuilt from the good
 *   copy (a new table appended when its place is unusable);
 * - leaked grains at the end of a file are cut off;
 * - a stale uncleanShutdown flag is cleared (last).
 * What cannot be repaired safely (a damaged header, both copies damaged,
 * two copies naming different grains, streamOptimized) is refused with
 * VD_ECORRUPT and a message that says why; nothing is written then.
 * Messages (severity INFO) name each repair.  When result is given, a
 * check runs afterwards and fills it.  Returns the number of repairs, or
 * a negative VD_E*.  open_flags: VD_OPEN_TRUSTED, VD_OPEN_FORCE.
 * Errors: VD_ECORRUPT (not safely repairable), VD_EPARENT, VD_ELOCKED,
 * VD_EINVAL, VD_EIO, VD_ENOMEM.
 * NULL: NULL path: VD_EINVAL; result and message may be NULL.
 * Since 0.1. */
VD_API int vd_check_repair (const char *path, uint32_t open_flags,
                            struct vd_check_result *result,
                            vd_check_message_cb message, void *payload);
/* ---- disk management: rename, unlink, grow, shrink, space ----------- */
/* Rename every file of a closed disk (descriptor, extents, the
 * change-tracking file) after new_path's name with VMware's naming
 * (NAME.vmdk, NAME-flat.vmdk, NAME-s001.vmdk, NAME-f001.vmdk), in the same
 * folder or another on the same file system; the descriptor is rewritten
 * to name them (and a child's parentFileNameHint follows a move).  Never
 * replaces a file; on any failure everything is put back.  The old names
 * stay until the new disk is complete (hard links).  flags: VD_OPEN_TRUSTED,
 * VD_OPEN_FORCE (even though a disk beside it names it as its parent).
 * Errors: VD_EEXIST (a new name exists), VD_EINVAL (bad new name),
 * VD_EPARENT, VD_ELOCKED, VD_EIO, VD_ENOMEM.
 * NULL: NULL old_path or new_path: VD_EINVAL.
 * Since 0.1. */
VD_API int vd_disk_rename (const char *old_path, const char *new_path,
                           uint32_t flags);
/* vd_disk_unlink: delete the descriptor file only, never an extent. */
#define VD_UNLINK_DESCRIPTOR_ONLY 0x20000u
/* Delete a closed disk: its descriptor (first), extents and change-tracking
 * file, never its parent's.  Refused (VD_EPARENT) while a disk beside it
 * names it as its parent, unless VD_OPEN_FORCE; refused (VD_EPARENT, with
 * or without force) while another disk in its folder uses one of its
 * files as an extent, parent or change-tracking file (a copied
 * descriptor): then VD_UNLINK_DESCRIPTOR_ONLY removes just the
 * descriptor.  VD_ELOCKED while another handle or program writes to it.
 * Rename, grow, shrink and defragment refuse such shared files the same
 * way, and a read-write vd_disk_open without VD_OPEN_FORCE too.
 * Errors: VD_EPARENT, VD_ELOCKED, VD_EINVAL, VD_ENOENT, VD_EIO, VD_ENOMEM.
 * NULL: NULL path: VD_EINVAL.
 * Since 0.1. */
VD_API int vd_disk_unlink (const char *path, uint32_t flags);

/* vd_disk_grow: also recompute ddb.geometry.* for the new size.  The
 * operation flags (VD_GROW_*, VD_UNLINK_*) use bits 16-31 of the flags
 * word, the VD_OPEN_* flags bits 0-15, so the two never overlap. */
#define VD_GROW_UPDATE_GEOMETRY 0x10000u
/* Raise the capacity of a closed base disk without children to
 * new_capacity bytes (the new space reads as zeros).  Flat layouts extend
 * their last file, split layouts add 2047 MiB extents, monolithicSparse is
 * rewritten into a copy of the new size renamed into place.  Refuses to
 * shrink.  flags: VD_OPEN_TRUSTED, VD_GROW_UPDATE_GEOMETRY.
 * Errors: VD_EINVAL (smaller size, bad flags), VD_EPARENT (a child or
 * children), VD_ENOTSUP (layout), VD_ELOCKED, VD_ECANCELED, VD_EIO,
 * VD_ENOSPC.
 * NULL: NULL path: VD_EINVAL; progress may be NULL.
 * Since 0.1. */
VD_API int vd_disk_grow (const char *path, uint64_t new_capacity,
                         uint32_t flags, vd_progress_cb progress,
                         void *payload);
/* Give back the space of unallocated and all-zero grains of a closed
 * hosted sparse disk (monolithicSparse, twoGbMaxExtentSparse; a child
 * keeps the zero grains that hide its parent's data).  Each extent is
 * rewritten compact into a work folder and renamed over the old one: a
 * crash or a cancel leaves the disk as it was.  Content, CID and
 * descriptor stay the same.
 * Errors: VD_EINVAL, VD_ENOTSUP (not a hosted sparse disk), VD_EPARENT,
 * VD_ELOCKED, VD_ECANCELED, VD_EIO, VD_ENOSPC.
 * NULL: NULL path: VD_EINVAL; progress may be NULL.
 * Since 0.1. */
VD_API int vd_disk_shrink (const char *path, uint32_t flags,
                           vd_progress_cb progress, void *payload);
/* Rewrite a closed hosted sparse disk so its grains lie in virtual order
 * after compact metadata (as vd_disk_shrink, which also does this).
 * Errors: as vd_disk_shrink.
 * NULL: NULL path: VD_EINVAL; progress may be NULL.
 * Since 0.1. */
VD_API int vd_disk_defragment (const char *path, uint32_t flags,
                               vd_progress_cb progress, void *payload);
/* Bytes a clone (vd_disk_convert) of src into type would take, from the
 * allocation map: for sparse layouts the allocated 64 KiB grains plus the
 * metadata; for flat ones the capacity; for streamOptimized an upper
 * bound (the grains uncompressed).
 * Errors: VD_EINVAL, VD_ENOTSUP (type), VD_EIO.
 * NULL: NULL src or bytes: VD_EINVAL.
 * Since 0.1. */
VD_API int vd_disk_space_needed (vd_disk *src, enum vd_type type,
                                 uint64_t *bytes);

/* ---- leftover work folders ------------------------------------------ */
/* create, convert, child, shrink, defragment and grow build in a hidden
 * work folder beside the disk (".vdisk-new-*", ".vdisk-work-*") that
 * names its creating process; a killed process leaves it behind. */
#define VD_WORKDIR_LIVE    0  /* its creator still runs */
#define VD_WORKDIR_STALE   1  /* its creator is gone: safe to remove */
#define VD_WORKDIR_UNKNOWN 2  /* no creator recorded (an older vdisk) or
                                 /proc unreadable: never removed */
struct vd_workdir {
  char *name;         /* the folder's name inside dir */
  char *target;       /* file name of the disk it was building; NULL if
                         not recorded */
  long pid;           /* creating process; 0 if unknown */
  int state;          /* VD_WORKDIR_* */
  int removed;        /* vd_dir_clean with VD_CLEAN_REMOVE removed it */
  uint64_t bytes;     /* space its files take */
};
/* vd_dir_clean: remove the stale work folders (otherwise only list). */
#define VD_CLEAN_REMOVE 1u
/* List the work folders in folder dir (those for the disk file name
 * target only, when target is not NULL), and with VD_CLEAN_REMOVE remove
 * the stale ones: those whose creator is gone (another boot, no such
 * process, or its pid reused; and no process holds the folder's lock).
 * A folder of a live process is never touched; nothing outside a work
 * folder is.  *list (may be NULL: count only) is freed with
 * vd_workdirs_free; *n may be NULL.  Returns 0, or a negative VD_E*
 * when dir cannot be read.  vd_disk_create, vd_disk_convert,
 * vd_disk_create_child, vd_disk_grow, vd_disk_shrink and
 * vd_disk_defragment remove the stale folders of their target first.
 * Errors: VD_EINVAL, VD_ENOENT, VD_EIO, VD_ENOMEM.
 * NULL: NULL dir: VD_EINVAL; target, list and n may be NULL.
 * vd_workdirs_free frees *list (NULL accepted).
 * Since 0.1. */
VD_API int vd_dir_clean (const char *dir, const char *target, uint32_t flags,
                         struct vd_workdir **list, size_t *n);
VD_API void vd_workdirs_free (struct vd_workdir *list, size_t n);
/* ---- scanning ------------------------------------------------------- */
/* A scanner looks for signatures in one buffer (the shape of the VDDK
 * guide's SecureVirusScan(buf, n)) and calls match() once per match with
 * the match's offset within buf, its length and a signature name (which
 * must stay valid until the scanner is freed).  It may be called from
 * several threads at once.  Returns 0, or a negative VD_E* to stop. */
typedef int (*vd_scan_match_cb) (uint64_t offset, uint64_t length,
                                 const char *name, void *match_payload);
typedef int (*vd_scan_fn) (void *state, const void *buf, size_t len,
                           vd_scan_match_cb match, void *match_payload);

typedef struct vd_scanner vd_scanner;

/* A scanner from a callback.  overlap: the longest match (bytes) it must
 * see whole; windows of the disk overlap by that much.
 * Errors: VD_EINVAL, VD_ENOMEM.
 * NULL: NULL out or fn: VD_EINVAL (as is overlap 0 or too large).
 * Since 0.1. */
VD_API int vd_scanner_new (vd_scanner **out, vd_scan_fn fn, void *state,
                           size_t overlap);

/* The system's ClamAV database folder. */
#define VD_CLAMAV_DEFAULT_DB "/var/lib/clamav"
/* A libclamav scanner with the databases of folder db_dir (NULL: the
 * default) or one database file (.ndb, .hdb, .ldb, .cvd, ...).  Raw-data
 * scanning: no file-type parsing, clean cache off; every hit is narrowed
 * to its exact bytes.  overlap 0: derived from the .ndb signatures seen
 * (at least 256 bytes; 4096 when other kinds are loaded).
 * Returns VD_ENOTSUP when built without libclamav.
 * Errors: VD_ENOTSUP (no libclamav), VD_ENOENT (no database), VD_EIO
 * (libclamav refused the database), VD_EINVAL, VD_ENOMEM.
 * NULL: NULL out: VD_EINVAL; db_dir NULL: the default folder.
 * Since 0.1. */
VD_API int vd_scanner_new_clamav (vd_scanner **out, const char *db_dir,
                                  size_t overlap);
VD_API size_t vd_scanner_get_overlap (const vd_scanner *s);
/* Signatures loaded (libclamav), 0 for callback scanners.
 * Errors: none.
 * NULL: NULL scanner: 0 (both getters); vd_scanner_free accepts NULL.
 * vd_scanner_get_overlap: the overlap in bytes.
 * Since 0.1. */
VD_API unsigned vd_scanner_get_signature_count (const vd_scanner *s);
VD_API void vd_scanner_free (vd_scanner *s);

struct vd_scan_options {
  uint32_t struct_size;   /* sizeof (struct vd_scan_options) */
  unsigned threads;       /* 0: one per online CPU (at most 16) */
  size_t window;          /* bytes per scan call; 0: 8 MiB */
};
/* Zero every field (0: the defaults) and set struct_size.
 * Errors: none.
 * NULL: o must not be NULL.
 * Since 0.1. */
VD_API void vd_scan_options_init (struct vd_scan_options *o);

/* One match on the virtual disk.  Strings borrow from the scanner and
 * the disk and are valid during the report callback. */
struct vd_scan_hit {
  uint64_t offset;        /* first byte on the virtual disk */
  uint64_t length;        /* bytes */
  uint64_t first_sector, last_sector;   /* sectors covered (inclusive) */
  const char *name;       /* signature name */
  unsigned link;          /* link holding the first byte: 0 = top */
  const char *file;       /* extent file holding the first byte */
  unsigned last_link;     /* the same for the last byte */
  const char *last_file;
};

struct vd_scan_stats {
  uint64_t bytes_read;    /* bytes read from the disk (allocated data) */
  uint64_t bytes_scanned; /* bytes given to the scanner (with overlaps) */
  uint64_t data_bytes;    /* allocated bytes of the disk */
  uint64_t windows;       /* scanner calls */
  uint64_t hits;
};

/* Return non-zero to stop the scan (vd_scan then returns VD_ECANCELED). */
typedef int (*vd_scan_report_cb) (const struct vd_scan_hit *hit,
                                  void *payload);

/* Scan the allocated data of disk (through its chain; holes and zeroed
 * ranges are never read) with scanner, in windows overlapping by the
 * scanner's overlap, on worker threads.  Each match is reported once, in
 * ascending offset order.  opts and stats may be NULL.  Matches made only
 * of zero bytes are not looked for.  Returns the number of hits (>= 0) or
 * a negative VD_E*.
 * Errors: VD_ECANCELED (report stopped it), VD_EINVAL, VD_EIO,
 * VD_ECORRUPT, VD_ENOMEM, or what the scanner returns.
 * NULL: NULL disk or scanner: VD_EINVAL; opts, report and stats may be
 * NULL.  vd_scan_options_init fills in the defaults (o must not be NULL).
 * Since 0.1. */
VD_API int vd_scan (vd_disk *disk, vd_scanner *scanner,
                    const struct vd_scan_options *opts,
                    vd_scan_report_cb report, void *payload,
                    struct vd_scan_stats *stats);

/* Which link (0 = top) and extent file hold virtual byte offset: returns
 * VD_STATUS_DATA, VD_STATUS_ZERO (file is the extent, or NULL for a ZERO
 * extent) or VD_STATUS_HOLE (no link holds it: link is the base, file
 * NULL); negative on error.  The file name borrows from the disk.
 * Errors: VD_EINVAL (offset past the capacity), VD_EIO, VD_ECORRUPT.
 * NULL: NULL disk: VD_EINVAL; link_index and extent_file may be NULL.
 * Since 0.1. */
VD_API int vd_disk_locate (vd_disk *disk, uint64_t offset,
                           unsigned *link_index, const char **extent_file);

struct vd_sector_range {
  uint64_t first, last;   /* inclusive */
};

/* Fill the given sectors of the disk at path with byte fill: into a new
 * child disk at child_path (the original stays untouched; deleting the
 * child undoes it), or in place when child_path is NULL.
 * Errors: VD_EINVAL (a range past the end), VD_EEXIST (child_path exists),
 * the open errors of vd_disk_open (VD_ENOENT, VD_ECORRUPT, VD_ELOCKED,
 * VD_EPARENT, ...).
 * NULL: NULL path, or NULL ranges with n_ranges > 0: VD_EINVAL; child_path
 * NULL: in place.
 * Since 0.1. */
VD_API int vd_disk_fill_sectors (const char *path, uint32_t open_flags,
                                 const struct vd_sector_range *ranges,
                                 size_t n_ranges, uint8_t fill,
                                 const char *child_path);

/* Replace every occurrence of find (len bytes, not all zeros) by replace
 * (the same length) in the allocated data of the disk at path, across
 * sector, grain and extent boundaries, scanning left to right (overlapping
 * occurrences: the leftmost wins).  Into a new child at child_path, or in
 * place (child_path NULL).  dry_run: change nothing.  found (may be NULL)
 * is called with each offset before it is replaced.  Returns the number
 * of occurrences (>= 0) or a negative VD_E*.
 * Errors: VD_EINVAL (len 0, find all zeros), VD_ECANCELED (found stopped
 * it), VD_EEXIST, the open errors of vd_disk_open (VD_ENOENT, VD_ECORRUPT,
 * VD_ELOCKED, VD_EPARENT, ...).
 * NULL: NULL path, find or replace: VD_EINVAL; child_path and found may be
 * NULL.
 * Since 0.1. */
VD_API int64_t vd_disk_replace (const char *path, uint32_t open_flags,
                                const void *find, const void *replace,
                                size_t len, const char *child_path,
                                int dry_run,
                                int (*found) (uint64_t offset, void *payload),
                                void *payload);

/* Every disk of every VM under folder (found by *.vmx; subfolders are
 * searched, symlinks not followed): cb gets the .vmx path, the VM's
 * displayName (or NULL), the device ("scsi0:0") and the disk's path as
 * the .vmx names it (its newest link), resolved against the .vmx folder.
 * Devices scsiX:Y, ideX:Y, sataX:Y, nvmeX:Y with a .vmdk fileName and
 * present not FALSE, CD-ROMs skipped.  A VM with no such disk is reported
 * once with device and disk_path NULL.  Non-zero from cb stops. */
typedef int (*vd_vm_disk_cb) (const char *vmx, const char *display_name,
                              const char *device, const char *disk_path,
                              void *payload);
/* Find the disks of every VM under folder (above).
 * Errors: VD_EINVAL (not a folder), VD_ENOENT, VD_EIO, VD_ENOMEM.
 * NULL: NULL folder or cb: VD_EINVAL.
 * Since 0.1. */
VD_API int vd_find_vm_disks (const char *folder, vd_vm_disk_cb cb,
                             void *payload);

/* ---- network disks (NBD) -------------------------------------------- */
/* A disk path may be an NBD URI: nbd://HOST[:PORT]/EXPORT, nbds://...
 * (TLS), nbd+unix:///EXPORT?socket=PATH, nbds+unix://...  It opens as a
 * raw disk.  TLS credentials come from the URI (USER@HOST, ?tls-psk-file=
 * or ?tls-certificates=) or the environment: VDISK_NBD_USER,
 * VDISK_NBD_PASSWORD (the key is derived, see below, and never written to
 * disk), VDISK_NBD_PSK_FILE, VDISK_NBD_TLS_CERTIFICATES.
 * VDISK_NBD_CONNECTIONS (1-8) opens more connections when the server
 * allows multi-conn.  From a vdisk server the disk database comes along:
 * vd_disk_get_meta, _get_adapter, _get_geometry, _get_uuid answer from
 * the server (its meta: export), and vd_disk_set_meta changes the key on
 * the server (meta-set:).  An export the server refuses fails with the
 * server's reason (status:): VD_EEXIST, VD_ENOENT, VD_ENOSPC (a quota:
 * errnum EDQUOT), VD_EROFS, VD_ELOCKED, VD_EINVAL, or VD_EIO with errnum
 * EPERM; a refused TLS login is VD_EIO with errnum EACCES.  See
 * nbdkit-vdisk-plugin(1) for the server. */

/* The TLS pre-shared key of an NBD user from a password, as `vdisk user
 * add` and the VixDiskLib layer derive it: PBKDF2-HMAC-SHA256 of the
 * password with the salt "vdisk-nbd-psk:" USER (so a client derives the
 * same key from user and password alone), VD_NBD_PSK_ITERATIONS rounds,
 * 32 bytes, written into hex as 64 lower-case hex digits and a NUL
 * (hexsz >= VD_NBD_PSK_HEX_SIZE).  User names hold [A-Za-z0-9._@-], at
 * most 64 bytes. */
#define VD_NBD_PSK_ITERATIONS 100000
#define VD_NBD_PSK_HEX_SIZE 65
/* Derive the key (above) into hex.
 * Errors: VD_EINVAL (bad user, hexsz too small), VD_ENOTSUP (built without
 * nettle), VD_ENOMEM.
 * NULL: NULL hex or password: VD_EINVAL.
 * Since 0.1. */
VD_API int vd_nbd_psk_derive (char *hex, size_t hexsz, const char *user,
                              const char *password);
/* Is user acceptable as an NBD TLS user name?  1 or 0.
 * Errors: none.
 * NULL: NULL user: 0.
 * Since 0.1. */
VD_API int vd_nbd_user_ok (const char *user);

/* Connect to the NBD server of uri (credentials as for a disk URI), list
 * its exports through cb (return non-zero to stop) and disconnect.
 * Checks that the server is there and takes the credentials: a refused
 * TLS login is VD_EIO with errnum EACCES. */
typedef int (*vd_nbd_export_cb) (const char *name, const char *description,
                                 void *payload);
/* List the exports of the server at uri (above).
 * Errors: VD_EINVAL (not an NBD URI), VD_ENOTSUP (built without libnbd),
 * VD_EIO (connection, TLS login).
 * NULL: NULL uri or cb: VD_EINVAL.
 * Since 0.1. */
VD_API int vd_nbd_list_exports (const char *uri, vd_nbd_export_cb cb,
                                void *payload);

/* ---- change tracking (CBT) ------------------------------------------- */
/* vdisk tracks the blocks written to a disk in its own tracking file,
 * NAME-ctk.vmdk, named by the descriptor's changeTrackPath (descriptor
 * version 3, as VMware does); docs/cbt.md is its format.  A change ID has
 * VMware's text form, "52 ab ... c0-1f ... 3b/78": the tracking epoch's
 * UUID, '/', a sequence number.  Every write through the library (write,
 * zero, commit into a tracked parent, scan fixes, the VixDiskLib layer,
 * the nbdkit plugin) is tracked; a crash either leaves correct tracking or
 * starts a new epoch, in which every older change ID is refused.  Since
 * 0.2. */
enum vd_cbt_state {
  VD_CBT_OFF = 0,      /* no changeTrackPath */
  VD_CBT_ON = 1,       /* vdisk's tracking file, open */
  VD_CBT_FOREIGN = 2,  /* another program's tracking file (VMware's): the
                        * data reads as version 1; the first write drops
                        * it (the key goes, version 1, the file is renamed
                        * NAME-ctk.vmdk.stale) unless VD_OPEN_FORCE */
  VD_CBT_BROKEN = 3,   /* named file missing or damaged: see problem */
  VD_CBT_DROPPED = 4,  /* this open dropped FOREIGN tracking (see problem) */
};

#define VD_CHANGE_ID_MAX 64   /* bytes of a change ID, NUL included */

struct vd_cbt_info {
  enum vd_cbt_state state;
  const char *file;          /* changeTrackPath as written, or NULL */
  const char *problem;       /* BROKEN / DROPPED: what happened, or NULL */
  char change_id[VD_CHANGE_ID_MAX];  /* ON: the current change ID */
  uint32_t block_size;       /* ON: bytes tracked per block */
  uint64_t sequence;         /* ON: last completed change set */
  int reset;                 /* ON: a new epoch began at this open (an
                              * interrupted change set or a resize) */
};

/* Tracking state of an open disk (its top link).  Strings borrow from the
 * handle.  VD_EINVAL for NULL arguments.
 * Errors: VD_EINVAL.
 * NULL: NULL disk or info: VD_EINVAL.
 * Since 0.2. */
VD_API int vd_disk_get_cbt (const vd_disk *disk, struct vd_cbt_info *info);

/* Turn tracking on for the disk at path: creates NAME-ctk.vmdk (a new
 * epoch), adds the "# Change Tracking File" section and sets descriptor
 * version 3.  Already on: nothing changes (0).  Refused like any write
 * when a child names the disk (VD_EPARENT) or it is locked.  flags:
 * VD_OPEN_TRUSTED, VD_OPEN_FORCE (also replaces another program's
 * tracking).
 * Errors: VD_EPARENT, VD_ELOCKED, VD_EINVAL (a raw disk), VD_ENOTSUP
 * (streamOptimized), VD_EIO, VD_ENOSPC.
 * NULL: NULL path: VD_EINVAL.
 * Since 0.2. */
VD_API int vd_disk_cbt_enable (const char *path, uint32_t flags);

/* Turn tracking off: removes the section and the file (vdisk's; another
 * program's file is renamed NAME-ctk.vmdk.stale), version 3 goes back to
 * 1 (2 stays 2).  Off already: 0.
 * Errors: VD_EPARENT, VD_ELOCKED, VD_EINVAL, VD_EIO, VD_ENOMEM.
 * NULL: NULL path: VD_EINVAL.
 * Since 0.2. */
VD_API int vd_disk_cbt_disable (const char *path, uint32_t flags);

/* Carry src's tracking over to dst, a copy of src's content just made
 * (vd_disk_convert: convert/clone --keep-cbt): src's tracking file is
 * copied to DST-ctk.vmdk (same epoch, same sequences: a change ID of src
 * answers the same on dst) and dst's descriptor gets version 3 and
 * changeTrackPath.  Only vdisk's own tracking is copied.  Errors: VD_ENOENT
 * (src not tracked by vdisk, or another program's file), VD_EINVAL (dst
 * raw, already tracked, of another capacity, or src with uncommitted
 * tracked writes: flush first), VD_ENOTSUP (dst streamOptimized),
 * VD_EEXIST (DST-ctk.vmdk exists), dst's open errors.  flags:
 * VD_OPEN_TRUSTED.
 * NULL: NULL src or dst: VD_EINVAL.
 * Since 0.2. */
VD_API int vd_disk_cbt_copy (vd_disk *src, const char *dst, uint32_t flags);

/* Called with each changed area in ascending order, adjacent areas merged;
 * non-zero stops the walk (the query then returns 0). */
typedef int (*vd_changed_area_cb) (uint64_t offset, uint64_t length,
                                   void *payload);

/* The areas of [offset, offset+length) written since change_id, in bytes,
 * at tracking-block granularity (a superset, never a subset, of what was
 * written).  change_id "*" means every allocated area (any disk, tracked or
 * not).  Errors: VD_EINVAL (malformed ID, a sequence in the future),
 * VD_ENOENT (not tracked), VD_EPARENT (an ID of another epoch: tracking
 * was reset, take a full copy), VD_ECORRUPT (a damaged tracking file).
 * Errors: as above; VD_EIO.
 * NULL: NULL disk, change_id or cb: VD_EINVAL.
 * Since 0.2. */
VD_API int vd_disk_query_changed_areas (vd_disk *disk, const char *change_id,
                                        uint64_t offset, uint64_t length,
                                        vd_changed_area_cb cb, void *payload);

/* ---- VM backup and restore ----------------------------------------- */
/* A repository of backup points of one VM folder (docs/backup.md): each
 * point a folder named by its UTC time (20261201T092133Z) with a manifest
 * and copies of the .vmx/.vmsd/.vmxf/.nvram; each disk one VMDK chain under
 * REPO/disks/DEVICE/ (the first point a monolithicSparse copy, every later
 * one a sparse child of the one before), so any VMDK reader opens any
 * point.  One writer per repository (an OFD lock on REPO/.lock).  Since
 * 0.2. */
#define VD_BACKUP_FULL  0x1u   /* a full point even where an incremental
                                  one is possible */
#define VD_BACKUP_FORCE 0x2u   /* accept a repository of another VM */
#define VD_BACKUP_RDM_DATA 0x4u /* RDM disks: also the mapped device's
                                  data when it can be read (a plain file
                                  name in the VM folder, or a block
                                  device); else only the descriptor, and
                                  the manifest says why */
#define VD_BACKUP_NO_SYNC 0x8u /* for scratch repositories: the point's
                                  files are not fdatasync'ed nor its
                                  folders fsync'ed (the rename into place
                                  stays last, so a killed backup leaves no
                                  partial point; a power loss may leave a
                                  point whose files lost data: verify
                                  finds it).  The manifest records
                                  "synced": false.  Since 0.2 */

struct vd_backup_options {
  uint32_t struct_size;        /* sizeof (struct vd_backup_options) */
  uint32_t flags;              /* VD_BACKUP_* */
  vd_progress_cb progress;     /* bytes copied of the disks' capacity */
  void *payload;
  char **summary_json;         /* if set: the point's manifest, free() */
  enum vd_type full_type;      /* layout of a full point's disk files: 0
                                  or VD_TYPE_MONOLITHIC_SPARSE (default),
                                  VD_TYPE_STREAM_OPTIMIZED (compressed;
                                  later incrementals are sparse children
                                  of it; prune cannot merge into it).
                                  Since 0.2 (struct_size covers it) */
};

struct vd_backup_result {
  char point[64];              /* the new point's name */
  unsigned disks;
  uint64_t bytes_read, bytes_written;
};

/* Back up the VM in folder (exactly one .vmx) into repo (made if absent):
 * every disk of the .vmx, full (its allocated areas) or incremental (the
 * areas changed since the previous point's change ID; changed block
 * tracking is turned on at the first backup), RDM disks as their mapping
 * descriptor.  The disks are held open for writing while they are read,
 * so no other writer changes them.  A killed backup leaves the earlier
 * points intact and no partial point.  Errors: VD_ELOCKED (a disk or the
 * repository in use), VD_EINVAL (a repository of another VM, unless
 * VD_BACKUP_FORCE), the disks' own errors.
 * Errors: also VD_ENOENT (no .vmx), VD_EIO, VD_ENOSPC, VD_ENOMEM.
 * NULL: NULL folder or repo: VD_EINVAL; options and result may be NULL.
 * Since 0.2. */
VD_API int vd_backup_vm (const char *folder, const char *repo,
                         const struct vd_backup_options *options,
                         struct vd_backup_result *result);

struct vd_backup_point {
  const char *name;            /* 20261201T092133Z */
  const char *time;            /* 2026-12-01T09:21:33Z, or NULL */
  unsigned disks;              /* disks in the point */
  unsigned incremental;        /* of which stored as incremental */
  uint64_t bytes_written;
  const char *error;           /* an unreadable manifest: why; else NULL */
  int synced;                  /* 0: made with VD_BACKUP_NO_SYNC (its files
                                  may not have reached the disk).  Since
                                  0.2 */
};
/* Non-zero stops the listing (vd_backup_list then returns 0). */
typedef int (*vd_backup_point_cb) (const struct vd_backup_point *point,
                                   void *payload);
/* The complete points of repo, oldest first.  Strings are valid during
 * the call.
 * Errors: VD_ENOENT (no repository), VD_ENOMEM; an unreadable manifest is
 * not an error (the point's error field says why).
 * NULL: NULL repo or cb: VD_EINVAL.
 * Since 0.2. */
VD_API int vd_backup_list (const char *repo, vd_backup_point_cb cb,
                           void *payload);

/* Re-hash every file of a point (NULL: of every point) against its
 * manifest and read every disk chain through: VD_ECORRUPT names the first
 * file that differs and the byte range.
 * Errors: VD_ECORRUPT, VD_ENOENT (no such point), VD_EINVAL (a bad point
 * name), VD_EIO.
 * NULL: NULL repo: VD_EINVAL; point NULL: every point.
 * Since 0.2. */
VD_API int vd_backup_verify (const char *repo, const char *point);

/* Keep the newest keep points: the oldest are merged into the next ones
 * (commit), so every surviving point reads exactly as before.
 * Errors: VD_EINVAL (keep 0), VD_ELOCKED, VD_ENOENT, VD_EIO, VD_ENOSPC.
 * NULL: NULL repo: VD_EINVAL.
 * Since 0.2. */
VD_API int vd_backup_prune (const char *repo, unsigned keep);

#define VD_RESTORE_KEEP_CBT 0x1u   /* track changes on the restored disks */
#define VD_RESTORE_RDM_KEEP 0x2u   /* restore RDM mapping descriptors whose
                                      mapped device is still there */
#define VD_RESTORE_RDM_DATA 0x4u   /* restore an RDM's saved data (backed
                                      up with VD_BACKUP_RDM_DATA) as a
                                      virtual disk of the RDM's name */
#define VD_RESTORE_FORCE    0x8u   /* vsphere:// destinations: replace
                                      files that are there already */

struct vd_restore_options {
  uint32_t struct_size;        /* sizeof (struct vd_restore_options) */
  uint32_t flags;              /* VD_RESTORE_* */
  enum vd_type type;           /* layout of the restored disks; 0: as the
                                  VM had them */
  const char *at;              /* NULL, or the newest point at or before
                                  this UTC time (YYYY-MM-DDTHH:MM[:SS]) */
  int disk;                    /* -1: every disk; else only disk number N */
};

/* Rebuild the VM folder of a point (NULL and no at: the newest) at dest,
 * which must not exist: the disks converted from their chains (tracking
 * stripped, version 1), the VM's files, the saved .nvram.  RDM disks are
 * left out of the .vmx (the guide's phase one) unless VD_RESTORE_RDM_KEEP;
 * *report (free()) says what to re-add.  dest appears only complete.
 * dest may be vsphere://[USER@]HOST[:PORT]/[DATASTORE] FOLDER[?OPTIONS]
 * (credentials and OPTIONS as vd_vsphere_connect): each disk is uploaded
 * as a thin vmfs flat disk, then the VM's files; existing files are
 * refused unless VD_RESTORE_FORCE, and on a failure what was sent is
 * deleted again (type and disk must be left 0 and -1; RDM disks are
 * VD_ENOTSUP).
 * Errors: VD_EEXIST (dest exists), VD_ENOENT (no such point), VD_ECORRUPT
 * (a damaged manifest), VD_EINVAL, VD_EIO, VD_ENOSPC, VD_ENOMEM.
 * NULL: NULL repo or dest: VD_EINVAL; point, options and report may be
 * NULL.
 * Since 0.2. */
VD_API int vd_restore_vm (const char *repo, const char *point,
                          const char *dest,
                          const struct vd_restore_options *options,
                          char **report);

/* ---- mount: partitions, volumes and FUSE ---------------------------- */
/* Partition tables (MBR with extended/logical partitions, GPT) and file
 * system identification, read through the public read API; and user-space
 * mounts through FUSE (libfuse3): the disk and its partitions as files, or
 * one guest volume through its user-space driver (fuse2fs, ntfs-3g). */

enum vd_table_type {
  VD_TABLE_NONE = 0,       /* no partition table */
  VD_TABLE_MBR = 1,        /* "dos" */
  VD_TABLE_GPT = 2,
};

enum vd_fs_type {
  VD_FS_UNKNOWN = 0,
  VD_FS_EXT2 = 1,
  VD_FS_EXT3 = 2,
  VD_FS_EXT4 = 3,
  VD_FS_NTFS = 4,
  VD_FS_VFAT = 5,          /* FAT12/16/32 */
  VD_FS_XFS = 6,
  VD_FS_SWAP = 7,
};

/* What a volume's first blocks say (the superblock's own fields). */
struct vd_fs_info {
  enum vd_fs_type type;
  char label[400];         /* UTF-8, "" when none */
  char uuid[40];           /* as blkid prints it, "" when none */
};

#define VD_PART_BOOTABLE 0x1u   /* MBR boot flag 0x80 */
#define VD_PART_EXTENDED 0x2u   /* MBR extended container: no volume */
#define VD_PART_LOGICAL  0x4u   /* MBR logical partition (number >= 5) */

struct vd_partition {
  unsigned number;         /* as Linux numbers them: MBR primary and
                              extended 1-4, logical 5...; GPT entry + 1 */
  uint32_t flags;          /* VD_PART_* */
  uint64_t offset;         /* bytes from the start of the disk */
  uint64_t length;         /* bytes */
  uint8_t mbr_type;        /* MBR type byte; 0 for GPT */
  char type_guid[37];      /* GPT type GUID, upper case; "" for MBR */
  char uuid[37];           /* GPT partition GUID, upper case; MBR:
                              "DISKID-NN" as blkid's PARTUUID */
  char name[112];          /* GPT name in UTF-8; "" for MBR */
  uint64_t gpt_attributes;
  struct vd_fs_info fs;    /* the volume's file system */
};

struct vd_partition_table {
  enum vd_table_type type;
  char id[40];             /* GPT disk GUID, or MBR signature "0x%08x" */
  uint64_t disk_size;      /* bytes */
  uint64_t first_lba, last_lba;  /* GPT usable sectors; 0 for MBR */
  unsigned count;          /* entries in parts, in ascending number */
  struct vd_partition *parts;
  struct vd_fs_info whole; /* VD_TABLE_NONE: a file system on the whole
                              disk (type VD_FS_UNKNOWN when none) */
};

/* Read and check the partition table of disk (512-byte sectors) and
 * identify each volume's file system.  A damaged or hostile table
 * (overlapping partitions, a partition past the end, a loop of extended
 * partitions, a GPT whose header and backup are both damaged, an entry
 * array too large) is VD_ECORRUPT with a message naming the problem.
 * A disk with no table gives VD_TABLE_NONE and count 0.  Free *out with
 * vd_partitions_free (NULL accepted).
 * Errors: VD_ECORRUPT, VD_EINVAL, VD_EIO, VD_ENOMEM.
 * NULL: NULL disk or out: VD_EINVAL.
 * Since 0.2. */
VD_API int vd_partitions_read (vd_disk *disk,
                               struct vd_partition_table **out);
VD_API void vd_partitions_free (struct vd_partition_table *table);
/* Identify the file system in length bytes at offset of disk (ext2/3/4,
 * NTFS, FAT, xfs, swap by their magic numbers).  An unknown one is not
 * an error: info->type is VD_FS_UNKNOWN.
 * Errors: VD_EINVAL (range past the end), VD_EIO.
 * NULL: NULL disk or info: VD_EINVAL.
 * Since 0.2. */
VD_API int vd_fs_probe (vd_disk *disk, uint64_t offset, uint64_t length,
                        struct vd_fs_info *info);
/* "ext4", "ntfs", "vfat", ... ("unknown"); "gpt", "dos", "none".
 * Errors: none.
 * NULL: no pointers (unknown values: "unknown").  Both vd_fs_type_name and
 * vd_table_type_name.
 * Since 0.2. */
VD_API const char *vd_fs_type_name (enum vd_fs_type type);
VD_API const char *vd_table_type_name (enum vd_table_type type);

/* A FUSE mount served by threads of this process.  Without volume, the
 * folder shows "disk" (the whole disk, SEEK_DATA/SEEK_HOLE following the
 * allocation map) and "p1", "p2", ... (one file per partition, extended
 * containers left out).  With volume N, the guest file system of
 * partition N is mounted at the folder: a read-only ext2/3/4 volume is
 * served by this process too (libext2fs for the metadata, file data read
 * straight from the disk), when vdisk was built with libext2fs; otherwise
 * (read-write, VD_MOUNT_FUSE2FS, NTFS) its user-space driver (fuse2fs for
 * ext2/3/4, ntfs-3g for NTFS) is started on the partition file of a
 * private mount of the first kind in a hidden folder (under $TMPDIR or
 * /tmp).  The disk stays owned by the caller and must outlive the mount. */
typedef struct vd_mount vd_mount;

#define VD_MOUNT_WRITABLE    0x1u  /* files (or the volume) writable: the
                                      disk must be open read-write */
#define VD_MOUNT_ALLOW_OTHER 0x2u  /* FUSE allow_other */
#define VD_MOUNT_FUSE2FS     0x4u  /* an ext volume through fuse2fs even
                                      when read-only */

struct vd_mount_options {
  uint32_t struct_size;    /* sizeof (struct vd_mount_options) */
  uint32_t flags;          /* VD_MOUNT_* */
  unsigned volume;         /* 0: disk files; N: the volume of partition N */
  unsigned threads;        /* FUSE worker threads kept idle; 0: 10 */
  const char *fsname;      /* source name in /proc/mounts; NULL: "vdisk" */
};
/* Zero every field (0: the defaults) and set struct_size.
 * Errors: none.
 * NULL: NULL is ignored.
 * Since 0.2. */
VD_API void vd_mount_options_init (struct vd_mount_options *o);

/* Mount at dir (an empty folder).  Errors: VD_ENOTSUP without FUSE
 * support (no libfuse3 at build time, no /dev/fuse, no driver for the
 * volume's file system: the message names the type found), VD_EINVAL for
 * a dir that is not an empty folder, a bad volume number, or
 * VD_MOUNT_WRITABLE on a read-only handle; VD_ECORRUPT for a damaged
 * partition table; VD_EIO when the kernel or the driver refuses.
 * NULL: NULL out, disk or dir: VD_EINVAL; opts may be NULL (defaults).
 * vd_mount_options_init fills in the defaults (NULL ignored).
 * Since 0.2. */
VD_API int vd_mount_new (vd_mount **out, vd_disk *disk, const char *dir,
                         const struct vd_mount_options *opts);
/* Block until the folder is unmounted (by vd_mount_unmount from another
 * thread, or `fusermount3 -u DIR` from outside).  0, or negative.
 * Errors: VD_EIO.
 * NULL: NULL mount: VD_EINVAL.
 * Since 0.2. */
VD_API int vd_mount_wait (vd_mount *m);
/* Ask for the unmount (thread-safe, returns once the folder is gone or the
 * request failed: VD_EIO when busy).  force: lazy unmount.
 * Errors: VD_EIO (busy, or the kernel refused).
 * NULL: NULL mount: VD_EINVAL.
 * Since 0.2. */
VD_API int vd_mount_unmount (vd_mount *m, int force);
/* Unmount if still mounted, stop the threads, flush a writable disk and
 * free.  The disk is not closed.  NULL is accepted.
 * Errors: VD_EIO (the unmount or the flush failed).
 * NULL: NULL is accepted.
 * Since 0.2. */
VD_API int vd_mount_close (vd_mount *m);
/* The mount folder; for a volume, the partition file the driver reads
 * (NULL for disk mounts and for volumes served in this process).
 * Errors: none.
 * NULL: NULL mount: NULL (both getters).
 * Since 0.2. */
VD_API const char *vd_mount_get_dir (const vd_mount *m);
VD_API const char *vd_mount_get_volume_file (const vd_mount *m);
/* A disk seen through callbacks (another library's handle, e.g. a
 * VixDiskLib handle): the same mounts and tables as for a vd_disk.  read
 * and write transfer exactly count bytes at offset and return 0 or a
 * negative VD_E*; they may be called from several threads at once.
 * write NULL: read-only; flush may be NULL.  SEEK_DATA/SEEK_HOLE see the
 * whole source as data. */
struct vd_mount_source {
  uint32_t struct_size;    /* sizeof (struct vd_mount_source) */
  uint64_t size;           /* bytes */
  const char *name;        /* for messages (copied) */
  void *ctx;
  int (*read) (void *ctx, void *buf, size_t count, uint64_t offset);
  int (*write) (void *ctx, const void *buf, size_t count, uint64_t offset);
  int (*flush) (void *ctx);
};
/* Mount (as vd_mount_new) or read the partition table (as
 * vd_partitions_read) of a source given by callbacks.
 * Errors: as vd_mount_new and vd_partitions_read.
 * NULL: NULL out, src (or its read), dir: VD_EINVAL; a src->struct_size
 * below sizeof (struct vd_mount_source): VD_EINVAL.  Both
 * vd_mount_new_source and vd_partitions_read_source.
 * Since 0.2. */
VD_API int vd_mount_new_source (vd_mount **out,
                                const struct vd_mount_source *src,
                                const char *dir,
                                const struct vd_mount_options *opts);
VD_API int vd_partitions_read_source (const struct vd_mount_source *src,
                                      struct vd_partition_table **out);
/* ---- vSphere: ESXi and vCenter -------------------------------------- */
/* vdisk talks to ESXi and vCenter through what VMware documents publicly:
 * the vSphere Web Services API (SOAP over HTTPS, urn:vim25) for the
 * session, the inventory and snapshots, and the datastore HTTP file
 * service (https://HOST/folder/PATH?dcPath=DC&dsName=DS, ranged GETs) for
 * the disk files.  VMware's NFC/NBD transport is not used (undocumented).
 * Built when libcurl, libxml2 and OpenSSL are found; otherwise every call
 * gives VD_ENOTSUP.
 *
 * A disk path may be a vSphere URI:
 *   vsphere://USER@HOST[:PORT]/[DATASTORE] FOLDER/DISK.vmdk[?OPTIONS]
 * (a space may be written %20).  It opens read-only through every format
 * driver: the descriptor, its extents and its parents are fetched from
 * the same datastore folder.  OPTIONS (&-separated): dc=DATACENTER (the
 * datacenter path; found through the inventory when absent),
 * thumbprint=AA:BB:... (pin the server certificate's SHA-256 or SHA-1
 * digest instead of checking it against the CAs), cafile=PATH,
 * insecure=1 (no certificate check).  Credentials come from the
 * environment, never the URI: VDISK_VSPHERE_PASSWORD_FILE (a file holding
 * the password) or VDISK_VSPHERE_PASSWORD; VDISK_VSPHERE_USER when the
 * URI has no USER@; VDISK_VSPHERE_THUMBPRINT, VDISK_VSPHERE_CAFILE and
 * VDISK_VSPHERE_INSECURE=1 as the options. */
typedef struct vd_vsphere vd_vsphere;

#define VD_VSPHERE_INSECURE      0x1u  /* no certificate verification */
#define VD_VSPHERE_PASSWORD_FILE 0x2u  /* password_or_file names a file */

/* Log in to the server url: HOST[:PORT], https://HOST[:PORT][/sdk] or a
 * vsphere:// URI, with the options above after '?'.  user NULL: the URI's
 * USER@ or VDISK_VSPHERE_USER.  password_or_file NULL: the environment
 * (VDISK_VSPHERE_PASSWORD_FILE, then VDISK_VSPHERE_PASSWORD); with
 * VD_VSPHERE_PASSWORD_FILE it is a file whose first line is the password.
 * The certificate is verified against the system CAs unless a CA file, a
 * pinned thumbprint or VD_VSPHERE_INSECURE says otherwise; a pinned
 * thumbprint is checked during the TLS handshake, before the password is
 * sent.  Errors: VD_EIO with errnum EACCES for a refused login or
 * certificate, ECONNREFUSED/ETIMEDOUT/ECONNRESET for the network;
 * VD_ECORRUPT for an answer that is not a sane SOAP message; VD_EINVAL
 * for a bad url or no credentials.  The password never appears in an
 * error text.  An expired session is logged in again once, by itself.
 * Errors: as above; VD_ENOTSUP when built without vSphere support.
 * NULL: NULL out or url: VD_EINVAL.
 * Since 0.2. */
VD_API int vd_vsphere_connect (vd_vsphere **out, const char *url,
                               const char *user,
                               const char *password_or_file, uint32_t flags);
/* Log out and free.  Disks opened with vd_disk_open_vsphere keep the
 * connection alive until they are closed.  NULL is ignored.
 * Errors: none.
 * NULL: NULL is ignored.
 * Since 0.2. */
VD_API void vd_vsphere_close (vd_vsphere *s);

#define VD_VSPHERE_ABOUT_API_TYPE    0  /* "HostAgent" (ESXi), "VirtualCenter" */
#define VD_VSPHERE_ABOUT_API_VERSION 1
#define VD_VSPHERE_ABOUT_NAME        2  /* the server's full name */
#define VD_VSPHERE_ABOUT_HOST        3  /* HOST:PORT */
#define VD_VSPHERE_ABOUT_USER        4
/* What the server said about itself (borrowed; NULL when unknown).
 * Errors: none.
 * NULL: NULL session: NULL.
 * Since 0.2. */
VD_API const char *vd_vsphere_about (const vd_vsphere *s, int what);

struct vd_vsphere_disk {
  char *file;          /* "[datastore] folder/disk.vmdk" (newest link) */
  char *datastore;     /* "datastore" */
  char *path;          /* "folder/disk.vmdk" */
  uint64_t capacity;   /* bytes */
  char device[24];     /* "scsi0:0", "ide0:1", "sata0:0", "nvme0:0" */
  int32_t key;         /* the device key (for changed areas) */
  char *change_id;     /* CBT change id, or NULL */
  char *disk_mode;     /* "persistent", ... or NULL */
};
struct vd_vsphere_snapshot {
  char *moref;         /* "snapshot-NN" */
  char *name;
  int32_t id;
  int32_t depth;       /* 0 for a root snapshot */
};
struct vd_vsphere_vm {
  char *name;
  char *moref;         /* "vm-NN" */
  char *power_state;   /* "poweredOn", "poweredOff", "suspended" */
  char *vmx;           /* "[ds] folder/vm.vmx" */
  char *nvram;         /* "[ds] folder/vm.nvram" or NULL */
  size_t n_disks;
  struct vd_vsphere_disk *disks;
  size_t n_snapshots;
  struct vd_vsphere_snapshot *snapshots;  /* tree order */
  char *current_snapshot;                 /* moref or NULL */
};
struct vd_vsphere_datastore {
  char *name;
  char *moref;
  char *dc_path;       /* the datacenter's inventory path, for dcPath= */
  char *type;          /* "VMFS", "NFS", "OTHER", ... or NULL */
  uint64_t capacity, free_space;
};
struct vd_vsphere_inventory {
  size_t n_vms;
  struct vd_vsphere_vm *vms;              /* sorted by name */
  size_t n_datastores;
  struct vd_vsphere_datastore *datastores;
};
/* Every VM (name, moref, power state, .vmx, .nvram, disks with backing
 * file, capacity, device, key, changeId; snapshots) and every datastore
 * with its datacenter, through the PropertyCollector over one
 * ContainerView (one retrieval, paged by the server).  Free with
 * vd_vsphere_inventory_free.
 * Errors: as vd_vsphere_connect; numbers out of range or missing required
 * fields are VD_ECORRUPT.
 * NULL: NULL session or out: VD_EINVAL.  vd_vsphere_inventory_free accepts
 * NULL.
 * Since 0.2. */
VD_API int vd_vsphere_inventory (vd_vsphere *s,
                                 struct vd_vsphere_inventory **out);
VD_API void vd_vsphere_inventory_free (struct vd_vsphere_inventory *inv);

/* Take a snapshot of the VM vm_moref named name (no memory; quiesced when
 * quiesce is non-zero), waiting at most timeout_s seconds for the task;
 * *snapshot gets its moref (malloc'd).  A task that does not finish in
 * time is VD_EIO with errnum ETIMEDOUT (the snapshot, should it appear,
 * is found later by vd_vsphere_cleanup).
 * Errors: as vd_vsphere_connect; VD_EIO for a failed task.
 * NULL: NULL session, vm_moref, name or snapshot: VD_EINVAL.
 * Since 0.2. */
VD_API int vd_vsphere_snapshot_create (vd_vsphere *s, const char *vm_moref,
                                       const char *name, int quiesce,
                                       unsigned timeout_s, char **snapshot);
/* Remove one snapshot (its children stay), waiting for the task.
 * Errors: as vd_vsphere_snapshot_create.
 * NULL: NULL session or snapshot: VD_EINVAL.
 * Since 0.2. */
VD_API int vd_vsphere_snapshot_remove (vd_vsphere *s, const char *snapshot,
                                       unsigned timeout_s);
/* The disks as the snapshot froze them (the files to read for a
 * consistent copy): *out gets a VM record with only moref and disks
 * set.  Free with vd_vsphere_vm_free.
 * Errors: as vd_vsphere_inventory.
 * NULL: NULL session, snapshot or out: VD_EINVAL.  vd_vsphere_vm_free
 * accepts NULL.
 * Since 0.2. */
VD_API int vd_vsphere_snapshot_disks (vd_vsphere *s, const char *snapshot,
                                      struct vd_vsphere_vm **out);
VD_API void vd_vsphere_vm_free (struct vd_vsphere_vm *vm);
/* Remove every snapshot whose name starts with prefix (NULL: "vdisk-",
 * the prefix vdisk's own snapshots carry) on every VM: what a killed run
 * left.  cb (may be NULL) is told each one before it goes.  Returns the
 * number removed or a negative VD_E*. */
typedef void (*vd_vsphere_snapshot_cb) (const char *vm_name,
                                        const char *snapshot_name,
                                        const char *moref, void *payload);
/* Remove the leftover snapshots (above).
 * Errors: as vd_vsphere_snapshot_create.
 * NULL: NULL session: VD_EINVAL; prefix NULL: "vdisk-"; cb may be NULL.
 * Since 0.2. */
VD_API int vd_vsphere_cleanup (vd_vsphere *s, const char *prefix,
                               unsigned timeout_s,
                               vd_vsphere_snapshot_cb cb, void *payload);

/* Open the disk "[datastore] folder/disk.vmdk" on the session, read-only
 * (flags as vd_disk_open; VD_OPEN_READ_ONLY is implied).  dc is the
 * datacenter path (NULL: found through the inventory).  Files are read
 * with ranged GETs through a block cache with read-ahead; a server that
 * ignores Range is refused on the first read (VD_ENOTSUP) rather than
 * made to send whole files.
 * Errors: as vd_vsphere_connect and vd_disk_open; VD_ENOENT for a missing
 * file.
 * NULL: NULL out, session or dspath: VD_EINVAL.
 * Since 0.2. */
VD_API int vd_disk_open_vsphere (vd_disk **out, vd_vsphere *s,
                                 const char *dc, const char *dspath,
                                 uint32_t flags);
/* Changed block tracking: the areas of the disk with device_key of VM
 * vm_moref (as the snapshot froze it; NULL: as it is now) changed since
 * change_id (a disk's changeId from an earlier backup, or "*" for every
 * allocated area), through QueryChangedDiskAreas paged over capacity
 * bytes.  cb gets each area in ascending order (non-zero stops).  Every
 * answer is checked (starts where asked, inside the disk, areas ascending
 * and disjoint): VD_ECORRUPT otherwise.  Returns the number of areas. */
typedef int (*vd_vsphere_area_cb) (uint64_t offset, uint64_t length,
                                   void *payload);
/* The changed areas of a VM disk on the server (above).
 * Errors: VD_ECORRUPT (above), as vd_vsphere_connect.
 * NULL: NULL session, vm_moref, change_id or cb: VD_EINVAL; snapshot NULL:
 * the disk now.
 * Since 0.2. */
VD_API int64_t vd_vsphere_changed_areas (vd_vsphere *s, const char *vm_moref,
                                         const char *snapshot,
                                         int32_t device_key,
                                         uint64_t capacity,
                                         const char *change_id,
                                         vd_vsphere_area_cb cb,
                                         void *payload);
/* Clone the local disk at src_path (any layout or chain) onto the
 * datastore as "[datastore] folder/NAME.vmdk": a vmfs flat disk
 * (descriptor + NAME-flat.vmdk; thin with VD_VSPHERE_UPLOAD_THIN), each
 * file sent with one PUT through the datastore file service, the extent
 * first and the descriptor last.  dc NULL: found through the inventory.
 * An existing NAME.vmdk or NAME-flat.vmdk is refused (VD_EEXIST) unless
 * VD_VSPHERE_UPLOAD_OVERWRITE.  progress (may be NULL) follows the
 * extent's bytes; non-zero cancels (VD_ECANCELED; the partial extent stays
 * on the datastore without a descriptor). */
#define VD_VSPHERE_UPLOAD_OVERWRITE 0x1u
#define VD_VSPHERE_UPLOAD_THIN      0x2u
/* Upload a local disk (above).
 * Errors: VD_EEXIST, VD_ECANCELED, VD_EINVAL, as vd_vsphere_connect, and
 * what opening src_path returns.
 * NULL: NULL session, src_path or dspath: VD_EINVAL; dc and progress may
 * be NULL.
 * Since 0.2. */
VD_API int vd_vsphere_upload (vd_vsphere *s, const char *src_path,
                              const char *dc, const char *dspath,
                              uint32_t flags, vd_progress_cb progress,
                              void *payload);
/* Copy one datastore file ("[datastore] folder/file": a .vmx, an .nvram)
 * to local_path (written to a temporary beside it, renamed when complete)
 * or local_path to the datastore (one PUT).  Either refuses to replace an
 * existing file (VD_EEXIST) unless VD_VSPHERE_UPLOAD_OVERWRITE.  dc NULL:
 * found through the inventory.
 * Errors: VD_EEXIST, VD_ENOENT (no such file), VD_EIO, as
 * vd_vsphere_connect.
 * NULL: NULL session, local_path or dspath: VD_EINVAL; dc may be NULL.
 * Both vd_vsphere_get_file and vd_vsphere_put_file.
 * Since 0.2. */
VD_API int vd_vsphere_get_file (vd_vsphere *s, const char *dc,
                                const char *dspath, const char *local_path,
                                uint32_t flags);
VD_API int vd_vsphere_put_file (vd_vsphere *s, const char *local_path,
                                const char *dc, const char *dspath,
                                uint32_t flags);
/* The size of the datastore file "[datastore] folder/file" (a HEAD-like
 * ranged GET through the datastore file service), or VD_ENOENT when it is
 * not there.  dc NULL: found through the inventory.
 * Errors: VD_ENOENT, VD_EIO, as vd_vsphere_connect.
 * NULL: NULL session or dspath: VD_EINVAL; dc and size may be NULL.
 * Since 0.2. */
VD_API int vd_vsphere_file_size (vd_vsphere *s, const char *dc,
                                 const char *dspath, uint64_t *size);
/* Delete the datastore file (or folder) "[datastore] path" through the
 * FileManager (DeleteDatastoreFile_Task), waiting at most timeout_s
 * seconds (0: 600) for the task.  dc NULL: found through the inventory.
 * Errors: VD_EIO for a failed task (a missing file is the server's
 * FileNotFound/CannotDeleteFile fault), VD_ENOTSUP when the server has no
 * FileManager, as vd_vsphere_connect.
 * NULL: NULL session or dspath: VD_EINVAL; dc may be NULL.
 * Since 0.2. */
VD_API int vd_vsphere_delete_file (vd_vsphere *s, const char *dc,
                                   const char *dspath, unsigned timeout_s);
/* First class disks (FCDs) through the VStorageObjectManager (vCenter's
 * or ESXi's, as the server's service content names it).  Exported by the
 * vd_[a-z]* pattern of lib/libvdisk.syms.
 *
 * vd_vsphere_fcd_list: every FCD of the datastore named datastore (its
 * name or moref; NULL: of every datastore), through ListVStorageObject
 * and RetrieveVStorageObject; *out gets *n_out records (NULL and 0 when
 * there are none), freed with vd_vsphere_fcd_list_free.  vd_vsphere_fcd_get:
 * the one FCD with ID id (datastore NULL: found on any), freed with
 * vd_vsphere_fcd_free.  vd_disk_open_vsphere_fcd: open that FCD's backing
 * disk read-only through the datastore file backend, as
 * vd_disk_open_vsphere.  vd_vsphere_fcd_register: make the existing disk
 * "[datastore] folder/disk.vmdk" an FCD named name (RegisterDisk; dc NULL:
 * found through the inventory); *id gets its new ID (malloc'd).
 * Errors: VD_EINVAL for a NULL session, output, path or name or an ID
 * that is not a short printable string; VD_ENOTSUP when the server has no
 * VStorageObjectManager; VD_ENOENT for an unknown ID or datastore; a SOAP
 * fault (e.g. NotFound, the simulator's answer when the backing file is
 * gone) as VD_EIO naming it; VD_ECORRUPT for an answer without a sane ID,
 * a backing file outside the datastore or a capacity beyond 64 TiB.
 * NULL: a NULL session, output, path or name is VD_EINVAL (above); the
 * free functions ignore NULL.
 * Since 0.2. */
struct vd_vsphere_fcd {
  char *id;              /* the FCD's ID (a UUID) */
  char *name;            /* its name ("" when the server gives none) */
  char *datastore;       /* the datastore's name */
  char *datastore_moref; /* "datastore-NN" */
  char *dc_path;         /* the datacenter path, or NULL */
  char *file;            /* backing "[datastore] fcd/NAME.vmdk" */
  uint64_t capacity;     /* bytes (capacityInMB << 20) */
};
VD_API int vd_vsphere_fcd_list (vd_vsphere *s, const char *datastore,
                                struct vd_vsphere_fcd **out, size_t *n_out);
VD_API void vd_vsphere_fcd_list_free (struct vd_vsphere_fcd *fcds, size_t n);
VD_API int vd_vsphere_fcd_get (vd_vsphere *s, const char *id,
                               const char *datastore,
                               struct vd_vsphere_fcd **out);
VD_API void vd_vsphere_fcd_free (struct vd_vsphere_fcd *fcd);
VD_API int vd_disk_open_vsphere_fcd (vd_disk **out, vd_vsphere *s,
                                     const char *id, const char *datastore,
                                     uint32_t flags);
VD_API int vd_vsphere_fcd_register (vd_vsphere *s, const char *dc,
                                    const char *dspath, const char *name,
                                    char **id);
/* Snapshots of a first class disk on vSphere (the FCD id, on datastore, a
 * name or moref, or NULL: found on any).  vd_vsphere_fcd_snapshots: every
 * snapshot (RetrieveSnapshotInfo) into *out (*n_out records, NULL and 0
 * when there are none), freed with vd_vsphere_fcd_snapshots_free.
 * vd_vsphere_fcd_snapshot_create: take one (VStorageObjectCreate-
 * Snapshot_Task, waiting at most timeout_s seconds; 0: 600); *snapshot_id
 * gets its ID (malloc'd).  vd_vsphere_fcd_snapshot_delete: remove one
 * (DeleteSnapshot_Task).  vd_disk_open_vsphere_fcd_snapshot: open the
 * snapshot's data read-only: RetrieveSnapshotDetails names its backing
 * disk on the datastore, which opens as vd_disk_open_vsphere.  ESXi's
 * manager gets the same calls with its HostVStorageObject prefix.
 * Errors: VD_EINVAL for a NULL session or output or an ID that is not a
 * short printable string; VD_ENOTSUP when the server has no
 * VStorageObjectManager; VD_ENOENT for an unknown FCD; a SOAP fault or a
 * failed task as VD_EIO naming it; VD_ECORRUPT for an answer without sane
 * IDs or a snapshot path outside the FCD's datastore.
 * NULL: a NULL session, output or ID is VD_EINVAL; datastore and
 * description may be NULL; vd_vsphere_fcd_snapshots_free ignores NULL.
 * Since 0.2. */
struct vd_vsphere_fcd_snapshot {
  char *id;                  /* the snapshot's ID */
  char *description;         /* "" when the server gives none */
  char *create_time;         /* xsd:dateTime as the server gave it, or NULL */
  char *backing_object_id;   /* or NULL */
};
VD_API int vd_vsphere_fcd_snapshots (vd_vsphere *s, const char *id,
                                     const char *datastore,
                                     struct vd_vsphere_fcd_snapshot **out,
                                     size_t *n_out);
VD_API void vd_vsphere_fcd_snapshots_free (struct vd_vsphere_fcd_snapshot *v,
                                           size_t n);
VD_API int vd_vsphere_fcd_snapshot_create (vd_vsphere *s, const char *id,
                                           const char *datastore,
                                           const char *description,
                                           unsigned timeout_s,
                                           char **snapshot_id);
VD_API int vd_vsphere_fcd_snapshot_delete (vd_vsphere *s, const char *id,
                                           const char *datastore,
                                           const char *snapshot_id,
                                           unsigned timeout_s);
VD_API int vd_disk_open_vsphere_fcd_snapshot (vd_disk **out, vd_vsphere *s,
                                              const char *id,
                                              const char *datastore,
                                              const char *snapshot_id,
                                              uint32_t flags);
/* ---- fleets: inventories, shards, per-disk results (docs/fleet.md) -- */

/* One disk of a fleet: a line of a manifest (JSON lines). */
struct vd_fleet_disk {
  const char *id;        /* stable: 32 hex digits of SHA-256 over the kind
                            of source, the host and the disk's location */
  const char *uri;       /* the path or NBD URI to open */
  const char *host;      /* the source host: the machine for a folder,
                            "HOST:PORT" or "unix:SOCKET" for a server */
  const char *vm;        /* VM name (displayName / the export's folder),
                            or NULL */
  const char *vmx;       /* the .vmx (folder sources), or NULL */
  const char *device;    /* "scsi0:0" (folder sources), or NULL */
  uint64_t capacity;     /* bytes */
  uint64_t allocated;    /* data bytes by the allocation map */
  unsigned depth;        /* links in the disk's chain */
};

/* Non-zero from the callback stops. */
typedef int (*vd_fleet_disk_cb) (const struct vd_fleet_disk *disk,
                                 void *payload);

/* The disks of one source: a folder of VMs (every disk of every .vmx, as
 * vd_find_vm_disks finds them; VMs without disks skipped) or an NBD URI
 * of a vdisk server (every export but the older links of chains, which
 * the server describes as "parent of CHILD").  Each disk is opened
 * read-only to measure it.  The strings live for the callback only.
 * Errors: VD_EINVAL (not a folder or URI), what opening a disk or the
 * server returns (the walk stops at the first).
 * NULL: NULL source or cb: VD_EINVAL.
 * Since 0.2. */
VD_API int vd_fleet_inventory (const char *source, vd_fleet_disk_cb cb,
                               void *payload);
/* One manifest line for disk (malloc'd, no newline), or NULL (error
 * set).
 * Errors: VD_EINVAL without id or uri, VD_ENOMEM.
 * NULL: NULL disk (or its id or uri): NULL with VD_EINVAL.
 * Since 0.2. */
VD_API char *vd_fleet_disk_to_json (const struct vd_fleet_disk *disk);

/* A loaded manifest. */
typedef struct vd_fleet vd_fleet;
/* Load a manifest (JSON lines; blank lines and lines starting with '#'
 * skipped).  VD_ECORRUPT names the line of a bad entry (not an object, no
 * "id"/"uri", an ID listed twice, negative numbers); VD_EINVAL for a file
 * over 256 MiB.
 * Errors: also VD_ENOENT, VD_EIO (the file cannot be read), VD_ENOMEM.
 * NULL: NULL out or manifest: VD_EINVAL.
 * Since 0.2. */
VD_API int vd_fleet_load (vd_fleet **out, const char *manifest);
/* Number of disks (0 for NULL) and disk i (NULL when out of range).
 * Errors: none.
 * NULL: NULL fleet: 0 and NULL.  Both vd_fleet_count and vd_fleet_get.
 * Since 0.2. */
VD_API size_t vd_fleet_count (const vd_fleet *fleet);
VD_API const struct vd_fleet_disk *vd_fleet_get (const vd_fleet *fleet,
                                                 size_t i);
/* Shard index of count: *members (free()) gets the indexes of its disks,
 * in the order to run them (largest first).  Deterministic: the disks
 * sorted by allocated bytes (largest first, ties by ID) each go to the
 * shard with the fewest bytes so far (ties: the lowest index).  per_host
 * K (0: no limit) keeps each host's disks on at most K shards, so that
 * with one disk at a time per shard no more than K shards read from a
 * host at once.  VD_EINVAL for index >= count or count > 100000.
 * Errors: also VD_ENOMEM.
 * NULL: NULL fleet, members or n: VD_EINVAL.  vd_fleet_free frees a
 * manifest (NULL accepted).
 * Since 0.2. */
VD_API int vd_fleet_shard (const vd_fleet *fleet, unsigned index,
                           unsigned count, unsigned per_host,
                           size_t **members, size_t *n);
VD_API void vd_fleet_free (vd_fleet *fleet);

struct vd_fleet_hit {
  const char *name;      /* signature */
  uint64_t offset, length;
  uint64_t first_sector, last_sector;
};

/* The result of one disk's job. */
struct vd_fleet_result {
  const char *id, *uri, *host;
  const char *job;       /* "scan", "backup" */
  const char *status;    /* "clean", "infected", "done", "failed"; in a
                            report also "missing" (no result yet) */
  const char *error;     /* failed: why */
  const char *detail;    /* e.g. the backup point, or NULL */
  const char *shard;     /* "I/N" that ran it, or NULL */
  const char *version;   /* report: the vdisk version that wrote it */
  const struct vd_fleet_hit *hits;
  size_t n_hits;
  uint64_t bytes_read;
  double seconds;
};

/* Write dir/ID.json: the result with the time and this vdisk's version,
 * through a synced temporary file renamed into place, so a killed worker
 * leaves either the whole document or none.  VD_EINVAL for an ID that is
 * not 1-64 of [A-Za-z0-9_-] or no status; I/O errors name the file.
 * Errors: also VD_ENOMEM, VD_EIO, VD_ENOSPC.
 * NULL: NULL dir or result: VD_EINVAL.
 * Since 0.2. */
VD_API int vd_fleet_result_write (const char *dir,
                                  const struct vd_fleet_result *result);
/* 1 when dir holds a result for id whose status is not "failed" (a
 * re-run skips the disk), 0 when not, VD_EINVAL for a bad ID.
 * Errors: also VD_ENOMEM.
 * NULL: NULL dir or id: VD_EINVAL.
 * Since 0.2. */
VD_API int vd_fleet_result_done (const char *dir, const char *id);

struct vd_fleet_totals {
  uint64_t disks, done, clean, infected, failed, missing, hits, bytes_read;
  double seconds;        /* summed over the disks */
};
typedef int (*vd_fleet_result_cb) (const struct vd_fleet_result *result,
                                   void *payload);
/* Merge the results in dir: with fleet, one entry per manifest disk in
 * manifest order ("missing" when it has no result); without, every result
 * in ID order.  cb (may be NULL; non-zero stops) gets each; *totals the
 * counts; *json (may be NULL; free()) a document {"vdisk_version",
 * "totals", "disks", "hits" (every hit with its disk), "not_done" (missing
 * and failed disks)}.  A result that does not parse counts as failed.
 * Errors: VD_EINVAL, VD_ENOENT (no dir), VD_EIO, VD_ENOMEM.
 * NULL: NULL dir: VD_EINVAL; fleet, cb, totals and json may be NULL.
 * Since 0.2. */
VD_API int vd_fleet_report (const char *dir, const vd_fleet *fleet,
                            vd_fleet_result_cb cb, void *payload,
                            struct vd_fleet_totals *totals, char **json);

/* ---- first class disks (FCDs) --------------------------------------- */
/* A first class disk (FCD) is a disk that lives on its own in a datastore
 * folder, named by a UUID that stays the same through snapshots, reverts
 * and relocation.  One SQLite catalog per datastore (DS/fcd-catalog.db,
 * with a rollback journal) lists the FCDs, their metadata, snapshots and attachments;
 * the disks stay plain VMDK files under DS/fcd/UUID/ (a snapshot freezes
 * the FCD's top link and a new child becomes the writable top).  Every
 * operation that touches files and catalog writes an intent row first and
 * finishes it last; an unfinished one (a crash) is completed or rolled
 * back when the catalog is next opened.  Mutating calls take the
 * datastore's writer lock (DS/fcd-catalog.lock) and the FCD's disk lock.
 * IDs (FCD and snapshot UUIDs, "8-4-4-4-12" lower-case hex) are accepted
 * in full or by a unique prefix: VD_ENOENT for no match, VD_EINVAL for an
 * ambiguous one.  Every path read from the catalog must name a plain file
 * in the FCD's own folder (VD_ECORRUPT otherwise, nothing changed).  NULL
 * store or id is VD_EINVAL.  A store handle is used by one thread at a
 * time (open one per thread).  Since 0.2. */
#define VD_FCD_ID_SIZE 37         /* a UUID and its NUL */
#define VD_FCD_CREATE  0x1u       /* vd_fcd_store_open: make the catalog */
#define VD_FCD_READ_ONLY 0x2u     /* vd_fcd_store_open: only read it */

typedef struct vd_fcd_store vd_fcd_store;

/* Open the catalog of datastore (a folder); with VD_FCD_CREATE it is made
 * when absent.  VD_ENOENT: no catalog; VD_ECORRUPT: not a catalog (a
 * damaged database, an unknown schema).  Unfinished intents are completed
 * or rolled back here when no other writer is active.  With
 * VD_FCD_READ_ONLY the catalog is only read: SQLite opens it read-only,
 * no folder, lock file or schema is made and no intent is recovered (the
 * catalog reads as it is); every mutating call on the handle is VD_EROFS.
 * Nothing is written and no file is made beside the catalog (it keeps a
 * rollback journal, DB-journal, only while a writer commits).  A catalog
 * a killed writer left mid-transaction (its DB-journal still there) is
 * VD_EROFS for a read-only open, until a read-write open rolls the
 * transaction back.  (A catalog left in WAL mode, as vdisk made them
 * before, stays so until a writer opens it alone; a reader of it may make
 * DB-wal and DB-shm, as for any reader of a WAL database.)
 * Errors: also VD_EINVAL (unknown flags, VD_FCD_CREATE with
 * VD_FCD_READ_ONLY), VD_EIO, VD_ENOTSUP (a newer catalog schema),
 * VD_ENOMEM.
 * NULL: NULL out or datastore: VD_EINVAL.
 * Since 0.2. */
VD_API int vd_fcd_store_open (vd_fcd_store **out, const char *datastore,
                              uint32_t flags);
/* Close the catalog and free the handle.
 * Errors: none.
 * NULL: NULL is accepted.
 * Since 0.2. */
VD_API void vd_fcd_store_close (vd_fcd_store *store);

struct vd_fcd_info {
  char id[VD_FCD_ID_SIZE];
  const char *name;
  const char *path;            /* absolute path of the writable top link */
  uint64_t capacity;           /* bytes */
  int64_t created;             /* seconds since the epoch */
  int cbt;                     /* changed block tracking on */
  int relocation_disabled;     /* vd_fcd_set_relocation_disabled */
  unsigned snapshots, attachments;
};
/* Non-zero stops the listing (which then returns 0).  Strings are valid
 * during the call. */
typedef int (*vd_fcd_cb) (const struct vd_fcd_info *info, void *payload);
/* Every FCD of the store, oldest first.
 * Errors: VD_ECORRUPT (a bad catalog row), VD_EIO.
 * NULL: NULL store or cb: VD_EINVAL.
 * Since 0.2. */
VD_API int vd_fcd_list (vd_fcd_store *store, vd_fcd_cb cb, void *payload);
/* One FCD; strings borrow from the store until its next call.
 * Errors: VD_ENOENT, VD_EINVAL (ambiguous prefix), VD_ECORRUPT, VD_EIO.
 * NULL: NULL store, id or info: VD_EINVAL.
 * Since 0.2. */
VD_API int vd_fcd_get_info (vd_fcd_store *store, const char *id,
                            struct vd_fcd_info *info);
/* Whether the len bytes at id have the shape of an FCD or snapshot ID
 * or a prefix of one: 1 to 36 characters of "8-4-4-4-12" hex (either
 * case), dashes exactly at positions 8, 13, 18 and 23.  Only the shape:
 * no catalog is read.  1 when they do, else 0.
 * Errors: none.
 * NULL: NULL id is 0.
 * Since 0.2. */
VD_API int vd_fcd_id_valid (const char *id, size_t len);
/* The full UUID of an FCD (id or unique prefix) into out.
 * Errors: as vd_fcd_get_info.
 * NULL: NULL store, id or out: VD_EINVAL.
 * Since 0.2. */
VD_API int vd_fcd_resolve (vd_fcd_store *store, const char *id,
                           char out[VD_FCD_ID_SIZE]);

/* A new empty FCD of capacity bytes (a multiple of 512) and layout type
 * (0: monolithicSparse); its UUID into id.  Names: 1 to 255 bytes, no
 * control characters.
 * Errors: VD_EINVAL (bad name, capacity or type), VD_ELOCKED, VD_EIO,
 * VD_ENOSPC, what vd_disk_create returns.
 * NULL: NULL store or name: VD_EINVAL.
 * Since 0.2. */
VD_API int vd_fcd_create (vd_fcd_store *store, const char *name,
                          uint64_t capacity, enum vd_type type,
                          char id[VD_FCD_ID_SIZE]);
/* Promote the existing closed base disk at disk (on the datastore's file
 * system) to an FCD: its files move into the FCD's folder (irreversible).
 * VD_EPARENT for a child disk or one a child names; VD_EEXIST for a disk
 * the catalog already holds.
 * Errors: also VD_EINVAL, VD_ELOCKED, VD_EIO, VD_ENOMEM, the open errors
 * of vd_disk_open (VD_ENOENT, VD_ECORRUPT, VD_ELOCKED, VD_EPARENT, ...).
 * NULL: NULL store or disk or name: VD_EINVAL.
 * Since 0.2. */
VD_API int vd_fcd_register (vd_fcd_store *store, const char *disk,
                            const char *name, char id[VD_FCD_ID_SIZE]);
/* Delete an FCD, its snapshots and files.  VD_EPARENT while attached.
 * Errors: also VD_ENOENT, VD_ELOCKED, VD_EIO.
 * NULL: NULL store or id: VD_EINVAL.
 * Since 0.2. */
VD_API int vd_fcd_delete (vd_fcd_store *store, const char *id);
/* Rename an FCD (names as for vd_fcd_create).
 * Errors: VD_EINVAL (bad name), VD_ENOENT, VD_ELOCKED, VD_EIO.
 * NULL: NULL store, id or name: VD_EINVAL.
 * Since 0.2. */
VD_API int vd_fcd_rename (vd_fcd_store *store, const char *id,
                          const char *name);
/* Catalog metadata of an FCD: set (value NULL: remove) a key (1 to 255
 * bytes of [A-Za-z0-9._:-]); list them in key order.
 * Errors: VD_EINVAL (bad key), VD_ENOENT, VD_ELOCKED, VD_EIO.
 * NULL: NULL store, id or key: VD_EINVAL; value NULL removes the key.
 * Since 0.2. */
VD_API int vd_fcd_set_meta (vd_fcd_store *store, const char *id,
                            const char *key, const char *value);
typedef int (*vd_fcd_meta_cb) (const char *key, const char *value,
                               void *payload);
/* List the metadata of an FCD in key order (above).
 * Errors: VD_ENOENT, VD_EIO.
 * NULL: NULL store, id or cb: VD_EINVAL.
 * Since 0.2. */
VD_API int vd_fcd_list_meta (vd_fcd_store *store, const char *id,
                             vd_fcd_meta_cb cb, void *payload);
/* Raise the capacity (vd_disk_grow).  VD_ENOTSUP while it has snapshots.
 * Errors: also VD_ENOENT, VD_ELOCKED, VD_ENOMEM, what vd_disk_grow
 * returns.
 * NULL: NULL store or id: VD_EINVAL.
 * Since 0.2. */
VD_API int vd_fcd_grow (vd_fcd_store *store, const char *id,
                        uint64_t capacity);

struct vd_fcd_snapshot {
  char id[VD_FCD_ID_SIZE];
  char parent[VD_FCD_ID_SIZE]; /* the snapshot before, or "" */
  int64_t created;
  const char *description;
  const char *path;            /* absolute path of the frozen link */
};
typedef int (*vd_fcd_snapshot_cb) (const struct vd_fcd_snapshot *snap,
                                   void *payload);
/* Snapshot an FCD (its UUID into ssid, may be NULL): the top link is
 * frozen and a new child becomes the top.  VD_ELOCKED while written.
 * Errors: also VD_ENOENT, VD_EIO, VD_ENOSPC, VD_ENOMEM.
 * NULL: NULL store or id: VD_EINVAL; description and ssid may be NULL.
 * Since 0.2. */
VD_API int vd_fcd_snapshot (vd_fcd_store *store, const char *id,
                            const char *description,
                            char ssid[VD_FCD_ID_SIZE]);
/* The snapshots of an FCD, oldest first.
 * Errors: VD_ENOENT, VD_EIO, VD_ENOMEM.
 * NULL: NULL store, id or cb: VD_EINVAL.
 * Since 0.2. */
VD_API int vd_fcd_list_snapshots (vd_fcd_store *store, const char *id,
                                  vd_fcd_snapshot_cb cb, void *payload);
/* Remove snapshot ssid; its data is merged so the FCD and every other
 * snapshot read as before.
 * Errors: VD_ENOENT, VD_ELOCKED, VD_EIO, VD_ENOSPC, VD_ENOMEM, what
 * vd_disk_commit returns.
 * NULL: NULL store, id or ssid: VD_EINVAL.
 * Since 0.2. */
VD_API int vd_fcd_delete_snapshot (vd_fcd_store *store, const char *id,
                                   const char *ssid);
/* The FCD reads as at ssid again; every later snapshot is removed (ssid
 * stays).
 * Errors: VD_ENOENT, VD_ELOCKED, VD_EIO.
 * NULL: NULL store, id or ssid: VD_EINVAL.
 * Since 0.2. */
VD_API int vd_fcd_revert (vd_fcd_store *store, const char *id,
                          const char *ssid);
/* A new FCD (own UUID into newid) reading as snapshot ssid of id; the
 * snapshots of id stay.
 * Errors: VD_EINVAL (bad name), VD_ENOENT, VD_ELOCKED, VD_EIO, VD_ENOSPC.
 * NULL: NULL store, id, ssid or name: VD_EINVAL.
 * Since 0.2. */
VD_API int vd_fcd_from_snapshot (vd_fcd_store *store, const char *id,
                                 const char *ssid, const char *name,
                                 char newid[VD_FCD_ID_SIZE]);
/* Open an FCD (ssid NULL or "": its top, with flags) or one of its
 * snapshots (always read-only).  id may be "ID@SSID" with ssid NULL.
 * Errors: VD_ENOENT, VD_EINVAL, the open errors of vd_disk_open
 * (VD_ENOENT, VD_ECORRUPT, VD_ELOCKED, VD_EPARENT, ...).
 * NULL: NULL out, store or id: VD_EINVAL; ssid may be NULL.
 * Since 0.2. */
VD_API int vd_fcd_open (vd_disk **out, vd_fcd_store *store, const char *id,
                        const char *ssid, uint32_t flags);

#define VD_FCD_PERSISTENT 0
#define VD_FCD_INDEPENDENT_NONPERSISTENT 1
/* Add the FCD to the .vmx of the VM in vm_folder (exactly one .vmx) on
 * the first free scsi0 unit, or remove it.  CBT rules: attaching an FCD
 * without tracking to a VM with ctkEnabled = "TRUE" turns tracking on
 * for the FCD (detach leaves it on); an FCD with tracking is refused
 * (VD_EINVAL) by a VM without unless mode is
 * VD_FCD_INDEPENDENT_NONPERSISTENT.  An FCD may be attached to several
 * VMs; VD_EEXIST when already attached to this one.
 * Errors: also VD_EINVAL (bad mode, not exactly one .vmx), VD_ENOENT,
 * VD_ELOCKED, VD_EIO.  vd_fcd_detach: VD_ENOENT when not attached to that
 * VM.
 * NULL: NULL store, id or vm_folder: VD_EINVAL (both calls).
 * Since 0.2. */
VD_API int vd_fcd_attach (vd_fcd_store *store, const char *id,
                          const char *vm_folder, int mode);
VD_API int vd_fcd_detach (vd_fcd_store *store, const char *id,
                          const char *vm_folder);
struct vd_fcd_attachment {
  const char *vmx;             /* absolute path */
  const char *device;          /* "scsi0:1" */
  const char *mode;            /* "persistent", "independent_nonpersistent" */
};
typedef int (*vd_fcd_attachment_cb) (const struct vd_fcd_attachment *a,
                                     void *payload);
/* The VMs an FCD is attached to.
 * Errors: VD_ENOENT, VD_EIO.
 * NULL: NULL store, id or cb: VD_EINVAL.
 * Since 0.2. */
VD_API int vd_fcd_list_attachments (vd_fcd_store *store, const char *id,
                                    vd_fcd_attachment_cb cb, void *payload);
/* Move an FCD (files, snapshots, metadata, attachments) into the catalog
 * of the datastore folder dest (made if absent), keeping its UUID.
 * VD_ELOCKED while relocation is disabled.
 * Errors: also VD_EEXIST (the UUID is in dest's catalog), VD_ENOENT,
 * VD_EIO, VD_ENOSPC, VD_ENOMEM.
 * NULL: NULL store, id or dest: VD_EINVAL.
 * Since 0.2. */
VD_API int vd_fcd_relocate (vd_fcd_store *store, const char *id,
                            const char *dest);
/* Mark (1) or clear (0) "relocation disabled" for the FCD on every VM it
 * is attached to (the VixDiskLib layer's PrepareForAccess/EndAccess).
 * Errors: VD_ENOENT, VD_ELOCKED, VD_EIO.
 * NULL: NULL store or id: VD_EINVAL.
 * Since 0.2. */
VD_API int vd_fcd_set_relocation_disabled (vd_fcd_store *store,
                                           const char *id, int disabled);
/* Files and folders under DS/fcd that no catalog entry holds (left by a
 * crash or by hand), each given to cb (may be NULL); remove: delete them.
 * Returns the number found. */
typedef int (*vd_fcd_orphan_cb) (const char *path, void *payload);
/* Find (and with remove, delete) the orphans (above).
 * Errors: VD_ELOCKED, VD_EIO, VD_ENOMEM.
 * NULL: NULL store: VD_EINVAL; cb may be NULL.
 * Since 0.2. */
VD_API int vd_fcd_reconcile (vd_fcd_store *store, int remove,
                             vd_fcd_orphan_cb cb, void *payload);

#ifdef __cplusplus
}
#endif

#endif /* VDISK_VDISK_H */
