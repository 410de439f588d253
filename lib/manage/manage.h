/* Private to lib/manage/: what the management operations share. */
#ifndef VDISK_MANAGE_H
#define VDISK_MANAGE_H

#include "internal.h"

/* Disk management: rename, unlink, grow, shrink, defragment and the space
 * a clone needs.
 *
 * Crash safety.  Nothing here writes into the files of the disk being
 * changed (except the embedded descriptor text during a rename):
 * - rename hard-links every file to its new name, writes the new
 *   descriptor, and only then removes the old names, so a crash leaves
 *   the old disk, the new disk, or both, complete;
 * - shrink, defragment and the growth of a monolithicSparse disk build a
 *   complete new copy of every extent in a hidden work folder beside the
 *   disk, make it durable, and rename the new extents over the old ones.
 *   Each renamed extent holds exactly the content of the one it replaces,
 *   under the same descriptor, so a crash between two renames of a split
 *   disk still leaves a disk that reads as before;
 * - growing a flat or split disk writes only new files and a longer flat
 *   file (a flat file longer than its extent is valid), then replaces the
 *   descriptor atomically (temporary file + rename).
 * A crash can leave a hidden ".vdisk-work-*" folder (workdir.c: the next
 * operation on the disk or vd_dir_clean removes it) or stray new extent
 * files next to the disk; the disk itself stays readable and unchanged.
 *
 * The disk is held with the write lock (lock.c) on each of its files for
 * the whole operation, so no other writer can interfere. */

#define SPLIT_SECTORS UINT64_C (4192256)   /* VMware's 2047 MiB extents */
#define GRAIN_SECTORS 128u                 /* as create.c */
#define GRAIN_BYTES (GRAIN_SECTORS * VD_SECTOR)
#define CHUNK (1u << 20)
#define WINDOW (UINT64_C (1) << 30)

enum rebuild_mode { REBUILD_SHRINK, REBUILD_DEFRAG, REBUILD_GROW };

/* NAME.vmdk -> NAME (malloc'd) */
char *vd__stem_of (const char *base);
/* A copy of a descriptor (parse of its text). */
int vd__desc_copy (struct vd_descriptor **out, const struct vd_descriptor *d,
                   const char *where);
/* Point an extent line at the file name (checked for the descriptor). */
int vd__set_extent_file (struct vd_desc_line *ln, const char *name);
/* ddb.geometry.* for a capacity (the create rule). */
int vd__set_geometry (struct vd_descriptor *d, uint64_t capacity,
                      enum vd_adapter adapter);
/* Open the disk read-only with the writer's lock on its files (the
 * shared-file refusal and the stale work folders done). */
int vd__open_guarded (vd_disk **out, struct vd_guard **gp, const char *path,
                      uint32_t flags);
void vd__close_guarded (vd_disk *d, struct vd_guard *g);
/* rebuild.c: shrink, defragment, or grow (new_cap) a hosted sparse disk. */
int vd__rebuild (vd_disk *src, enum rebuild_mode mode, uint64_t new_cap,
                 uint32_t flags, vd_progress_cb progress, void *payload);

#endif /* VDISK_MANAGE_H */
