/* First class disks (services tier): internals shared by the lib/fcd sources.
 * Built on the public API of <vdisk/vdisk.h> plus the error helpers of
 * lib/internal.h (VD_ENTER, vd__error, vd__asprintf).
 *
 * Layout of a datastore folder DS:
 *   DS/fcd-catalog.db (+ -journal)     the SQLite catalog
 *   DS/fcd-catalog.lock                one writer at a time (flock)
 *   DS/fcd/UUID/                       one folder per FCD: its chain
 *     fcd.vmdk, fcd-000001.vmdk, ...   the links (plain VMDK files)
 * Every path in the catalog is relative to DS and must be
 * "fcd/UUID/NAME" with NAME a plain file name: anything else is refused.
 */
#ifndef VDISK_FCD_H
#define VDISK_FCD_H

#include "internal.h"

#include <sqlite3.h>
#include <stdint.h>

#define FCD_CATALOG "fcd-catalog.db"
#define FCD_LOCK "fcd-catalog.lock"
#define FCD_DIR "fcd"
#define FCD_BASE "fcd.vmdk"
#define FCD_SCHEMA_VERSION 1
#define FCD_NAME_MAX 255

struct vd_fcd_store {
  char *ds;          /* realpath of the datastore folder */
  sqlite3 *db;
  int lock_fd;       /* FCD_LOCK, open */
  int locked;        /* depth of the exclusive lock */
  int read_only;     /* VD_FCD_READ_ONLY: no lock, no write, no recovery */
  long kill_at;      /* VDISK_FCD_KILL_AT: SIGKILL at that checkpoint */
  long ck;           /* checkpoints passed */
  /* strings handed out by vd_fcd_get_info (valid until the next call) */
  char *info_name, *info_path;
};

struct fcd_row {
  char uuid[VD_FCD_ID_SIZE];
  char *name;
  char *path;        /* top link, relative to ds */
  uint64_t capacity;
  int64_t created;
  int cbt;
  int reloc;
  int64_t next_link;
};

struct snap_row {
  char ssid[VD_FCD_ID_SIZE];
  char parent[VD_FCD_ID_SIZE];
  int64_t created;
  char *desc;
  char *path;        /* the frozen link, relative to ds */
  int64_t seq;
};

struct att_row {
  char *vmx;         /* absolute path of the .vmx */
  char *device;      /* scsi0:1 */
  char *mode;        /* persistent | independent_nonpersistent */
};

/* catalog.c */
int fcd_sql (struct vd_fcd_store *s, const char *sql, const char *types,
             ...);
int fcd_prepare (struct vd_fcd_store *s, sqlite3_stmt **st, const char *sql,
                 const char *types, ...);
int fcd_sql_error (struct vd_fcd_store *s, int rc, const char *what);
int fcd_begin (struct vd_fcd_store *s);
int fcd_commit (struct vd_fcd_store *s);
void fcd_rollback (struct vd_fcd_store *s);
int fcd_lock (struct vd_fcd_store *s, int wait);
void fcd_unlock (struct vd_fcd_store *s);
void fcd_checkpoint (struct vd_fcd_store *s);
int fcd_uuid_ok (const char *id);
void fcd_new_uuid (char out[VD_FCD_ID_SIZE]);
int fcd_plain_name_ok (const char *name);
int fcd_rel_ok (struct vd_fcd_store *s, const char *uuid, const char *rel);
int fcd_folder_ok (struct vd_fcd_store *s, const char *uuid);
char *fcd_abs (struct vd_fcd_store *s, const char *rel);
char *fcd_folder (struct vd_fcd_store *s, const char *uuid);
int fcd_resolve_id (struct vd_fcd_store *s, const char *id,
                    char out[VD_FCD_ID_SIZE]);
int fcd_load (struct vd_fcd_store *s, const char *uuid, struct fcd_row *r);
void fcd_row_free (struct fcd_row *r);
int fcd_load_snaps (struct vd_fcd_store *s, const char *uuid,
                    struct snap_row **out, size_t *n);
void fcd_snaps_free (struct snap_row *v, size_t n);
int fcd_load_atts (struct vd_fcd_store *s, const char *uuid,
                   struct att_row **out, size_t *n);
void fcd_atts_free (struct att_row *v, size_t n);
int fcd_find_snap (struct snap_row *v, size_t n, const char *ssid,
                   size_t *idx);
int64_t fcd_now (void);
int fcd_rm_folder (const char *dir);
int fcd_name_ok (const char *name);

int fcd_room (void *vp, size_t *cap, size_t n, size_t elem, size_t first,
              const char *what);

/* The first error wins: keep it past the cleanup calls. */
#define KEEP(r, expr) do { int r_ = (expr); if ((r) == 0) (r) = r_; } while (0)

/* common.c: what the operations share.
 *
 * An intent row is one operation's promise: written first (a transaction
 * of its own), then file work that can be repeated, then one transaction
 * that finishes the catalog change and removes the intent. */
struct intent {
  int64_t id;
  char op[16];
  char uuid[VD_FCD_ID_SIZE];
  char ssid[VD_FCD_ID_SIZE];
  char *arg, *arg2;
  int step;
};
void fcd_intent_free (struct intent *in);
/* The intent row (and the statement extra with uuid bound, when not
 * NULL) in one transaction; sets in->id. */
int fcd_intent_begin (struct vd_fcd_store *s, struct intent *in,
                      const char *extra, const char *uuid);
int fcd_intent_step (struct vd_fcd_store *s, struct intent *in, int step);
int fcd_intent_done (struct vd_fcd_store *s, struct intent *in);
/* Ends the open transaction: commit when r is 0, else roll back and
 * return r. */
int fcd_end (struct vd_fcd_store *s, int r);
/* "fcd/UUID/fcd-00000N.vmdk" and "fcd/UUID/fcd.vmdk" (NULL: no memory) */
char *fcd_link_rel (const char *uuid, int64_t n);
char *fcd_base_rel (const char *uuid);
const char *fcd_base_name (const char *path);
/* Make the folder of a new FCD uuid; *rel and *abs: its base link
 * (freed by the caller either way). */
int fcd_new_folder (struct vd_fcd_store *s, const char *uuid, char **rel,
                    char **abs);
/* Open rel (relative to the datastore, checked by fcd_rel_ok) as a disk;
 * never follows links out of the FCD's folder (no VD_OPEN_TRUSTED). */
int fcd_open_rel (vd_disk **d, struct vd_fcd_store *s, const char *rel,
                  uint32_t flags);
/* The FCD's disk lock: nobody else writes the link rel now. */
int fcd_check_no_writer (struct vd_fcd_store *s, const char *rel);
/* Is changed block tracking on in the link rel?  (The disk is the truth:
 * tracking may be turned on by hand.) */
int fcd_top_cbt (struct vd_fcd_store *s, const char *rel, int *on);
/* The row of id (in full or a unique prefix). */
int fcd_load_id (struct vd_fcd_store *s, const char *id, struct fcd_row *row);
/* Point every .vmx the FCD uuid of s is attached to at the link rel of
 * the store at (s itself, or a relocation's destination). */
int fcd_retarget (struct vd_fcd_store *s, struct vd_fcd_store *at,
                  const char *uuid, const char *rel);
/* Does the link new_rel open, and is it a child of parent_rel? */
int fcd_child_of (struct vd_fcd_store *s, const char *new_rel,
                  const char *parent_rel);
int fcd_insert (struct vd_fcd_store *s, const char *uuid, const char *name,
                const char *rel, uint64_t cap, int cbt);
/* A new FCD named name: a new UUID in in->uuid, the intent in (op and
 * args filled in by the caller), the FCD's folder, its base link made by
 * make (which sets the capacity), the catalog row (with the metadata of
 * the FCD meta_from, when not NULL).  A failure before the row is
 * written rolls back; id (may be NULL) gets the new UUID. */
typedef int (*fcd_make_fn) (const char *path, void *ctx, uint64_t *cap);
int fcd_make_new (struct vd_fcd_store *s, struct intent *in,
                  const char *name, fcd_make_fn make, void *ctx,
                  const char *meta_from, char id[VD_FCD_ID_SIZE]);
/* The intent in (op, ssid and arg2 filled in by the caller; uuid and arg,
 * the new link, set here) and a new top link for the FCD row, a child of
 * parent_rel (the top itself: snapshot; a snapshot's link: revert), made
 * while the FCD's disk lock is held.  A failure after the intent rolls
 * back (fcd_undo_new_top). */
int fcd_new_top (struct vd_fcd_store *s, struct fcd_row *row,
                 struct intent *in, const char *parent_rel);
/* An FCD (id in full or by a prefix) with its snapshots, and the index k
 * of the snapshot ssid among them. */
struct fcd_at {
  struct fcd_row row;
  int have_row;
  struct snap_row *sn;
  size_t n, k;
};
int fcd_load_at (struct vd_fcd_store *s, const char *id, const char *ssid,
                 struct fcd_at *a);
void fcd_at_free (struct fcd_at *a);
/* Roll back an FCD that was being made (create, register, from-snapshot):
 * its folder goes, then the intent. */
int fcd_undo_new (struct vd_fcd_store *s, struct intent *in);
/* A new top link that never made it into the catalog: the .vmx entries
 * point at the old top again, the new files go, then the intent. */
int fcd_undo_new_top (struct vd_fcd_store *s, struct intent *in);

/* recover.c */
struct fcd_names {
  char **v;
  size_t n, cap;
};
int fcd_names_add (struct fcd_names *ns, const char *name);
void fcd_names_free (struct fcd_names *ns);
int fcd_recover (struct vd_fcd_store *s);
/* The files of uuid's folder that no link uses: counted, given to cb,
 * removed when remove is set. */
int fcd_gc (struct vd_fcd_store *s, const char *uuid, int remove,
            vd_fcd_orphan_cb cb, void *payload, unsigned *count);
/* What a killed library call leaves in the FCD folder (a work folder of
 * vd_disk_create, a copy of vd_disk_grow) goes once the intent is done. */
int fcd_sweep (struct vd_fcd_store *s, const char *uuid);
/* fcd_sweep, then the intent goes. */
int fcd_gc_done (struct vd_fcd_store *s, struct intent *in);

/* What fcd_recover calls for an unfinished intent of each kind. */
int fcd_recover_register (struct vd_fcd_store *s, struct intent *in);
int fcd_do_delete (struct vd_fcd_store *s, struct intent *in);
int fcd_recover_grow (struct vd_fcd_store *s, struct intent *in);
int fcd_recover_snapshot (struct vd_fcd_store *s, struct intent *in);
int fcd_do_snapdel (struct vd_fcd_store *s, struct intent *in);
int fcd_recover_revert (struct vd_fcd_store *s, struct intent *in);
int fcd_recover_relocate (struct vd_fcd_store *s, struct intent *in);
int fcd_recover_attach (struct vd_fcd_store *s, struct intent *in);

/* vmx.c: the .vmx of a VM folder; edits are written whole (temp file,
 * fsync, rename) */
struct vmx;
int vmx_load (struct vmx **out, const char *vmx_path);
void vmx_free (struct vmx *v);
const char *vmx_get (struct vmx *v, const char *key);
int vmx_set (struct vmx *v, const char *key, const char *value);
int vmx_save (struct vmx *v);
int vmx_find (const char *folder, char **vmx_path);
/* The one rule for what an attachment names (catalog rows, attach and
 * detach intents): fcd_vmx_path_ok, an absolute path ending ".vmx"
 * without "/../"; fcd_device_ok, a SCSI device "scsiC:U" as VMware
 * numbers them, controller C 0-3 and unit U 0-15 except 7 (the
 * controller's own), plain decimal, nothing after it.  vdisk attaches on
 * scsi0 only and accepts no ide, sata or nvme device. */
int fcd_vmx_path_ok (const char *vmx_path);
int fcd_device_ok (const char *device);
/* Point device's fileName at path when the entry names FCD uuid's
 * folder; a missing .vmx is no error. */
int fcd_vmx_retarget (const char *vmx_path, const char *device,
                      const char *path, const char *uuid);

#endif
