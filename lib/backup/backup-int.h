/* Private to lib/backup: what repo.c, backup.c, verify.c, prune.c and
 * restore.c share.  Not part of the public API. */
#ifndef VD_BACKUP_INT_H
#define VD_BACKUP_INT_H

#include "internal.h"

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#define COPY_CHUNK (4u << 20)
#define ZERO_BLOCK (64u << 10)   /* zero detection of a full copy */
#define MANIFEST_MAX (64u << 20)   /* bytes of a manifest we will parse */
#define HASH_CHUNK_MIN (1u << 20)
#define HASH_CHUNKS_MAX 4096u
#define HASH_READ (4u << 20)     /* read size of hashing */
#define HASH_LEAF (32u << 10)    /* leaves of a piece (under libipsec-mb's
                                    64 KiB limit on one message) */
#define MAX_DISKS 256
#define MAX_POINTS 100000

struct vm_disk {
  char device[32];          /* scsi0:0 */
  char key[32];             /* scsi0-0: file-name safe */
  char *path;               /* as the .vmx resolves it */
  char *name;               /* base name */
  int rdm;
  vd_disk *d;               /* open for writing while the backup runs */
};

struct vm {
  char *vmx;                /* path of the one .vmx */
  char *display;
  struct vm_disk disks[MAX_DISKS];
  unsigned n;
  int overflow;
};

struct copy {
  vd_disk *src, *dst;
  uint8_t *buf;
  uint64_t read, written;
  vd_progress_cb progress;
  void *payload;
  uint64_t done, total;
  int r;
  int skip_zero;            /* a full point: blocks of zeros stay holes */
  int wb_fd;                /* the new file, to start its writeback early */
  uint64_t unflushed;       /* bytes written since the last writeback start */
  struct vd__bk_hasher *hasher;   /* hashing the new file beside the copy */
  uint64_t grain, next_off; /* its grain (bytes); where the next write may go */
  uint64_t unadvanced;       /* bytes written since the hasher was told */
};

/* hash.c: a disk file hashed in pieces by worker threads (beside the
 * copy, or whole) */
struct vd__bk_hasher;
uint64_t vd__bk_chunk_size (uint64_t max_size);
int vd__bk_chunks_check (const char *path, uint64_t cs, uint64_t size);
struct vd__bk_hasher *vd__bk_hasher_early (const char *path,
                                           uint64_t capacity, uint64_t *grain);
void vd__bk_hasher_advance (struct vd__bk_hasher *h, uint64_t frontier);
void vd__bk_hasher_redo (struct vd__bk_hasher *h);
int vd__bk_hasher_finish (struct vd__bk_hasher *h, char whole[65],
                          json_object *chunks, uint64_t *chunk_size,
                          uint64_t *size);
void vd__bk_hasher_free (struct vd__bk_hasher *h);
int vd__bk_hash_chunks (const char *path, uint64_t cs, int tree, char whole[65],
                        json_object *chunks, uint64_t *chunk_size,
                        uint64_t *size);

/* point.c: one point being built */
struct vd__bk_point {
  const char *repo;
  int lk;                   /* the repository lock */
  char **points;            /* the complete points before this one */
  size_t np;
  json_object *prev;        /* the newest point's manifest (incrementals) */
  const char *prev_point;   /* its name, or NULL */
  char *point, *work, *files_dir, *final;
  char iso[32];
  json_object *m, *files, *disks;   /* the manifest being built */
  int done;
};
int vd__bk_point_begin (struct vd__bk_point *pb, const char *repo,
                        const char *vmx_name, const char *display,
                        uint32_t flags);
int vd__bk_point_commit (struct vd__bk_point *pb,
                         const struct vd_backup_options *o,
                         struct vd_backup_result *res);
void vd__bk_point_end (struct vd__bk_point *pb);

/* source-vsphere.c: vsphere://USER@HOST/VM as the source */
int vd__bk_backup_vsphere (const char *uri, const char *repo,
                           const struct vd_backup_options *o,
                           struct vd_backup_result *res);

/* restore-vsphere.c: a verified point (its manifest m) restored into
 * vsphere://USER@HOST/[DS] FOLDER */
int vd__bk_restore_vsphere (const char *repo, const char *pick,
                            json_object *m, const char *dest,
                            const struct vd_restore_options *o,
                            char **report);

/* repo.c */
int vd__bk_plain_name (const char *s);
int vd__bk_is_point_name (const char *s);
int vd__bk_real_dir (const char *dir, const char *name);
int vd__bk_chain_inside (const char *repo, vd_disk *d);
int vd__bk_file_inside (const char *repo, const char *path);
int vd__bk_copy_file (const char *from, const char *to, char hex[65],
                      uint64_t *bytes);
int vd__bk_hash_file (const char *path, char whole[65], json_object *chunks,
                      uint64_t *chunk_size, uint64_t *size);
json_object *vd__bk_file_entry (const char *name, const char *path, int *err);
/* vd__bk_copy_file of a VM file, and its manifest entry (as
 * vd__bk_file_entry's, named name) from the hashes of the copy's one
 * read: *fe, or NULL with the error returned. */
int vd__bk_copy_file_entry (const char *from, const char *to, const char *name,
                            uint64_t *bytes, json_object **fe);
/* A chunk_crc64 value: the CRC-64 (ECMA, reflected) as 16 hex digits. */
void vd__bk_crc_hex (uint64_t crc, char hex[17]);
json_object *vd__bk_disk_file_entry (const char *name, const char *path,
                                     struct vd__bk_hasher *h, int *err);
json_object *vd__bk_read_json (const char *path);
int vd__bk_write_json (const char *path, json_object *o, int durable);
const char *vd__bk_jstr (json_object *o, const char *key);
int64_t vd__bk_jint (json_object *o, const char *key, int64_t dflt);
json_object *vd__bk_jarr (json_object *o, const char *key);
char **vd__bk_list_points (const char *repo, size_t *count);
void vd__bk_strv_free (char **v);
json_object *vd__bk_load_manifest (const char *repo, const char *point);
char *vd__bk_disk_file_of (const char *repo, json_object *de);
char *vd__bk_disk_path (const char *repo, const char *file);
char *vd__bk_now_point (const char *repo, char iso[32]);
void vd__bk_sweep (const char *repo);
int vd__bk_lock_repo (const char *repo);
json_object *vd__bk_prev_disk (json_object *prev, const char *device);

/* backup.c */
int vd__bk_copy_area (uint64_t off, uint64_t len, void *payload);
int vd__bk_copy_data (uint64_t off, uint64_t len, uint32_t status,
                      void *payload);

enum vd_type vd__bk_full_type (const struct vd_backup_options *o);
int vd__bk_create_point_file (vd_disk *src, const char *kind,
                              const char *prev_path, const char *dst_path,
                              enum vd_type full_type);
int vd__bk_put (struct copy *c, const uint8_t *buf, size_t n, uint64_t off);
int vd__bk_seal_file (const char *path, const char *rel,
                      struct vd__bk_hasher *h, int sync, json_object **fe);
void vd__bk_device_key (const char *device, char key[32]);
int vd__bk_finish_disk (const struct vd__bk_point *pb, json_object *e,
                        const char *key, const char *kind,
                        const char *dst_path, vd_disk *src,
                        const char *change_id,
                        const struct vd_backup_options *o, struct copy *c,
                        struct vd_backup_result *res);

/* rdm.c */
int vd__bk_rdm_device (const char *desc_path, char **path, uint64_t *bytes);
int vd__bk_backup_rdm (const char *repo, const char *point,
                       const char *files_dir, struct vm_disk *vd,
                       uint32_t flags, json_object *disks,
                       struct vd_backup_result *res);

/* verify.c */
int vd__bk_verify_point (const char *repo, const char *point, int deep);

#endif
