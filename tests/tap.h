/* A tiny TAP producer for the unit tests: ok()/is()/done_testing(). */
#ifndef VDISK_TAP_H
#define VDISK_TAP_H
#include <stdio.h>
#include <string.h>
#include <inttypes.h>

static int tap_n, tap_fail;

#define ok(cond, ...)                                                   \
  do {                                                                  \
    int _c = !!(cond);                                                  \
    tap_n++;                                                            \
    if (!_c)                                                            \
      tap_fail++;                                                       \
    printf ("%sok %d - ", _c ? "" : "not ", tap_n);                     \
    printf (__VA_ARGS__);                                               \
    printf ("\n");                                                      \
    if (!_c)                                                            \
      printf ("#   failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);    \
  } while (0)

#define is_u64(got, want, ...)                                          \
  do {                                                                  \
    uint64_t _g = (uint64_t) (got), _w = (uint64_t) (want);             \
    ok (_g == _w, __VA_ARGS__);                                         \
    if (_g != _w)                                                       \
      printf ("#   got %" PRIu64 ", want %" PRIu64 "\n", _g, _w);       \
  } while (0)

#define is_str(got, want, ...)                                          \
  do {                                                                  \
    const char *_g = (got), *_w = (want);                               \
    int _e = (_g && _w) ? strcmp (_g, _w) == 0 : _g == _w;              \
    ok (_e, __VA_ARGS__);                                               \
    if (!_e)                                                            \
      printf ("#   got \"%s\", want \"%s\"\n", _g ? _g : "(null)",      \
              _w ? _w : "(null)");                                      \
  } while (0)

static int
done_testing (void)
{
  printf ("1..%d\n", tap_n);
  return tap_fail ? 1 : 0;
}
#endif
