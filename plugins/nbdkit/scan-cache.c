/* nbdkit-vdisk-plugin: the datastore scan, kept between opens.  Reading
 * every descriptor of the datastore at each open is what made opens slow
 * on a big datastore; the last scan is reused while nothing it read has
 * changed:
 *
 *   - every folder it read (a file added, removed or renamed changes the
 *     folder's mtime) and every .vmdk file (content, size, link count:
 *     mtime, ctime, size, nlink, inode) stats the same now;
 *   - nothing it read was changed within RACY_SLACK seconds before the
 *     scan began (a change in the same tick of a coarse file system clock
 *     could leave the same mtime: such a scan is not kept);
 *   - no descriptor names a file by a path with a '/' or through a
 *     symbolic link (what those reach can change without any folder the
 *     scan read changing: such a scan is not kept);
 *   - it is younger than SCAN_TTL seconds, and was not truncated.
 *
 * So a disk added, removed or rewritten (by this server or anyone) is
 * seen at the next open; the checks every open makes of the files it
 * opens (export_check, verify_open) are unchanged.  The kept scan is
 * shared read-only (refcounted under scan_lock).
 *
 * One scan reads the datastore at a time (scanning, under scan_lock): the
 * callers that need one meanwhile wait and use its result, so a burst of
 * lists and opens of a changed datastore reads it once. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin.h"

#define SCAN_TTL 30             /* seconds a kept scan is reused at most */
#define RACY_SLACK 2            /* seconds: see above */

static int
ts_eq (struct timespec a, struct timespec b)
{
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

void
scan_stamp (struct scan *s, const char *rel, const struct stat *st)
{
  if (s->no_cache)
    return;
  if (st->st_mtim.tv_sec >= s->real.tv_sec - RACY_SLACK
      || st->st_ctim.tv_sec >= s->real.tv_sec - RACY_SLACK) {
    s->no_cache = 1;           /* changed just now: not kept */
    return;
  }
  if (s->n_stamps == s->cap_stamps) {
    size_t nc = s->cap_stamps ? s->cap_stamps * 2 : 64;
    struct stamp *p = realloc (s->stamps, nc * sizeof *p);
    if (!p) {
      s->no_cache = 1;         /* only the cache does without */
      return;
    }
    s->stamps = p;
    s->cap_stamps = nc;
  }
  struct stamp *t = &s->stamps[s->n_stamps];
  if (!(t->rel = strdup (rel))) {
    s->no_cache = 1;
    return;
  }
  t->id.dev = st->st_dev;
  t->id.ino = st->st_ino;
  t->mtime = st->st_mtim;
  t->ctime = st->st_ctim;
  t->size = st->st_size;
  t->nlink = st->st_nlink;
  s->n_stamps++;
}

/* Does the kept scan c still describe the datastore? */
static int
still_fresh (const struct scan *c)
{
  struct timespec now;
  int fd, ok = 1;
  clock_gettime (CLOCK_MONOTONIC, &now);
  if (now.tv_sec - c->taken.tv_sec >= SCAN_TTL)
    return 0;
  fd = open (datastore, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  for (size_t i = 0; ok && i < c->n_stamps; i++) {
    const struct stamp *t = &c->stamps[i];
    struct stat st;
    ok = fstatat (fd, t->rel[0] ? t->rel : ".", &st, AT_SYMLINK_NOFOLLOW) == 0
         && st.st_dev == t->id.dev && st.st_ino == t->id.ino
         && ts_eq (st.st_mtim, t->mtime) && ts_eq (st.st_ctim, t->ctime)
         && st.st_size == t->size && st.st_nlink == t->nlink;
  }
  close (fd);
  return ok;
}

/* One holder less of the kept copy c (scan_lock held). */
static void
release (struct scan *c)
{
  if (c && --c->users == 0) {
    scan_free_arrays (c);
    free (c);
  }
}

/* Take the kept copy c for the caller s (scan_lock held, c->users
 * already counts s). */
static void
use (struct scan *s, struct scan *c)
{
  *s = *c;
  s->shared = c;
}

static int scanning;            /* under scan_lock: a scan is reading */
static unsigned long scans_begun;  /* under scan_lock: scans begun */

/* Publish the finished scan s (scan_lock held): it becomes the kept copy
 * (also when it may not be reused by later opens: the ones that waited
 * for it use it all the same). */
static void
publish (struct scan *s, unsigned long seq)
{
  struct scan *c = malloc (sizeof *c);
  if (!c)
    return;                     /* the waiters scan again */
  *c = *s;
  c->shared = NULL;
  c->seq = seq;
  c->users = 2;                 /* the cache and this caller */
  s->shared = c;
  release (scan_cached);
  scan_cached = c;
}

/* The scan for s: the kept one while still fresh, else one read now.
 * At most one scan reads the datastore at a time; the callers that need
 * one meanwhile wait for it (scan_done) and use its result: a kept scan
 * after the freshness check, and any scan begun after they came (it is as
 * new as one they would read), kept or not.  The freshness check (a stat
 * of every stamped file) runs without scan_lock, holding a reference. */
int
scan_datastore (struct scan *s)
{
  static pthread_cond_t scan_done = PTHREAD_COND_INITIALIZER;
  unsigned long need, seq;
  struct scan *c;
  int fresh, r;

  pthread_mutex_lock (&scan_lock);
  need = scans_begun + 1;       /* a scan begun after now */
  for (;;) {
    c = scan_cached;
    if (c && c->seq >= need) {
      c->users++;
      use (s, c);
      pthread_mutex_unlock (&scan_lock);
      nbdkit_debug ("datastore scan shared (read while this one waited)");
      return 0;
    }
    if (c && !c->no_cache && !c->truncated) {   /* reusable by later opens */
      c->users++;
      pthread_mutex_unlock (&scan_lock);
      fresh = still_fresh (c);
      pthread_mutex_lock (&scan_lock);
      if (fresh) {
        use (s, c);
        pthread_mutex_unlock (&scan_lock);
        nbdkit_debug ("datastore scan reused (%zu files and folders "
                      "unchanged)", s->n_stamps);
        return 0;
      }
      if (scan_cached == c) {
        scan_cached = NULL;
        c->users--;             /* the cache's reference (ours is left) */
      }
      release (c);
      continue;
    }
    if (!scanning)
      break;
    pthread_cond_wait (&scan_done, &scan_lock);
  }
  scanning = 1;
  seq = ++scans_begun;
  pthread_mutex_unlock (&scan_lock);

  r = scan_read (s);
  if (r == 0)
    nbdkit_debug ("datastore scanned: %zu disk files%s", s->n_cands,
                  s->no_cache || s->truncated ? " (not kept)" : "");
  pthread_mutex_lock (&scan_lock);
  scanning = 0;
  if (r == 0)
    publish (s, seq);
  pthread_cond_broadcast (&scan_done);
  pthread_mutex_unlock (&scan_lock);
  return r;
}

void
scan_free (struct scan *s)
{
  if (s->shared) {
    pthread_mutex_lock (&scan_lock);
    release (s->shared);
    pthread_mutex_unlock (&scan_lock);
    memset (s, 0, sizeof *s);
  }
  else
    scan_free_arrays (s);
}

void
scan_cache_drop (void)
{
  pthread_mutex_lock (&scan_lock);
  release (scan_cached);
  scan_cached = NULL;
  pthread_mutex_unlock (&scan_lock);
}
