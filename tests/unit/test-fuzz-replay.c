/* Replays every fuzz corpus and regression input (tests/fuzz/corpus/)
 * through the fuzz targets, in the normal gcc build (ASan+UBSan under
 * make check): a crash, sanitizer report or abort fails the test. */
#define LLVMFuzzerTestOneInput fz_descriptor
#include "../fuzz/fuzz-descriptor.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fz_sparse
#include "../fuzz/fuzz-sparse.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fz_stream
#include "../fuzz/fuzz-stream.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fz_cowd
#include "../fuzz/fuzz-cowd.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fz_sesparse
#include "../fuzz/fuzz-sesparse.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fz_chain
#include "../fuzz/fuzz-chain.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fz_check
#include "../fuzz/fuzz-check.c"
#undef LLVMFuzzerTestOneInput

#define FZ_TARGET_TABLE                                                 \
  { "descriptor", fz_descriptor }, { "sparse", fz_sparse },             \
  { "stream", fz_stream }, { "cowd", fz_cowd },                         \
  { "sesparse", fz_sesparse }, { "chain", fz_chain },                   \
  { "check", fz_check },
#include "../fuzz/standalone-driver.c"
