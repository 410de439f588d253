/* The one template of a new disk's descriptor text (vd__desc_template):
 * create (ops/create.c) and the streamOptimized writer (stream-write.c)
 * both fill it, so every disk vdisk makes carries the same ddb keys in
 * the same order and spelling. */
#include "internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

char *
vd__desc_template (const struct vd_desc_template *t)
{
  char parent_line[4200] = "", stamp_line[64] = "";
  char uuid_line[128] = "", longcid[40];
  struct vd_geometry g = t->geometry;
  const char *adapter = vd_adapter_name (t->adapter);
  uint8_t uuid[16], lc[12];

  if (g.cylinders == 0 || g.heads == 0 || g.sectors == 0)
    vd_geometry_compute (&g, t->capacity, t->adapter);
  if (vd__random_bytes (lc, sizeof lc) < 0)
    return NULL;
  for (int i = 0; i < 12; i++)
    snprintf (longcid + 2 * i, 3, "%02x", lc[i]);
  snprintf (longcid + 24, 9, "%08x", t->cid);
  if (!t->no_uuid) {
    /* 16 bytes in hex, separated by spaces (vd_disk_set_meta's form) */
    if (t->uuid)
      memcpy (uuid, t->uuid, 16);
    else if (vd__random_bytes (uuid, 16) < 0)
      return NULL;
    int o = snprintf (uuid_line, sizeof uuid_line, "ddb.uuid = \"");
    for (int i = 0; i < 16; i++)
      o += snprintf (uuid_line + o, sizeof uuid_line - (size_t) o,
                     i ? " %02x" : "%02x", uuid[i]);
    snprintf (uuid_line + o, sizeof uuid_line - (size_t) o, "\"\n");
  }
  if (t->parent_hint) {
    /* when the child was made (vdisk chain --at): UTC, ISO 8601 */
    time_t now = time (NULL);
    struct tm tm;
    snprintf (parent_line, sizeof parent_line,
              "parentFileNameHint=\"%s\"\n", t->parent_hint);
    if (gmtime_r (&now, &tm))
      strftime (stamp_line, sizeof stamp_line,
                "ddb.vdisk.created = \"%Y-%m-%dT%H:%M:%SZ\"\n", &tm);
  }
  return vd__asprintf (
    "# Disk DescriptorFile\n"
    "version=1\n"
    "encoding=\"UTF-8\"\n"
    "CID=%08x\n"
    "parentCID=%08x\n"
    "createType=\"%s\"\n"
    "%s"
    "\n"
    "# Extent description\n"
    "%s"
    "\n"
    "# The Disk Data Base\n"
    "#DDB\n"
    "\n"
    "ddb.adapterType = \"%s\"\n"
    "ddb.geometry.cylinders = \"%u\"\n"
    "ddb.geometry.heads = \"%u\"\n"
    "ddb.geometry.sectors = \"%u\"\n"
    "ddb.longContentID = \"%s\"\n"
    "%s"
    "%s"
    "%s"
    "ddb.virtualHWVersion = \"%u\"\n",
    t->cid, t->parent_hint ? t->parent_cid : 0xffffffffu, t->create_type,
    parent_line, t->extents, adapter ? adapter : "ide", g.cylinders,
    g.heads, g.sectors, longcid, t->type_ddb ? t->type_ddb : "", uuid_line,
    stamp_line, t->hw_version ? t->hw_version : 4);
}
