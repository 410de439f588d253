/* lib/mount internals: the partition parser and file system probe work
 * on a read callback so that the unit test can drive them from crafted
 * buffers. */
#ifndef VDISK_MOUNT_INTERNAL_H
#define VDISK_MOUNT_INTERNAL_H

#include "internal.h"

/* Read exactly n bytes at off; 0 or a negative VD_E* (with vd__error). */
typedef int (*vd__read_fn) (void *ctx, void *buf, size_t n, uint64_t off);

/* Limits on what a table may ask for (hostile input). */
#define VD_PARTS_MAX 256              /* partitions in one table */
#define VD_GPT_MAX_ENTRIES 16384      /* GPT entries (128 KiB or more) */
#define VD_GPT_MAX_ARRAY (4u << 20)   /* bytes of GPT entry array */

int vd__parts_parse (struct vd_partition_table **out, vd__read_fn rd,
                     void *ctx, uint64_t size, const char *name);
int vd__fs_probe (vd__read_fn rd, void *ctx, uint64_t off, uint64_t len,
                  struct vd_fs_info *info);

#endif
