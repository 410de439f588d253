# Scanning (lib/scan/scan.c, lib/scan/scan-clamav.c): the libclamav backend is built
# when pkg-config finds libclamav (Debian: libclamav-dev); without it
# vd_scanner_new_clamav returns VD_ENOTSUP and callback scanners still work.
ifneq ($(shell pkg-config --exists libclamav 2>/dev/null && echo yes),)
  CFLAGS_ALL += -DVD_HAVE_CLAMAV $(shell pkg-config --cflags libclamav)
  PKG_LIBS   += $(shell pkg-config --libs libclamav)
endif
