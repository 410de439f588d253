/* libvdisk base tier: errors, strings and paths, little-endian helpers,
 * work folders.  Needs nothing of the library above it. */
#ifndef VDISK_BASE_H
#define VDISK_BASE_H

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
 * so callers can write `return vd__error (VD_EIO, errno, "...")`. */
int vd__error (int code, int errnum, const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));
/* The one way to report a damaged or hostile file: records VD_ECORRUPT
 * with the message "WHERE: <fmt...>" (where is the file, or the
 * descriptor's name; no errno, no reason: the code is the whole verdict)
 * and returns VD_ECORRUPT: return vd__corrupt (e->path, "bad magic"). */
int vd__corrupt (const char *where, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));
/* Record a copy of an error another thread recorded (code, errnum and
 * its message as it was, ": strerror" already in it: nothing added).
 * First error wins; returns code. */
int vd__error_copy (int code, int errnum, const char *message);
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
/* Give the error just recorded (when its code is code) a machine-readable
 * VD_REASON_*; returns code: return vd__error_why (VD_REASON_X,
 * vd__error (VD_EPARENT, 0, "...")).
 *
 * The rule for messages: a helper that fails has set the message; the
 * caller returns the bare code it got (return r;), never a code of its
 * own over a recorded message.  Only the function that finds the fault
 * words it (first error wins). */
int vd__error_why (int reason, int code);

/* A file is known by device and inode, so a hard link is the same file. */
struct vd_file_id {
  dev_t dev;
  ino_t ino;
};
/* 0, or -1 when path does not exist. */

/* ---- helpers (util.c) --------------------------------------------------- */

int vd__random_bytes (void *buf, size_t len);
uint32_t vd__random_cid (void);
/* All bytes zero? */
int vd__is_zero (const void *buf, size_t len);
/* n bytes as 2n lower-case hex digits and a NUL into hex. */
void vd__to_hex (const void *buf, size_t n, char *hex);
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

/* ---- optional libraries loaded on first use (dl.c) -------------------- */

/* One library loaded on first use: its names, where its functions go
 * (fns: a table of n pointers), and the state of the load (0 not tried,
 * 1 loaded, -1 failed: code, msg). */
struct vd__dl_lib {
  const char *soname, *package, *feature;
  const char *const *names;
  size_t n;
  void **fns;
  pthread_mutex_t mu;
  int state, code;
  char msg[512];
};
/* dlopen l->soname once and resolve its names into l->fns; 0, or
 * VD_ENOTSUP saying what needs it (what) and which package to install. */
int vd__dl_need (struct vd__dl_lib *l, const char *what);
/* The one definition of a library's table beside its header: the table
 * tbl of type type (filled once by vd__dl_need, then only read), its
 * struct vd__dl_lib and the loader load (what); the names come as
 * VD__X_FNS (VD__DL_NAME), the SONAME from the mk file. */
#define VD__DL_NAME(f) #f,
#define VD__DL_DEFINE(type, tbl, load, soname, package, feature, ...)     \
  type tbl;                                                               \
  static const char *const tbl##_names[] = { __VA_ARGS__ };               \
  static struct vd__dl_lib tbl##_lib = {                                  \
    soname, package, feature, tbl##_names,                                \
    sizeof tbl##_names / sizeof tbl##_names[0], (void **) &tbl,           \
    PTHREAD_MUTEX_INITIALIZER, 0, 0, ""                                   \
  };                                                                      \
  int load (const char *what) { return vd__dl_need (&tbl##_lib, what); }

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

/* ---- file-system helpers (fsutil.c) ---------------------------------- */

/* fsync a folder (NULL or "" is the current one); -1 with errno on error. */
int vd__fsync_dir (const char *path);
/* Remove path and, for a folder, everything under it (symbolic links are
 * removed, never followed); 0, or -1 with errno for the top entry. */
int vd__rm_rf (const char *path);
/* Write text as dirfd/base through a temporary file, durable, then
 * renamed over (or, with noreplace, beside) the old one; the folder is
 * fsync'ed.  Sets the message. */
int vd__write_file_atomic (int dirfd, const char *dir, const char *base,
                           const char *text, size_t len, mode_t mode,
                           int noreplace);
/* The same for a path (its folder opened here).  Sets the message. */
int vd__replace_file (const char *path, const void *data, size_t len,
                      mode_t mode);

#endif /* VDISK_BASE_H */
