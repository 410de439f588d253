/* The datastore file backend (lib/io/io-https.c, https-get.c,
 * https-ahead.c) against a small ranged-GET server on loopback (plain
 * HTTP: the io tier takes its curl handles from the session table, here
 * a fake one): the block cache and the parallel read-ahead give the
 * file's bytes; a read-ahead that cannot start is no error (the read is
 * a GET of its own); a failed chunk's error keeps its code, errno and
 * message (one ": strerror"); a "[ds] path" refuses only a ".."
 * component. */
#include "io/https-internal.h"
#include "tap.h"

#ifndef VD_HAVE_VSPHERE
int
main (void)
{
  printf ("1..0 # SKIP built without vSphere support\n");
  return 77;
}
#else

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define FILE_SIZE ((uint64_t) (16u << 20) + 12345u)

static uint8_t
byte_at (uint64_t x)
{
  return (uint8_t) ((x * 131u) ^ (x >> 9));
}

/* ---- the server: one request per connection, 206 for a Range ---------- */

static int lfd;
static atomic_int gets;
static atomic_ullong drop_at;           /* 0: never; else cut there */

static int
send_all (int fd, const void *p, size_t n)
{
  const uint8_t *b = p;
  while (n > 0) {
    ssize_t k = send (fd, b, n, MSG_NOSIGNAL);
    if (k <= 0)
      return -1;
    b += k;
    n -= (size_t) k;
  }
  return 0;
}

static void *
conn_main (void *arg)
{
  int fd = (int) (intptr_t) arg;
  char req[4096], hdr[256];
  size_t n = 0;
  unsigned long long a = 0, b = 0, cut;
  const char *r;

  while (n < sizeof req - 1 && !strstr (req, "\r\n\r\n")) {
    ssize_t k = recv (fd, req + n, sizeof req - 1 - n, 0);
    if (k <= 0)
      goto out;
    n += (size_t) k;
    req[n] = '\0';
  }
  atomic_fetch_add (&gets, 1);
  r = strstr (req, "Range: bytes=");
  if (!r || sscanf (r, "Range: bytes=%llu-%llu", &a, &b) != 2 || a > b
      || b >= FILE_SIZE) {
    snprintf (hdr, sizeof hdr, "HTTP/1.1 416 Range Not Satisfiable\r\n"
              "Content-Length: 0\r\nConnection: close\r\n\r\n");
    send_all (fd, hdr, strlen (hdr));
    goto out;
  }
  snprintf (hdr, sizeof hdr, "HTTP/1.1 206 Partial Content\r\n"
            "Content-Range: bytes %llu-%llu/%llu\r\nContent-Length: %llu\r\n"
            "Connection: close\r\n\r\n", a, b,
            (unsigned long long) FILE_SIZE, b - a + 1);
  if (send_all (fd, hdr, strlen (hdr)) < 0)
    goto out;
  cut = atomic_load (&drop_at);
  for (unsigned long long x = a; x <= b;) {
    uint8_t buf[65536];
    size_t k = 0;
    for (; k < sizeof buf && x <= b; k++, x++) {
      if (cut && x == cut)
        break;
      buf[k] = byte_at (x);
    }
    if (send_all (fd, buf, k) < 0 || (cut && x == cut))
      break;                            /* cut: the connection drops */
  }
out:
  close (fd);
  return NULL;
}

static void *
accept_main (void *arg)
{
  (void) arg;
  for (;;) {
    int fd = accept (lfd, NULL, NULL);
    pthread_t t;
    if (fd < 0)
      return NULL;
    if (pthread_create (&t, NULL, conn_main, (void *) (intptr_t) fd) != 0)
      close (fd);
    else
      pthread_detach (t);
  }
}

/* ---- the fake session ---------------------------------------------------- */

struct sess {
  atomic_int handles;                   /* curl() calls so far */
  int max_handles;                      /* 0: no limit */
};

static void *
sess_curl (void *ctx)
{
  struct sess *s = ctx;
  CURL *h;
  if (s->max_handles && atomic_fetch_add (&s->handles, 1) >= s->max_handles) {
    vd__error (VD_ENOMEM, 0, "fake session: no more connections");
    return NULL;
  }
  h = curl_easy_init ();
  if (h)
    curl_easy_setopt (h, CURLOPT_NOSIGNAL, 1L);
  return h;
}

static int
sess_relogin (void *ctx)
{
  (void) ctx;
  return vd__error (VD_EIO, 0, "fake session: no login");
}

static void
sess_nop (void *ctx)
{
  (void) ctx;
}

static const struct vd_https_session sops = {
  sess_curl, sess_relogin, sess_nop, sess_nop
};

static char base[96], host[64];

static int
open_file (struct vd_io **io, struct sess *s)
{
  return vd__io_https_open (io, &sops, s, base, host, "dc",
                            "[ds] vm/disk-flat.vmdk", 0);
}

static int
same (const uint8_t *p, uint64_t off, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (p[i] != byte_at (off + i))
      return 0;
  return 1;
}

/* Read the whole file front to back in 1 MiB reads (the read-ahead's
 * pattern); 0 when every byte is right, else the failing read's code. */
static int
read_all (struct vd_io *io, uint8_t *buf, uint64_t *bad_at)
{
  for (uint64_t off = 0; off < FILE_SIZE;) {
    size_t n = (size_t) VD_MIN ((uint64_t) (1u << 20), FILE_SIZE - off);
    int r = vd__io_pread (io, buf, n, off);
    if (r < 0 || !same (buf, off, n)) {
      *bad_at = off;
      return r < 0 ? r : -1000;
    }
    off += n;
  }
  return 0;
}

static void
test_dspath (void)
{
  static const char *const good[] = {
    "[ds] vm/disk..1.vmdk", "[ds] disk..vmdk", "[ds] a/...b/c.vmdk",
    "[ds] ..x/y.vmdk", "[ds] x../y.vmdk"
  };
  static const char *const bad[] = {
    "[ds] ..", "[ds] ../x.vmdk", "[ds] vm/../x.vmdk", "[ds] vm/..",
    "[ds] /vm/x.vmdk", "[ds] vm/", "[ds] "
  };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    char *ds = NULL, *path = NULL;
    int r = vd__https_split_dspath (good[i], &ds, &path);
    ok (r == 0 && ds && strcmp (ds, "ds") == 0 && path
        && strcmp (path, good[i] + 5) == 0, "\"%s\" is a file path", good[i]);
    free (ds);
    free (path);
    vd__error_clear ();
  }
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char *ds = NULL, *path = NULL;
    int r = vd__https_split_dspath (bad[i], &ds, &path);
    ok (r == VD_EINVAL && !ds && !path, "\"%s\" is refused", bad[i]);
    vd__error_clear ();
  }
}

int
main (void)
{
  struct sockaddr_in sa = { .sin_family = AF_INET };
  socklen_t sl = sizeof sa;
  pthread_t at;
  struct vd_io *io = NULL;
  uint8_t *buf = malloc (3u << 20);
  uint64_t bad = 0;
  int r;

  test_dspath ();

  sa.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  lfd = socket (AF_INET, SOCK_STREAM, 0);
  if (!buf || lfd < 0 || bind (lfd, (struct sockaddr *) &sa, sizeof sa) < 0
      || listen (lfd, 64) < 0
      || getsockname (lfd, (struct sockaddr *) &sa, &sl) < 0
      || pthread_create (&at, NULL, accept_main, NULL) != 0) {
    printf ("# no loopback server: %s\n", strerror (errno));
    return 1;
  }
  snprintf (host, sizeof host, "127.0.0.1:%u", ntohs (sa.sin_port));
  snprintf (base, sizeof base, "http://%s", host);
  curl_global_init (CURL_GLOBAL_DEFAULT);

  /* the block cache: odd reads across block ends, and a repeat */
  {
    struct sess s = { 0 };
    uint64_t size = 0;
    r = open_file (&io, &s);
    is_u64 (r, 0, "open a datastore file over loopback");
    if (r == 0) {
      io->ops->size (io, &size);
      is_u64 (size, FILE_SIZE, "its size from the first GET");
      r = vd__io_pread (io, buf, 3, (1u << 20) - 1);
      ok (r == 0 && same (buf, (1u << 20) - 1, 3), "3 bytes across a block "
          "end");
      r = vd__io_pread (io, buf, (5u << 19) + 7, (3u << 20) + 100);
      ok (r == 0 && same (buf, (3u << 20) + 100, (5u << 19) + 7),
          "2.5 MiB at an odd offset (blocks fetched straight into the "
          "cache)");
      r = vd__io_pread (io, buf, 12345, FILE_SIZE - 12345);
      ok (r == 0 && same (buf, FILE_SIZE - 12345, 12345), "the short last "
          "block");
      int before = atomic_load (&gets);
      r = vd__io_pread (io, buf, 3, (1u << 20) - 1);
      ok (r == 0 && same (buf, (1u << 20) - 1, 3)
          && atomic_load (&gets) == before, "a cached read asks nothing");
      vd__io_close (io);
    }
    io = NULL;
  }

  /* the parallel read-ahead of a whole front-to-back read */
  {
    struct sess s = { 0 };
    vd__error_reset ("test");
    r = open_file (&io, &s);
    if (r == 0) {
      r = read_all (io, buf, &bad);
      ok (r == 0, "the whole file read with the read-ahead is right "
          "(%d at %llu)", r, (unsigned long long) bad);
      vd__io_close (io);
    }
    else
      ok (0, "open for the read-ahead");
    io = NULL;
  }

  /* no connection for the read-ahead: the reads still succeed */
  {
    struct sess s = { .max_handles = 1 };   /* only the file's own */
    vd__error_reset ("test");
    r = open_file (&io, &s);
    if (r == 0) {
      int before = atomic_load (&gets);
      r = read_all (io, buf, &bad);
      ok (r == 0, "a read-ahead that cannot start fails no read "
          "(%d at %llu: %s)", r, (unsigned long long) bad,
          r ? vd_last_error ()->message : "");
      ok (atomic_load (&s.handles) > 1, "the read-ahead was tried (%d "
          "connections asked for)", atomic_load (&s.handles));
      ok (atomic_load (&gets) - before >= 4, "the reads were GETs of "
          "their own (%d)", atomic_load (&gets) - before);
      ok (vd_last_error ()->code == 0, "and left no error behind");
      vd__io_close (io);
    }
    else
      ok (0, "open with one connection");
    io = NULL;
  }

  /* a chunk's GET dropped mid-transfer: that read fails with the GET's
   * own code, errno and message */
  {
    struct sess s = { 0 };
    vd__error_reset ("test");
    r = open_file (&io, &s);
    if (r == 0) {
      const struct vd_error *e;
      const char *m, *p;
      int times = 0;
      atomic_store (&drop_at, 9000000ull);
      vd__error_reset ("test");
      r = read_all (io, buf, &bad);
      e = vd_last_error ();
      m = e->message ? e->message : "";
      for (p = m; (p = strstr (p, strerror (ECONNRESET))); p++)
        times++;
      ok (r == VD_EIO && bad > (4u << 20) && bad <= 9000000,
          "a dropped read-ahead GET fails the read that needs it (%d at "
          "%llu)", r, (unsigned long long) bad);
      is_u64 (e->errnum, ECONNRESET, "its errno is the GET's");
      ok (strstr (m, "failed after") && times == 1, "its message is the "
          "GET's, strerror once: %s", m);
      atomic_store (&drop_at, 0);
      vd__io_close (io);
    }
    else
      ok (0, "open for the dropped GET");
    io = NULL;
  }
  /* a cache miss whose GET drops mid-block: the read fails, and the
   * blocks it was filling are not served later half-filled */
  {
    struct sess s = { 0 };
    vd__error_reset ("test");
    r = open_file (&io, &s);
    if (r == 0) {
      uint64_t pos = (6u << 20) + 100;
      atomic_store (&drop_at, (6ull << 20) + 50000);
      r = vd__io_pread (io, buf, 100, pos);
      ok (r == VD_EIO, "a cache miss whose GET drops fails (%d)", r);
      atomic_store (&drop_at, 0);
      vd__error_reset ("test");
      int before = atomic_load (&gets);
      memset (buf, 0xee, 200);
      r = vd__io_pread (io, buf, 100, pos);
      ok (r == 0 && same (buf, pos, 100) && atomic_load (&gets) > before,
          "the same read again is a new GET and right (%d)", r);
      r = vd__io_pread (io, buf, 100, (6u << 20) + 60000);
      ok (r == 0 && same (buf, (6u << 20) + 60000, 100),
          "bytes past the drop in that block read right");
      vd__io_close (io);
    }
    else
      ok (0, "open for the dropped cache GET");
    io = NULL;
  }
  free (buf);
  close (lfd);
  return done_testing ();
}
#endif
