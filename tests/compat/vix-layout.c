/* Compile-time checks of the VixDiskLib ABI: field offsets and sizes as
 * nbdkit's vddk plugin and VDDK programs compile them in (LP64 Linux;
 * field order from vixdisklib-surface.md and vddk-api-inventory.md, the
 * offsets worked out by hand from natural alignment), and the numbers of
 * the constants.  Compiled as C89, C99 and C++ by test-vixdisklib-header.sh;
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
EXPECT (VIX_E_DISK_CANTREPAIR == 16062 && VIX_E_DISK_INVALIDDISK == 16063);
EXPECT (VIX_ASYNC == 25000 && VIX_E_ASYNC_MIXEDMODE_UNSUPPORTED == 26000);
EXPECT (VIX_ERROR_CODE ((((VixError) 0x1234) << 32) | 6) == VIX_E_NOT_SUPPORTED);
EXPECT (VIXDISKLIB_SECTOR_SIZE == 512);
EXPECT (VIXDISKLIB_MIN_CHUNK_SIZE == 128);
EXPECT (VIXDISKLIB_MAX_CHUNK_NUMBER == 512 * 1024);
EXPECT (VIXDISKLIB_FLAG_OPEN_UNBUFFERED == 1);
EXPECT (VIXDISKLIB_FLAG_OPEN_SINGLE_LINK == 2);
EXPECT (VIXDISKLIB_FLAG_OPEN_READ_ONLY == 4);
EXPECT (VIXDISKLIB_FLAG_OPEN_COMPRESSION_ZLIB == 16);
EXPECT (VIXDISKLIB_FLAG_OPEN_COMPRESSION_FASTLZ == 32);
EXPECT (VIXDISKLIB_FLAG_OPEN_COMPRESSION_SKIPZ == 64);
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
