/* First class disks: attaching to a VM's .vmx (with the guide's CBT
 * rules), detaching, and relocating an FCD to another datastore folder. */
#include "fcd/fcd.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define VMX_MAX (1u << 20)

/* ---- the .vmx: KEY = "VALUE" lines, the others kept as they are -------- */

struct vmx_line {
  char *raw;     /* the whole line (without newline) */
  char *key;     /* NULL for comments and blank lines */
  char *value;
};

struct vmx {
  char *path;
  struct vmx_line *l;
  size_t n, cap;
  int changed;
};

void
vmx_free (struct vmx *v)
{
  if (!v)
    return;
  for (size_t i = 0; i < v->n; i++) {
    free (v->l[i].raw);
    free (v->l[i].key);
    free (v->l[i].value);
  }
  free (v->l);
  free (v->path);
  free (v);
}

static int
vmx_push (struct vmx *v, const char *raw, size_t len)
{
  if (v->n == v->cap) {
    size_t nc = v->cap ? v->cap * 2 : 64;
    struct vmx_line *nl = realloc (v->l, nc * sizeof *nl);
    if (!nl)
      return vd_error (VD_ENOMEM, errno, "vmx");
    v->l = nl;
    v->cap = nc;
  }
  struct vmx_line *ln = &v->l[v->n];
  memset (ln, 0, sizeof *ln);
  ln->raw = strndup (raw, len);
  if (!ln->raw)
    return vd_error (VD_ENOMEM, errno, "vmx");
  v->n++;
  const char *p = ln->raw, *eq;
  while (*p == ' ' || *p == '\t')
    p++;
  if (*p == '#' || !*p || !(eq = strchr (p, '=')))
    return 0;
  const char *ke = eq;
  while (ke > p && (ke[-1] == ' ' || ke[-1] == '\t'))
    ke--;
  const char *vs = eq + 1;
  while (*vs == ' ' || *vs == '\t')
    vs++;
  const char *ve = vs + strlen (vs);
  while (ve > vs && (ve[-1] == ' ' || ve[-1] == '\t' || ve[-1] == '\r'))
    ve--;
  if (ve - vs >= 2 && *vs == '"' && ve[-1] == '"') {
    vs++;
    ve--;
  }
  ln->key = strndup (p, (size_t) (ke - p));
  ln->value = strndup (vs, (size_t) (ve - vs));
  if (!ln->key || !ln->value)
    return vd_error (VD_ENOMEM, errno, "vmx");
  return 0;
}

int
vmx_load (struct vmx **out, const char *path)
{
  struct vmx *v;
  struct stat st;
  char *buf;
  int r = 0;
  *out = NULL;
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return vd_error (vd__errno_code (errno), errno, "%s: open", path);
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode)
      || (uint64_t) st.st_size > VMX_MAX) {
    close (fd);
    return vd_error (VD_EINVAL, 0, "%s: not a .vmx file of at most 1 MiB",
                     path);
  }
  buf = malloc ((size_t) st.st_size + 1);
  if (!buf) {
    close (fd);
    return vd_error (VD_ENOMEM, errno, "vmx");
  }
  ssize_t got = 0;
  while (got < st.st_size) {
    ssize_t k = read (fd, buf + got, (size_t) (st.st_size - got));
    if (k <= 0)
      break;
    got += k;
  }
  close (fd);
  buf[got] = '\0';
  if (memchr (buf, '\0', (size_t) got)) {
    free (buf);
    return vd_error (VD_EINVAL, 0, "%s: holds a NUL byte; not a .vmx", path);
  }
  v = calloc (1, sizeof *v);
  if (!v || !(v->path = strdup (path))) {
    free (buf);
    free (v);
    return vd_error (VD_ENOMEM, errno, "vmx");
  }
  for (char *p = buf; r == 0 && *p;) {
    char *nl = strchr (p, '\n');
    size_t len = nl ? (size_t) (nl - p) : strlen (p);
    r = vmx_push (v, p, len);
    p += len + (nl ? 1 : 0);
  }
  free (buf);
  if (r < 0) {
    vmx_free (v);
    return r;
  }
  *out = v;
  return 0;
}

const char *
vmx_get (struct vmx *v, const char *key)
{
  for (size_t i = 0; i < v->n; i++)
    if (v->l[i].key && strcasecmp (v->l[i].key, key) == 0)
      return v->l[i].value;
  return NULL;
}

int
vmx_set (struct vmx *v, const char *key, const char *value)
{
  if (value && strpbrk (value, "\"\r\n"))
    return vd_error (VD_EINVAL, 0, "%s: value for %s holds a quote or a line "
                     "break", v->path, key);
  for (size_t i = 0; i < v->n; i++) {
    struct vmx_line *ln = &v->l[i];
    if (!ln->key || strcasecmp (ln->key, key) != 0)
      continue;
    if (value && strcmp (ln->value, value) == 0)
      return 0;
    if (!value) {
      free (ln->raw);
      free (ln->key);
      free (ln->value);
      memmove (ln, ln + 1, (v->n - i - 1) * sizeof *ln);
      v->n--;
      i--;
      v->changed = 1;
      continue;
    }
    char *raw = vd__asprintf ("%s = \"%s\"", ln->key, value);
    char *nv = strdup (value);
    if (!raw || !nv) {
      free (raw);
      free (nv);
      return vd_error (VD_ENOMEM, errno, "vmx");
    }
    free (ln->raw);
    free (ln->value);
    ln->raw = raw;
    ln->value = nv;
    v->changed = 1;
    return 0;
  }
  if (!value)
    return 0;
  char *raw = vd__asprintf ("%s = \"%s\"", key, value);
  if (!raw)
    return vd_error (VD_ENOMEM, errno, "vmx");
  int r = vmx_push (v, raw, strlen (raw));
  free (raw);
  v->changed = 1;
  return r;
}

/* The whole file anew (vd__replace_file: temporary file, fsync, rename,
 * fsync of the folder), keeping the file's mode. */
int
vmx_save (struct vmx *v)
{
  if (!v->changed)
    return 0;
  struct stat st;
  mode_t mode = stat (v->path, &st) == 0 ? (st.st_mode & 07777) : 0644;
  size_t len = 0;
  for (size_t i = 0; i < v->n; i++)
    len += strlen (v->l[i].raw) + 1;
  char *text = malloc (len + 1), *p = text;
  if (!text)
    return vd_error (VD_ENOMEM, errno, "vmx");
  for (size_t i = 0; i < v->n; i++) {
    size_t n = strlen (v->l[i].raw);
    memcpy (p, v->l[i].raw, n);
    p[n] = '\n';
    p += n + 1;
  }
  int r = vd__replace_file (v->path, text, len, mode);
  free (text);
  if (r == 0)
    v->changed = 0;
  return r;
}

int
vmx_find (const char *folder, char **vmx_path)
{
  char *real = realpath (folder, NULL);
  DIR *d = real ? opendir (real) : NULL;
  struct dirent *de;
  char *found = NULL;
  int n = 0;
  *vmx_path = NULL;
  if (!d) {
    int e = errno;
    free (real);
    return vd_error (vd__errno_code (e), e, "%s: VM folder", folder);
  }
  while ((de = readdir (d))) {
    size_t l = strlen (de->d_name);
    struct stat st;
    if (l < 5 || strcasecmp (de->d_name + l - 4, ".vmx") != 0
        || fstatat (dirfd (d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0
        || !S_ISREG (st.st_mode))
      continue;
    if (n++ == 0)
      found = vd__asprintf ("%s/%s", real, de->d_name);
  }
  closedir (d);
  free (real);
  if (n != 1) {
    free (found);
    return vd_error (n ? VD_EINVAL : VD_ENOENT, 0, "%s: %s", folder,
                     n ? "holds more than one .vmx" : "holds no .vmx");
  }
  if (!found)
    return vd_error (VD_ENOMEM, errno, "vmx");
  *vmx_path = found;
  return 0;
}

int
fcd_vmx_retarget (const char *vmx_path, const char *device, const char *path,
                  const char *uuid)
{
  struct vmx *v;
  char key[64], mark[64];
  int r = vmx_load (&v, vmx_path);
  if (r == VD_ENOENT) {
    vd__error_clear ();
    return 0;    /* the VM went away: nothing to point */
  }
  if (r < 0)
    return r;
  snprintf (key, sizeof key, "%s.fileName", device);
  snprintf (mark, sizeof mark, "/%s/%s/", FCD_DIR, uuid);
  const char *old = vmx_get (v, key);
  /* only an entry that names this FCD (a hostile catalog must not make
   * vdisk edit another disk's entry) */
  if (old && strstr (old, mark))
    r = vmx_set (v, key, path);
  if (r == 0)
    r = vmx_save (v);
  vmx_free (v);
  return r;
}

/* ---- attach ----------------------------------------------------------- */

static int
is_true (const char *v)
{
  return v && (strcasecmp (v, "TRUE") == 0 || strcmp (v, "1") == 0);
}

static int
top_cbt (struct vd_fcd_store *s, const char *rel, int *on)
{
  vd_disk *d;
  struct vd_cbt_info ci;
  char *p = fcd_abs (s, rel);
  int r = p ? vd_disk_open (&d, p, VD_OPEN_READ_ONLY) : VD_ENOMEM;
  free (p);
  if (r < 0)
    return r;
  r = vd_disk_get_cbt (d, &ci);
  *on = r == 0 && ci.state == VD_CBT_ON;
  vd_disk_close (d);
  return r;
}

static int
load_id (struct vd_fcd_store *s, const char *id, struct fcd_row *row)
{
  char u[VD_FCD_ID_SIZE];
  int r = fcd_resolve_id (s, id, u);
  return r < 0 ? r : fcd_load (s, u, row);
}

static int
intent_row (struct vd_fcd_store *s, int64_t *id, const char *op,
            const char *uuid, const char *arg, const char *arg2)
{
  int r = fcd_sql (s, "INSERT INTO intent (op, uuid, arg, arg2, step, "
                   "created) VALUES (?, ?, ?, ?, 0, ?)", "tttti", op, uuid,
                   arg, arg2, fcd_now ());
  if (r == 0)
    *id = sqlite3_last_insert_rowid (s->db);
  return r;
}

static int
intent_del (struct vd_fcd_store *s, int64_t id)
{
  return fcd_sql (s, "DELETE FROM intent WHERE id = ?", "i", id);
}

static const char *
mode_name (int mode)
{
  return mode == VD_FCD_INDEPENDENT_NONPERSISTENT ? "independent_nonpersistent"
                                                  : "persistent";
}

/* arg2 = "DEVICE MODE ENABLE_CBT"; repeatable. */
static int
do_attach (struct vd_fcd_store *s, int64_t iid, const char *uuid,
           const char *vmx_path, const char *arg2)
{
  struct fcd_row row;
  struct vmx *v = NULL;
  char dev[16], mode[32], key[64];
  int enable = 0, r;
  if (!arg2 || sscanf (arg2, "%15s %31s %d", dev, mode, &enable) != 3
      || strncmp (dev, "scsi0:", 6) != 0
      || (strcmp (mode, "persistent") && strcmp (mode,
                                                 "independent_nonpersistent")))
    return vd_error (VD_ECORRUPT, 0, "%s/%s: malformed attach intent", s->ds,
                     FCD_CATALOG);
  if ((r = fcd_load (s, uuid, &row)) < 0)
    return r;
  char *top = fcd_abs (s, row.path);
  if (!top) {
    r = VD_ENOMEM;
    goto out;
  }
  if (enable && (r = vd_disk_cbt_enable (top, 0)) < 0)
    goto out;
  fcd_checkpoint (s);
  if ((r = vmx_load (&v, vmx_path)) < 0)
    goto out;
  if (!vmx_get (v, "scsi0.present"))
    r = vmx_set (v, "scsi0.present", "TRUE");
  if (r == 0 && !vmx_get (v, "scsi0.virtualDev"))
    r = vmx_set (v, "scsi0.virtualDev", "lsilogic");
#define SETK(suffix, val)                                                \
  do {                                                                   \
    snprintf (key, sizeof key, "%s.%s", dev, suffix);                   \
    if (r == 0)                                                          \
      r = vmx_set (v, key, val);                                         \
  } while (0)
  SETK ("present", "TRUE");
  SETK ("fileName", top);
  SETK ("mode", strcmp (mode, "persistent") == 0
                  ? "persistent" : "independent-nonpersistent");
  int on = 0;
  if (r == 0)
    r = top_cbt (s, row.path, &on);
  SETK ("ctkEnabled", on ? "TRUE" : NULL);
  if (r == 0)
    r = vmx_save (v);
  fcd_checkpoint (s);
  if (r == 0)
    r = fcd_begin (s);
  if (r == 0) {
    r = fcd_sql (s, "INSERT OR REPLACE INTO attachment (uuid, vmx, device, "
                 "mode) VALUES (?, ?, ?, ?)", "tttt", uuid, vmx_path, dev,
                 mode);
    if (r == 0)
      r = fcd_sql (s, "UPDATE fcd SET cbt = ? WHERE uuid = ?", "it",
                   (int64_t) on, uuid);
    if (r == 0)
      r = intent_del (s, iid);
    if (r == 0)
      r = fcd_commit (s);
    else
      fcd_rollback (s);
  }
out:
  free (top);
  vmx_free (v);
  fcd_row_free (&row);
  return r;
}

int
vd_fcd_attach (vd_fcd_store *s, const char *id, const char *vm_folder,
               int mode)
{
  struct fcd_row row;
  struct vmx *v = NULL;
  char *vmx_path = NULL, *arg2 = NULL;
  int64_t iid = 0;
  VD_ENTER ();
  if (!s || !vm_folder)
    return vd_error (VD_EINVAL, 0, "attach: no store or VM folder");
  if (mode != VD_FCD_PERSISTENT && mode != VD_FCD_INDEPENDENT_NONPERSISTENT)
    return vd_error (VD_EINVAL, 0, "attach: unknown mode %d", mode);
  int r = fcd_lock (s, 1);
  if (r < 0)
    return r;
  if ((r = load_id (s, id, &row)) < 0)
    goto out0;
  if ((r = vmx_find (vm_folder, &vmx_path)) < 0)
    goto out;
  {
    sqlite3_stmt *st;
    int have = 0;
    r = fcd_prepare (s, &st, "SELECT count(*) FROM attachment WHERE uuid = ? "
                     "AND vmx = ?", "tt", row.uuid, vmx_path);
    if (r < 0)
      goto out;
    if (sqlite3_step (st) == SQLITE_ROW)
      have = sqlite3_column_int (st, 0);
    sqlite3_finalize (st);
    if (have) {
      r = vd_error (VD_EEXIST, 0, "FCD %s is already attached to %s",
                    row.uuid, vmx_path);
      goto out;
    }
  }
  if ((r = vmx_load (&v, vmx_path)) < 0)
    goto out;
  int vm_ctk = is_true (vmx_get (v, "ctkEnabled")), fcd_ctk = 0;
  if ((r = top_cbt (s, row.path, &fcd_ctk)) < 0)
    goto out;
  if (fcd_ctk && !vm_ctk && mode != VD_FCD_INDEPENDENT_NONPERSISTENT) {
    r = vd_error (VD_EINVAL, 0, "FCD %s has changed block tracking on and "
                  "the VM %s has not (ctkEnabled): refused; attach it "
                  "independent_nonpersistent or enable CBT on the VM",
                  row.uuid, vmx_path);
    goto out;
  }
  char dev[16] = "";
  for (int u = 0; u < 16 && !dev[0]; u++) {
    char k1[48], k2[48];
    if (u == 7)
      continue;
    snprintf (k1, sizeof k1, "scsi0:%d.fileName", u);
    snprintf (k2, sizeof k2, "scsi0:%d.present", u);
    if (!vmx_get (v, k1) && !is_true (vmx_get (v, k2)))
      snprintf (dev, sizeof dev, "scsi0:%d", u);
  }
  if (!dev[0]) {
    r = vd_error (VD_ENOSPC, 0, "%s: no free unit on scsi0", vmx_path);
    goto out;
  }
  arg2 = vd__asprintf ("%s %s %d", dev, mode_name (mode),
                       !fcd_ctk && vm_ctk);
  if (!arg2) {
    r = VD_ENOMEM;
    goto out;
  }
  if ((r = intent_row (s, &iid, "attach", row.uuid, vmx_path, arg2)) < 0)
    goto out;
  fcd_checkpoint (s);
  r = do_attach (s, iid, row.uuid, vmx_path, arg2);
out:
  free (arg2);
  free (vmx_path);
  vmx_free (v);
  fcd_row_free (&row);
out0:
  fcd_unlock (s);
  return r;
}

static int do_detach_rows (struct vd_fcd_store *s, int64_t iid,
                           const char *uuid, const char *vmx_path,
                           const char *dev, int rows);

static int
undo_attach (struct vd_fcd_store *s, int64_t iid, const char *uuid,
             const char *vmx_path, const char *dev)
{
  return do_detach_rows (s, iid, uuid, vmx_path, dev, 0);
}

static int
do_detach (struct vd_fcd_store *s, int64_t iid, const char *uuid,
           const char *vmx_path, const char *dev)
{
  return do_detach_rows (s, iid, uuid, vmx_path, dev, 1);
}

static int
do_detach_rows (struct vd_fcd_store *s, int64_t iid, const char *uuid,
                const char *vmx_path, const char *dev, int rows)
{
  struct vmx *v = NULL;
  char key[64], *folder = fcd_folder (s, uuid);
  int r = folder ? vmx_load (&v, vmx_path) : VD_ENOMEM;
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
      static const char *const sfx[] = { "present", "fileName", "mode",
                                         "ctkEnabled", "deviceType", NULL };
      for (int i = 0; r == 0 && sfx[i]; i++) {
        snprintf (key, sizeof key, "%s.%s", dev, sfx[i]);
        r = vmx_set (v, key, NULL);
      }
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
                 "tt", uuid, vmx_path);
  if (r == 0)
    r = intent_del (s, iid);
  if (r == 0)
    r = fcd_commit (s);
  else
    fcd_rollback (s);
  return r;
}

int
vd_fcd_detach (vd_fcd_store *s, const char *id, const char *vm_folder)
{
  struct fcd_row row;
  char *vmx_path = NULL, *dev = NULL;
  int64_t iid = 0;
  VD_ENTER ();
  if (!s || !vm_folder)
    return vd_error (VD_EINVAL, 0, "detach: no store or VM folder");
  int r = fcd_lock (s, 1);
  if (r < 0)
    return r;
  if ((r = load_id (s, id, &row)) < 0)
    goto out0;
  if ((r = vmx_find (vm_folder, &vmx_path)) < 0)
    goto out;
  {
    sqlite3_stmt *st;
    r = fcd_prepare (s, &st, "SELECT device FROM attachment WHERE uuid = ? "
                     "AND vmx = ?", "tt", row.uuid, vmx_path);
    if (r < 0)
      goto out;
    if (sqlite3_step (st) == SQLITE_ROW)
      dev = strdup ((const char *) sqlite3_column_text (st, 0));
    sqlite3_finalize (st);
    if (!dev) {
      r = vd_error (VD_ENOENT, 0, "FCD %s is not attached to %s", row.uuid,
                    vmx_path);
      goto out;
    }
  }
  if ((r = intent_row (s, &iid, "detach", row.uuid, vmx_path, dev)) < 0)
    goto out;
  fcd_checkpoint (s);
  r = do_detach (s, iid, row.uuid, vmx_path, dev);
out:
  free (dev);
  free (vmx_path);
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
    return vd_error (VD_EINVAL, 0, "attachments: no store or callback");
  int r = load_id (s, id, &row);
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

/* ---- relocate --------------------------------------------------------- */

static int
copy_file (int sfd, int dfd, const char *name, const char *where)
{
  int in = openat (sfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  int out = in >= 0 ? openat (dfd, name, O_WRONLY | O_CREAT | O_TRUNC
                              | O_CLOEXEC | O_NOFOLLOW, 0644) : -1;
  char *buf = malloc (1u << 20);
  int r = 0;
  if (in < 0 || out < 0 || !buf)
    r = vd_error (VD_EIO, errno, "%s/%s: copy", where, name);
  while (r == 0) {
    ssize_t k = read (in, buf, 1u << 20);
    if (k < 0)
      r = vd_error (VD_EIO, errno, "%s/%s: read", where, name);
    if (k <= 0)
      break;
    if (write (out, buf, (size_t) k) != k)
      r = vd_error (vd__errno_code (errno), errno, "%s/%s: write", where,
                    name);
  }
  if (r == 0 && fsync (out) < 0)
    r = vd_error (VD_EIO, errno, "%s/%s: fsync", where, name);
  free (buf);
  if (in >= 0)
    close (in);
  if (out >= 0)
    close (out);
  return r;
}

/* The FCD folder from src to dst: one rename on one file system, else a
 * copy into dst's work folder renamed into place (src stays until the
 * catalog of dst holds the FCD). */
static int
move_folder (const char *src, const char *dst, const char *tmp)
{
  if (rename (src, dst) == 0)
    return 0;
  if (errno != EXDEV)
    return vd_error (VD_EIO, errno, "%s: move to %s", src, dst);
  fcd_rm_folder (tmp);
  if (mkdir (tmp, 0755) < 0)
    return vd_error (VD_EIO, errno, "%s: make folder", tmp);
  DIR *d = opendir (src);
  int tfd = open (tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = 0;
  struct dirent *de;
  if (!d || tfd < 0)
    r = vd_error (VD_EIO, errno, "%s: open", src);
  while (r == 0 && (de = readdir (d))) {
    struct stat st;
    if (fstatat (dirfd (d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0
        && S_ISREG (st.st_mode))
      r = copy_file (dirfd (d), tfd, de->d_name, src);
  }
  if (r == 0)
    fsync (tfd);
  if (d)
    closedir (d);
  if (tfd >= 0)
    close (tfd);
  if (r == 0 && rename (tmp, dst) < 0)
    r = vd_error (VD_EIO, errno, "%s: rename to %s", tmp, dst);
  return r;
}

static int
dest_has (struct vd_fcd_store *d, const char *uuid)
{
  char u[VD_FCD_ID_SIZE];
  int r = fcd_resolve_id (d, uuid, u);
  vd__error_clear ();
  return r == 0 && strcmp (u, uuid) == 0;
}

/* Copy the FCD's rows from s's catalog into d's (one transaction). */
static int
copy_rows (struct vd_fcd_store *s, struct vd_fcd_store *d, const char *uuid)
{
  char *db = vd__asprintf ("%s/%s", s->ds, FCD_CATALOG);
  if (!db)
    return VD_ENOMEM;
  int r = fcd_sql (d, "ATTACH DATABASE ? AS src", "t", db);
  free (db);
  if (r < 0)
    return r;
  r = fcd_begin (d);
  if (r == 0)
    r = fcd_sql (d, "INSERT INTO main.fcd SELECT * FROM src.fcd WHERE uuid "
                 "= ?", "t", uuid);
  if (r == 0)
    r = fcd_sql (d, "INSERT INTO main.fcd_meta SELECT * FROM src.fcd_meta "
                 "WHERE uuid = ?", "t", uuid);
  if (r == 0)
    r = fcd_sql (d, "INSERT INTO main.snapshot SELECT * FROM src.snapshot "
                 "WHERE uuid = ? ORDER BY seq", "t", uuid);
  if (r == 0)
    r = fcd_sql (d, "INSERT INTO main.attachment SELECT * FROM "
                 "src.attachment WHERE uuid = ?", "t", uuid);
  if (r == 0)
    r = fcd_commit (d);
  else
    fcd_rollback (d);
  sqlite3_exec (d->db, "DETACH DATABASE src", NULL, NULL, NULL);
  return r;
}

static int
retarget_to (struct vd_fcd_store *s, struct vd_fcd_store *at,
             const char *uuid)
{
  struct fcd_row row;
  struct att_row *a = NULL;
  size_t n = 0;
  int r = fcd_load (s, uuid, &row);
  if (r < 0)
    return r;
  r = fcd_load_atts (s, uuid, &a, &n);
  char *p = r == 0 ? fcd_abs (at, row.path) : NULL;
  if (r == 0 && !p)
    r = VD_ENOMEM;
  for (size_t i = 0; r == 0 && i < n; i++)
    r = fcd_vmx_retarget (a[i].vmx, a[i].device, p, uuid);
  free (p);
  fcd_atts_free (a, n);
  fcd_row_free (&row);
  return r;
}

/* From the moved folder on: repeatable. */
static int
relocate_tail (struct vd_fcd_store *s, struct vd_fcd_store *d, int64_t iid,
               const char *uuid)
{
  char *src = fcd_folder (s, uuid);
  int r = src ? 0 : VD_ENOMEM;
  if (r == 0 && !dest_has (d, uuid)) {
    r = retarget_to (s, d, uuid);
    if (r == 0)
      r = copy_rows (s, d, uuid);
  }
  fcd_checkpoint (s);
  if (r == 0)
    r = fcd_rm_folder (src);
  if (r == 0)
    r = fcd_begin (s);
  if (r == 0) {
    r = fcd_sql (s, "DELETE FROM fcd WHERE uuid = ?", "t", uuid);
    if (r == 0)
      r = intent_del (s, iid);
    if (r == 0)
      r = fcd_commit (s);
    else
      fcd_rollback (s);
  }
  free (src);
  return r;
}

static int
open_dest (struct vd_fcd_store *s, const char *dest, uint32_t flags,
           struct vd_fcd_store **d)
{
  int r = vd_fcd_store_open (d, dest, flags);
  if (r < 0)
    return r;
  if (strcmp ((*d)->ds, s->ds) == 0) {
    vd_fcd_store_close (*d);
    *d = NULL;
    return vd_error (VD_EINVAL, 0, "%s: relocate: the FCD is already in "
                     "this datastore", dest);
  }
  if ((r = fcd_lock (*d, 0)) < 0) {
    vd_fcd_store_close (*d);
    *d = NULL;
  }
  return r;
}

int
vd_fcd_relocate (vd_fcd_store *s, const char *id, const char *dest)
{
  struct fcd_row row;
  struct vd_fcd_store *d = NULL;
  char *src = NULL, *dst = NULL, *tmp = NULL;
  int64_t iid = 0;
  VD_ENTER ();
  if (!s || !dest)
    return vd_error (VD_EINVAL, 0, "relocate: no store or destination");
  int r = fcd_lock (s, 1);
  if (r < 0)
    return r;
  if ((r = load_id (s, id, &row)) < 0)
    goto out0;
  if (row.reloc) {
    r = vd_error (VD_ELOCKED, 0, "FCD %s: relocation is disabled (a backup "
                  "program is accessing it: PrepareForAccess); try again "
                  "after EndAccess", row.uuid);
    goto out;
  }
  {
    vd_disk *t;
    char *p = fcd_abs (s, row.path);
    r = p ? vd_disk_open (&t, p, 0) : VD_ENOMEM;
    free (p);
    if (r < 0)
      goto out;
    vd_disk_close (t);
  }
  if ((r = open_dest (s, dest, VD_FCD_CREATE, &d)) < 0)
    goto out;
  if (dest_has (d, row.uuid)) {
    r = vd_error (VD_EEXIST, 0, "%s: already holds an FCD %s", d->ds,
                  row.uuid);
    goto out;
  }
  src = fcd_folder (s, row.uuid);
  dst = fcd_folder (d, row.uuid);
  tmp = vd__asprintf ("%s/%s/.%s.tmp", d->ds, FCD_DIR, row.uuid);
  if (!src || !dst || !tmp) {
    r = VD_ENOMEM;
    goto out;
  }
  if ((r = intent_row (s, &iid, "relocate", row.uuid, d->ds, NULL)) < 0)
    goto out;
  fcd_checkpoint (s);
  if ((r = move_folder (src, dst, tmp)) < 0) {
    fcd_rm_folder (tmp);
    intent_del (s, iid);
    goto out;
  }
  fcd_checkpoint (s);
  r = relocate_tail (s, d, iid, row.uuid);
  if (r == 0)
    fcd_checkpoint (s);
out:
  free (src);
  free (dst);
  free (tmp);
  if (d) {
    fcd_unlock (d);
    vd_fcd_store_close (d);
  }
  fcd_row_free (&row);
out0:
  fcd_unlock (s);
  return r;
}

static int
recover_relocate (struct vd_fcd_store *s, int64_t iid, const char *uuid,
                  const char *dest)
{
  struct vd_fcd_store *d = NULL;
  struct stat st;
  if (!dest || dest[0] != '/')
    return vd_error (VD_ECORRUPT, 0, "%s/%s: malformed relocate intent",
                     s->ds, FCD_CATALOG);
  int r = open_dest (s, dest, 0, &d);
  if (r == VD_ENOENT) {
    /* relocate makes the destination's catalog before its intent: none
     * there means nothing was moved */
    char *src = fcd_folder (s, uuid);
    int have = src && lstat (src, &st) == 0;
    free (src);
    if (have) {
      vd__error_clear ();
      return intent_del (s, iid);
    }
  }
  if (r < 0)
    return r;
  char *src = fcd_folder (s, uuid), *dst = fcd_folder (d, uuid);
  char *tmp = vd__asprintf ("%s/%s/.%s.tmp", d->ds, FCD_DIR, uuid);
  if (!src || !dst || !tmp)
    r = VD_ENOMEM;
  else if (dest_has (d, uuid) || lstat (src, &st) < 0)
    r = relocate_tail (s, d, iid, uuid);       /* forward */
  else {
    /* the source is whole: undo any copy */
    r = fcd_rm_folder (tmp);
    if (r == 0 && lstat (dst, &st) == 0)
      r = fcd_rm_folder (dst);
    if (r == 0)
      r = retarget_to (s, s, uuid);
    if (r == 0)
      r = intent_del (s, iid);
  }
  free (src);
  free (dst);
  free (tmp);
  fcd_unlock (d);
  vd_fcd_store_close (d);
  return r;
}

int fcd_recover_attach (struct vd_fcd_store *s, const char *op, int64_t id,
                        const char *uuid, const char *arg, const char *arg2,
                        int step);

int
fcd_recover_attach (struct vd_fcd_store *s, const char *op, int64_t id,
                    const char *uuid, const char *arg, const char *arg2,
                    int step)
{
  (void) step;
  if (strcmp (op, "relocate") == 0)
    return recover_relocate (s, id, uuid, arg);
  if (strcmp (op, "attach") != 0 && strcmp (op, "detach") != 0)
    return vd_error (VD_ECORRUPT, 0, "%s/%s: unfinished intent %" PRId64
                     " of unknown kind; refusing to act on it", s->ds,
                     FCD_CATALOG, id);
  size_t n = arg ? strlen (arg) : 0;
  if (n < 5 || arg[0] != '/' || strcmp (arg + n - 4, ".vmx") != 0
      || strstr (arg, "/../"))
    return vd_error (VD_ECORRUPT, 0, "%s/%s: intent %" PRId64 " (%s) names "
                     "no .vmx", s->ds, FCD_CATALOG, id, op);
  if (strcmp (op, "attach") == 0) {
    /* roll back: the entries naming this FCD go (CBT, if it was turned
     * on, stays on) */
    char dev[16];
    if (!arg2 || sscanf (arg2, "%15s", dev) != 1
        || strncmp (dev, "scsi0:", 6) != 0)
      return vd_error (VD_ECORRUPT, 0, "%s/%s: malformed attach intent",
                       s->ds, FCD_CATALOG);
    return undo_attach (s, id, uuid, arg, dev);
  }
  if (strcmp (op, "detach") == 0) {
    if (!arg2 || strncmp (arg2, "scsi0:", 6) != 0 || strlen (arg2) > 9)
      return vd_error (VD_ECORRUPT, 0, "%s/%s: malformed detach intent",
                       s->ds, FCD_CATALOG);
    return do_detach (s, id, uuid, arg, arg2);
  }
  return vd_error (VD_ECORRUPT, 0, "%s/%s: unfinished intent %" PRId64
                   " of unknown kind; refusing to act on it", s->ds,
                   FCD_CATALOG, id);
}
