/* libnbd, loaded on first use (lib/base/dl.c): every libnbd function
 * lib/io/io-nbd*.c calls goes through vd__nbd_fn, filled by vd__nbd_load
 * before the first handle is made.  Include this instead of <libnbd.h>.
 * A function missing from VD__NBD_FNS fails the build (no member, or an
 * undefined nbd_* symbol in libvdisk.so, which links without -lnbd). */
#ifndef VD_IO_NBD_DL_H
#define VD_IO_NBD_DL_H

#include <libnbd.h>

#define VD__NBD_FNS(X) \
  X (nbd_add_meta_context) \
  X (nbd_aio_block_status) \
  X (nbd_aio_flush) \
  X (nbd_aio_get_direction) \
  X (nbd_aio_get_fd) \
  X (nbd_aio_is_closed) \
  X (nbd_aio_is_dead) \
  X (nbd_aio_is_negotiating) \
  X (nbd_aio_is_ready) \
  X (nbd_aio_notify_read) \
  X (nbd_aio_notify_write) \
  X (nbd_aio_pread) \
  X (nbd_aio_pwrite) \
  X (nbd_aio_zero) \
  X (nbd_can_flush) \
  X (nbd_can_meta_context) \
  X (nbd_can_multi_conn) \
  X (nbd_can_zero) \
  X (nbd_close) \
  X (nbd_connect_uri) \
  X (nbd_create) \
  X (nbd_get_block_size) \
  X (nbd_get_errno) \
  X (nbd_get_error) \
  X (nbd_get_export_name) \
  X (nbd_get_size) \
  X (nbd_is_read_only) \
  X (nbd_opt_abort) \
  X (nbd_opt_go) \
  X (nbd_opt_list) \
  X (nbd_pread) \
  X (nbd_set_export_name) \
  X (nbd_set_handle_name) \
  X (nbd_set_opt_mode) \
  X (nbd_set_pread_initialize) \
  X (nbd_set_tls_certificates) \
  X (nbd_set_tls_psk_file) \
  X (nbd_set_tls_username) \
  X (nbd_set_uri_allow_local_file) \
  X (nbd_shutdown)

struct vd__nbd_fns {
#define VD__NBD_MEMBER(f) __typeof__ (f) *f;
  VD__NBD_FNS (VD__NBD_MEMBER)
#undef VD__NBD_MEMBER
};
extern struct vd__nbd_fns vd__nbd_fn;

/* Load libnbd once (what: the URI or feature, for the message); 0 or
 * VD_ENOTSUP. */
int vd__nbd_load (const char *what);

#define nbd_add_meta_context (vd__nbd_fn.nbd_add_meta_context)
#define nbd_aio_block_status (vd__nbd_fn.nbd_aio_block_status)
#define nbd_aio_flush (vd__nbd_fn.nbd_aio_flush)
#define nbd_aio_get_direction (vd__nbd_fn.nbd_aio_get_direction)
#define nbd_aio_get_fd (vd__nbd_fn.nbd_aio_get_fd)
#define nbd_aio_is_closed (vd__nbd_fn.nbd_aio_is_closed)
#define nbd_aio_is_dead (vd__nbd_fn.nbd_aio_is_dead)
#define nbd_aio_is_negotiating (vd__nbd_fn.nbd_aio_is_negotiating)
#define nbd_aio_is_ready (vd__nbd_fn.nbd_aio_is_ready)
#define nbd_aio_notify_read (vd__nbd_fn.nbd_aio_notify_read)
#define nbd_aio_notify_write (vd__nbd_fn.nbd_aio_notify_write)
#define nbd_aio_pread (vd__nbd_fn.nbd_aio_pread)
#define nbd_aio_pwrite (vd__nbd_fn.nbd_aio_pwrite)
#define nbd_aio_zero (vd__nbd_fn.nbd_aio_zero)
#define nbd_can_flush (vd__nbd_fn.nbd_can_flush)
#define nbd_can_meta_context (vd__nbd_fn.nbd_can_meta_context)
#define nbd_can_multi_conn (vd__nbd_fn.nbd_can_multi_conn)
#define nbd_can_zero (vd__nbd_fn.nbd_can_zero)
#define nbd_close (vd__nbd_fn.nbd_close)
#define nbd_connect_uri (vd__nbd_fn.nbd_connect_uri)
#define nbd_create (vd__nbd_fn.nbd_create)
#define nbd_get_block_size (vd__nbd_fn.nbd_get_block_size)
#define nbd_get_errno (vd__nbd_fn.nbd_get_errno)
#define nbd_get_error (vd__nbd_fn.nbd_get_error)
#define nbd_get_export_name (vd__nbd_fn.nbd_get_export_name)
#define nbd_get_size (vd__nbd_fn.nbd_get_size)
#define nbd_is_read_only (vd__nbd_fn.nbd_is_read_only)
#define nbd_opt_abort (vd__nbd_fn.nbd_opt_abort)
#define nbd_opt_go (vd__nbd_fn.nbd_opt_go)
#define nbd_opt_list (vd__nbd_fn.nbd_opt_list)
#define nbd_pread (vd__nbd_fn.nbd_pread)
#define nbd_set_export_name (vd__nbd_fn.nbd_set_export_name)
#define nbd_set_handle_name (vd__nbd_fn.nbd_set_handle_name)
#define nbd_set_opt_mode (vd__nbd_fn.nbd_set_opt_mode)
#define nbd_set_pread_initialize (vd__nbd_fn.nbd_set_pread_initialize)
#define nbd_set_tls_certificates (vd__nbd_fn.nbd_set_tls_certificates)
#define nbd_set_tls_psk_file (vd__nbd_fn.nbd_set_tls_psk_file)
#define nbd_set_tls_username (vd__nbd_fn.nbd_set_tls_username)
#define nbd_set_uri_allow_local_file (vd__nbd_fn.nbd_set_uri_allow_local_file)
#define nbd_shutdown (vd__nbd_fn.nbd_shutdown)

#endif
