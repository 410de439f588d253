# Fuzzing and the long robustness runs: libFuzzer targets, the CLI mutation
# campaign (make fuzz-cli), fault injection,
# crash tests, ThreadSanitizer, valgrind.
#
#   make fuzz [SECONDS=N] [FUZZ_TARGETS="sparse chain"] [FUZZ_JOBS=2]
#       build the libFuzzer targets (clang-14, ASan+UBSan) into build/fuzz
#       and run each for N seconds (default 30) on its corpus: the seeds
#       of tests/fuzz/corpus/<t>/ plus a growing work corpus in
#       build/fuzz/corpus/<t>/; prints executions and coverage per target.
#       Crashes land in build/fuzz/artifacts/.
#   make crash-long      1000 kill -9 runs per layout (tests/crash/test-crash-disk.c)
#   make fault-long      fault injection with every fault kind and mode
#   make tsan            the concurrency tests under ThreadSanitizer
#   make valgrind        unit + interop tests under valgrind (release build)
#
# make check runs the short versions: tests/fuzz/test-fuzz-replay.c,
# tests/crash/test-crash-faults.c, tests/crash/test-crash-disk.c,
# tests/disk/test-disk-concurrency.c.

FUZZ_CC      ?= clang-14
FUZZ_O       := build/fuzz
FUZZ_TARGETS ?= descriptor sparse stream cowd sesparse chain check
FUZZ_JOBS    ?= 1
SECONDS      ?= 30
FUZZ_FLAGS   := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
                -g -O1 -std=gnu11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -Iinclude $(LIB_CFLAGS) -pthread

.PHONY: fuzz fuzz-build crash-long fault-long tsan valgrind

# the replay test includes every fuzz target
$(O)/tests/test-fuzz-replay: $(wildcard tests/fuzz/*.c tests/fuzz/*.h)

ifneq ($(O),$(FUZZ_O))
$(FUZZ_O)/lib/libvdisk.a: FORCE_FUZZLIB
	@$(MAKE) --no-print-directory O=$(FUZZ_O) CC=$(FUZZ_CC) SAN=1 \
	  EXTRA_CFLAGS=-fsanitize=fuzzer-no-link BOOTSTRAP=0 $(FUZZ_O)/lib/libvdisk.a
.PHONY: FORCE_FUZZLIB

$(FUZZ_O)/fuzz-%: tests/fuzz/fuzz-%.c tests/fuzz/fuzz-common.h $(FUZZ_O)/lib/libvdisk.a
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(FUZZ_O)/lib/libvdisk.a $(PKG_LIBS)

endif
fuzz-build: $(FUZZ_TARGETS:%=$(FUZZ_O)/fuzz-%)

fuzz: fuzz-build
	@tests/fuzz/run-fuzz.sh $(FUZZ_O) $(SECONDS) $(FUZZ_JOBS) $(FUZZ_TARGETS)

crash-long: tests
	@VDISK_BUILD=$(O) CRASH_KILLS=1000 $(O)/tests/test-crash-disk

fault-long: tests
	@VDISK_BUILD=$(O) FAULT_LONG=1 $(O)/tests/test-crash-faults

# ThreadSanitizer: the library and the concurrency tests (threads on one
# disk, stream reads, the NBD client's receiving threads under nbdkit's
# delay and error filters), built apart.
TSAN_O := build/tsan
tsan:
	@$(MAKE) --no-print-directory O=$(TSAN_O) BOOTSTRAP=0 \
	  EXTRA_CFLAGS="-fsanitize=thread -O1" EXTRA_LDFLAGS=-fsanitize=thread \
	  $(TSAN_O)/lib/libvdisk.a $(TSAN_O)/tests/test-disk-concurrency \
	  $(TSAN_O)/tests/test-stream-reads $(TSAN_O)/tests/nbd-stress \
	  $(TSAN_O)/bin/vdisk
	@TSAN_OPTIONS="halt_on_error=1 exitcode=66" $(TSAN_O)/tests/test-disk-concurrency
	@TSAN_OPTIONS="halt_on_error=1 exitcode=66" $(TSAN_O)/tests/test-stream-reads
	@tests/nbd/tsan-stress.sh $(TSAN_O)

# valgrind: the release build's unit tests, then the interop tests with
# the CLI run under valgrind.
valgrind:
	@$(MAKE) --no-print-directory O=build/release BOOTSTRAP=0 tests
	@tests/run-valgrind.sh build/release

# The structure-aware CLI mutation campaign (tests/fuzz/fuzz-cli.py):
#
#   make fuzz-cli [SEED=1] [COUNT=2000] [FUZZ_CLI_TIMEOUT=30]
#       builds the ASan/UBSan CLI into build/check and runs COUNT cases of
#       seed SEED: one structural mutation of a folder of disks of every
#       layout, one vdisk command, the oracles (no crash or hang, read-only
#       commands change nothing, writing commands change only the named
#       disk's own files, failed commands change nothing, errors name a
#       file).  Each failure prints a command that reproduces it alone.
#
# make check runs a short seeded run: tests/fuzz/test-fuzz-cli.sh.
SEED  ?= 1
COUNT ?= 2000
FUZZ_CLI_TIMEOUT ?= 30
.PHONY: fuzz-cli
fuzz-cli:
	@$(MAKE) --no-print-directory O=build/check SAN=1 BOOTSTRAP=0 build
	@ASAN_OPTIONS=$${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=99} \
	  UBSAN_OPTIONS=$${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:exitcode=98} \
	  python3 tests/fuzz/fuzz-cli.py --vdisk build/check/bin/vdisk \
	  --seed $(SEED) --count $(COUNT) --timeout $(FUZZ_CLI_TIMEOUT)
