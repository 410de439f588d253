/* Fleets (docs/fleet.md): inventories of VM disks from many sources, a
 * deterministic split of an inventory into shards, one result document
 * per disk written by rename, and the merged report.  No scheduler: the
 * shards run under whatever engine the user has (Kubernetes Indexed Jobs,
 * Slurm arrays, xargs -P), and a shard run again skips the disks it has
 * already finished.
 *
 * The manifest is JSON lines, one object per disk:
 *   {"id": "...", "uri": "...", "host": "...", "vm": ..., "vmx": ...,
 *    "device": ..., "capacity": N, "allocated": N, "depth": N}
 * A result is DIR/<id>.json (written to DIR/.<id>.json.<pid>.tmp, synced,
 * renamed): see vd_fleet_result_write. */
#include "fleet.h"


#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- small helpers ------------------------------------------------------ */

char *
vd__fleet_sdup (const char *s)
{
  return s ? strdup (s) : NULL;
}

/* A stable ID: the first 16 bytes of SHA-256 over kind, host, location. */
void
vd__fleet_make_id (char out[33], const char *kind, const char *host,
                   const char *loc)
{
  struct sha256_ctx c;
  uint8_t d[SHA256_DIGEST_SIZE];
  sha256_init (&c);
  sha256_update (&c, strlen (kind) + 1, (const uint8_t *) kind);
  sha256_update (&c, strlen (host) + 1, (const uint8_t *) host);
  sha256_update (&c, strlen (loc), (const uint8_t *) loc);
  sha256_digest (&c, sizeof d, d);
  for (int i = 0; i < 16; i++)
    snprintf (out + 2 * i, 3, "%02x", d[i]);
}

/* An ID is what make_id writes (it names a file). */
int
vd__fleet_id_ok (const char *id)
{
  size_t n = id ? strlen (id) : 0;
  if (n < 1 || n > 64)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'z')
          || (id[i] >= 'A' && id[i] <= 'Z') || id[i] == '-' || id[i] == '_'))
      return 0;
  return 1;
}

struct alloc_sum {
  uint64_t data;
};

static int
sum_data (uint64_t off, uint64_t len, uint32_t st, void *payload)
{
  (void) off;
  if (st == VD_STATUS_DATA)
    ((struct alloc_sum *) payload)->data += len;
  return 0;
}

int
vd__fleet_measure_disk (vd_disk *d, uint64_t *capacity, uint64_t *allocated,
                        unsigned *depth)
{
  struct alloc_sum s = { 0 };
  *capacity = vd_disk_get_size (d);
  *depth = vd_disk_get_link_count (d);
  int r = vd_disk_block_status (d, 0, *capacity, sum_data, &s);
  *allocated = s.data;
  return r;
}

/* Capacity, allocated bytes (the allocation map) and chain depth of the
 * disk at path.  0 or an error. */
static int
measure (const char *path, uint64_t *capacity, uint64_t *allocated,
         unsigned *depth)
{
  vd_disk *d;
  int r = vd_disk_open (&d, path, VD_OPEN_READ_ONLY);
  if (r < 0)
    return r;
  r = vd__fleet_measure_disk (d, capacity, allocated, depth);
  vd_disk_close (d);
  return r;
}

/* ---- inventory: a folder of VMs ----------------------------------------- */

struct folder_walk {
  vd_fleet_disk_cb cb;
  void *payload;
  const char *host;
  int stop, err;
};

static int
folder_disk (const char *vmx, const char *display, const char *device,
             const char *disk, void *payload)
{
  struct folder_walk *fw = payload;
  struct vd_fleet_disk fd;
  char id[33], *real, *realvmx;
  int r;

  if (!disk)
    return 0;                   /* a VM without disks: nothing to do */
  real = realpath (disk, NULL);
  realvmx = realpath (vmx, NULL);
  memset (&fd, 0, sizeof fd);
  fd.uri = real ? real : disk;
  fd.vmx = realvmx ? realvmx : vmx;
  fd.host = fw->host;
  fd.vm = display;
  fd.device = device;
  vd__fleet_make_id (id, "file", fw->host, fd.uri);
  fd.id = id;
  r = measure (fd.uri, &fd.capacity, &fd.allocated, &fd.depth);
  if (r < 0) {
    free (real);
    free (realvmx);
    fw->err = r;
    return 1;
  }
  fw->stop = fw->cb (&fd, fw->payload);
  free (real);
  free (realvmx);
  return fw->stop;
}

/* ---- inventory: a vdisk server ----------------------------------------- */

struct export {
  char *name, *parent_of;       /* parent_of: the child naming it */
};

struct export_list {
  struct export *v;
  size_t n, cap;
  int err;
};

static int
add_export (const char *name, const char *description, void *payload)
{
  struct export_list *l = payload;
  /* "fcd:ID[@SSID]" (a first class disk or its snapshot) names a disk the
   * list gives by its path too: not a second disk */
  if (strncmp (name, "fcd:", 4) == 0)
    return 0;
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 64;
    struct export *nv = nc > FLEET_MAX_DISKS ? NULL
                        : realloc (l->v, nc * sizeof *nv);
    if (!nv) {
      l->err = 1;
      return 1;
    }
    l->v = nv;
    l->cap = nc;
  }
  l->v[l->n].name = strdup (name);
  l->v[l->n].parent_of = description
                         && strncmp (description, "parent of ", 10) == 0
                         ? strdup (description + 10) : NULL;
  if (!l->v[l->n].name) {
    free (l->v[l->n].parent_of);
    l->err = 1;
    return 1;
  }
  l->n++;
  return 0;
}

/* The host part of an NBD URI: "unix:SOCKET" for the unix schemes, else
 * HOST[:PORT] without the user. */
static char *
uri_host (const char *uri)
{
  const char *p = strstr (uri, "://"), *end, *at, *sock;
  if (!p)
    return NULL;
  if (strstr (uri, "+unix://")) {
    sock = strstr (uri, "?socket=");
    if (!sock)
      sock = strstr (uri, "&socket=");
    if (sock) {
      sock += 8;
      return vd__asprintf ("unix:%.*s", (int) strcspn (sock, "&#"), sock);
    }
  }
  p += 3;
  end = p + strcspn (p, "/?#");
  at = memchr (p, '@', (size_t) (end - p));
  if (at)
    p = at + 1;
  return vd__asprintf ("%.*s", (int) (end - p), p);
}

/* The URI of export name on the server named by base: the path after
 * the authority replaced (percent-encoded), the query kept. */
static char *
export_uri (const char *base, const char *name)
{
  const char *auth = strstr (base, "://"), *path, *query;
  size_t n = strlen (name);
  char *enc = malloc (3 * n + 1), *q = enc, *r;
  if (!auth || !enc) {
    free (enc);
    return NULL;
  }
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char) name[i];
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
        || (c >= '0' && c <= '9') || strchr ("-._~/", c))
      *q++ = (char) c;
    else
      q += sprintf (q, "%%%02X", c);
  }
  *q = '\0';
  path = strchr (auth + 3, '/');
  query = strchr (auth + 3, '?');
  if (!path || (query && query < path))
    path = query ? query : base + strlen (base);
  r = vd__asprintf ("%.*s/%s%s", (int) (path - base), base, enc,
                    query ? query : "");
  free (enc);
  return r;
}

static int
server_inventory (const char *uri, vd_fleet_disk_cb cb, void *payload)
{
  struct export_list l = { NULL, 0, 0, 0 };
  char *host = uri_host (uri);
  int r;

  if (!host)
    return vd__error (VD_EINVAL, 0, "%s: not an NBD URI", uri);
  r = vd_nbd_list_exports (uri, add_export, &l);
  if (r == 0 && l.err)
    r = vd__error (VD_ENOMEM, ENOMEM, "%s: export list", uri);
  for (size_t i = 0; r == 0 && i < l.n; i++) {
    struct vd_fleet_disk fd;
    char id[33], *u, *slash;
    if (l.v[i].parent_of)
      continue;                 /* an older link of a listed chain */
    memset (&fd, 0, sizeof fd);
    u = export_uri (uri, l.v[i].name);
    if (!u) {
      r = vd__error (VD_ENOMEM, ENOMEM, "%s", uri);
      break;
    }
    vd__fleet_make_id (id, "nbd", host, l.v[i].name);
    fd.id = id;
    fd.uri = u;
    fd.host = host;
    /* the VM: the folder the disk is in on the datastore */
    char *vm = strdup (l.v[i].name);
    if (vm && (slash = strrchr (vm, '/'))) {
      *slash = '\0';
      fd.vm = (slash = strrchr (vm, '/')) ? slash + 1 : vm;
    }
    r = measure (u, &fd.capacity, &fd.allocated, &fd.depth);
    /* the server serves the whole chain as one raw disk: count the links
     * by the "parent of" descriptions */
    fd.depth = 1;
    for (const char *cur = l.v[i].name; cur && fd.depth < 1000;) {
      const char *next = NULL;
      for (size_t j = 0; j < l.n && !next; j++)
        if (l.v[j].parent_of && strcmp (l.v[j].parent_of, cur) == 0)
          next = l.v[j].name;
      if (next)
        fd.depth++;
      cur = next;
    }
    if (r == 0 && cb (&fd, payload))
      i = l.n;
    free (vm);
    free (u);
  }
  for (size_t i = 0; i < l.n; i++) {
    free (l.v[i].name);
    free (l.v[i].parent_of);
  }
  free (l.v);
  free (host);
  return r;
}

VD_API int
vd_fleet_inventory (const char *source, vd_fleet_disk_cb cb, void *payload)
{
  VD_ENTER ();
  struct stat st;
  char host[256];

  if (!source || !cb)
    return vd__error (VD_EINVAL, 0, "fleet inventory: no source");
  if (strncmp (source, "vsphere://", 10) == 0)
    return vd__fleet_vsphere_inventory (source, cb, payload);
  if (vd__is_uri (source))
    return server_inventory (source, cb, payload);
  if (stat (source, &st) < 0)
    return vd__error (vd__errno_code (errno), errno, "%s", source);
  if (!S_ISDIR (st.st_mode))
    return vd__error (VD_EINVAL, 0, "%s: not a folder of VMs or an NBD URI",
                     source);
  if (gethostname (host, sizeof host) < 0)
    snprintf (host, sizeof host, "localhost");
  host[sizeof host - 1] = '\0';
  struct folder_walk fw = { cb, payload, host, 0, 0 };
  int r = vd_find_vm_disks (source, folder_disk, &fw);
  return r < 0 ? r : fw.err;
}
