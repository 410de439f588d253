/* libvdisk io tier: the vd_io method table and its backends (io-posix.c,
 * io-mem.c, io-fault.c, io-nbd.c) and the locks (lock.c).  This tier is
 * the only place a file descriptor is used: everything above reads,
 * writes, sizes, allocates and identifies files through these methods,
 * so the fault-injecting backend reaches every write path. */
#ifndef VDISK_IO_H
#define VDISK_IO_H

#include "base/base.h"

#include <errno.h>

/* ---- I/O backends (io-*.c) -------------------------------------------- */

struct vd_io;

/* What vd_io_ops.stat reports. */
struct vd_io_stat {
  struct vd_file_id id;     /* device and inode */
  uint64_t allocated;       /* bytes of storage the file occupies */
  int64_t mtime;            /* seconds since the epoch */
  unsigned mode;            /* permission bits (07777) */
  unsigned long nlink;      /* names (hard links) */
};

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
  /* The two methods below record no error message: they return 0 or an
   * errno value (positive), and the caller, who knows what the space or
   * the facts were for, words the message.  NULL: ENOTSUP. */
  /* Reserve [off, off+len) on the device (posix_fallocate), growing the
   * file when the range ends past its end. */
  int (*allocate) (struct vd_io *io, uint64_t off, uint64_t len);
  /* Facts about the file (fstat); ENOTSUP when it is not a local file
   * (memory, network). */
  int (*stat) (struct vd_io *io, struct vd_io_stat *st);
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
/* Is io a local file (one with an identity, locks, allocated bytes)?
 * Files in memory and on a server are not. */
static inline int
vd__io_is_file (const struct vd_io *io)
{
  return io->fd >= 0;
}
/* Reserve [off, off+len) (see vd_io_ops.allocate): 0 or an errno value,
 * no message recorded.  Fault injection counts it with truncate. */
static inline int
vd__io_allocate (struct vd_io *io, uint64_t off, uint64_t len)
{
  return io->ops->allocate ? io->ops->allocate (io, off, len) : ENOTSUP;
}
/* All the file's facts (see vd_io_ops.stat): 0 or an errno value
 * (ENOTSUP: not a local file), no message recorded. */
static inline int
vd__io_stat (struct vd_io *io, struct vd_io_stat *st)
{
  return io->ops->stat ? io->ops->stat (io, st) : ENOTSUP;
}
/* Device and inode of io: 0 or an errno value (ENOTSUP: not a local
 * file), no message recorded. */
static inline int
vd__io_identity (struct vd_io *io, struct vd_file_id *id)
{
  struct vd_io_stat st;
  int r = vd__io_stat (io, &st);
  if (r == 0)
    *id = st.id;
  return r;
}
/* Bytes of storage io occupies (st_blocks * 512): 0 or an errno value
 * (ENOTSUP: not a local file), no message recorded. */
static inline int
vd__io_allocated_bytes (struct vd_io *io, uint64_t *bytes)
{
  struct vd_io_stat st;
  int r = vd__io_stat (io, &st);
  if (r == 0)
    *bytes = st.allocated;
  return r;
}

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

/* ---- locking (lock.c) -------------------------------------------------- */

/* QEMU-compatible OFD byte locks.  rw: take the write permission and
 * refuse other writers; otherwise a shared reader that lets writers in. */
int vd__lock (struct vd_io *io, int rw);
/* VMware's policy: refuse a read-write open while a VMware lock folder
 * (PATH.lck/) exists beside the descriptor, unless VD_OPEN_FORCE;
 * read-only opens pass.  0 or VD_ELOCKED. */
int vd__check_vmware_lock (const char *path, uint32_t flags);

/* ---- fault injection (io-fault.c; see tests/fuzz, tests/crash) ------- */

/* A fault plan for vd__io_set_wrapper (vd__fault_wrap, arg = the plan):
 * the counted calls of every wrapped file are numbered from 1 across all
 * files; call number fail_at (0: never) fails with kind, and with sticky
 * every later counted call fails too (a device that went away). */
#define VD_FAULT_PREAD    0x01
#define VD_FAULT_PWRITE   0x02
#define VD_FAULT_FLUSH    0x04
#define VD_FAULT_TRUNCATE 0x08   /* truncate, punch_hole and allocate */
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


#endif /* VDISK_IO_H */
