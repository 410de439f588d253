/* Hashing a disk file of the repository (docs/backup.md): the file in
 * chunk_size pieces, a digest and a CRC-64 per piece, and one SHA-256 of
 * the pieces' digests.  A piece's digest is the SHA-256 of the SHA-256s
 * of its HASH_LEAF-byte leaves ("sha256_tree"; older manifests: the
 * SHA-256 of the piece itself, "sha256_of_chunks"): leaves are short and
 * independent, so Intel's multi-buffer library (libipsec-mb, where it is
 * built in) hashes 16 of them at once with AVX-512, about 2.3 times as
 * fast as one SHA-NI stream on this kind of CPU; without it the same
 * digests come from OpenSSL's or nettle's SHA-256, one leaf at a time.
 * The pieces are independent too, so HASH_THREADS workers hash them at
 * once, and a full point's file is hashed while it is being copied: a
 * new monolithicSparse file keeps its header, descriptor and grain
 * tables in the overhead at its start (rewritten up to the close) and
 * appends every grain once past it, so a piece past the overhead and
 * below the write frontier is final as long as the copy writes whole
 * grains in increasing order (vd__bk_put checks; anything else makes the
 * workers hash every piece again at the end).  The overhead's pieces and
 * the last one are hashed at the end. */
#include "backup-int.h"

#include "formats/kdmv.h"

#include <errno.h>
#include <fcntl.h>
#include <isa-l/crc64.h>
#include <nettle/sha2.h>
#ifdef VD_HAVE_LIBCRYPTO
#include <openssl/evp.h>
#endif
#ifdef VD_HAVE_IPSECMB
#include <intel-ipsec-mb.h>
#endif
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HASH_THREADS 2

struct vd__bk_hasher {
  int fd;
  char *path;
  uint64_t cs;
  uint64_t cap;             /* pieces the arrays hold */
  uint8_t (*dg)[SHA256_DIGEST_SIZE];
  uint64_t *crc;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint64_t early_from;      /* first piece past the overhead */
  uint64_t frontier;        /* bytes of the file final below it */
  uint64_t next, low;       /* next piece to claim: >= early_from, below */
  uint64_t size, n;         /* at the end: the file's size and pieces */
  int tree;                 /* pieces' digests of their leaves' digests */
  int final, quit, redo, err;
  pthread_t th[HASH_THREADS];
  int nth;
};

/* The chunk size of a file of at most max_size bytes: at least 1 MiB,
 * fewer than HASH_CHUNKS_MAX pieces. */
uint64_t
vd__bk_chunk_size (uint64_t max_size)
{
  uint64_t cs = HASH_CHUNK_MIN;
  while (max_size / cs >= HASH_CHUNKS_MAX)
    cs <<= 1;
  return cs;
}

/* A chunk size cs for size bytes, as a manifest may give it: fewer than
 * HASH_CHUNKS_MAX pieces (no writer makes more; more would be a huge
 * allocation).  0, or VD_ECORRUPT. */
int
vd__bk_chunks_check (const char *path, uint64_t cs, uint64_t size)
{
  if (size / cs < HASH_CHUNKS_MAX)
    return 0;
  return vd__error (VD_ECORRUPT, 0, "%s: chunk size %llu is too small for "
                    "its %llu bytes", path, (unsigned long long) cs,
                    (unsigned long long) size);
}

/* A piece's SHA-256: OpenSSL's EVP where it is built in (the fastest
 * here), else nettle's; both use SHA-NI. */
#ifdef VD_HAVE_LIBCRYPTO
struct piece_ctx { EVP_MD_CTX *x; };
static int
piece_init (struct piece_ctx *c)
{
  c->x = EVP_MD_CTX_new ();
  return c->x && EVP_DigestInit_ex (c->x, EVP_sha256 (), NULL) == 1 ? 0 : ENOMEM;
}
static void
piece_update (struct piece_ctx *c, const uint8_t *b, size_t n)
{
  EVP_DigestUpdate (c->x, b, n);
}
static void
piece_final (struct piece_ctx *c, uint8_t *dg)
{
  unsigned int n = 0;
  if (c->x)
    EVP_DigestFinal_ex (c->x, dg, &n);
  EVP_MD_CTX_free (c->x);
}
#else
struct piece_ctx { struct sha256_ctx s; };
static int
piece_init (struct piece_ctx *c)
{
  sha256_init (&c->s);
  return 0;
}
static void
piece_update (struct piece_ctx *c, const uint8_t *b, size_t n)
{
  sha256_update (&c->s, n, b);
}
static void
piece_final (struct piece_ctx *c, uint8_t *dg)
{
  sha256_digest (&c->s, SHA256_DIGEST_SIZE, dg);
}
#endif

/* The SHA-256s of the leaves of b[0, n) into dg[]: 16 at a time through
 * the worker's multi-buffer manager m, or one by one. */
static int
leaves (void *m, const uint8_t *b, size_t n, uint8_t (*dg)[SHA256_DIGEST_SIZE])
{
  size_t nl = (n + HASH_LEAF - 1) / HASH_LEAF;
#ifdef VD_HAVE_IPSECMB
  if (m) {
    IMB_MGR *mgr = m;
    IMB_JOB *j;
    size_t done = 0;
    int bad = 0;
    for (size_t k = 0; k < nl; k++) {
      j = IMB_GET_NEXT_JOB (mgr);
      memset (j, 0, sizeof *j);
      j->cipher_mode = IMB_CIPHER_NULL;
      j->cipher_direction = IMB_DIR_ENCRYPT;
      j->chain_order = IMB_ORDER_HASH_CIPHER;
      j->hash_alg = IMB_AUTH_SHA_256;
      j->src = b + k * HASH_LEAF;
      j->hash_start_src_offset_in_bytes = 0;
      j->msg_len_to_hash_in_bytes = VD_MIN ((size_t) HASH_LEAF,
                                            n - k * HASH_LEAF);
      j->auth_tag_output = dg[k];
      j->auth_tag_output_len_in_bytes = SHA256_DIGEST_SIZE;
      for (j = IMB_SUBMIT_JOB (mgr); j; j = IMB_GET_COMPLETED_JOB (mgr)) {
        bad |= j->status != IMB_STATUS_COMPLETED;
        done++;
      }
    }
    while ((j = IMB_FLUSH_JOB (mgr))) {
      bad |= j->status != IMB_STATUS_COMPLETED;
      done++;
    }
    return bad || done != nl ? EIO : 0;
  }
#else
  (void) m;
#endif
  /* one context for all the leaves of b (one allocation, not one each) */
#ifdef VD_HAVE_LIBCRYPTO
  EVP_MD_CTX *x = EVP_MD_CTX_new ();
  if (!x)
    return ENOMEM;
  for (size_t k = 0; k < nl; k++) {
    unsigned int len = 0;
    EVP_DigestInit_ex (x, EVP_sha256 (), NULL);
    EVP_DigestUpdate (x, b + k * HASH_LEAF,
                      VD_MIN ((size_t) HASH_LEAF, n - k * HASH_LEAF));
    EVP_DigestFinal_ex (x, dg[k], &len);
  }
  EVP_MD_CTX_free (x);
#else
  struct sha256_ctx x;
  for (size_t k = 0; k < nl; k++) {
    sha256_init (&x);
    sha256_update (&x, VD_MIN ((size_t) HASH_LEAF, n - k * HASH_LEAF),
                   b + k * HASH_LEAF);
    sha256_digest (&x, SHA256_DIGEST_SIZE, dg[k]);
  }
#endif
  return 0;
}

/* A worker's multi-buffer manager, or NULL (then one leaf at a time;
 * VD_HASH_SINGLE=1 asks for that, so tests compare the two). */
static void *
mgr_new (void)
{
#ifdef VD_HAVE_IPSECMB
  const char *single = getenv ("VD_HASH_SINGLE");
  IMB_MGR *m = single && *single == '1' ? NULL : alloc_mb_mgr (0);
  if (m) {
    IMB_ARCH arch = IMB_ARCH_NONE;
    init_mb_mgr_auto (m, &arch);
    if (arch == IMB_ARCH_NONE || imb_get_errno (m) != 0) {
      free_mb_mgr (m);
      m = NULL;
    }
  }
  return m;
#else
  return NULL;
#endif
}

static void
mgr_free (void *m)
{
#ifdef VD_HAVE_IPSECMB
  if (m)
    free_mb_mgr (m);
#else
  (void) m;
#endif
}

/* Piece i (len bytes) into h->dg[i] and h->crc[i]; buf holds HASH_READ
 * bytes, ldg HASH_READ / HASH_LEAF leaf digests. */
static int
hash_piece (struct vd__bk_hasher *h, void *m, uint8_t *buf,
            uint8_t (*ldg)[SHA256_DIGEST_SIZE], uint64_t i, uint64_t len)
{
  struct piece_ctx c;
  uint64_t crc = 0, off = i * h->cs;
  int e = piece_init (&c);
  while (e == 0 && len > 0) {
    /* a whole read (leaves stay aligned to the piece's start) */
    size_t want = (size_t) VD_MIN (len, (uint64_t) HASH_READ), have = 0;
    while (have < want) {
      ssize_t got = pread (h->fd, buf + have, want - have, (off_t) (off + have));
      if (got < 0 && errno == EINTR)
        continue;
      if (got <= 0) {
        e = got < 0 ? errno : EIO;
        break;
      }
      have += (size_t) got;
    }
    if (e)
      break;
    if (h->tree) {
      if ((e = leaves (m, buf, want, ldg)) != 0)
        break;
      piece_update (&c, ldg[0], (want + HASH_LEAF - 1) / HASH_LEAF
                                * SHA256_DIGEST_SIZE);
    }
    else
      piece_update (&c, buf, want);
    crc = crc64_ecma_refl (crc, buf, (uint64_t) want);
    off += want;
    len -= want;
  }
  piece_final (&c, h->dg[i]);
  h->crc[i] = crc;
  return e;
}

/* Claim the next piece (caller holds mu): early, one wholly below the
 * frontier; at the end, every piece not yet hashed. */
static int
claim (struct vd__bk_hasher *h, uint64_t *i)
{
  for (;;) {
    if (h->err || h->quit)
      return 0;
    if (h->final) {
      if (h->next < h->n)
        *i = h->next++;
      else if (h->low < VD_MIN (h->early_from, h->n))
        *i = h->low++;
      else
        return 0;
      return 1;
    }
    if (!h->redo && h->next < h->cap && (h->next + 1) * h->cs <= h->frontier) {
      *i = h->next++;
      return 1;
    }
    pthread_cond_wait (&h->cv, &h->mu);
  }
}

static void *
worker (void *payload)
{
  struct vd__bk_hasher *h = payload;
  uint8_t *buf = malloc (HASH_READ);
  uint8_t (*ldg)[SHA256_DIGEST_SIZE] = malloc (HASH_READ / HASH_LEAF
                                               * SHA256_DIGEST_SIZE);
  void *m = h->tree ? mgr_new () : NULL;
  uint64_t i;
  pthread_mutex_lock (&h->mu);
  if (!buf || !ldg)
    h->err = ENOMEM;
  while (buf && ldg && claim (h, &i)) {
    uint64_t len = h->final ? VD_MIN (h->cs, h->size - i * h->cs) : h->cs;
    pthread_mutex_unlock (&h->mu);
    int e = hash_piece (h, m, buf, ldg, i, len);
    pthread_mutex_lock (&h->mu);
    if (e && !h->err)
      h->err = e;
  }
  pthread_mutex_unlock (&h->mu);
  mgr_free (m);
  free (ldg);
  free (buf);
  return NULL;
}

static int
grow (struct vd__bk_hasher *h, uint64_t n)
{
  if (n <= h->cap)
    return 0;
  void *a = realloc (h->dg, n * sizeof *h->dg);
  if (a)
    h->dg = a;
  void *b = a ? realloc (h->crc, n * sizeof *h->crc) : NULL;
  if (!b)
    return vd__error (VD_ENOMEM, errno, "%s: hash of %llu pieces", h->path,
                     (unsigned long long) n);
  h->crc = b;
  h->cap = n;
  return 0;
}

static void
start (struct vd__bk_hasher *h)
{
  for (h->nth = 0; h->nth < HASH_THREADS; h->nth++)
    if (pthread_create (&h->th[h->nth], NULL, worker, h) != 0)
      break;
}

static void
join (struct vd__bk_hasher *h)
{
  for (int k = 0; k < h->nth; k++)
    pthread_join (h->th[k], NULL);
  h->nth = 0;
}

void
vd__bk_hasher_free (struct vd__bk_hasher *h)
{
  if (!h)
    return;
  pthread_mutex_lock (&h->mu);
  h->quit = 1;
  pthread_cond_broadcast (&h->cv);
  pthread_mutex_unlock (&h->mu);
  join (h);
  pthread_mutex_destroy (&h->mu);
  pthread_cond_destroy (&h->cv);
  if (h->fd >= 0)
    close (h->fd);
  free (h->dg);
  free (h->crc);
  free (h->path);
  free (h);
}

/* A hasher of path; cs 0: the chunk size follows from the file's size at
 * the end; tree: pieces' digests of their leaves (else of their bytes). */
static struct vd__bk_hasher *
hasher_new (const char *path, uint64_t cs, int tree)
{
  struct vd__bk_hasher *h = calloc (1, sizeof *h);
  if (!h) {
    vd__error (VD_ENOMEM, errno, "%s: hasher", path);
    return NULL;
  }
  pthread_mutex_init (&h->mu, NULL);
  pthread_cond_init (&h->cv, NULL);
  h->cs = cs;
  h->tree = tree;
  h->path = strdup (path);
  h->fd = open (path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  struct stat st;
  int r = 0;
  if (h->fd < 0 || !h->path || fstat (h->fd, &st) < 0)
    r = vd__error (VD_ENOENT, errno, "%s: open", path);
  else if (!S_ISREG (st.st_mode))
    r = vd__error (VD_ECORRUPT, 0, "%s: not a regular file", path);
  if (r < 0) {
    vd__bk_hasher_free (h);
    return NULL;
  }
  return h;
}

/* The new file of a full point, as it is being written (its size now
 * its overhead): the workers start on pieces past the overhead as the
 * frontier moves.  *grain: the file's grain in bytes.  NULL when the
 * file is not laid out so (then the file is hashed at the end). */
struct vd__bk_hasher *
vd__bk_hasher_early (const char *path, uint64_t capacity, uint64_t *grain)
{
  uint8_t sec[VD_SECTOR];
  struct kdmv_header kh;
  struct stat st;
  struct vd__bk_hasher *h = hasher_new (path, 0, 1);
  if (!h || pread (h->fd, sec, sizeof sec, 0) != (ssize_t) sizeof sec
      || fstat (h->fd, &st) < 0) {
    vd__bk_hasher_free (h);
    vd__error_clear ();
    return NULL;
  }
  vd__kdmv_decode (&kh, sec);
  if (kh.magic != KDMV_MAGIC || kh.grain == 0 || kh.grain > KDMV_MAX_GRAIN
      || kh.overhead > UINT32_MAX || (uint64_t) st.st_size != kh.overhead * VD_SECTOR
      || kh.compress || capacity > kh.capacity * VD_SECTOR) {
    vd__bk_hasher_free (h);
    return NULL;
  }
  uint64_t ov = kh.overhead * VD_SECTOR;
  h->cs = vd__bk_chunk_size (ov + VD_ROUND_UP (capacity, kh.grain * VD_SECTOR));
  h->early_from = h->next = VD_DIV_ROUND_UP (ov, h->cs);
  h->frontier = ov;
  *grain = kh.grain * VD_SECTOR;
  if (grow (h, h->next + VD_DIV_ROUND_UP (capacity, h->cs) + 1) < 0) {
    vd__bk_hasher_free (h);
    vd__error_clear ();
    return NULL;
  }
  start (h);
  return h;
}

/* The copy has written the file up to frontier bytes. */
void
vd__bk_hasher_advance (struct vd__bk_hasher *h, uint64_t frontier)
{
  pthread_mutex_lock (&h->mu);
  if (frontier > h->frontier) {
    h->frontier = frontier;
    pthread_cond_broadcast (&h->cv);
  }
  pthread_mutex_unlock (&h->mu);
}

/* A write out of the pattern: every piece is hashed again at the end. */
void
vd__bk_hasher_redo (struct vd__bk_hasher *h)
{
  pthread_mutex_lock (&h->mu);
  h->redo = 1;
  pthread_mutex_unlock (&h->mu);
}

/* The file is complete: hash what is left.  whole: the SHA-256 of the
 * pieces' digests; chunks (if not NULL): the pieces' CRC-64s in hex. */
int
vd__bk_hasher_finish (struct vd__bk_hasher *h, char whole[65],
                      json_object *chunks, uint64_t *chunk_size,
                      uint64_t *size)
{
  struct stat st;
  pthread_mutex_lock (&h->mu);
  h->quit = 1;
  pthread_cond_broadcast (&h->cv);
  pthread_mutex_unlock (&h->mu);
  join (h);
  if (fstat (h->fd, &st) < 0)
    return vd__error (VD_EIO, errno, "%s: stat", h->path);
  h->size = (uint64_t) st.st_size;
  if (!h->cs)
    h->cs = vd__bk_chunk_size (h->size);
  if (vd__bk_chunks_check (h->path, h->cs, h->size) < 0)
    return VD_ECORRUPT;
  h->n = VD_DIV_ROUND_UP (h->size, h->cs);
  if (h->redo || h->next * h->cs > h->size)
    h->early_from = h->next = h->low = 0;
  if (grow (h, h->n) < 0)
    return VD_ENOMEM;
  h->quit = 0;
  h->final = 1;
  posix_fadvise (h->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  start (h);
  if (h->nth == 0)
    worker (h);
  join (h);
  if (h->err)
    return vd__error (VD_EIO, h->err, "%s: read", h->path);
  struct sha256_ctx all;
  uint8_t dg[SHA256_DIGEST_SIZE];
  char hex[17];
  sha256_init (&all);
  for (uint64_t i = 0; i < h->n; i++) {
    sha256_update (&all, SHA256_DIGEST_SIZE, h->dg[i]);
    vd__bk_crc_hex (h->crc[i], hex);
    if (chunks)
      json_object_array_add (chunks, json_object_new_string (hex));
  }
  sha256_digest (&all, sizeof dg, dg);
  vd__to_hex (dg, sizeof dg, whole);
  if (chunk_size)
    *chunk_size = h->cs;
  if (size)
    *size = h->size;
  return 0;
}

/* The whole file at once (no copy beside): cs 0 picks it from the size. */
int
vd__bk_hash_chunks (const char *path, uint64_t cs, int tree, char whole[65],
                    json_object *chunks, uint64_t *chunk_size, uint64_t *size)
{
  struct vd__bk_hasher *h = hasher_new (path, cs, tree);
  if (!h)
    return vd_last_error ()->code;
  int r = vd__bk_hasher_finish (h, whole, chunks, chunk_size, size);
  vd__bk_hasher_free (h);
  return r;
}
