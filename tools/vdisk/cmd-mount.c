/* vdisk mount / vdisk umount: partitions and guest volumes through FUSE. */
#include "vdisk-tool.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- --list ----------------------------------------------------------------- */

static void
human (char *out, size_t n, uint64_t b)
{
  static const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
  double v = (double) b;
  int i = 0;
  while (v >= 1024 && i < 5) {
    v /= 1024;
    i++;
  }
  snprintf (out, n, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

static void
json_fs (FILE *f, const struct vd_fs_info *fs)
{
  fprintf (f, "{\"type\": ");
  if (fs->type == VD_FS_UNKNOWN)
    fprintf (f, "null");
  else
    json_str (f, vd_fs_type_name (fs->type));
  fprintf (f, ", \"label\": ");
  json_str (f, fs->label);
  fprintf (f, ", \"uuid\": ");
  json_str (f, fs->uuid);
  fprintf (f, "}");
}

/* Open the disk to mount: a path or URI, or with --fcd DATASTORE the
 * first class disk ID (its top) or its snapshot ID@SSID (read-only),
 * through the catalog of the datastore. */
static int
open_disk (vd_disk **d, const char *fcd, const char *disk, uint32_t flags)
{
  if (!fcd)
    return vd_disk_open (d, disk, flags);
  vd_fcd_store *s;
  int r = vd_fcd_store_open (&s, fcd, 0);
  if (r < 0)
    return r;
  r = vd_fcd_open (d, s, disk, NULL, flags);
  vd_fcd_store_close (s);
  return r;
}

static int
list (const char *path, const char *fcd, const struct open_opts *oo,
      int json)
{
  vd_disk *d;
  struct vd_partition_table *t;
  if (open_disk (&d, fcd, path, open_flags (oo, 1)) < 0)
    return fail ();
  if (vd_partitions_read (d, &t) < 0) {
    fail ();
    vd_disk_close (d);
    return 1;
  }
  if (json) {
    printf ("{\n  \"disk\": ");
    json_str (stdout, path);
    printf (",\n  \"size\": %llu,\n  \"label\": ",
            (unsigned long long) t->disk_size);
    json_str (stdout, vd_table_type_name (t->type));
    printf (",\n  \"id\": ");
    json_str (stdout, t->id);
    printf (",\n  \"sectorsize\": 512");
    if (t->type == VD_TABLE_GPT)
      printf (",\n  \"firstlba\": %llu,\n  \"lastlba\": %llu",
              (unsigned long long) t->first_lba,
              (unsigned long long) t->last_lba);
    if (t->type == VD_TABLE_NONE) {
      printf (",\n  \"filesystem\": ");
      json_fs (stdout, &t->whole);
    }
    printf (",\n  \"partitions\": [");
    for (unsigned i = 0; i < t->count; i++) {
      const struct vd_partition *p = &t->parts[i];
      printf ("%s\n    {\"number\": %u, \"node\": \"p%u\", \"start\": %llu, "
              "\"size\": %llu, \"offset\": %llu, \"length\": %llu, "
              "\"type\": ", i ? "," : "", p->number, p->number,
              (unsigned long long) (p->offset / 512),
              (unsigned long long) (p->length / 512),
              (unsigned long long) p->offset,
              (unsigned long long) p->length);
      if (t->type == VD_TABLE_GPT)
        json_str (stdout, p->type_guid);
      else
        printf ("\"%x\"", p->mbr_type);
      printf (", \"uuid\": ");
      json_str (stdout, p->uuid);
      if (t->type == VD_TABLE_GPT) {
        printf (", \"name\": ");
        json_str (stdout, p->name);
        printf (", \"attrs\": %llu", (unsigned long long) p->gpt_attributes);
      }
      printf (", \"bootable\": %s, \"extended\": %s, \"logical\": %s, "
              "\"filesystem\": ",
              (p->flags & VD_PART_BOOTABLE) ? "true" : "false",
              (p->flags & VD_PART_EXTENDED) ? "true" : "false",
              (p->flags & VD_PART_LOGICAL) ? "true" : "false");
      if (p->flags & VD_PART_EXTENDED)
        printf ("null");
      else
        json_fs (stdout, &p->fs);
      printf ("}");
    }
    printf ("%s]\n}\n", t->count ? "\n  " : "");
  } else {
    char h[32];
    human (h, sizeof h, t->disk_size);
    printf ("%s: %s, %s (%llu bytes)%s%s\n", path,
            t->type == VD_TABLE_NONE ? "no partition table"
            : t->type == VD_TABLE_GPT ? "GPT" : "MBR (dos)", h,
            (unsigned long long) t->disk_size, t->id[0] ? ", id " : "",
            t->id);
    if (t->type == VD_TABLE_NONE && t->whole.type != VD_FS_UNKNOWN)
      printf ("  whole disk: %s label \"%s\" uuid %s\n",
              vd_fs_type_name (t->whole.type), t->whole.label,
              t->whole.uuid);
    if (t->count)
      printf ("%-5s %12s %12s %10s %-8s %-8s %-16s %s\n", "NODE", "START",
              "SECTORS", "SIZE", "TYPE", "FS", "LABEL", "UUID");
    for (unsigned i = 0; i < t->count; i++) {
      const struct vd_partition *p = &t->parts[i];
      char node[16], type[48];
      snprintf (node, sizeof node, "p%u", p->number);
      human (h, sizeof h, p->length);
      if (t->type == VD_TABLE_GPT)
        snprintf (type, sizeof type, "%.8s", p->type_guid);
      else
        snprintf (type, sizeof type, "%02x%s", p->mbr_type,
                  (p->flags & VD_PART_EXTENDED) ? " ext"
                  : (p->flags & VD_PART_BOOTABLE) ? " *" : "");
      const char *fs = (p->flags & VD_PART_EXTENDED) ? "-"
                       : p->fs.type == VD_FS_UNKNOWN ? "?"
                       : vd_fs_type_name (p->fs.type);
      printf ("%-5s %12llu %12llu %10s %-8s %-8s %-16s %s\n", node,
              (unsigned long long) (p->offset / 512),
              (unsigned long long) (p->length / 512), h, type, fs,
              p->fs.label[0] ? p->fs.label : "-",
              p->fs.uuid[0] ? p->fs.uuid : "-");
    }
  }
  vd_partitions_free (t);
  vd_disk_close (d);
  return 0;
}

/* ---- mount ------------------------------------------------------------------ */

static int
is_uri (const char *p)
{
  return strstr (p, "://") != NULL;
}

/* DISK.vmdk -> DISK-mount.vmdk */
static char *
default_child (const char *disk)
{
  size_t n = strlen (disk);
  char *c = malloc (n + 16);
  if (!c)
    return NULL;
  memcpy (c, disk, n + 1);
  if (n > 5 && strcmp (c + n - 5, ".vmdk") == 0)
    c[n - 5] = 0;
  strcat (c, "-mount.vmdk");
  return c;
}

struct mount_args {
  const char *disk, *dir, *into;
  const char *fcd;          /* --fcd DATASTORE: disk is ID[@SSID] */
  struct open_opts oo;
  int rw, in_place, allow_other;
  int fuse2fs;              /* --driver fuse2fs */
  unsigned volume;
};

struct sigctx {
  vd_mount *m;
  sigset_t set;
};

static void *
sig_thread (void *arg)
{
  struct sigctx *s = arg;
  int sig;
  for (;;) {
    if (sigwait (&s->set, &sig) != 0)
      continue;
    if (vd_mount_unmount (s->m, 0) < 0)
      vd_mount_unmount (s->m, 1);
  }
  return NULL;
}

/* Does a writer hold the disk?  The writer's byte of QEMU's lock
 * protocol (101, which vdisk and qemu writers hold on the descriptor),
 * tested without taking anything. */
static int
writer_holds (const char *path)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  struct flock fl;
  memset (&fl, 0, sizeof fl);
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = 101;
  fl.l_len = 1;
  int held = fcntl (fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
  close (fd);
  return held;
}

/* Report to the waiting parent (fd >= 0): "OK" or the error. */
static void
report (int fd, const char *msg)
{
  if (fd < 0)
    return;
  size_t n = strlen (msg);
  while (n) {
    ssize_t w = write (fd, msg, n);
    if (w <= 0)
      break;
    msg += w;
    n -= (size_t) w;
  }
  close (fd);
}

static int
mount_fail (int fd, const char *what)
{
  const struct vd_error *e = vd_last_error ();
  char msg[2048];
  snprintf (msg, sizeof msg, "vdisk mount: %s%s%s\n", what ? what : "",
            what ? ": " : "",
            e->message[0] ? e->message : vd_strerror (e->code));
  if (fd >= 0)
    report (fd, msg);
  else
    fputs (msg, stderr);
  return 1;
}

/* The mount itself; report_fd >= 0 when a parent waits for the result. */
static int
do_mount (const struct mount_args *a, int report_fd)
{
  vd_disk *d = NULL;
  char *child = NULL;
  int rc = 0;
  struct sigctx sc;

  sigemptyset (&sc.set);
  sigaddset (&sc.set, SIGINT);
  sigaddset (&sc.set, SIGTERM);
  sigaddset (&sc.set, SIGHUP);
  pthread_sigmask (SIG_BLOCK, &sc.set, NULL);

  if (a->rw && !a->in_place) {
    child = a->into ? strdup (a->into) : default_child (a->disk);
    if (!child) {
      report (report_fd, "vdisk mount: out of memory\n");
      return 1;
    }
    if (access (child, F_OK) == 0) {
      char msg[PATH_MAX + 128];
      snprintf (msg, sizeof msg, "vdisk mount: %s exists: name another "
                "child with --into, or mount it as the disk\n", child);
      if (report_fd >= 0)
        report (report_fd, msg);
      else
        fputs (msg, stderr);
      free (child);
      return 1;
    }
  }
  /* No writer may hold the disk.  A child needs the writer's lock free
   * (a read-write open tests it and writes nothing until the first
   * write); a read-only mount only needs no writer: readers that refuse
   * writers (qemu-nbd -r) are fine. */
  if (a->fcd) {
    /* a first class disk: opened through its catalog (vd_fcd_open), its
     * own disk locks apply */
  } else if (!is_uri (a->disk) && child) {
    vd_disk *w;
    if (vd_disk_open (&w, a->disk, open_flags (&a->oo, 0)) == 0)
      vd_disk_close (w);
    else if (vd_last_error ()->code == VD_ELOCKED) {
      free (child);
      return mount_fail (report_fd, NULL);
    }
  } else if (!is_uri (a->disk) && !a->rw && writer_holds (a->disk)) {
    char msg[PATH_MAX + 128];
    snprintf (msg, sizeof msg, "vdisk mount: %s: locked: another program "
              "(or handle) has the disk open for writing\n", a->disk);
    if (report_fd >= 0)
      report (report_fd, msg);
    else
      fputs (msg, stderr);
    return 1;
  }
  if (child) {
    vd_disk *p;
    if (open_disk (&p, a->fcd, a->disk, open_flags (&a->oo, 1)) < 0) {
      free (child);
      return mount_fail (report_fd, NULL);
    }
    if (vd_disk_create_child (p, child, VD_TYPE_MONOLITHIC_SPARSE, 0) < 0) {
      vd_disk_close (p);
      free (child);
      return mount_fail (report_fd, NULL);
    }
    vd_disk_close (p);
    struct open_opts co = a->oo;
    co.single_link = 0;
    /* a child of a first class disk names its parent in the datastore by
     * its absolute path (written just now, by us) */
    if (a->fcd)
      co.trusted = 1;
    if (vd_disk_open (&d, child, open_flags (&co, 0)) < 0) {
      rc = mount_fail (report_fd, NULL);
      vd_disk_unlink (child, 0);
      free (child);
      return rc;
    }
  } else if (open_disk (&d, a->fcd, a->disk,
                        open_flags (&a->oo, !a->rw)) < 0)
    return mount_fail (report_fd, NULL);
  else if (a->fcd && !a->rw && writer_holds (vd_disk_get_path (d))) {
    /* the top of a first class disk that someone writes (the path is
     * known once the catalog named it) */
    char msg[PATH_MAX + 128];
    snprintf (msg, sizeof msg, "vdisk mount: %s: locked: another program "
              "(or handle) has the disk open for writing\n", a->disk);
    vd_disk_close (d);
    if (report_fd >= 0)
      report (report_fd, msg);
    else
      fputs (msg, stderr);
    return 1;
  }

  char fsname[64];
  snprintf (fsname, sizeof fsname, "vdisk:%ld", (long) getpid ());
  struct vd_mount_options mo;
  vd_mount_options_init (&mo);
  mo.flags = (a->rw ? VD_MOUNT_WRITABLE : 0)
             | (a->allow_other ? VD_MOUNT_ALLOW_OTHER : 0)
             | (a->fuse2fs ? VD_MOUNT_FUSE2FS : 0);
  mo.volume = a->volume;
  mo.fsname = fsname;
  vd_mount *m;
  if (vd_mount_new (&m, d, a->dir, &mo) < 0) {
    rc = mount_fail (report_fd, NULL);
    vd_disk_close (d);
    if (child)
      vd_disk_unlink (child, 0);
    free (child);
    return rc;
  }
  sc.m = m;
  pthread_t st;
  pthread_create (&st, NULL, sig_thread, &sc);
  pthread_detach (st);
  if (report_fd >= 0) {
    report (report_fd, "OK");
    int null = open ("/dev/null", O_RDWR);
    if (null >= 0) {
      dup2 (null, 0);
      dup2 (null, 1);
      dup2 (null, 2);
      if (null > 2)
        close (null);
    }
  } else if (child)
    fprintf (stderr, "vdisk mount: writing into %s\n", child);
  vd_mount_wait (m);
  if (vd_mount_close (m) < 0)
    rc = fail ();
  if (vd_disk_close (d) < 0)
    rc = fail ();
  free (child);
  return rc;
}

static int
run_mount (int argc, char **argv)
{
  static const struct option opts[] = {
    { "list", no_argument, NULL, 'l' },
    { "json", no_argument, NULL, 'j' },
    { "volume", required_argument, NULL, 'v' },
    { "read-write", no_argument, NULL, 'w' },
    { "into", required_argument, NULL, 'i' },
    { "in-place", no_argument, NULL, 'P' },
    { "foreground", no_argument, NULL, 'f' },
    { "allow-other", no_argument, NULL, 'A' },
    { "single-link", no_argument, NULL, 'S' },
    { "ignore-cid", no_argument, NULL, 'I' },
    { "trusted", no_argument, NULL, 'T' },
    { "raw", no_argument, NULL, 'R' },
    { "fcd", required_argument, NULL, 'F' },
    { "driver", required_argument, NULL, 'D' },
    OPT_HELP, { 0 } };
  struct mount_args a = { 0 };
  int c, lst = 0, json = 0, fg = 0;
  const char *driver = NULL;

  while ((c = getopt_long (argc, argv, "ljv:wi:f", opts, NULL)) != -1) {
    switch (c) {
    case 'l': lst = 1; break;
    case 'j': json = 1; break;
    case 'v': {
      char *end;
      errno = 0;
      unsigned long v = strtoul (optarg, &end, 10);
      if (errno || *end || v == 0 || v > 1024 || *optarg == '-')
        return usage_error ("mount", "bad volume number '%s'", optarg);
      a.volume = (unsigned) v;
      break;
    }
    case 'w': a.rw = 1; break;
    case 'i': a.into = optarg; break;
    case 'P': a.in_place = 1; break;
    case 'f': fg = 1; break;
    case 'A': a.allow_other = 1; break;
    case 'S': a.oo.single_link = 1; break;
    case 'I': a.oo.ignore_cid = 1; break;
    case 'T': a.oo.trusted = 1; break;
    case 'R': a.oo.raw = 1; break;
    case 'F': a.fcd = optarg; break;
    case 'D':
      if (strcmp (optarg, "fuse2fs") != 0 && strcmp (optarg, "builtin") != 0)
        return usage_error ("mount", "--driver is builtin or fuse2fs, not "
                            "'%s'", optarg);
      driver = optarg;
      a.fuse2fs = strcmp (optarg, "fuse2fs") == 0;
      break;
    default: return usage_error ("mount", "invalid option");
    }
  }
  if (lst) {
    if (optind + 1 != argc)
      return usage_error ("mount", "--list expects one DISK argument");
    return list (argv[optind], a.fcd, &a.oo, json);
  }
  if (json)
    return usage_error ("mount", "--json goes with --list");
  if (optind + 2 != argc)
    return usage_error ("mount", "expected DISK and DIR arguments");
  if ((a.into || a.in_place) && !a.rw)
    return usage_error ("mount", "--into and --in-place go with "
                        "--read-write");
  if (a.into && a.in_place)
    return usage_error ("mount", "--into and --in-place exclude each other");
  if (driver && !a.volume)
    return usage_error ("mount", "--driver goes with --volume");
  if (driver && !a.fuse2fs && a.rw)
    return usage_error ("mount", "--driver builtin is read-only: "
                        "--read-write mounts ext volumes through fuse2fs");
  if (a.rw && (a.oo.single_link || a.oo.ignore_cid))
    return usage_error ("mount", "--single-link and --ignore-cid are "
                        "read-only options");
  a.disk = argv[optind];
  a.dir = argv[optind + 1];
  if (a.fcd && a.rw && !a.into && !a.in_place)
    return usage_error ("mount", "--read-write of a first class disk needs "
                        "--into CHILD (or --in-place for its top)");
  if (a.fcd && a.in_place && strchr (a.disk, '@'))
    return usage_error ("mount", "a snapshot of a first class disk is "
                        "read-only: --into CHILD writes into a child of it");
  if (fg)
    return do_mount (&a, -1);

  /* In the background: the child mounts and serves; the parent waits for
   * its word and exits with it. */
  int p[2];
  if (pipe2 (p, O_CLOEXEC) < 0) {
    fprintf (stderr, "vdisk mount: pipe: %s\n", strerror (errno));
    return 1;
  }
  fflush (NULL);
  pid_t pid = fork ();
  if (pid < 0) {
    fprintf (stderr, "vdisk mount: fork: %s\n", strerror (errno));
    return 1;
  }
  if (pid == 0) {
    close (p[0]);
    setsid ();
    _exit (do_mount (&a, p[1]));
  }
  close (p[1]);
  char buf[4096];
  size_t n = 0;
  ssize_t r;
  while (n + 1 < sizeof buf
         && ((r = read (p[0], buf + n, sizeof buf - 1 - n)) > 0
             || (r < 0 && errno == EINTR)))
    if (r > 0)
      n += (size_t) r;
  buf[n] = 0;
  close (p[0]);
  if (strcmp (buf, "OK") == 0)
    return 0;
  int st;
  waitpid (pid, &st, 0);
  fputs (n ? buf : "vdisk mount: the mount process ended without a word\n",
         stderr);
  return 1;
}

const struct command cmd_mount = {
  "mount", run_mount,
  "[--volume N [--driver builtin|fuse2fs]] [--read-write [--into CHILD | "
  "--in-place]] [--foreground] [--fcd DATASTORE] DISK DIR | --list [--json] "
  "[--fcd DATASTORE] DISK",
  "Mount a disk's partitions as files (disk, p1, p2, ...) at DIR through "
  "FUSE, or the guest file system of volume N (read-only ext2/3/4: served "
  "by vdisk itself; read-write ext2/3/4: fuse2fs; NTFS: ntfs-3g).  "
  "`vdisk umount DIR` ends it.",
  "  -l, --list            print the partition table and each volume's "
  "file system\n"
  "  -j, --json            --list as JSON\n"
  "  -v, --volume N        mount the file system of partition N at DIR\n"
  "      --driver NAME     an ext volume's driver: builtin (read-only, the\n"
  "                        default) or fuse2fs (always for --read-write)\n"
  "  -w, --read-write      writable: writes go into a new child disk\n"
  "  -i, --into CHILD      the child (default DISK-mount.vmdk)\n"
  "      --in-place        write into DISK itself\n"
  "      --fcd DATASTORE   DISK is a first class disk of DATASTORE: ID (its\n"
  "                        top) or ID@SSID (a snapshot, read-only)\n"
  "  -f, --foreground      serve in the foreground (Ctrl-C unmounts)\n"
  "      --allow-other     let other users see the mount (FUSE "
  "allow_other)\n"
  "      --single-link     this link only (holes read as zeros)\n"
  "      --ignore-cid      accept a parent whose CID changed\n"
  "      --trusted         allow absolute paths and folders in names\n"
  "      --raw             DISK is a raw image\n",
};

/* ---- umount ----------------------------------------------------------------- */

/* mountinfo text is octal-escaped (\040 for a space). */
static void
unescape (char *s)
{
  char *o = s;
  for (; *s; s++) {
    if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0'
        && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
      *o++ = (char) (((s[1] - '0') << 6) | ((s[2] - '0') << 3) | (s[3] - '0'));
      s += 3;
    } else
      *o++ = *s;
  }
  *o = 0;
}

/* The source of the mount at dir (the last one), into src. */
static int
mount_source (const char *dir, char *src, size_t n, char *fstype, size_t fn)
{
  FILE *f = fopen ("/proc/self/mountinfo", "r");
  char line[8192];
  int found = 0;
  if (!f)
    return 0;
  while (fgets (line, sizeof line, f)) {
    char *save, *tok[16];
    int k = 0;
    for (char *t = strtok_r (line, " \n", &save); t && k < 16;
         t = strtok_r (NULL, " \n", &save))
      tok[k++] = t;
    int sep = -1;
    for (int i = 6; i < k; i++)
      if (strcmp (tok[i], "-") == 0) {
        sep = i;
        break;
      }
    if (k < 5 || sep < 0 || sep + 2 >= k)
      continue;
    unescape (tok[4]);
    if (strcmp (tok[4], dir) != 0)
      continue;
    unescape (tok[sep + 2]);
    snprintf (src, n, "%s", tok[sep + 2]);
    snprintf (fstype, fn, "%s", tok[sep + 1]);
    found = 1;
  }
  fclose (f);
  return found;
}

static int
pid_alive (long pid)
{
  if (pid <= 0 || kill ((pid_t) pid, 0) < 0)
    return 0;
  char p[64], buf[512];
  snprintf (p, sizeof p, "/proc/%ld/stat", pid);
  FILE *f = fopen (p, "r");
  if (!f)
    return 0;
  size_t n = fread (buf, 1, sizeof buf - 1, f);
  fclose (f);
  buf[n] = 0;
  char *e = strrchr (buf, ')');
  return !(e && e[1] == ' ' && (e[2] == 'Z' || e[2] == 'X'));
}

static int
fusermount (const char *dir, int lazy)
{
  pid_t pid = fork ();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    int null = open ("/dev/null", O_WRONLY);
    if (null >= 0)
      dup2 (null, 1);
    if (lazy)
      execlp ("fusermount3", "fusermount3", "-u", "-q", "-z", dir,
              (char *) NULL);
    else
      execlp ("fusermount3", "fusermount3", "-u", "-q", dir, (char *) NULL);
    _exit (127);
  }
  int st;
  while (waitpid (pid, &st, 0) < 0)
    if (errno != EINTR)
      return -1;
  return WIFEXITED (st) ? WEXITSTATUS (st) : -1;
}

static int
run_umount (int argc, char **argv)
{
  static const struct option opts[] = {
    { "lazy", no_argument, NULL, 'z' },
    { "timeout", required_argument, NULL, 't' },
    OPT_HELP, { 0 } };
  int c, lazy = 0, timeout = 120;
  while ((c = getopt_long (argc, argv, "z", opts, NULL)) != -1) {
    switch (c) {
    case 'z': lazy = 1; break;
    case 't': timeout = atoi (optarg); break;
    default: return usage_error ("umount", "invalid option");
    }
  }
  if (optind + 1 != argc)
    return usage_error ("umount", "expected one DIR argument");
  char dir[2 * PATH_MAX + 2], src[PATH_MAX], type[256];
  /* realpath would stat a dead FUSE mount: resolve the parent only */
  const char *arg = argv[optind];
  char tmp[PATH_MAX];
  snprintf (tmp, sizeof tmp, "%s", arg);
  size_t tl = strlen (tmp);
  while (tl > 1 && tmp[tl - 1] == '/')
    tmp[--tl] = 0;
  char *slash = strrchr (tmp, '/');
  char parent[PATH_MAX];
  const char *base;
  if (slash) {
    *slash = 0;
    base = slash + 1;
    if (!realpath (tmp[0] ? tmp : "/", parent)) {
      fprintf (stderr, "vdisk umount: %s: %s\n", arg, strerror (errno));
      return 1;
    }
  } else {
    base = tmp;
    if (!getcwd (parent, sizeof parent)) {
      fprintf (stderr, "vdisk umount: %s\n", strerror (errno));
      return 1;
    }
  }
  snprintf (dir, sizeof dir, "%s%s%s", parent,
            strcmp (parent, "/") ? "/" : "", base);
  if (!mount_source (dir, src, sizeof src, type, sizeof type)) {
    fprintf (stderr, "vdisk umount: %s: not mounted\n", arg);
    return 1;
  }
  long pid = -1;
  char hidden[PATH_MAX] = "";
  if (strncmp (src, "vdisk:", 6) == 0)
    pid = strtol (src + 6, NULL, 10);
  else {
    /* a volume: the driver reads HIDDEN/parts/pN of our own mount */
    char *s = strrchr (src, '/');
    char hsrc[PATH_MAX], htype[256];
    if (s) {
      *s = 0;
      if (mount_source (src, hsrc, sizeof hsrc, htype, sizeof htype)
          && strncmp (hsrc, "vdisk:", 6) == 0) {
        pid = strtol (hsrc + 6, NULL, 10);
        snprintf (hidden, sizeof hidden, "%s", src);
      }
    }
  }
  if (pid <= 0) {
    fprintf (stderr, "vdisk umount: %s: not a vdisk mount (%s from %s)\n",
             arg, type, src);
    return 1;
  }
  int alive = pid_alive (pid);
  if (fusermount (dir, lazy || !alive) != 0) {
    fprintf (stderr, "vdisk umount: %s: cannot unmount: busy (a program "
             "still uses it; --lazy detaches it now)\n", arg);
    return 1;
  }
  if (!alive) {
    /* the server was killed: clear what it left */
    if (hidden[0]) {
      fusermount (hidden, 1);
      char *h = strrchr (hidden, '/');
      if (h) {
        char log[PATH_MAX + 16];
        rmdir (hidden);
        *h = 0;
        snprintf (log, sizeof log, "%s/driver.log", hidden);
        unlink (log);
        rmdir (hidden);
      }
    }
    return 0;
  }
  /* wait until the server has flushed and closed the disk */
  for (int ms = 0; pid_alive (pid); ms += 20) {
    if (ms >= timeout * 1000) {
      fprintf (stderr, "vdisk umount: %s: unmounted, but the server "
               "(pid %ld) has not ended after %d s\n", arg, pid, timeout);
      return 1;
    }
    struct timespec ts = { 0, 20 * 1000 * 1000 };
    nanosleep (&ts, NULL);
  }
  return 0;
}

const struct command cmd_umount = {
  "umount", run_umount, "[--lazy] DIR",
  "End a `vdisk mount` at DIR (fusermount3 -u) and wait until the disk is "
  "flushed and closed.",
  "  -z, --lazy            detach now even while in use\n"
  "      --timeout S       wait at most S seconds for the close (120)\n",
};
