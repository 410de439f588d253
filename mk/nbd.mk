# The NBD client in libvdisk (lib/io/io-nbd*.c): disks opened by NBD URI
# through libnbd, password keys with nettle's PBKDF2.  Optional: without
# libnbd (mk/config.mk, or `make HAVE_LIBNBD=0`) io-nbd.c builds a client
# that answers VD_ENOTSUP ("built without libnbd"); the keys need only
# nettle.  The nbdkit plugin (the server side) is mk/plugin.mk.

# libnbd itself is loaded on first use (lib/io/nbd-dl.c): its headers at
# build time, no -lnbd (GnuTLS and its dozen libraries stay out of every
# process that never opens an NBD URI).
$(call vd_objs,io-nbd.o io-nbd-engine.o io-nbd-readahead.o io-nbd-bs.o nbd-dl.o): OBJ_CFLAGS += $(LIBNBD_CFLAGS) $(NETTLE_CFLAGS)
PKG_LIBS += $(NETTLE_LIBS)
NBD_SONAME := $(call vd_soname,libnbd,libnbd.so)
$(call vd_objs,nbd-dl.o): OBJ_CFLAGS += -DVD_NBD_SONAME='"$(or $(NBD_SONAME),libnbd.so.0)"'

# VixDiskLib against a vdisk server (run by tests/nbd/test-nbd-serve.sh; not a
# test-* program, as it needs the server the script starts).
NBD_VIX_HELPER := $(O)/tests/nbd-vix-remote
extra-tests: $(NBD_VIX_HELPER)
# (the outputs of mk/compat.mk are named directly)
$(NBD_VIX_HELPER): tests/nbd/nbd-vix-remote.c include/vdisk/vixDiskLib.h $(O)/compat/lib64/libvixDiskLib.so.8 $(O)/compat/lib64/libvixDiskLib.so
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< -L$(O)/compat/lib64 -lvixDiskLib \
	  -Wl,-rpath,'$$ORIGIN/../compat/lib64:$$ORIGIN/../lib' $(LDFLAGS_ALL)

# VixDiskLib remote parity (run by tests/nbd/test-nbd-remote-parity.sh).
NBD_VIX_PARITY := $(O)/tests/nbd-vix-parity
extra-tests: $(NBD_VIX_PARITY)
$(NBD_VIX_PARITY): tests/nbd/nbd-vix-parity.c include/vdisk/vixDiskLib.h $(O)/compat/lib64/libvixDiskLib.so.8 $(O)/compat/lib64/libvixDiskLib.so
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< -L$(O)/compat/lib64 -lvixDiskLib \
	  -Wl,-rpath,'$$ORIGIN/../compat/lib64:$$ORIGIN/../lib' $(LDFLAGS_ALL)

# Without libnbd: build a tree with the detection forced off and check that
# an NBD URI is refused with the reason (make check-nonbd; not part of
# make check, as it builds the whole tree a second time).
NONBD_O := build/nonbd
.PHONY: check-nonbd
check-nonbd:
	@$(MAKE) --no-print-directory O=$(NONBD_O) HAVE_LIBNBD=0 BOOTSTRAP=0 build
	@out=$$($(NONBD_O)/bin/vdisk cat nbd://x 2>&1 >/dev/null); rc=$$?; \
	  if [ $$rc -ne 0 ] && echo "$$out" | grep -q 'built without libnbd'; then \
	    echo "ok 1 - vdisk cat nbd://x without libnbd: $$out"; \
	  else echo "not ok 1 - vdisk cat nbd://x without libnbd (exit $$rc): $$out"; exit 1; fi
	@if nm -D $(NONBD_O)/lib/libvdisk.so | grep -q ' U nbd_'; then \
	  echo "not ok 2 - libvdisk.so without libnbd needs no nbd_* symbol"; exit 1; \
	  else echo "ok 2 - libvdisk.so without libnbd needs no nbd_* symbol"; fi
