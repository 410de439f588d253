/* vdisk fcd ACTION DATASTORE ...: first class disks (vd_fcd_*). */
#include "vdisk-tool.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fopts {
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

static int
nargs (const char *verb, int have, int want)
{
  if (have != want) {
    usage_error ("fcd", "%s: expected %d argument(s) after the action", verb,
                 want);
    return 0;
  }
  return 1;
}

static int
run (int argc, char **argv)
{
  static const struct option opts[] = {
    { "json", no_argument, NULL, 'j' },
    { "name", required_argument, NULL, 'n' },
    { "size", required_argument, NULL, 's' },
    { "type", required_argument, NULL, 't' },
    { "description", required_argument, NULL, 'd' },
    { "mode", required_argument, NULL, 'm' },
    { "since", required_argument, NULL, 'S' },
    { "delete", no_argument, NULL, 'D' },
    { "remove", no_argument, NULL, 'R' },
    OPT_HELP, { 0 } };
  struct fopts o = { 0 };
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
    case 'd': o.desc = optarg; break;
    case 'm': o.mode = optarg; break;
    case 'S': o.since = optarg; break;
    case 'D': o.del = 1; break;
    case 'R': o.remove = 1; break;
    default: return usage_error ("fcd", "invalid option");
    }
  }
  if (argc - optind < 2)
    return usage_error ("fcd", "expected an action and a DATASTORE");
  const char *verb = argv[optind], *ds = argv[optind + 1];
  char **a = argv + optind + 2;
  int n = argc - optind - 2, create = strcmp (verb, "create") == 0
                                      || strcmp (verb, "register") == 0;
  static const char *const known[] = {
    "create", "register", "list", "info", "delete", "rename", "meta", "grow",
    "snapshot", "snapshots", "snapshot-delete", "revert", "from-snapshot",
    "cat", "map", "changes", "attach", "detach", "relocate", "reconcile",
    "prepare-access", "end-access", NULL };
  int ok = 0;
  for (int i = 0; known[i]; i++)
    ok |= strcmp (known[i], verb) == 0;
  if (!ok)
    return usage_error ("fcd", "unknown action '%s'", verb);
  vd_fcd_store *s;
  if (vd_fcd_store_open (&s, ds, create ? VD_FCD_CREATE : 0) < 0)
    return fail ();
  char id[VD_FCD_ID_SIZE];
  struct lst l = { o.json, 0 };
  int r = 0;

  if (strcmp (verb, "create") == 0) {
    enum vd_type t = o.type ? vd_type_from_name (o.type) : 0;
    if (!nargs (verb, n, 0))
      r = 1;
    else if (!o.name || !o.have_size)
      r = usage_error ("fcd", "create: --name and --size are required");
    else if (o.type && t == VD_TYPE_UNKNOWN)
      r = usage_error ("fcd", "create: unknown type '%s'", o.type);
    else if (vd_fcd_create (s, o.name, o.size, t, id) < 0)
      r = fail ();
    else
      print_id (o.json, "id", id);
  }
  else if (strcmp (verb, "register") == 0) {
    if (!nargs (verb, n, 1))
      r = 1;
    else if (vd_fcd_register (s, a[0], o.name, id) < 0)
      r = fail ();
    else
      print_id (o.json, "id", id);
  }
  else if (strcmp (verb, "list") == 0) {
    if (!nargs (verb, n, 0))
      r = 1;
    else {
      if (o.json)
        printf ("[");
      if (vd_fcd_list (s, list_cb, &l) < 0)
        r = fail ();
      if (o.json)
        printf ("]\n");
    }
  }
  else if (strcmp (verb, "info") == 0)
    r = nargs (verb, n, 1) ? info (s, a[0], o.json) : 1;
  else if (strcmp (verb, "delete") == 0) {
    if (!nargs (verb, n, 1))
      r = 1;
    else
      r = vd_fcd_delete (s, a[0]) < 0 ? fail () : ok_json (o.json);
  }
  else if (strcmp (verb, "rename") == 0) {
    if (!nargs (verb, n, 2))
      r = 1;
    else
      r = vd_fcd_rename (s, a[0], a[1]) < 0 ? fail () : ok_json (o.json);
  }
  else if (strcmp (verb, "meta") == 0) {
    if (n < 1 || n > 3 || (o.del && n != 2))
      r = usage_error ("fcd", "meta: expected ID [KEY [VALUE]] or --delete "
                       "ID KEY");
    else if (o.del || n == 3)
      r = vd_fcd_set_meta (s, a[0], a[1], o.del ? NULL : a[2]) < 0
          ? fail () : ok_json (o.json);
    else {
      if (o.json)
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
        else if (o.json) {
          json_str (stdout, a[1]);
          printf (": ");
          json_str (stdout, pk.v);
        }
        else
          printf ("%s\n", pk.v);
        free (pk.v);
      }
      if (o.json)
        printf ("}\n");
    }
  }
  else if (strcmp (verb, "grow") == 0) {
    uint64_t sz;
    if (!nargs (verb, n, 2))
      r = 1;
    else if (parse_size (a[1], &sz) < 0)
      r = usage_error ("fcd", "grow: bad size '%s'", a[1]);
    else
      r = vd_fcd_grow (s, a[0], sz) < 0 ? fail () : ok_json (o.json);
  }
  else if (strcmp (verb, "snapshot") == 0) {
    if (!nargs (verb, n, 1))
      r = 1;
    else if (vd_fcd_snapshot (s, a[0], o.desc, id) < 0)
      r = fail ();
    else
      print_id (o.json, "snapshot", id);
  }
  else if (strcmp (verb, "snapshots") == 0) {
    if (!nargs (verb, n, 1))
      r = 1;
    else {
      if (o.json)
        printf ("[");
      if (vd_fcd_list_snapshots (s, a[0], snap_cb, &l) < 0)
        r = fail ();
      if (o.json)
        printf ("]\n");
    }
  }
  else if (strcmp (verb, "snapshot-delete") == 0) {
    if (!nargs (verb, n, 2))
      r = 1;
    else
      r = vd_fcd_delete_snapshot (s, a[0], a[1]) < 0 ? fail ()
                                                     : ok_json (o.json);
  }
  else if (strcmp (verb, "revert") == 0) {
    if (!nargs (verb, n, 2))
      r = 1;
    else
      r = vd_fcd_revert (s, a[0], a[1]) < 0 ? fail () : ok_json (o.json);
  }
  else if (strcmp (verb, "from-snapshot") == 0) {
    if (!nargs (verb, n, 2))
      r = 1;
    else if (!o.name)
      r = usage_error ("fcd", "from-snapshot: --name is required");
    else if (vd_fcd_from_snapshot (s, a[0], a[1], o.name, id) < 0)
      r = fail ();
    else
      print_id (o.json, "id", id);
  }
  else if (strcmp (verb, "cat") == 0 || strcmp (verb, "map") == 0
           || strcmp (verb, "changes") == 0)
    r = nargs (verb, n, 1) ? read_cmd (s, verb, a[0], &o) : 1;
  else if (strcmp (verb, "attach") == 0) {
    int mode = VD_FCD_PERSISTENT;
    if (o.mode && strcmp (o.mode, "independent_nonpersistent") == 0)
      mode = VD_FCD_INDEPENDENT_NONPERSISTENT;
    else if (o.mode && strcmp (o.mode, "persistent") != 0)
      return vd_fcd_store_close (s), usage_error ("fcd", "attach: --mode is "
                                                  "persistent or "
                                                  "independent_nonpersistent");
    if (!nargs (verb, n, 2))
      r = 1;
    else
      r = vd_fcd_attach (s, a[0], a[1], mode) < 0 ? fail () : ok_json (o.json);
  }
  else if (strcmp (verb, "detach") == 0) {
    if (!nargs (verb, n, 2))
      r = 1;
    else
      r = vd_fcd_detach (s, a[0], a[1]) < 0 ? fail () : ok_json (o.json);
  }
  else if (strcmp (verb, "relocate") == 0) {
    if (!nargs (verb, n, 2))
      r = 1;
    else
      r = vd_fcd_relocate (s, a[0], a[1]) < 0 ? fail () : ok_json (o.json);
  }
  else if (strcmp (verb, "prepare-access") == 0
           || strcmp (verb, "end-access") == 0) {
    if (!nargs (verb, n, 1))
      r = 1;
    else
      r = vd_fcd_set_relocation_disabled (s, a[0], verb[0] == 'p') < 0
          ? fail () : ok_json (o.json);
  }
  else if (strcmp (verb, "reconcile") == 0) {
    if (!nargs (verb, n, 0))
      r = 1;
    else {
      if (o.json)
        printf ("{\"orphans\": [");
      int k = vd_fcd_reconcile (s, o.remove, orphan_cb, &l);
      if (k < 0)
        r = fail ();
      if (o.json)
        printf ("], \"count\": %d, \"removed\": %s}\n", k < 0 ? 0 : k,
                o.remove && k > 0 ? "true" : "false");
    }
  }
  vd_fcd_store_close (s);
  return r;
}

const struct command cmd_fcd = {
  "fcd", run, "ACTION [--json] DATASTORE [ID[@SSID]] [ARGS]",
  "First class disks: disks named by UUID in a datastore catalog, with "
  "their own snapshots, revert, disk-from-snapshot and attachments.",
  "  actions (DATASTORE is a folder; ID a UUID or a unique prefix):\n"
  "    create --name N --size S [--type T] DATASTORE\n"
  "    register [--name N] DATASTORE DISK\n"
  "    list DATASTORE | info DATASTORE ID | delete DATASTORE ID\n"
  "    rename DATASTORE ID NAME | grow DATASTORE ID SIZE\n"
  "    meta DATASTORE ID [KEY [VALUE]] | meta --delete DATASTORE ID KEY\n"
  "    snapshot [--description D] DATASTORE ID | snapshots DATASTORE ID\n"
  "    snapshot-delete DATASTORE ID SSID | revert DATASTORE ID SSID\n"
  "    from-snapshot --name N DATASTORE ID SSID\n"
  "    cat | map | changes --since CID  DATASTORE ID[@SSID]\n"
  "    attach [--mode persistent|independent_nonpersistent] DATASTORE ID "
  "VMFOLDER\n"
  "    detach DATASTORE ID VMFOLDER | relocate DATASTORE ID DEST\n"
  "    prepare-access | end-access DATASTORE ID  (relocation disabled)\n"
  "    reconcile [--remove] DATASTORE\n"
  "  -j, --json            machine-readable output\n",
};
