/* What an open disk says about itself: the getters, the disk database
 * (ddb) keys, extent and link information. */
#include "internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

const char *
vd_get_version (void)
{
  return VD_VERSION_STRING;
}

/* ---- information --------------------------------------------------------
 * NULL policy: every getter takes d == NULL and returns the value of
 * "nothing" (0, NULL, VD_TYPE_UNKNOWN, CID ffffffff), as vd_disk_get_size
 * always did. */

uint64_t vd_disk_get_size (const vd_disk *d) { return d ? d->top->size : 0; }
int vd_disk_is_read_only (const vd_disk *d) { return d ? !d->rw : 1; }
const char *vd_disk_get_path (const vd_disk *d) { return d ? d->top->path : NULL; }
const char *vd_disk_get_create_type (const vd_disk *d) { return d ? d->top->create_type : NULL; }
enum vd_type vd_disk_get_type (const vd_disk *d) { return d ? d->top->type : VD_TYPE_UNKNOWN; }
uint32_t vd_disk_get_cid (const vd_disk *d) { return d ? d->top->cid : 0xffffffffu; }
uint32_t vd_disk_get_parent_cid (const vd_disk *d) { return d ? d->top->parent_cid : 0xffffffffu; }
unsigned vd_disk_get_link_count (const vd_disk *d) { return d ? d->n_links : 0; }
unsigned vd_disk_get_extent_count (const vd_disk *d) { return d ? (unsigned) d->top->n_extents : 0; }

int
vd_disk_get_descriptor_version (const vd_disk *d)
{
  const char *v = d ? vd__desc_get (d->top->desc, "version") : NULL;
  return v ? atoi (v) : 1;
}

const char *
vd_disk_get_parent_hint (const vd_disk *d)
{
  return d ? vd__desc_get (d->top->desc, "parentFileNameHint") : NULL;
}

const char *
vd_disk_get_meta (const vd_disk *d, const char *key)
{
  if (!d || !key)
    return NULL;
  /* the newest link first, then up the chain (S1) */
  for (unsigned i = 0; i < d->n_links; i++) {
    const char *v = vd__desc_get_ddb (d->links[i]->desc, key);
    if (v)
      return v;
  }
  return NULL;
}

unsigned
vd_disk_get_meta_count (const vd_disk *d)
{
  size_t n = d ? vd__desc_ddb_count (d->top->desc) : 0;
  return n > UINT_MAX ? UINT_MAX : (unsigned) n;
}

const char *
vd_disk_get_meta_key (const vd_disk *d, unsigned i)
{
  const struct vd_desc_line *l = d ? vd__desc_ddb_line (d->top->desc, i)
                                   : NULL;
  return l ? l->key : NULL;
}

/* 1 when s is a decimal number in [lo, hi]. */
static int
dec_in (const char *s, unsigned long lo, unsigned long hi)
{
  char *end;
  unsigned long v;
  if (!s || !*s || *s < '0' || *s > '9' || strlen (s) > 10)
    return 0;
  errno = 0;
  v = strtoul (s, &end, 10);
  return !errno && !*end && v >= lo && v <= hi;
}

/* The keys vdisk, VMware and qemu-img read themselves: a value they
 * cannot parse would make the disk unreadable or misdescribed. */
static int
check_reserved_meta (const char *key, const char *value)
{
  const char *k = key + 4;   /* after "ddb." */
  if (!value)
    return 0;
  if (!strcmp (k, "adapterType")) {
    if (vd_adapter_from_name (value) == VD_ADAPTER_UNKNOWN)
      return vd__error (VD_EINVAL, 0, "ddb.adapterType \"%s\" is not an "
                       "adapter (ide, buslogic, lsilogic, legacyESX, "
                       "lsisas1068, pvscsi)", value);
  }
  else if (!strcmp (k, "geometry.cylinders")
           || !strcmp (k, "geometry.biosCylinders")) {
    if (!dec_in (value, 1, 0xffffffffUL))
      return vd__error (VD_EINVAL, 0, "%s \"%s\" must be a number from 1 "
                       "to 4294967295", key, value);
  }
  else if (!strcmp (k, "geometry.heads") || !strcmp (k, "geometry.biosHeads")) {
    if (!dec_in (value, 1, 255))
      return vd__error (VD_EINVAL, 0, "%s \"%s\" must be a number from 1 "
                       "to 255", key, value);
  }
  else if (!strcmp (k, "geometry.sectors")
           || !strcmp (k, "geometry.biosSectors")) {
    if (!dec_in (value, 1, 63))
      return vd__error (VD_EINVAL, 0, "%s \"%s\" must be a number from 1 "
                       "to 63", key, value);
  }
  else if (!strcmp (k, "virtualHWVersion")) {
    if (!dec_in (value, 1, 255))
      return vd__error (VD_EINVAL, 0, "ddb.virtualHWVersion \"%s\" must be "
                       "a number from 1 to 255", value);
  }
  else if (!strcmp (k, "thinProvisioned")) {
    if (strcmp (value, "0") && strcmp (value, "1"))
      return vd__error (VD_EINVAL, 0, "ddb.thinProvisioned \"%s\" must be "
                       "0 or 1", value);
  }
  else if (!strcmp (k, "uuid")) {
    /* VMware's form: 16 bytes in hex, separated by spaces (one may be a
     * '-'): "60 00 c2 9f 12 34 56 78-9a bc de f0 12 34 56 78" */
    const char *p = value;
    for (int i = 0; i < 16; i++) {
      if (!isxdigit ((unsigned char) p[0]) || !isxdigit ((unsigned char) p[1]))
        goto bad_uuid;
      p += 2;
      if (i < 15) {
        if (*p != ' ' && *p != '-')
          goto bad_uuid;
        p++;
      }
    }
    if (*p)
      goto bad_uuid;
  }
  return 0;
bad_uuid:
  return vd__error (VD_EINVAL, 0, "ddb.uuid \"%s\" must be 16 hex bytes "
                   "separated by spaces (\"60 00 c2 9f ... 78\")", value);
}

int
vd_disk_set_meta (vd_disk *d, const char *key, const char *value)
{
  int r;
  VD_ENTER ();
  if (!d || !key)
    return vd__error (VD_EINVAL, 0, "no disk or key");
  if ((r = vd__disk_writable (d)) < 0)
    return r;
  if (strncmp (key, "ddb.", 4) != 0 || strlen (key) > 64 || !key[4])
    return vd__error (VD_EINVAL, 0, "metadata key \"%s\" must start with "
                     "\"ddb.\" and be at most 64 characters", key);
  for (const char *p = key; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
          || (*p >= '0' && *p <= '9') || *p == '.' || *p == '_'
          || *p == '-'))
      return vd__error (VD_EINVAL, 0, "metadata key \"%s\" holds a character "
                       "other than letters, digits, '.', '_' and '-'", key);
  if (value && (!vd__desc_value_ok (value) || strlen (value) > 1024))
    return vd__error (VD_EINVAL, 0, "metadata value for %s holds a quote, a "
                     "line break or is over 1024 bytes", key);
  if ((r = check_reserved_meta (key, value)) < 0)
    return r;
  pthread_mutex_lock (&d->top->mu);
  if (d->top->remote) {
    /* the server keeps the descriptor: change it there, then here */
    r = vd__io_nbd_set_meta (d->top->desc_io, key, value);
    if (r == 0)
      r = vd__desc_set_ddb (d->top->desc, key, value);
  }
  else {
    r = vd__desc_set_ddb (d->top->desc, key, value);
    if (r == 0)
      r = vd__link_write_descriptor (d->top);
  }
  pthread_mutex_unlock (&d->top->mu);
  return r;
}

enum vd_adapter
vd_disk_get_adapter (const vd_disk *d)
{
  return vd_adapter_from_name (vd_disk_get_meta (d, "ddb.adapterType"));
}

static uint32_t
meta_u32 (const vd_disk *d, const char *key)
{
  const char *v = vd_disk_get_meta (d, key);
  return v ? (uint32_t) strtoul (v, NULL, 10) : 0;
}

void
vd_disk_get_geometry (const vd_disk *d, struct vd_geometry *phys,
                      struct vd_geometry *bios)
{
  if (phys) {
    phys->cylinders = meta_u32 (d, "ddb.geometry.cylinders");
    phys->heads = meta_u32 (d, "ddb.geometry.heads");
    phys->sectors = meta_u32 (d, "ddb.geometry.sectors");
  }
  if (bios) {
    bios->cylinders = meta_u32 (d, "ddb.geometry.biosCylinders");
    bios->heads = meta_u32 (d, "ddb.geometry.biosHeads");
    bios->sectors = meta_u32 (d, "ddb.geometry.biosSectors");
  }
}

uint32_t
vd_disk_get_hw_version (const vd_disk *d)
{
  return meta_u32 (d, "ddb.virtualHWVersion");
}

const char *
vd_disk_get_uuid (const vd_disk *d)
{
  return vd_disk_get_meta (d, "ddb.uuid");
}

int
vd_disk_get_extent (const vd_disk *d, unsigned i, struct vd_extent_info *info)
{
  VD_ENTER ();
  if (!d || !info || i >= d->top->n_extents)
    return vd__error (VD_EINVAL, 0, "no extent %u", i);
  const struct vd_extent *e = &d->top->extents[i];
  memset (info, 0, sizeof *info);
  info->file = e->path;
  info->name = e->name;
  info->type = e->type;
  info->access = e->access;
  info->start = e->start;
  info->size = e->size;
  info->file_offset = e->file_offset;
  if (e->io)
    e->io->ops->size (e->io, &info->file_size);
  if (e->type == VD_EXTENT_SPARSE || e->type == VD_EXTENT_STREAM) {
    uint8_t h[28];
    if (vd__io_pread (e->io, h, sizeof h, 0) == 0) {
      info->version = vd__le32 (h + 4);
      info->grain_size = vd__le64 (h + 20) * VD_SECTOR;
    }
  }
  return 0;
}

/* ---- per-link information ---------------------------------------------------------------- */

static int
add_data (uint64_t off, uint64_t len, uint32_t st, void *p)
{
  (void) off;
  if (st != VD_STATUS_HOLE)
    *(uint64_t *) p += len;
  return 0;
}

int
vd_disk_get_link_info (vd_disk *d, unsigned i, struct vd_link_info *info)
{
  struct vd_io_stat st;
  VD_ENTER ();
  if (!d || !info || i >= d->n_links)
    return vd__error (VD_EINVAL, 0, "no link %u", i);
  struct vd_link *l = d->links[i];
  memset (info, 0, sizeof *info);
  info->path = l->path;
  info->create_type = l->create_type;
  info->cid = l->cid;
  info->parent_cid = l->parent_cid;
  info->extents = (unsigned) l->n_extents;
  if (vd__io_stat (l->desc_io, &st) == 0) {
    info->mtime = st.mtime;
    if (!l->embedded)
      info->file_bytes += st.allocated;
  }
  for (size_t k = 0; k < l->n_extents; k++)
    if (l->extents[k].io && vd__io_stat (l->extents[k].io, &st) == 0)
      info->file_bytes += st.allocated;
  return vd__link_block_status (l, 0, l->size, add_data,
                                &info->allocated_bytes);
}

/* ---- locate: which link holds a byte -------------------------------------- */

int
vd_disk_locate (vd_disk *d, uint64_t offset, unsigned *link_index,
                const char **extent_file)
{
  unsigned i;
  VD_ENTER ();

  if (!d)
    return vd__error (VD_EINVAL, 0, "vd_disk_locate: no disk");
  if (offset >= d->top->size)
    return vd__error (VD_EINVAL, 0, "%s: byte %llu is past the end of the "
                     "disk (capacity %llu bytes)", d->top->path,
                     (unsigned long long) offset,
                     (unsigned long long) d->top->size);
  for (i = 0; i < d->n_links; i++) {
    struct vd_link *l = d->links[i];
    struct vd_extent *e;
    struct vd_map m;
    int r;

    if (offset >= l->size || l->n_extents == 0)
      break;
    e = vd__find_extent (l, offset);
    if (offset - e->start >= e->size)
      break;
    r = e->drv->map (e, offset - e->start, 1, &m);
    if (r < 0)
      return r;
    if (m.status == VD_MAP_HOLE)
      continue;
    if (link_index)
      *link_index = i;
    if (extent_file)
      *extent_file = e->io ? e->path : NULL;
    return m.status == VD_MAP_ZERO ? (int) VD_STATUS_ZERO
                                   : (int) VD_STATUS_DATA;
  }
  if (link_index)
    *link_index = d->n_links ? d->n_links - 1 : 0;
  if (extent_file)
    *extent_file = NULL;
  return VD_STATUS_HOLE;
}

