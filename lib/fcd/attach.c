/* First class disks: attaching to a VM's .vmx (with the guide's CBT
 * rules) and detaching.  The .vmx editing itself is in vmx.c. */
#include "fcd/fcd.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int
is_true (const char *v)
{
  return v && (strcasecmp (v, "TRUE") == 0 || strcmp (v, "1") == 0);
}

static const char *
mode_name (int mode)
{
  return mode == VD_FCD_INDEPENDENT_NONPERSISTENT ? "independent_nonpersistent"
                                                  : "persistent";
}

/* DEVICE.SUFFIX = val (NULL: the key goes), unless r is already set. */
static int
set_dev (struct vmx *v, const char *dev, const char *suffix, const char *val,
         int r)
{
  char key[64];
  if (r < 0)
    return r;
  snprintf (key, sizeof key, "%s.%s", dev, suffix);
  return vmx_set (v, key, val);
}

/* The FCD's row and the .vmx of the VM folder (attach and detach). */
static int
load_pair (struct vd_fcd_store *s, const char *id, const char *vm_folder,
           struct fcd_row *row, char **vmx_path)
{
  int r = fcd_load_id (s, id, row);
  if (r == 0 && (r = vmx_find (vm_folder, vmx_path)) < 0)
    fcd_row_free (row);
  return r;
}

/* The device the FCD uuid is attached as in vmx_path (*dev NULL: none). */
static int
attached_as (struct vd_fcd_store *s, const char *uuid, const char *vmx_path,
             char **dev)
{
  sqlite3_stmt *st;
  *dev = NULL;
  int r = fcd_prepare (s, &st, "SELECT device FROM attachment WHERE uuid = ? "
                       "AND vmx = ?", "tt", uuid, vmx_path);
  if (r < 0)
    return r;
  if (sqlite3_step (st) == SQLITE_ROW) {
    const char *d = (const char *) sqlite3_column_text (st, 0);
    if (!(*dev = strdup (d ? d : "")))
      r = vd__error (VD_ENOMEM, errno, "attachment");
  }
  sqlite3_finalize (st);
  return r;
}

/* in: arg = the .vmx, arg2 = "DEVICE MODE ENABLE_CBT"; repeatable. */
static int
do_attach (struct vd_fcd_store *s, struct intent *in)
{
  struct fcd_row row;
  struct vmx *v = NULL;
  char dev[16], mode[32];
  int enable = 0, on = 0, r;
  if (!in->arg2 || sscanf (in->arg2, "%15s %31s %d", dev, mode, &enable) != 3
      || !fcd_device_ok (dev)
      || (strcmp (mode, "persistent") && strcmp (mode,
                                                 "independent_nonpersistent")))
    return vd__error (VD_ECORRUPT, 0, "%s/%s: malformed attach intent", s->ds,
                     FCD_CATALOG);
  if ((r = fcd_load (s, in->uuid, &row)) < 0)
    return r;
  char *top = fcd_abs (s, row.path);
  if (!top) {
    r = VD_ENOMEM;
    goto out;
  }
  if (enable && (r = vd_disk_cbt_enable (top, 0)) < 0)
    goto out;
  fcd_checkpoint (s);
  if ((r = vmx_load (&v, in->arg)) < 0)
    goto out;
  char ctl[32];                  /* dev's controller, "scsiC" */
  snprintf (ctl, sizeof ctl, "%.5s.present", dev);
  if (!vmx_get (v, ctl))
    r = vmx_set (v, ctl, "TRUE");
  snprintf (ctl, sizeof ctl, "%.5s.virtualDev", dev);
  if (r == 0 && !vmx_get (v, ctl))
    r = vmx_set (v, ctl, "lsilogic");
  r = set_dev (v, dev, "present", "TRUE", r);
  r = set_dev (v, dev, "fileName", top, r);
  r = set_dev (v, dev, "mode", strcmp (mode, "persistent") == 0
               ? "persistent" : "independent-nonpersistent", r);
  if (r == 0)
    r = fcd_top_cbt (s, row.path, &on);
  r = set_dev (v, dev, "ctkEnabled", on ? "TRUE" : NULL, r);
  if (r == 0)
    r = vmx_save (v);
  fcd_checkpoint (s);
  if (r == 0 && (r = fcd_begin (s)) == 0) {
    r = fcd_sql (s, "INSERT OR REPLACE INTO attachment (uuid, vmx, device, "
                 "mode) VALUES (?, ?, ?, ?)", "tttt", in->uuid, in->arg, dev,
                 mode);
    if (r == 0)
      r = fcd_sql (s, "UPDATE fcd SET cbt = ? WHERE uuid = ?", "it",
                   (int64_t) on, in->uuid);
    if (r == 0)
      r = fcd_intent_done (s, in);
    r = fcd_end (s, r);
  }
out:
  free (top);
  vmx_free (v);
  fcd_row_free (&row);
  return r;
}

/* The first free unit of scsi0 (7 is the controller's). */
static int
free_unit (struct vmx *v, const char *vmx_path, char dev[16])
{
  for (int u = 0; u < 16; u++) {
    char k1[48], k2[48];
    if (u == 7)
      continue;
    snprintf (k1, sizeof k1, "scsi0:%d.fileName", u);
    snprintf (k2, sizeof k2, "scsi0:%d.present", u);
    if (!vmx_get (v, k1) && !is_true (vmx_get (v, k2))) {
      snprintf (dev, 16, "scsi0:%d", u);
      return 0;
    }
  }
  return vd__error (VD_ENOSPC, 0, "%s: no free unit on scsi0", vmx_path);
}

/* The guide's CBT rules; in->arg2 gets "DEVICE MODE ENABLE_CBT". */
static int
plan_attach (struct vd_fcd_store *s, struct fcd_row *row, int mode,
             struct intent *in)
{
  struct vmx *v = NULL;
  char dev[16];
  int fcd_ctk = 0;
  int r = vmx_load (&v, in->arg);
  if (r < 0)
    return r;
  int vm_ctk = is_true (vmx_get (v, "ctkEnabled"));
  if ((r = fcd_top_cbt (s, row->path, &fcd_ctk)) < 0)
    goto out;
  if (fcd_ctk && !vm_ctk && mode != VD_FCD_INDEPENDENT_NONPERSISTENT) {
    r = vd__error (VD_EINVAL, 0, "FCD %s has changed block tracking on and "
                  "the VM %s has not (ctkEnabled): refused; attach it "
                  "independent_nonpersistent or enable CBT on the VM",
                  row->uuid, in->arg);
    goto out;
  }
  if ((r = free_unit (v, in->arg, dev)) < 0)
    goto out;
  in->arg2 = vd__asprintf ("%s %s %d", dev, mode_name (mode),
                           !fcd_ctk && vm_ctk);
  if (!in->arg2)
    r = vd__error (VD_ENOMEM, errno, "attach");
out:
  vmx_free (v);
  return r;
}

int
vd_fcd_attach (vd_fcd_store *s, const char *id, const char *vm_folder,
               int mode)
{
  struct intent in = { .op = "attach" };
  struct fcd_row row;
  char *dev = NULL;
  VD_ENTER ();
  if (!s || !vm_folder)
    return vd__error (VD_EINVAL, 0, "attach: no store or VM folder");
  if (mode != VD_FCD_PERSISTENT && mode != VD_FCD_INDEPENDENT_NONPERSISTENT)
    return vd__error (VD_EINVAL, 0, "attach: unknown mode %d", mode);
  int r = fcd_lock (s, 1);
  if (r < 0)
    return r;
  if ((r = load_pair (s, id, vm_folder, &row, &in.arg)) < 0)
    goto out0;
  if ((r = attached_as (s, row.uuid, in.arg, &dev)) == 0 && dev)
    r = vd__error (VD_EEXIST, 0, "FCD %s is already attached to %s",
                  row.uuid, in.arg);
  if (r == 0)
    r = plan_attach (s, &row, mode, &in);
  memcpy (in.uuid, row.uuid, sizeof in.uuid);
  if (r == 0 && (r = fcd_intent_begin (s, &in, NULL, NULL)) == 0) {
    fcd_checkpoint (s);
    r = do_attach (s, &in);
  }
  free (dev);
  fcd_intent_free (&in);
  fcd_row_free (&row);
out0:
  fcd_unlock (s);
  return r;
}

/* The entries of device dev that name this FCD go from the .vmx in->arg;
 * rows: its attachment row goes too (detach; an attach rolled back never
 * wrote one).  Repeatable. */
static int
do_detach (struct vd_fcd_store *s, struct intent *in, const char *dev,
           int rows)
{
  static const char *const sfx[] = { "present", "fileName", "mode",
                                     "ctkEnabled", "deviceType", NULL };
  struct vmx *v = NULL;
  char key[64], *folder = fcd_folder (s, in->uuid);
  int r = folder ? vmx_load (&v, in->arg) : VD_ENOMEM;
  if (r == VD_ENOENT) {
    vd__error_clear ();
    r = 0;
  }
  else if (r == 0) {
    snprintf (key, sizeof key, "%s.fileName", dev);
    const char *fn = vmx_get (v, key);
    size_t n = strlen (folder);
    /* only the entries that name this FCD */
    if (fn && strncmp (fn, folder, n) == 0 && fn[n] == '/') {
      for (int i = 0; sfx[i]; i++)
        r = set_dev (v, dev, sfx[i], NULL, r);
      if (r == 0)
        r = vmx_save (v);
    }
  }
  vmx_free (v);
  free (folder);
  if (r < 0)
    return r;
  fcd_checkpoint (s);
  if ((r = fcd_begin (s)) < 0)
    return r;
  if (rows)
    r = fcd_sql (s, "DELETE FROM attachment WHERE uuid = ? AND vmx = ?",
                 "tt", in->uuid, in->arg);
  if (r == 0)
    r = fcd_intent_done (s, in);
  return fcd_end (s, r);
}

int
vd_fcd_detach (vd_fcd_store *s, const char *id, const char *vm_folder)
{
  struct intent in = { .op = "detach" };
  struct fcd_row row;
  VD_ENTER ();
  if (!s || !vm_folder)
    return vd__error (VD_EINVAL, 0, "detach: no store or VM folder");
  int r = fcd_lock (s, 1);
  if (r < 0)
    return r;
  if ((r = load_pair (s, id, vm_folder, &row, &in.arg)) < 0)
    goto out0;
  if ((r = attached_as (s, row.uuid, in.arg, &in.arg2)) == 0 && !in.arg2)
    r = vd__error (VD_ENOENT, 0, "FCD %s is not attached to %s", row.uuid,
                  in.arg);
  memcpy (in.uuid, row.uuid, sizeof in.uuid);
  if (r == 0 && (r = fcd_intent_begin (s, &in, NULL, NULL)) == 0) {
    fcd_checkpoint (s);
    r = do_detach (s, &in, in.arg2, 1);
  }
  fcd_intent_free (&in);
  fcd_row_free (&row);
out0:
  fcd_unlock (s);
  return r;
}

int
vd_fcd_list_attachments (vd_fcd_store *s, const char *id,
                         vd_fcd_attachment_cb cb, void *payload)
{
  struct fcd_row row;
  struct att_row *a = NULL;
  size_t n = 0;
  VD_ENTER ();
  if (!s || !cb)
    return vd__error (VD_EINVAL, 0, "attachments: no store or callback");
  int r = fcd_load_id (s, id, &row);
  if (r < 0)
    return r;
  r = fcd_load_atts (s, row.uuid, &a, &n);
  for (size_t i = 0; r == 0 && i < n; i++) {
    struct vd_fcd_attachment x = { a[i].vmx, a[i].device, a[i].mode };
    if (cb (&x, payload))
      break;
  }
  fcd_atts_free (a, n);
  fcd_row_free (&row);
  return r;
}

int
fcd_recover_attach (struct vd_fcd_store *s, struct intent *in)
{
  const char *arg2 = in->arg2;
  if (!fcd_vmx_path_ok (in->arg))
    return vd__error (VD_ECORRUPT, 0, "%s/%s: intent %" PRId64 " (%s) names "
                     "no .vmx", s->ds, FCD_CATALOG, in->id, in->op);
  if (strcmp (in->op, "attach") == 0) {
    /* roll back: the entries naming this FCD go (CBT, if it was turned
     * on, stays on) */
    char dev[16];
    if (!arg2 || sscanf (arg2, "%15s", dev) != 1 || !fcd_device_ok (dev))
      return vd__error (VD_ECORRUPT, 0, "%s/%s: malformed attach intent",
                       s->ds, FCD_CATALOG);
    return do_detach (s, in, dev, 0);
  }
  if (!fcd_device_ok (arg2))
    return vd__error (VD_ECORRUPT, 0, "%s/%s: malformed detach intent",
                     s->ds, FCD_CATALOG);
  return do_detach (s, in, arg2, 1);
}
