/* First class disks: revert (the FCD reads as at a snapshot; every
 * later snapshot goes, as the guide says) and from-snapshot (a new FCD
 * with its own UUID that reads as a snapshot; the later snapshots stay). */
#include "fcd/fcd.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- revert ----------------------------------------------------------- */

static int
finish_revert (struct vd_fcd_store *s, struct intent *in, int64_t seq)
{
  int r = fcd_retarget (s, s, in->uuid, in->arg);
  if (r == 0)
    r = fcd_begin (s);
  if (r < 0)
    return r;
  r = fcd_sql (s, "UPDATE fcd SET path = ? WHERE uuid = ?", "tt", in->arg,
               in->uuid);
  if (r == 0)
    r = fcd_sql (s, "DELETE FROM snapshot WHERE uuid = ? AND seq > ?", "ti",
                 in->uuid, seq);
  if (r == 0)
    r = fcd_intent_step (s, in, 2);
  if ((r = fcd_end (s, r)) < 0)
    return r;
  fcd_checkpoint (s);
  return fcd_gc_done (s, in);
}

int
fcd_recover_revert (struct vd_fcd_store *s, struct intent *in)
{
  struct snap_row *sn = NULL;
  size_t n = 0, k;
  int r;
  if (in->step == 2)
    return fcd_gc_done (s, in);
  if ((r = fcd_rel_ok (s, in->uuid, in->arg)) < 0)
    return r;
  r = fcd_load_snaps (s, in->uuid, &sn, &n);
  if (r == 0)
    r = fcd_find_snap (sn, n, in->ssid, &k);
  if (r == 0) {
    if (fcd_child_of (s, in->arg, sn[k].path))
      r = finish_revert (s, in, sn[k].seq);
    else
      r = fcd_undo_new_top (s, in);
  }
  fcd_snaps_free (sn, n);
  return r;
}

int
vd_fcd_revert (vd_fcd_store *s, const char *id, const char *ssid)
{
  struct intent in = { .op = "revert" };
  struct fcd_at a;
  VD_ENTER ();
  if (!s)
    return vd__error (VD_EINVAL, 0, "revert: no store");
  int r = fcd_lock (s, 1);
  if (r < 0)
    return r;
  if ((r = fcd_load_at (s, id, ssid, &a)) == 0) {
    memcpy (in.ssid, a.sn[a.k].ssid, sizeof in.ssid);
    if ((r = fcd_new_top (s, &a.row, &in, a.sn[a.k].path)) == 0
        && (r = finish_revert (s, &in, a.sn[a.k].seq)) == 0)
      fcd_checkpoint (s);
    fcd_intent_free (&in);
    fcd_at_free (&a);
  }
  fcd_unlock (s);
  return r;
}

/* ---- from-snapshot ---------------------------------------------------- */

/* The new FCD's base link: a copy of the snapshot's chain, flattened. */
struct from_ctx {
  struct vd_fcd_store *s;
  const char *rel;     /* the snapshot's link */
};

static int
make_copy (const char *path, void *ctx, uint64_t *cap)
{
  struct from_ctx *c = ctx;
  struct vd_create_params p;
  vd_disk *src;
  int r = fcd_open_rel (&src, c->s, c->rel, VD_OPEN_READ_ONLY);
  if (r < 0)
    return r;
  vd_create_params_init (&p);
  p.type = VD_TYPE_MONOLITHIC_SPARSE;
  p.adapter = vd_disk_get_adapter (src);
  r = vd_disk_convert (src, path, &p, NULL, NULL);
  *cap = vd_disk_get_size (src);
  vd_disk_close (src);
  return r;
}

int
vd_fcd_from_snapshot (vd_fcd_store *s, const char *id, const char *ssid,
                      const char *name, char newid[VD_FCD_ID_SIZE])
{
  struct intent in = { .op = "fromsnap" };
  struct fcd_at a;
  VD_ENTER ();
  if (!s || !fcd_name_ok (name))
    return vd__error (VD_EINVAL, 0, "from-snapshot: the new FCD needs a name "
                     "of 1 to %d printable bytes", FCD_NAME_MAX);
  int r = fcd_lock (s, 1);
  if (r < 0)
    return r;
  if ((r = fcd_load_at (s, id, ssid, &a)) == 0) {
    struct from_ctx c = { s, a.sn[a.k].path };
    memcpy (in.ssid, a.sn[a.k].ssid, sizeof in.ssid);
    in.arg = (char *) name;
    in.arg2 = a.row.uuid;
    r = fcd_make_new (s, &in, name, make_copy, &c, a.row.uuid, newid);
    fcd_at_free (&a);
  }
  fcd_unlock (s);
  return r;
}
