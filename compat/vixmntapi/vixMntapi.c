/* libvixMntapi: a VixMntapi-compatible layer, written only against the
 * public APIs: vixDiskLib.h (the disks are VixDiskLib handles, read and
 * written with VixDiskLib_Read/Write) and vdisk.h (partition tables and
 * FUSE mounts of a callback source; the volumes are mounted by fuse2fs or
 * ntfs-3g).
 *
 * A disk set owns a private folder (tmpDirectory from the config file,
 * else $TMPDIR, else /tmp); volume N of disk K is mounted at
 * FOLDER/diskK-pN.  State: the log callbacks and tmpDirectory (one mutex);
 * each disk set has its own lock, so several disk sets may be used from
 * several threads at once.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vdisk/vdisk.h"
#include "vdisk/vixMntapi.h"
#include "mnt-fcd.h"

#define MNT_API __attribute__((visibility ("default")))
#define SET_MAGIC 0x564d5354u   /* "VMST" */
#define VOL_MAGIC 0x564d564fu   /* "VMVO" */
#define SECTOR VIXDISKLIB_SECTOR_SIZE

static pthread_mutex_t lib_lock = PTHREAD_MUTEX_INITIALIZER;
static VixDiskLibGenericLogFunc *log_fn, *warn_fn;
static char lib_tmpdir[PATH_MAX];

static void say (int warn, const char *fmt, ...)
  __attribute__((format (printf, 2, 3)));

static void
say (int warn, const char *fmt, ...)
{
  va_list ap;
  pthread_mutex_lock (&lib_lock);
  VixDiskLibGenericLogFunc *fn = warn ? warn_fn : log_fn;
  pthread_mutex_unlock (&lib_lock);
  va_start (ap, fmt);
  if (fn)
    fn (fmt, ap);
  else if (warn) {
    fputs ("libvixMntapi: ", stderr);
    vfprintf (stderr, fmt, ap);
  }
  va_end (ap);
}

/* ---- disks as callback sources ------------------------------------------ */

struct sdisk {
  VixDiskLibHandle h;
  int owned;               /* opened by OpenDisks: closed with the set */
  int ro;
  uint64_t size;
  pthread_mutex_t io;      /* VDDK handles are not for concurrent use */
  char name[64];
};

static int
src_read (void *ctx, void *buf, size_t n, uint64_t off)
{
  struct sdisk *d = ctx;
  VixError e;
  if (off % SECTOR == 0 && n % SECTOR == 0) {
    pthread_mutex_lock (&d->io);
    e = VixDiskLib_Read (d->h, off / SECTOR, n / SECTOR, buf);
    pthread_mutex_unlock (&d->io);
    return e == VIX_OK ? 0 : VD_EIO;
  }
  uint64_t first = off / SECTOR, last = (off + n + SECTOR - 1) / SECTOR;
  uint8_t *b = malloc ((size_t) (last - first) * SECTOR);
  if (!b)
    return VD_ENOMEM;
  pthread_mutex_lock (&d->io);
  e = VixDiskLib_Read (d->h, first, last - first, b);
  pthread_mutex_unlock (&d->io);
  if (e == VIX_OK)
    memcpy (buf, b + (off - first * SECTOR), n);
  free (b);
  return e == VIX_OK ? 0 : VD_EIO;
}

static int
src_write (void *ctx, const void *buf, size_t n, uint64_t off)
{
  struct sdisk *d = ctx;
  VixError e;
  pthread_mutex_lock (&d->io);
  if (off % SECTOR == 0 && n % SECTOR == 0)
    e = VixDiskLib_Write (d->h, off / SECTOR, n / SECTOR, buf);
  else {
    /* read-modify-write of the sectors around the range */
    uint64_t first = off / SECTOR, last = (off + n + SECTOR - 1) / SECTOR;
    uint8_t *b = malloc ((size_t) (last - first) * SECTOR);
    if (!b) {
      pthread_mutex_unlock (&d->io);
      return VD_ENOMEM;
    }
    e = VixDiskLib_Read (d->h, first, last - first, b);
    if (e == VIX_OK) {
      memcpy (b + (off - first * SECTOR), buf, n);
      e = VixDiskLib_Write (d->h, first, last - first, b);
    }
    free (b);
  }
  pthread_mutex_unlock (&d->io);
  return e == VIX_OK ? 0 : VD_EIO;
}

static int
src_flush (void *ctx)
{
  struct sdisk *d = ctx;
  pthread_mutex_lock (&d->io);
  VixError e = VixDiskLib_Flush (d->h);
  pthread_mutex_unlock (&d->io);
  return e == VIX_OK ? 0 : VD_EIO;
}

static struct vd_mount_source
source_of (struct sdisk *d, int writable)
{
  struct vd_mount_source s;
  memset (&s, 0, sizeof s);
  s.struct_size = sizeof s;
  s.size = d->size;
  s.name = d->name;
  s.ctx = d;
  s.read = src_read;
  s.write = writable ? src_write : NULL;
  s.flush = writable ? src_flush : NULL;
  return s;
}

/* ---- handles ------------------------------------------------------------- */

struct VixVolumeHandleStruct {
  uint32 magic;
  struct VixDiskSetHandleStruct *set;
  size_t disk;
  unsigned number;         /* partition number */
  VixVolumeType type;
  enum vd_fs_type fs;
  vd_mount *m;
  char *dir;               /* mount point while mounted */
};

struct VixDiskSetHandleStruct {
  uint32 magic;
  uint32 flags;
  char *mount_path;
  pthread_mutex_t lock;
  size_t ndisks;
  struct sdisk *disks;
  size_t nvols;
  struct VixVolumeHandleStruct *vols;
  VixDiskLibConnection conn;  /* made by OpenDisks for an FCD: disconnected */
};

static VixError
vd_to_vix (int code)
{
  switch (code) {
  case VD_ENOMEM: return VIX_E_OUT_OF_MEMORY;
  case VD_EINVAL: return VIX_E_INVALID_ARG;
  case VD_ENOENT: return VIX_E_FILE_NOT_FOUND;
  case VD_ENOTSUP: return VIX_E_MNTAPI_NO_DRIVER;
  case VD_ECORRUPT: return VIX_E_MNTAPI_CANT_READ_PARTS;
  case VD_EROFS: return VIX_E_MNTAPI_VOLUME_NOT_WRITABLE;
  default: return VIX_E_MNTAPI_OS_ERROR;
  }
}

static VixError
vd_fail (const char *func, int code)
{
  const struct vd_error *e = vd_last_error ();
  say (1, "%s: %s\n", func, e->message[0] ? e->message : vd_strerror (code));
  return vd_to_vix (code);
}

static int
set_ok (const struct VixDiskSetHandleStruct *s)
{
  return s && s->magic == SET_MAGIC;
}
static int
vol_ok (const struct VixVolumeHandleStruct *v)
{
  return v && v->magic == VOL_MAGIC && set_ok (v->set);
}

/* ---- init ------------------------------------------------------------------ */

MNT_API VixError
VixMntapi_Init (uint32 majorVersion, uint32 minorVersion,
                VixDiskLibGenericLogFunc *log, VixDiskLibGenericLogFunc *warn,
                VixDiskLibGenericLogFunc *panic, const char *libDir,
                const char *configFile)
{
  (void) minorVersion; (void) panic; (void) libDir;
  if (majorVersion != VIXMNTAPI_MAJOR_VERSION)
    return VIX_E_MNTAPI_INCOMPATIBLE_VERSION;
  char tmp[PATH_MAX] = "";
  if (configFile) {
    FILE *f = fopen (configFile, "r");
    char line[PATH_MAX + 64];
    while (f && fgets (line, sizeof line, f)) {
      char *p = line;
      while (isspace ((unsigned char) *p))
        p++;
      if (strncmp (p, "tmpDirectory", 12) != 0)
        continue;
      p += 12;
      while (isspace ((unsigned char) *p))
        p++;
      if (*p++ != '=')
        continue;
      while (isspace ((unsigned char) *p) || *p == '"')
        p++;
      size_t n = strcspn (p, "\"\r\n");
      while (n && isspace ((unsigned char) p[n - 1]))
        n--;
      snprintf (tmp, sizeof tmp, "%.*s", (int) n, p);
    }
    if (f)
      fclose (f);
  }
  pthread_mutex_lock (&lib_lock);
  log_fn = log;
  warn_fn = warn;
  snprintf (lib_tmpdir, sizeof lib_tmpdir, "%s", tmp);
  pthread_mutex_unlock (&lib_lock);
  return VIX_OK;
}

MNT_API void
VixMntapi_Exit (void)
{
  pthread_mutex_lock (&lib_lock);
  log_fn = warn_fn = NULL;
  pthread_mutex_unlock (&lib_lock);
}

/* ---- disk sets ---------------------------------------------------------------- */

static void
set_free (struct VixDiskSetHandleStruct *s)
{
  for (size_t i = 0; i < s->ndisks; i++) {
    if (s->disks[i].owned && s->disks[i].h)
      VixDiskLib_Close (s->disks[i].h);
    pthread_mutex_destroy (&s->disks[i].io);
  }
  for (size_t i = 0; i < s->nvols; i++)
    s->vols[i].magic = 0;
  if (s->conn)
    VixDiskLib_Disconnect (s->conn);
  if (s->mount_path)
    rmdir (s->mount_path);
  pthread_mutex_destroy (&s->lock);
  s->magic = 0;
  free (s->mount_path);
  free (s->disks);
  free (s->vols);
  free (s);
}

/* Build a set from open handles (owned: close them with the set). */
static VixError
set_new (VixDiskLibHandle *h, size_t n, uint32 flags, int owned,
         VixDiskSetHandle *out)
{
  struct VixDiskSetHandleStruct *s = calloc (1, sizeof *s);
  VixError err = VIX_OK;
  if (!s)
    return VIX_E_OUT_OF_MEMORY;
  s->magic = SET_MAGIC;
  s->flags = flags;
  pthread_mutex_init (&s->lock, NULL);
  s->disks = calloc (n, sizeof *s->disks);
  if (!s->disks) {
    free (s);
    return VIX_E_OUT_OF_MEMORY;
  }
  s->ndisks = n;
  for (size_t i = 0; i < n; i++) {
    struct sdisk *d = &s->disks[i];
    pthread_mutex_init (&d->io, NULL);
    d->h = h[i];
    d->owned = owned;
    d->ro = (flags & VIXDISKLIB_FLAG_OPEN_READ_ONLY) != 0;
    snprintf (d->name, sizeof d->name, "disk %zu", i);
  }
  for (size_t i = 0; i < n && err == VIX_OK; i++) {
    struct sdisk *d = &s->disks[i];
    VixDiskLibInfo *info = NULL;
    if ((err = VixDiskLib_GetInfo (d->h, &info)) != VIX_OK)
      break;
    d->size = (uint64_t) info->capacity * SECTOR;
    VixDiskLib_FreeInfo (info);
    struct vd_mount_source src = source_of (d, 0);
    struct vd_partition_table *t;
    int r = vd_partitions_read_source (&src, &t);
    if (r < 0) {
      err = vd_fail ("VixMntapi_OpenDisks", r);
      break;
    }
    for (unsigned k = 0; k < t->count; k++) {
      if (t->parts[k].flags & VD_PART_EXTENDED)
        continue;
      struct VixVolumeHandleStruct *v =
        realloc (s->vols, (s->nvols + 1) * sizeof *v);
      if (!v) {
        err = VIX_E_OUT_OF_MEMORY;
        break;
      }
      s->vols = v;
      v = &s->vols[s->nvols++];
      memset (v, 0, sizeof *v);
      v->magic = VOL_MAGIC;
      v->set = s;
      v->disk = i;
      v->number = t->parts[k].number;
      v->type = t->type == VD_TABLE_GPT ? VIXMNTAPI_GPT_PARTITION
                                        : VIXMNTAPI_BASIC_PARTITION;
      v->fs = t->parts[k].fs.type;
    }
    vd_partitions_free (t);
  }
  if (err == VIX_OK) {
    char tmpl[PATH_MAX + 32];
    const char *base;
    pthread_mutex_lock (&lib_lock);
    base = lib_tmpdir[0] ? lib_tmpdir : getenv ("TMPDIR");
    if (!base || !*base || strlen (base) > PATH_MAX - 64)
      base = "/tmp";
    snprintf (tmpl, sizeof tmpl, "%s/vixmntapi-XXXXXX", base);
    pthread_mutex_unlock (&lib_lock);
    if (!mkdtemp (tmpl)) {
      say (1, "VixMntapi_OpenDisks: %s: %s\n", tmpl, strerror (errno));
      err = VIX_E_MNTAPI_CANT_MAKE_VAR_DIR;
    } else if (!(s->mount_path = strdup (tmpl))) {
      rmdir (tmpl);
      err = VIX_E_OUT_OF_MEMORY;
    }
  }
  if (err != VIX_OK) {
    if (!owned)
      for (size_t i = 0; i < n; i++)
        s->disks[i].h = NULL;
    set_free (s);
    return err;
  }
  *out = s;
  return VIX_OK;
}

MNT_API VixError
VixMntapi_OpenDiskSet (VixDiskLibHandle diskHandles[], size_t numberOfDisks,
                       uint32 openMode, VixDiskSetHandle *handle)
{
  if (!handle)
    return VIX_E_INVALID_ARG;
  *handle = NULL;
  if (!diskHandles || numberOfDisks == 0 || numberOfDisks > 64) {
    say (1, "VixMntapi_OpenDiskSet: %s\n", !diskHandles
         ? "no disk handles (NULL)" : "the number of disks must be 1 to 64");
    return VIX_E_INVALID_ARG;
  }
  for (size_t i = 0; i < numberOfDisks; i++)
    if (!diskHandles[i]) {
      say (1, "VixMntapi_OpenDiskSet: disk handle %zu of %zu is NULL (does "
           "the count match the array?)\n", i, numberOfDisks);
      return VIX_E_INVALID_ARG;
    }
  return set_new (diskHandles, numberOfDisks, openMode, 0, handle);
}

MNT_API VixError
VixMntapi_OpenDisks (VixDiskLibConnection connection, const char *diskNames[],
                     size_t numberOfDisks, uint32 openFlags,
                     VixDiskSetHandle *handle)
{
  if (!handle)
    return VIX_E_INVALID_ARG;
  *handle = NULL;
  if (!connection || !diskNames || numberOfDisks == 0 || numberOfDisks > 64) {
    say (1, "VixMntapi_OpenDisks: %s\n", !connection ? "no connection"
         : !diskNames ? "no disk names (NULL)"
         : "the number of disks must be 1 to 64");
    return VIX_E_INVALID_ARG;
  }
  for (size_t i = 0; i < numberOfDisks; i++)
    if (!diskNames[i]) {
      say (1, "VixMntapi_OpenDisks: disk name %zu of %zu is NULL (does the "
           "count match the array?)\n", i, numberOfDisks);
      return VIX_E_INVALID_ARG;
    }
  VixDiskLibHandle *h = calloc (numberOfDisks, sizeof *h);
  VixDiskLibConnection own = NULL;
  if (!h)
    return VIX_E_OUT_OF_MEMORY;
  char why[512] = "";
  VixError err = mnt_open_disks_fcd (connection, diskNames, numberOfDisks,
                                     openFlags, &h[0], &own, why,
                                     sizeof why);
  if (why[0])
    say (1, "VixMntapi_OpenDisks: %s\n", why);
  size_t i = own ? numberOfDisks : 0;
  for (; err == VIX_OK && i < numberOfDisks; i++)
    if ((err = VixDiskLib_Open (connection, diskNames[i], openFlags, &h[i]))
        != VIX_OK) {
      char *txt = VixDiskLib_GetErrorText (err, NULL);
      say (1, "VixMntapi_OpenDisks: %s: %s\n", diskNames[i],
           txt ? txt : "cannot open");
      VixDiskLib_FreeErrorText (txt);
      break;
    }
  if (err == VIX_OK) {
    err = set_new (h, numberOfDisks, openFlags, 1, handle);
    if (err == VIX_OK)
      (*handle)->conn = own;
    else if (own)
      VixDiskLib_Disconnect (own);
  }
  else
    while (i-- > 0)
      VixDiskLib_Close (h[i]);
  free (h);
  return err;
}

MNT_API VixError
VixMntapi_GetDiskSetInfo (VixDiskSetHandle handle, VixDiskSetInfo **diskSetInfo)
{
  if (!set_ok (handle) || !diskSetInfo)
    return !set_ok (handle) ? VIX_E_INVALID_HANDLE : VIX_E_INVALID_ARG;
  VixDiskSetInfo *i = calloc (1, sizeof *i);
  if (!i || !(i->mountPath = strdup (handle->mount_path))) {
    free (i);
    return VIX_E_OUT_OF_MEMORY;
  }
  i->openFlags = handle->flags;
  *diskSetInfo = i;
  return VIX_OK;
}

MNT_API void
VixMntapi_FreeDiskSetInfo (VixDiskSetInfo *diskSetInfo)
{
  if (!diskSetInfo)
    return;
  free (diskSetInfo->mountPath);
  free (diskSetInfo);
}

MNT_API VixError
VixMntapi_GetVolumeHandles (VixDiskSetHandle diskSet, size_t *numberOfVolumes,
                            VixVolumeHandle **volumeHandles)
{
  if (!set_ok (diskSet))
    return VIX_E_INVALID_HANDLE;
  if (!numberOfVolumes || !volumeHandles)
    return VIX_E_INVALID_ARG;
  pthread_mutex_lock (&diskSet->lock);
  VixVolumeHandle *a = calloc (diskSet->nvols + 1, sizeof *a);
  if (a)
    for (size_t i = 0; i < diskSet->nvols; i++)
      a[i] = &diskSet->vols[i];
  size_t n = diskSet->nvols;
  pthread_mutex_unlock (&diskSet->lock);
  if (!a)
    return VIX_E_OUT_OF_MEMORY;
  *numberOfVolumes = n;
  *volumeHandles = a;
  return VIX_OK;
}

MNT_API void
VixMntapi_FreeVolumeHandles (VixVolumeHandle *volumeHandles)
{
  free (volumeHandles);
}

/* ---- volumes ------------------------------------------------------------------ */

static VixError
mount_locked (struct VixVolumeHandleStruct *v, int ro)
{
  struct VixDiskSetHandleStruct *s = v->set;
  struct sdisk *d = &s->disks[v->disk];
  if (v->m)
    return VIX_E_MNTAPI_VOLUME_ALREADY_MOUNTED;
  if (!ro && d->ro) {
    say (1, "VixMntapi_MountVolume: %s was opened read-only\n", d->name);
    return VIX_E_MNTAPI_VOLUME_NOT_WRITABLE;
  }
  size_t n = strlen (s->mount_path) + 48;
  char *dir = malloc (n);
  if (!dir)
    return VIX_E_OUT_OF_MEMORY;
  snprintf (dir, n, "%s/disk%zu-p%u", s->mount_path, v->disk, v->number);
  if (mkdir (dir, 0700) < 0 && errno != EEXIST) {
    say (1, "VixMntapi_MountVolume: %s: %s\n", dir, strerror (errno));
    free (dir);
    return VIX_E_MNTAPI_MOUNTPT_NOT_FOUND;
  }
  struct vd_mount_source src = source_of (d, !ro);
  struct vd_mount_options o;
  vd_mount_options_init (&o);
  o.volume = v->number;
  o.flags = ro ? 0 : VD_MOUNT_WRITABLE;
  o.fsname = "vixmntapi";
  int r = vd_mount_new_source (&v->m, &src, dir, &o);
  if (r < 0) {
    VixError e = vd_fail ("VixMntapi_MountVolume", r);
    rmdir (dir);
    free (dir);
    v->m = NULL;
    return e;
  }
  v->dir = dir;
  return VIX_OK;
}

static VixError
dismount_locked (struct VixVolumeHandleStruct *v, int force)
{
  if (!v->m)
    return VIX_E_MNTAPI_VOLUME_NOT_MOUNTED;
  int r = vd_mount_unmount (v->m, force);
  if (r < 0) {
    vd_fail ("VixMntapi_DismountVolume", r);
    return VIX_E_MNTAPI_UMOUNT;
  }
  r = vd_mount_close (v->m);
  v->m = NULL;
  rmdir (v->dir);
  free (v->dir);
  v->dir = NULL;
  return r < 0 ? vd_fail ("VixMntapi_DismountVolume", r) : VIX_OK;
}

MNT_API VixError
VixMntapi_MountVolume (VixVolumeHandle volumeHandle, Bool readOnly)
{
  if (!vol_ok (volumeHandle))
    return VIX_E_INVALID_HANDLE;
  pthread_mutex_lock (&volumeHandle->set->lock);
  VixError e = mount_locked (volumeHandle, readOnly != 0);
  pthread_mutex_unlock (&volumeHandle->set->lock);
  return e;
}

MNT_API VixError
VixMntapi_DismountVolume (VixVolumeHandle volumeHandle, Bool force)
{
  if (!vol_ok (volumeHandle))
    return VIX_E_INVALID_HANDLE;
  pthread_mutex_lock (&volumeHandle->set->lock);
  VixError e = dismount_locked (volumeHandle, force != 0);
  pthread_mutex_unlock (&volumeHandle->set->lock);
  return e;
}

/* name in folder dir, compared without case (NTFS); into out. */
static int
find_ci (const char *dir, const char *name, char *out, size_t n)
{
  DIR *d = opendir (dir);
  struct dirent *e;
  int found = 0;
  if (!d)
    return 0;
  while ((e = readdir (d)))
    if (strcasecmp (e->d_name, name) == 0) {
      snprintf (out, n, "%s/%s", dir, e->d_name);
      found = 1;
      break;
    }
  closedir (d);
  return found;
}

/* The Windows folder of a mounted volume (its System32 holds
 * ntoskrnl.exe), into win (host path) and name (as found). */
static int
windows_folder (const char *root, char *win, size_t n, char *name, size_t nn)
{
  char sys[PATH_MAX], k[PATH_MAX];
  if (!find_ci (root, "Windows", win, n)
      || !find_ci (win, "System32", sys, sizeof sys)
      || !find_ci (sys, "ntoskrnl.exe", k, sizeof k))
    return 0;
  const char *b = strrchr (win, '/');
  snprintf (name, nn, "%s", b ? b + 1 : win);
  return 1;
}

static int
is_linux_root (const char *root)
{
  char p[PATH_MAX];
  struct stat st;
  snprintf (p, sizeof p, "%s/etc/os-release", root);
  if (lstat (p, &st) == 0)
    return 1;
  snprintf (p, sizeof p, "%s/usr/lib/os-release", root);
  return lstat (p, &st) == 0;
}

MNT_API VixError
VixMntapi_GetVolumeInfo (VixVolumeHandle volumeHandle, VixVolumeInfo **info)
{
  if (!vol_ok (volumeHandle))
    return VIX_E_INVALID_HANDLE;
  if (!info)
    return VIX_E_INVALID_ARG;
  struct VixVolumeHandleStruct *v = volumeHandle;
  pthread_mutex_lock (&v->set->lock);
  const char *gmp = NULL;
  char win[PATH_MAX], wname[256];
  if (v->m) {
    if (is_linux_root (v->dir))
      gmp = "/";
    else if (windows_folder (v->dir, win, sizeof win, wname, sizeof wname))
      gmp = "C:\\";
  }
  VixVolumeInfo *i = calloc (1, sizeof *i + sizeof (char *));
  VixError e = VIX_OK;
  if (!i)
    e = VIX_E_OUT_OF_MEMORY;
  else {
    i->type = v->type;
    i->isMounted = v->m != NULL;
    if (v->m && !(i->symbolicLink = strdup (v->dir)))
      e = VIX_E_OUT_OF_MEMORY;
    if (gmp) {
      i->numGuestMountPoints = 1;
      if (!(i->inGuestMountPoints[0] = strdup (gmp)))
        e = VIX_E_OUT_OF_MEMORY;
    }
  }
  pthread_mutex_unlock (&v->set->lock);
  if (e != VIX_OK) {
    VixMntapi_FreeVolumeInfo (i);
    return e;
  }
  *info = i;
  return VIX_OK;
}

MNT_API void
VixMntapi_FreeVolumeInfo (VixVolumeInfo *info)
{
  if (!info)
    return;
  free (info->symbolicLink);
  for (size_t k = 0; k < info->numGuestMountPoints && k < 1; k++)
    free (info->inGuestMountPoints[k]);
  free (info);
}

/* ---- operating system ---------------------------------------------------------- */

/* KEY=value from an os-release file (quotes removed), or NULL. */
static char *
os_release_get (const char *file, const char *key)
{
  FILE *f = fopen (file, "r");
  char line[1024];
  size_t kl = strlen (key);
  char *v = NULL;
  if (!f)
    return NULL;
  while (!v && fgets (line, sizeof line, f)) {
    if (strncmp (line, key, kl) != 0 || line[kl] != '=')
      continue;
    char *p = line + kl + 1;
    p[strcspn (p, "\r\n")] = 0;
    size_t n = strlen (p);
    if (n >= 2 && (p[0] == '"' || p[0] == '\'') && p[n - 1] == p[0]) {
      p[n - 1] = 0;
      p++;
    }
    v = strdup (p);
  }
  fclose (f);
  return v;
}

/* 64-bit guest: the ELF class of a system binary (not followed if it is
 * a symbolic link: those name guest paths). */
static int
elf64 (const char *root)
{
  static const char *bins[] = { "usr/bin/ls", "bin/ls", "usr/bin/env",
                                "usr/bin/dpkg", "usr/bin/rpm" };
  for (size_t i = 0; i < sizeof bins / sizeof *bins; i++) {
    char p[PATH_MAX];
    unsigned char h[5];
    snprintf (p, sizeof p, "%s/%s", root, bins[i]);
    int fd = open (p, O_RDONLY | O_NOFOLLOW);
    if (fd < 0)
      continue;
    ssize_t r = read (fd, h, 5);
    close (fd);
    if (r == 5 && memcmp (h, "\177ELF", 4) == 0)
      return h[4] == 2;
  }
  return 0;
}

/* Version and bitness of a Windows kernel image: VS_FIXEDFILEINFO in its
 * version resource (signature 0xFEEF04BD) and the PE machine type. */
static void
pe_version (const char *file, uint32 *major, uint32 *minor, Bool *is64)
{
  int fd = open (file, O_RDONLY);
  if (fd < 0)
    return;
  uint8_t *b = malloc (1 << 20);
  size_t n = 0;
  ssize_t r = 0;
  struct stat st;
  if (b && fstat (fd, &st) == 0) {
    /* the resources sit near the end: read the head and the last MiB */
    r = pread (fd, b, 4096, 0);
    if (r >= 0x40) {
      uint32_t pe = b[0x3C] | (b[0x3D] << 8) | (b[0x3E] << 16)
                    | ((uint32_t) b[0x3F] << 24);
      if (pe + 6 <= (uint32_t) r && memcmp (b + pe, "PE\0\0", 4) == 0) {
        unsigned mach = b[pe + 4] | (b[pe + 5] << 8);
        *is64 = mach == 0x8664 || mach == 0xAA64;
      }
    }
    off_t at = st.st_size > (1 << 20) ? st.st_size - (1 << 20) : 0;
    r = pread (fd, b, 1 << 20, at);
    n = r > 0 ? (size_t) r : 0;
    for (size_t i = 0; i + 16 <= n; i += 4)
      if (b[i] == 0xBD && b[i + 1] == 0x04 && b[i + 2] == 0xEF
          && b[i + 3] == 0xFE) {
        uint32_t ms = b[i + 8] | (b[i + 9] << 8) | (b[i + 10] << 16)
                      | ((uint32_t) b[i + 11] << 24);
        *major = ms >> 16;
        *minor = ms & 0xFFFF;
        break;
      }
  }
  free (b);
  close (fd);
}

static int
os_probe (const char *root, VixOsInfo *o)
{
  char f[PATH_MAX], win[PATH_MAX], wname[256];
  if (is_linux_root (root)) {
    snprintf (f, sizeof f, "%s/etc/os-release", root);
    if (access (f, R_OK) != 0)
      snprintf (f, sizeof f, "%s/usr/lib/os-release", root);
    char *name = os_release_get (f, "NAME");
    char *ver = os_release_get (f, "VERSION_ID");
    char *ed = os_release_get (f, "VARIANT");
    if (!ed)
      ed = os_release_get (f, "PRETTY_NAME");
    o->family = VIXMNTAPI_OTHER;
    if (ver) {
      unsigned long a = strtoul (ver, NULL, 10);
      const char *dot = strchr (ver, '.');
      o->majorVersion = (uint32) a;
      o->minorVersion = dot ? (uint32) strtoul (dot + 1, NULL, 10) : 0;
    }
    o->vendor = name ? name : strdup ("Linux");
    o->edition = ed ? ed : strdup ("");
    o->osFolder = strdup ("/");
    o->osIs64Bit = elf64 (root);
    free (ver);
    return 1;
  }
  if (windows_folder (root, win, sizeof win, wname, sizeof wname)) {
    char sys[PATH_MAX], k[PATH_MAX];
    o->family = VIXMNTAPI_WINDOWS;
    if (find_ci (win, "System32", sys, sizeof sys)
        && find_ci (sys, "ntoskrnl.exe", k, sizeof k))
      pe_version (k, &o->majorVersion, &o->minorVersion, &o->osIs64Bit);
    o->vendor = strdup ("Microsoft");
    o->edition = strdup ("");
    size_t n = strlen (wname) + 4;
    if ((o->osFolder = malloc (n)))
      snprintf (o->osFolder, n, "C:\\%s", wname);
    return 1;
  }
  return 0;
}

MNT_API VixError
VixMntapi_GetOsInfo (VixDiskSetHandle diskSet, VixOsInfo **info)
{
  if (!set_ok (diskSet))
    return VIX_E_INVALID_HANDLE;
  if (!info)
    return VIX_E_INVALID_ARG;
  VixOsInfo *o = calloc (1, sizeof *o);
  if (!o)
    return VIX_E_OUT_OF_MEMORY;
  o->family = VIXMNTAPI_NO_OS;
  pthread_mutex_lock (&diskSet->lock);
  int found = 0;
  for (size_t i = 0; i < diskSet->nvols && !found; i++) {
    struct VixVolumeHandleStruct *v = &diskSet->vols[i];
    if (v->fs != VD_FS_EXT2 && v->fs != VD_FS_EXT3 && v->fs != VD_FS_EXT4
        && v->fs != VD_FS_NTFS)
      continue;
    int temp = 0;
    if (!v->m) {
      if (mount_locked (v, 1) != VIX_OK)
        continue;
      temp = 1;
    }
    found = os_probe (v->dir, o);
    if (temp)
      dismount_locked (v, 1);
  }
  pthread_mutex_unlock (&diskSet->lock);
  if (!found) {
    o->vendor = strdup ("");
    o->edition = strdup ("");
    o->osFolder = strdup ("");
  }
  if (!o->vendor || !o->edition || !o->osFolder) {
    VixMntapi_FreeOsInfo (o);
    return VIX_E_OUT_OF_MEMORY;
  }
  *info = o;
  return VIX_OK;
}

MNT_API void
VixMntapi_FreeOsInfo (VixOsInfo *info)
{
  if (!info)
    return;
  free (info->vendor);
  free (info->edition);
  free (info->osFolder);
  free (info);
}

MNT_API VixError
VixMntapi_CloseDiskSet (VixDiskSetHandle diskSet)
{
  if (!set_ok (diskSet))
    return VIX_E_INVALID_HANDLE;
  pthread_mutex_lock (&diskSet->lock);
  VixError e = VIX_OK;
  for (size_t i = 0; i < diskSet->nvols; i++)
    if (diskSet->vols[i].m) {
      VixError r = dismount_locked (&diskSet->vols[i], 1);
      if (r != VIX_OK && e == VIX_OK)
        e = r;
    }
  pthread_mutex_unlock (&diskSet->lock);
  set_free (diskSet);
  return e;
}
