/* Driver-level harness for lib/formats/stream.c, used by test-stream-layouts.sh.
 *
 *   stream-harness cat FILE OUT [THREADS]   read the whole extent through
 *                                           the driver (map + pread) with
 *                                           THREADS readers in 1 MiB chunks
 *   stream-harness check FILE               run the driver's check
 *   stream-harness convert RAW OUT [THREADS [CANCEL_AT]]
 *                                           vd__stream_convert from a raw
 *                                           file; prints the progress
 *                                           calls; CANCEL_AT > 0 makes
 *                                           that call return non-zero
 *                                           (exit 4 on VD_ECANCELED)
 *
 * Linked with the library objects (libvdisk.a): it reaches the driver
 * table and vd__stream_convert, which the shared library hides. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern const struct vd_format_driver vd__stream_driver;


static void
die (const char *what)
{
  const struct vd_error *e = vd_last_error ();
  fprintf (stderr, "stream-harness: %s: %s (%s)\n", what,
           e->message ? e->message : "?", vd_strerror (e->code));
  exit (1);
}

struct prog {
  unsigned calls, cancel_at, bad;
  uint64_t last, total;
};

static int
progress_cb (uint64_t done, uint64_t total, void *payload)
{
  struct prog *p = payload;
  if (done < p->last || done > total)
    p->bad = 1;
  p->last = done;
  p->total = total;
  p->calls++;
  return p->cancel_at && p->calls >= p->cancel_at;
}

static int
open_extent (struct vd_extent *e, const char *path)
{
  uint8_t buf[512];
  uint64_t size;
  int r;

  memset (e, 0, sizeof *e);
  r = vd__io_posix_open (&e->io, AT_FDCWD, path, path, VD_IO_FOLLOW);
  if (r < 0)
    return r;
  r = e->io->ops->size (e->io, &size);
  if (r < 0)
    return r;
  memset (buf, 0, sizeof buf);
  if (size >= 512 && (r = vd__io_pread (e->io, buf, 512, 0)) < 0)
    return r;
  if (vd__stream_driver.probe (buf, sizeof buf) != 100)
    return vd__error (VD_ECORRUPT, 0, "%s: probe does not say 100", path);
  e->drv = &vd__stream_driver;
  e->path = (char *) path;
  e->type = VD_EXTENT_STREAM;
  e->state = calloc (1, vd__stream_driver.instance_size);
  /* the extent line a descriptor would give: the header's capacity (the
   * driver refuses any other) */
  e->size = vd__le64 (buf + 12) * 512;
  r = vd__stream_driver.open (e, 0);
  if (r < 0)
    return r;
  return 0;
}

struct reader {
  struct vd_extent *e;
  int out_fd;
  pthread_mutex_t *mu;
  uint64_t *next;
  int failed;
  char msg[512];
};

static void *
reader_main (void *arg)
{
  struct reader *rd = arg;
  struct vd_extent *e = rd->e;
  const size_t chunk = 1 << 20;
  uint8_t *buf = malloc (chunk);

  for (;;)
    {
      uint64_t off, len, pos;
      pthread_mutex_lock (rd->mu);
      off = *rd->next;
      *rd->next += chunk;
      pthread_mutex_unlock (rd->mu);
      if (off >= e->size)
        break;
      len = VD_MIN (chunk, e->size - off);
      for (pos = 0; pos < len;)
        {
          struct vd_map m;
          int r = e->drv->map (e, off + pos, len - pos, &m);
          if (r < 0 || m.length == 0 || m.length > len - pos)
            goto fail;
          if (m.status == VD_MAP_DRIVER)
            {
              if (e->drv->pread (e, buf + pos, m.length, off + pos) < 0)
                goto fail;
            }
          else if (m.status == VD_MAP_HOLE || m.status == VD_MAP_ZERO)
            memset (buf + pos, 0, m.length);
          else
            goto fail;
          pos += m.length;
        }
      if (pwrite (rd->out_fd, buf, len, (off_t) off) != (ssize_t) len)
        goto fail;
    }
  free (buf);
  return NULL;
 fail:
  rd->failed = 1;
  snprintf (rd->msg, sizeof rd->msg, "%s",
            vd_last_error ()->message ? vd_last_error ()->message : "?");
  free (buf);
  return NULL;
}

int
main (int argc, char **argv)
{
  struct vd_extent e;

  if (argc >= 4 && strcmp (argv[1], "cat") == 0)
    {
      unsigned n = argc > 4 ? (unsigned) atoi (argv[4]) : 1, i;
      pthread_t t[16];
      struct reader rd[16];
      pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
      uint64_t next = 0;
      int fd, bad = 0;

      if (n < 1 || n > 16)
        n = 1;
      if (open_extent (&e, argv[2]) < 0)
        die ("open");
      fd = open (argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd < 0 || ftruncate (fd, (off_t) e.size) < 0)
        {
          perror (argv[3]);
          return 1;
        }
      for (i = 0; i < n; i++)
        {
          rd[i] = (struct reader) { .e = &e, .out_fd = fd, .mu = &mu,
                                    .next = &next };
          pthread_create (&t[i], NULL, reader_main, &rd[i]);
        }
      for (i = 0; i < n; i++)
        {
          pthread_join (t[i], NULL);
          if (rd[i].failed)
            {
              fprintf (stderr, "stream-harness: read: %s\n", rd[i].msg);
              bad = 1;
            }
        }
      close (fd);
      e.drv->close (&e);
      free (e.state);
      vd__io_close (e.io);
      return bad;
    }
  if (argc == 3 && strcmp (argv[1], "check") == 0)
    {
      struct vd_check_result res = { .struct_size = sizeof res };
      struct vd_check_ctx ctx = { .res = &res, .file = argv[2] };
      if (open_extent (&e, argv[2]) < 0)
        die ("open");
      if (e.drv->check (&e, &ctx, 0) < 0)
        die ("check");
      printf ("allocated=%llu corruptions=%llu leaks=%llu\n",
              (unsigned long long) res.allocated,
              (unsigned long long) res.corruptions,
              (unsigned long long) res.leaks);
      e.drv->close (&e);
      free (e.state);
      vd__io_close (e.io);
      return res.corruptions ? 2 : res.leaks ? 3 : 0;
    }
  if (argc >= 4 && strcmp (argv[1], "convert") == 0)
    {
      struct vd_create_params p;
      struct vd_io *out;
      vd_disk *src;
      char *base;
      struct prog pr = { 0 };
      int r;

      memset (&p, 0, sizeof p);
      p.struct_size = sizeof p;
      p.type = VD_TYPE_STREAM_OPTIMIZED;
      p.threads = argc > 4 ? (uint32_t) atoi (argv[4]) : 0;
      pr.cancel_at = argc > 5 ? (unsigned) atoi (argv[5]) : 0;
      if (vd_disk_open (&src, argv[2], VD_OPEN_RAW | VD_OPEN_READ_ONLY) < 0)
        die ("open source");
      unlink (argv[3]);
      if (vd__io_posix_open (&out, AT_FDCWD, argv[3], argv[3],
                             VD_IO_RDWR | VD_IO_CREATE) < 0)
        die ("create output");
      base = strrchr (argv[3], '/');
      base = base ? base + 1 : argv[3];
      r = vd__stream_convert (src, out, base, &p, progress_cb, &pr);
      printf ("progress calls=%u last=%llu total=%llu%s\n", pr.calls,
              (unsigned long long) pr.last, (unsigned long long) pr.total,
              pr.bad ? " NON-MONOTONIC" : "");
      if (r < 0 && r != VD_ECANCELED)
        die ("convert");
      vd__io_close (out);
      vd_disk_close (src);
      return r == VD_ECANCELED ? 4 : pr.bad ? 1 : 0;
    }
  fprintf (stderr, "usage: stream-harness cat FILE OUT [THREADS] | check "
           "FILE | convert RAW OUT [THREADS]\n");
  return 2;
}
