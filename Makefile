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

VERSION   := 0.1.0
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

WARN      := -Wall -Wextra -Wshadow -Wvla -Wformat=2 -Wno-format-nonliteral
BASEFLAGS := -std=gnu11 -g -D_FILE_OFFSET_BITS=64 -D_GNU_SOURCE -Iinclude -Ilib -pthread
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

LIB_SRCS  := $(sort $(wildcard lib/*.c lib/formats/*.c lib/fleet/*.c))
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

.PHONY: all build bootstrap check demo bench install clean tests fuzz man
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

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -fPIC -fvisibility=hidden -MMD -MP -c $< -o $@

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
	$$(CC) $$(CFLAGS_ALL) -Ilib -Itests -o $$@ $$< $$(LIBA) $$(LDFLAGS_ALL) $$(PKG_LIBS)
endef
$(foreach s,$(UNIT_SRCS),$(eval $(call UNIT_RULE,$(s))))

$(O)/tests/%: tests/helpers/%.c $(O)/lib/$(LIBSONAME)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< -L$(O)/lib -lvdisk -Wl,-rpath,'$$ORIGIN/../lib' $(LDFLAGS_ALL)

tests: build $(UNIT_BINS) $(HELPER_BINS) extra-tests

# Fragments for optional parts (compat layer, plugin, fuzzers) add to
# extra-build / extra-tests / install-extra.
.PHONY: extra-build extra-tests install-extra
-include $(sort $(wildcard mk/*.mk))

check: bootstrap
	@$(MAKE) --no-print-directory O=build/check SAN=1 tests
	@$(MAKE) --no-print-directory O=build/release build
	@VDISK_BUILD=build/check VDISK_RELEASE=build/release tests/run.sh

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
	$(CC) -o $(DESTDIR)$(PREFIX)/bin/vdisk $(TOOL_OBJS) -L$(O)/lib -lvdisk \
	  -Wl,-rpath,'$$ORIGIN/../lib' $(LDFLAGS_ALL)
	install -m 644 include/vdisk/vdisk.h $(DESTDIR)$(PREFIX)/include/vdisk/
	install -m 644 $(O)/vdisk.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/
	install -m 644 $(O)/man/vdisk.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 $(O)/man/vix-disklib-sample.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 $(O)/man/libvdisk.3 $(DESTDIR)$(PREFIX)/share/man/man3/

clean:
	rm -rf build

-include $(LIB_OBJS:.o=.d) $(TOOL_OBJS:.o=.d)
