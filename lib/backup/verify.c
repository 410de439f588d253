/* vdisk backup verify: every file of a point against its manifest hashes,
 * and every disk chain read whole and checked. */
#include "backup-int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- verify ---------------------------------------------------------------- */

/* A file against its manifest entry: the first chunk that differs. */
static int
verify_file (const char *repo, const char *point_dir, json_object *fe)
{
  const char *name = vd__bk_jstr (fe, "name");
  /* a disk file's SHA-256 of its chunks' digests of their leaves
   * (hash.c); of older points, of their chunks' SHA-256s; or (files, and
   * disk files older still) the SHA-256 of the whole file */
  const char *leafy = vd__bk_jstr (fe, "sha256_tree");
  const char *tree = leafy ? leafy : vd__bk_jstr (fe, "sha256_of_chunks");
  const char *want = tree ? tree : vd__bk_jstr (fe, "sha256");
  /* chunk_crc64 (where the first difference is); older manifests had
   * a SHA-256 per chunk ("chunks"): those are checked whole */
  json_object *chunks = vd__bk_jarr (fe, "chunk_crc64");
  json_object *old_chunks = vd__bk_jarr (fe, "chunks");
  int64_t cs = vd__bk_jint (fe, "chunk_size", 0);
  int64_t size = vd__bk_jint (fe, "size", -1);
  if (!name || !want || (!chunks && !old_chunks) || cs < (int64_t) HASH_CHUNK_MIN
      || (cs & (cs - 1)) || size < 0)
    return vd__error (VD_ECORRUPT, 0, "%s: manifest entry %s is incomplete",
                     point_dir, name ? name : "?");
  if (leafy && vd__bk_jint (fe, "leaf_size", 0) != HASH_LEAF)
    return vd__error (VD_ECORRUPT, 0, "%s: manifest entry %s: leaf size "
                     "%lld (this vdisk hashes %u-byte leaves)", point_dir,
                     name, (long long) vd__bk_jint (fe, "leaf_size", 0),
                     HASH_LEAF);
  /* files/NAME inside the point, or disks/KEY/NAME.vmdk in the repo */
  char *path = NULL;
  if (strncmp (name, "files/", 6) == 0 && vd__bk_plain_name (name + 6))
    path = vd__asprintf ("%s/%s", point_dir, name);
  else if (!(path = vd__bk_disk_path (repo, name)))
    return VD_ECORRUPT;
  if (!path)
    return VD_ENOMEM;
  char whole[65];
  uint64_t got_cs = (uint64_t) cs, got_size = 0;
  json_object *got = json_object_new_array ();
  int r = tree ? vd__bk_hash_chunks (path, got_cs, leafy != NULL, whole, got,
                                     NULL, &got_size)
              : vd__bk_hash_file (path, whole, got, &got_cs, &got_size);
  if (r == 0 && strcmp (whole, want) != 0) {
    size_t n = chunks ? json_object_array_length (chunks) : 0, m = json_object_array_length (got);
    size_t i = 0;
    for (; i < n && i < m; i++)
    {
      /* a hostile manifest's entry may be no string (null): a difference */
      const char *a = json_object_get_string (json_object_array_get_idx (chunks, i));
      const char *b = json_object_get_string (json_object_array_get_idx (got, i));
      if (!a || !b || strcmp (a, b))
        break;
    }
    if (got_size != (uint64_t) size && i == VD_MIN (n, m))
      r = vd__error (VD_ECORRUPT, 0, "%s: %llu bytes, the backup recorded "
                    "%lld", path, (unsigned long long) got_size,
                    (long long) size);
    else if (i == VD_MIN (n, m))
      r = vd__error (VD_ECORRUPT, 0, "%s: content differs from the backup "
                    "(SHA-256)", path);
    else
      r = vd__error (VD_ECORRUPT, 0, "%s: content differs from the backup "
                    "in bytes %llu..%llu", path,
                    (unsigned long long) i * (unsigned long long) cs,
                    (unsigned long long) (i + 1) * (unsigned long long) cs - 1);
  }
  json_object_put (got);
  free (path);
  return r;
}

static int
read_all_cb (uint64_t off, uint64_t len, uint32_t status, void *payload)
{
  struct copy *c = payload;
  if (status != VD_STATUS_DATA)
    return 0;
  while (len && c->r == 0) {
    size_t n = (size_t) VD_MIN (len, (uint64_t) COPY_CHUNK);
    c->r = vd_disk_read (c->src, c->buf, n, off);
    off += n;
    len -= n;
  }
  return c->r ? 1 : 0;
}

/* Seen: device names in the array seen (added when not). */
static int
seen_before (json_object *seen, const char *device)
{
  if (!seen)
    return 0;
  for (size_t i = 0; i < json_object_array_length (seen); i++)
    if (strcmp (json_object_get_string (json_object_array_get_idx (seen, i)),
                device ? device : "") == 0)
      return 1;
  json_object_array_add (seen, json_object_new_string (device ? device : ""));
  return 0;
}

/* One disk of a point: its own file against the manifest (hash), its
 * chain's metadata, and (read) every allocated byte of the chain. */
static int
verify_disk (const char *repo, const char *pdir, json_object *de, int hash,
             int read)
{
  json_object *fe;
  char *path = vd__bk_disk_file_of (repo, de);
  if (!path)
    return VD_ECORRUPT;
  int r = 0;
  if (!json_object_object_get_ex (de, "disk_file", &fe))
    r = vd__error (VD_ECORRUPT, 0, "%s: disk entry without its file", pdir);
  if (r == 0 && hash)
    r = verify_file (repo, pdir, fe);
  vd_disk *d = NULL;
  if (r == 0)
    r = vd_disk_open (&d, path, VD_OPEN_READ_ONLY);
  if (r == 0)
    r = vd__bk_chain_inside (repo, d);
  if (r == 0 && (uint64_t) vd__bk_jint (de, "capacity", -1) != vd_disk_get_size (d))
    r = vd__error (VD_ECORRUPT, 0, "%s: capacity differs from the manifest",
                  path);
  if (r == 0 && read) {
    struct copy c = { 0 };
    c.src = d;
    c.buf = malloc (COPY_CHUNK);
    r = c.buf ? vd_disk_block_status (d, 0, vd_disk_get_size (d), read_all_cb, &c)
              : vd__error (VD_ENOMEM, errno, "verify");
    if (r == 0)
      r = c.r;
    free (c.buf);
  }
  if (d)
    vd_disk_close (d);
  if (r == 0 && hash) {
    struct vd_check_result cr = { sizeof cr, 0, 0, 0, 0, 0, 0 };
    int k = vd_check (path, VD_OPEN_READ_ONLY, &cr, NULL, NULL);
    if (k < 0 || cr.corruptions)
      r = k < 0 ? k : vd__error (VD_ECORRUPT, 0, "%s: check finds %llu "
                                "corruptions", path,
                                (unsigned long long) cr.corruptions);
  }
  free (path);
  return r;
}

/* hash: the point's own files against its manifest, its disks' metadata;
 * read: every allocated byte of each disk's chain, except (seen not
 * NULL) of devices whose chain an earlier call read already. */
static int
verify_point (const char *repo, const char *point, int hash, int read,
              json_object *seen)
{
  json_object *m = vd__bk_load_manifest (repo, point);
  if (!m)
    return vd_last_error ()->code;
  char *pdir = vd__asprintf ("%s/%s", repo, point);
  int r = pdir ? 0 : VD_ENOMEM;
  json_object *files = vd__bk_jarr (m, "files"), *disks = vd__bk_jarr (m, "disks");
  if (!files || !disks)
    r = vd__error (VD_ECORRUPT, 0, "%s/manifest.json: no files or disks",
                  pdir);
  for (size_t i = 0; hash && r == 0 && i < json_object_array_length (files); i++)
    r = verify_file (repo, pdir, json_object_array_get_idx (files, i));
  for (size_t i = 0; r == 0 && i < json_object_array_length (disks); i++) {
    json_object *de = json_object_array_get_idx (disks, i);
    const char *kind = vd__bk_jstr (de, "kind");
    if (kind && strcmp (kind, "rdm") == 0 && !vd__bk_jstr (de, "file"))
      continue;           /* the descriptor only */
    int rd = read && !seen_before (seen, vd__bk_jstr (de, "device"));
    if (hash || rd)
      r = verify_disk (repo, pdir, de, hash, rd);
  }
  free (pdir);
  json_object_put (m);
  return r;
}

/* deep: also read every disk's whole chain (verify); restore reads it
 * anyway while converting, so it checks files and metadata only. */
int
vd__bk_verify_point (const char *repo, const char *point, int deep)
{
  return verify_point (repo, point, 1, deep, NULL);
}

int
vd_backup_verify (const char *repo, const char *point)
{
  VD_ENTER ();
  if (!repo)
    return vd__error (VD_EINVAL, 0, "no repository");
  if (point) {
    if (!vd__bk_is_point_name (point))
      return vd__error (VD_EINVAL, 0, "'%s' is not a point name", point);
    return vd__bk_verify_point (repo, point, 1);
  }
  size_t np;
  char **points = vd__bk_list_points (repo, &np);
  if (!points)
    return vd_last_error ()->code;
  int r = np ? 0 : vd__error (VD_ENOENT, 0, "%s: no backup points", repo);
  /* Every point's own files hashed (each file belongs to one point), then
   * each disk's chain read once, from its newest point: the links it
   * shares with older points are not read again for each of them. */
  for (size_t i = 0; i < np && r == 0; i++)
    r = verify_point (repo, points[i], 1, 0, NULL);
  json_object *seen = json_object_new_array ();
  for (size_t i = np; i > 0 && r == 0; i--)
    r = verify_point (repo, points[i - 1], 0, 1, seen);
  json_object_put (seen);
  vd__bk_strv_free (points);
  return r;
}
