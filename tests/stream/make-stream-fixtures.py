#!/usr/bin/env python3
"""Build streamOptimized fixtures from the format facts (vmdk-format.md §3,
vmdk-spec-facts.md §6-7), plus the raw image each one must read as.

    make-stream-fixtures.py OUTDIR

Writes into OUTDIR:
  disk.raw           the content every good fixture holds
  a.vmdk             layout A (VMware streaming writer): GD_AT_END in the
                     header, grains, GT marker + GT after each GT's grains,
                     GD marker + GD, footer marker + footer, EOS.  One GT is
                     empty (GDE 0); a PROGRESS marker (type 4) sits in the
                     stream; the final partial grain is compressed whole.
  b.vmdk             layout B (open-vmdk): GD at 21 and every GT right after
                     it, no table markers, grains from an unrounded
                     overHead, EOS; the final partial grain is compressed
                     short (only the bytes inside the capacity).
  a-rawdeflate.vmdk  layout A whose grains are raw deflate (RFC 1951, what
                     the technote says) instead of zlib
  a-leak.vmdk        layout A plus one grain no table points at (a leak)
  bad-*.vmdk         hostile variants of a.vmdk (security checklist §4
                     items 31-34); each must be refused cleanly
"""
import os
import random
import struct
import sys
import zlib

SECTOR = 512
GRAIN = 16                     # sectors: 8 KiB grains, 4 MiB per GT
GB = GRAIN * SECTOR
GTES = 512
CAP = 9 * 1024 * 2 + 5         # 9 MiB + 5 sectors: partial last grain
GD_AT_END = 0xFFFFFFFFFFFFFFFF


def header(gd, overhead, cap=CAP, flags=0x30001, version=3, magic=b"KDMV",
           grain=GRAIN):
    h = struct.pack("<4sIIQQQQIQQQB4sH", magic, version, flags, cap, grain,
                    1, 20, GTES, 0, gd, overhead, 0, b"\n \r\n", 1)
    return h.ljust(SECTOR, b"\0")


def descriptor(name):
    text = ("# Disk DescriptorFile\nversion=1\nencoding=\"UTF-8\"\n"
            "CID=12345678\nparentCID=ffffffff\n"
            "createType=\"streamOptimized\"\n\n# Extent description\n"
            "RW %d SPARSE \"%s\"\n\n# The Disk Data Base\n#DDB\n\n"
            "ddb.adapterType = \"lsilogic\"\nddb.virtualHWVersion = \"4\"\n"
            % (CAP, name))
    return text.encode().ljust(20 * SECTOR, b"\0")


def marker(num, mtype):
    return struct.pack("<QII", num, 0, mtype).ljust(SECTOR, b"\0")


def pad(b):
    return b + b"\0" * (-len(b) % SECTOR)


def grain_record(lba, payload):
    return pad(struct.pack("<QI", lba, len(payload)) + payload)


def content():
    """Random grains, text grains and zero grains; GT 1 (4-8 MiB) empty."""
    r = random.Random(20261126)
    data = bytearray(CAP * SECTOR)
    ngrains = (CAP + GRAIN - 1) // GRAIN
    for g in range(ngrains):
        if GTES <= g < 2 * GTES:
            continue                       # a GT with no grains at all
        kind = g % 5
        if kind == 0:
            continue                       # zero grain
        start = g * GB
        n = min(GB, len(data) - start)
        if kind in (1, 2):
            chunk = r.randbytes(n)
        else:
            line = ("grain %d of the stream fixture\n" % g).encode()
            chunk = (line * (GB // len(line) + 1))[:n]
        data[start:start + n] = chunk
    # something in the final partial grain
    data[-3 * SECTOR:] = r.randbytes(3 * SECTOR)
    return bytes(data)


def grains(data):
    ngrains = (CAP + GRAIN - 1) // GRAIN
    for g in range(ngrains):
        chunk = data[g * GB:(g + 1) * GB]
        if chunk.count(0) == len(chunk):
            continue
        yield g, chunk


def raw_deflate(b):
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(b) + c.flush()


def layout_a(data, compress=zlib.compress, progress_marker=True,
             leak=False):
    """Returns the file and where things are, for the hostile variants."""
    info = {"grains": []}
    out = bytearray(header(GD_AT_END, 128))
    out += descriptor("a.vmdk")
    out += b"\0" * (128 * SECTOR - len(out))
    ngrains = (CAP + GRAIN - 1) // GRAIN
    ngts = (ngrains + GTES - 1) // GTES
    gd = [0] * ngts
    by_gt = {}
    for g, chunk in grains(data):
        by_gt.setdefault(g // GTES, []).append((g, chunk))
    for t in range(ngts):
        table = [0] * GTES
        for g, chunk in by_gt.get(t, []):
            full = chunk.ljust(GB, b"\0")    # VMware: whole grain
            table[g % GTES] = len(out) // SECTOR
            info["grains"].append((g, len(out)))
            out += grain_record(g * GRAIN, compress(full))
        if progress_marker and t == 0:
            out += marker(0, 4)            # PROGRESS: skipped by readers
        if leak and t == 0:
            out += grain_record(7 * GRAIN, compress(b"leak" * (GB // 4)))
        if any(table):
            out += marker(4, 1)
            gd[t] = len(out) // SECTOR
            info.setdefault("gts", []).append(len(out))
            out += struct.pack("<%dI" % GTES, *table)
    gd_sectors = (ngts * 4 + SECTOR - 1) // SECTOR
    info["gd_marker"] = len(out)
    out += marker(gd_sectors, 2)
    gd_off = len(out) // SECTOR
    out += pad(struct.pack("<%dI" % ngts, *gd))
    info["footer_marker"] = len(out)
    out += marker(1, 3)
    info["footer"] = len(out)
    out += header(gd_off, 128)
    info["eos"] = len(out)
    out += marker(0, 0)
    return out, info


def layout_b(data):
    ngrains = (CAP + GRAIN - 1) // GRAIN
    ngts = (ngrains + GTES - 1) // GTES
    gd_sectors = (ngts * 4 + SECTOR - 1) // SECTOR
    overhead = 21 + gd_sectors + 4 * ngts        # not grain-aligned
    out = bytearray(header(21, overhead))
    out += descriptor("b.vmdk")
    out += b"\0" * (overhead * SECTOR - len(out))
    tables = [[0] * GTES for _ in range(ngts)]
    for g, chunk in grains(data):
        valid = min(GB, CAP * SECTOR - g * GB)
        tables[g // GTES][g % GTES] = len(out) // SECTOR
        out += grain_record(g * GRAIN, zlib.compress(chunk[:valid], 9))
    out += marker(0, 0)                            # EOS
    gd = [21 + gd_sectors + 4 * t for t in range(ngts)]
    meta = pad(struct.pack("<%dI" % ngts, *gd))
    for t in tables:
        meta += struct.pack("<%dI" % GTES, *t)
    out[21 * SECTOR:21 * SECTOR + len(meta)] = meta
    return out


def put(buf, off, fmt, *vals):
    struct.pack_into(fmt, buf, off, *vals)


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)

    def write(name, b):
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(b)

    data = content()
    write("disk.raw", data)
    a, info = layout_a(data)
    write("a.vmdk", a)
    write("b.vmdk", layout_b(data))
    write("a-rawdeflate.vmdk", layout_a(data, compress=raw_deflate)[0])
    write("a-leak.vmdk", layout_a(data, leak=True)[0])

    g0, off0 = info["grains"][0]          # a random (incompressible) grain
    g1, off1 = info["grains"][1]

    # Decompression bomb: a grain that inflates to two grains.
    b = bytearray(a)
    bomb = zlib.compress(b"\0" * (2 * GB), 9)
    rec = grain_record(g0 * GRAIN, bomb)
    assert len(rec) <= len(grain_record(0, zlib.compress(data[:GB])))
    b[off0:off0 + len(rec)] = rec
    write("bad-bomb.vmdk", b)

    # Short grain: inflates to half a grain (not the final grain).
    b = bytearray(a)
    rec = grain_record(g0 * GRAIN, zlib.compress(b"x" * (GB // 2)))
    b[off0:off0 + len(rec)] = rec
    write("bad-short.vmdk", b)

    # Grain marker LBA that is not the slot's LBA.
    b = bytearray(a)
    put(b, off1, "<Q", (g1 + 1) * GRAIN)
    write("bad-lba.vmdk", b)

    # Grain marker size 0 / huge / past EOF.
    b = bytearray(a)
    put(b, off1 + 8, "<I", 0xFFFFFF00)
    write("bad-size.vmdk", b)

    # Corrupt zlib data (checksum).
    b = bytearray(a)
    b[off1 + 40] ^= 0xFF
    b[off1 + 41] ^= 0xFF
    write("bad-zlib.vmdk", b)

    # Footer disagreeing with the header (capacity).
    b = bytearray(a)
    put(b, info["footer"] + 12, "<Q", CAP + 128)
    write("bad-footer-capacity.vmdk", b)

    # Footer marker of the wrong type.
    b = bytearray(a)
    put(b, info["footer_marker"] + 12, "<I", 1)
    write("bad-footer-marker.vmdk", b)

    # No EOS after the footer.
    b = bytearray(a)
    put(b, info["eos"] + 12, "<I", 2)
    write("bad-eos.vmdk", b)

    # Footer saying GD_AT_END itself.
    b = bytearray(a)
    put(b, info["footer"] + 56, "<Q", GD_AT_END)
    write("bad-footer-gd.vmdk", b)

    # GD marker with the wrong type.
    b = bytearray(a)
    put(b, info["gd_marker"] + 12, "<I", 1)
    write("bad-gd-marker.vmdk", b)

    # GTE pointing past the end of the file.
    b = bytearray(a)
    put(b, info["gts"][0] + 4 * (g1 % GTES), "<I", 0x7FFFFFF0)
    write("bad-gte-eof.vmdk", b)

    # Newline detector damaged by a CR/LF translation.
    b = bytearray(a)
    b[75] = 0x0A
    write("bad-newline.vmdk", b)

    # Truncated file: footer gone.
    write("bad-truncated.vmdk", a[:info["footer_marker"]])


if __name__ == "__main__":
    main()
