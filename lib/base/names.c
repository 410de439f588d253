/* The createType and adapter-type name tables (descriptor words <-> the
 * public enums) and the geometry an adapter implies.  Pure data: every
 * tier may use them. */
#include "base/base.h"

#include <stddef.h>
#include <strings.h>

static const struct {
  const char *name;
  enum vd_type type;
} type_names[] = {
  { "monolithicSparse", VD_TYPE_MONOLITHIC_SPARSE },
  { "monolithicFlat", VD_TYPE_MONOLITHIC_FLAT },
  { "twoGbMaxExtentSparse", VD_TYPE_SPLIT_SPARSE },
  { "2GbMaxExtentSparse", VD_TYPE_SPLIT_SPARSE },
  { "twoGbMaxExtentFlat", VD_TYPE_SPLIT_FLAT },
  { "2GbMaxExtentFlat", VD_TYPE_SPLIT_FLAT },
  { "vmfs", VD_TYPE_VMFS },
  { "vmfsPreallocated", VD_TYPE_VMFS },
  { "vmfsEagerZeroedThick", VD_TYPE_VMFS },
  { "vmfsThick", VD_TYPE_VMFS },
  { "vmfsThin", VD_TYPE_VMFS_THIN },
  { "streamOptimized", VD_TYPE_STREAM_OPTIMIZED },
  { "vmfsSparse", VD_TYPE_VMFS_SPARSE },
  { "seSparse", VD_TYPE_SE_SPARSE },
  { "vmfsSeSparse", VD_TYPE_SE_SPARSE },
  { "custom", VD_TYPE_CUSTOM },
  { "raw", VD_TYPE_RAW },
};

enum vd_type
vd_type_from_name (const char *name)
{
  if (!name)
    return VD_TYPE_UNKNOWN;
  for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
    if (strcasecmp (name, type_names[i].name) == 0)
      return type_names[i].type;
  return VD_TYPE_UNKNOWN;
}

const char *
vd_type_name (enum vd_type type)
{
  for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
    if (type_names[i].type == type)
      return type_names[i].name;
  return NULL;
}

static const char *const adapter_names[] = {
  [VD_ADAPTER_IDE] = "ide", [VD_ADAPTER_BUSLOGIC] = "buslogic",
  [VD_ADAPTER_LSILOGIC] = "lsilogic", [VD_ADAPTER_LEGACY_ESX] = "legacyESX",
  [VD_ADAPTER_PVSCSI] = "pvscsi",
};

enum vd_adapter
vd_adapter_from_name (const char *name)
{
  if (!name)
    return VD_ADAPTER_UNKNOWN;
  for (int i = 1; i <= VD_ADAPTER_PVSCSI; i++)
    if (strcasecmp (name, adapter_names[i]) == 0)
      return (enum vd_adapter) i;
  return VD_ADAPTER_UNKNOWN;
}

const char *
vd_adapter_name (enum vd_adapter a)
{
  if (a < VD_ADAPTER_IDE || a > VD_ADAPTER_PVSCSI)
    return NULL;
  return adapter_names[a];
}

void
vd_geometry_compute (struct vd_geometry *g, uint64_t capacity,
                     enum vd_adapter adapter)
{
  uint64_t sectors = capacity / VD_SECTOR, cyl;
  /* IDE: 16 heads, cylinders capped at 16383; SCSI: 255 heads, capped at
   * 65535 (vmdk-format.md §1.5). */
  if (adapter == VD_ADAPTER_IDE || adapter == VD_ADAPTER_UNKNOWN) {
    g->heads = 16;
    g->sectors = 63;
    cyl = sectors / (16 * 63);
    g->cylinders = (uint32_t) VD_MIN (cyl, 16383);
  }
  else {
    g->heads = 255;
    g->sectors = 63;
    cyl = sectors / (255 * 63);
    g->cylinders = (uint32_t) VD_MIN (cyl, 65535);
  }
  if (g->cylinders == 0)
    g->cylinders = 1;
}
