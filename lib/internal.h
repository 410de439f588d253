/* libvdisk internals: shared by lib/ only, never installed. */
#ifndef VDISK_INTERNAL_H
#define VDISK_INTERNAL_H

#define VD_BUILDING_LIBRARY 1
#include "base/base.h"
#include "io/io.h"

#include "formats/formats.h"

/* ---- disks, links, extents -------------------------------------------- */

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

/* core/open.c: close one link (its extents, descriptor, tracking). */
void vd__link_close (struct vd_link *l);
/* core/open.c: open a disk whose top descriptor (or extent) is io, named
 * io->name; io is the disk's from now on, even on error. */
int vd__disk_open_io (vd_disk **out, struct vd_io *io, uint32_t flags);

/* URI schemes a higher tier serves (lib/vsphere/open.c: vsphere://).
 * vd_disk_open finds the opener of a path in a const table the linker
 * gathers from every object that declares an entry with VD_URI_SCHEME:
 * core names no symbol of the tier that serves the scheme (check-layers
 * sees no edge up) and the library keeps no registration state.  open
 * gives the io of the top file, named as its extents and parents are
 * found from (vd__io_https_sibling, vd__io_https_parent). */
struct vd_uri_scheme {
  const char *prefix;        /* "vsphere://" */
  int (*open) (struct vd_io **out, const char *uri, int rw);
};
#define VD_URI_SCHEME(name)                                             \
  static const struct vd_uri_scheme vd__uri_scheme_##name               \
  __attribute__ ((used, section ("vd_uri_schemes"),                      \
                  aligned (sizeof (void *))))
/* core/disk.c: 0, or the reason d takes no write (read-only, an earlier
 * failure, a child made from it). */
int vd__disk_writable (vd_disk *d);
/* VD_EINVAL (named "what") unless [off, off+count) is within the disk
 * (64-bit: a count is never truncated to size_t first). */
int vd__disk_check_range (const vd_disk *d, uint64_t count, uint64_t off,
                          const char *what);
/* ops/child.c: the name to write in parentFileNameHint for a parent at
 * parent_path, seen from a child in child_dir (malloc'd; NULL with the
 * error set). */
char *vd__parent_hint (const char *child_dir, const char *parent_path);

/* ops/commit.c: the CID an interrupted commit gave the ancestor. */
#define VD_COMMIT_KEY "ddb.vdisk.commitCID"
/* ---- siblings: the disks beside a disk (core/siblings.c) ----------------- */
/* Refuse a read-write open of l when a disk beside it names it as its
 * parent with a matching CID. */
int vd__check_no_child (struct vd_link *l);
/* At a read-write open: vd__check_no_child (l), then vd__refuse_shared
 * (l, 0, "writing to it", ...), from one listing of the folder. */
int vd__check_rw_open (struct vd_link *l);
/* 1 when a VMDK beside l names l as its parent (with match_cid, only one
 * whose parentCID equals l's CID); *child is then its path (free it). */
int vd__find_child (struct vd_link *l, int match_cid, char **child);
/* Do two paths name the same file (device and inode)? */
int vd__same_path (const char *a, const char *b);

/* VD_EPARENT when a VMDK in l's folder names l as its parent ("what"
 * names the refused action: "renaming", "deleting", "growing"). */
int vd__refuse_children (struct vd_link *l, const char *what);
/* VD_EINVAL when path is another name (a symbolic link, a second hard
 * link of a text descriptor) of a disk that moving its files would
 * break. */
int vd__refuse_alias (struct vd_link *l, const char *path);

/* core/guard.c: the writer's lock on every file of a link, held over a
 * whole operation (VD_ELOCKED when another writer has one; VD_ENOTSUP for
 * a disk that is not local files). */
struct vd_guard {
  struct vd_io *io[VD_MAX_EXTENTS + 1];
  size_t n;
};
int vd__guard_link (struct vd_guard *g, struct vd_link *l, int trusted);
void vd__guard_release (struct vd_guard *g);

/* Who uses a file: one rule for every command that writes, renames or
 * removes files.
 * A file is known by device and inode, so a hard link is the same file. */
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
/* ---- block-status runs (core/map.c) ----------------------------------
 * The one collector of allocation-map runs: the copying and scanning
 * operations take their runs from here, merged (one status a run, the
 * next run of another status or not adjacent). */
struct vd_run {
  uint64_t off, len;
  uint32_t status;          /* VD_STATUS_* */
};
struct vd_runs {
  struct vd_run *v;
  size_t n, cap;
};
/* want: a mask of the statuses to keep */
#define VD_RUNS_DATA (1u << VD_STATUS_DATA)
#define VD_RUNS_ZERO (1u << VD_STATUS_ZERO)
#define VD_RUNS_HOLE (1u << VD_STATUS_HOLE)
/* Fill rs (emptied first, grown as needed) with the runs of [off,
 * off+len) whose status is in want: of disk d through its chain, or, with
 * d NULL, of link l alone (holes stay holes).  Sets the message. */
int vd__runs_collect (vd_disk *d, struct vd_link *l, uint64_t off,
                      uint64_t len, unsigned want, struct vd_runs *rs);
void vd__runs_free (struct vd_runs *rs);
/* The runs of [off, off+len) window by window (window bytes at a time,
 * 0: one window), so a long disk needs only one window's list. */
struct vd_run_iter {
  vd_disk *disk;
  struct vd_link *link;
  unsigned want;
  uint64_t pos, end, window;
  uint64_t window_end;      /* after VD_RUN_WINDOW: where that window ended */
  struct vd_runs rs;
  size_t i;
  int loaded;
};
#define VD_RUN_NEXT 1       /* *run is the next run */
#define VD_RUN_WINDOW 2     /* a window's runs were all given */
void vd__run_iter_init (struct vd_run_iter *it, vd_disk *d,
                        struct vd_link *l, uint64_t off, uint64_t len,
                        uint64_t window, unsigned want);
/* VD_RUN_NEXT, VD_RUN_WINDOW, 0 at the end, or an error (message set). */
int vd__run_iter_next (struct vd_run_iter *it, struct vd_run *run);
void vd__run_iter_free (struct vd_run_iter *it);
/* Set the CID of l (and count it as this open's renewal). */
int vd__link_set_cid (struct vd_link *l, uint32_t cid);

/* The extent of l holding virtual byte off (off < l->size). */
struct vd_extent *vd__find_extent (struct vd_link *l, uint64_t off);
/* Read the content the link's parent chain gives for [off, off+len) of
 * virtual disk (zeros without a parent).  Used for copy-on-write. */
int vd__link_read_below (struct vd_link *link, void *buf, size_t len,
                         uint64_t off);
/* The same for an extent's link: what the core puts in e->below. */
int vd__extent_read_below (struct vd_extent *e, void *buf, size_t len,
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
/* Copy the caller's create parameters into out: an older, smaller struct
 * (struct_size) gets the defaults for the fields it lacks; VD_EINVAL when
 * smaller than the oldest. */
int vd__create_params_take (struct vd_create_params *out,
                            const struct vd_create_params *in);
/* The descriptor text of a new disk (descriptor version 1). */
char *vd__make_descriptor (const struct vd_create_params *p,
                           const char *create_type, const char *extents,
                           uint32_t cid, const char *parent_hint,
                           uint32_t parent_cid);


/* ---- scan block (lib/scan.c, lib/scan-clamav.c) ------------------------ */
/* The longest overlap (match) a scanner may ask for. */
#define VD_SCAN_MAX_OVERLAP (16u << 20)
/* A scanner with a destructor for its state (the libclamav backend). */
int vd__scanner_make (vd_scanner **out, vd_scan_fn fn, void *state,
                      size_t overlap, void (*free_state) (void *),
                      unsigned signatures);
/* ---- end of the scan block -------------------------------------------- */

#endif /* VDISK_INTERNAL_H */