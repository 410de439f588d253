/* vdisk vsphere ls|cleanup|snapshot SERVER: an ESXi host or vCenter
 * through the vSphere Web Services API (libvdisk's vd_vsphere_*), and
 * `vdisk scan --vsphere SERVER` (vsphere_scan, called by cmd-scan.c).
 *
 * The password comes from --password-file, VDISK_VSPHERE_PASSWORD_FILE,
 * VDISK_VSPHERE_PASSWORD or a prompt on the terminal: never argv. */
#include "vdisk-tool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

struct conn_opts {
  const char *user, *password_file, *thumbprint, *cafile;
  int insecure;
};

#define CONN_LONGOPTS                                                   \
  { "user", required_argument, NULL, 'u' },                             \
  { "password-file", required_argument, NULL, 'p' },                    \
  { "thumbprint", required_argument, NULL, 'T' },                       \
  { "cafile", required_argument, NULL, 'C' },                           \
  { "insecure", no_argument, NULL, 'k' }

#define CONN_HELP                                                       \
  "  -u, --user USER          user name (or USER@ in SERVER)\n"         \
  "  -p, --password-file F    the password is F's first line (else\n"  \
  "                           VDISK_VSPHERE_PASSWORD_FILE,\n"           \
  "                           VDISK_VSPHERE_PASSWORD or a prompt)\n"    \
  "      --thumbprint AA:BB:..  pin the server certificate (SHA-256 or\n" \
  "                           SHA-1 of it, as VDDK's thumbPrint)\n"     \
  "      --cafile FILE        verify the certificate against FILE\n"   \
  "  -k, --insecure           no certificate verification\n"

static int
conn_opt (struct conn_opts *o, int c, const char *arg)
{
  switch (c) {
  case 'u': o->user = arg; return 1;
  case 'p': o->password_file = arg; return 1;
  case 'T': o->thumbprint = arg; return 1;
  case 'C': o->cafile = arg; return 1;
  case 'k': o->insecure = 1; return 1;
  default: return 0;
  }
}

/* The password from the terminal, when nothing else gives one. */
static char *
prompt_password (const char *server)
{
  struct termios old, quiet;
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  FILE *tty = fopen ("/dev/tty", "r+");
  if (!tty)
    return NULL;
  fprintf (tty, "Password for %s: ", server);
  fflush (tty);
  tcgetattr (fileno (tty), &old);
  quiet = old;
  quiet.c_lflag &= ~(tcflag_t) ECHO;
  tcsetattr (fileno (tty), TCSAFLUSH, &quiet);
  n = getline (&line, &cap, tty);
  tcsetattr (fileno (tty), TCSAFLUSH, &old);
  fprintf (tty, "\n");
  fclose (tty);
  if (n <= 0) {
    free (line);
    return NULL;
  }
  while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
    line[--n] = '\0';
  return line;
}

static int
connect_server (vd_vsphere **s, const char *verb, const char *server,
                const struct conn_opts *o)
{
  char *url = NULL, *pw = NULL;
  const char *sep = strchr (server, '?') ? "&" : "?";
  uint32_t flags = o->insecure ? VD_VSPHERE_INSECURE : 0;
  const char *secret = NULL;
  int r;

  if (asprintf (&url, "%s%s%s%s%s%s%s", server,
                o->thumbprint || o->cafile ? sep : "",
                o->thumbprint ? "thumbprint=" : "",
                o->thumbprint ? o->thumbprint : "",
                o->thumbprint && o->cafile ? "&" : "",
                o->cafile ? "cafile=" : "", o->cafile ? o->cafile : "") < 0) {
    fprintf (stderr, "vdisk %s: out of memory\n", verb);
    return -1;
  }
  if (o->password_file) {
    secret = o->password_file;
    flags |= VD_VSPHERE_PASSWORD_FILE;
  }
  else if (!getenv ("VDISK_VSPHERE_PASSWORD_FILE")
           && !getenv ("VDISK_VSPHERE_PASSWORD") && isatty (0)) {
    pw = prompt_password (server);
    secret = pw;
  }
  r = vd_vsphere_connect (s, url, o->user, secret, flags);
  if (pw) {
    memset (pw, 0, strlen (pw));
    free (pw);
  }
  free (url);
  if (r < 0) {
    fail ();
    return -1;
  }
  return 0;
}

/* Print the last error, then close (closing is a library call, which
 * starts a new error record). */
static int
fail_close (vd_vsphere *s)
{
  fail ();
  vd_vsphere_close (s);
  return 1;
}

/* ---- ls ---------------------------------------------------------------- */

static void
print_json (const struct vd_vsphere_inventory *inv, vd_vsphere *s)
{
  printf ("{\"server\": ");
  json_str (stdout, vd_vsphere_about (s, VD_VSPHERE_ABOUT_HOST));
  printf (", \"api_type\": ");
  json_str (stdout, vd_vsphere_about (s, VD_VSPHERE_ABOUT_API_TYPE));
  printf (", \"api_version\": ");
  json_str (stdout, vd_vsphere_about (s, VD_VSPHERE_ABOUT_API_VERSION));
  printf (",\n \"datastores\": [");
  for (size_t i = 0; i < inv->n_datastores; i++) {
    const struct vd_vsphere_datastore *d = &inv->datastores[i];
    printf ("%s\n  {\"name\": ", i ? "," : "");
    json_str (stdout, d->name);
    printf (", \"moref\": ");
    json_str (stdout, d->moref);
    printf (", \"datacenter\": ");
    json_str (stdout, d->dc_path);
    printf (", \"type\": ");
    json_str (stdout, d->type);
    printf (", \"capacity\": %llu, \"free\": %llu}",
            (unsigned long long) d->capacity,
            (unsigned long long) d->free_space);
  }
  printf ("],\n \"vms\": [");
  for (size_t i = 0; i < inv->n_vms; i++) {
    const struct vd_vsphere_vm *vm = &inv->vms[i];
    printf ("%s\n  {\"name\": ", i ? "," : "");
    json_str (stdout, vm->name);
    printf (", \"moref\": ");
    json_str (stdout, vm->moref);
    printf (", \"power_state\": ");
    json_str (stdout, vm->power_state);
    printf (", \"vmx\": ");
    json_str (stdout, vm->vmx);
    printf (", \"nvram\": ");
    json_str (stdout, vm->nvram);
    printf (",\n   \"disks\": [");
    for (size_t k = 0; k < vm->n_disks; k++) {
      const struct vd_vsphere_disk *d = &vm->disks[k];
      printf ("%s\n    {\"file\": ", k ? "," : "");
      json_str (stdout, d->file);
      printf (", \"device\": ");
      json_str (stdout, d->device);
      printf (", \"key\": %d, \"capacity\": %llu, \"change_id\": ",
              (int) d->key, (unsigned long long) d->capacity);
      json_str (stdout, d->change_id);
      printf (", \"mode\": ");
      json_str (stdout, d->disk_mode);
      printf ("}");
    }
    printf ("%s],\n   \"snapshots\": [", vm->n_disks ? "\n   " : "");
    for (size_t k = 0; k < vm->n_snapshots; k++) {
      const struct vd_vsphere_snapshot *sn = &vm->snapshots[k];
      printf ("%s{\"name\": ", k ? ", " : "");
      json_str (stdout, sn->name);
      printf (", \"moref\": ");
      json_str (stdout, sn->moref);
      printf (", \"id\": %d, \"depth\": %d}", (int) sn->id, (int) sn->depth);
    }
    printf ("]}");
  }
  printf ("]");
  vsphere_print_fcds (s, 1);      /* first class disks (cmd-vsphere-fcd.c) */
  printf ("}\n");
}

static void
print_text (const struct vd_vsphere_inventory *inv, vd_vsphere *s)
{
  const char *n = vd_vsphere_about (s, VD_VSPHERE_ABOUT_NAME);
  printf ("server %s%s%s%s\n", vd_vsphere_about (s, VD_VSPHERE_ABOUT_HOST),
          n ? " (" : "", n ? n : "", n ? ")" : "");
  for (size_t i = 0; i < inv->n_datastores; i++) {
    const struct vd_vsphere_datastore *d = &inv->datastores[i];
    printf ("datastore %s  datacenter %s  %s  %llu bytes, %llu free\n",
            d->name, d->dc_path ? d->dc_path : "-", d->type ? d->type : "-",
            (unsigned long long) d->capacity,
            (unsigned long long) d->free_space);
  }
  for (size_t i = 0; i < inv->n_vms; i++) {
    const struct vd_vsphere_vm *vm = &inv->vms[i];
    printf ("vm %s  %s  %s\n  vmx %s\n", vm->name, vm->moref,
            vm->power_state ? vm->power_state : "-", vm->vmx ? vm->vmx : "-");
    if (vm->nvram)
      printf ("  nvram %s\n", vm->nvram);
    for (size_t k = 0; k < vm->n_disks; k++) {
      const struct vd_vsphere_disk *d = &vm->disks[k];
      printf ("  disk %s  %s  %llu bytes%s%s\n", d->device, d->file,
              (unsigned long long) d->capacity,
              d->change_id ? "  changeId " : "",
              d->change_id ? d->change_id : "");
    }
    for (size_t k = 0; k < vm->n_snapshots; k++)
      printf ("  snapshot %*s%s  %s\n", (int) vm->snapshots[k].depth * 2, "",
              vm->snapshots[k].name, vm->snapshots[k].moref);
  }
  vsphere_print_fcds (s, 0);      /* first class disks (cmd-vsphere-fcd.c) */
}

static int
do_ls (int argc, char **argv)
{
  static const struct option opts[] = {
    { "json", no_argument, NULL, 'j' }, CONN_LONGOPTS, OPT_HELP, { 0 } };
  struct conn_opts co = { 0 };
  struct vd_vsphere_inventory *inv;
  vd_vsphere *s;
  int c, json = 0;

  optind = 1;
  while ((c = getopt_long (argc, argv, "ju:p:k", opts, NULL)) != -1) {
    if (c == 'j')
      json = 1;
    else if (!conn_opt (&co, c, optarg)) {
      usage_error ("vsphere ls", "invalid option");
      return 1;
    }
  }
  if (optind != argc - 1) {
    usage_error ("vsphere ls", "expected one SERVER");
    return 1;
  }
  if (connect_server (&s, "vsphere ls", argv[optind], &co) < 0)
    return 1;
  if (vd_vsphere_inventory (s, &inv) < 0) {
    fail ();
    vd_vsphere_close (s);
    return 1;
  }
  if (json)
    print_json (inv, s);
  else
    print_text (inv, s);
  vd_vsphere_inventory_free (inv);
  vd_vsphere_close (s);
  return 0;
}

/* ---- cleanup, snapshot ------------------------------------------------- */

static void
say_removed (const char *vm, const char *name, const char *moref, void *p)
{
  (void) p;
  printf ("removing snapshot %s (%s) of %s\n", name, moref, vm);
}

static int
do_cleanup (int argc, char **argv)
{
  static const struct option opts[] = {
    { "prefix", required_argument, NULL, 'P' }, CONN_LONGOPTS, OPT_HELP,
    { 0 } };
  struct conn_opts co = { 0 };
  const char *prefix = NULL;
  vd_vsphere *s;
  int c, r;

  optind = 1;
  while ((c = getopt_long (argc, argv, "u:p:k", opts, NULL)) != -1) {
    if (c == 'P')
      prefix = optarg;
    else if (!conn_opt (&co, c, optarg)) {
      usage_error ("vsphere cleanup", "invalid option");
      return 1;
    }
  }
  if (optind != argc - 1) {
    usage_error ("vsphere cleanup", "expected one SERVER");
    return 1;
  }
  if (connect_server (&s, "vsphere cleanup", argv[optind], &co) < 0)
    return 1;
  r = vd_vsphere_cleanup (s, prefix, 600, say_removed, NULL);
  if (r < 0)
    return fail_close (s);
  vd_vsphere_close (s);
  printf ("%d snapshot%s removed\n", r, r == 1 ? "" : "s");
  return 0;
}

/* Find a VM by name or moref. */
static const struct vd_vsphere_vm *
find_vm (const struct vd_vsphere_inventory *inv, const char *id)
{
  for (size_t i = 0; i < inv->n_vms; i++)
    if (strcmp (inv->vms[i].moref, id) == 0
        || strcmp (inv->vms[i].name, id) == 0)
      return &inv->vms[i];
  return NULL;
}

static int
do_snapshot (int argc, char **argv)
{
  static const struct option opts[] = {
    { "name", required_argument, NULL, 'n' },
    { "remove", required_argument, NULL, 'r' },
    { "quiesce", no_argument, NULL, 'q' }, CONN_LONGOPTS, OPT_HELP,
    { 0 } };
  struct conn_opts co = { 0 };
  const char *name = NULL, *remove = NULL;
  struct vd_vsphere_inventory *inv;
  const struct vd_vsphere_vm *vm;
  char *snap = NULL, defname[64];
  int c, quiesce = 0, r;
  vd_vsphere *s;

  optind = 1;
  while ((c = getopt_long (argc, argv, "n:u:p:k", opts, NULL)) != -1) {
    if (c == 'n')
      name = optarg;
    else if (c == 'r')
      remove = optarg;
    else if (c == 'q')
      quiesce = 1;
    else if (!conn_opt (&co, c, optarg)) {
      usage_error ("vsphere snapshot", "invalid option");
      return 1;
    }
  }
  if (remove ? optind != argc - 1 : optind != argc - 2) {
    usage_error ("vsphere snapshot", remove ? "expected SERVER"
                 : "expected SERVER VM");
    return 1;
  }
  if (connect_server (&s, "vsphere snapshot", argv[optind], &co) < 0)
    return 1;
  if (remove) {
    r = vd_vsphere_snapshot_remove (s, remove, 600);
    if (r < 0)
      return fail_close (s);
    vd_vsphere_close (s);
    return 0;
  }
  if (vd_vsphere_inventory (s, &inv) < 0)
    return fail_close (s);
  vm = find_vm (inv, argv[optind + 1]);
  if (!vm) {
    fprintf (stderr, "vdisk vsphere snapshot: no VM %s\n", argv[optind + 1]);
    r = -1;
  }
  else {
    if (!name) {
      snprintf (defname, sizeof defname, "vdisk-%ld", (long) time (NULL));
      name = defname;
    }
    r = vd_vsphere_snapshot_create (s, vm->moref, name, quiesce, 600, &snap);
    if (r < 0)
      fail ();
    else
      printf ("%s\n", snap);
  }
  free (snap);
  vd_vsphere_inventory_free (inv);
  vd_vsphere_close (s);
  return r < 0 ? 1 : 0;
}

struct areas_out {
  int json;
  int64_t n;
  uint64_t bytes;
};

static int
print_area (uint64_t off, uint64_t len, void *p)
{
  struct areas_out *o = p;
  if (o->json)
    printf ("%s[%llu, %llu]", o->n ? ", " : "", (unsigned long long) off,
            (unsigned long long) len);
  else
    printf ("%llu %llu\n", (unsigned long long) off,
            (unsigned long long) len);
  o->n++;
  o->bytes += len;
  return 0;
}

static int
do_changed (int argc, char **argv)
{
  static const struct option opts[] = {
    { "json", no_argument, NULL, 'j' },
    { "since", required_argument, NULL, 'S' },
    { "snapshot", required_argument, NULL, 's' }, CONN_LONGOPTS, OPT_HELP,
    { 0 } };
  struct conn_opts co = { 0 };
  const char *since = "*", *snapshot = NULL, *device = NULL;
  struct vd_vsphere_inventory *inv;
  const struct vd_vsphere_vm *vm;
  const struct vd_vsphere_disk *disk = NULL;
  struct areas_out o = { 0 };
  vd_vsphere *s;
  int64_t r;
  int c;

  optind = 1;
  while ((c = getopt_long (argc, argv, "ju:p:k", opts, NULL)) != -1) {
    if (c == 'j')
      o.json = 1;
    else if (c == 'S')
      since = optarg;
    else if (c == 's')
      snapshot = optarg;
    else if (!conn_opt (&co, c, optarg)) {
      usage_error ("vsphere changed", "invalid option");
      return 1;
    }
  }
  if (argc - optind != 2 && argc - optind != 3) {
    usage_error ("vsphere changed", "expected SERVER VM [DEVICE]");
    return 1;
  }
  device = argc - optind == 3 ? argv[optind + 2] : NULL;
  if (connect_server (&s, "vsphere changed", argv[optind], &co) < 0)
    return 1;
  if (vd_vsphere_inventory (s, &inv) < 0)
    return fail_close (s);
  vm = find_vm (inv, argv[optind + 1]);
  for (size_t k = 0; vm && k < vm->n_disks; k++)
    if (!device || strcmp (vm->disks[k].device, device) == 0
        || strcmp (vm->disks[k].file, device) == 0) {
      disk = &vm->disks[k];
      break;
    }
  if (!disk) {
    fprintf (stderr, "vdisk vsphere changed: no %s%s%s\n",
             vm ? "disk " : "VM ", vm ? (device ? device : "") : argv[optind + 1],
             vm ? " on that VM" : "");
    vd_vsphere_inventory_free (inv);
    vd_vsphere_close (s);
    return 1;
  }
  if (o.json)
    printf ("{\"disk\": \"%s\", \"key\": %d, \"capacity\": %llu, \"areas\": [",
            disk->device, (int) disk->key,
            (unsigned long long) disk->capacity);
  r = vd_vsphere_changed_areas (s, vm->moref, snapshot, disk->key,
                                disk->capacity, since, print_area, &o);
  if (o.json)
    printf ("], \"changed_bytes\": %llu}\n", (unsigned long long) o.bytes);
  vd_vsphere_inventory_free (inv);
  if (r < 0)
    return fail_close (s);
  vd_vsphere_close (s);
  return 0;
}

static int
do_upload (int argc, char **argv)
{
  static const struct option opts[] = {
    { "overwrite", no_argument, NULL, 'O' },
    { "thin", no_argument, NULL, 't' },
    { "dc", required_argument, NULL, 'D' },
    { "progress", no_argument, NULL, 'P' }, CONN_LONGOPTS, OPT_HELP,
    { 0 } };
  struct conn_opts co = { 0 };
  struct progress pr;
  const char *dc = NULL;
  uint32_t flags = 0;
  int c, r, want_progress = 0;
  vd_vsphere *s;

  optind = 1;
  while ((c = getopt_long (argc, argv, "u:p:k", opts, NULL)) != -1) {
    if (c == 'O')
      flags |= VD_VSPHERE_UPLOAD_OVERWRITE;
    else if (c == 't')
      flags |= VD_VSPHERE_UPLOAD_THIN;
    else if (c == 'D')
      dc = optarg;
    else if (c == 'P')
      want_progress = 1;
    else if (!conn_opt (&co, c, optarg)) {
      usage_error ("vsphere upload", "invalid option");
      return 1;
    }
  }
  if (argc - optind != 3) {
    usage_error ("vsphere upload", "expected DISK SERVER \"[datastore] "
                 "folder/NAME.vmdk\"");
    return 1;
  }
  if (connect_server (&s, "vsphere upload", argv[optind + 1], &co) < 0)
    return 1;
  progress_init (&pr, want_progress, -1);
  r = vd_vsphere_upload (s, argv[optind], dc, argv[optind + 2], flags,
                         pr.enabled ? progress_cb : NULL, &pr);
  progress_done (&pr);
  if (r < 0)
    return fail_close (s);
  vd_vsphere_close (s);
  return 0;
}

/* get SERVER "[ds] path" LOCAL | put LOCAL SERVER "[ds] path" */
static int
do_file (int argc, char **argv, int put)
{
  static const struct option opts[] = {
    { "overwrite", no_argument, NULL, 'O' },
    { "dc", required_argument, NULL, 'D' }, CONN_LONGOPTS, OPT_HELP,
    { 0 } };
  const char *verb = put ? "vsphere put" : "vsphere get";
  struct conn_opts co = { 0 };
  const char *dc = NULL;
  uint32_t flags = 0;
  int c, r;
  vd_vsphere *s;

  optind = 1;
  while ((c = getopt_long (argc, argv, "u:p:k", opts, NULL)) != -1) {
    if (c == 'O')
      flags |= VD_VSPHERE_UPLOAD_OVERWRITE;
    else if (c == 'D')
      dc = optarg;
    else if (!conn_opt (&co, c, optarg)) {
      usage_error (verb, "invalid option");
      return 1;
    }
  }
  if (argc - optind != 3) {
    usage_error (verb, put ? "expected LOCAL SERVER \"[datastore] path\""
                 : "expected SERVER \"[datastore] path\" LOCAL");
    return 1;
  }
  if (connect_server (&s, verb, argv[optind + (put ? 1 : 0)], &co) < 0)
    return 1;
  r = put ? vd_vsphere_put_file (s, argv[optind], dc, argv[optind + 2], flags)
          : vd_vsphere_get_file (s, dc, argv[optind + 1], argv[optind + 2],
                                 flags);
  if (r < 0)
    return fail_close (s);
  vd_vsphere_close (s);
  return 0;
}

/* fcd-snapshot [--description D] SERVER ID | fcd-snapshot --delete SSID
 * SERVER ID: a first class disk's snapshot taken (its ID printed) or
 * deleted. */
static int
do_fcd_snapshot (int argc, char **argv)
{
  static const struct option opts[] = {
    { "description", required_argument, NULL, 'd' },
    { "delete", required_argument, NULL, 'X' },
    { "datastore", required_argument, NULL, 'S' }, CONN_LONGOPTS, OPT_HELP,
    { 0 } };
  const char *verb = "vsphere fcd-snapshot";
  struct conn_opts co = { 0 };
  const char *desc = NULL, *del = NULL, *ds = NULL;
  char *id = NULL;
  int c, r;
  vd_vsphere *s;

  optind = 1;
  while ((c = getopt_long (argc, argv, "u:p:kd:", opts, NULL)) != -1) {
    if (c == 'd')
      desc = optarg;
    else if (c == 'X')
      del = optarg;
    else if (c == 'S')
      ds = optarg;
    else if (!conn_opt (&co, c, optarg)) {
      usage_error (verb, "invalid option");
      return 1;
    }
  }
  if (argc - optind != 2 || (del && desc)) {
    usage_error (verb, "expected [--description D | --delete SNAPSHOT-ID] "
                 "SERVER FCD-ID");
    return 1;
  }
  if (connect_server (&s, verb, argv[optind], &co) < 0)
    return 1;
  r = del ? vd_vsphere_fcd_snapshot_delete (s, argv[optind + 1], ds, del, 600)
          : vd_vsphere_fcd_snapshot_create (s, argv[optind + 1], ds, desc,
                                            600, &id);
  if (r < 0)
    return fail_close (s);
  if (id)
    printf ("%s\n", id);
  free (id);
  vd_vsphere_close (s);
  return 0;
}

static int
run (int argc, char **argv)
{
  if (argc < 2) {
    usage_error ("vsphere", "expected ls, cleanup, snapshot, changed, upload, get, put or fcd-snapshot");
    return 1;
  }
  if (strcmp (argv[1], "ls") == 0)
    return do_ls (argc - 1, argv + 1);
  if (strcmp (argv[1], "cleanup") == 0)
    return do_cleanup (argc - 1, argv + 1);
  if (strcmp (argv[1], "snapshot") == 0)
    return do_snapshot (argc - 1, argv + 1);
  if (strcmp (argv[1], "changed") == 0)
    return do_changed (argc - 1, argv + 1);
  if (strcmp (argv[1], "upload") == 0)
    return do_upload (argc - 1, argv + 1);
  if (strcmp (argv[1], "get") == 0 || strcmp (argv[1], "put") == 0)
    return do_file (argc - 1, argv + 1, argv[1][0] == 'p');
  if (strcmp (argv[1], "fcd-snapshot") == 0)
    return do_fcd_snapshot (argc - 1, argv + 1);
  usage_error ("vsphere", "unknown subcommand %s (ls, cleanup, snapshot, "
               "changed, upload, get, put, fcd-snapshot)",
               argv[1]);
  return 1;
}

/* ---- scan --vsphere ---------------------------------------------------- */

struct vs_hits {
  int n;
  int json;
  const char *vm, *device, *file;
};

static int
vs_hit (const struct vd_scan_hit *hit, void *payload)
{
  struct vs_hits *h = payload;
  if (h->json) {
    printf ("%s\n      {\"name\": ", h->n ? "," : "");
    json_str (stdout, hit->name);
    printf (", \"offset\": %llu, \"length\": %llu}",
            (unsigned long long) hit->offset,
            (unsigned long long) hit->length);
  }
  else
    printf ("%s %s %s: %s FOUND at byte %llu, %llu bytes\n", h->vm,
            h->device, h->file, hit->name, (unsigned long long) hit->offset,
            (unsigned long long) hit->length);
  h->n++;
  return 0;
}

/* Every disk of every VM, each read from a snapshot when the VM runs.
 * 0 clean, 1 found, 2 error. */
int vsphere_scan (vd_scanner *sc, const struct vd_scan_options *so,
                  int json, const char *server);
int
vsphere_scan (vd_scanner *sc, const struct vd_scan_options *so, int json,
              const char *server)
{
  struct conn_opts co = { 0 };
  struct vd_vsphere_inventory *inv;
  vd_vsphere *s;
  int found = 0, errors = 0, first = 1;

  if (connect_server (&s, "scan", server, &co) < 0)
    return 2;
  if (vd_vsphere_inventory (s, &inv) < 0) {
    fail ();
    vd_vsphere_close (s);
    return 2;
  }
  if (json)
    printf ("{\"disks\": [");
  for (size_t i = 0; i < inv->n_vms; i++) {
    const struct vd_vsphere_vm *vm = &inv->vms[i];
    struct vd_vsphere_vm *frozen = NULL;
    const struct vd_vsphere_vm *src = vm;
    char *snap = NULL, sname[96];
    int running = vm->power_state
                  && strcmp (vm->power_state, "poweredOff") != 0;

    if (running) {
      snprintf (sname, sizeof sname, "vdisk-scan-%ld-%ld", (long) getpid (),
                (long) time (NULL));
      if (vd_vsphere_snapshot_create (s, vm->moref, sname, 0, 600, &snap) < 0
          || vd_vsphere_snapshot_disks (s, snap, &frozen) < 0) {
        fail ();
        errors++;
        if (snap && vd_vsphere_snapshot_remove (s, snap, 600) < 0)
          fail ();
        free (snap);
        continue;
      }
      src = frozen;
    }
    for (size_t k = 0; k < src->n_disks; k++) {
      const struct vd_vsphere_disk *d = &src->disks[k];
      struct vs_hits h = { 0, json, vm->name, d->device, d->file };
      struct vd_scan_stats st;
      vd_disk *disk;
      int r;

      if (vd_disk_open_vsphere (&disk, s, NULL, d->file,
                                VD_OPEN_READ_ONLY) < 0) {
        fail ();
        errors++;
        continue;
      }
      if (json) {
        printf ("%s\n  {\"vm\": ", first ? "" : ",");
        json_str (stdout, vm->name);
        printf (", \"moref\": ");
        json_str (stdout, vm->moref);
        printf (", \"device\": ");
        json_str (stdout, d->device);
        printf (", \"disk\": ");
        json_str (stdout, d->file);
        printf (", \"snapshot\": ");
        json_str (stdout, snap);
        printf (", \"hits\": [");
      }
      first = 0;
      r = vd_scan (disk, sc, so, vs_hit, &h, &st);
      if (r < 0) {
        fail ();
        errors++;
      }
      vd_disk_close (disk);
      if (json)
        printf ("%s], \"bytes_read\": %llu, \"status\": \"%s\"}",
                h.n ? "\n    " : "", (unsigned long long) st.bytes_read,
                r < 0 ? "error" : h.n ? "infected" : "clean");
      else if (r >= 0 && h.n == 0)
        printf ("%s %s %s: clean (%llu bytes read)\n", vm->name, d->device,
                d->file, (unsigned long long) st.bytes_read);
      if (h.n)
        found = 1;
    }
    vd_vsphere_vm_free (frozen);
    if (snap && vd_vsphere_snapshot_remove (s, snap, 600) < 0) {
      fail ();
      errors++;
    }
    free (snap);
  }
  if (json)
    printf ("\n]}\n");
  vd_vsphere_inventory_free (inv);
  vd_vsphere_close (s);
  return errors ? 2 : found;
}

const struct command cmd_vsphere = {
  "vsphere", run,
  "ls [--json] SERVER | cleanup [--prefix P] SERVER | snapshot [--name N] "
  "SERVER VM | snapshot --remove SNAPSHOT SERVER | changed [--since ID] "
  "[--snapshot S] SERVER VM [DEVICE] | upload [--thin] [--overwrite] DISK "
  "SERVER \"[DATASTORE] FOLDER/NAME.vmdk\" | get SERVER \"[DATASTORE] PATH\" "
  "LOCAL | put LOCAL SERVER \"[DATASTORE] PATH\" | fcd-snapshot "
  "[--description D | --delete SNAPSHOT-ID] SERVER FCD-ID",
  "An ESXi host or vCenter through the vSphere Web Services API: list "
  "VMs, disks and datastores; remove left-over vdisk snapshots.",
  "SERVER is [https://|vsphere://][USER@]HOST[:PORT][?thumbprint=..&"
  "cafile=..&insecure=1].\n"
  "  -j, --json               ls: machine-readable output\n"
  "      --prefix P           cleanup: snapshots named P* (default vdisk-)\n"
  "  -n, --name N             snapshot: its name (default vdisk-TIME)\n"
  "      --quiesce            snapshot: quiesce the guest\n"
  "      --remove SNAPSHOT    snapshot: remove it (a moref)\n"
  "      --since ID           changed: areas changed since this changeId\n"
  "                           (default *: every allocated area)\n"
  "      --snapshot S         changed: as the snapshot S froze the disk\n"
  "      --thin               upload: a thin vmfs disk\n"
  "      --overwrite          upload, get, put: replace an existing file\n"
  "      --dc DC              upload: the datacenter (default: found)\n"
  "      --progress           upload: progress on standard error\n"
  "  -d, --description D      fcd-snapshot: the new snapshot's description\n"
  "      --delete SNAPSHOT-ID fcd-snapshot: delete that snapshot\n"
  "      --datastore DS       fcd-snapshot: the FCD's datastore (default: found)\n"
  CONN_HELP
  "Disks open as vsphere://USER@HOST[:PORT]/[DATASTORE] PATH.vmdk in\n"
  "every command that reads (info, cat, map, convert, check, scan).\n",
};
