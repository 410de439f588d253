# vdisk: the front door.
#   make            build (release, -O2) into build/release
#   make check      build with ASan+UBSan into build/check and run every test
#   make demo       the main job on a sample made on the spot
#   make bench      benchmarks against qemu-img and the page-cache ceiling
#   make install PREFIX=DIR [DESTDIR=...]
#
# One GNU Makefile rather than Meson: the project is a handful of C files,
# every dependency is found with pkg-config, and a single file keeps the
# sanitizer and install wiring in plain sight.

# The one version source: VD_VERSION_* in include/vdisk/vdisk.h (from which
# vd_get_version(), `vdisk -V`, the plugin's version, the library's file
# name and vdisk.pc come).
VERSION   := $(shell sed -n 's/^\#define VD_VERSION_\(MAJOR\|MINOR\|MICRO\) *\([0-9]*\).*/\2/p' include/vdisk/vdisk.h | paste -sd.)
SOVERSION := 0
PREFIX    ?= /usr/local
DESTDIR   ?=
O         ?= build/release
SAN       ?= 0
BOOTSTRAP ?= 1

CC        ?= gcc
PKGS      := libdeflate zlib libisal
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# dlopen (lib/base/dl.c): in libc since glibc 2.34, in libdl before
PKG_LIBS   += -ldl

WARN      := -Wall -Wextra -Wshadow -Wvla -Wformat=2 -Wno-format-nonliteral
# Every object sees the public headers only (-Iinclude); lib/ objects, the
# unit tests and the fuzzers add -Ilib (LIB_CFLAGS) for the private ones.
BASEFLAGS := -std=gnu11 -g -D_FILE_OFFSET_BITS=64 -D_GNU_SOURCE -Iinclude -pthread
LIB_CFLAGS := -Ilib
ifeq ($(SAN),1)
  OPT     := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
  SANLD   := -fsanitize=address,undefined
else
  OPT     := -O2
  SANLD   :=
endif
ifeq ($(CI),true)
  WERROR  := -Werror
endif
CFLAGS_ALL := $(BASEFLAGS) $(OPT) $(WARN) $(WERROR) $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS_ALL := $(SANLD) -pthread $(EXTRA_LDFLAGS)

# Optional libraries, detected in one place (HAVE_*, *_CFLAGS, *_LIBS).
include mk/config.mk

LIB_SRCS  := $(sort $(wildcard lib/*/*.c))
TOOL_SRCS := $(sort $(wildcard tools/vdisk/*.c))
LIB_OBJS  := $(LIB_SRCS:%.c=$(O)/%.o)
TOOL_OBJS := $(TOOL_SRCS:%.c=$(O)/%.o)

LIBSO     := $(O)/lib/libvdisk.so.$(VERSION)
LIBSONAME := libvdisk.so.$(SOVERSION)
LIBA      := $(O)/lib/libvdisk.a
VDISK     := $(O)/bin/vdisk

# Unit tests: tests/<component>/test-*.c, each linked statically with the
# library objects so they may reach internal functions, built flat into
# $(O)/tests/ (the names carry the component, so they do not collide).
# The VixDiskLib clients (tests/compat/test-compat-*.c) link the
# compatibility library instead; mk/vixdisklib.mk builds them.
VIX_CLIENT_SRCS := $(wildcard tests/compat/test-*.c)
UNIT_SRCS := $(sort $(filter-out $(VIX_CLIENT_SRCS),$(wildcard tests/*/test-*.c)))
UNIT_BINS := $(foreach s,$(UNIT_SRCS),$(O)/tests/$(basename $(notdir $(s))))
HELPER_SRCS := $(sort $(wildcard tests/helpers/*.c))
HELPER_BINS := $(HELPER_SRCS:tests/helpers/%.c=$(O)/tests/%)

ALL_TARGETS := $(LIBSO) $(LIBA) $(VDISK) $(O)/lib/$(LIBSONAME) $(O)/lib/libvdisk.so

.PHONY: all build bootstrap check check-layers demo bench install clean tests fuzz man
all: bootstrap
	@$(MAKE) --no-print-directory build

bootstrap:
ifeq ($(BOOTSTRAP),1)
	@scripts/bootstrap.sh
endif

build: $(ALL_TARGETS) $(O)/libs.txt extra-build

# The libraries a static link of libvdisk.a needs (for test harnesses).
$(O)/libs.txt: FORCE
	@mkdir -p $(dir $@)
	@echo '$(PKG_LIBS) -pthread' > $@.tmp && (cmp -s $@.tmp $@ || mv $@.tmp $@); rm -f $@.tmp
.PHONY: FORCE
FORCE:

# OBJ_CFLAGS: flags of one object (target-specific: -Ilib for lib/, an
# optional library's flags for the objects that use it).
$(O)/lib/%.o: OBJ_CFLAGS += $(LIB_CFLAGS)
$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(OBJ_CFLAGS) -fPIC -fvisibility=hidden -MMD -MP -c $< -o $@

$(LIBSO): $(LIB_OBJS) lib/libvdisk.syms
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-soname,$(LIBSONAME) -Wl,--version-script=lib/libvdisk.syms \
	  -Wl,--no-undefined -o $@ $(LIB_OBJS) $(LDFLAGS_ALL) $(PKG_LIBS)

$(O)/lib/$(LIBSONAME): $(LIBSO)
	ln -sf libvdisk.so.$(VERSION) $@
$(O)/lib/libvdisk.so: $(LIBSO)
	ln -sf libvdisk.so.$(VERSION) $@

$(LIBA): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $(LIB_OBJS)

# The CLI links the shared library (it sees only the public API).
$(VDISK): $(TOOL_OBJS) $(O)/lib/$(LIBSONAME) $(O)/lib/libvdisk.so
	@mkdir -p $(dir $@)
	$(CC) -o $@ $(TOOL_OBJS) -L$(O)/lib -lvdisk -Wl,-rpath,'$$ORIGIN/../lib' $(LDFLAGS_ALL)

define UNIT_RULE
$(O)/tests/$(basename $(notdir $(1))): $(1) $(LIBA) $(wildcard tests/*.h tests/*/*.h)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS_ALL) $$(LIB_CFLAGS) -Itests -o $$@ $$< $$(LIBA) $$(LDFLAGS_ALL) $$(PKG_LIBS)
endef
$(foreach s,$(UNIT_SRCS),$(eval $(call UNIT_RULE,$(s))))

$(O)/tests/%: tests/helpers/%.c $(O)/lib/$(LIBSONAME)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< -L$(O)/lib -lvdisk -Wl,-rpath,'$$ORIGIN/../lib' $(LDFLAGS_ALL)

tests: build $(UNIT_BINS) $(HELPER_BINS) extra-tests

# Fragments by component (compat layer, plugin, NBD client, scan, backup,
# fuzzers) add to extra-build / extra-tests / install-extra; mk/config.mk
# was read above.
.PHONY: extra-build extra-tests install-extra
-include $(sort $(filter-out mk/config.mk,$(wildcard mk/*.mk)))

check: bootstrap
	@$(MAKE) --no-print-directory O=build/check SAN=1 tests
	@$(MAKE) --no-print-directory O=build/release build
	@$(MAKE) --no-print-directory O=build/check BOOTSTRAP=0 check-layers
	@VDISK_BUILD=build/check VDISK_RELEASE=build/release tests/run.sh

# The tiers (base -> io -> formats -> core -> ops -> services) checked on
# the objects of $(O): no edge up the order, no internal symbol in a front
# end (scripts/check-layers.py; tests/build/test-build-layers.sh).
check-layers: build
	@python3 scripts/check-layers.py $(O)

demo: all
	@scripts/demo.sh $(O)

bench: all
	@VDISK_BUILD=$(O) bench/run.sh

man: $(O)/man/vdisk.1 $(O)/man/libvdisk.3 $(O)/man/vix-disklib-sample.1
$(O)/man/%.1: docs/%.pod
	@mkdir -p $(dir $@)
	pod2man --section=1 --center="vdisk" --release="vdisk $(VERSION)" --name=$(shell echo $* | tr a-z A-Z) $< > $@
$(O)/man/%.3: docs/%.pod
	@mkdir -p $(dir $@)
	pod2man --section=3 --center="vdisk" --release="vdisk $(VERSION)" --name=$(shell echo $* | tr a-z A-Z) $< > $@

$(O)/vdisk.pc: vdisk.pc.in
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' $< > $@

install: all man $(O)/vdisk.pc install-extra
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	  $(DESTDIR)$(PREFIX)/include/vdisk $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/man/man3
	install -m 755 $(LIBSO) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libvdisk.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/$(LIBSONAME)
	ln -sf libvdisk.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libvdisk.so
	install -m 644 $(LIBA) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(VDISK) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 include/vdisk/vdisk.h $(DESTDIR)$(PREFIX)/include/vdisk/
	install -m 644 $(O)/vdisk.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/
	install -m 644 $(O)/man/vdisk.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 $(O)/man/vix-disklib-sample.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 $(O)/man/libvdisk.3 $(DESTDIR)$(PREFIX)/share/man/man3/

clean:
	rm -rf build

-include $(LIB_OBJS:.o=.d) $(TOOL_OBJS:.o=.d)
