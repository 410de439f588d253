/* libFuzzer target: a COWD (vmfsSparse) disk: descriptor + delta extent (container
 * input, see fuzz-common.h); read all, then writes.
 * Built by mk/fuzz.mk (make fuzz); replayed by tests/fuzz/test-fuzz-replay.c. */
#include "fuzz-common.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  fz_run (data, size, 1, 0, 1);
  return 0;
}
