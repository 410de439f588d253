/* vdisk fcd ACTION [DATASTORE] ...: first class disks (vd_fcd_*). */
#include "vdisk-tool.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fopts {
  const char *verb;
  int json, del, remove;
  const char *name, *desc, *mode, *since, *type;
  uint64_t size;
  int have_size;
};

static void
print_info (const struct vd_fcd_info *i, int json, int first)
{
  if (json) {
    printf ("%s{\"id\": \"%s\", \"name\": ", first ? "" : ",\n ", i->id);
    json_str (stdout, i->name);
    printf (", \"path\": ");
    json_str (stdout, i->path);
    printf (", \"capacity\": %" PRIu64 ", \"created\": %" PRId64
            ", \"cbt\": %s, \"snapshots\": %u, \"attachments\": %u, "
            "\"relocation_disabled\": %s}", i->capacity, i->created,
            i->cbt ? "true" : "false", i->snapshots, i->attachments,
            i->relocation_disabled ? "true" : "false");
  }
  else
    printf ("%s  %-20s %14" PRIu64 "  %u snapshot(s)%s\n", i->id, i->name,
            i->capacity, i->snapshots, i->attachments ? "  attached" : "");
}

struct lst {
  int json, n;
};

static int
list_cb (const struct vd_fcd_info *i, void *p)
{
  struct lst *l = p;
  print_info (i, l->json, l->n++ == 0);
  return 0;
}

static int
snap_cb (const struct vd_fcd_snapshot *sn, void *p)
{
  struct lst *l = p;
  if (l->json) {
    printf ("%s{\"id\": \"%s\", \"parent\": ", l->n ? ",\n " : "", sn->id);
    if (sn->parent[0])
      printf ("\"%s\"", sn->parent);
    else
      printf ("null");
    printf (", \"created\": %" PRId64 ", \"description\": ", sn->created);
    json_str (stdout, sn->description);
    printf (", \"path\": ");
    json_str (stdout, sn->path);
    printf ("}");
  }
  else
    printf ("%s  %s  %s\n", sn->id, sn->parent[0] ? sn->parent : "-",
            sn->description);
  l->n++;
  return 0;
}

static int
meta_cb (const char *k, const char *v, void *p)
{
  struct lst *l = p;
  if (l->json) {
    printf ("%s", l->n ? ", " : "");
    json_str (stdout, k);
    printf (": ");
    json_str (stdout, v);
  }
  else
    printf ("%s = %s\n", k, v);
  l->n++;
  return 0;
}

static int
att_cb (const struct vd_fcd_attachment *a, void *p)
{
  struct lst *l = p;
  if (l->json) {
    printf ("%s{\"vmx\": ", l->n ? ", " : "");
    json_str (stdout, a->vmx);
    printf (", \"device\": \"%s\", \"mode\": \"%s\"}", a->device, a->mode);
  }
  else
    printf ("attached: %s %s %s\n", a->vmx, a->device, a->mode);
  l->n++;
  return 0;
}

struct pick {
  const char *k;
  char *v;
};

static int
pick_cb (const char *k, const char *v, void *p)
{
  struct pick *x = p;
  if (strcmp (k, x->k) == 0 && !x->v)
    x->v = strdup (v);
  return 0;
}

static int
orphan_cb (const char *path, void *p)
{
  struct lst *l = p;
  if (l->json) {
    printf ("%s", l->n ? ", " : "");
    json_str (stdout, path);
  }
  else
    printf ("%s\n", path);
  l->n++;
  return 0;
}

static int
print_id (int json, const char *key, const char *id)
{
  if (json)
    printf ("{\"%s\": \"%s\"}\n", key, id);
  else
    printf ("%s\n", id);
  return 0;
}

static int
ok_json (int json)
{
  if (json)
    printf ("{\"ok\": true}\n");
  return 0;
}

static int
info (vd_fcd_store *s, const char *id, int json)
{
  struct vd_fcd_info i;
  struct lst l = { json, 0 };
  if (vd_fcd_get_info (s, id, &i) < 0)
    return fail ();
  char full[VD_FCD_ID_SIZE];
  memcpy (full, i.id, sizeof full);
  if (json) {
    printf ("{\"fcd\": ");
    print_info (&i, 1, 1);
    printf (", \"meta\": {");
  }
  else {
    printf ("id: %s\nname: %s\npath: %s\ncapacity: %" PRIu64 "\n"
            "created: %" PRId64 "\ncbt: %s\nsnapshots: %u\n"
            "relocation disabled: %s\n", i.id, i.name, i.path, i.capacity,
            i.created, i.cbt ? "on" : "off", i.snapshots,
            i.relocation_disabled ? "yes" : "no");
  }
  if (vd_fcd_list_meta (s, full, meta_cb, &l) < 0)
    return fail ();
  if (json)
    printf ("}, \"attachments\": [");
  l.n = 0;
  if (vd_fcd_list_attachments (s, full, att_cb, &l) < 0)
    return fail ();
  if (json)
    printf ("]}\n");
  return 0;
}

static int
st_emit (uint64_t off, uint64_t len, uint32_t st, void *p)
{
  struct lst *l = p;
  const char *n = st == VD_STATUS_DATA ? "data" : st == VD_STATUS_ZERO
                  ? "zero" : "hole";
  if (l->json)
    printf ("%s\n  {\"start\": %" PRIu64 ", \"length\": %" PRIu64
            ", \"type\": \"%s\"}", l->n ? "," : "", off, len, n);
  else
    printf ("%20" PRIu64 " %20" PRIu64 "  %s\n", off, len, n);
  l->n++;
  return 0;
}

static int
area_emit (uint64_t off, uint64_t len, void *p)
{
  struct lst *l = p;
  if (l->json)
    printf ("%s\n  {\"offset\": %" PRIu64 ", \"length\": %" PRIu64 "}",
            l->n ? "," : "", off, len);
  else
    printf ("%" PRIu64 "\t%" PRIu64 "\n", off, len);
  l->n++;
  return 0;
}

static int
read_cmd (vd_fcd_store *s, const char *verb, const char *ref,
          const struct fopts *o)
{
  vd_disk *d;
  int r = 0;
  if (vd_fcd_open (&d, s, ref, NULL, VD_OPEN_READ_ONLY) < 0)
    return fail ();
  struct lst l = { o->json, 0 };
  if (strcmp (verb, "cat") == 0) {
    if (isatty (1)) {
      vd_disk_close (d);
      fprintf (stderr, "vdisk fcd cat: refusing to write a disk to a "
               "terminal; redirect it\n");
      return 1;
    }
    size_t bs = 1u << 20;
    char *buf = malloc (bs);
    uint64_t size = vd_disk_get_size (d);
    for (uint64_t off = 0; buf && off < size && r == 0; off += bs) {
      size_t n = (size_t) (size - off < bs ? size - off : bs);
      if (vd_disk_read (d, buf, n, off) < 0)
        r = fail ();
      else if (fwrite (buf, 1, n, stdout) != n) {
        fprintf (stderr, "vdisk fcd cat: write: %s\n", strerror (errno));
        r = 1;
      }
    }
    if (!buf)
      r = 1;
    free (buf);
  }
  else if (strcmp (verb, "map") == 0) {
    printf (o->json ? "[" : "%20s %20s  %s\n", "offset", "length", "type");
    if (vd_disk_block_status (d, 0, vd_disk_get_size (d), st_emit, &l) < 0)
      r = fail ();
    if (o->json)
      printf ("\n]\n");
  }
  else {
    if (!o->since) {
      vd_disk_close (d);
      return usage_error ("fcd changes", "--since ID is required ('*' for "
                          "every allocated area)");
    }
    if (o->json)
      printf ("{\"since\": \"%s\", \"areas\": [", o->since);
    if (vd_disk_query_changed_areas (d, o->since, 0, UINT64_MAX, area_emit,
                                     &l) < 0)
      r = fail ();
    if (o->json)
      printf ("\n]}\n");
  }
  vd_disk_close (d);
  return r;
}

/* ---- the actions: a[0..n-1] are the arguments after the datastore ---- */

static int
act_create (vd_fcd_store *s, char **a, int n, const struct fopts *o)
{
  char id[VD_FCD_ID_SIZE];
  enum vd_type t = o->type ? vd_type_from_name (o->type) : 0;
  (void) a, (void) n;
  if (!o->name || !o->have_size)
    return usage_error ("fcd", "create: --name and --size are required");
  if (o->type && t == VD_TYPE_UNKNOWN)
    return usage_error ("fcd", "create: unknown type '%s'", o->type);
  if (vd_fcd_create (s, o->name, o->size, t, id) < 0)
    return fail ();
  return print_id (o->json, "id", id);
}

static int
act_register (vd_fcd_store *s, char **a, int n, const struct fopts *o)
{
  char id[VD_FCD_ID_SIZE];
  (void) n;
  if (vd_fcd_register (s, a[0], o->name, id) < 0)
    return fail ();
  return print_id (o->json, "id", id);
}

static int
act_list (vd_fcd_store *s, char **a, int n, const struct fopts *o)
{
  struct lst l = { o->json, 0 };
  int r = 0;
  (void) a, (void) n;
  if (o->json)
    printf ("[");
  if (vd_fcd_list (s, list_cb, &l) < 0)
    r = fail ();
  if (o->json)
    printf ("]\n");
  return r;
}

static int
act_info (vd_fcd_store *s, char **a, int n, const struct fopts *o)
{
  (void) n;
  return info (s, a[0], o->json);
}

static int
act_delete (vd_fcd_store *s, char **a, int n, const struct fopts *o)
{
  (void) n;
  return vd_fcd_delete (s, a[0]) < 0 ? fail () : ok_json (o->json);
}

static int
act_rename (vd_fcd_store *s, char **a, int n, const struct fopts *o)
{
  (void) n;
  return vd_fcd_rename (s, a[0], a[1]) < 0 ? fail () : ok_json (o->json);
}

static int
act_meta (vd_fcd_store *s, char **a, int n, const struct fopts *o)
{
  struct lst l = { o->json, 0 };
  int r = 0;
  if (o->del && n != 2)
    return usage_error ("fcd", "meta: expected ID [KEY [VALUE]] or --delete "
                        "ID KEY");
  if (o->del || n == 3)
    return vd_fcd_set_meta (s, a[0], a[1], o->del ? NULL : a[2]) < 0
           ? fail () : ok_json (o->json);
  if (o->json)
    printf ("{");
  if (n == 1) {
    if (vd_fcd_list_meta (s, a[0], meta_cb, &l) < 0)
      r = fail ();
  }
  else {
    struct pick pk = { a[1], NULL };
    if (vd_fcd_list_meta (s, a[0], pick_cb, &pk) < 0)
      r = fail ();
    else if (!pk.v) {
      fprintf (stderr, "vdisk: fcd meta: no key %s\n", a[1]);
      r = 1;
    }
    else if (o->json) {
      json_str (stdout, a[1]);
      printf (": ");
      json_str (stdout, pk.v);
    }
    else
      printf ("%s\n", pk.v);
    free (pk.v);
  }
  if (o->json)
    printf ("}\n");
  return r;
}

static int
act_grow (vd_fcd_store *s, char **a, int n, const struct fopts *o)
{
  uint64_t sz;
  (void) n;
  if (parse_size (a[1], &sz) < 0)
    return usage_error ("fcd", "grow: bad size '%s'", a[1]);
  return vd_fcd_grow (s, a[0], sz) < 0 ? fail () : ok_json (o->json);
}

static int
act_snapshot (vd_fcd_store *s, char **a, int n, const struct fopts *o)
{
  char id[VD_FCD_ID_SIZE];
  (void) n;
  if (vd_fcd_snapshot (s, a[0], o->desc, id) < 0)
    return fail ();
  return print_id (o->json, "snapshot", id);
}

static int
act_snapshots (vd_fcd_store *s, char **a, int n, const struct fopts *o)
{
  struct lst l = { o->json, 0 };
  int r = 0;
  (void) n;
  if (o->json)
    printf ("[");
  if (vd_fcd_list_snapshots (s, a[0], snap_cb, &l) < 0)
    r = fail ();
  if (o->json)
    printf ("]\n");
  return r;
}

static int
act_snapdel (vd_fcd_store *s, char **a, int n, const struct fopts *o)
{
  (void) n;
  return vd_fcd_delete_snapshot (s, a[0], a[1]) < 0 ? fail ()
                                                    : ok_json (o->json);
}

static int
act_revert (vd_fcd_store *s, char **a, int n, const struct fopts *o)
{
  (void) n;
  return vd_fcd_revert (s, a[0], a[1]) < 0 ? fail () : ok_json (o->json);
}

static int
act_from_snapshot (vd_fcd_store *s, char **a, int n, const struct fopts *o)
{
  char id[VD_FCD_ID_SIZE];
  (void) n;
  if (!o->name)
    return usage_error ("fcd", "from-snapshot: --name is required");
  if (vd_fcd_from_snapshot (s, a[0], a[1], o->name, id) < 0)
    return fail ();
  return print_id (o->json, "id", id);
}

static int
act_read (vd_fcd_store *s, char **a, int n, const struct fopts *o)
{
  (void) n;
  return read_cmd (s, o->verb, a[0], o);
}

static int
act_attach (vd_fcd_store *s, char **a, int n, const struct fopts *o)
{
  int mode = VD_FCD_PERSISTENT;
  (void) n;
  if (o->mode && strcmp (o->mode, "independent_nonpersistent") == 0)
    mode = VD_FCD_INDEPENDENT_NONPERSISTENT;
  else if (o->mode && strcmp (o->mode, "persistent") != 0)
    return usage_error ("fcd", "attach: --mode is persistent or "
                        "independent_nonpersistent");
  return vd_fcd_attach (s, a[0], a[1], mode) < 0 ? fail () : ok_json (o->json);
}

static int
act_detach (vd_fcd_store *s, char **a, int n, const struct fopts *o)
{
  (void) n;
  return vd_fcd_detach (s, a[0], a[1]) < 0 ? fail () : ok_json (o->json);
}

static int
act_relocate (vd_fcd_store *s, char **a, int n, const struct fopts *o)
{
  (void) n;
  return vd_fcd_relocate (s, a[0], a[1]) < 0 ? fail () : ok_json (o->json);
}

static int
act_access (vd_fcd_store *s, char **a, int n, const struct fopts *o)
{
  (void) n;
  return vd_fcd_set_relocation_disabled (s, a[0], o->verb[0] == 'p') < 0
         ? fail () : ok_json (o->json);
}

static int
act_reconcile (vd_fcd_store *s, char **a, int n, const struct fopts *o)
{
  struct lst l = { o->json, 0 };
  int r = 0;
  (void) a, (void) n;
  if (o->json)
    printf ("{\"orphans\": [");
  int k = vd_fcd_reconcile (s, o->remove, orphan_cb, &l);
  if (k < 0)
    r = fail ();
  if (o->json)
    printf ("], \"count\": %d, \"removed\": %s}\n", k < 0 ? 0 : k,
            o->remove && k > 0 ? "true" : "false");
  return r;
}

struct action {
  const char *verb;
  int min, max;        /* arguments after the datastore */
  int create;          /* makes the catalog when absent */
  int (*fn) (vd_fcd_store *, char **, int, const struct fopts *);
};

static const struct action actions[] = {
  { "create", 0, 0, 1, act_create },
  { "register", 1, 1, 1, act_register },
  { "list", 0, 0, 0, act_list },
  { "info", 1, 1, 0, act_info },
  { "delete", 1, 1, 0, act_delete },
  { "rename", 2, 2, 0, act_rename },
  { "meta", 1, 3, 0, act_meta },
  { "grow", 2, 2, 0, act_grow },
  { "snapshot", 1, 1, 0, act_snapshot },
  { "snapshots", 1, 1, 0, act_snapshots },
  { "snapshot-delete", 2, 2, 0, act_snapdel },
  { "revert", 2, 2, 0, act_revert },
  { "from-snapshot", 2, 2, 0, act_from_snapshot },
  { "cat", 1, 1, 0, act_read },
  { "map", 1, 1, 0, act_read },
  { "changes", 1, 1, 0, act_read },
  { "attach", 2, 2, 0, act_attach },
  { "detach", 2, 2, 0, act_detach },
  { "relocate", 2, 2, 0, act_relocate },
  { "prepare-access", 1, 1, 0, act_access },
  { "end-access", 1, 1, 0, act_access },
  { "reconcile", 0, 0, 0, act_reconcile },
  { NULL, 0, 0, 0, NULL }
};

static int
is_folder (const char *p)
{
  struct stat st;
  return stat (p, &st) == 0 && S_ISDIR (st.st_mode);
}

/* The datastore: --datastore, else the old first argument (more
 * arguments than the action takes, or a folder where one more is
 * allowed), else $VDISK_DATASTORE, else the current folder when it holds
 * a catalog.  Takes the first argument when it is the datastore. */
static const char *
pick_datastore (const struct action *ac, const char *opt, char ***a, int *n)
{
  if (opt)
    return opt;
  if (*n > ac->max || (*n - 1 >= ac->min && is_folder ((*a)[0]))) {
    (*n)--;
    return *(*a)++;
  }
  const char *env = getenv ("VDISK_DATASTORE");
  if (env && *env)
    return env;
  if (access ("fcd-catalog.db", F_OK) == 0)
    return ".";
  return NULL;
}

static int
run (int argc, char **argv)
{
  static const struct option opts[] = {
    { "json", no_argument, NULL, 'j' },
    { "name", required_argument, NULL, 'n' },
    { "size", required_argument, NULL, 's' },
    { "type", required_argument, NULL, 't' },
    { "datastore", required_argument, NULL, 'd' },
    { "description", required_argument, NULL, 'E' },
    { "mode", required_argument, NULL, 'm' },
    { "since", required_argument, NULL, 'S' },
    { "delete", no_argument, NULL, 'D' },
    { "remove", no_argument, NULL, 'R' },
    OPT_HELP, { 0 } };
  struct fopts o = { 0 };
  const char *dsopt = NULL;
  int c;
  while ((c = getopt_long (argc, argv, "jn:s:t:d:m:", opts, NULL)) != -1) {
    switch (c) {
    case 'j': o.json = 1; break;
    case 'n': o.name = optarg; break;
    case 's':
      if (parse_size (optarg, &o.size) < 0)
        return usage_error ("fcd", "bad size '%s'", optarg);
      o.have_size = 1;
      break;
    case 't': o.type = optarg; break;
    case 'd': dsopt = optarg; break;
    case 'E': o.desc = optarg; break;
    case 'm': o.mode = optarg; break;
    case 'S': o.since = optarg; break;
    case 'D': o.del = 1; break;
    case 'R': o.remove = 1; break;
    default: return usage_error ("fcd", "invalid option");
    }
  }
  if (argc - optind < 1)
    return usage_error ("fcd", "expected an action");
  const struct action *ac = actions;
  o.verb = argv[optind];
  while (ac->verb && strcmp (ac->verb, o.verb) != 0)
    ac++;
  if (!ac->verb)
    return usage_error ("fcd", "unknown action '%s'", o.verb);
  char **a = argv + optind + 1;
  int n = argc - optind - 1;
  const char *ds = pick_datastore (ac, dsopt, &a, &n);
  if (!ds)
    return usage_error ("fcd", "%s: no datastore: give --datastore DS (or "
                        "DATASTORE before the arguments), set "
                        "VDISK_DATASTORE, or run it in a datastore folder",
                        o.verb);
  if (n < ac->min || n > ac->max) {
    if (ac->min == ac->max)
      return usage_error ("fcd", "%s: expected %d argument(s) after the "
                          "action and datastore", o.verb, ac->min);
    return usage_error ("fcd", "%s: expected %d to %d arguments after the "
                        "action and datastore", o.verb, ac->min, ac->max);
  }
  vd_fcd_store *s;
  if (vd_fcd_store_open (&s, ds, ac->create ? VD_FCD_CREATE : 0) < 0)
    return fail ();
  int r = ac->fn (s, a, n, &o);
  vd_fcd_store_close (s);
  return r;
}

const struct command cmd_fcd = {
  "fcd", run, "ACTION [--json] [-d DATASTORE | DATASTORE] [ID[@SSID]] [ARGS]",
  "First class disks: disks named by UUID in a datastore catalog, with "
  "their own snapshots, revert, disk-from-snapshot and attachments.",
  "  actions (ID a UUID or a unique prefix; DS the datastore, a folder):\n"
  "    create --name N --size S [--type T] DS\n"
  "    register [--name N] DISK | list\n"
  "    info ID | delete ID | rename ID NAME | grow ID SIZE\n"
  "    meta ID [KEY [VALUE]] | meta --delete ID KEY\n"
  "    snapshot [--description D] ID | snapshots ID\n"
  "    snapshot-delete ID SSID | revert ID SSID\n"
  "    from-snapshot --name N ID SSID\n"
  "    cat | map | changes --since CID  ID[@SSID]\n"
  "    attach [--mode persistent|independent_nonpersistent] ID VMFOLDER\n"
  "    detach ID VMFOLDER | relocate ID DEST\n"
  "    prepare-access | end-access ID  (relocation disabled)\n"
  "    reconcile [--remove]\n"
  "  the datastore: -d, --datastore DS; else a DS before the arguments\n"
  "  (vdisk fcd info DS ID); else $VDISK_DATASTORE; else the current\n"
  "  folder when it holds fcd-catalog.db\n"
  "  -j, --json            machine-readable output\n",
};
