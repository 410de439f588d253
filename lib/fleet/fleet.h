/* Shared by the files of lib/fleet (internal):
 *   fleet.c           inventory sources: folders of VMs, vdisk servers
 *   source-vsphere.c  inventory source: a vSphere host
 *   fleet-manifest.c  the manifest (JSON lines) and its shards
 *   fleet-results.c   result documents and the merged report */
#ifndef VD_FLEET_H
#define VD_FLEET_H

#include "internal.h"

#include <json-c/json.h>

#define MANIFEST_MAX (256u << 20)   /* bytes of a manifest we parse */
#define LINE_MAX_BYTES (64u << 10)  /* one manifest line */
#define RESULT_MAX (16u << 20)      /* one result document */
#define FLEET_MAX_DISKS 1000000u
#define MAX_SHARDS 100000u
#define MAX_HITS 100000u

struct vd_fleet {
  struct vd_fleet_disk *v;
  size_t n, cap;
};

/* json_object_object_add of a string member of o (null when v is NULL). */
#define PUTS(k, v) \
  json_object_object_add (o, k, (v) ? json_object_new_string (v) : NULL)

char *vd__fleet_sdup (const char *s);
/* A stable disk ID (32 hex digits) from what names the disk. */
void vd__fleet_make_id (char out[33], const char *kind, const char *host,
                        const char *loc);
int vd__fleet_id_ok (const char *id);
const char *vd__fleet_jstr (json_object *o, const char *key);
/* Capacity, data bytes by the allocation map and links of an open disk. */
int vd__fleet_measure_disk (vd_disk *d, uint64_t *capacity,
                            uint64_t *allocated, unsigned *depth);

/* source-vsphere.c: the disks of every VM of a vSphere host or vCenter
 * (source "vsphere://USER@HOST[:PORT][?OPTIONS]"). */
int vd__fleet_vsphere_inventory (const char *source, vd_fleet_disk_cb cb,
                                 void *payload);

#endif
