/* FUSE mounts (libfuse3): the disk and its partitions as files, served by
 * threads of this process, and guest volumes through their user-space
 * drivers (fuse2fs, ntfs-3g) started on a partition file of a private
 * mount.  Built when pkg-config finds fuse3 (VD_HAVE_FUSE); without it
 * vd_mount_new returns VD_ENOTSUP. */
#include "mount-internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void
vd_mount_options_init (struct vd_mount_options *o)
{
  if (!o)
    return;
  memset (o, 0, sizeof *o);
  o->struct_size = sizeof *o;
}

#ifndef VD_HAVE_FUSE

int
vd_mount_new (vd_mount **out, vd_disk *disk, const char *dir,
              const struct vd_mount_options *opts)
{
  VD_ENTER ();
  (void) disk; (void) opts;
  if (out)
    *out = NULL;
  return vd_error (VD_ENOTSUP, 0, "%s: vdisk was built without FUSE "
                   "(libfuse3)", dir ? dir : "mount");
}
int
vd_mount_new_source (vd_mount **out, const struct vd_mount_source *src,
                     const char *dir, const struct vd_mount_options *opts)
{
  (void) src;
  return vd_mount_new (out, NULL, dir, opts);
}
int vd_mount_wait (vd_mount *m) { (void) m; return VD_EINVAL; }
int vd_mount_unmount (vd_mount *m, int force)
{ (void) m; (void) force; return VD_EINVAL; }
int vd_mount_close (vd_mount *m) { (void) m; return 0; }
const char *vd_mount_get_dir (const vd_mount *m) { (void) m; return NULL; }
const char *vd_mount_get_volume_file (const vd_mount *m)
{ (void) m; return NULL; }

#else

#define FUSE_USE_VERSION 312
#include <fuse.h>

extern char **environ;

#define MOUNT_TIMEOUT_MS 30000

/* A spawned program gets stdin/out/err only: a descriptor another thread
 * of the caller has open on a mount would keep that mount busy for the
 * spawned program's life. */
static void
close_others (posix_spawn_file_actions_t *fa)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34)
  posix_spawn_file_actions_addclosefrom_np (fa, 3);
#else
  (void) fa;
#endif
}

struct mfile {
  char name[16];
  uint64_t off, len;
};

struct vd_mount {
  vd_disk *disk;           /* NULL for a callback source */
  struct vd_mount_source src;
  char *name;
  char *dir;
  uint32_t flags;
  unsigned threads;
  /* disk files */
  struct mfile *files;
  unsigned nfiles;
  struct fuse *fuse;
  pthread_t thread;
  int thread_started;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int loop_done;
  int loop_rc;
  /* volume */
  struct vd_mount *inner;
  char *hidden, *volfile, *log;
  pid_t driver;
  int driver_reaped;
  int driver_status;
  int waiting;             /* a thread blocks in waitpid */
};

/* ---- FUSE operations ---------------------------------------------------- */

static struct vd_mount *
self (void)
{
  return fuse_get_context ()->private_data;
}

static struct mfile *
lookup (struct vd_mount *m, const char *path)
{
  if (*path == '/')
    path++;
  for (unsigned i = 0; i < m->nfiles; i++)
    if (strcmp (m->files[i].name, path) == 0)
      return &m->files[i];
  return NULL;
}

static int
errno_of (int vdcode)
{
  const struct vd_error *e = vd_last_error ();
  if (e->errnum)
    return -e->errnum;
  switch (vdcode) {
  case VD_EROFS: return -EROFS;
  case VD_ENOSPC: return -ENOSPC;
  case VD_ENOMEM: return -ENOMEM;
  case VD_EINVAL: return -EINVAL;
  default: return -EIO;
  }
}

static void *
op_init (struct fuse_conn_info *conn, struct fuse_config *cfg)
{
  struct vd_mount *m = self ();
  /* the data only changes through this mount: keep the page cache across
   * opens, and the sizes never change */
  cfg->kernel_cache = 1;
  cfg->attr_timeout = 86400;
  cfg->entry_timeout = 86400;
  cfg->negative_timeout = 86400;
  cfg->use_ino = 1;
  /* big requests: max_write also sets max_pages (reads of 1 MiB) */
  conn->max_write = 1u << 20;
  conn->max_read = 1u << 20;    /* as the max_read mount option */
  if (conn->capable & FUSE_CAP_ASYNC_READ)
    conn->want |= FUSE_CAP_ASYNC_READ;
  return m;
}

static int
op_getattr (const char *path, struct stat *st, struct fuse_file_info *fi)
{
  struct vd_mount *m = self ();
  (void) fi;
  memset (st, 0, sizeof *st);
  st->st_uid = getuid ();
  st->st_gid = getgid ();
  if (strcmp (path, "/") == 0) {
    st->st_ino = 1;
    st->st_mode = S_IFDIR | 0555;
    st->st_nlink = 2;
    return 0;
  }
  struct mfile *f = lookup (m, path);
  if (!f)
    return -ENOENT;
  st->st_ino = 2 + (ino_t) (f - m->files);
  st->st_mode = S_IFREG | ((m->flags & VD_MOUNT_WRITABLE) ? 0644 : 0444);
  st->st_nlink = 1;
  st->st_size = (off_t) f->len;
  st->st_blksize = 65536;
  st->st_blocks = (blkcnt_t) (f->len / 512);
  return 0;
}

static int
op_readdir (const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
            struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
  struct vd_mount *m = self ();
  (void) off; (void) fi; (void) flags;
  if (strcmp (path, "/") != 0)
    return -ENOTDIR;
  fill (buf, ".", NULL, 0, 0);
  fill (buf, "..", NULL, 0, 0);
  for (unsigned i = 0; i < m->nfiles; i++)
    fill (buf, m->files[i].name, NULL, 0, 0);
  return 0;
}

static int
op_open (const char *path, struct fuse_file_info *fi)
{
  struct vd_mount *m = self ();
  struct mfile *f = lookup (m, path);
  if (!f)
    return -ENOENT;
  if ((fi->flags & O_ACCMODE) != O_RDONLY
      && !(m->flags & VD_MOUNT_WRITABLE))
    return -EROFS;
  if (fi->flags & O_TRUNC)
    return -EPERM;
  fi->fh = (uint64_t) (f - m->files);
  fi->keep_cache = 1;
  return 0;
}

static int
op_read (const char *path, char *buf, size_t size, off_t off,
         struct fuse_file_info *fi)
{
  struct vd_mount *m = self ();
  (void) path;
  if (fi->fh >= m->nfiles || off < 0)
    return -EINVAL;
  struct mfile *f = &m->files[fi->fh];
  if ((uint64_t) off >= f->len)
    return 0;
  if (size > f->len - (uint64_t) off)
    size = (size_t) (f->len - (uint64_t) off);
  int r = m->src.read (m->src.ctx, buf, size, f->off + (uint64_t) off);
  if (r < 0)
    return errno_of (r);
  return (int) size;
}

static int
op_write (const char *path, const char *buf, size_t size, off_t off,
          struct fuse_file_info *fi)
{
  struct vd_mount *m = self ();
  (void) path;
  if (!(m->flags & VD_MOUNT_WRITABLE))
    return -EROFS;
  if (fi->fh >= m->nfiles || off < 0)
    return -EINVAL;
  struct mfile *f = &m->files[fi->fh];
  if ((uint64_t) off >= f->len || size > f->len - (uint64_t) off)
    return -ENOSPC;
  int r = m->src.write (m->src.ctx, buf, size, f->off + (uint64_t) off);
  if (r < 0)
    return errno_of (r);
  return (int) size;
}

static int
op_fsync (const char *path, int datasync, struct fuse_file_info *fi)
{
  struct vd_mount *m = self ();
  (void) path; (void) datasync; (void) fi;
  if (!(m->flags & VD_MOUNT_WRITABLE))
    return 0;
  int r = m->src.flush ? m->src.flush (m->src.ctx) : 0;
  return r < 0 ? errno_of (r) : 0;
}

static int
op_truncate (const char *path, off_t size, struct fuse_file_info *fi)
{
  struct vd_mount *m = self ();
  (void) fi;
  struct mfile *f = lookup (m, path);
  if (!f)
    return -ENOENT;
  return size >= 0 && (uint64_t) size == f->len ? 0 : -EPERM;
}

static int
op_statfs (const char *path, struct statvfs *sv)
{
  struct vd_mount *m = self ();
  (void) path;
  memset (sv, 0, sizeof *sv);
  sv->f_bsize = 4096;
  sv->f_frsize = 512;
  sv->f_blocks = m->src.size / 512;
  sv->f_files = m->nfiles + 1;
  sv->f_namemax = 255;
  return 0;
}

struct seek_state {
  int hole;               /* looking for a hole (else data) */
  uint64_t found;
  int have;
};

static int
seek_run (uint64_t off, uint64_t len, uint32_t status, void *payload)
{
  struct seek_state *s = payload;
  (void) len;
  int data = status == VD_STATUS_DATA;
  if (data != s->hole) {
    s->found = off;
    s->have = 1;
    return 1;
  }
  return 0;
}

static off_t
op_lseek (const char *path, off_t off, int whence, struct fuse_file_info *fi)
{
  struct vd_mount *m = self ();
  (void) path;
  if (fi->fh >= m->nfiles || off < 0)
    return -EINVAL;
  struct mfile *f = &m->files[fi->fh];
  if (whence == SEEK_SET)
    return off;
  if (whence == SEEK_END)
    return (off_t) f->len + off;
  if (whence != SEEK_DATA && whence != SEEK_HOLE)
    return -EINVAL;
  if ((uint64_t) off >= f->len)
    return -ENXIO;
  if (!m->disk)               /* no allocation map: all data */
    return whence == SEEK_DATA ? off : (off_t) f->len;
  struct seek_state s = { whence == SEEK_HOLE, 0, 0 };
  int r = vd_disk_block_status (m->disk, f->off + (uint64_t) off,
                                f->len - (uint64_t) off, seek_run, &s);
  if (r < 0)
    return errno_of (r);
  if (s.have)
    return (off_t) (s.found - f->off);
  /* no data after off: ENXIO; no hole: the virtual hole at the end */
  return whence == SEEK_DATA ? -ENXIO : (off_t) f->len;
}

static const struct fuse_operations ops = {
  .init = op_init,
  .getattr = op_getattr,
  .readdir = op_readdir,
  .open = op_open,
  .read = op_read,
  .write = op_write,
  .fsync = op_fsync,
  .truncate = op_truncate,
  .statfs = op_statfs,
  .lseek = op_lseek,
};

/* ---- helpers ------------------------------------------------------------- */

static int
dir_check (const char *dir, dev_t *dev)
{
  struct stat st;
  if (stat (dir, &st) < 0)
    return vd_error (vd__errno_code (errno), errno, "%s: %s", dir,
                     strerror (errno));
  if (!S_ISDIR (st.st_mode))
    return vd_error (VD_EINVAL, ENOTDIR, "%s: not a folder", dir);
  DIR *d = opendir (dir);
  if (!d)
    return vd_error (vd__errno_code (errno), errno, "%s: %s", dir,
                     strerror (errno));
  struct dirent *e;
  int empty = 1;
  while ((e = readdir (d)))
    if (strcmp (e->d_name, ".") && strcmp (e->d_name, "..")) {
      empty = 0;
      break;
    }
  closedir (d);
  if (!empty)
    return vd_error (VD_EINVAL, ENOTEMPTY, "%s: the folder is not empty",
                     dir);
  *dev = st.st_dev;
  return 0;
}

static int
fuse_check (void)
{
  if (access ("/dev/fuse", R_OK | W_OK) < 0)
    return vd_error (VD_ENOTSUP, errno, "/dev/fuse: %s (FUSE is not "
                     "available: load the fuse module, or run where "
                     "/dev/fuse is present)", strerror (errno));
  return 0;
}

/* Run argv (PATH lookup), wait; its exit status, or -1. */
static int
run_wait (char *const argv[], int quiet)
{
  posix_spawn_file_actions_t fa;
  pid_t pid;
  int st;
  posix_spawn_file_actions_init (&fa);
  if (quiet) {
    posix_spawn_file_actions_addopen (&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen (&fa, 2, "/dev/null", O_WRONLY, 0);
  }
  close_others (&fa);
  int r = posix_spawnp (&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy (&fa);
  if (r != 0)
    return -1;
  while (waitpid (pid, &st, 0) < 0)
    if (errno != EINTR)
      return -1;
  return WIFEXITED (st) ? WEXITSTATUS (st) : -1;
}

/* Is dir a mount point (a dead FUSE mount counts)? */
static int
is_mountpoint (const char *dir)
{
  struct stat a, b;
  char up[4096];
  snprintf (up, sizeof up, "%s/..", dir);
  if (stat (dir, &a) < 0)
    return errno == ENOTCONN || errno == EIO;
  if (stat (up, &b) < 0)
    return 0;
  return a.st_dev != b.st_dev || a.st_ino == b.st_ino;
}

/* Unmount dir: fusermount3 -u [-z] (which root and users may run).
 * A folder that is no longer a mount point is done. */
static int
unmount_dir (const char *dir, int force)
{
  if (!is_mountpoint (dir))
    return 0;
  char *argv[6];
  int a = 0;
  argv[a++] = "fusermount3";
  argv[a++] = "-u";
  argv[a++] = "-q";
  if (force)
    argv[a++] = "-z";
  argv[a++] = (char *) dir;
  argv[a] = NULL;
  /* A program spawned by another thread holds a copy of the caller's
   * descriptors for an instant (until it closes them and execs): retry
   * a busy folder for up to 2 s before calling it busy. */
  int r = -1;
  for (int i = 0; i < 20; i++) {
    if ((r = run_wait (argv, 1)) == 0 || !is_mountpoint (dir))
      return 0;
    if (r < 0 || force)
      break;
    struct timespec ts = { 0, 100 * 1000 * 1000 };
    nanosleep (&ts, NULL);
  }
  return vd_error (VD_EIO, EBUSY, "%s: cannot unmount (busy: a program "
                   "still uses it%s)", dir,
                   r < 0 ? "; or fusermount3 is missing" : "");
}

static void *
loop_thread (void *arg)
{
  struct vd_mount *m = arg;
  /* (the 3.12 configuration object: the older by-value one leaks in
   * libfuse 3.14) */
  struct fuse_loop_config *cfg = fuse_loop_cfg_create ();
  int r = -1;
  if (cfg) {
    fuse_loop_cfg_set_clone_fd (cfg, 0);
    fuse_loop_cfg_set_idle_threads (cfg, m->threads);
    r = fuse_loop_mt (m->fuse, cfg);
    fuse_loop_cfg_destroy (cfg);
  }
  pthread_mutex_lock (&m->lock);
  m->loop_done = 1;
  m->loop_rc = r;
  pthread_cond_broadcast (&m->cond);
  pthread_mutex_unlock (&m->lock);
  return NULL;
}

static struct vd_mount *
mount_alloc (const struct vd_mount_source *src, vd_disk *disk,
             const char *dir, const struct vd_mount_options *o)
{
  struct vd_mount *m = calloc (1, sizeof *m);
  if (!m)
    return NULL;
  m->disk = disk;
  m->src = *src;
  if (!(m->name = strdup (src->name ? src->name : "disk"))) {
    free (m);
    return NULL;
  }
  m->src.name = m->name;
  m->flags = o->flags;
  m->threads = o->threads ? o->threads : 10;
  m->driver = -1;
  pthread_mutex_init (&m->lock, NULL);
  pthread_cond_init (&m->cond, NULL);
  if (!(m->dir = realpath (dir, NULL))) {
    free (m->name);
    free (m);
    return NULL;
  }
  return m;
}

static void
mount_free (struct vd_mount *m)
{
  pthread_mutex_destroy (&m->lock);
  pthread_cond_destroy (&m->cond);
  free (m->files);
  free (m->name);
  free (m->dir);
  free (m->hidden);
  free (m->volfile);
  free (m->log);
  free (m);
}

/* fsname without the characters -o parsing would split on. */
static void
clean_name (char *out, size_t n, const char *in)
{
  size_t o = 0;
  for (; *in && o + 1 < n; in++)
    out[o++] = (*in == ',' || *in == '\\' || *in == ' ' || *in < 0x20)
                 ? '_' : *in;
  out[o] = 0;
}

/* Unmount (if the loop still runs), stop the threads, free FUSE. */
static void
files_teardown (struct vd_mount *m)
{
  if (!m->fuse)
    return;
  pthread_mutex_lock (&m->lock);
  int done = m->loop_done;
  pthread_mutex_unlock (&m->lock);
  if (!done && unmount_dir (m->dir, 0) < 0) {
    vd__error_clear ();
    unmount_dir (m->dir, 1);
    vd__error_clear ();
  }
  if (m->thread_started)
    pthread_join (m->thread, NULL);
  m->thread_started = 0;
  fuse_unmount (m->fuse);
  fuse_destroy (m->fuse);
  m->fuse = NULL;
}

static int
mount_files (struct vd_mount *m, const struct vd_mount_options *o,
             dev_t dev0)
{
  struct vd_partition_table *t;
  int r;

  if ((r = vd_partitions_read_source (&m->src, &t)) < 0)
    return r;
  m->files = calloc (t->count + 1, sizeof *m->files);
  if (!m->files) {
    vd_partitions_free (t);
    return vd_error (VD_ENOMEM, 0, "out of memory");
  }
  strcpy (m->files[0].name, "disk");
  m->files[0].len = m->src.size;
  m->nfiles = 1;
  for (unsigned i = 0; i < t->count; i++) {
    if (t->parts[i].flags & VD_PART_EXTENDED)
      continue;
    struct mfile *f = &m->files[m->nfiles++];
    snprintf (f->name, sizeof f->name, "p%u", t->parts[i].number);
    f->off = t->parts[i].offset;
    f->len = t->parts[i].length;
  }
  vd_partitions_free (t);

  char name[256], opt[512];
  clean_name (name, sizeof name, o->fsname ? o->fsname : "vdisk");
  snprintf (opt, sizeof opt, "fsname=%s,subtype=vdisk,max_read=%u%s%s", name,
            1u << 20, (m->flags & VD_MOUNT_WRITABLE) ? "" : ",ro",
            (m->flags & VD_MOUNT_ALLOW_OTHER) ? ",allow_other" : "");
  char *argv[] = { "vdisk", "-o", opt, NULL };
  struct fuse_args args = FUSE_ARGS_INIT (3, argv);
  m->fuse = fuse_new (&args, &ops, sizeof ops, m);
  fuse_opt_free_args (&args);
  if (!m->fuse)
    return vd_error (VD_EIO, 0, "%s: FUSE refused the mount options",
                     m->dir);
  if (fuse_mount (m->fuse, m->dir) != 0) {
    fuse_destroy (m->fuse);
    m->fuse = NULL;
    return vd_error (VD_EIO, 0, "%s: the FUSE mount failed (see the "
                     "message above)", m->dir);
  }
  if ((r = pthread_create (&m->thread, NULL, loop_thread, m)) != 0) {
    fuse_unmount (m->fuse);
    fuse_destroy (m->fuse);
    m->fuse = NULL;
    return vd_error (VD_ENOMEM, r, "%s: cannot start the FUSE threads",
                     m->dir);
  }
  m->thread_started = 1;
  /* the kernel answers for the folder once INIT went through */
  struct stat st;
  if (stat (m->dir, &st) < 0 || st.st_dev == dev0) {
    int e = st.st_dev == dev0 ? 0 : errno;
    files_teardown (m);
    return vd_error (VD_EIO, e, "%s: the FUSE mount did not come up%s%s",
                     m->dir, e ? ": " : "", e ? strerror (e) : "");
  }
  return 0;
}

/* The last line the driver wrote (for messages). */
static void
log_tail (const char *log, char *out, size_t n)
{
  out[0] = 0;
  FILE *f = fopen (log, "r");
  if (!f)
    return;
  char line[512];
  while (fgets (line, sizeof line, f)) {
    line[strcspn (line, "\n")] = 0;
    if (line[0])
      snprintf (out, n, "%s", line);
  }
  fclose (f);
}

static void
hidden_cleanup (struct vd_mount *m)
{
  if (m->inner) {
    vd_mount_close (m->inner);
    m->inner = NULL;
  }
  if (m->log)
    unlink (m->log);
  if (m->hidden) {
    char p[4096];
    snprintf (p, sizeof p, "%s/parts", m->hidden);
    rmdir (p);
    rmdir (m->hidden);
  }
}

static int mount_create (vd_mount **out, const struct vd_mount_source *src,
                         vd_disk *disk, const char *dir,
                         const struct vd_mount_options *opts);

static int
mount_volume (struct vd_mount *m, const struct vd_mount_options *o,
              dev_t dev0)
{
  struct vd_partition_table *t;
  struct vd_partition *pt = NULL;
  int r;

  if ((r = vd_partitions_read_source (&m->src, &t)) < 0)
    return r;
  for (unsigned i = 0; i < t->count; i++)
    if (t->parts[i].number == o->volume)
      pt = &t->parts[i];
  if (!pt || (pt->flags & VD_PART_EXTENDED)) {
    r = vd_error (VD_EINVAL, 0, "%s: %s %u", m->name,
                  pt ? "there is no volume in extended partition"
                     : "no partition", o->volume);
    vd_partitions_free (t);
    return r;
  }
  enum vd_fs_type fs = pt->fs.type;
  vd_partitions_free (t);
  const char *driver;
  if (fs == VD_FS_EXT2 || fs == VD_FS_EXT3 || fs == VD_FS_EXT4)
    driver = "fuse2fs";
  else if (fs == VD_FS_NTFS)
    driver = "ntfs-3g";
  else
    return vd_error (VD_ENOTSUP, 0, "%s: volume %u holds %s%s file system; "
                     "vdisk mounts ext2/3/4 (fuse2fs) and ntfs (ntfs-3g)",
                     m->name, o->volume,
                     fs == VD_FS_UNKNOWN ? "an " : "a ",
                     fs == VD_FS_UNKNOWN ? "unknown" : vd_fs_type_name (fs));

  const char *tmp = getenv ("TMPDIR");
  char tmpl[4096];
  snprintf (tmpl, sizeof tmpl, "%s/vdisk-mount.XXXXXX",
            tmp && *tmp && strlen (tmp) < 3000 ? tmp : "/tmp");
  if (!mkdtemp (tmpl))
    return vd_error (vd__errno_code (errno), errno, "%s: %s", tmpl,
                     strerror (errno));
  m->hidden = strdup (tmpl);
  size_t hl = strlen (tmpl) + 32;
  char *parts = malloc (hl);
  m->volfile = malloc (hl);
  m->log = malloc (hl);
  if (!m->hidden || !parts || !m->volfile || !m->log) {
    free (parts);
    rmdir (tmpl);
    return vd_error (VD_ENOMEM, 0, "out of memory");
  }
  snprintf (parts, hl, "%s/parts", tmpl);
  snprintf (m->volfile, hl, "%s/p%u", parts, o->volume);
  snprintf (m->log, hl, "%s/driver.log", tmpl);
  if (mkdir (parts, 0700) < 0) {
    r = vd_error (vd__errno_code (errno), errno, "%s: %s", parts,
                  strerror (errno));
    free (parts);
    hidden_cleanup (m);
    return r;
  }
  struct vd_mount_options io = *o;
  io.volume = 0;
  io.flags &= ~VD_MOUNT_ALLOW_OTHER;
  r = mount_create (&m->inner, &m->src, m->disk, parts, &io);
  free (parts);
  if (r < 0) {
    hidden_cleanup (m);
    return r;
  }

  /* the driver in the foreground, so that its exit is ours to see */
  int rw = (m->flags & VD_MOUNT_WRITABLE) != 0;
  char opt[256];
  char *argv[12];
  int a = 0;
  argv[a++] = (char *) driver;
  if (fs == VD_FS_NTFS) {
    snprintf (opt, sizeof opt, "%s,no_detach%s", rw ? "rw" : "ro",
              (m->flags & VD_MOUNT_ALLOW_OTHER) ? ",allow_other" : "");
    argv[a++] = "-o";
    argv[a++] = opt;
    argv[a++] = m->volfile;
    argv[a++] = m->dir;
  } else {
    snprintf (opt, sizeof opt, "%s%s", rw ? "rw" : "ro",
              (m->flags & VD_MOUNT_ALLOW_OTHER) ? ",allow_other" : "");
    argv[a++] = m->volfile;
    argv[a++] = m->dir;
    argv[a++] = "-f";
    argv[a++] = "-o";
    argv[a++] = opt;
  }
  argv[a] = NULL;
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t sa;
  sigset_t none;
  posix_spawn_file_actions_init (&fa);
  posix_spawn_file_actions_addopen (&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen (&fa, 1, m->log,
                                    O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2 (&fa, 1, 2);
  close_others (&fa);
  posix_spawnattr_init (&sa);
  sigemptyset (&none);
  posix_spawnattr_setsigmask (&sa, &none);
  posix_spawnattr_setflags (&sa, POSIX_SPAWN_SETSIGMASK);
  r = posix_spawnp (&m->driver, driver, &fa, &sa, argv, environ);
  posix_spawn_file_actions_destroy (&fa);
  posix_spawnattr_destroy (&sa);
  if (r != 0) {
    m->driver = -1;
    hidden_cleanup (m);
    return vd_error (VD_ENOTSUP, r, "%s: cannot run %s: %s (install it: "
                     "Debian %s)", m->dir, driver, strerror (r),
                     fs == VD_FS_NTFS ? "ntfs-3g" : "fuse2fs");
  }
  /* wait until the folder is a mount point, or the driver gave up */
  for (int ms = 0;; ms += 10) {
    int st;
    pid_t w = waitpid (m->driver, &st, WNOHANG);
    if (w == m->driver) {
      char last[512];
      m->driver_reaped = 1;
      m->driver_status = st;
      log_tail (m->log, last, sizeof last);
      hidden_cleanup (m);
      return vd_error (VD_EIO, 0, "%s: %s could not mount volume %u "
                       "(%s file system)%s%s", m->dir, driver, o->volume,
                       vd_fs_type_name (fs), last[0] ? ": " : "", last);
    }
    struct stat s;
    if (stat (m->dir, &s) == 0 && s.st_dev != dev0)
      break;
    if (ms >= MOUNT_TIMEOUT_MS) {
      kill (m->driver, SIGTERM);
      waitpid (m->driver, NULL, 0);
      m->driver_reaped = 1;
      unmount_dir (m->dir, 1);
      vd__error_clear ();
      hidden_cleanup (m);
      return vd_error (VD_EIO, ETIMEDOUT, "%s: %s did not mount volume %u "
                       "within %d s", m->dir, driver, o->volume,
                       MOUNT_TIMEOUT_MS / 1000);
    }
    struct timespec ts = { 0, 10 * 1000 * 1000 };
    nanosleep (&ts, NULL);
  }
  return 0;
}

/* ---- public --------------------------------------------------------------- */

static int
mount_create (vd_mount **out, const struct vd_mount_source *src,
              vd_disk *disk, const char *dir,
              const struct vd_mount_options *opts)
{
  struct vd_mount_options o;
  dev_t dev0 = 0;
  int r;

  vd_mount_options_init (&o);
  if (opts) {
    if (opts->struct_size < sizeof o)
      return vd_error (VD_EINVAL, 0, "bad struct vd_mount_options size");
    o = *opts;
  }
  if ((o.flags & VD_MOUNT_WRITABLE) && !src->write)
    return vd_error (VD_EINVAL, 0, "%s: a writable mount needs a disk open "
                     "for writing", src->name ? src->name : "disk");
  if ((r = fuse_check ()) < 0 || (r = dir_check (dir, &dev0)) < 0)
    return r;
  struct vd_mount *m = mount_alloc (src, disk, dir, &o);
  if (!m)
    return vd_error (VD_ENOMEM, errno, "%s: %s", dir, strerror (errno));
  r = o.volume ? mount_volume (m, &o, dev0) : mount_files (m, &o, dev0);
  if (r < 0) {
    mount_free (m);
    return r;
  }
  *out = m;
  return 0;
}

static int
disk_read (void *ctx, void *buf, size_t n, uint64_t off)
{
  return vd_disk_read (ctx, buf, n, off);
}
static int
disk_write (void *ctx, const void *buf, size_t n, uint64_t off)
{
  return vd_disk_write (ctx, buf, n, off);
}
static int
disk_flush (void *ctx)
{
  return vd_disk_flush (ctx);
}

int
vd_mount_new (vd_mount **out, vd_disk *disk, const char *dir,
              const struct vd_mount_options *opts)
{
  VD_ENTER ();
  if (!out)
    return vd_error (VD_EINVAL, 0, "no output pointer");
  *out = NULL;
  if (!disk || !dir)
    return vd_error (VD_EINVAL, 0, "no disk or folder");
  struct vd_mount_source src = {
    .struct_size = sizeof src, .size = vd_disk_get_size (disk),
    .name = vd_disk_get_path (disk), .ctx = disk, .read = disk_read,
    .write = vd_disk_is_read_only (disk) ? NULL : disk_write,
    .flush = disk_flush };
  return mount_create (out, &src, disk, dir, opts);
}

int
vd_mount_new_source (vd_mount **out, const struct vd_mount_source *src,
                     const char *dir, const struct vd_mount_options *opts)
{
  VD_ENTER ();
  if (!out)
    return vd_error (VD_EINVAL, 0, "no output pointer");
  *out = NULL;
  if (!src || src->struct_size < sizeof *src || !src->read || !dir)
    return vd_error (VD_EINVAL, 0, "no source, read callback or folder");
  return mount_create (out, src, NULL, dir, opts);
}

static int
reap_driver (struct vd_mount *m)
{
  int st;
  pthread_mutex_lock (&m->lock);
  while (m->waiting && !m->driver_reaped)
    pthread_cond_wait (&m->cond, &m->lock);
  if (m->driver_reaped) {
    pthread_mutex_unlock (&m->lock);
    return 0;
  }
  m->waiting = 1;
  pthread_mutex_unlock (&m->lock);
  pid_t w;
  while ((w = waitpid (m->driver, &st, 0)) < 0 && errno == EINTR)
    ;
  pthread_mutex_lock (&m->lock);
  m->waiting = 0;
  m->driver_reaped = 1;
  m->driver_status = w == m->driver ? st : 0;
  pthread_cond_broadcast (&m->cond);
  pthread_mutex_unlock (&m->lock);
  return 0;
}

int
vd_mount_wait (vd_mount *m)
{
  VD_ENTER ();
  if (!m)
    return vd_error (VD_EINVAL, 0, "no mount");
  if (m->driver > 0) {
    reap_driver (m);
    return 0;
  }
  pthread_mutex_lock (&m->lock);
  while (!m->loop_done)
    pthread_cond_wait (&m->cond, &m->lock);
  pthread_mutex_unlock (&m->lock);
  return 0;
}

int
vd_mount_unmount (vd_mount *m, int force)
{
  VD_ENTER ();
  if (!m)
    return vd_error (VD_EINVAL, 0, "no mount");
  if (m->driver > 0) {
    pthread_mutex_lock (&m->lock);
    int gone = m->driver_reaped;
    pthread_mutex_unlock (&m->lock);
    return gone ? 0 : unmount_dir (m->dir, force);
  }
  pthread_mutex_lock (&m->lock);
  int done = m->loop_done || !m->fuse;
  pthread_mutex_unlock (&m->lock);
  if (done)
    return 0;
  return unmount_dir (m->dir, force);
}

int
vd_mount_close (vd_mount *m)
{
  int r = 0;
  VD_ENTER ();
  if (!m)
    return 0;
  if (m->driver > 0) {
    pthread_mutex_lock (&m->lock);
    int gone = m->driver_reaped;
    pthread_mutex_unlock (&m->lock);
    if (!gone && vd_mount_unmount (m, 0) < 0) {
      vd__error_clear ();
      unmount_dir (m->dir, 1);
      vd__error_clear ();
    }
    reap_driver (m);
    hidden_cleanup (m);
    if (WIFEXITED (m->driver_status) && WEXITSTATUS (m->driver_status))
      r = vd_error (VD_EIO, 0, "%s: the file system driver failed (exit "
                    "%d)", m->dir, WEXITSTATUS (m->driver_status));
  } else
    files_teardown (m);
  if ((m->flags & VD_MOUNT_WRITABLE) && r == 0 && m->src.flush)
    r = m->src.flush (m->src.ctx);
  mount_free (m);
  return r;
}

const char *
vd_mount_get_dir (const vd_mount *m)
{
  return m ? m->dir : NULL;
}

const char *
vd_mount_get_volume_file (const vd_mount *m)
{
  return m ? m->volfile : NULL;
}

#endif /* VD_HAVE_FUSE */
