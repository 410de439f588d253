/* Commit (consolidate): copy what the links above an ancestor hold into
 * it, give it a new CID, point the child at it and remove the links in
 * between; crash-safe and idempotent (the CID is recorded first). */
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

/* ---- commit -------------------------------------------------------------------------------- */

#define UNIT 512u
#define CHUNK (1u << 20)

struct mark {
  uint8_t *bits;     /* one bit per 512-byte unit of the chunk */
  uint64_t base;
};

static int
mark_alloc (uint64_t off, uint64_t len, uint32_t st, void *p)
{
  struct mark *m = p;
  if (st == VD_STATUS_HOLE)
    return 0;
  for (uint64_t u = (off - m->base) / UNIT;
       u < VD_DIV_ROUND_UP (off + len - m->base, UNIT); u++)
    m->bits[u / 8] |= (uint8_t) (1u << (u % 8));
  return 0;
}

static int
ignore_range (uint64_t off, uint64_t len, uint32_t st, void *p)
{
  (void) off; (void) len; (void) st; (void) p;
  return 0;
}

static int
is_marked (const struct mark *m, uint64_t u)
{
  return (m->bits[u / 8] >> (u % 8)) & 1;
}

/* The index k of ancestor_path among the child's links (1, the parent,
 * when it is NULL). */
static int
commit_find_ancestor (vd_disk *c, const char *child_path,
                      const char *ancestor_path, unsigned *k)
{
  if (c->n_links < 2)
    return vd__error (VD_EPARENT, 0, "%s: has no parent to commit into",
                      child_path);
  *k = 1;
  if (ancestor_path) {
    for (*k = 1; *k < c->n_links; (*k)++)
      if (vd__same_path (c->links[*k]->path, ancestor_path))
        break;
    if (*k == c->n_links)
      return vd__error (VD_EPARENT, 0, "%s: %s is not an ancestor of this "
                        "disk", child_path, ancestor_path);
  }
  return 0;
}

/* 0. Nothing but this chain may depend on what changes: the ancestor
 * gets a new CID and the links between are left without a use, so a
 * second child of any of them (a sibling of this chain) would no
 * longer open; and the ancestor's files must be its own. */
static int
commit_check_users (vd_disk *c, unsigned k, const char *child_path)
{
  for (unsigned li = 1; li <= k; li++) {
    struct vd_file_id id, below;
    struct vd_user u;
    if (vd__file_id (c->links[li]->path, &id) < 0
        || vd__file_id (c->links[li - 1]->path, &below) < 0)
      continue;
    if (vd__find_user (c->links[li]->dir, &id, 1, VD_USE_PARENT, &below, 1,
                       &c->links[li]->cid, &u)) {
      int r = vd__error (VD_EPARENT, 0, "%s: %s is another child of %s and "
                         "would no longer open after a commit %s it (force "
                         "to do it anyway)", child_path, u.disk,
                         c->links[li]->path, li == k ? "into" : "through");
      free (u.disk);
      return r;
    }
  }
  return vd__refuse_shared (c->links[k], 0, "committing into it",
                            "force to do it anyway");
}

/* 0. A corrupt table or an unreadable (NOACCESS) extent in a link to
 * merge would stop the copy half-way with the ancestor changed: check
 * every such link first. */
static int
commit_check_links (vd_disk *c, unsigned k)
{
  int r = 0;
  for (unsigned li = 0; li < k && r == 0; li++) {
    struct vd_link *l = c->links[li];
    for (size_t i = 0; i < l->n_extents && r == 0; i++)
      if (l->extents[i].access == VD_ACCESS_NOACCESS)
        r = vd__error (VD_EIO, 0, "%s: extent at byte %llu is NOACCESS; "
                      "its data cannot be read to commit it", l->path,
                      (unsigned long long) l->extents[i].start);
    if (r == 0)
      r = vd__link_block_status (l, 0, c->top->size, ignore_range, NULL);
  }
  return r;
}

/* 1. Record the CID the ancestor will have (or reuse the one of an
 * interrupted commit), so the chain stays readable meanwhile. */
static int
commit_record_cid (vd_disk *c, uint32_t *new_cid)
{
  char cidbuf[16];
  int r;

  *new_cid = c->commit_cid ? c->commit_cid : vd__random_cid ();
  if (c->commit_cid)
    return 0;
  snprintf (cidbuf, sizeof cidbuf, "%08x", *new_cid);
  pthread_mutex_lock (&c->top->mu);
  r = vd__desc_set_ddb (c->top->desc, VD_COMMIT_KEY, cidbuf);
  if (r == 0)
    r = vd__link_write_descriptor (c->top);
  pthread_mutex_unlock (&c->top->mu);
  if (r < 0)
    return r;
  c->commit_cid = *new_cid;
  return 0;
}

/* 3. Copy whatever the links above the ancestor (k) hold, data and
 * zeros, read through the child: idempotent, so a repeat completes it. */
static int
commit_copy (vd_disk *c, vd_disk *a, unsigned k,
             vd_progress_cb progress, void *payload)
{
  uint8_t bits[CHUNK / UNIT / 8];
  uint8_t *buf = malloc (CHUNK);
  uint64_t size = c->top->size;
  int r = 0;

  if (!buf)
    return vd__error (VD_ENOMEM, errno, "commit buffer");
  for (uint64_t base = 0; base < size && r == 0; base += CHUNK) {
    uint64_t len = VD_MIN ((uint64_t) CHUNK, size - base);
    struct mark m = { bits, base };
    memset (bits, 0, sizeof bits);
    for (unsigned li = 0; li < k && r == 0; li++)
      r = vd__link_block_status (c->links[li], base, len, mark_alloc, &m);
    uint64_t units = VD_DIV_ROUND_UP (len, UNIT);
    for (uint64_t u = 0; u < units && r == 0;) {
      if (!is_marked (&m, u)) {
        u++;
        continue;
      }
      uint64_t e = u;
      while (e < units && is_marked (&m, e))
        e++;
      uint64_t off = base + u * UNIT;
      size_t n = (size_t) VD_MIN ((e - u) * UNIT, base + len - off);
      r = vd_disk_read (c, buf, n, off);
      if (r == 0)
        r = vd_disk_write (a, buf, n, off);
      u = e;
    }
    if (r == 0 && progress && progress (base + len, size, payload))
      r = vd__error (VD_ECANCELED, 0, "commit canceled (run it again to "
                    "complete it)");
  }
  free (buf);
  return r;
}

/* 4. One descriptor rewrite finishes it: the child points at the
 * ancestor (k) with its new CID and the marker goes. */
static int
commit_repoint (vd_disk *c, unsigned k, uint32_t new_cid)
{
  struct vd_link *top = c->top;
  char *hint = NULL;
  char cidbuf[16];
  int r;

  pthread_mutex_lock (&top->mu);
  snprintf (cidbuf, sizeof cidbuf, "%08x", new_cid);
  r = vd__desc_set (top->desc, "parentCID", cidbuf, 0);
  if (r == 0 && k > 1) {
    hint = vd__parent_hint (top->dir, c->links[k]->path);
    r = hint ? vd__desc_set (top->desc, "parentFileNameHint", hint, 1)
             : VD_ENOENT;
  }
  if (r == 0)
    r = vd__desc_set_ddb (top->desc, VD_COMMIT_KEY, NULL);
  if (r == 0)
    r = vd__link_write_descriptor (top);
  pthread_mutex_unlock (&top->mu);
  free (hint);
  return r;
}

/* 5. The links between no longer hold a valid disk (their parent's
 * content and CID changed; their data is in the ancestor now): remove
 * them, nearest first, so no broken disk stays behind.  Frees middle[]. */
static int
commit_remove_middle (char **middle, unsigned n_middle, int r,
                      uint32_t open_flags, const char *child_path)
{
  for (unsigned i = 0; i < n_middle; i++) {
    if (r == 0) {
      int r2 = vd_disk_unlink (middle[i], open_flags & VD_OPEN_TRUSTED);
      if (r2 < 0) {
        char msg[512];
        snprintf (msg, sizeof msg, "%s", vd_last_error ()->message);
        vd__error_clear ();
        r = vd__error (r2, 0, "%s: committed, but the collapsed link %s "
                      "(no longer a valid disk) could not be removed: %s",
                      child_path, middle[i], msg);
      }
    }
    free (middle[i]);
  }
  return r;
}

int
vd_disk_commit (const char *child_path, const char *ancestor_path,
                uint32_t open_flags, vd_progress_cb progress, void *payload)
{
  vd_disk *c = NULL, *a = NULL;
  unsigned k = 1;
  uint32_t new_cid = 0;
  int r;

  char *middle[VD_MAX_CHAIN];
  unsigned n_middle = 0;
  int force = (open_flags & VD_OPEN_FORCE) != 0;

  VD_ENTER ();
  if (!child_path)
    return vd__error (VD_EINVAL, 0, "commit: no child");
  open_flags &= VD_OPEN_TRUSTED;
  /* The child read-write (its descriptor changes), forced: it may have
   * children of its own, whose view does not change. */
  r = vd_disk_open (&c, child_path, open_flags | VD_OPEN_FORCE);
  if (r < 0)
    return r;
  r = commit_find_ancestor (c, child_path, ancestor_path, &k);
  if (r == 0 && !force)
    r = commit_check_users (c, k, child_path);
  if (r < 0)
    goto out;
  for (unsigned li = 1; li < k; li++)
    if ((middle[n_middle] = vd__strdup (c->links[li]->path)))
      n_middle++;
  r = commit_check_links (c, k);
  if (r == 0)
    r = commit_record_cid (c, &new_cid);
  if (r < 0)
    goto out;
  /* 2. The ancestor, writable, with its new CID. */
  r = vd_disk_open (&a, c->links[k]->path, open_flags | VD_OPEN_FORCE);
  if (r < 0)
    goto out;
  if (a->top->cid != new_cid && (r = vd__link_set_cid (a->top, new_cid)) < 0)
    goto out;
  /* A repeat finds the CID already set: it is this open's renewal too,
   * or the first write would give the ancestor a random CID and the
   * child's parentCID (new_cid) would never match it. */
  a->top->cid_renewed = 1;
  r = commit_copy (c, a, k, progress, payload);
  if (r == 0)
    r = vd_disk_flush (a);
  if (r == 0) {
    r = vd_disk_close (a);
    a = NULL;
  }
  if (r == 0)
    r = commit_repoint (c, k, new_cid);
out:
  if (a)
    vd_disk_close (a);
  if (c) {
    int r2 = vd_disk_close (c);
    if (r == 0)
      r = r2;
  }
  return commit_remove_middle (middle, n_middle, r, open_flags, child_path);
}
