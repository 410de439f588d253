# Optional libraries: detected here, in one place, before any other
# fragment is read (the Makefile includes this file first).
#
# For each library X this sets HAVE_X (1 when found, empty when not),
# X_CFLAGS (-DVD_HAVE_X and pkg-config's flags; empty when not found) and
# X_LIBS.  A detection can be forced off from the command line, e.g.
# `make O=build/nonbd HAVE_LIBNBD=0`.  The component fragments put X_CFLAGS
# only on the objects that use X (mk/nbd.mk, mk/scan.mk, mk/backup.mk,
# mk/plugin.mk), and X_LIBS on the link of libvdisk (PKG_LIBS).
#
#   HAVE_CLAMAV   libclamav        lib/scan-clamav.c (vd_scanner_new_clamav)
#   HAVE_LIBNBD   libnbd           lib/io-nbd.c (the NBD client)
#   HAVE_NETTLE   nettle           lib/io-nbd.c (PSK keys), lib/backup/
#   HAVE_JSONC    json-c           lib/backup/ (manifests)
#   HAVE_NBDKIT   nbdkit headers   plugins/nbdkit
#   HAVE_SQLITE3  sqlite3          (not used yet)
#   HAVE_FUSE3    fuse3            (not used yet)
#   HAVE_LIBCURL  libcurl          (not used yet)
#   HAVE_LIBXML2  libxml-2.0       (not used yet)
#
# `make config` prints what was found.

# $(call vd_detect,VAR,pkg-config names): HAVE_VAR, VAR_CFLAGS, VAR_LIBS.
# A HAVE_VAR given on the command line (or in the environment) wins; 0
# means off.
define vd_detect
ifeq ($$(origin HAVE_$(1)),undefined)
  HAVE_$(1) := $$(shell pkg-config --exists $(2) 2>/dev/null && echo 1)
endif
ifeq ($$(HAVE_$(1)),0)
  override HAVE_$(1) :=
endif
ifneq ($$(HAVE_$(1)),)
  $(1)_CFLAGS := -DVD_HAVE_$(1) $$(shell pkg-config --cflags $(2) 2>/dev/null)
  $(1)_LIBS   := $$(shell pkg-config --libs $(2) 2>/dev/null)
else
  $(1)_CFLAGS :=
  $(1)_LIBS   :=
endif
endef

$(eval $(call vd_detect,CLAMAV,libclamav))
$(eval $(call vd_detect,LIBNBD,libnbd))
$(eval $(call vd_detect,NETTLE,nettle))
$(eval $(call vd_detect,JSONC,json-c))
$(eval $(call vd_detect,NBDKIT,nbdkit))
$(eval $(call vd_detect,SQLITE3,sqlite3))
$(eval $(call vd_detect,FUSE3,fuse3))
$(eval $(call vd_detect,LIBCURL,libcurl))
$(eval $(call vd_detect,LIBXML2,libxml-2.0))
# Intel's multi-buffer crypto library (libipsec-mb-dev, amd64) has no
# pkg-config file: a program using it must compile and link.
ifeq ($(origin HAVE_IPSECMB),undefined)
  HAVE_IPSECMB := $(shell printf '\043include <intel-ipsec-mb.h>\nint main (void) { return alloc_mb_mgr (0) == 0; }\n' | $(CC) -x c - -o /dev/null -lIPSec_MB >/dev/null 2>&1 && echo 1)
endif
ifeq ($(HAVE_IPSECMB),0)
  override HAVE_IPSECMB :=
endif

# lib/backup/ cannot be built without these two (yet): say so plainly.
ifeq ($(HAVE_JSONC),)
  $(error json-c not found (Debian: libjson-c-dev); lib/backup/ needs it)
endif
ifeq ($(HAVE_NETTLE),)
  $(error nettle not found (Debian: nettle-dev); lib/backup/ needs it)
endif

# The objects a flag goes to are named by file name, wherever the file
# sits under lib/: $(call vd_objs,io-nbd.o) is that object of $(LIB_OBJS).
vd_objs = $(filter $(addprefix %/,$(1)),$(LIB_OBJS))

# The SONAME of a library that is loaded on first use (lib/base/dl.c), as
# the build finds it: $(call vd_soname,PKG,FILE) (empty: the mk file's
# default, the one Debian 12 ships).
vd_soname = $(shell readelf -d "$$(pkg-config --variable=libdir $(1) 2>/dev/null)/$(2)" 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')

VD_CONFIG_NAMES := CLAMAV LIBNBD NETTLE JSONC NBDKIT SQLITE3 FUSE3 LIBCURL LIBXML2 IPSECMB

.PHONY: config
config:
	@$(foreach v,$(VD_CONFIG_NAMES),printf '%-8s %s\n' '$(v)' '$(if $(HAVE_$(v)),yes,no)';)
