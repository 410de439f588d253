/* vdisk serve: run nbdkit with the vdisk plugin over a datastore folder.
 * vdisk upload: clone a local disk onto a vdisk server (a new remote disk
 * made through the plugin's create: export, only allocated data sent). */
#include "vdisk-tool.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PLUGIN_NAME "nbdkit-vdisk-plugin.so"

/* The plugin: $VDISK_NBDKIT_PLUGIN, else beside this binary's build
 * ($bindir/../plugins) or install ($bindir/../lib/nbdkit/plugins), else
 * nbdkit's own plugin folder ("vdisk"). */
static char *
find_plugin (void)
{
  static const char *const rel[] = {
    "../plugins/" PLUGIN_NAME, "../lib/nbdkit/plugins/" PLUGIN_NAME,
  };
  const char *env = getenv ("VDISK_NBDKIT_PLUGIN");
  char exe[PATH_MAX], path[PATH_MAX + 64];
  ssize_t n;
  struct stat st;

  if (env && *env)
    return strdup (env);
  n = readlink ("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = '\0';
    char *slash = strrchr (exe, '/');
    if (slash) {
      *slash = '\0';
      for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        snprintf (path, sizeof path, "%s/%s", exe, rel[i]);
        if (stat (path, &st) == 0 && S_ISREG (st.st_mode))
          return realpath (path, NULL);
      }
    }
  }
  return strdup ("vdisk");
}

/* What the serve options asked for. */
struct serve_opts {
  const char *psk, *certs, *listen_at, *unix_path;
  const char *pidfile, *run_cmd, *threads;
  char *qcap, *qfree, *qdisks, *dflt, *dsname;
  int read_only, no_create, verbose, no_verify;
};

/* Options that do not go together, a DATASTORE that is not a folder, a
 * PSK file that cannot be read: 0 when none, else the exit code. */
static int
check_serve_opts (const struct serve_opts *so, const char *ds)
{
  struct stat st;

  if (so->psk && so->certs)
    return usage_error ("serve", "give --tls-psk or --tls-certificates, "
                        "not both");
  if (so->no_verify && !so->certs)
    return usage_error ("serve", "--tls-no-verify-peer goes with "
                        "--tls-certificates");
  if (so->listen_at && so->unix_path)
    return usage_error ("serve", "give --listen or --unix, not both");
  if (stat (ds, &st) < 0 || !S_ISDIR (st.st_mode)) {
    fprintf (stderr, "vdisk serve: %s: not a folder\n", ds);
    return 1;
  }
  if (so->psk && access (so->psk, R_OK) < 0) {
    fprintf (stderr, "vdisk serve: %s: %s (make one with 'vdisk user "
             "add')\n", so->psk, strerror (errno));
    return 1;
  }
  return 0;
}

/* The address and port to listen on: --listen's ADDR:PORT, [IPV6]:PORT
 * or PORT; else, plaintext over TCP, only the loopback.  0, or the exit
 * code of a bad --listen. */
static int
listen_address (const struct serve_opts *so, char **addr, char **port)
{
  const char *listen_at = so->listen_at;

  if (listen_at) {
    const char *colon = strrchr (listen_at, ':');
    if (colon) {
      *addr = strndup (listen_at, (size_t) (colon - listen_at));
      *port = strdup (colon + 1);
      if (*addr && (*addr)[0] == '[' && (*addr)[strlen (*addr) - 1] == ']') {
        memmove (*addr, *addr + 1, strlen (*addr));
        (*addr)[strlen (*addr) - 1] = '\0';
      }
    }
    else
      *port = strdup (listen_at);
    if (!*port || !**port || strspn (*port, "0123456789") != strlen (*port)) {
      free (*addr);
      free (*port);
      return usage_error ("serve", "--listen wants ADDR:PORT");
    }
  }
  else if (!so->unix_path && !so->psk && !so->certs)
    /* plaintext: only on the loopback unless told otherwise */
    *addr = strdup ("127.0.0.1");
  return 0;
}

/* nbdkit's command line into args (64 slots), NULL-terminated. */
static void
nbdkit_args (const struct serve_opts *so, char *plugin, char *dir,
             char *addr, char *port, char **args)
{
  size_t n = 0;
#define ARG(s) (args[n++] = (char *) (s))
  ARG (getenv ("VDISK_NBDKIT") ? getenv ("VDISK_NBDKIT") : "nbdkit");
  ARG ("--foreground");
  if (so->verbose)
    ARG ("--verbose");
  if (so->read_only)
    ARG ("--readonly");
  if (so->psk || so->certs) {
    ARG ("--tls=require");
    ARG (so->psk ? "--tls-psk" : "--tls-certificates");
    ARG (so->psk ? so->psk : so->certs);
    /* A certificate is the client's login: without it any client that
     * reaches the server would read and write every disk. */
    if (so->certs && !so->no_verify)
      ARG ("--tls-verify-peer");
  }
  if (so->unix_path) {
    ARG ("--unix");
    ARG (so->unix_path);
  }
  if (addr && *addr) {
    ARG ("--ipaddr");
    ARG (addr);
  }
  if (port) {
    ARG ("--port");
    ARG (port);
  }
  if (so->pidfile) {
    ARG ("--pidfile");
    ARG (so->pidfile);
  }
  if (so->threads) {
    ARG ("--threads");
    ARG (so->threads);
  }
  ARG (plugin);
  char *kv;
#define KV(k, v) do { if ((v) && asprintf (&kv, "%s=%s", k, v) >= 0) \
      ARG (kv); } while (0)
  KV ("dir", dir);
  KV ("quota-capacity", so->qcap);
  KV ("quota-free", so->qfree);
  KV ("quota-disks", so->qdisks);
  KV ("default", so->dflt);
  KV ("datastore", so->dsname);
#undef KV
  if (so->no_create)
    ARG ("create=false");
  if (so->run_cmd) {
    ARG ("--run");
    ARG (so->run_cmd);
  }
#undef ARG
  args[n] = NULL;
}

static int
run_serve (int argc, char **argv)
{
  enum { O_QCAP = 256, O_QFREE, O_QDISKS, O_NOCREATE, O_PIDFILE, O_RUN,
         O_DEFAULT, O_THREADS, O_VERBOSE, O_DSNAME, O_NOVERIFY };
  static const struct option opts[] = {
    { "tls-psk", required_argument, NULL, 'k' },
    { "tls-certificates", required_argument, NULL, 'c' },
    { "listen", required_argument, NULL, 'l' },
    { "unix", required_argument, NULL, 'U' },
    { "read-only", no_argument, NULL, 'r' },
    { "quota-capacity", required_argument, NULL, O_QCAP },
    { "quota-free", required_argument, NULL, O_QFREE },
    { "quota-disks", required_argument, NULL, O_QDISKS },
    { "no-create", no_argument, NULL, O_NOCREATE },
    { "pidfile", required_argument, NULL, O_PIDFILE },
    { "run", required_argument, NULL, O_RUN },
    { "default", required_argument, NULL, O_DEFAULT },
    { "datastore-name", required_argument, NULL, O_DSNAME },
    { "threads", required_argument, NULL, O_THREADS },
    { "verbose", no_argument, NULL, O_VERBOSE },
    { "tls-no-verify-peer", no_argument, NULL, O_NOVERIFY },
    OPT_HELP, { 0 } };
  struct serve_opts so = { 0 };
  char *args[64], *plugin, *dir, *addr = NULL, *port = NULL;
  int c, rc;

  while ((c = getopt_long (argc, argv, "k:c:l:U:r", opts, NULL)) != -1) {
    switch (c) {
    case 'k': so.psk = optarg; break;
    case 'c': so.certs = optarg; break;
    case 'l': so.listen_at = optarg; break;
    case 'U': so.unix_path = optarg; break;
    case 'r': so.read_only = 1; break;
    case O_QCAP: so.qcap = optarg; break;
    case O_QFREE: so.qfree = optarg; break;
    case O_QDISKS: so.qdisks = optarg; break;
    case O_NOCREATE: so.no_create = 1; break;
    case O_PIDFILE: so.pidfile = optarg; break;
    case O_RUN: so.run_cmd = optarg; break;
    case O_DEFAULT: so.dflt = optarg; break;
    case O_DSNAME: so.dsname = optarg; break;
    case O_THREADS: so.threads = optarg; break;
    case O_VERBOSE: so.verbose = 1; break;
    case O_NOVERIFY: so.no_verify = 1; break;
    default: return usage_error ("serve", "invalid option");
    }
  }
  if (optind + 1 != argc)
    return usage_error ("serve", "expected one DATASTORE folder");
  if ((rc = check_serve_opts (&so, argv[optind])) != 0
      || (rc = listen_address (&so, &addr, &port)) != 0)
    return rc;
  if (!so.psk && !so.certs)
    fprintf (stderr, "vdisk serve: warning: serving without TLS (use "
             "--tls-psk FILE or --tls-certificates DIR)\n");

  plugin = find_plugin ();
  dir = realpath (argv[optind], NULL);
  if (!plugin || !dir) {
    fprintf (stderr, "vdisk serve: %s\n", strerror (errno));
    return 1;
  }
  if (so.no_verify)
    fprintf (stderr, "vdisk serve: warning: --tls-no-verify-peer: any "
             "client that reaches the server may read and write every "
             "disk\n");
  nbdkit_args (&so, plugin, dir, addr, port, args);
  if (so.verbose) {
    fprintf (stderr, "vdisk serve:");
    for (size_t i = 0; args[i]; i++)
      fprintf (stderr, " %s", args[i]);
    fprintf (stderr, "\n");
  }
  execvp (args[0], args);
  fprintf (stderr, "vdisk serve: could not run %s: %s (is nbdkit "
           "installed?)\n", args[0], strerror (errno));
  return 1;
}

const struct command cmd_serve = {
  "serve", run_serve,
  "[--tls-psk FILE | --tls-certificates DIR] [--listen ADDR:PORT | --unix "
  "PATH] [--read-only] DATASTORE",
  "Serve every disk in a folder over NBD (nbdkit with the vdisk plugin).",
  "  -k, --tls-psk FILE    require TLS with the users in FILE (vdisk user)\n"
  "  -c, --tls-certificates DIR  require TLS with X.509 certificates; a\n"
  "                        client needs a certificate signed by DIR's\n"
  "                        ca-cert.pem\n"
  "      --tls-no-verify-peer  with certificates: accept any client\n"
  "                        (no login at all)\n"
  "  -l, --listen ADDR:PORT  TCP address (default: port 10809, all\n"
  "                        addresses with TLS, 127.0.0.1 without)\n"
  "  -U, --unix PATH       listen on a Unix socket instead\n"
  "  -r, --read-only       refuse writes and creates\n"
  "      --quota-capacity SIZE  largest disk a client may create\n"
  "      --quota-free SIZE  space that must stay free after a create\n"
  "      --quota-disks N   most disks the datastore may hold\n"
  "      --no-create       refuse the create: export\n"
  "      --default PATH    disk served for the empty export name\n"
  "      --datastore-name N  accept '[N] path' export names only for N\n"
  "      --pidfile FILE    written when the server is ready\n"
  "      --run CMD         run CMD ($uri set), then stop (nbdkit --run)\n"
  "      --threads N       nbdkit threads per connection\n"
  "      --verbose         nbdkit debug messages\n"
  "Exports are disk paths inside DATASTORE ('vm/disk.vmdk' or '[ds] "
  "vm/disk.vmdk').\nEnvironment: VDISK_NBDKIT_PLUGIN (plugin path), "
  "VDISK_NBDKIT (nbdkit binary).\n",
};

/* ---- upload ------------------------------------------------------------ */

#define CHUNK (4u << 20)

/* ",adapter=A,geometry=C/H/S,bios=C/H/S,hw=N": the new disk keeps the
 * source's adapter (or the one asked for), geometry and hardware
 * version. */
static void
create_options (char *out, size_t n, vd_disk *src, enum vd_adapter asked)
{
  struct vd_geometry phys, bios;
  enum vd_adapter a = asked != VD_ADAPTER_UNKNOWN ? asked
                      : vd_disk_get_adapter (src);
  uint32_t hw = vd_disk_get_hw_version (src);
  /* another adapter than the source's: the server computes its geometry */
  int keep_geo = a == vd_disk_get_adapter (src);
  size_t len;

  out[0] = '\0';
  if (a != VD_ADAPTER_UNKNOWN)
    snprintf (out, n, ",adapter=%s", vd_adapter_name (a));
  vd_disk_get_geometry (src, &phys, &bios);
  len = strlen (out);
  if (phys.cylinders && phys.heads && phys.sectors && phys.heads <= 255
      && phys.sectors <= 63 && keep_geo)
    snprintf (out + len, n - len, ",geometry=%u/%u/%u", phys.cylinders,
              phys.heads, phys.sectors);
  len = strlen (out);
  if (bios.cylinders && bios.heads && bios.sectors && bios.heads <= 255
      && bios.sectors <= 63 && keep_geo)
    snprintf (out + len, n - len, ",bios=%u/%u/%u", bios.cylinders,
              bios.heads, bios.sectors);
  len = strlen (out);
  if (hw >= 3 && hw <= 255)
    snprintf (out + len, n - len, ",hw=%u", hw);
}

/* The URI with its export path P replaced by create:TYPE:BYTES:P. */
static char *
create_uri (const char *uri, const char *type, uint64_t bytes)
{
  const char *p = strstr (uri, "://"), *path;
  char *out;
  if (!p)
    return NULL;
  path = strchr (p + 3, '/');
  if (!path || path[1] == '\0' || path[1] == '?')
    return NULL;
  if (asprintf (&out, "%.*s/create:%s:%llu:%s", (int) (path - uri), uri,
                type, (unsigned long long) bytes, path + 1) < 0)
    return NULL;
  return out;
}

struct upload {
  vd_disk *src, *dst;
  uint8_t *buf;
  uint64_t done, total;
  struct progress *pr;
  int err;
};

static int
upload_cb (uint64_t off, uint64_t len, uint32_t st, void *payload)
{
  struct upload *u = payload;
  if (st != VD_STATUS_DATA) {   /* the new disk reads as zeros already */
    u->done += len;
    return 0;
  }
  while (len) {
    size_t n = (size_t) (len < CHUNK ? len : CHUNK);
    if (vd_disk_read (u->src, u->buf, n, off) < 0
        || vd_disk_write (u->dst, u->buf, n, off) < 0) {
      u->err = 1;
      return 1;
    }
    off += n;
    len -= n;
    u->done += n;
    if (progress_cb (u->done, u->total, u->pr)) {
      u->err = 1;
      return 1;
    }
  }
  return 0;
}

static int
run_upload (int argc, char **argv)
{
  static const struct option own[] = {
    { "type", required_argument, NULL, 't' },
    { "adapter", required_argument, NULL, 'a' },
    OPT_HELP, { 0 } };
  const struct option *opts = with_open_options (own, OO (TRUSTED) | OO (RAW));
  struct open_opts oo = { 0 };
  enum vd_adapter adapter = VD_ADAPTER_UNKNOWN;
  char typeopts[200];
  const char *type = "thin";
  struct progress pr;
  struct upload u = { 0 };
  char *uri;
  int c, rc = 0;

  while ((c = next_option (argc, argv, "t:a:", opts, &oo)) != -1) {
    switch (c) {
    case 't': type = optarg; break;
    case 'a':
      adapter = vd_adapter_from_name (optarg);
      if (adapter == VD_ADAPTER_UNKNOWN)
        return usage_error ("upload", "unknown adapter '%s'", optarg);
      break;
    default: return usage_error ("upload", "invalid option");
    }
  }
  if (optind + 2 != argc)
    return usage_error ("upload", "expected SOURCE and URI");
  if (strcmp (type, "thin") && strcmp (type, "thick")
      && strcmp (type, "sparse"))
    return usage_error ("upload", "--type is thin, thick or sparse");
  if (vd_disk_open (&u.src, argv[optind], open_flags (&oo, 1)) < 0)
    return fail ();
  u.total = vd_disk_get_size (u.src);
  snprintf (typeopts, sizeof typeopts, "%s", type);
  create_options (typeopts + strlen (typeopts),
                  sizeof typeopts - strlen (typeopts), u.src, adapter);
  uri = create_uri (argv[optind + 1], typeopts, u.total);
  if (!uri) {
    vd_disk_close (u.src);
    return usage_error ("upload", "URI must name the new disk: "
                        "nbds://[USER@]HOST[:PORT]/PATH[?...]");
  }
  if (vd_disk_open (&u.dst, uri, 0) < 0) {
    rc = fail ();
    goto out;
  }
  if (vd_disk_get_size (u.dst) != u.total) {
    fprintf (stderr, "vdisk upload: the remote disk has %llu bytes, "
             "expected %llu\n", (unsigned long long) vd_disk_get_size (u.dst),
             (unsigned long long) u.total);
    rc = 1;
    goto out;
  }
  u.buf = malloc (CHUNK);
  if (!u.buf) {
    fprintf (stderr, "vdisk upload: out of memory\n");
    rc = 1;
    goto out;
  }
  progress_init (&pr, 0, -1);
  u.pr = &pr;
  if (vd_disk_block_status (u.src, 0, u.total, upload_cb, &u) < 0 || u.err
      || vd_disk_flush (u.dst) < 0)
    rc = fail ();
  progress_done (&pr);
out:
  if (u.dst && vd_disk_close (u.dst) < 0 && rc == 0)
    rc = fail ();
  vd_disk_close (u.src);
  free (u.buf);
  free (uri);
  return rc;
}

const struct command cmd_upload = {
  "upload", run_upload, "[--type thin|thick|sparse] [--adapter A] SOURCE URI",
  "Clone a disk onto a vdisk server as a new disk (only allocated data).",
  "  -t, --type T          thin (vmfs over a sparse -flat.vmdk, default),\n"
  "                        thick (vmfs, preallocated) or sparse\n"
  "                        (monolithicSparse)\n"
  "  -a, --adapter A       adapter of the new disk (default: SOURCE's, with\n"
  "                        SOURCE's geometry)\n"
  "      --trusted         allow absolute paths and folders in names\n"
  "      --raw             SOURCE is a raw image\n"
  "URI names the new disk: nbds://USER@HOST[:PORT]/vm/new.vmdk or\n"
  "nbds+unix://USER@/vm/new.vmdk?socket=PATH.  Credentials: see "
  "'vdisk user'.\n",
};
