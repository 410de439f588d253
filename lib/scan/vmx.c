/* Finding the disks of VMs (vd_find_vm_disks): a bounded walk of a
 * folder tree for .vmx files and a parser of their disk entries. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- VM discovery ------------------------------------------------------- */

#define VMX_MAX_BYTES (4u << 20)
#define VM_MAX_DEPTH 16
#define VM_MAX_FILES 100000

struct strlist {
  char **v;
  size_t n, cap;
};

static int
strlist_add (struct strlist *l, char *s)
{
  if (!s)
    return vd__error (VD_ENOMEM, errno, "out of memory");
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 16;
    char **n = realloc (l->v, nc * sizeof *n);
    if (!n) {
      free (s);
      return vd__error (VD_ENOMEM, errno, "out of memory");
    }
    l->v = n;
    l->cap = nc;
  }
  l->v[l->n++] = s;
  return 0;
}

static void
strlist_free (struct strlist *l)
{
  size_t i;
  for (i = 0; i < l->n; i++)
    free (l->v[i]);
  free (l->v);
}

static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static int
has_suffix (const char *s, const char *suf)
{
  size_t a = strlen (s), b = strlen (suf);
  return a >= b && !strcasecmp (s + a - b, suf);
}

/* Collect *.vmx under dir (fd owned and closed here). */
static int
walk (int fd, const char *path, int depth, struct strlist *out)
{
  DIR *dir;
  struct dirent *de;
  int r = 0;

  dir = fdopendir (fd);
  if (!dir) {
    close (fd);
    return vd__error (vd__errno_code (errno), errno, "%s: cannot list the "
                     "folder", path);
  }
  while (r == 0 && (de = readdir (dir))) {
    struct stat st;
    char *sub;
    if (!strcmp (de->d_name, ".") || !strcmp (de->d_name, ".."))
      continue;
    if (fstatat (dirfd (dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
      continue;
    if (out->n >= VM_MAX_FILES)
      break;
    sub = vd__path_join (path, de->d_name);
    if (!sub) {
      r = vd__error (VD_ENOMEM, errno, "out of memory");
      break;
    }
    if (S_ISREG (st.st_mode) && has_suffix (de->d_name, ".vmx"))
      r = strlist_add (out, sub);
    else if (S_ISDIR (st.st_mode) && depth < VM_MAX_DEPTH) {
      int sfd = openat (dirfd (dir), de->d_name,
                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sfd >= 0)
        r = walk (sfd, sub, depth + 1, out);
      free (sub);
    }
    else
      free (sub);
  }
  closedir (dir);
  return r;
}

struct vmx_dev {
  char dev[32];      /* "scsi0:0" */
  char *file;
  int present;       /* -1 unset, 0 FALSE, 1 TRUE */
  int cdrom;
};

struct vmx {
  struct vmx_dev *dev;
  size_t n, cap;
  char *display;
  char absent_bus[64][16];  /* controllers with present = FALSE */
  size_t n_absent;
};

static int
is_false (const char *v)
{
  return !strcasecmp (v, "false") || !strcasecmp (v, "0")
         || !strcasecmp (v, "no") || !strcasecmp (v, "off");
}

/* Parse "scsi0:1" (the device part of a key): length of the device name
 * or 0.  bus_len gets the length of "scsi0". */
static size_t
device_name (const char *k, size_t *bus_len)
{
  static const char *const buses[] = { "scsi", "ide", "sata", "nvme" };
  size_t i, n;
  for (i = 0; i < 4; i++) {
    n = strlen (buses[i]);
    if (!strncasecmp (k, buses[i], n))
      break;
  }
  if (i == 4 || !(k[n] >= '0' && k[n] <= '9'))
    return 0;
  while (k[n] >= '0' && k[n] <= '9')
    n++;
  *bus_len = n;
  if (k[n] != ':')
    return n;              /* a controller key: "scsi0.present" */
  n++;
  if (!(k[n] >= '0' && k[n] <= '9'))
    return 0;
  while (k[n] >= '0' && k[n] <= '9')
    n++;
  return n;
}

static struct vmx_dev *
vmx_dev (struct vmx *x, const char *name, size_t n)
{
  size_t i;
  if (n >= sizeof x->dev[0].dev)
    return NULL;
  for (i = 0; i < x->n; i++)
    if (strlen (x->dev[i].dev) == n && !strncasecmp (x->dev[i].dev, name, n))
      return &x->dev[i];
  if (x->n == x->cap) {
    size_t nc = x->cap ? x->cap * 2 : 8;
    struct vmx_dev *d;
    if (nc > 4096)
      return NULL;
    d = realloc (x->dev, nc * sizeof *d);
    if (!d)
      return NULL;
    x->dev = d;
    x->cap = nc;
  }
  memset (&x->dev[x->n], 0, sizeof x->dev[x->n]);
  memcpy (x->dev[x->n].dev, name, n);
  for (i = 0; i < n; i++)
    if (x->dev[x->n].dev[i] >= 'A' && x->dev[x->n].dev[i] <= 'Z')
      x->dev[x->n].dev[i] = (char) (x->dev[x->n].dev[i] + 32);
  x->dev[x->n].present = -1;
  return &x->dev[x->n++];
}

static void
vmx_line (struct vmx *x, char *line)
{
  char *eq, *k, *v, *e;
  size_t dn, bus;

  while (*line == ' ' || *line == '\t')
    line++;
  if (*line == '#' || !*line)
    return;
  eq = strchr (line, '=');
  if (!eq)
    return;
  k = line;
  e = eq;
  while (e > k && (e[-1] == ' ' || e[-1] == '\t'))
    e--;
  *e = 0;
  v = eq + 1;
  while (*v == ' ' || *v == '\t')
    v++;
  e = v + strlen (v);
  while (e > v && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
    *--e = 0;
  if (*v == '"') {
    v++;
    e = strchr (v, '"');
    if (e)
      *e = 0;
  }
  if (!strcasecmp (k, "displayName")) {
    free (x->display);
    x->display = vd__strdup (v);
    return;
  }
  dn = device_name (k, &bus);
  if (!dn || k[dn] != '.')
    return;
  if (dn == bus) {            /* controller */
    if (!strcasecmp (k + dn + 1, "present") && is_false (v)
        && x->n_absent < 64 && bus < 16) {
      memcpy (x->absent_bus[x->n_absent], k, bus);
      x->absent_bus[x->n_absent][bus] = 0;
      x->n_absent++;
    }
    return;
  }
  {
    struct vmx_dev *d = vmx_dev (x, k, dn);
    const char *f = k + dn + 1;
    if (!d)
      return;
    if (!strcasecmp (f, "fileName")) {
      free (d->file);
      d->file = vd__strdup (v);
    }
    else if (!strcasecmp (f, "present"))
      d->present = !is_false (v);
    else if (!strcasecmp (f, "deviceType"))
      d->cdrom = strcasestr (v, "cdrom") != NULL;
  }
}

static int
cmp_dev (const void *a, const void *b)
{
  const struct vmx_dev *x = a, *y = b;
  return strverscmp (x->dev, y->dev);
}

static int
read_vmx (const char *path, struct vmx *x)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  struct stat st;
  char *text, *line, *save = NULL;
  ssize_t got;
  size_t have = 0;

  if (fd < 0)
    return vd__error (vd__errno_code (errno), errno, "%s: cannot open",
                     path);
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode)
      || st.st_size > (off_t) VMX_MAX_BYTES) {
    close (fd);
    return vd__error (VD_EINVAL, 0, "%s: not a regular file of at most %u "
                     "bytes", path, VMX_MAX_BYTES);
  }
  text = malloc ((size_t) st.st_size + 1);
  if (!text) {
    close (fd);
    return vd__error (VD_ENOMEM, errno, "out of memory");
  }
  while (have < (size_t) st.st_size
         && (got = read (fd, text + have, (size_t) st.st_size - have)) > 0)
    have += (size_t) got;
  close (fd);
  text[have] = 0;
  for (line = strtok_r (text, "\n", &save); line;
       line = strtok_r (NULL, "\n", &save))
    vmx_line (x, line);
  free (text);
  if (x->n)
    qsort (x->dev, x->n, sizeof *x->dev, cmp_dev);
  return 0;
}

int
vd_find_vm_disks (const char *folder, vd_vm_disk_cb cb, void *payload)
{
  struct strlist vmxs = { 0 };
  size_t i, k;
  int fd, r;
  VD_ENTER ();

  if (!folder || !cb)
    return vd__error (VD_EINVAL, 0, "vd_find_vm_disks: no folder or "
                     "callback");
  fd = open (folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return vd__error (vd__errno_code (errno), errno, "%s: cannot open the "
                     "folder", folder);
  r = walk (fd, folder, 0, &vmxs);
  if (r < 0)
    goto out;
  if (vmxs.n)
    qsort (vmxs.v, vmxs.n, sizeof *vmxs.v, cmp_str);
  for (i = 0; i < vmxs.n && r == 0; i++) {
    struct vmx x;
    char *dir;
    memset (&x, 0, sizeof x);
    r = read_vmx (vmxs.v[i], &x);
    dir = r == 0 ? vd__dirname (vmxs.v[i]) : NULL;
    if (r == 0 && !dir)
      r = vd__error (VD_ENOMEM, errno, "out of memory");
    size_t n_disks = 0;
    for (k = 0; r == 0 && k < x.n; k++) {
      struct vmx_dev *d = &x.dev[k];
      size_t a, bus;
      int absent = 0;
      char *p;
      if (!d->file || d->present == 0 || d->cdrom
          || !has_suffix (d->file, ".vmdk"))
        continue;
      device_name (d->dev, &bus);
      for (a = 0; a < x.n_absent; a++)
        if (strlen (x.absent_bus[a]) == bus
            && !strncasecmp (x.absent_bus[a], d->dev, bus))
          absent = 1;
      if (absent)
        continue;
      p = vd__path_join (dir, d->file);
      if (!p) {
        r = vd__error (VD_ENOMEM, errno, "out of memory");
        break;
      }
      n_disks++;
      if (cb (vmxs.v[i], x.display, d->dev, p, payload))
        r = 1;
      free (p);
    }
    /* a VM without disks is listed too (device and disk NULL) */
    if (r == 0 && n_disks == 0 && cb (vmxs.v[i], x.display, NULL, NULL,
                                      payload))
      r = 1;
    for (k = 0; k < x.n; k++)
      free (x.dev[k].file);
    free (x.dev);
    free (x.display);
    free (dir);
  }
  if (r > 0)
    r = 0;
out:
  strlist_free (&vmxs);
  return r;
}
