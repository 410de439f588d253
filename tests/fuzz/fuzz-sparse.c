/* libFuzzer target: a monolithicSparse file (embedded descriptor): open, read all,
 * block status, then a read-write open with a few writes (in memory).
 * Built by mk/fuzz.mk (make fuzz); replayed by tests/fuzz/test-fuzz-replay.c. */
#include "fuzz-common.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  fz_run (data, size, 0, 0, 1);
  return 0;
}
