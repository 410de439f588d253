# VixMntapi-compatible library (compat/vixmntapi) over libvixDiskLib and
# libvdisk's mount API, and its test helper (tests/compat/vixmntapi-check,
# run by tests/compat/test-compat-vixmntapi.sh).
#
# Build tree: $(O)/compat/lib64/libvixMntapi.so.1 (+ .so), beside
# libvixDiskLib.so.8; installed into $(PREFIX)/lib/vdisk/vddk/lib64/ with
# it (vixMntapi.h is installed by mk/vixdisklib.mk).  Read after
# mk/vixdisklib.mk: VIX_DIR and VIX_INSTDIR come from there.

MNT_SRCS  := $(sort $(wildcard compat/vixmntapi/*.c))
MNT_OBJS  := $(MNT_SRCS:%.c=$(O)/%.o)
MNT_SO    := $(VIX_DIR)/libvixMntapi.so.1
MNT_LINK  := $(VIX_DIR)/libvixMntapi.so
MNT_CHECK := $(O)/tests/vixmntapi-check

.PHONY: vixmntapi install-vixmntapi
vixmntapi: $(MNT_SO) $(MNT_LINK)
extra-build: vixmntapi
extra-tests: $(MNT_CHECK)
install-extra: install-vixmntapi

$(MNT_OBJS): include/vdisk/vixMntapi.h include/vdisk/vixDiskLib.h include/vdisk/vdisk.h

$(MNT_SO): $(MNT_OBJS) compat/vixmntapi/libvixMntapi.syms $(VIX_SO) $(VIX_DIR)/libvixDiskLib.so $(O)/lib/$(LIBSONAME) $(O)/lib/libvdisk.so
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-soname,libvixMntapi.so.1 \
	  -Wl,--version-script=compat/vixmntapi/libvixMntapi.syms \
	  -Wl,--no-undefined -o $@ $(MNT_OBJS) -L$(VIX_DIR) -lvixDiskLib \
	  -L$(O)/lib -lvdisk \
	  -Wl,-rpath,'$$ORIGIN:$$ORIGIN/../../lib:$$ORIGIN/../../..' $(LDFLAGS_ALL)

$(MNT_LINK): $(MNT_SO)
	ln -sf libvixMntapi.so.1 $@

# Linked like a VDDK program: -lvixMntapi -lvixDiskLib, nothing else.
$(MNT_CHECK): tests/compat/vixmntapi-check.c include/vdisk/vixMntapi.h $(MNT_SO) $(MNT_LINK)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< -L$(VIX_DIR) -lvixMntapi -lvixDiskLib \
	  -Wl,-rpath,'$$ORIGIN/../compat/lib64:$$ORIGIN/../lib' $(LDFLAGS_ALL)

install-vixmntapi: $(MNT_SO)
	install -d $(DESTDIR)$(VIX_INSTDIR)
	install -m 755 $(MNT_SO) $(DESTDIR)$(VIX_INSTDIR)/
	ln -sf libvixMntapi.so.1 $(DESTDIR)$(VIX_INSTDIR)/libvixMntapi.so

-include $(MNT_OBJS:.o=.d)

# The sample's -mount calls VixMntapi (examples/vixDiskLibSample.c).
$(VIX_SAMPLE): $(MNT_SO) $(MNT_LINK)
$(VIX_SAMPLE): private LDFLAGS_ALL += -L$(VIX_DIR) -lvixMntapi
