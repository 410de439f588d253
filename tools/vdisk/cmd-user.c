/* vdisk user add|remove|list FILE: the TLS-PSK users of `vdisk serve`
 * (nbdkit --tls-psk FILE: lines "user:hexkey", re-read on each
 * connection, so changes apply to the next connection).
 *
 * A key is derived from a password with vd_nbd_psk_derive: PBKDF2-HMAC-
 * SHA256, salt "vdisk-nbd-psk:" USER, 100000 rounds.  The salt is the
 * user name, not a random per-file value, so that a client that knows
 * only the user name and password (VixDiskLib's userName/password, or
 * VDISK_NBD_USER/VDISK_NBD_PASSWORD) derives the same key.  --random
 * stores a random key instead, for clients given the key file itself. */
#include "vdisk-tool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define MAX_FILE (1u << 20)

static char *
read_file (const char *path, int *missing)
{
  FILE *f = fopen (path, "r");
  char *buf;
  size_t n;
  *missing = 0;
  if (!f) {
    if (errno == ENOENT) {
      *missing = 1;
      return strdup ("");
    }
    fprintf (stderr, "vdisk user: %s: %s\n", path, strerror (errno));
    return NULL;
  }
  buf = malloc (MAX_FILE + 1);
  n = buf ? fread (buf, 1, MAX_FILE + 1, f) : 0;
  fclose (f);
  if (!buf || n > MAX_FILE) {
    fprintf (stderr, "vdisk user: %s: too big or out of memory\n", path);
    free (buf);
    return NULL;
  }
  buf[n] = '\0';
  return buf;
}

/* Write text to path atomically, mode 0600. */
static int
write_file (const char *path, const char *text)
{
  char *tmp;
  int fd;
  size_t len = strlen (text);
  if (asprintf (&tmp, "%s.tmp.%ld", path, (long) getpid ()) < 0)
    return -1;
  fd = open (tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 || write (fd, text, len) != (ssize_t) len || fsync (fd) < 0
      || close (fd) < 0 || rename (tmp, path) < 0) {
    fprintf (stderr, "vdisk user: %s: %s\n", path, strerror (errno));
    if (fd >= 0)
      unlink (tmp);
    free (tmp);
    return -1;
  }
  free (tmp);
  return 0;
}

/* Does line (up to its end) belong to user? */
static int
line_is (const char *line, const char *user)
{
  size_t n = strlen (user);
  return strncmp (line, user, n) == 0 && line[n] == ':';
}

/* Remove user's line from text (in place); returns 1 if it was there. */
static int
drop_user (char *text, const char *user)
{
  int found = 0;
  char *p = text;
  while (*p) {
    char *end = strchr (p, '\n');
    char *next = end ? end + 1 : p + strlen (p);
    if (line_is (p, user)) {
      memmove (p, next, strlen (next) + 1);
      found = 1;
      continue;
    }
    p = next;
  }
  return found;
}

static char *
read_password (int from_stdin)
{
  char *line = NULL, *again = NULL;
  size_t cap = 0;
  struct termios old, quiet;
  int tty = !from_stdin && isatty (0);
  ssize_t n;

  if (tty) {
    fprintf (stderr, "Password: ");
    tcgetattr (0, &old);
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t) ECHO;
    tcsetattr (0, TCSAFLUSH, &quiet);
  }
  n = getline (&line, &cap, stdin);
  if (tty) {
    size_t cap2 = 0;
    fprintf (stderr, "\nAgain: ");
    if (n > 0 && getline (&again, &cap2, stdin) < 0)
      n = -1;
    tcsetattr (0, TCSAFLUSH, &old);
    fprintf (stderr, "\n");
  }
  if (n <= 0) {
    free (line);
    free (again);
    fprintf (stderr, "vdisk user: no password given\n");
    return NULL;
  }
  line[strcspn (line, "\r\n")] = '\0';
  if (again) {
    again[strcspn (again, "\r\n")] = '\0';
    int same = strcmp (line, again) == 0;
    explicit_bzero (again, strlen (again));
    free (again);
    if (!same) {
      explicit_bzero (line, strlen (line));
      free (line);
      fprintf (stderr, "vdisk user: the passwords differ\n");
      return NULL;
    }
  }
  if (!*line) {
    free (line);
    fprintf (stderr, "vdisk user: empty password\n");
    return NULL;
  }
  return line;
}

static int
user_add (const char *path, const char *user, int replace, int random_key,
          int from_stdin)
{
  char hex[VD_NBD_PSK_HEX_SIZE], *text, *out;
  int missing, rc = 1;

  text = read_file (path, &missing);
  if (!text)
    return 1;
  if (drop_user (text, user) && !replace) {
    fprintf (stderr, "vdisk user: %s: user '%s' exists (use --replace to "
             "change the key)\n", path, user);
    free (text);
    return 1;
  }
  if (random_key) {
    uint8_t key[32];
    int fd = open ("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read (fd, key, sizeof key) != (ssize_t) sizeof key) {
      fprintf (stderr, "vdisk user: /dev/urandom: %s\n", strerror (errno));
      if (fd >= 0)
        close (fd);
      free (text);
      return 1;
    }
    close (fd);
    for (size_t i = 0; i < sizeof key; i++)
      snprintf (hex + 2 * i, 3, "%02x", key[i]);
  }
  else {
    char *pw = read_password (from_stdin);
    if (!pw) {
      free (text);
      return 1;
    }
    int r = vd_nbd_psk_derive (hex, sizeof hex, user, pw);
    explicit_bzero (pw, strlen (pw));
    free (pw);
    if (r < 0) {
      free (text);
      return fail ();
    }
  }
  size_t len = strlen (text);
  if (asprintf (&out, "%s%s%s:%s\n", text,
                len && text[len - 1] != '\n' ? "\n" : "", user, hex) >= 0) {
    rc = write_file (path, out) < 0;
    explicit_bzero (out, strlen (out));
    free (out);
  }
  explicit_bzero (hex, sizeof hex);
  free (text);
  return rc;
}

static int
run (int argc, char **argv)
{
  static const struct option opts[] = {
    { "replace", no_argument, NULL, 'f' },
    { "random", no_argument, NULL, 'R' },
    { "password-stdin", no_argument, NULL, 'P' },
    OPT_HELP, { 0 } };
  int c, replace = 0, random_key = 0, from_stdin = 0, missing, rc = 0;
  const char *verb, *path;
  char *text;

  while ((c = getopt_long (argc, argv, "f", opts, NULL)) != -1) {
    switch (c) {
    case 'f': replace = 1; break;
    case 'R': random_key = 1; break;
    case 'P': from_stdin = 1; break;
    default: return usage_error ("user", "invalid option");
    }
  }
  if (optind + 2 > argc)
    return usage_error ("user", "expected add|remove|list FILE [USER]");
  verb = argv[optind];
  path = argv[optind + 1];
  if (strcmp (verb, "list") == 0) {
    if (optind + 2 != argc)
      return usage_error ("user", "list takes only FILE");
    text = read_file (path, &missing);
    if (!text)
      return 1;
    for (char *p = text; *p;) {
      char *end = strchr (p, '\n'), *colon;
      if (end)
        *end = '\0';
      colon = strchr (p, ':');
      if (colon && colon != p)
        printf ("%.*s\n", (int) (colon - p), p);
      p = end ? end + 1 : p + strlen (p);
    }
    free (text);
    return missing;
  }
  if (optind + 3 != argc)
    return usage_error ("user", "%s takes FILE USER", verb);
  const char *user = argv[optind + 2];
  if (!vd_nbd_user_ok (user))
    return usage_error ("user", "user name '%s' is not allowed (1-64 of "
                        "A-Z a-z 0-9 . _ @ -)", user);
  if (strcmp (verb, "add") == 0)
    return user_add (path, user, replace, random_key, from_stdin);
  if (strcmp (verb, "remove") == 0) {
    text = read_file (path, &missing);
    if (!text)
      return 1;
    if (!drop_user (text, user)) {
      fprintf (stderr, "vdisk user: %s: no user '%s'\n", path, user);
      rc = 1;
    }
    else
      rc = write_file (path, text) < 0;
    free (text);
    return rc;
  }
  return usage_error ("user", "unknown action '%s' (add, remove, list)",
                      verb);
}

const struct command cmd_user = {
  "user", run,
  "add [--replace] [--password-stdin | --random] FILE USER | remove FILE "
  "USER | list FILE",
  "Manage the TLS-PSK users of 'vdisk serve --tls-psk FILE'.",
  "  -f, --replace         add: change the key of an existing user\n"
  "      --password-stdin  add: read the password from standard input\n"
  "      --random          add: a random key instead of a password\n"
  "The key is PBKDF2-HMAC-SHA256(password, salt \"vdisk-nbd-psk:\" USER,\n"
  "100000 rounds), so clients log in with user and password\n"
  "(VDISK_NBD_USER/VDISK_NBD_PASSWORD, VixDiskLib userName/password).\n"
  "The server re-reads FILE on each connection.\n",
};
