/* The text descriptor (vmdk-format.md §1): parse, edit, emit.
 *
 * Lines are classified by shape, not by the section comments: key=value
 * is a header line, "ACCESS SIZE TYPE ..." an extent line, ddb.key =
 * "value" a disk-database line.  Comments, blank lines and everything we
 * leave unmodified are emitted verbatim, in their original order. */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_LINE 4096
#define MAX_KEY 64

static const char *const known_create_types[] = {
  "monolithicSparse", "monolithicFlat", "twoGbMaxExtentSparse",
  "2GbMaxExtentSparse", "twoGbMaxExtentFlat", "2GbMaxExtentFlat",
  "streamOptimized", "vmfs", "vmfsThin", "vmfsPreallocated",
  "vmfsEagerZeroedThick", "vmfsThick", "vmfsSparse", "seSparse",
  "vmfsSeSparse", "vmfsRDM", "vmfsRawDeviceMap", "vmfsRDMP",
  "vmfsPassthroughRawDeviceMap", "vmfsRaw", "fullDevice",
  "partitionedDevice", "custom", NULL
};

static const char *const extent_types[] = {
  "FLAT", "SPARSE", "ZERO", "VMFS", "VMFSSPARSE", "VMFSRDM", "VMFSRAW",
  "SESPARSE", NULL
};

static void
free_line (struct vd_desc_line *l)
{
  free (l->raw);
  free (l->key);
  free (l->value);
  free (l->ext.file);
}

void
vd__desc_free (struct vd_descriptor *d)
{
  if (!d)
    return;
  for (size_t i = 0; i < d->n_lines; i++)
    free_line (&d->lines[i]);
  free (d->lines);
  free (d->ext_at);
  free (d->ddb_at);
  free (d->ddb_hash);
  free (d);
}

/* ---- indexes (every lookup O(1), every loop over lines linear) ---------- */

static size_t
key_hash (const char *k)
{
  uint64_t h = UINT64_C (1469598103934665603);
  for (; *k; k++) {
    h ^= (unsigned char) tolower ((unsigned char) *k);
    h *= UINT64_C (1099511628211);
  }
  return (size_t) (h ^ (h >> 29));
}

/* Rebuild the indexes of d after its line array changed. */
static int
reindex (struct vd_descriptor *d)
{
  size_t n_ext = 0, n_ddb = 0, cap = 16;
  size_t *ext, *ddb, *hash;

  for (size_t i = 0; i < d->n_lines; i++) {
    n_ext += d->lines[i].kind == VD_LINE_EXTENT;
    n_ddb += d->lines[i].kind == VD_LINE_DDB;
  }
  while (cap < 2 * n_ddb)
    cap *= 2;
  ext = malloc ((n_ext + 1) * sizeof *ext);
  ddb = malloc ((n_ddb + 1) * sizeof *ddb);
  hash = calloc (cap, sizeof *hash);
  if (!ext || !ddb || !hash) {
    free (ext);
    free (ddb);
    free (hash);
    return vd__error (VD_ENOMEM, errno, "descriptor");
  }
  n_ext = n_ddb = 0;
  for (size_t i = 0; i < d->n_lines; i++) {
    const struct vd_desc_line *l = &d->lines[i];
    if (l->kind == VD_LINE_EXTENT)
      ext[n_ext++] = i;
    else if (l->kind == VD_LINE_DDB && l->key) {
      size_t h = key_hash (l->key) & (cap - 1);
      ddb[n_ddb++] = i;
      while (hash[h] && strcasecmp (d->lines[hash[h] - 1].key, l->key))
        h = (h + 1) & (cap - 1);
      if (!hash[h])
        hash[h] = i + 1;          /* the first line of a key wins */
    }
  }
  free (d->ext_at);
  free (d->ddb_at);
  free (d->ddb_hash);
  d->ext_at = ext;
  d->ddb_at = ddb;
  d->ddb_hash = hash;
  d->n_ddb = n_ddb;
  d->hash_cap = cap;
  d->n_extents = n_ext;
  return 0;
}

static struct vd_desc_line *
new_line (struct vd_descriptor *d, size_t at)
{
  if (d->n_lines == d->cap_lines) {
    size_t cap = d->cap_lines ? d->cap_lines * 2 : 32;
    struct vd_desc_line *p = realloc (d->lines, cap * sizeof *p);
    if (!p) {
      vd__error (VD_ENOMEM, errno, "descriptor");
      return NULL;
    }
    d->lines = p;
    d->cap_lines = cap;
  }
  if (at > d->n_lines)
    at = d->n_lines;
  memmove (&d->lines[at + 1], &d->lines[at],
           (d->n_lines - at) * sizeof *d->lines);
  d->n_lines++;
  memset (&d->lines[at], 0, sizeof *d->lines);
  return &d->lines[at];
}

static int
key_char (int c)
{
  return isalnum (c) || c == '.' || c == '_' || c == '-';
}

/* Parse a decimal u64 in [s, *end); returns -1 on junk or overflow. */
static int
parse_u64 (const char *s, const char **end, uint64_t *out)
{
  uint64_t v = 0;
  const char *p = s;
  if (!isdigit ((unsigned char) *p))
    return -1;
  while (isdigit ((unsigned char) *p)) {
    unsigned dgt = (unsigned) (*p - '0');
    if (v > (UINT64_MAX - dgt) / 10)
      return -1;
    v = v * 10 + dgt;
    p++;
  }
  *end = p;
  *out = v;
  return 0;
}

static int
parse_hex32 (const char *s, uint32_t *out)
{
  size_t n = strlen (s);
  uint32_t v = 0;
  if (n == 0 || n > 8)
    return -1;
  for (size_t i = 0; i < n; i++) {
    int c = (unsigned char) s[i];
    if (!isxdigit (c))
      return -1;
    v = (v << 4) | (uint32_t) (isdigit (c) ? c - '0' : (tolower (c) - 'a' + 10));
  }
  *out = v;
  return 0;
}


static int
parse_extent (struct vd_desc_line *l, const char *s, const char *where,
              size_t lineno)
{
  struct vd_desc_extent *e = &l->ext;
  const char *p = s, *q;
  char word[16];
  char qb[96];
  size_t n;

  /* access */
  if (strncasecmp (p, "RW ", 3) == 0) { e->access = VD_ACCESS_RW; p += 3; }
  else if (strncasecmp (p, "RDONLY ", 7) == 0) { e->access = VD_ACCESS_RDONLY; p += 7; }
  else if (strncasecmp (p, "NOACCESS ", 9) == 0) { e->access = VD_ACCESS_NOACCESS; p += 9; }
  else
    return vd__corrupt (where, "line %zu: invalid extent access", lineno);
  while (*p == ' ' || *p == '\t') p++;
  if (parse_u64 (p, &q, &e->sectors) < 0 || e->sectors == 0
      || e->sectors > ((uint64_t) 1 << 53) / VD_SECTOR)
    return vd__corrupt (where, "line %zu: invalid extent size \"%s\" (must "
                        "be 1 to "
                        "2^44 sectors)", lineno,
                        vd__quote (qb, sizeof qb, p, strcspn (p, " \t")));
  p = q;
  if (*p != ' ' && *p != '\t')
    return vd__corrupt (where, "line %zu: invalid extent line", lineno);
  while (*p == ' ' || *p == '\t') p++;
  n = strcspn (p, " \t");
  if (n == 0 || n >= sizeof word)
    return vd__corrupt (where, "line %zu: invalid extent type", lineno);
  for (size_t i = 0; i < n; i++)
    word[i] = (char) toupper ((unsigned char) p[i]);
  word[n] = '\0';
  {
    int found = 0;
    for (size_t i = 0; extent_types[i]; i++)
      if (strcmp (word, extent_types[i]) == 0)
        found = 1;
    if (!found)
      return vd__corrupt (where, "line %zu: unknown extent type \"%s\"", lineno,
                          vd__quote (qb, sizeof qb, p, n));
  }
  memcpy (e->type, word, n + 1);
  p += n;
  while (*p == ' ' || *p == '\t') p++;
  if (strcmp (e->type, "ZERO") == 0) {
    if (*p)
      return vd__corrupt (where, "line %zu: ZERO extent must not name a file",
                          lineno);
    return 0;
  }
  if (*p != '"')
    return vd__corrupt (where, "line %zu: %s extent without a quoted file name",
                        lineno, e->type);
  p++;
  q = strchr (p, '"');
  if (!q)
    return vd__corrupt (where, "line %zu: extent file name has no closing "
                        "quote", lineno);
  if (q == p)
    return vd__corrupt (where, "line %zu: empty extent file name", lineno);
  e->file = strndup (p, (size_t) (q - p));
  if (!e->file)
    return vd__error (VD_ENOMEM, errno, "descriptor");
  p = q + 1;
  while (*p == ' ' || *p == '\t') p++;
  /* FLAT lines carry their start offset in the file (QEMU requires it,
   * as every VMware-written descriptor has it). */
  if (!*p && strcmp (e->type, "FLAT") == 0)
    return vd__corrupt (where, "line %zu: FLAT extent without an offset",
                        lineno);
  if (*p) {
    if (parse_u64 (p, &q, &e->offset) < 0)
      return vd__corrupt (where, "line %zu: invalid extent offset \"%s\"",
                          lineno, vd__quote (qb, sizeof qb, p, strlen (p)));
    e->has_offset = 1;
    p = q;
    while (*p == ' ' || *p == '\t') p++;
    if (*p)
      return vd__corrupt (where, "line %zu: trailing garbage after extent "
                          "line \"%s\"", lineno, vd__quote (qb, sizeof qb, p,
                          strlen (p)));
    if (strcmp (e->type, "FLAT") != 0)
      return vd__corrupt (where, "line %zu: %s extent must not have an offset",
                          lineno, e->type);
    if (e->offset > ((uint64_t) 1 << 53) / VD_SECTOR
        || e->offset + e->sectors > ((uint64_t) 1 << 53) / VD_SECTOR)
      return vd__corrupt (where, "line %zu: extent offset + size overflows",
                          lineno);
  }
  return 0;
}

static int
parse_line (struct vd_descriptor *d, const char *s, size_t len,
            const char *where, size_t lineno)
{
  struct vd_desc_line *l;
  char buf[MAX_LINE + 1];
  char qb[96];
  const char *p;
  size_t n;

  if (len > MAX_LINE)
    return vd__corrupt (where, "line %zu is longer than %d bytes", lineno,
                        MAX_LINE);
  memcpy (buf, s, len);
  buf[len] = '\0';
  if (len && buf[len - 1] == '\r') {
    buf[--len] = '\0';
    d->crlf = 1;
  }
  l = new_line (d, d->n_lines);
  if (!l)
    return VD_ENOMEM;
  l->raw = strdup (buf);
  if (!l->raw)
    return vd__error (VD_ENOMEM, errno, "descriptor");

  p = buf;
  while (*p == ' ' || *p == '\t') p++;
  if (*p == '\0' || *p == '#') {
    l->kind = VD_LINE_OTHER;
    return 0;
  }
  /* Keys and structure are ASCII; values may carry the encoding's bytes. */
  for (const char *c = p; *c; c++)
    if ((unsigned char) *c < 0x20 && *c != '\t')
      return vd__corrupt (where, "line %zu: control character 0x%02x", lineno,
                          (unsigned char) *c);
  if (strncasecmp (p, "RW ", 3) == 0 || strncasecmp (p, "RDONLY ", 7) == 0
      || strncasecmp (p, "NOACCESS ", 9) == 0
      || strncasecmp (p, "RW\t", 3) == 0) {
    l->kind = VD_LINE_EXTENT;
    if (d->n_extents >= VD_MAX_EXTENTS)
      return vd__corrupt (where, "more than %d extents", VD_MAX_EXTENTS);
    d->n_extents++;
    return parse_extent (l, p, where, lineno);
  }
  n = 0;
  while (key_char ((unsigned char) p[n]))
    n++;
  if (n == 0 || n > MAX_KEY)
    return vd__corrupt (where, "line %zu: unrecognised line \"%s\"", lineno,
                        vd__quote (qb, sizeof qb, p, strlen (p)));
  l->key = strndup (p, n);
  if (!l->key)
    return vd__error (VD_ENOMEM, errno, "descriptor");
  p += n;
  while (*p == ' ' || *p == '\t') p++;
  if (*p != '=')
    return vd__corrupt (where, "line %zu: unrecognised line (no '=' after "
                        "\"%s\")", lineno, vd__quote (qb, sizeof qb, l->key,
                        n));
  p++;
  while (*p == ' ' || *p == '\t') p++;
  /* trailing white space is not part of the value */
  n = strlen (p);
  while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
    n--;
  if (n && p[0] == '"') {
    if (n < 2 || p[n - 1] != '"')
      return vd__corrupt (where, "line %zu: value of %s has no closing quote",
                          lineno, l->key);
    l->quoted = 1;
    l->value = strndup (p + 1, n - 2);
    if (l->value && strchr (l->value, '"'))
      return vd__corrupt (where, "line %zu: value of %s holds a quote", lineno,
                          l->key);
  }
  else
    l->value = strndup (p, n);
  if (!l->value)
    return vd__error (VD_ENOMEM, errno, "descriptor");
  if (strncasecmp (l->key, "ddb.", 4) == 0)
    l->kind = VD_LINE_DDB;
  else
    l->kind = VD_LINE_HEADER;
  return 0;
}

static int
count_key (const struct vd_descriptor *d, const char *key)
{
  int c = 0;
  for (size_t i = 0; i < d->n_lines; i++)
    if (d->lines[i].kind == VD_LINE_HEADER
        && strcasecmp (d->lines[i].key, key) == 0)
      c++;
  return c;
}

static int
validate (struct vd_descriptor *d, const char *where)
{
  static const char *const single[] = { "version", "CID", "parentCID",
    "createType", "parentFileNameHint", "encoding", NULL };
  const char *v;
  char qb[96];
  uint32_t x;

  for (size_t i = 0; single[i]; i++)
    if (count_key (d, single[i]) > 1)
      return vd__corrupt (where, "%s appears more than once", single[i]);
  v = vd__desc_get (d, "version");
  if (!v)
    return vd__corrupt (where, "descriptor has no version= line");
  if (strcmp (v, "1") && strcmp (v, "2") && strcmp (v, "3"))
    return vd__corrupt (where, "unsupported descriptor version \"%s\" (1 to 3 "
                        "supported)", vd__quote (qb, sizeof qb, v, strlen (v)));
  v = vd__desc_get (d, "createType");
  if (!v)
    return vd__corrupt (where, "descriptor has no createType");
  {
    int found = 0;
    for (size_t i = 0; known_create_types[i]; i++)
      if (strcasecmp (v, known_create_types[i]) == 0)
        found = 1;
    if (!found)
      return vd__corrupt (where, "unknown createType \"%s\"",
                          vd__quote (qb, sizeof qb, v, strlen (v)));
  }
  v = vd__desc_get (d, "CID");
  if (v && parse_hex32 (v, &x) < 0)
    return vd__corrupt (where, "invalid CID \"%s\" (must be 1 to 8 hex digits)",
                        vd__quote (qb, sizeof qb, v, strlen (v)));
  v = vd__desc_get (d, "parentCID");
  if (v && parse_hex32 (v, &x) < 0)
    return vd__corrupt (where, "invalid parentCID \"%s\" (must be 1 to 8 hex "
                        "digits)", vd__quote (qb, sizeof qb, v, strlen (v)));
  if (d->n_extents == 0)
    return vd__corrupt (where, "descriptor lists no extents");
  return 0;
}

int
vd__desc_parse (struct vd_descriptor **out, const char *text, size_t len,
                const char *where)
{
  struct vd_descriptor *d;
  const char *nul = memchr (text, '\0', len);
  size_t lineno = 0;
  int r;

  *out = NULL;
  if (nul)
    len = (size_t) (nul - text);
  if (len > VD_MAX_DESC_BYTES)
    return vd__corrupt (where, "descriptor larger than 1 MiB");
  d = calloc (1, sizeof *d);
  if (!d)
    return vd__error (VD_ENOMEM, errno, "descriptor");
  for (size_t i = 0; i < len;) {
    const char *e = memchr (text + i, '\n', len - i);
    size_t n = e ? (size_t) (e - (text + i)) : len - i;
    r = parse_line (d, text + i, n, where, ++lineno);
    if (r < 0) {
      vd__desc_free (d);
      return r;
    }
    i += n + 1;
  }
  r = reindex (d);
  if (r == 0)
    r = validate (d, where);
  if (r < 0) {
    vd__desc_free (d);
    return r;
  }
  *out = d;
  return 0;
}

static struct vd_desc_line *
find (const struct vd_descriptor *d, enum vd_line_kind kind, const char *key)
{
  for (size_t i = 0; i < d->n_lines; i++)
    if (d->lines[i].kind == kind && strcasecmp (d->lines[i].key, key) == 0)
      return &d->lines[i];
  return NULL;
}

const char *
vd__desc_get (const struct vd_descriptor *d, const char *key)
{
  struct vd_desc_line *l = find (d, VD_LINE_HEADER, key);
  return l ? l->value : NULL;
}

static struct vd_desc_line *
find_ddb (const struct vd_descriptor *d, const char *key)
{
  size_t h;
  if (!d->hash_cap)
    return NULL;
  h = key_hash (key) & (d->hash_cap - 1);
  for (; d->ddb_hash[h]; h = (h + 1) & (d->hash_cap - 1))
    if (strcasecmp (d->lines[d->ddb_hash[h] - 1].key, key) == 0)
      return &d->lines[d->ddb_hash[h] - 1];
  return NULL;
}

const char *
vd__desc_get_ddb (const struct vd_descriptor *d, const char *key)
{
  struct vd_desc_line *l = find_ddb (d, key);
  return l ? l->value : NULL;
}

size_t
vd__desc_ddb_count (const struct vd_descriptor *d)
{
  return d ? d->n_ddb : 0;
}

const struct vd_desc_line *
vd__desc_ddb_line (const struct vd_descriptor *d, size_t i)
{
  return d && i < d->n_ddb ? &d->lines[d->ddb_at[i]] : NULL;
}

int
vd__desc_value_ok (const char *s)
{
  for (; *s; s++)
    if (*s == '"' || *s == '\r' || *s == '\n')
      return 0;
  return 1;
}

static int
set_value (struct vd_desc_line *l, const char *value, int quoted)
{
  char *v = strdup (value);
  if (!v)
    return vd__error (VD_ENOMEM, errno, "descriptor");
  free (l->value);
  l->value = v;
  l->quoted = quoted;
  l->modified = 1;
  return 0;
}

static size_t
last_of (const struct vd_descriptor *d, enum vd_line_kind kind)
{
  size_t at = SIZE_MAX;
  for (size_t i = 0; i < d->n_lines; i++)
    if (d->lines[i].kind == kind)
      at = i;
  return at;
}

static int
insert_kv (struct vd_descriptor *d, size_t at, enum vd_line_kind kind,
           const char *key, const char *value, int quoted)
{
  struct vd_desc_line *l = new_line (d, at);
  if (!l)
    return VD_ENOMEM;
  l->kind = kind;
  l->modified = 1;
  l->quoted = quoted;
  l->key = strdup (key);
  l->value = strdup (value);
  if (!l->key || !l->value)
    return vd__error (VD_ENOMEM, errno, "descriptor");
  return 0;
}

int
vd__desc_set (struct vd_descriptor *d, const char *key, const char *value,
              int quoted)
{
  struct vd_desc_line *l = find (d, VD_LINE_HEADER, key);
  if (!vd__desc_value_ok (value))
    return vd__error (VD_EINVAL, 0, "descriptor value for %s holds a quote "
                     "or line break", key);
  if (l)
    return set_value (l, value, quoted);
  size_t at = last_of (d, VD_LINE_HEADER);
  int r = insert_kv (d, at == SIZE_MAX ? d->n_lines : at + 1,
                     VD_LINE_HEADER, key, value, quoted);
  int r2 = reindex (d);        /* the lines after it moved */
  return r < 0 ? r : r2;
}

int
vd__desc_set_ddb (struct vd_descriptor *d, const char *key, const char *value)
{
  struct vd_desc_line *l = find_ddb (d, key);
  if (!value) {
    /* every line of the key (a duplicate would otherwise show through) */
    size_t k = 0;
    if (!l)
      return 0;
    for (size_t i = 0; i < d->n_lines; i++) {
      if (d->lines[i].kind == VD_LINE_DDB
          && strcasecmp (d->lines[i].key, key) == 0)
        free_line (&d->lines[i]);
      else
        d->lines[k++] = d->lines[i];
    }
    d->n_lines = k;
    return reindex (d);
  }
  if (!vd__desc_value_ok (value))
    return vd__error (VD_EINVAL, 0, "value for %s holds a quote or line "
                     "break", key);
  if (l)
    return set_value (l, value, 1);
  size_t at = d->n_ddb ? d->ddb_at[d->n_ddb - 1] : SIZE_MAX;
  int r = insert_kv (d, at == SIZE_MAX ? d->n_lines : at + 1, VD_LINE_DDB,
                     key, value, 1);
  int r2 = reindex (d);
  return r < 0 ? r : r2;
}

int
vd__desc_set_ddb_many (struct vd_descriptor *d, const char *const *keys,
                       const char *const *values, size_t n)
{
  size_t m = 0;
  int r = 0;
  for (size_t i = 0; i < n; i++)
    if (!vd__desc_value_ok (values[i]) || !vd__desc_value_ok (keys[i]))
      return vd__error (VD_EINVAL, 0, "value for %s holds a quote or line "
                       "break", keys[i]);
  /* existing keys in place; count the new ones */
  char *is_new = calloc (n + 1, 1);
  if (!is_new)
    return vd__error (VD_ENOMEM, errno, "descriptor");
  for (size_t i = 0; i < n && r == 0; i++) {
    struct vd_desc_line *l = find_ddb (d, keys[i]);
    if (l)
      r = set_value (l, values[i], 1);
    else {
      is_new[i] = 1;
      m++;
    }
  }
  if (r == 0 && m) {
    if (d->n_lines + m > d->cap_lines) {
      size_t cap = d->cap_lines ? d->cap_lines : 32;
      while (cap < d->n_lines + m)
        cap *= 2;
      struct vd_desc_line *p = realloc (d->lines, cap * sizeof *p);
      if (!p)
        r = vd__error (VD_ENOMEM, errno, "descriptor");
      else {
        d->lines = p;
        d->cap_lines = cap;
      }
    }
    if (r == 0) {
      size_t at = d->n_ddb ? d->ddb_at[d->n_ddb - 1] + 1 : d->n_lines;
      memmove (&d->lines[at + m], &d->lines[at],
               (d->n_lines - at) * sizeof *d->lines);
      memset (&d->lines[at], 0, m * sizeof *d->lines);
      d->n_lines += m;
      for (size_t i = 0, j = at; i < n; i++) {
        if (!is_new[i])
          continue;
        struct vd_desc_line *l = &d->lines[j++];
        l->kind = VD_LINE_DDB;
        l->modified = 1;
        l->quoted = 1;
        l->key = strdup (keys[i]);
        l->value = strdup (values[i]);
        if ((!l->key || !l->value) && r == 0)
          r = vd__error (VD_ENOMEM, errno, "descriptor");
      }
      int r2 = reindex (d);
      if (r == 0)
        r = r2;
    }
  }
  free (is_new);
  return r;
}

struct vd_desc_line *
vd__desc_extent_line (struct vd_descriptor *d, size_t i)
{
  return d && i < d->n_extents ? &d->lines[d->ext_at[i]] : NULL;
}

const struct vd_desc_extent *
vd__desc_extent (const struct vd_descriptor *d, size_t i)
{
  return d && i < d->n_extents ? &d->lines[d->ext_at[i]].ext : NULL;
}

int
vd__desc_add_extent (struct vd_descriptor *d, const struct vd_desc_extent *e)
{
  size_t at = d->n_extents ? d->ext_at[d->n_extents - 1] : SIZE_MAX;
  struct vd_desc_line *l;
  if (e->file && !vd__desc_value_ok (e->file))
    return vd__error (VD_EINVAL, 0, "extent file name holds a quote or line "
                     "break");
  l = new_line (d, at == SIZE_MAX ? d->n_lines : at + 1);
  if (!l)
    return VD_ENOMEM;
  l->kind = VD_LINE_EXTENT;
  l->modified = 1;
  l->ext = *e;
  l->ext.file = e->file ? strdup (e->file) : NULL;
  if (e->file && !l->ext.file) {
    reindex (d);
    return vd__error (VD_ENOMEM, errno, "descriptor");
  }
  return reindex (d);
}

static const char *
access_name (enum vd_access a)
{
  return a == VD_ACCESS_RDONLY ? "RDONLY"
       : a == VD_ACCESS_NOACCESS ? "NOACCESS" : "RW";
}

char *
vd__desc_emit (const struct vd_descriptor *d, size_t *lenp)
{
  size_t cap = 1024, len = 0;
  char *out = malloc (cap);
  if (!out) {
    vd__error (VD_ENOMEM, errno, "descriptor");
    return NULL;
  }
  for (size_t i = 0; i < d->n_lines; i++) {
    const struct vd_desc_line *l = &d->lines[i];
    char *s = NULL;
    int n;
    if (!l->modified && l->raw)
      n = asprintf (&s, "%s\n", l->raw);
    else if (l->kind == VD_LINE_EXTENT) {
      const struct vd_desc_extent *e = &l->ext;
      if (!e->file)
        n = asprintf (&s, "%s %llu %s\n", access_name (e->access),
                      (unsigned long long) e->sectors, e->type);
      else if (e->has_offset)
        n = asprintf (&s, "%s %llu %s \"%s\" %llu\n", access_name (e->access),
                      (unsigned long long) e->sectors, e->type, e->file,
                      (unsigned long long) e->offset);
      else
        n = asprintf (&s, "%s %llu %s \"%s\"\n", access_name (e->access),
                      (unsigned long long) e->sectors, e->type, e->file);
    }
    else if (l->kind == VD_LINE_DDB)
      n = asprintf (&s, "%s = \"%s\"\n", l->key, l->value);
    else if (l->quoted)
      n = asprintf (&s, "%s=\"%s\"\n", l->key, l->value);
    else
      n = asprintf (&s, "%s=%s\n", l->key, l->value);
    if (n < 0) {
      free (out);
      vd__error (VD_ENOMEM, errno, "descriptor");
      return NULL;
    }
    if (len + (size_t) n + 1 > cap) {
      while (len + (size_t) n + 1 > cap)
        cap *= 2;
      char *p = realloc (out, cap);
      if (!p) {
        free (s);
        free (out);
        vd__error (VD_ENOMEM, errno, "descriptor");
        return NULL;
      }
      out = p;
    }
    memcpy (out + len, s, (size_t) n);
    len += (size_t) n;
    free (s);
  }
  out[len] = '\0';
  if (lenp)
    *lenp = len;
  return out;
}

/* ---- the change-tracking section ---------------------------------------- */

static int
insert_raw (struct vd_descriptor *d, size_t at, const char *text)
{
  struct vd_desc_line *l = new_line (d, at);
  if (!l)
    return VD_ENOMEM;
  l->kind = VD_LINE_OTHER;
  l->raw = strdup (text);
  if (!l->raw)
    return vd__error (VD_ENOMEM, errno, "descriptor");
  return 0;
}

static void
remove_line (struct vd_descriptor *d, size_t i)
{
  free_line (&d->lines[i]);
  memmove (&d->lines[i], &d->lines[i + 1],
           (d->n_lines - i - 1) * sizeof *d->lines);
  d->n_lines--;
}

/* VMware's layout: after the extent lines, a blank line, the comment
 * "# Change Tracking File" and changeTrackPath="NAME".  file NULL removes
 * the key with its comment and the blank line before it. */
int
vd__desc_set_change_track (struct vd_descriptor *d, const char *file)
{
  struct vd_desc_line *l = find (d, VD_LINE_HEADER, "changeTrackPath");
  if (file) {
    if (!vd__desc_value_ok (file))
      return vd__error (VD_EINVAL, 0, "change-tracking file name holds a "
                       "quote or line break");
    if (l)
      return set_value (l, file, 1);
    size_t at = last_of (d, VD_LINE_EXTENT);
    at = at == SIZE_MAX ? d->n_lines : at + 1;
    int r = insert_raw (d, at, "");
    if (r == 0)
      r = insert_raw (d, at + 1, "# Change Tracking File");
    if (r == 0)
      r = insert_kv (d, at + 2, VD_LINE_HEADER, "changeTrackPath", file, 1);
    /* the lines after moved: the extent and ddb indexes point at them */
    int r2 = reindex (d);
    return r < 0 ? r : r2;
  }
  if (!l)
    return 0;
  size_t i = (size_t) (l - d->lines);
  remove_line (d, i);
  if (i > 0 && d->lines[i - 1].kind == VD_LINE_OTHER && d->lines[i - 1].raw
      && strcasecmp (d->lines[i - 1].raw, "# Change Tracking File") == 0) {
    remove_line (d, --i);
    if (i > 0 && d->lines[i - 1].kind == VD_LINE_OTHER && d->lines[i - 1].raw
        && d->lines[i - 1].raw[0] == '\0')
      remove_line (d, --i);
  }
  return reindex (d);
}
