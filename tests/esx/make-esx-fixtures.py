#!/usr/bin/env python3
"""Generate ESXi delta fixtures: vmfsSparse (COWD) and seSparse extents.

usage: make-esx-fixtures.py OUTDIR

For each fixture NAME this writes, in OUTDIR:
  NAME.vmdk              descriptor, the delta as the only link
                         (parentCID=ffffffff, no parent)
  NAME-delta.vmdk        the COWD extent      (or NAME-sesparse.vmdk)
  NAME.expect            the content the generator intended (raw, sparse)
  NAME-base.vmdk         a "vmfs" flat base disk (descriptor) ...
  NAME-base-flat.vmdk    ... and its data
  NAME-child.vmdk        descriptor of the same delta extent on top of the
                         base (parentFileNameHint, parentCID = base CID)
  NAME-child.expect      the content the generator intended for the chain
and a manifest OUTDIR/fixtures.txt with lines "DESCRIPTOR EXPECT LAYOUT",
LAYOUT being "single" or "chain".

It also writes hostile variants (one field of a good 1 MiB fixture
broken each; security-checklist.md section 4 items 37-39) as
OUTDIR/bad-*.vmdk, listed in OUTDIR/hostile.txt as "DESCRIPTOR EXTENT WHAT".
Each must be refused (at open or at the first read of the broken entry).

Layouts follow vmdk-format.md section 4.3 (COWD: 2048-byte header, GD of
u32 sector numbers at sector 4, 4096-entry GTs allocated on demand and
followed by their grains) and section 4.4 (seSparse: const header,
volatile header, journal, GD of u64 0x10000000_<GT index>, 4096-entry GTs
of u64 typed entries, 4 KiB grains).  Only the python3 standard library
is used; output is deterministic.
"""

import os
import random
import struct
import sys

SECTOR = 512
COWD_GT_ENTRIES = 4096
SES_GT_ENTRIES = 4096
SES_GRAIN = 8          # sectors
SES_GT_SECTORS = 64    # 4096 * 8 bytes / 512


def grain_bytes(seed, index, size):
    """Deterministic, non-zero-looking data for one grain."""
    r = random.Random(seed * 1000003 + index)
    b = bytearray(r.randbytes(size))
    # Make sure no grain is all zeros (so a misread shows).
    b[0] = 0xA5
    return bytes(b)


def pick_grains(n_grains, per_gt, seed):
    """The grains a fixture writes, in write (allocation) order.

    Covers: a contiguous run at the start, the last grain, runs across GT
    boundaries, a run written backwards (so file order differs from LBA
    order) and scattered grains."""
    r = random.Random(seed)
    order = []
    seen = set()

    def add(g):
        if 0 <= g < n_grains and g not in seen:
            seen.add(g)
            order.append(g)

    for g in range(min(16, n_grains)):
        add(g)
    add(n_grains - 1)
    for b in (1, 2, 5):
        boundary = b * per_gt
        for g in range(boundary - 3, boundary + 3):
            add(g)
    mid = n_grains // 2
    for g in range(mid + 7, mid - 1, -1):     # backwards
        add(g)
    for _ in range(24):
        add(r.randrange(n_grains))
    # A later run that continues an earlier one in LBA but not in the file.
    for g in range(16, min(20, n_grains)):
        add(g)
    return order


class Sparse:
    """A sparse output file built with seeks."""

    def __init__(self, path, length):
        self.f = open(path, "wb")
        self.length = length

    def write(self, off, data):
        self.f.seek(off)
        self.f.write(data)

    def close(self):
        self.f.truncate(self.length)
        self.f.close()


def descriptor(cid, parent_cid, create_type, extent_line, parent_hint=None):
    lines = [
        "# Disk DescriptorFile",
        "version=1",
        'encoding="UTF-8"',
        "CID=%08x" % cid,
        "parentCID=%08x" % parent_cid,
        'createType="%s"' % create_type,
    ]
    if parent_hint is not None:
        lines.append('parentFileNameHint="%s"' % parent_hint)
    lines += [
        "",
        "# Extent description",
        extent_line,
        "",
        "# The Disk Data Base",
        "#DDB",
        "",
        'ddb.adapterType = "lsilogic"',
        'ddb.geometry.cylinders = "100"',
        'ddb.geometry.heads = "255"',
        'ddb.geometry.sectors = "63"',
        'ddb.virtualHWVersion = "14"',
        "",
    ]
    return "\n".join(lines)


def write_text(path, text):
    with open(path, "w") as f:
        f.write(text)


def base_regions(cap_bytes):
    """Byte ranges of the flat base that hold data (the rest is zeros)."""
    if cap_bytes <= 8 << 20:
        return [(0, cap_bytes)]
    regs = [(0, 2 << 20), (cap_bytes - (2 << 20), cap_bytes)]
    chunk = 64 << 10
    for c in range((2 << 20) // chunk, (cap_bytes - (2 << 20)) // chunk):
        if c % 16 < 4:
            regs.append((c * chunk, (c + 1) * chunk))
    return regs


def make_base(outdir, name, cap_sectors, seed, cid):
    cap = cap_sectors * SECTOR
    flat = Sparse(os.path.join(outdir, name + "-base-flat.vmdk"), cap)
    regs = base_regions(cap)
    for (a, b) in regs:
        flat.write(a, random.Random(seed * 7 + a).randbytes(b - a))
    flat.close()
    write_text(os.path.join(outdir, name + "-base.vmdk"),
               descriptor(cid, 0xFFFFFFFF, "vmfs",
                          'RW %d VMFS "%s-base-flat.vmdk"'
                          % (cap_sectors, name)))
    return regs


def write_expect(path, cap, regs, seed, grains, grain_size):
    """grains: {grain index: bytes | "zero" | "unmapped"}.  regs/seed
    describe the base (None: no parent)."""
    out = Sparse(path, cap)
    if regs is not None:
        for (a, b) in regs:
            out.write(a, random.Random(seed * 7 + a).randbytes(b - a))
    gb = grain_size * SECTOR
    for g, v in grains.items():
        start = g * gb
        n = min(gb, cap - start)
        if isinstance(v, bytes):
            out.write(start, v[:n])
        else:
            out.write(start, bytes(n))
    out.close()


def emit(outdir, manifest, name, cap_sectors, seed, ext_file, create_type,
         ext_type, grains, grain_size):
    cap = cap_sectors * SECTOR
    base_cid = 0x10000000 + seed
    child_cid = 0x20000000 + seed
    write_text(os.path.join(outdir, name + ".vmdk"),
               descriptor(child_cid, 0xFFFFFFFF, create_type,
                          'RW %d %s "%s"' % (cap_sectors, ext_type,
                                             ext_file)))
    write_expect(os.path.join(outdir, name + ".expect"), cap, None, seed,
                 grains, grain_size)
    manifest.append("%s.vmdk %s.expect single" % (name, name))

    regs = make_base(outdir, name, cap_sectors, seed, base_cid)
    write_text(os.path.join(outdir, name + "-child.vmdk"),
               descriptor(child_cid, base_cid, create_type,
                          'RW %d %s "%s"' % (cap_sectors, ext_type,
                                             ext_file),
                          parent_hint=name + "-base.vmdk"))
    write_expect(os.path.join(outdir, name + "-child.expect"), cap, regs,
                 seed, grains, grain_size)
    manifest.append("%s-child.vmdk %s-child.expect chain" % (name, name))


# ---- COWD (vmdk-format.md 4.3) -----------------------------------------

def make_cowd(outdir, manifest, name, cap_sectors, grain, seed):
    per_gt_sectors = COWD_GT_ENTRIES * grain
    n_gd = (cap_sectors + per_gt_sectors - 1) // per_gt_sectors
    gd_sectors = (n_gd * 4 + SECTOR - 1) // SECTOR
    gd_offset = 4
    free = gd_offset + gd_sectors
    n_grains = (cap_sectors + grain - 1) // grain
    order = pick_grains(n_grains, COWD_GT_ENTRIES, seed)

    gd = [0] * n_gd
    gts = {}
    placed = []       # (sector, bytes)
    grains = {}
    for g in order:
        t = g // COWD_GT_ENTRIES
        if gd[t] == 0:
            gd[t] = free
            gts[t] = [0] * COWD_GT_ENTRIES
            free += COWD_GT_ENTRIES * 4 // SECTOR
        data = grain_bytes(seed, g, grain * SECTOR)
        gts[t][g % COWD_GT_ENTRIES] = free
        placed.append((free, data))
        grains[g] = data
        free += grain

    hdr = bytearray(2048)
    struct.pack_into("<4sIIIIIII", hdr, 0, b"COWD", 1, 3, cap_sectors, grain,
                     gd_offset, n_gd, free)
    # union at 32: child variant, parentFileName left empty (the
    # descriptor's parentFileNameHint names the parent), generation 1.
    struct.pack_into("<I", hdr, 1056, 1)          # parentGeneration
    struct.pack_into("<I", hdr, 1060, 1)          # generation
    hdr[1064:1064 + len(name)] = name.encode()[:59]
    struct.pack_into("<I", hdr, 1636, 0)          # savedGeneration
    struct.pack_into("<I", hdr, 1648, 0)          # uncleanShutdown

    ext_file = name + "-delta.vmdk"
    f = Sparse(os.path.join(outdir, ext_file), free * SECTOR)
    f.write(0, bytes(hdr))
    f.write(gd_offset * SECTOR, struct.pack("<%dI" % n_gd, *gd))
    for t, gt in gts.items():
        f.write(gd[t] * SECTOR, struct.pack("<%dI" % COWD_GT_ENTRIES, *gt))
    for (s, data) in placed:
        f.write(s * SECTOR, data)
    f.close()
    emit(outdir, manifest, name, cap_sectors, seed, ext_file, "vmfsSparse",
         "VMFSSPARSE", grains, grain)


# ---- seSparse (vmdk-format.md 4.4) -------------------------------------

SES_CONST_MAGIC = 0x00000000CAFEBABE
SES_VOLATILE_MAGIC = 0x00000000CAFECAFE
SES_VERSION = 0x0000000200000001


def ses_gte_alloc(index):
    # grain index bits 0-11 go to GTE bits 48-59, bits 12-59 to bits 0-47
    return (0x3 << 60) | ((index & 0xFFF) << 48) | (index >> 12)


def make_sesparse(outdir, manifest, name, cap_sectors, seed, gap=0):
    per_gt_sectors = SES_GT_ENTRIES * SES_GRAIN
    n_gts = (cap_sectors + per_gt_sectors - 1) // per_gt_sectors
    n_grains = (cap_sectors + SES_GRAIN - 1) // SES_GRAIN
    order = pick_grains(n_grains, SES_GT_ENTRIES, seed)

    # Region layout, in sectors.
    volatile_off, volatile_size = 1, 1
    jhdr_off, jhdr_size = 2, 2
    journal_off, journal_size = 4, 16
    gd_off = journal_off + journal_size
    gd_size = max(1, (n_gts * 8 + SECTOR - 1) // SECTOR)
    gt_off = gd_off + gd_size
    gt_size = n_gts * SES_GT_SECTORS
    bitmap_off, bitmap_size = gt_off + gt_size, 8
    backmap_off, backmap_size = bitmap_off + bitmap_size, 8
    grains_off = backmap_off + backmap_size
    grains_off = (grains_off + 7) // 8 * 8

    gd = [0] * (gd_size * SECTOR // 8)
    gts = {}
    next_gt = 0
    next_grain = 0
    grains = {}
    placed = []
    for i, g in enumerate(order):
        t = g // SES_GT_ENTRIES
        if gd[t] == 0:
            gd[t] = 0x1000000000000000 | next_gt
            gts[t] = [0] * SES_GT_ENTRIES
            next_gt += 1
        # Types: every 7th written grain is a zero grain (type 2), every
        # 11th an unmapped one (type 1); the rest hold data (type 3).
        if i % 7 == 3:
            gts[t][g % SES_GT_ENTRIES] = 0x2 << 60
            grains[g] = "zero"
            continue
        if i % 11 == 5:
            gts[t][g % SES_GT_ENTRIES] = 0x1 << 60
            grains[g] = "unmapped"
            continue
        if gap and i == len(order) // 2:
            next_grain += gap     # grain indices >= 4096 use the high bits
        data = grain_bytes(seed, g, SES_GRAIN * SECTOR)
        gts[t][g % SES_GT_ENTRIES] = ses_gte_alloc(next_grain)
        placed.append((grains_off + next_grain * SES_GRAIN, data))
        grains[g] = data
        next_grain += 1
    grains_size = max(next_grain, 1) * SES_GRAIN

    const = bytearray(512)
    struct.pack_into("<26Q", const, 0,
                     SES_CONST_MAGIC, SES_VERSION, cap_sectors, SES_GRAIN,
                     SES_GT_SECTORS, 0, 0, 0, 0, 0,
                     volatile_off, volatile_size, jhdr_off, jhdr_size,
                     journal_off, journal_size, gd_off, gd_size,
                     gt_off, gt_size, bitmap_off, bitmap_size,
                     backmap_off, backmap_size, grains_off, grains_size)
    vol = bytearray(512)
    struct.pack_into("<4Q", vol, 0, SES_VOLATILE_MAGIC, next_gt, 1, 0)

    ext_file = name + "-sesparse.vmdk"
    length = (grains_off + grains_size) * SECTOR
    f = Sparse(os.path.join(outdir, ext_file), length)
    f.write(0, bytes(const))
    f.write(volatile_off * SECTOR, bytes(vol))
    f.write(gd_off * SECTOR, struct.pack("<%dQ" % len(gd), *gd))
    for t, gt in gts.items():
        idx = gd[t] & 0xFFFFFFFF
        f.write((gt_off + idx * SES_GT_SECTORS) * SECTOR,
                struct.pack("<%dQ" % SES_GT_ENTRIES, *gt))
    for (s, data) in placed:
        f.write(s * SECTOR, data)
    f.close()
    emit(outdir, manifest, name, cap_sectors, seed, ext_file, "seSparse",
         "SESPARSE", grains, SES_GRAIN)


# ---- hostile variants -------------------------------------------------

def make_hostile(outdir, lines, good, ext_suffix, tag, what, patches,
                 truncate=None):
    """Copy fixture `good` (its descriptor and extent) to bad-TAG and apply
    patches [(offset, bytes)] to the extent."""
    name = "bad-" + tag
    src_ext = os.path.join(outdir, good + ext_suffix)
    ext_file = name + ext_suffix
    with open(src_ext, "rb") as f:
        data = bytearray(f.read())
    for (off, b) in patches:
        data[off:off + len(b)] = b
    if truncate is not None:
        del data[truncate:]
    with open(os.path.join(outdir, ext_file), "wb") as f:
        f.write(data)
    with open(os.path.join(outdir, good + ".vmdk")) as f:
        desc = f.read().replace(good + ext_suffix, ext_file)
    write_text(os.path.join(outdir, name + ".vmdk"), desc)
    lines.append("%s.vmdk %s %s" % (name, ext_file, what))


def u32(v):
    return struct.pack("<I", v)


def u64(v):
    return struct.pack("<Q", v)


def hostile(outdir):
    lines = []
    # COWD: cowd-1m-g1 (numSectors 2048, grain 1, one GD entry, GD at
    # sector 4, the GT at sector 5).
    good, sfx = "cowd-1m-g1", "-delta.vmdk"
    with open(os.path.join(outdir, good + sfx), "rb") as f:
        cowd = f.read()
    gt0 = struct.unpack_from("<I", cowd, 4 * SECTOR)[0]
    gte0 = gt0 * SECTOR            # byte offset of GTE 0 (grain 0)
    flen = len(cowd)
    H = lambda *a, **k: make_hostile(outdir, lines, good, sfx, *a, **k)
    H("cowd-version", "version-2", [(4, u32(2))])
    H("cowd-flags", "flags-0", [(8, u32(0))])
    H("cowd-grain0", "grainSize-0", [(16, u32(0))])
    H("cowd-grain3", "grainSize-3", [(16, u32(3))])
    H("cowd-grain4096", "grainSize-4096", [(16, u32(4096))])
    H("cowd-numgd", "numGDEntries-5", [(24, u32(5))])
    H("cowd-gdoff0", "gdOffset-0", [(20, u32(0))])
    H("cowd-gdoff-eof", "gdOffset-past-EOF", [(20, u32(flen // SECTOR))])
    H("cowd-free-eof", "freeSector-past-EOF",
      [(28, u32(flen // SECTOR + 10))])
    H("cowd-cap", "numSectors-disagrees", [(12, u32(4096))])
    H("cowd-gde-eof", "GDE-past-EOF", [(4 * SECTOR, u32(flen // SECTOR))])
    H("cowd-gde-hdr", "GDE-in-header", [(4 * SECTOR, u32(1))])
    H("cowd-gte-eof", "GTE-past-EOF", [(gte0, u32(0xFFFFFFF0))])
    H("cowd-gte-hdr", "GTE-in-header", [(gte0, u32(1))])
    H("cowd-trunc", "truncated", [], truncate=1000)

    # seSparse: ses-1m (one GT, grain 0 allocated).
    good, sfx = "ses-1m", "-sesparse.vmdk"
    with open(os.path.join(outdir, good + sfx), "rb") as f:
        ses = f.read()
    hdr = struct.unpack_from("<26Q", ses, 0)
    vol = hdr[10] * SECTOR
    gd = hdr[16] * SECTOR
    gte0 = hdr[18] * SECTOR
    H = lambda *a, **k: make_hostile(outdir, lines, good, sfx, *a, **k)
    H("ses-magic", "const-magic", [(0, u64(0xCAFEBABF))])
    H("ses-version", "version", [(8, u64(0x0000000200000002))])
    H("ses-grain", "grain_size-16", [(24, u64(16))])
    H("ses-gtsize", "grain_table_size-32", [(32, u64(32))])
    H("ses-flags", "flags-1", [(40, u64(1))])
    H("ses-reserved", "reserved3", [(64, u64(1))])
    H("ses-pad", "const-padding", [(400, b"\x01")])
    H("ses-cap", "capacity-disagrees", [(16, u64(4096))])
    H("ses-cap-huge", "capacity-huge", [(16, u64(1 << 60))])
    H("ses-vol-eof", "volatile-offset-past-EOF", [(80, u64(1 << 30))])
    H("ses-vol-magic", "volatile-magic", [(vol, u64(0xCAFEBABE))])
    H("ses-dirty", "replay_journal", [(vol + 24, u64(1))])
    H("ses-vol-pad", "volatile-padding", [(vol + 100, b"\x01")])
    H("ses-gdsize", "grain_dir_size-0", [(136, u64(0))])
    H("ses-gd-eof", "grain_dir_offset-past-EOF",
      [(128, u64(len(ses) // SECTOR))])
    H("ses-overlap", "GD-overlaps-volatile", [(128, u64(hdr[10]))])
    H("ses-gde-top", "GDE-top-bits", [(gd, u64(0x2000000000000000))])
    H("ses-gde-idx", "GDE-index-past-GT-area", [(gd, u64(0x1000000000000005))])
    H("ses-gte-type", "GTE-type-4", [(gte0, u64(0x4000000000000000))])
    H("ses-gte-t0", "GTE-type-0-nonzero", [(gte0, u64(0x0000000000000007))])
    H("ses-gte-eof", "GTE-grain-past-EOF", [(gte0, u64(0x300000000000FFFF))])
    H("ses-gte-huge", "GTE-grain-index-huge",
      [(gte0, u64(0x3000FFFFFFFFFFFF))])
    H("ses-grains-meta", "grains_offset-on-GD", [(192, u64(hdr[16]))])
    H("ses-trunc", "truncated", [], truncate=300)
    write_text(os.path.join(outdir, "hostile.txt"), "\n".join(lines) + "\n")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make-esx-fixtures.py OUTDIR")
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    manifest = []
    mib = 2048  # sectors
    make_cowd(outdir, manifest, "cowd-1m-g1", 1 * mib, 1, 11)
    make_cowd(outdir, manifest, "cowd-1m-g8", 1 * mib, 8, 12)
    make_cowd(outdir, manifest, "cowd-5m-g1", 5 * mib, 1, 13)
    make_cowd(outdir, manifest, "cowd-5m-g8", 5 * mib, 8, 14)
    make_cowd(outdir, manifest, "cowd-odd-g8", 5 * mib + 3, 8, 15)
    make_cowd(outdir, manifest, "cowd-100m-g1", 100 * mib, 1, 16)
    make_cowd(outdir, manifest, "cowd-100m-g8", 100 * mib, 8, 17)
    make_sesparse(outdir, manifest, "ses-1m", 1 * mib, 21)
    make_sesparse(outdir, manifest, "ses-5m", 5 * mib, 22)
    make_sesparse(outdir, manifest, "ses-odd", 5 * mib + 3, 23)
    make_sesparse(outdir, manifest, "ses-100m", 100 * mib, 24, gap=5000)
    write_text(os.path.join(outdir, "fixtures.txt"),
               "\n".join(manifest) + "\n")
    hostile(outdir)


if __name__ == "__main__":
    main()
