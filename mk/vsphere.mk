# vSphere (lib/vsphere/*.c, lib/io/io-https.c): SOAP sessions, inventory and
# snapshots through the vSphere Web Services API, and the datastore file
# service as an I/O backend.  Built when pkg-config finds libcurl, libxml2
# and OpenSSL (Debian: libcurl4-openssl-dev libxml2-dev libssl-dev);
# without them the vd_vsphere_* calls and vsphere:// URIs give VD_ENOTSUP.
# The tests' simulator (tests/vsphere/vcsim) is built by
# tests/vsphere/build-vcsim.sh, not here (it needs Go).
VSPHERE_SRCS := $(sort $(wildcard lib/vsphere/*.c))
VSPHERE_OBJS := $(VSPHERE_SRCS:%.c=$(O)/%.o)
# (lib/*/*.c in LIB_SRCS already holds these objects)
$(LIBSO) $(LIBA): $(VSPHERE_OBJS)

ifneq ($(shell pkg-config --exists libcurl libxml-2.0 openssl 2>/dev/null && echo yes),)
  CFLAGS_ALL += -DVD_HAVE_VSPHERE $(shell pkg-config --cflags libcurl libxml-2.0 openssl)
  # libcurl and libxml2 are loaded on first use (lib/io/curl-dl.c,
  # lib/vsphere/xml-dl.c): their headers at build time, no -lcurl -lxml2
  # (Kerberos, LDAP, SSH, GnuTLS, ICU... stay out of every other process)
  PKG_LIBS   += $(shell pkg-config --libs openssl)
  # the libraries the build was made against (libcurl-gnutls.so.4 with
  # libcurl4-gnutls-dev, libxml2.so.16 from libxml2 2.14 on)
  CURL_SONAME := $(call vd_soname,libcurl,libcurl.so)
  XML_SONAME := $(call vd_soname,libxml-2.0,libxml2.so)
  $(call vd_objs,curl-dl.o): OBJ_CFLAGS += -DVD_CURL_SONAME='"$(or $(CURL_SONAME),libcurl.so.4)"'
  $(call vd_objs,xml-dl.o): OBJ_CFLAGS += -DVD_XML_SONAME='"$(or $(XML_SONAME),libxml2.so.2)"'
  # (a unit test that drives libcurl itself links it)
  $(O)/tests/test-io-https: PKG_LIBS += $(shell pkg-config --libs libcurl)
endif
