/* vix-disklib-sample: the VDDK guide's sample program, written anew for
 * vdisk's VixDiskLib-compatible API.  Same commands and options as the
 * stock program (see usage()), plus -split (split extents for -create,
 * -clone and -multithread) and -edit FIND REPLACE (replace every
 * occurrence of a byte string, across sector boundaries) and -virus (scan
 * the allocated data for signatures with libvdisk's native libclamav
 * scanner; signatures from $VDISK_SCAN_DB, default /var/lib/clamav).
 *
 * Usage: vix-disklib-sample COMMAND [OPTIONS] DISK
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "vdisk/vixDiskLib.h"
/* As VMware's sample: the API version this program is written for. */
#define VIXDISKLIB_VERSION_MAJOR 8
#define VIXDISKLIB_VERSION_MINOR 0
#include "vdisk/vixMntapi.h"
#include "vdisk/vdisk.h"      /* -virus: the native scanner */

#define SECTOR VIXDISKLIB_SECTOR_SIZE

enum {
  CMD_CREATE = 1 << 0, CMD_REDO = 1 << 1, CMD_INFO = 1 << 2,
  CMD_DUMP = 1 << 3, CMD_FILL = 1 << 4, CMD_WMETA = 1 << 5,
  CMD_RMETA = 1 << 6, CMD_META = 1 << 7, CMD_CLONE = 1 << 8,
  CMD_READBENCH = 1 << 9, CMD_WRITEBENCH = 1 << 10,
  CMD_READASYNCBENCH = 1 << 11, CMD_WRITEASYNCBENCH = 1 << 12,
  CMD_MULTITHREAD = 1 << 13, CMD_CHECK = 1 << 14,
  CMD_ALLOCATED = 1 << 15, CMD_EDIT = 1 << 16, CMD_VIRUS = 1 << 17,
  CMD_CLEANUP = 1 << 18,
};

static struct {
  unsigned command;
  const char *disk;
  const char *parent;           /* -redo */
  const char *src;              /* -clone */
  const char *key, *value;      /* -wmeta, -rmeta */
  const char *find, *replace;   /* -edit */
  VixDiskLibAdapterType adapter;
  uint64 cap_mb;
  uint64 start, count;
  unsigned val;
  uint32 open_flags;
  uint32 bufsize;               /* bench I/O size, sectors */
  uint32 lssize, pssize;        /* -lssize, -pssize: create/clone */
  const char *folder;           /* -diskFolder */
  int nthreads;
  int repair;
  int split;
  uint64 chunksize;
  char *paths[3];               /* DISK, -redo PARENT, -clone SOURCE in -diskFolder */
  const char *libdir, *initex, *ssmoref, *mode;
  int use_initex, remote;
  VixDiskLibConnectParams cnx;
  VixDiskLibConnection conn;
} app;

static void
usage (void)
{
  printf (
"Usage: vix-disklib-sample COMMAND [OPTIONS] DISK [OPTIONS]\n"
"Options may come before or after DISK; any other argument is refused.\n"
"Commands (exactly one):\n"
"  -create                  create a sparse disk of -cap MB\n"
"  -redo PARENT             create DISK as a redo log (child) of PARENT\n"
"  -info                    capacity, links, adapter and geometry\n"
"  -dump                    hex dump -count sectors from -start\n"
"  -fill                    fill -count sectors from -start with -val\n"
"  -wmeta KEY VALUE         write a metadata entry\n"
"  -rmeta KEY               read a metadata entry\n"
"  -meta                    print every metadata entry\n"
"  -clone SOURCE            clone SOURCE into DISK\n"
"  -readbench N             read the whole disk in N-sector requests\n"
"  -writebench N            overwrite the whole disk in N-sector requests\n"
"  -readasyncbench N        as -readbench, with ReadAsync\n"
"  -writeasyncbench N       as -writebench, with WriteAsync\n"
"  -multithread N           copy DISK in N threads at once\n"
"  -check REPAIR            check the disk (REPAIR 0 or 1)\n"
"  -getallocatedblocks      list the allocated blocks\n"
"  -edit FIND REPLACE       replace every occurrence of FIND by REPLACE\n"
"  -virus                   scan a local disk for viruses (libclamav;\n"
"                           signatures from $VDISK_SCAN_DB, default\n"
"                           /var/lib/clamav); exit status 3 when one is found\n"
"  -cleanup                 VixDiskLib_Cleanup on the connection (DISK optional)\n"
"Options:\n"
"  -adapter ide|buslogic|lsilogic  adapter for -create/-clone (buslogic)\n"
"  -cap MB                  capacity for -create (100)\n"
"  -start N -count N        sector range for -dump and -fill (0, 1)\n"
"  -val BYTE                fill byte (255)\n"
"  -single                  open only this link of a chain\n"
"  -chunksize N             chunk for -getallocatedblocks (128)\n"
"  -split                   split (2 GB) extents for -create/-clone\n"
"  -lssize N -pssize N      logical/physical sector size for -create/-clone\n"
"                           (0 or 512; the default 0 means 512)\n"
"  -unbuffered              open with VIXDISKLIB_FLAG_OPEN_UNBUFFERED\n"
"  -diskFolder DIR          relative DISK, -redo and -clone paths are in DIR\n"
"  -libdir DIR -initex CONFIG -ssmoref REF -mode MODES\n"
"  -host H -user U -password P -cookie C -thumb T -port N -nfchostport N\n"
"  -vm moref=ID -fcdid ID -ds MOREF (or -fcdds) -fcdssid ID -vimapiver V\n"
"  -compress zlib|fastlz|skipz\n");
}

#define CHECK(err) do {                                                 \
    VixError e_ = (err);                                                \
    if (VIX_FAILED (e_)) {                                              \
      fail (__FILE__, __LINE__, e_);                                    \
      goto out;                                                         \
    }                                                                   \
  } while (0)

static int failed;
static int virus_found;         /* -virus: exit status 3 */

static void
fail (const char *file, int line, VixError err)
{
  char *text = VixDiskLib_GetErrorText (err, NULL);

  fprintf (stderr, "Error: [%s:%d] %" FMT64 "x %s\n", file, line, err,
           text ? text : "(no text)");
  VixDiskLib_FreeErrorText (text);
  failed = 1;
}

static void
die_usage (const char *msg)
{
  fprintf (stderr, "vix-disklib-sample: %s\n", msg);
  usage ();
  exit (1);
}

static uint64
num_arg (const char *s, const char *opt)
{
  char *end;
  unsigned long long v;

  errno = 0;
  v = strtoull (s, &end, 0);
  if (errno || end == s || *end || *s == '-') {
    fprintf (stderr, "vix-disklib-sample: %s: bad number \"%s\"\n", opt, s);
    exit (1);
  }
  return v;
}

static void
log_func (const char *fmt, va_list args)
{
  fputs ("Log: ", stderr);
  vfprintf (stderr, fmt, args);
}

static void
warn_func (const char *fmt, va_list args)
{
  fputs ("Warning: ", stderr);
  vfprintf (stderr, fmt, args);
}

static void
panic_func (const char *fmt, va_list args)
{
  fputs ("Panic: ", stderr);
  vfprintf (stderr, fmt, args);
  abort ();
}

static double
now_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

/* -mount (VixMntapi): list the disk's volumes, mount each read-only and
 * print its top-level entries.  Self-contained: libvixMntapi. */
#include <dirent.h>
#define CMD_MOUNT (1u << 30)
static void
do_mount (void)
{
  const char *names[1] = { app.disk };
  VixDiskSetHandle set = NULL;
  VixVolumeHandle *vols = NULL;
  size_t n = 0, i;

  CHECK (VixMntapi_Init (VIXMNTAPI_MAJOR_VERSION, VIXMNTAPI_MINOR_VERSION,
                         log_func, warn_func, panic_func, app.libdir, NULL));
  CHECK (VixMntapi_OpenDisks (app.conn, names, 1,
                              app.open_flags | VIXDISKLIB_FLAG_OPEN_READ_ONLY,
                              &set));
  CHECK (VixMntapi_GetVolumeHandles (set, &n, &vols));
  printf ("Number of volumes: %zu\n", n);
  for (i = 0; i < n; i++) {
    VixVolumeInfo *vi = NULL;
    VixError err = VixMntapi_MountVolume (vols[i], TRUE);
    if (VIX_FAILED (err)) {
      printf ("Volume %zu: not mounted\n", i + 1);
      fail (__FILE__, __LINE__, err);
      continue;
    }
    err = VixMntapi_GetVolumeInfo (vols[i], &vi);
    if (VIX_SUCCEEDED (err) && vi->symbolicLink) {
      DIR *d = opendir (vi->symbolicLink);
      struct dirent *e;
      printf ("Volume %zu: type %d, mounted at %s\n", i + 1, (int) vi->type,
              vi->symbolicLink);
      while (d && (e = readdir (d)))
        if (strcmp (e->d_name, ".") && strcmp (e->d_name, ".."))
          printf ("  %s\n", e->d_name);
      if (d)
        closedir (d);
    } else
      fail (__FILE__, __LINE__, err);
    VixMntapi_FreeVolumeInfo (vi);
    err = VixMntapi_DismountVolume (vols[i], FALSE);
    if (VIX_FAILED (err))
      fail (__FILE__, __LINE__, err);
  }
out:
  VixMntapi_FreeVolumeHandles (vols);
  if (set)
    VixMntapi_CloseDiskSet (set);
  VixMntapi_Exit ();
}

static void
parse_args (int argc, char **argv)
{
  int i;

  app.adapter = VIXDISKLIB_ADAPTER_SCSI_BUSLOGIC;
  app.cap_mb = 100;
  app.count = 1;
  app.val = 255;
  app.chunksize = VIXDISKLIB_MIN_CHUNK_SIZE;
  app.cnx.port = 443;
  app.cnx.nfcHostPort = 902;
  app.cnx.specType = VIXDISKLIB_SPEC_VMX;

  if (argc < 2)
    die_usage ("a command and a disk are required");
  /* As VMware's sample: options start with '-', the first other argument
   * is the disk.  Options after the disk are parsed too (never silently
   * dropped), and a second disk argument is refused. */
  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] != '-' || !a[1]) {
      if (app.disk) {
        fprintf (stderr, "vix-disklib-sample: unexpected argument \"%s\" "
                 "after the disk path \"%s\"\n", a, app.disk);
        usage ();
        exit (1);
      }
      app.disk = a;
      continue;
    }
#define NEED(n) do { if (i + (n) >= argc)                               \
        die_usage ("an option is missing its argument"); } while (0)
    if (!strcmp (a, "-create")) app.command |= CMD_CREATE;
    else if (!strcmp (a, "-redo")) { NEED (1); app.command |= CMD_REDO; app.parent = argv[++i]; }
    else if (!strcmp (a, "-info")) app.command |= CMD_INFO;
    else if (!strcmp (a, "-dump")) app.command |= CMD_DUMP;
    else if (!strcmp (a, "-mount")) app.command |= CMD_MOUNT;
    else if (!strcmp (a, "-fill")) app.command |= CMD_FILL;
    else if (!strcmp (a, "-wmeta")) {
      NEED (2); app.command |= CMD_WMETA;
      app.key = argv[++i]; app.value = argv[++i];
    }
    else if (!strcmp (a, "-rmeta")) { NEED (1); app.command |= CMD_RMETA; app.key = argv[++i]; }
    else if (!strcmp (a, "-meta")) app.command |= CMD_META;
    else if (!strcmp (a, "-clone")) { NEED (1); app.command |= CMD_CLONE; app.src = argv[++i]; }
    else if (!strcmp (a, "-readbench") || !strcmp (a, "-writebench")
             || !strcmp (a, "-readasyncbench")
             || !strcmp (a, "-writeasyncbench")) {
      NEED (1);
      app.command |= !strcmp (a, "-readbench") ? CMD_READBENCH
        : !strcmp (a, "-writebench") ? CMD_WRITEBENCH
        : !strcmp (a, "-readasyncbench") ? CMD_READASYNCBENCH
        : CMD_WRITEASYNCBENCH;
      app.bufsize = (uint32) num_arg (argv[++i], a);
      if (app.bufsize == 0 || app.bufsize > 65536)
        die_usage ("the benchmark I/O size must be 1..65536 sectors");
    }
    else if (!strcmp (a, "-multithread")) {
      NEED (1); app.command |= CMD_MULTITHREAD;
      app.nthreads = (int) num_arg (argv[++i], a);
      if (app.nthreads < 1 || app.nthreads > 64)
        die_usage ("-multithread takes 1..64 threads");
    }
    else if (!strcmp (a, "-check")) {
      NEED (1); app.command |= CMD_CHECK;
      app.repair = num_arg (argv[++i], a) != 0;
    }
    else if (!strcmp (a, "-getallocatedblocks")) app.command |= CMD_ALLOCATED;
    else if (!strcmp (a, "-virus")) app.command |= CMD_VIRUS;
    else if (!strcmp (a, "-cleanup")) app.command |= CMD_CLEANUP;
    else if (!strcmp (a, "-edit")) {
      NEED (2); app.command |= CMD_EDIT;
      app.find = argv[++i]; app.replace = argv[++i];
    }
    else if (!strcmp (a, "-adapter")) {
      const char *v;
      NEED (1); v = argv[++i];
      if (!strcmp (v, "ide")) app.adapter = VIXDISKLIB_ADAPTER_IDE;
      else if (!strcmp (v, "buslogic") || !strcmp (v, "scsi"))
        app.adapter = VIXDISKLIB_ADAPTER_SCSI_BUSLOGIC;
      else if (!strcmp (v, "lsilogic"))
        app.adapter = VIXDISKLIB_ADAPTER_SCSI_LSILOGIC;
      else die_usage ("-adapter takes ide, buslogic or lsilogic");
    }
    else if (!strcmp (a, "-cap")) { NEED (1); app.cap_mb = num_arg (argv[++i], a); }
    else if (!strcmp (a, "-start")) { NEED (1); app.start = num_arg (argv[++i], a); }
    else if (!strcmp (a, "-count")) { NEED (1); app.count = num_arg (argv[++i], a); }
    else if (!strcmp (a, "-val")) {
      NEED (1); app.val = (unsigned) num_arg (argv[++i], a);
      if (app.val > 255) die_usage ("-val takes a byte (0..255)");
    }
    else if (!strcmp (a, "-single")) app.open_flags |= VIXDISKLIB_FLAG_OPEN_SINGLE_LINK;
    else if (!strcmp (a, "-chunksize")) { NEED (1); app.chunksize = num_arg (argv[++i], a); }
    else if (!strcmp (a, "-split")) app.split = 1;
    else if (!strcmp (a, "-lssize") || !strcmp (a, "-pssize")) {
      uint32 v;
      NEED (1); v = (uint32) num_arg (argv[++i], a);
      if (v != 0 && v != 512)
        die_usage ("-lssize and -pssize take 0 or 512 (the only sector "
                   "size of a VMDK disk)");
      if (a[1] == 'l') app.lssize = v; else app.pssize = v;
    }
    else if (!strcmp (a, "-unbuffered")) app.open_flags |= VIXDISKLIB_FLAG_OPEN_UNBUFFERED;
    else if (!strcmp (a, "-diskFolder")) { NEED (1); app.folder = argv[++i]; }
    else if (!strcmp (a, "-libdir")) { NEED (1); app.libdir = argv[++i]; }
    else if (!strcmp (a, "-initex")) { NEED (1); app.use_initex = 1; app.initex = argv[++i]; }
    else if (!strcmp (a, "-ssmoref")) { NEED (1); app.ssmoref = argv[++i]; }
    else if (!strcmp (a, "-mode")) { NEED (1); app.mode = argv[++i]; }
    else if (!strcmp (a, "-compress")) {
      const char *v;
      NEED (1); v = argv[++i];
      if (!strcmp (v, "zlib")) app.open_flags |= VIXDISKLIB_FLAG_OPEN_COMPRESSION_ZLIB;
      else if (!strcmp (v, "fastlz")) app.open_flags |= VIXDISKLIB_FLAG_OPEN_COMPRESSION_FASTLZ;
      else if (!strcmp (v, "skipz")) app.open_flags |= VIXDISKLIB_FLAG_OPEN_COMPRESSION_SKIPZ;
      else die_usage ("-compress takes zlib, fastlz or skipz");
    }
    /* Remote options: the library answers them with not-supported. */
    else if (!strcmp (a, "-host")) { NEED (1); app.remote = 1; app.cnx.serverName = argv[++i]; }
    else if (!strcmp (a, "-user")) {
      NEED (1); app.remote = 1;
      app.cnx.creds.uid.userName = argv[++i];
      if (!app.cnx.credType) app.cnx.credType = VIXDISKLIB_CRED_UID;
    }
    else if (!strcmp (a, "-password")) {
      NEED (1); app.remote = 1;
      app.cnx.creds.uid.password = argv[++i];
      if (!app.cnx.credType) app.cnx.credType = VIXDISKLIB_CRED_UID;
    }
    else if (!strcmp (a, "-cookie")) {
      char *user = app.cnx.creds.uid.userName, *pw = app.cnx.creds.uid.password;
      NEED (1); app.remote = 1;
      app.cnx.credType = VIXDISKLIB_CRED_SESSIONID;
      app.cnx.creds.sessionId.cookie = argv[++i];
      app.cnx.creds.sessionId.userName = user;
      app.cnx.creds.sessionId.key = pw;
    }
    else if (!strcmp (a, "-thumb")) { NEED (1); app.remote = 1; app.cnx.thumbPrint = argv[++i]; }
    else if (!strcmp (a, "-port")) { NEED (1); app.remote = 1; app.cnx.port = (uint32) num_arg (argv[++i], a); }
    else if (!strcmp (a, "-nfchostport")) { NEED (1); app.remote = 1; app.cnx.nfcHostPort = (uint32) num_arg (argv[++i], a); }
    else if (!strcmp (a, "-vm")) { NEED (1); app.remote = 1; app.cnx.vmxSpec = argv[++i]; }
    else if (!strcmp (a, "-fcdid")) {
      /* a first class disk: local (datastore = a folder) unless -host */
      NEED (1);
      app.cnx.specType = VIXDISKLIB_SPEC_VSTORAGE_OBJECT;
      app.cnx.spec.vStorageObjSpec.id = argv[++i];
    }
    else if (!strcmp (a, "-fcdds") || !strcmp (a, "-ds")) { NEED (1); app.cnx.spec.vStorageObjSpec.datastoreMoRef = argv[++i]; }
    else if (!strcmp (a, "-fcdssid")) { NEED (1); app.cnx.spec.vStorageObjSpec.ssId = argv[++i]; }
    else if (!strcmp (a, "-vimapiver")) { NEED (1); app.remote = 1; app.cnx.vimApiVer = argv[++i]; }
    else if (!strcmp (a, "-h") || !strcmp (a, "-help") || !strcmp (a, "--help")) {
      usage ();
      exit (0);
    }
    else {
      fprintf (stderr, "vix-disklib-sample: unknown option %s\n", a);
      usage ();
      exit (1);
    }
#undef NEED
  }
  if (__builtin_popcount (app.command) != 1)
    die_usage ("give exactly one command");
  if (!app.disk && app.command != CMD_CLEANUP
      && app.cnx.specType != VIXDISKLIB_SPEC_VSTORAGE_OBJECT)
    die_usage ("no disk path given (or -fcdid ID -fcdds DATASTORE)");
  if (app.command == CMD_VIRUS && app.remote)
    die_usage ("-virus scans local disks only (it reads the disk with "
               "libvdisk); it does not take -host or other remote options");
  if (app.folder) {
    const char **names[3] = { &app.disk, &app.parent, &app.src };
    for (int k = 0; k < 3; k++) {
      if (!*names[k] || **names[k] == '/')
        continue;
      if (asprintf (&app.paths[k], "%s/%s", app.folder, *names[k]) < 0) {
        fprintf (stderr, "vix-disklib-sample: out of memory\n");
        exit (1);
      }
      *names[k] = app.paths[k];
    }
  }
  if (app.remote && (!app.cnx.serverName || (!app.cnx.creds.uid.userName
                                             && app.cnx.credType == VIXDISKLIB_CRED_UID)))
    die_usage ("remote mode needs -host, -user and -password");
}

/* ---- commands -------------------------------------------------------- */

static VixDiskLibCreateParams
create_params (void)
{
  VixDiskLibCreateParams p;

  memset (&p, 0, sizeof p);
  p.diskType = app.split ? VIXDISKLIB_DISK_SPLIT_SPARSE
    : VIXDISKLIB_DISK_MONOLITHIC_SPARSE;
  p.adapterType = app.adapter;
  p.hwVersion = VIXDISKLIB_HWVERSION_WORKSTATION_5;
  p.capacity = app.cap_mb * 2048;
  p.logicalSectorSize = app.lssize;
  p.physicalSectorSize = app.pssize;
  return p;
}

static const char *
adapter_name (VixDiskLibAdapterType a)
{
  switch (a) {
  case VIXDISKLIB_ADAPTER_IDE: return "IDE";
  case VIXDISKLIB_ADAPTER_SCSI_BUSLOGIC: return "BusLogic SCSI";
  case VIXDISKLIB_ADAPTER_SCSI_LSILOGIC: return "LsiLogic SCSI";
  default: return "unknown";
  }
}

static void
do_create (void)
{
  VixDiskLibCreateParams p = create_params ();

  CHECK (VixDiskLib_Create (app.conn, app.disk, &p, NULL, NULL));
  printf ("Created %s: %" FMT64 "u sectors\n", app.disk, p.capacity);
out:
  return;
}

static void
do_redo (void)
{
  VixDiskLibHandle parent = NULL;

  CHECK (VixDiskLib_Open (app.conn, app.parent, 0, &parent));
  CHECK (VixDiskLib_CreateChild (parent, app.disk,
                                 VIXDISKLIB_DISK_MONOLITHIC_SPARSE,
                                 NULL, NULL));
  printf ("Created redo log %s over %s\n", app.disk, app.parent);
out:
  if (parent)
    VixDiskLib_Close (parent);
}

static void
do_info (VixDiskLibHandle h)
{
  VixDiskLibInfo *info = NULL;

  CHECK (VixDiskLib_GetInfo (h, &info));
  printf ("capacity          = %" FMT64 "u sectors\n", info->capacity);
  printf ("number of links   = %d\n", info->numLinks);
  printf ("adapter type      = %s\n", adapter_name (info->adapterType));
  printf ("BIOS geometry     = %u/%u/%u\n", info->biosGeo.cylinders,
          info->biosGeo.heads, info->biosGeo.sectors);
  printf ("physical geometry = %u/%u/%u\n", info->physGeo.cylinders,
          info->physGeo.heads, info->physGeo.sectors);
  printf ("sector sizes      = %u/%u\n", info->logicalSectorSize,
          info->physicalSectorSize);
  if (info->parentFileNameHint)
    printf ("parent            = %s\n", info->parentFileNameHint);
  if (info->uuid)
    printf ("uuid              = %s\n", info->uuid);
  printf ("Transport modes supported by vixDiskLib: %s\n",
          VixDiskLib_ListTransportModes ());
  printf ("Transport mode of this handle: %s\n",
          VixDiskLib_GetTransportMode (h));
out:
  VixDiskLib_FreeInfo (info);
}

static void
hexdump (const uint8 *buf, size_t len, uint64 base)
{
  size_t i, j;

  for (i = 0; i < len; i += 16) {
    printf ("%08" FMT64 "x :", base + i);
    for (j = 0; j < 16; j++)
      printf (" %02x", buf[i + j]);
    printf ("  ");
    for (j = 0; j < 16; j++)
      putchar (buf[i + j] >= 0x20 && buf[i + j] < 0x7f ? buf[i + j] : '.');
    putchar ('\n');
  }
}

static void
do_dump (VixDiskLibHandle h)
{
  uint8 buf[SECTOR];
  uint64 i;

  for (i = 0; i < app.count; i++) {
    CHECK (VixDiskLib_Read (h, app.start + i, 1, buf));
    hexdump (buf, sizeof buf, (app.start + i) * SECTOR);
  }
out:
  return;
}

static void
do_fill (VixDiskLibHandle h)
{
  uint8 buf[SECTOR];
  uint64 i;

  memset (buf, (int) app.val, sizeof buf);
  for (i = 0; i < app.count; i++)
    CHECK (VixDiskLib_Write (h, app.start + i, 1, buf));
  printf ("Filled sectors %" FMT64 "u..%" FMT64 "u with 0x%02x\n",
          app.start, app.start + app.count - 1, app.val);
out:
  return;
}

static void
do_wmeta (VixDiskLibHandle h)
{
  CHECK (VixDiskLib_WriteMetadata (h, app.key, app.value));
out:
  return;
}

/* The two-call size protocol: ask for the size, then read. */
static char *
read_meta (VixDiskLibHandle h, const char *key, VixError *errp)
{
  size_t need = 0;
  char *buf;
  VixError err;

  err = VixDiskLib_ReadMetadata (h, key, NULL, 0, &need);
  if (err != VIX_E_BUFFER_TOOSMALL && err != VIX_OK) {
    *errp = err;
    return NULL;
  }
  buf = malloc (need ? need : 1);
  if (!buf) {
    *errp = VIX_E_OUT_OF_MEMORY;
    return NULL;
  }
  err = VixDiskLib_ReadMetadata (h, key, buf, need, NULL);
  if (VIX_FAILED (err)) {
    free (buf);
    *errp = err;
    return NULL;
  }
  *errp = VIX_OK;
  return buf;
}

static void
do_rmeta (VixDiskLibHandle h)
{
  VixError err;
  char *v = read_meta (h, app.key, &err);

  CHECK (err);
  printf ("%s = %s\n", app.key, v);
  free (v);
out:
  return;
}

static void
do_meta (VixDiskLibHandle h)
{
  size_t need = 0;
  char *keys = NULL, *k;
  VixError err;

  err = VixDiskLib_GetMetadataKeys (h, NULL, 0, &need);
  if (err != VIX_E_BUFFER_TOOSMALL)
    CHECK (err);
  keys = malloc (need);
  if (!keys)
    CHECK (VIX_E_OUT_OF_MEMORY);
  CHECK (VixDiskLib_GetMetadataKeys (h, keys, need, NULL));
  for (k = keys; *k; k += strlen (k) + 1) {
    char *v = read_meta (h, k, &err);
    CHECK (err);
    printf ("%s = %s\n", k, v);
    free (v);
  }
out:
  free (keys);
}

static Bool
clone_progress (void *data, int pct)
{
  (void) data;
  printf ("\rCloning : %3d%% Done", pct);
  fflush (stdout);
  return TRUE;
}

static void
do_clone (void)
{
  VixDiskLibConnection src = NULL;
  VixDiskLibConnectParams local;
  VixDiskLibCreateParams p = create_params ();

  memset (&local, 0, sizeof local);
  CHECK (VixDiskLib_Connect (&local, &src));
  if (app.cnx.specType == VIXDISKLIB_SPEC_VSTORAGE_OBJECT) {
    /* -fcdid: the first class disk (or snapshot) into the local PATH;
     * its path on the connection is its ID when no DISK is given */
    CHECK (VixDiskLib_Clone (src, app.src, app.conn,
                             app.disk ? app.disk
                                      : app.cnx.spec.vStorageObjSpec.id,
                             &p, clone_progress, NULL, TRUE));
    printf ("\nCloned %s to %s\n", app.cnx.spec.vStorageObjSpec.id, app.src);
    goto out;
  }
  CHECK (VixDiskLib_Clone (app.conn, app.disk, src, app.src, &p,
                           clone_progress, NULL, TRUE));
  printf ("\nCloned %s to %s\n", app.src, app.disk);
out:
  if (src)
    VixDiskLib_Disconnect (src);
}

static uint64
capacity_of (VixDiskLibHandle h, VixError *errp)
{
  VixDiskLibInfo *info = NULL;
  uint64 cap = 0;

  *errp = VixDiskLib_GetInfo (h, &info);
  if (VIX_SUCCEEDED (*errp))
    cap = info->capacity;
  VixDiskLib_FreeInfo (info);
  return cap;
}

static void
report_bench (const char *what, uint64 sectors, double ms)
{
  double mb = sectors * (double) SECTOR / (1024 * 1024);

  if (ms < 0.001)
    ms = 0.001;
  printf ("%s %.2f MBytes in %.0f msec (%.2f MBytes/sec)\n", what, mb, ms,
          mb / (ms / 1000.0));
}

static void
random_fill (uint8 *buf, size_t len, unsigned *seed)
{
  size_t i;

  for (i = 0; i < len; i++)
    buf[i] = (uint8) (rand_r (seed) >> 7);
}

static void
do_bench (VixDiskLibHandle h, int is_write)
{
  VixError err;
  uint64 cap = capacity_of (h, &err), pos;
  uint8 *buf = NULL;
  unsigned seed = 1;
  double t0;

  CHECK (err);
  buf = malloc ((size_t) app.bufsize * SECTOR);
  if (!buf)
    CHECK (VIX_E_OUT_OF_MEMORY);
  if (is_write)
    random_fill (buf, (size_t) app.bufsize * SECTOR, &seed);
  t0 = now_ms ();
  for (pos = 0; pos < cap; pos += app.bufsize) {
    uint64 n = cap - pos < app.bufsize ? cap - pos : app.bufsize;
    if (is_write)
      CHECK (VixDiskLib_Write (h, pos, n, buf));
    else
      CHECK (VixDiskLib_Read (h, pos, n, buf));
  }
  if (is_write)
    CHECK (VixDiskLib_Flush (h));
  report_bench (is_write ? "Wrote" : "Read", cap, now_ms () - t0);
out:
  free (buf);
}

/* Asynchronous benchmark: a pool of buffers, each reissued when its
 * completion callback has run. */
#define POOL 4

struct async_pool {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int free_slots[POOL];
  int nfree;
  VixError first_error;
};

struct async_slot {
  struct async_pool *pool;
  int index;
};

static void
async_done (void *data, VixError result)
{
  struct async_slot *s = data;
  struct async_pool *p = s->pool;

  pthread_mutex_lock (&p->lock);
  if (VIX_FAILED (result) && p->first_error == VIX_OK)
    p->first_error = result;
  p->free_slots[p->nfree++] = s->index;
  pthread_cond_signal (&p->cond);
  pthread_mutex_unlock (&p->lock);
}

static void
do_async_bench (VixDiskLibHandle h, int is_write)
{
  struct async_pool pool;
  struct async_slot slots[POOL];
  uint8 *bufs = NULL;
  size_t blen = (size_t) app.bufsize * SECTOR;
  VixError err;
  uint64 cap = capacity_of (h, &err), pos;
  unsigned seed = 1;
  double t0;
  int i;

  CHECK (err);
  memset (&pool, 0, sizeof pool);
  pthread_mutex_init (&pool.lock, NULL);
  pthread_cond_init (&pool.cond, NULL);
  bufs = malloc (blen * POOL);
  if (!bufs)
    CHECK (VIX_E_OUT_OF_MEMORY);
  if (is_write)
    random_fill (bufs, blen * POOL, &seed);
  for (i = 0; i < POOL; i++) {
    slots[i].pool = &pool;
    slots[i].index = i;
    pool.free_slots[pool.nfree++] = i;
  }
  t0 = now_ms ();
  for (pos = 0; pos < cap; pos += app.bufsize) {
    uint64 n = cap - pos < app.bufsize ? cap - pos : app.bufsize;
    int slot;

    pthread_mutex_lock (&pool.lock);
    while (pool.nfree == 0)
      pthread_cond_wait (&pool.cond, &pool.lock);
    slot = pool.free_slots[--pool.nfree];
    err = pool.first_error;
    pthread_mutex_unlock (&pool.lock);
    if (VIX_FAILED (err))
      break;
    err = is_write
      ? VixDiskLib_WriteAsync (h, pos, n, bufs + slot * blen, async_done,
                               &slots[slot])
      : VixDiskLib_ReadAsync (h, pos, n, bufs + slot * blen, async_done,
                              &slots[slot]);
    if (err != VIX_ASYNC) {
      VixDiskLib_Wait (h);
      CHECK (err);
    }
  }
  CHECK (VixDiskLib_Wait (h));
  CHECK (pool.first_error);
  if (is_write)
    CHECK (VixDiskLib_Flush (h));
  report_bench (is_write ? "Wrote" : "Read", cap, now_ms () - t0);
out:
  free (bufs);
}

struct mt_arg {
  int id;
  VixError err;
  uint64 copied;
  char path[64];
};

static void *
mt_thread (void *data)
{
  struct mt_arg *a = data;
  VixDiskLibConnection local = NULL;
  VixDiskLibConnectParams lp;
  VixDiskLibHandle src = NULL, dst = NULL;
  VixDiskLibCreateParams p;
  uint8 *buf = NULL, *check = NULL;
  uint64 cap = 0, pos;
  const uint64 step = 128;

  memset (&lp, 0, sizeof lp);
  a->err = VixDiskLib_Open (app.conn, app.disk,
                            app.open_flags | VIXDISKLIB_FLAG_OPEN_READ_ONLY,
                            &src);
  if (VIX_FAILED (a->err))
    goto out;
  cap = capacity_of (src, &a->err);
  if (VIX_FAILED (a->err))
    goto out;
  a->err = VixDiskLib_Connect (&lp, &local);
  if (VIX_FAILED (a->err))
    goto out;
  memset (&p, 0, sizeof p);
  p.diskType = app.split ? VIXDISKLIB_DISK_SPLIT_SPARSE
    : VIXDISKLIB_DISK_MONOLITHIC_SPARSE;
  p.adapterType = VIXDISKLIB_ADAPTER_SCSI_BUSLOGIC;
  p.hwVersion = VIXDISKLIB_HWVERSION_WORKSTATION_5;
  p.capacity = cap;
  snprintf (a->path, sizeof a->path, "/tmp/test%ld-%d-%u.vmdk",
            (long) getpid (), a->id, (unsigned) rand ());
  a->err = VixDiskLib_Create (local, a->path, &p, NULL, NULL);
  if (VIX_FAILED (a->err))
    goto out;
  a->err = VixDiskLib_Open (local, a->path, 0, &dst);
  if (VIX_FAILED (a->err))
    goto out;
  buf = malloc (step * SECTOR);
  check = malloc (step * SECTOR);
  if (!buf || !check) {
    a->err = VIX_E_OUT_OF_MEMORY;
    goto out;
  }
  for (pos = 0; pos < cap; pos += step) {
    uint64 n = cap - pos < step ? cap - pos : step;
    a->err = VixDiskLib_Read (src, pos, n, buf);
    if (VIX_SUCCEEDED (a->err))
      a->err = VixDiskLib_Write (dst, pos, n, buf);
    if (VIX_SUCCEEDED (a->err))
      a->err = VixDiskLib_Read (dst, pos, n, check);
    if (VIX_FAILED (a->err))
      goto out;
    if (memcmp (buf, check, n * SECTOR)) {
      fprintf (stderr, "thread %d: copy differs at sector %" FMT64 "u\n",
               a->id, pos);
      a->err = VIX_E_FAIL;
      goto out;
    }
    a->copied += n;
  }
out:
  free (buf);
  free (check);
  if (dst)
    VixDiskLib_Close (dst);
  if (src)
    VixDiskLib_Close (src);
  if (a->path[0] && local) {
    /* Unlink may be unsupported: then remove the single file ourselves. */
    VixError e = VixDiskLib_Unlink (local, a->path);
    if (VIX_FAILED (e) && !app.split)
      unlink (a->path);
  }
  if (local)
    VixDiskLib_Disconnect (local);
  return NULL;
}

static void
do_multithread (void)
{
  pthread_t *t = calloc ((size_t) app.nthreads, sizeof *t);
  struct mt_arg *a = calloc ((size_t) app.nthreads, sizeof *a);
  int i;

  if (!t || !a)
    CHECK (VIX_E_OUT_OF_MEMORY);
  srand ((unsigned) time (NULL) ^ (unsigned) getpid ());
  for (i = 0; i < app.nthreads; i++) {
    a[i].id = i;
    if (pthread_create (&t[i], NULL, mt_thread, &a[i]) != 0) {
      a[i].err = VIX_E_FAIL;
      t[i] = 0;
    }
  }
  for (i = 0; i < app.nthreads; i++) {
    if (t[i])
      pthread_join (t[i], NULL);
    if (VIX_FAILED (a[i].err))
      fail (__FILE__, __LINE__, a[i].err);
    else
      printf ("Thread %d: copied %" FMT64 "u sectors to %s\n", i,
              a[i].copied, a[i].path);
  }
out:
  free (t);
  free (a);
}

static void
do_check (void)
{
  CHECK (VixDiskLib_CheckRepair (app.conn, app.disk, (Bool) app.repair));
  printf ("%s: no problems found\n", app.disk);
out:
  return;
}

static void
do_allocated (VixDiskLibHandle h)
{
  VixError err;
  uint64 cap = capacity_of (h, &err), chunk = app.chunksize;
  uint64 aligned, pos, allocated = 0, nblocks = 0;
  VixDiskLibBlockList *list = NULL;
  uint32 i;

  CHECK (err);
  if (chunk == 0)
    CHECK (VIX_E_INVALID_ARG);
  aligned = cap / chunk * chunk;
  for (pos = 0; pos < aligned;) {
    uint64 n = aligned - pos;
    if (n > chunk * VIXDISKLIB_MAX_CHUNK_NUMBER)
      n = chunk * VIXDISKLIB_MAX_CHUNK_NUMBER;
    CHECK (VixDiskLib_QueryAllocatedBlocks (h, pos, n, chunk, &list));
    for (i = 0; i < list->numBlocks; i++) {
      printf ("Offset 0x%" FMT64 "x Length 0x%" FMT64 "x\n",
              list->blocks[i].offset, list->blocks[i].length);
      allocated += list->blocks[i].length;
      nblocks++;
    }
    VixDiskLib_FreeBlockList (list);
    list = NULL;
    pos += n;
  }
  if (aligned < cap) {
    /* The unaligned tail cannot be queried: count it as allocated. */
    printf ("Offset 0x%" FMT64 "x Length 0x%" FMT64 "x (unaligned tail)\n",
            aligned, cap - aligned);
    allocated += cap - aligned;
    nblocks++;
  }
  printf ("Number of blocks: %" FMT64 "u\n", nblocks);
  printf ("Allocated: %" FMT64 "u of %" FMT64 "u sectors (%.2f%%)\n",
          allocated, cap, cap ? allocated * 100.0 / cap : 0.0);
out:
  if (list)
    VixDiskLib_FreeBlockList (list);
}

/* -edit: ranges to scan, in sectors. */
struct range {
  uint64 start, end;
};

/* The sector ranges where FIND can occur: every allocated block widened by
 * the pattern length (a match may run into unallocated zeros).  A pattern
 * of zeros only can match anywhere: then the whole disk. */
static struct range *
edit_ranges (VixDiskLibHandle h, uint64 cap, size_t m, size_t *nout)
{
  const uint64 chunk = VIXDISKLIB_MIN_CHUNK_SIZE;
  uint64 aligned = cap / chunk * chunk, pos, widen;
  struct range *r = NULL;
  size_t n = 0, alloc = 0, i;
  VixDiskLibBlockList *list;
  int all_zero = 1;

  for (i = 0; i < m; i++)
    if (app.find[i])
      all_zero = 0;
  widen = (m + SECTOR - 1) / SECTOR;
  if (all_zero)
    goto whole;
  for (pos = 0; pos < aligned;) {
    uint64 len = aligned - pos;
    uint32 b;
    if (len > chunk * VIXDISKLIB_MAX_CHUNK_NUMBER)
      len = chunk * VIXDISKLIB_MAX_CHUNK_NUMBER;
    if (VIX_FAILED (VixDiskLib_QueryAllocatedBlocks (h, pos, len, chunk,
                                                     &list)))
      goto whole;
    for (b = 0; b <= list->numBlocks; b++) {
      struct range x;
      if (b == list->numBlocks) {
        if (pos + len != aligned || aligned == cap)
          break;
        x.start = aligned;     /* unaligned tail */
        x.end = cap;
      }
      else {
        x.start = list->blocks[b].offset;
        x.end = x.start + list->blocks[b].length;
      }
      x.start = x.start > widen ? x.start - widen : 0;
      x.end = x.end + widen < cap ? x.end + widen : cap;
      if (n > 0 && r[n - 1].end >= x.start) {
        if (x.end > r[n - 1].end)
          r[n - 1].end = x.end;
        continue;
      }
      if (n == alloc) {
        struct range *nr;
        alloc = alloc ? alloc * 2 : 16;
        nr = realloc (r, alloc * sizeof *nr);
        if (!nr) {
          VixDiskLib_FreeBlockList (list);
          goto whole;
        }
        r = nr;
      }
      r[n++] = x;
    }
    VixDiskLib_FreeBlockList (list);
    pos += len;
  }
  *nout = n;
  return r;

whole:
  free (r);
  r = malloc (sizeof *r);
  if (!r) {
    *nout = 0;
    return NULL;
  }
  r->start = 0;
  r->end = cap;
  *nout = 1;
  return r;
}

static void
do_edit (VixDiskLibHandle h)
{
  const size_t m = strlen (app.find);
  const uint64 step = 2048;     /* sectors per read: 1 MiB */
  VixError err;
  uint64 cap = capacity_of (h, &err), replaced = 0;
  struct range *ranges = NULL;
  size_t nranges = 0, ri;
  uint8 *win = NULL, patch[2 * SECTOR];

  CHECK (err);
  if (m == 0 || strlen (app.replace) != m) {
    fprintf (stderr, "vix-disklib-sample: -edit: FIND must not be empty and "
             "REPLACE must have the same length\n");
    failed = 1;
    goto out;
  }
  if (m > SECTOR) {
    fprintf (stderr, "vix-disklib-sample: -edit: FIND may be at most %d "
             "bytes\n", SECTOR);
    failed = 1;
    goto out;
  }
  ranges = edit_ranges (h, cap, m, &nranges);
  if (!ranges && cap)
    CHECK (VIX_E_OUT_OF_MEMORY);
  /* Window: the last m-1 bytes of the previous read, then the new one. */
  win = malloc (m - 1 + step * SECTOR);
  if (!win)
    CHECK (VIX_E_OUT_OF_MEMORY);

  for (ri = 0; ri < nranges; ri++) {
    uint64 pos = ranges[ri].start, next_ok = 0;
    size_t carry = 0;

    while (pos < ranges[ri].end) {
      uint64 n = ranges[ri].end - pos < step ? ranges[ri].end - pos : step;
      uint64 base = pos * SECTOR - carry;  /* disk byte of win[0] */
      size_t len = carry + n * SECTOR, i;

      CHECK (VixDiskLib_Read (h, pos, n, win + carry));
      for (i = 0; i + m <= len; i++) {
        uint64 at = base + i, s0, ns;
        if (at < next_ok || memcmp (win + i, app.find, m))
          continue;
        /* Read-modify-write the (at most two) sectors of the match. */
        s0 = at / SECTOR;
        ns = (at + m - 1) / SECTOR - s0 + 1;
        CHECK (VixDiskLib_Read (h, s0, ns, patch));
        memcpy (patch + (at - s0 * SECTOR), app.replace, m);
        CHECK (VixDiskLib_Write (h, s0, ns, patch));
        memcpy (win + i, app.replace, m);
        printf ("Replaced at byte offset 0x%" FMT64 "x\n", at);
        replaced++;
        next_ok = at + m;
      }
      carry = m - 1 < len ? m - 1 : len;
      memmove (win, win + len - carry, carry);
      pos += n;
    }
  }
  if (replaced)
    CHECK (VixDiskLib_Flush (h));
  printf ("%" FMT64 "u occurrences of \"%s\" replaced\n", replaced, app.find);
out:
  free (ranges);
  free (win);
}

/* -virus: the guide's SecureVirusScan(buf, n) loop, done by libvdisk's
 * native scanner: only allocated data is read, windows overlap so a
 * signature across sector or grain boundaries is found, and each hit is
 * narrowed to its sectors. */
static int
virus_hit (const struct vd_scan_hit *hit, void *payload)
{
  int *found = payload;

  printf ("Virus detected in sectors %llu–%llu: %s\n",
          (unsigned long long) hit->first_sector,
          (unsigned long long) hit->last_sector, hit->name);
  (*found)++;
  return 0;
}


/* The disk -virus scans: the path, or the first class disk of -fcdid. */
static int
open_scan_disk (vd_disk **d, uint32_t flags)
{
  const VixDiskLibVStorageObjectSpec *o = &app.cnx.spec.vStorageObjSpec;
  vd_fcd_store *s;
  int rc;

  if (app.cnx.specType != VIXDISKLIB_SPEC_VSTORAGE_OBJECT)
    return vd_disk_open (d, app.disk, flags);
  if (!o->datastoreMoRef)
    return vd_fcd_store_open (&s, "", 0);     /* the error names it */
  if ((rc = vd_fcd_store_open (&s, o->datastoreMoRef, 0)) < 0)
    return rc;
  rc = vd_fcd_open (d, s, app.disk ? app.disk : o->id, o->ssId, flags);
  vd_fcd_store_close (s);
  return rc;
}

static void
do_virus (void)
{
  const char *db = getenv ("VDISK_SCAN_DB");
  struct vd_scan_stats st;
  vd_scanner *sc = NULL;
  vd_disk *d = NULL;
  int found = 0;
  uint32_t flags = VD_OPEN_READ_ONLY;

  if (app.open_flags & VIXDISKLIB_FLAG_OPEN_SINGLE_LINK)
    flags |= VD_OPEN_SINGLE_LINK;
  if (vd_scanner_new_clamav (&sc, db, 0) < 0
      || open_scan_disk (&d, flags) < 0
      || vd_scan (d, sc, NULL, virus_hit, &found, &st) < 0) {
    fprintf (stderr, "Error: %s\n", vd_last_error ()->message);
    failed = 1;
  }
  else {
    if (!found)
      printf ("No virus found.\n");
    else
      virus_found = 1;
    printf ("Virus scan: %u signatures, sectors scanned: %llu of %llu\n",
            vd_scanner_get_signature_count (sc),
            (unsigned long long) (st.data_bytes / SECTOR),
            (unsigned long long) (vd_disk_get_size (d) / SECTOR));
  }
  vd_disk_close (d);
  vd_scanner_free (sc);
}

/* -cleanup: VixDiskLib_Cleanup on the connection parameters. */
static void
do_cleanup (void)
{
  uint32 cleaned = 0, remaining = 0;

  CHECK (VixDiskLib_Cleanup (&app.cnx, &cleaned, &remaining));
  printf ("Cleaned up %u, %u remaining\n", (unsigned) cleaned,
          (unsigned) remaining);
out:
  return;
}

int
main (int argc, char **argv)
{
  VixDiskLibHandle h = NULL;
  VixError err;
  int accessed = 0, initialized = 0;
  uint32 flags;

  parse_args (argc, argv);

  if (app.use_initex)
    err = VixDiskLib_InitEx (VIXDISKLIB_VERSION_MAJOR,
                             VIXDISKLIB_VERSION_MINOR, log_func, warn_func,
                             panic_func, app.libdir,
                             *app.initex ? app.initex : NULL);
  else
    err = VixDiskLib_Init (VIXDISKLIB_VERSION_MAJOR,
                           VIXDISKLIB_VERSION_MINOR, NULL, NULL, NULL,
                           app.libdir);
  CHECK (err);
  initialized = 1;

  if (app.cnx.vmxSpec || app.cnx.specType == VIXDISKLIB_SPEC_VSTORAGE_OBJECT) {
    CHECK (VixDiskLib_PrepareForAccess (&app.cnx, "Sample"));
    accessed = 1;
  }
  if (app.ssmoref || app.mode
      || app.cnx.specType == VIXDISKLIB_SPEC_VSTORAGE_OBJECT)
    CHECK (VixDiskLib_ConnectEx (&app.cnx,
                                 (app.open_flags
                                  & VIXDISKLIB_FLAG_OPEN_READ_ONLY) != 0,
                                 app.ssmoref, app.mode, &app.conn));
  else
    CHECK (VixDiskLib_Connect (&app.cnx, &app.conn));

  switch (app.command) {
  case CMD_CREATE: do_create (); goto out;
  case CMD_REDO: do_redo (); goto out;
  case CMD_CLONE: do_clone (); goto out;
  case CMD_MULTITHREAD: do_multithread (); goto out;
  case CMD_CHECK: do_check (); goto out;
  case CMD_VIRUS: do_virus (); goto out;
  case CMD_CLEANUP: do_cleanup (); goto out;
  case CMD_MOUNT: do_mount (); goto out;
  default: break;
  }

  /* The rest work on an open disk. */
  flags = app.open_flags;
  if (app.command & (CMD_INFO | CMD_DUMP | CMD_RMETA | CMD_META
                     | CMD_READBENCH | CMD_READASYNCBENCH | CMD_ALLOCATED))
    flags |= VIXDISKLIB_FLAG_OPEN_READ_ONLY;
  CHECK (VixDiskLib_Open (app.conn, app.disk, flags, &h));
  switch (app.command) {
  case CMD_INFO: do_info (h); break;
  case CMD_DUMP: do_dump (h); break;
  case CMD_FILL: do_fill (h); break;
  case CMD_WMETA: do_wmeta (h); break;
  case CMD_RMETA: do_rmeta (h); break;
  case CMD_META: do_meta (h); break;
  case CMD_READBENCH: do_bench (h, 0); break;
  case CMD_WRITEBENCH: do_bench (h, 1); break;
  case CMD_READASYNCBENCH: do_async_bench (h, 0); break;
  case CMD_WRITEASYNCBENCH: do_async_bench (h, 1); break;
  case CMD_ALLOCATED: do_allocated (h); break;
  case CMD_EDIT: do_edit (h); break;
  default: break;
  }

out:
  if (h) {
    err = VixDiskLib_Close (h);
    if (VIX_FAILED (err))
      fail (__FILE__, __LINE__, err);
  }
  if (accessed)
    VixDiskLib_EndAccess (&app.cnx, "Sample");
  if (app.conn)
    VixDiskLib_Disconnect (app.conn);
  if (initialized)
    VixDiskLib_Exit ();
  for (int k = 0; k < 3; k++)
    free (app.paths[k]);
  return failed ? 1 : virus_found ? 3 : 0;
}
