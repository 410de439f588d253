/* First class disks: the .vmx of a VM folder, KEY = "VALUE" lines (the
 * others kept as they are), edited in memory and written whole. */
#include "fcd/fcd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
  if (fcd_room (&v->l, &v->cap, v->n, sizeof *v->l, 64, "vmx") < 0)
    return VD_ENOMEM;
  struct vmx_line *ln = &v->l[v->n];
  memset (ln, 0, sizeof *ln);
  ln->raw = strndup (raw, len);
  if (!ln->raw)
    return vd__error (VD_ENOMEM, errno, "vmx");
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
    return vd__error (VD_ENOMEM, errno, "vmx");
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
    return vd__error (vd__errno_code (errno), errno, "%s: open", path);
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode)
      || (uint64_t) st.st_size > VMX_MAX) {
    close (fd);
    return vd__error (VD_EINVAL, 0, "%s: not a .vmx file of at most 1 MiB",
                     path);
  }
  buf = malloc ((size_t) st.st_size + 1);
  if (!buf) {
    close (fd);
    return vd__error (VD_ENOMEM, errno, "vmx");
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
    return vd__error (VD_EINVAL, 0, "%s: holds a NUL byte; not a .vmx", path);
  }
  v = calloc (1, sizeof *v);
  if (!v || !(v->path = strdup (path))) {
    free (buf);
    free (v);
    return vd__error (VD_ENOMEM, errno, "vmx");
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
    return vd__error (VD_EINVAL, 0, "%s: value for %s holds a quote or a line "
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
      return vd__error (VD_ENOMEM, errno, "vmx");
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
    return vd__error (VD_ENOMEM, errno, "vmx");
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
    return vd__error (VD_ENOMEM, errno, "vmx");
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
    return vd__error (vd__errno_code (e), e, "%s: VM folder", folder);
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
    return vd__error (n ? VD_EINVAL : VD_ENOENT, 0, "%s: %s", folder,
                     n ? "holds more than one .vmx" : "holds no .vmx");
  }
  if (!found)
    return vd__error (VD_ENOMEM, errno, "vmx");
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

/* ---- what an attachment may name ----------------------------------------- */

int
fcd_vmx_path_ok (const char *p)
{
  size_t n = p ? strlen (p) : 0;
  return n >= 5 && p[0] == '/' && strcmp (p + n - 4, ".vmx") == 0
         && !strstr (p, "/../");
}

int
fcd_device_ok (const char *d)
{
  if (!d || strncmp (d, "scsi", 4) != 0 || d[4] < '0' || d[4] > '3'
      || d[5] != ':')
    return 0;
  const char *u = d + 6;
  if (u[0] >= '0' && u[0] <= '9' && u[1] == '\0')
    return u[0] != '7';                          /* 0-9 but 7 */
  return u[0] == '1' && u[1] >= '0' && u[1] <= '5' && u[2] == '\0'; /* 10-15 */
}
