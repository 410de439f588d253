# VixDiskLib-compatible library (compat/vixdisklib), its sample program
# (examples/vixDiskLibSample.c) and its tests (tests/compat).
#
# Build tree: $(O)/compat/lib64/libvixDiskLib.so.8 (+ .so.7, .so.6 and
# .so links), so $(O)/compat is a "libdir" as nbdkit's vddk plugin expects.
# Installed into the private $(PREFIX)/lib/vdisk/vddk/lib64/, never on the
# default linker path, so it cannot shadow a real VDDK.

VIX_SRCS    := $(sort $(wildcard compat/vixdisklib/*.c))
VIX_OBJS    := $(VIX_SRCS:%.c=$(O)/%.o)
VIX_LIBDIR  := $(O)/compat
VIX_DIR     := $(VIX_LIBDIR)/lib64
VIX_SO      := $(VIX_DIR)/libvixDiskLib.so.8
VIX_LINKS   := $(VIX_DIR)/libvixDiskLib.so.7 $(VIX_DIR)/libvixDiskLib.so.6 \
               $(VIX_DIR)/libvixDiskLib.so
VIX_SAMPLE  := $(O)/bin/vix-disklib-sample
VIX_HEADERS := include/vdisk/vixDiskLib.h include/vdisk/vixMntapi.h
VIX_TESTS   := $(O)/tests/test-compat-api $(O)/tests/test-compat-dlopen \
               $(O)/tests/vix-client
VIX_INSTDIR := $(PREFIX)/lib/vdisk/vddk/lib64

.PHONY: vixdisklib install-vixdisklib
vixdisklib: $(VIX_SO) $(VIX_LINKS) $(VIX_SAMPLE)
extra-build: vixdisklib
extra-tests: $(VIX_TESTS)
install-extra: install-vixdisklib

$(VIX_OBJS): $(VIX_HEADERS) include/vdisk/vdisk.h

# lib64/ is self-contained, as VDDK's is (backup products copy lib64/*.so*
# alone): libvdisk is linked in from its PIC static archive, and the
# version script keeps every symbol but VixDiskLib_* local, so the copy
# inside cannot clash with a libvdisk.so the program also loads.  Only
# system libraries are needed (no RUNPATH).
$(VIX_SO): $(VIX_OBJS) compat/vixdisklib/libvixDiskLib.syms $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-soname,libvixDiskLib.so.8 \
	  -Wl,--version-script=compat/vixdisklib/libvixDiskLib.syms \
	  -Wl,--no-undefined -Wl,--exclude-libs,ALL -o $@ $(VIX_OBJS) $(LIBA) \
	  $(LDFLAGS_ALL) $(PKG_LIBS)

$(VIX_LINKS): $(VIX_SO)
	ln -sf libvixDiskLib.so.8 $@

# (-virus calls libvdisk's native scanner directly: -lvdisk as well)
$(VIX_SAMPLE): examples/vixDiskLibSample.c $(VIX_HEADERS) $(VIX_SO) $(VIX_DIR)/libvixDiskLib.so $(O)/lib/libvdisk.so
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< -L$(VIX_DIR) -lvixDiskLib -L$(O)/lib -lvdisk \
	  -Wl,-rpath,'$$ORIGIN/../compat/lib64:$$ORIGIN/../lib/vdisk/vddk/lib64:$$ORIGIN/../lib' $(LDFLAGS_ALL)

# The API test links against the compatibility library like a VDDK program.
$(O)/tests/test-compat-api: tests/compat/test-compat-api.c $(VIX_HEADERS) $(VIX_SO) $(VIX_DIR)/libvixDiskLib.so
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< -L$(VIX_DIR) -lvixDiskLib \
	  -Wl,-rpath,'$$ORIGIN/../compat/lib64:$$ORIGIN/../lib' $(LDFLAGS_ALL)

# The dlopen test links nothing of ours: it loads LIBDIR/lib64/*.so.8.
$(O)/tests/test-compat-dlopen: tests/compat/test-compat-dlopen.c $(VIX_HEADERS) $(VIX_SO) $(VIX_LINKS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< -ldl $(LDFLAGS_ALL)

# A VDDK client for the shell tests: dlopens LIBDIR/lib64/libvixDiskLib.so.8
# (nothing of ours linked in), so a copied lib64/ can be tried alone.
$(O)/tests/vix-client: tests/compat/vix-client.c $(VIX_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< -ldl $(LDFLAGS_ALL)

install-vixdisklib: $(VIX_SO) $(VIX_SAMPLE)
	install -d $(DESTDIR)$(VIX_INSTDIR) $(DESTDIR)$(PREFIX)/include/vdisk
	install -m 755 $(VIX_SO) $(DESTDIR)$(VIX_INSTDIR)/
	ln -sf libvixDiskLib.so.8 $(DESTDIR)$(VIX_INSTDIR)/libvixDiskLib.so.7
	ln -sf libvixDiskLib.so.8 $(DESTDIR)$(VIX_INSTDIR)/libvixDiskLib.so.6
	ln -sf libvixDiskLib.so.8 $(DESTDIR)$(VIX_INSTDIR)/libvixDiskLib.so
	install -m 644 $(VIX_HEADERS) $(DESTDIR)$(PREFIX)/include/vdisk/
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(VIX_SAMPLE) $(DESTDIR)$(PREFIX)/bin/vix-disklib-sample

-include $(VIX_OBJS:.o=.d)
