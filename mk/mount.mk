# Mounts (lib/mount: partition tables, file system identification, FUSE).
# The partition parser is always built; the FUSE part is built when
# pkg-config finds fuse3 (Debian: libfuse3-dev; at run time fuse3 for
# fusermount3, fuse2fs and ntfs-3g for the volumes).  Without it
# vd_mount_new returns VD_ENOTSUP.
MOUNT_SRCS := $(sort $(wildcard lib/mount/*.c))
MOUNT_OBJS := $(MOUNT_SRCS:%.c=$(O)/%.o)
# (sort drops duplicates, should LIB_SRCS already name lib/mount)
LIB_SRCS   := $(sort $(LIB_SRCS) $(MOUNT_SRCS))
LIB_OBJS   := $(LIB_SRCS:%.c=$(O)/%.o)
$(LIBSO) $(LIBA): $(MOUNT_OBJS)
$(MOUNT_OBJS): lib/mount/mount-internal.h
ifneq ($(shell pkg-config --exists fuse3 2>/dev/null && echo yes),)
  CFLAGS_ALL += -DVD_HAVE_FUSE $(shell pkg-config --cflags fuse3)
  PKG_LIBS   += $(shell pkg-config --libs fuse3)
endif
# Read-only ext2/3/4 volumes are served in-process through libext2fs
# (e2fsprogs; Debian libext2fs-dev) when pkg-config finds it; without it
# they go through fuse2fs like read-write ones.  Its headers are included
# as <ext2fs/ext2fs.h> (system headers: no -I of its own folders).
ifneq ($(shell pkg-config --exists fuse3 ext2fs com_err 2>/dev/null && echo yes),)
  CFLAGS_ALL += -DVD_HAVE_EXT2FS
  PKG_LIBS   += $(shell pkg-config --libs ext2fs com_err)
endif
$(O)/lib/mount/extfs.o $(O)/lib/mount/extfs-ops.o: lib/mount/extfs-internal.h
