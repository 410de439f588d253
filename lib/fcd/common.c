/* First class disks: what the operations share.  Intent rows (one
 * operation's promise, finished or rolled back by fcd_recover), the
 * paths of an FCD's links, opening a link inside its folder, pointing the
 * .vmx files an FCD is attached to at its top link, and the undo steps of
 * operations that make a new FCD or a new top link. */
#include "fcd/fcd.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- intents ---------------------------------------------------------- */

void
fcd_intent_free (struct intent *in)
{
  free (in->arg);
  free (in->arg2);
  in->arg = in->arg2 = NULL;
}

int
fcd_intent_begin (struct vd_fcd_store *s, struct intent *in,
                  const char *extra, const char *uuid)
{
  int r = fcd_begin (s);
  if (r < 0)
    return r;
  r = fcd_sql (s, "INSERT INTO intent (op, uuid, ssid, arg, arg2, step, "
               "created) VALUES (?, ?, ?, ?, ?, 0, ?)", "ttttti",
               in->op, in->uuid, in->ssid[0] ? in->ssid : NULL, in->arg,
               in->arg2, fcd_now ());
  if (r == 0)
    in->id = sqlite3_last_insert_rowid (s->db);
  if (r == 0 && extra)
    r = fcd_sql (s, extra, "t", uuid);
  return fcd_end (s, r);
}

int
fcd_intent_step (struct vd_fcd_store *s, struct intent *in, int step)
{
  in->step = step;
  return fcd_sql (s, "UPDATE intent SET step = ? WHERE id = ?", "ii",
                  (int64_t) step, in->id);
}

int
fcd_intent_done (struct vd_fcd_store *s, struct intent *in)
{
  return fcd_sql (s, "DELETE FROM intent WHERE id = ?", "i", in->id);
}

int
fcd_end (struct vd_fcd_store *s, int r)
{
  if (r == 0)
    return fcd_commit (s);
  fcd_rollback (s);
  return r;
}

/* ---- paths and links -------------------------------------------------- */

char *
fcd_link_rel (const char *uuid, int64_t n)
{
  char *p = vd__asprintf ("%s/%s/fcd-%06" PRId64 ".vmdk", FCD_DIR, uuid, n);
  if (!p)
    vd__error (VD_ENOMEM, errno, "path");
  return p;
}

char *
fcd_base_rel (const char *uuid)
{
  char *p = vd__asprintf ("%s/%s/%s", FCD_DIR, uuid, FCD_BASE);
  if (!p)
    vd__error (VD_ENOMEM, errno, "path");
  return p;
}

const char *
fcd_base_name (const char *p)
{
  const char *b = strrchr (p, '/');
  return b ? b + 1 : p;
}

int
fcd_new_folder (struct vd_fcd_store *s, const char *uuid, char **rel,
                char **abs)
{
  char *dir = fcd_folder (s, uuid);
  int r = 0;
  *rel = fcd_base_rel (uuid);
  *abs = *rel ? fcd_abs (s, *rel) : NULL;
  if (!dir || !*rel || !*abs)
    r = VD_ENOMEM;
  else if (mkdir (dir, 0755) < 0)
    r = vd__error (VD_EIO, errno, "%s: make folder", dir);
  free (dir);
  return r;
}

int
fcd_open_rel (vd_disk **d, struct vd_fcd_store *s, const char *rel,
              uint32_t flags)
{
  char uuid[VD_FCD_ID_SIZE];
  *d = NULL;
  /* rel passed fcd_rel_ok: "fcd/UUID/NAME" */
  snprintf (uuid, sizeof uuid, "%.36s", rel + strlen (FCD_DIR) + 1);
  int r = fcd_folder_ok (s, uuid);
  if (r < 0)
    return r;
  char *p = fcd_abs (s, rel);
  if (!p)
    return VD_ENOMEM;
  r = vd_disk_open (d, p, flags & ~VD_OPEN_TRUSTED);
  free (p);
  return r;
}

int
fcd_check_no_writer (struct vd_fcd_store *s, const char *rel)
{
  vd_disk *d;
  int r = fcd_open_rel (&d, s, rel, 0);
  if (r < 0)
    return r;
  return vd_disk_close (d);
}

int
fcd_top_cbt (struct vd_fcd_store *s, const char *rel, int *on)
{
  vd_disk *d;
  struct vd_cbt_info ci;
  *on = 0;
  int r = fcd_open_rel (&d, s, rel, VD_OPEN_READ_ONLY | VD_OPEN_SINGLE_LINK);
  if (r < 0)
    return r;
  r = vd_disk_get_cbt (d, &ci);
  *on = r == 0 && ci.state == VD_CBT_ON;
  vd_disk_close (d);
  return r;
}

int
fcd_load_id (struct vd_fcd_store *s, const char *id, struct fcd_row *row)
{
  char u[VD_FCD_ID_SIZE];
  int r = fcd_resolve_id (s, id, u);
  return r < 0 ? r : fcd_load (s, u, row);
}

int
fcd_retarget (struct vd_fcd_store *s, struct vd_fcd_store *at,
              const char *uuid, const char *rel)
{
  struct att_row *a;
  size_t n;
  int r = fcd_load_atts (s, uuid, &a, &n);
  if (r < 0 || n == 0)
    return r;
  char *p = fcd_abs (at, rel);
  if (!p)
    r = VD_ENOMEM;
  for (size_t i = 0; r == 0 && i < n; i++)
    r = fcd_vmx_retarget (a[i].vmx, a[i].device, p, uuid);
  free (p);
  fcd_atts_free (a, n);
  return r;
}

int
fcd_child_of (struct vd_fcd_store *s, const char *new_rel,
              const char *parent_rel)
{
  vd_disk *d;
  int ok = 0;
  if (fcd_open_rel (&d, s, new_rel, VD_OPEN_READ_ONLY) == 0) {
    struct vd_link_info li;
    char *pp = fcd_abs (s, parent_rel);
    ok = vd_disk_get_link_count (d) >= 2 && pp
         && vd_disk_get_link_info (d, 1, &li) == 0 && li.path
         && strcmp (li.path, pp) == 0;
    free (pp);
    vd_disk_close (d);
  }
  vd__error_clear ();
  return ok;
}

/* ---- new FCDs and new top links ---------------------------------------- */

int
fcd_insert (struct vd_fcd_store *s, const char *uuid, const char *name,
            const char *rel, uint64_t cap, int cbt)
{
  return fcd_sql (s, "INSERT INTO fcd (uuid, name, path, capacity, created, "
                  "cbt) VALUES (?, ?, ?, ?, ?, ?)", "tttiii", uuid, name, rel,
                  (int64_t) cap, fcd_now (), (int64_t) cbt);
}

int
fcd_undo_new (struct vd_fcd_store *s, struct intent *in)
{
  int r = 0;
  char *dir = fcd_folder (s, in->uuid);
  if (!dir)
    return VD_ENOMEM;
  if (fcd_resolve_id (s, in->uuid, (char[VD_FCD_ID_SIZE]) { 0 }) == 0)
    r = vd__error (VD_ECORRUPT, 0, "%s: intent %" PRId64 " would remove FCD "
                  "%s, which the catalog holds", s->ds, in->id, in->uuid);
  else {
    vd__error_clear ();
    r = fcd_rm_folder (dir);
  }
  free (dir);
  if (r == 0)
    r = fcd_intent_done (s, in);
  return r;
}

int
fcd_undo_new_top (struct vd_fcd_store *s, struct intent *in)
{
  struct fcd_row row;
  int r = fcd_load (s, in->uuid, &row);
  if (r < 0)
    return r;
  r = fcd_retarget (s, s, in->uuid, row.path);
  if (r == 0)
    r = fcd_gc_done (s, in);
  fcd_row_free (&row);
  return r;
}

int
fcd_make_new (struct vd_fcd_store *s, struct intent *in, const char *name,
              fcd_make_fn make, void *ctx, const char *meta_from,
              char id[VD_FCD_ID_SIZE])
{
  char *rel = NULL, *path = NULL;
  uint64_t cap = 0;
  fcd_new_uuid (in->uuid);
  int r = fcd_intent_begin (s, in, NULL, NULL);
  if (r < 0)
    return r;
  fcd_checkpoint (s);
  if ((r = fcd_new_folder (s, in->uuid, &rel, &path)) < 0
      || (r = make (path, ctx, &cap)) < 0)
    goto undo;
  fcd_checkpoint (s);
  if ((r = fcd_begin (s)) < 0)
    goto undo;
  r = fcd_insert (s, in->uuid, name, rel, cap, 0);
  if (r == 0 && meta_from)
    r = fcd_sql (s, "INSERT INTO fcd_meta (uuid, key, value) SELECT ?, key, "
                 "value FROM fcd_meta WHERE uuid = ?", "tt", in->uuid,
                 meta_from);
  if (r == 0)
    r = fcd_intent_done (s, in);
  if ((r = fcd_end (s, r)) < 0)
    goto undo;
  fcd_checkpoint (s);
  if (id)
    snprintf (id, VD_FCD_ID_SIZE, "%s", in->uuid);
  goto out;
undo:
  fcd_undo_new (s, in);
out:
  free (rel);
  free (path);
  return r;
}

int
fcd_new_top (struct vd_fcd_store *s, struct fcd_row *row, struct intent *in,
             const char *parent_rel)
{
  vd_disk *top, *base = NULL;
  /* the disk lock: no writer meanwhile */
  int r = fcd_open_rel (&top, s, row->path, 0);
  if (r < 0)
    return r;
  memcpy (in->uuid, row->uuid, sizeof in->uuid);
  in->arg = fcd_link_rel (row->uuid, row->next_link);
  r = in->arg ? fcd_intent_begin (s, in, "UPDATE fcd SET next_link = "
                                  "next_link + 1 WHERE uuid = ?", row->uuid)
              : VD_ENOMEM;
  if (r < 0) {
    vd_disk_close (top);
    return r;
  }
  fcd_checkpoint (s);
  char *np = fcd_abs (s, in->arg);
  if (!np)
    r = VD_ENOMEM;
  else if (strcmp (parent_rel, row->path) == 0)
    r = vd_disk_create_child (top, np, 0, VD_CREATE_OVERWRITE);
  else if ((r = fcd_open_rel (&base, s, parent_rel, VD_OPEN_READ_ONLY)) == 0) {
    r = vd_disk_create_child (base, np, 0, VD_CREATE_OVERWRITE);
    vd_disk_close (base);
  }
  KEEP (r, vd_disk_close (top));
  free (np);
  if (r < 0) {
    fcd_undo_new_top (s, in);
    return r;
  }
  fcd_checkpoint (s);
  return 0;
}

int
fcd_load_at (struct vd_fcd_store *s, const char *id, const char *ssid,
             struct fcd_at *a)
{
  memset (a, 0, sizeof *a);
  int r = fcd_load_id (s, id, &a->row);
  if (r < 0)
    return r;
  a->have_row = 1;
  if ((r = fcd_load_snaps (s, a->row.uuid, &a->sn, &a->n)) == 0)
    r = fcd_find_snap (a->sn, a->n, ssid, &a->k);
  if (r < 0)
    fcd_at_free (a);
  return r;
}

void
fcd_at_free (struct fcd_at *a)
{
  fcd_snaps_free (a->sn, a->n);
  if (a->have_row)
    fcd_row_free (&a->row);
  memset (a, 0, sizeof *a);
}
