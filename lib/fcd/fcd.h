/* First class disks (services tier): internals shared by the lib/fcd sources.
 * Built on the public API of <vdisk/vdisk.h> plus the error helpers of
 * lib/internal.h (VD_ENTER, vd_error, vd__asprintf).
 *
 * Layout of a datastore folder DS:
 *   DS/fcd-catalog.db (+ -wal, -shm)   the SQLite catalog
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

/* ops.c */
int fcd_recover (struct vd_fcd_store *s);
int fcd_gc (struct vd_fcd_store *s, const char *uuid, int remove,
            vd_fcd_orphan_cb cb, void *payload, unsigned *count);

/* vmx.c: the .vmx of a VM folder; edits are written whole (temp file,
 * fsync, rename) */
struct vmx;
int vmx_load (struct vmx **out, const char *vmx_path);
void vmx_free (struct vmx *v);
const char *vmx_get (struct vmx *v, const char *key);
int vmx_set (struct vmx *v, const char *key, const char *value);
int vmx_save (struct vmx *v);
int vmx_find (const char *folder, char **vmx_path);
/* Point device's fileName at path when the entry names FCD uuid's
 * folder; a missing .vmx is no error. */
int fcd_vmx_retarget (const char *vmx_path, const char *device,
                      const char *path, const char *uuid);

#endif
