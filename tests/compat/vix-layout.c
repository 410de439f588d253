/* Compile-time checks of the VixDiskLib ABI: field offsets and sizes as
 * nbdkit's vddk plugin and VDDK programs compile them in (LP64 Linux;
 * field order from vixdisklib-surface.md and vddk-api-inventory.md, the
 * offsets worked out by hand from natural alignment), and the numbers of
 * the constants.  Compiled as C89, C99 and C++ by test-compat-header.sh;
 * a wrong value is a compile error. */
#include <stddef.h>
#include "vdisk/vixDiskLib.h"
#include "vdisk/vixMntapi.h"

#define VIX_CAT2(a, b) a##b
#define VIX_CAT(a, b) VIX_CAT2 (a, b)
#define EXPECT(cond) \
  typedef char VIX_CAT (vix_layout_check_, __LINE__)[(cond) ? 1 : -1]
#define OFF(type, field, value) EXPECT (offsetof (type, field) == (value))
#define SIZE(type, value) EXPECT (sizeof (type) == (value))

/* Basic types. */
SIZE (uint8, 1);
SIZE (uint16, 2);
SIZE (uint32, 4);
SIZE (uint64, 8);
SIZE (Bool, 1);
SIZE (VixError, 8);
SIZE (VixDiskLibSectorType, 8);

#if defined(__LP64__) || defined(_LP64)
/* ConnectParams: vmxSpec, serverName, thumbPrint, long privateUse,
 * credType, creds (3 pointers at most), port, nfcHostPort, vimApiVer,
 * reserved[8], state, spec (3 pointers), specType. */
OFF (VixDiskLibConnectParams, vmxSpec, 0);
OFF (VixDiskLibConnectParams, serverName, 8);
OFF (VixDiskLibConnectParams, thumbPrint, 16);
OFF (VixDiskLibConnectParams, privateUse, 24);
OFF (VixDiskLibConnectParams, credType, 32);
OFF (VixDiskLibConnectParams, creds, 40);
OFF (VixDiskLibConnectParams, creds.uid.userName, 40);
OFF (VixDiskLibConnectParams, creds.uid.password, 48);
OFF (VixDiskLibConnectParams, creds.sessionId.cookie, 40);
OFF (VixDiskLibConnectParams, creds.sessionId.userName, 48);
OFF (VixDiskLibConnectParams, creds.sessionId.key, 56);
OFF (VixDiskLibConnectParams, port, 64);
OFF (VixDiskLibConnectParams, nfcHostPort, 68);
OFF (VixDiskLibConnectParams, vimApiVer, 72);
OFF (VixDiskLibConnectParams, reserved, 80);
OFF (VixDiskLibConnectParams, state, 88);
OFF (VixDiskLibConnectParams, spec, 96);
OFF (VixDiskLibConnectParams, spec.vStorageObjSpec.id, 96);
OFF (VixDiskLibConnectParams, spec.vStorageObjSpec.datastoreMoRef, 104);
OFF (VixDiskLibConnectParams, spec.vStorageObjSpec.ssId, 112);
OFF (VixDiskLibConnectParams, spec.dsSpec.datastoreMoRef, 96);
OFF (VixDiskLibConnectParams, spec.dsSpec.diskFolder, 104);
OFF (VixDiskLibConnectParams, specType, 120);
SIZE (VixDiskLibConnectParams, 128);

/* Info: biosGeo, physGeo (3 x uint32 each), capacity, adapterType,
 * numLinks, parentFileNameHint, uuid, logicalSectorSize,
 * physicalSectorSize. */
SIZE (VixDiskLibGeometry, 12);
OFF (VixDiskLibGeometry, heads, 4);
OFF (VixDiskLibGeometry, sectors, 8);
OFF (VixDiskLibInfo, biosGeo, 0);
OFF (VixDiskLibInfo, physGeo, 12);
OFF (VixDiskLibInfo, capacity, 24);
OFF (VixDiskLibInfo, adapterType, 32);
OFF (VixDiskLibInfo, numLinks, 36);
OFF (VixDiskLibInfo, parentFileNameHint, 40);
OFF (VixDiskLibInfo, uuid, 48);
OFF (VixDiskLibInfo, logicalSectorSize, 56);
OFF (VixDiskLibInfo, physicalSectorSize, 60);
SIZE (VixDiskLibInfo, 64);

/* CreateParams: diskType, adapterType, uint16 hwVersion, capacity,
 * logicalSectorSize, physicalSectorSize. */
OFF (VixDiskLibCreateParams, diskType, 0);
OFF (VixDiskLibCreateParams, adapterType, 4);
OFF (VixDiskLibCreateParams, hwVersion, 8);
OFF (VixDiskLibCreateParams, capacity, 16);
OFF (VixDiskLibCreateParams, logicalSectorSize, 24);
OFF (VixDiskLibCreateParams, physicalSectorSize, 28);
SIZE (VixDiskLibCreateParams, 32);

/* Block lists: uint32 numBlocks, then 16-byte blocks. */
OFF (VixDiskLibBlock, offset, 0);
OFF (VixDiskLibBlock, length, 8);
SIZE (VixDiskLibBlock, 16);
OFF (VixDiskLibBlockList, numBlocks, 0);
OFF (VixDiskLibBlockList, blocks, 8);
#endif

/* Constants with VDDK's numbers. */
EXPECT (VIX_OK == 0 && VIX_E_FAIL == 1 && VIX_E_OUT_OF_MEMORY == 2);
EXPECT (VIX_E_INVALID_ARG == 3 && VIX_E_FILE_NOT_FOUND == 4);
EXPECT (VIX_E_NOT_SUPPORTED == 6 && VIX_E_CANCELLED == 10);
EXPECT (VIX_E_FILE_ALREADY_EXISTS == 12 && VIX_E_FILE_ALREADY_LOCKED == 15);
EXPECT (VIX_E_BUFFER_TOOSMALL == 24 && VIX_E_INVALID_HANDLE == 1000);
EXPECT (VIX_E_DISK_NEEDSREPAIR == 16006 && VIX_E_DISK_OUTOFRANGE == 16007);
EXPECT (VIX_E_DISK_CID_MISMATCH == 16008 && VIX_E_DISK_KEY_NOTFOUND == 16052);
EXPECT (VIX_E_DISK_INVALID_CONNECTION == 16054);
EXPECT (VIX_E_OBJECT_IS_BUSY == 5 && VIX_E_FILE_ERROR == 7);
EXPECT (VIX_E_DISK_FULL == 8 && VIX_E_INCORRECT_FILE_TYPE == 9);
EXPECT (VIX_E_FILE_READ_ONLY == 11 && VIX_E_FILE_ACCESS_ERROR == 13);
EXPECT (VIX_E_REQUIRES_LARGE_FILES == 14 && VIX_E_VMDB == 16);
EXPECT (VIX_E_NOT_SUPPORTED_ON_REMOTE_OBJECT == 20 && VIX_E_FILE_TOO_BIG == 21);
EXPECT (VIX_E_FILE_NAME_INVALID == 22 && VIX_E_ALREADY_EXISTS == 23);
EXPECT (VIX_E_OBJECT_NOT_FOUND == 25 && VIX_E_HOST_NOT_CONNECTED == 26);
EXPECT (VIX_E_INVALID_UTF8_STRING == 27 && VIX_E_UNFINISHED_JOB == 29);
EXPECT (VIX_E_NEED_KEY == 30 && VIX_E_OPERATION_ALREADY_IN_PROGRESS == 31);
EXPECT (VIX_E_LICENSE == 32 && VIX_E_VM_HOST_DISCONNECTED == 34);
EXPECT (VIX_E_AUTHENTICATION_FAIL == 35 && VIX_E_HOST_CONNECTION_LOST == 36);
EXPECT (VIX_E_DUPLICATE_NAME == 41 && VIX_E_ARGUMENT_TOO_BIG == 44);
EXPECT (VIX_E_NOT_SUPPORTED_ON_HANDLE_TYPE == 1001);
EXPECT (VIX_E_TOO_MANY_HANDLES == 1002);
EXPECT (VIX_E_HOST_DISK_INVALID_VALUE == 14003);
EXPECT (VIX_E_HOST_SERVER_NOT_FOUND == 14008);
EXPECT (VIX_E_HOST_USER_PERMISSIONS == 3014);
EXPECT (VIX_E_HOST_NETWORK_CONN_REFUSED == 14009);
EXPECT (VIX_E_HOST_TCP_CONN_LOST == 14011);
EXPECT (VIX_E_HOST_NBD_HASHFILE_INIT == 14013);
EXPECT (VIX_E_DISK_INVAL == 16000 && VIX_E_DISK_NOINIT == 16001);
EXPECT (VIX_E_DISK_NOIO == 16002 && VIX_E_DISK_PARTIALCHAIN == 16003);
EXPECT (VIX_E_DISK_CANTSHRINK == 16009 && VIX_E_DISK_PARTMISMATCH == 16010);
EXPECT (VIX_E_DISK_UNSUPPORTEDDISKVERSION == 16011);
EXPECT (VIX_E_DISK_OPENPARENT == 16012 && VIX_E_DISK_NOTSUPPORTED == 16013);
EXPECT (VIX_E_DISK_NEEDKEY == 16014 && VIX_E_DISK_NOKEYOVERRIDE == 16015);
EXPECT (VIX_E_DISK_NOTENCRYPTED == 16016 && VIX_E_DISK_NOKEY == 16017);
EXPECT (VIX_E_DISK_INVALIDPARTITIONTABLE == 16018);
EXPECT (VIX_E_DISK_NOTNORMAL == 16019 && VIX_E_DISK_NOTENCDESC == 16020);
EXPECT (VIX_E_DISK_NEEDVMFS == 16022 && VIX_E_DISK_RAWTOOBIG == 16024);
EXPECT (VIX_E_DISK_TOOMANYOPENFILES == 16027);
EXPECT (VIX_E_DISK_TOOMANYREDO == 16028 && VIX_E_DISK_RAWTOOSMALL == 16029);
EXPECT (VIX_E_DISK_INVALIDCHAIN == 16030);
EXPECT (VIX_E_DISK_SUBSYSTEM_INIT_FAIL == 16053);
EXPECT (VIX_E_DISK_ENCODING == 16061 && VIX_E_DISK_NOLICENSE == 16064);
EXPECT (VIX_E_DISK_NODEVICE == 16065 && VIX_E_DISK_UNSUPPORTEDDEVICE == 16066);
EXPECT (VIX_E_DISK_CAPACITY_MISMATCH == 16067);
EXPECT (VIX_E_DISK_PARENT_NOTALLOWED == 16068);
EXPECT (VIX_E_DISK_ATTACH_ROOTLINK == 16069);
EXPECT (VIX_E_CRYPTO_UNKNOWN_ALGORITHM == 17000);
EXPECT (VIX_E_CRYPTO_KEYSAFE_LOCATOR == 17012);
EXPECT (VIX_E_CANNOT_CONNECT_TO_HOST == 18000);
EXPECT (VIX_E_NOT_FOR_REMOTE_HOST == 18001);
EXPECT (VIX_E_INVALID_HOSTNAME_SPECIFICATION == 18002);
EXPECT (VIX_E_NET_HTTP_UNSUPPORTED_PROTOCOL == 30001);
EXPECT (VIX_E_NET_HTTP_URL_MALFORMAT == 30003);
EXPECT (VIX_E_NET_HTTP_COULDNT_RESOLVE_PROXY == 30005);
EXPECT (VIX_E_NET_HTTP_COULDNT_RESOLVE_HOST == 30006);
EXPECT (VIX_E_NET_HTTP_COULDNT_CONNECT == 30007);
EXPECT (VIX_E_NET_HTTP_HTTP_RETURNED_ERROR == 30022);
EXPECT (VIX_E_NET_HTTP_OPERATION_TIMEDOUT == 30028);
EXPECT (VIX_E_NET_HTTP_SSL_CONNECT_ERROR == 30035);
EXPECT (VIX_E_NET_HTTP_TOO_MANY_REDIRECTS == 30047);
EXPECT (VIX_E_NET_HTTP_TRANSFER == 30200);
EXPECT (VIX_E_NET_HTTP_SSL_SECURITY == 30201);
EXPECT (VIX_E_NET_HTTP_GENERIC == 30202);
EXPECT (VIX_E_DISK_CANTREPAIR == 16062 && VIX_E_DISK_INVALIDDISK == 16063);
EXPECT (VIX_ASYNC == 25000 && VIX_E_ASYNC_MIXEDMODE_UNSUPPORTED == 26000);
EXPECT (VIX_ERROR_CODE ((((VixError) 0x1234) << 32) | 6) == VIX_E_NOT_SUPPORTED);
EXPECT (VIXDISKLIB_SECTOR_SIZE == 512);
EXPECT (VIXDISKLIB_MIN_CHUNK_SIZE == 128);
EXPECT (VIXDISKLIB_MAX_CHUNK_NUMBER == 512 * 1024);
EXPECT (VIXDISKLIB_MAX_CHUNK_SIZE == 131072);
EXPECT (VIXDISKLIB_FLAG_OPEN_UNBUFFERED == 1);
EXPECT (VIXDISKLIB_FLAG_OPEN_SINGLE_LINK == 2);
EXPECT (VIXDISKLIB_FLAG_OPEN_READ_ONLY == 4);
EXPECT (VIXDISKLIB_FLAG_OPEN_COMPRESSION_ZLIB == 16);
EXPECT (VIXDISKLIB_FLAG_OPEN_COMPRESSION_FASTLZ == 32);
EXPECT (VIXDISKLIB_FLAG_OPEN_COMPRESSION_SKIPZ == 64);
EXPECT (VIXDISKLIB_FLAG_OPEN_COMPRESSION_MASK == 0x03f0);
EXPECT (VIXDISKLIB_DISK_MONOLITHIC_SPARSE == 1);
EXPECT (VIXDISKLIB_DISK_SPLIT_SPARSE == 3);
EXPECT (VIXDISKLIB_DISK_VMFS_FLAT == 5);
EXPECT (VIXDISKLIB_DISK_STREAM_OPTIMIZED == 6);
EXPECT (VIXDISKLIB_DISK_VMFS_THIN == 7);
EXPECT (VIXDISKLIB_DISK_VMFS_SPARSE == 8);
EXPECT (VIXDISKLIB_DISK_UNKNOWN == 256);
EXPECT (VIXDISKLIB_ADAPTER_IDE == 1 && VIXDISKLIB_ADAPTER_SCSI_BUSLOGIC == 2);
EXPECT (VIXDISKLIB_ADAPTER_SCSI_LSILOGIC == 3);
EXPECT (VIXDISKLIB_ADAPTER_UNKNOWN == 256);
EXPECT (VIXDISKLIB_CRED_UID == 1 && VIXDISKLIB_CRED_SESSIONID == 2);
EXPECT (VIXDISKLIB_CRED_TICKETID == 3 && VIXDISKLIB_CRED_SSPI == 4);
EXPECT (VIXDISKLIB_SPEC_VMX == 0 && VIXDISKLIB_SPEC_VSTORAGE_OBJECT == 1);
EXPECT (VIXDISKLIB_HWVERSION_WORKSTATION_4 == 3);
EXPECT (VIXDISKLIB_HWVERSION_WORKSTATION_5 == 4);
EXPECT (VIXDISKLIB_HWVERSION_WORKSTATION_6 == 6);
EXPECT (VIXDISKLIB_HWVERSION_ESX30 == 4 && VIXDISKLIB_HWVERSION_ESX4X == 7);
EXPECT (VIXDISKLIB_HWVERSION_ESX50 == 8 && VIXDISKLIB_HWVERSION_ESX51 == 9);
EXPECT (VIXDISKLIB_HWVERSION_ESX55 == 10 && VIXDISKLIB_HWVERSION_ESX60 == 11);
EXPECT (VIXDISKLIB_HWVERSION_ESX65 == 13);
EXPECT (VIXDISKLIB_HWVERSION_CURRENT == 13);

/* The callback types have VDDK's shapes. */
static void
vix_layout_log (const char *fmt, va_list ap)
{
  (void) fmt;
  (void) ap;
}

static Bool
vix_layout_progress (void *data, int pct)
{
  (void) data;
  return pct >= 0;
}

static void
vix_layout_done (void *data, VixError err)
{
  (void) data;
  (void) err;
}

int vix_layout_use (void);

int
vix_layout_use (void)
{
  VixDiskLibGenericLogFunc *log = vix_layout_log;
  VixDiskLibProgressFunc progress = vix_layout_progress;
  VixDiskLibCompletionCB done = vix_layout_done;
  uint64 big = 1;
  char buf[64];

  /* FMT64 and FMTSZ are printf length modifiers. */
  (void) sizeof (buf);
  (void) FMT64;
  (void) FMTSZ;
  return (log != 0) + (progress != 0) + (done != 0) + (int) big;
}
