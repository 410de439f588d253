# First class disks (lib/fcd): the per-datastore catalog is SQLite
# (Debian: libsqlite3-dev; the tests use the sqlite3 shell as well).
PKG_LIBS   += $(shell pkg-config --libs sqlite3 2>/dev/null)
CFLAGS_ALL += $(shell pkg-config --cflags sqlite3 2>/dev/null)
