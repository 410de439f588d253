#include "vdisk-tool.h"

#include <stdlib.h>
#include <string.h>

static const char *
ext_type (enum vd_extent_type t)
{
  switch (t) {
  case VD_EXTENT_FLAT: return "FLAT";
  case VD_EXTENT_SPARSE: return "SPARSE";
  case VD_EXTENT_ZERO: return "ZERO";
  case VD_EXTENT_VMFS: return "VMFS";
  case VD_EXTENT_VMFSSPARSE: return "VMFSSPARSE";
  case VD_EXTENT_SESPARSE: return "SESPARSE";
  case VD_EXTENT_STREAM: return "SPARSE (streamOptimized)";
  }
  return "?";
}

static const char *
access_name (enum vd_access a)
{
  return a == VD_ACCESS_RDONLY ? "RDONLY" : a == VD_ACCESS_NOACCESS
         ? "NOACCESS" : "RW";
}

static int
run (int argc, char **argv)
{
  static const struct option opts[] = {
    { "json", no_argument, NULL, 'j' },
    { "single-link", no_argument, NULL, 'S' },
    { "ignore-cid", no_argument, NULL, 'I' },
    { "trusted", no_argument, NULL, 'T' },
    { "read-only", no_argument, NULL, 'r' },
    { "raw", no_argument, NULL, 'R' },
    OPT_HELP, { 0 } };
  struct open_opts oo = { 0 };
  int c, json = 0;
  vd_disk *d;

  while ((c = getopt_long (argc, argv, "jr", opts, NULL)) != -1) {
    switch (c) {
    case 'j': json = 1; break;
    case 'S': oo.single_link = 1; break;
    case 'I': oo.ignore_cid = 1; break;
    case 'T': oo.trusted = 1; break;
    case 'R': oo.raw = 1; break;
    case 'r': break;   /* info is always read-only */
    default: return usage_error ("info", "invalid option");
    }
  }
  if (optind + 1 != argc)
    return usage_error ("info", "expected one DISK argument");
  if (vd_disk_open (&d, argv[optind], open_flags (&oo, 1)) < 0)
    return fail ();

  struct vd_geometry g, bg;
  vd_disk_get_geometry (d, &g, &bg);
  const char *adapter = vd_disk_get_meta (d, "ddb.adapterType");
  unsigned n = vd_disk_get_extent_count (d);
  uint64_t size = vd_disk_get_size (d);

  if (json) {
    printf ("{\n  \"format_version\": 1,\n  \"path\": ");
    json_str (stdout, vd_disk_get_path (d));
    printf (",\n  \"capacity\": %llu,\n  \"create_type\": ",
            (unsigned long long) size);
    json_str (stdout, vd_disk_get_create_type (d));
    printf (",\n  \"type\": ");
    json_str (stdout, vd_type_name (vd_disk_get_type (d)));
    printf (",\n  \"adapter\": ");
    json_str (stdout, adapter);
    printf (",\n  \"geometry\": {\"cylinders\": %u, \"heads\": %u, "
            "\"sectors\": %u},\n", g.cylinders, g.heads, g.sectors);
    printf ("  \"hw_version\": %u,\n  \"cid\": \"%08x\",\n  \"parent_cid\": "
            "\"%08x\",\n  \"uuid\": ", vd_disk_get_hw_version (d),
            vd_disk_get_cid (d), vd_disk_get_parent_cid (d));
    json_str (stdout, vd_disk_get_uuid (d));
    printf (",\n  \"descriptor_version\": %d,\n  \"change_tracking\": ",
            vd_disk_get_descriptor_version (d));
    {
      struct vd_cbt_info ci;
      static const char *const st[] = { "off", "on", "foreign", "broken",
                                        "dropped" };
      if (vd_disk_get_cbt (d, &ci) == 0 && ci.state != VD_CBT_OFF) {
        printf ("{\"state\": \"%s\", \"file\": ", st[ci.state]);
        json_str (stdout, ci.file);
        if (ci.state == VD_CBT_ON)
          printf (", \"change_id\": \"%s\"", ci.change_id);
        printf ("}");
      }
      else
        printf ("null");
    }
    printf (",\n  \"parent_hint\": ");
    json_str (stdout, vd_disk_get_parent_hint (d));
    printf (",\n  \"links\": %u,\n  \"extents\": [", vd_disk_get_link_count (d));
    for (unsigned i = 0; i < n; i++) {
      struct vd_extent_info e;
      vd_disk_get_extent (d, i, &e);
      printf ("%s\n    {\"file\": ", i ? "," : "");
      json_str (stdout, e.file);
      printf (", \"type\": ");
      json_str (stdout, ext_type (e.type));
      printf (", \"access\": \"%s\", \"start\": %llu, \"size\": %llu, "
              "\"file_offset\": %llu, \"file_size\": %llu, "
              "\"sparse_version\": %u, \"grain_size\": %llu}",
              access_name (e.access), (unsigned long long) e.start,
              (unsigned long long) e.size,
              (unsigned long long) e.file_offset,
              (unsigned long long) e.file_size, e.version,
              (unsigned long long) e.grain_size);
    }
    printf ("\n  ],\n  \"metadata\": {");
    unsigned n_meta = vd_disk_get_meta_count (d);
    for (unsigned i = 0; i < n_meta; i++) {
      const char *k = vd_disk_get_meta_key (d, i);
      printf ("%s\n    ", i ? "," : "");
      json_str (stdout, k);
      printf (": ");
      json_str (stdout, vd_disk_get_meta (d, k));
    }
    printf ("\n  }");
    report_leftovers (argv[optind], 1);
    printf ("\n}\n");
  }
  else {
    printf ("disk:               %s\n", vd_disk_get_path (d));
    printf ("capacity:           %llu bytes (%llu sectors)\n",
            (unsigned long long) size, (unsigned long long) (size / 512));
    printf ("create type:        %s\n", vd_disk_get_create_type (d));
    printf ("adapter:            %s\n", adapter ? adapter : "(none)");
    printf ("geometry:           %u/%u/%u (cylinders/heads/sectors)\n",
            g.cylinders, g.heads, g.sectors);
    if (bg.cylinders)
      printf ("BIOS geometry:      %u/%u/%u\n", bg.cylinders, bg.heads,
              bg.sectors);
    printf ("hardware version:   %u\n", vd_disk_get_hw_version (d));
    printf ("CID:                %08x\n", vd_disk_get_cid (d));
    printf ("parent CID:         %08x\n", vd_disk_get_parent_cid (d));
    if (vd_disk_get_parent_hint (d))
      printf ("parent:             %s\n", vd_disk_get_parent_hint (d));
    printf ("links in chain:     %u\n", vd_disk_get_link_count (d));
    printf ("uuid:               %s\n",
            vd_disk_get_uuid (d) ? vd_disk_get_uuid (d) : "(none)");
    printf ("descriptor version: %d\n", vd_disk_get_descriptor_version (d));
    {
      struct vd_cbt_info ci;
      static const char *const st[] = { "off", "on", "foreign", "broken",
                                        "dropped" };
      if (vd_disk_get_cbt (d, &ci) == 0 && ci.state != VD_CBT_OFF)
        printf ("change tracking:    %s (%s)%s%s\n", st[ci.state],
                ci.file ? ci.file : "-", ci.problem ? ": " : "",
                ci.problem ? ci.problem : "");
    }
    printf ("extents:\n");
    for (unsigned i = 0; i < n; i++) {
      struct vd_extent_info e;
      vd_disk_get_extent (d, i, &e);
      printf ("  %-8s %-10s %12llu sectors  %s", access_name (e.access),
              ext_type (e.type), (unsigned long long) (e.size / 512),
              e.file ? e.file : "-");
      if (e.type == VD_EXTENT_FLAT && e.file_offset)
        printf (" @%llu", (unsigned long long) e.file_offset);
      if (e.file)
        printf ("  (file %llu bytes", (unsigned long long) e.file_size);
      if (e.version)
        printf (", sparse v%u, grain %llu", e.version,
                (unsigned long long) e.grain_size);
      printf ("%s\n", e.file ? ")" : "");
    }
    report_leftovers (argv[optind], 0);
  }
  vd_disk_close (d);
  return 0;
}

const struct command cmd_info = {
  "info", run, "[--json] [--single-link] [--ignore-cid] [--trusted] [--raw] DISK",
  "Show a disk's capacity, type, geometry, IDs and extents.",
  "  -j, --json            machine-readable output\n"
  "      --single-link     open only this link of a chain\n"
  "      --ignore-cid      accept a parent whose CID changed (read-only)\n"
  "      --trusted         allow absolute paths, folders and '..' in extent\n"
  "                        and parent names\n"
  "      --raw             DISK is a raw image (not a VMDK)\n"
  "      --read-only       accepted; info always opens DISK read-only\n",
};
