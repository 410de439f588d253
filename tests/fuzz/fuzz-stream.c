/* libFuzzer target: a streamOptimized file: markers, footer, inflate of every
 * grain read, block status.
 * Built by mk/fuzz.mk (make fuzz); replayed by tests/fuzz/test-fuzz-replay.c. */
#include "fuzz-common.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  fz_run (data, size, 0, 0, 0);
  return 0;
}
