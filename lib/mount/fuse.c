/* FUSE mounts (libfuse3): the disk and its partitions as files, served by
 * threads of this process, and guest volumes through their user-space
 * drivers (fuse2fs, ntfs-3g) started on a partition file of a private
 * mount.  Built when pkg-config finds fuse3 (VD_HAVE_FUSE); without it
 * vd_mount_new returns VD_ENOTSUP. */
#include "fuse-internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
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
  return vd__error (VD_ENOTSUP, 0, "%s: vdisk was built without FUSE "
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
  if (o->fsname && !(m->fsname = strdup (o->fsname))) {
    free (m->name);
    free (m);
    return NULL;
  }
  m->threads = o->threads ? o->threads : 10;
  m->driver = -1;
  pthread_mutex_init (&m->lock, NULL);
  pthread_cond_init (&m->cond, NULL);
  if (!(m->dir = realpath (dir, NULL))) {
    free (m->fsname);
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
  free (m->fsname);
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
  if (!done && vd__mnt_unmount_dir (m->dir, 0) < 0) {
    vd__error_clear ();
    vd__mnt_unmount_dir (m->dir, 1);
    vd__error_clear ();
  }
  if (m->thread_started)
    pthread_join (m->thread, NULL);
  m->thread_started = 0;
  fuse_unmount (m->fuse);
  fuse_destroy (m->fuse);
  m->fuse = NULL;
}

/* The kernel caps a FUSE mount's readahead at its bdi's (128 KiB by
 * default), whatever max_readahead the INIT reply asks: raise it to
 * 1 MiB, one request of max_read, where we may (root); else it stays. */
static void
raise_readahead (dev_t dev)
{
  char p[96], b[32];
  snprintf (p, sizeof p, "/sys/class/bdi/%u:%u/read_ahead_kb", major (dev),
            minor (dev));
  int fd = open (p, O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return;
  ssize_t n = pread (fd, b, sizeof b - 1, 0);
  if (n > 0) {
    b[n] = 0;
    if (strtol (b, NULL, 10) < 1024 && pwrite (fd, "1024\n", 5, 0) < 0) {
      /* not ours to change: the default stays */
    }
  }
  close (fd);
}

int
vd__mnt_fuse_start (struct vd_mount *m, const struct fuse_operations *ops,
                    const char *extra, dev_t dev0)
{
  char name[256], opt[768];
  int r;
  clean_name (name, sizeof name, m->fsname ? m->fsname : "vdisk");
  snprintf (opt, sizeof opt, "fsname=%s,subtype=vdisk,max_read=%u%s%s%s",
            name, 1u << 20, (m->flags & VD_MOUNT_WRITABLE) ? "" : ",ro",
            (m->flags & VD_MOUNT_ALLOW_OTHER) ? ",allow_other" : "", extra);
  char *argv[] = { "vdisk", "-o", opt, NULL };
  struct fuse_args args = FUSE_ARGS_INIT (3, argv);
  m->fuse = fuse_new (&args, ops, sizeof *ops, m);
  fuse_opt_free_args (&args);
  if (!m->fuse)
    return vd__error (VD_EIO, 0, "%s: FUSE refused the options given for the mount",
                     m->dir);
  if (fuse_mount (m->fuse, m->dir) != 0) {
    fuse_destroy (m->fuse);
    m->fuse = NULL;
    return vd__error (VD_EIO, 0, "%s: the FUSE mount failed (see the "
                     "message above)", m->dir);
  }
  if ((r = pthread_create (&m->thread, NULL, loop_thread, m)) != 0) {
    fuse_unmount (m->fuse);
    fuse_destroy (m->fuse);
    m->fuse = NULL;
    return vd__error (VD_ENOMEM, r, "%s: cannot start the FUSE threads",
                     m->dir);
  }
  m->thread_started = 1;
  /* the kernel answers for the folder once INIT went through */
  struct stat st;
  if (stat (m->dir, &st) < 0 || st.st_dev == dev0) {
    int e = st.st_dev == dev0 ? 0 : errno;
    files_teardown (m);
    return vd__error (VD_EIO, e, "%s: the FUSE mount did not come up%s%s",
                     m->dir, e ? ": " : "", e ? strerror (e) : "");
  }
  if (!(m->flags & VD_MOUNT_WRITABLE))
    raise_readahead (st.st_dev);
  return 0;
}

static int
mount_files (struct vd_mount *m, dev_t dev0,
             const struct vd_partition_table *t)
{
  m->files = calloc (t->count + 1, sizeof *m->files);
  if (!m->files)
    return vd__error (VD_ENOMEM, 0, "out of memory");
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
  return vd__mnt_fuse_start (m, &vd__mnt_ops, "", dev0);
}

/* ---- public --------------------------------------------------------------- */

int
vd__mnt_create (vd_mount **out, const struct vd_mount_source *src,
                vd_disk *disk, const char *dir,
                const struct vd_mount_options *opts,
                const struct vd_partition_table *t)
{
  struct vd_mount_options o;
  dev_t dev0 = 0;
  int r;

  vd_mount_options_init (&o);
  if (opts) {
    if (opts->struct_size < sizeof o)
      return vd__error (VD_EINVAL, 0, "bad struct vd_mount_options size");
    o = *opts;
  }
  if ((o.flags & VD_MOUNT_WRITABLE) && !src->write)
    return vd__error (VD_EINVAL, 0, "%s: a writable mount needs a disk open "
                     "for writing", src->name ? src->name : "disk");
  if ((r = vd__mnt_fuse_check ()) < 0 || (r = vd__mnt_dir_check (dir, &dev0)) < 0)
    return r;
  struct vd_mount *m = mount_alloc (src, disk, dir, &o);
  if (!m)
    return vd__error (VD_ENOMEM, errno, "%s: %s", dir, strerror (errno));
  /* the table is read once: a volume's inner mount gets it too */
  struct vd_partition_table *own = NULL;
  if (!t && (r = vd_partitions_read_source (&m->src, &own)) < 0) {
    mount_free (m);
    return r;
  }
  r = o.volume ? vd__mnt_volume (m, &o, dev0, t ? t : own)
               : mount_files (m, dev0, t ? t : own);
  vd_partitions_free (own);
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
    return vd__error (VD_EINVAL, 0, "no output pointer");
  *out = NULL;
  if (!disk || !dir)
    return vd__error (VD_EINVAL, 0, "no disk or folder");
  struct vd_mount_source src = {
    .struct_size = sizeof src, .size = vd_disk_get_size (disk),
    .name = vd_disk_get_path (disk), .ctx = disk, .read = disk_read,
    .write = vd_disk_is_read_only (disk) ? NULL : disk_write,
    .flush = disk_flush };
  return vd__mnt_create (out, &src, disk, dir, opts, NULL);
}

int
vd_mount_new_source (vd_mount **out, const struct vd_mount_source *src,
                     const char *dir, const struct vd_mount_options *opts)
{
  VD_ENTER ();
  if (!out)
    return vd__error (VD_EINVAL, 0, "no output pointer");
  *out = NULL;
  if (!src || src->struct_size < sizeof *src || !src->read || !dir)
    return vd__error (VD_EINVAL, 0, "no source, read callback or folder");
  return vd__mnt_create (out, src, NULL, dir, opts, NULL);
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
    return vd__error (VD_EINVAL, 0, "no mount");
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
    return vd__error (VD_EINVAL, 0, "no mount");
  if (m->driver > 0) {
    pthread_mutex_lock (&m->lock);
    int gone = m->driver_reaped;
    pthread_mutex_unlock (&m->lock);
    return gone ? 0 : vd__mnt_unmount_dir (m->dir, force);
  }
  pthread_mutex_lock (&m->lock);
  int done = m->loop_done || !m->fuse;
  pthread_mutex_unlock (&m->lock);
  if (done)
    return 0;
  return vd__mnt_unmount_dir (m->dir, force);
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
      vd__mnt_unmount_dir (m->dir, 1);
      vd__error_clear ();
    }
    reap_driver (m);
    vd__mnt_hidden_cleanup (m);
    if (WIFEXITED (m->driver_status) && WEXITSTATUS (m->driver_status))
      r = vd__error (VD_EIO, 0, "%s: the file system driver failed (exit "
                    "%d)", m->dir, WEXITSTATUS (m->driver_status));
  } else {
    files_teardown (m);
#ifdef VD_HAVE_EXT2FS
    vd__mnt_extfs_free (m);
#endif
  }
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