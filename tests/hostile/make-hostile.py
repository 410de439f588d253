#!/usr/bin/env python3
"""Build a corpus of corrupt or malicious VMDK images.

Usage: make-hostile.py [--verify] OUTDIR

Everything is built from first principles (vmdk-format.md sections 1-4)
with the standard library only, and deterministically: the same script
writes the same bytes every time.  OUTDIR receives:

  base-*/            valid images (one per layout) that every mutation
                     starts from; a peer (qemu-img) and vdisk must both
                     read them, and read the same bytes
  NAME/              one folder per hostile image; each holds exactly one
                     defect from security-checklist.md section 4
  bases.tsv          name, feature, file
  manifest.tsv       name, item, feature, command, exit, file, words, what

Columns of manifest.tsv:
  item     the checklist item number (security-checklist.md section 4)
  feature  core | stream | cowd | sesparse | chain (what vdisk must
           implement before the case can be judged)
  command  info | cat | check  (the vdisk command that must fail)
  exit     1, or 2 for "check" (corruption found)
  file     the path inside NAME/ to hand to vdisk
  words    what the error message must mention: groups separated by ';',
           each group a list of alternatives separated by '|'; matched
           case-insensitively as plain substrings

--verify runs qemu-img convert -O raw on every base and compares with
the content the generator meant to write (exit 1 on mismatch).
"""

import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

SECTOR = 512
GRAIN = 128                    # sectors, the default
NL_DETECT, RGD, ZERO_GRAIN = 0x1, 0x2, 0x4
COMPRESSED, MARKERS = 0x10000, 0x20000
GD_AT_END = 0xFFFFFFFFFFFFFFFF


def rnd(seed, n):
    return random.Random(seed).randbytes(n)


def compressible(seed, n):
    """Bytes that deflate well but are not trivial."""
    r = random.Random(seed)
    words = [b"vdisk", b"grain", b"sector", b"VMDK ", b"\0\0\0\0", b"zz"]
    out = bytearray()
    while len(out) < n:
        out += r.choice(words)
    return bytes(out[:n])


def ceil_div(a, b):
    return (a + b - 1) // b


def round_up(a, b):
    return ceil_div(a, b) * b


# ---------------------------------------------------------------- descriptor

def descriptor(create_type, extents, cid="1a2b3c4d", parent_cid="ffffffff",
               parent_hint=None, header=None, ddb=None, cylinders=4):
    """Text descriptor (vmdk-format.md 1.2).  extents: list of lines."""
    if header is None:
        header = ["version=1", "CID=%s" % cid, "parentCID=%s" % parent_cid,
                  'createType="%s"' % create_type]
        if parent_hint is not None:
            header.append('parentFileNameHint="%s"' % parent_hint)
    if ddb is None:
        ddb = ['ddb.virtualHWVersion = "4"',
               'ddb.geometry.cylinders = "%d"' % cylinders,
               'ddb.geometry.heads = "16"',
               'ddb.geometry.sectors = "63"',
               'ddb.adapterType = "ide"']
    text = "# Disk DescriptorFile\n" + "\n".join(header) + "\n\n"
    text += "# Extent description\n" + "\n".join(extents) + "\n\n"
    text += "# The Disk Data Base\n#DDB\n\n" + "\n".join(ddb) + "\n"
    return text.encode("latin-1") if isinstance(text, str) else text


# ------------------------------------------------------------ hosted sparse

HDR_FMT = "<4sIIQQQQIQQQB4sH"   # 79 bytes, vmdk-format.md 2.1


def sparse_header(version=1, flags=NL_DETECT | RGD, capacity=0, grain=GRAIN,
                  desc_off=0, desc_size=0, gtes=512, rgd=0, gd=0, overhead=0,
                  unclean=0, nl=b"\n \r\n", algo=0, magic=b"KDMV"):
    h = struct.pack(HDR_FMT, magic, version, flags, capacity, grain,
                    desc_off, desc_size, gtes, rgd, gd, overhead, unclean,
                    nl, algo)
    return h + bytes(SECTOR - len(h))


# field offsets inside the header
OFF = dict(version=4, flags=8, capacity=12, grain=20, desc_off=28,
           desc_size=36, gtes=44, rgd=48, gd=56, overhead=64, unclean=72,
           nl=73, algo=77)


class Sparse:
    """A hosted sparse extent laid out as VMware/QEMU do (2.4): header,
    descriptor at 1 (20 sectors), RGD, RGTs, GD, GTs, pad, grains."""

    def __init__(self, capacity, grains, desc=None, desc_size=20,
                 version=1, flags=NL_DETECT | RGD, grain=GRAIN):
        self.capacity, self.grain = capacity, grain
        n_grains = ceil_div(capacity, grain)
        gt_count = ceil_div(n_grains, 512)
        gd_sectors = ceil_div(gt_count * 4, SECTOR)
        pos = 1
        desc_off = 0
        if desc is not None:
            desc_off, pos = 1, 1 + desc_size
            assert len(desc) <= desc_size * SECTOR
        self.rgd = pos
        self.rgts = [pos + gd_sectors + 4 * i for i in range(gt_count)]
        self.gd = pos + gd_sectors + 4 * gt_count
        self.gts = [self.gd + gd_sectors + 4 * i for i in range(gt_count)]
        end = self.gd + gd_sectors + 4 * gt_count
        self.overhead = round_up(end, grain)
        self.gte = {}
        data = bytearray()
        for k, idx in enumerate(sorted(grains)):
            self.gte[idx] = self.overhead + k * grain
            data += grains[idx]
        self.img = bytearray(self.overhead * SECTOR) + data
        self.img[0:SECTOR] = sparse_header(
            version=version, flags=flags, capacity=capacity, grain=grain,
            desc_off=desc_off, desc_size=desc_size if desc is not None else 0,
            rgd=self.rgd if flags & RGD else 0, gd=self.gd,
            overhead=self.overhead)
        if desc is not None:
            self.img[SECTOR:SECTOR + len(desc)] = desc
        for tables, gd in ((self.rgts, self.rgd), (self.gts, self.gd)):
            for i, gt in enumerate(tables):
                struct.pack_into("<I", self.img, gd * SECTOR + 4 * i, gt)
            for idx, sec in self.gte.items():
                self.set_gte(idx, sec, tables=[tables])

    def set_gte(self, idx, value, tables=None):
        for t in tables or (self.gts, self.rgts):
            off = t[idx // 512] * SECTOR + 4 * (idx % 512)
            struct.pack_into("<I", self.img, off, value)

    def poke(self, field, value):
        img = bytearray(self.img)
        fmt = {"version": "<I", "flags": "<I", "gtes": "<I", "algo": "<H",
               "unclean": "<B"}.get(field, "<Q")
        struct.pack_into(fmt, img, OFF[field], value)
        return img


def grains_for(seed, capacity, indices, grain=GRAIN):
    out = {}
    for i in indices:
        n = min(grain, capacity - i * grain) * SECTOR
        out[i] = rnd(seed * 1000 + i, n) + bytes(grain * SECTOR - n)
    return out


def sparse_raw(capacity, grains, grain=GRAIN):
    raw = bytearray(capacity * SECTOR)
    for i, g in grains.items():
        start = i * grain * SECTOR
        n = min(len(g), len(raw) - start)
        raw[start:start + n] = g[:n]
    return raw


# --------------------------------------------------------- streamOptimized

def marker(num_sectors, mtype):
    m = struct.pack("<QII", num_sectors, 0, mtype)
    return m + bytes(SECTOR - len(m))


def pad_sector(b):
    return b + bytes(round_up(len(b), SECTOR) - len(b))


class Stream:
    """streamOptimized in VMware's streaming layout (3.4 A): header with
    GD_AT_END, descriptor, grain markers, GT marker + GT, GD marker + GD,
    footer marker + footer, EOS."""

    def __init__(self, capacity, grains, desc, payload=None, lba=None,
                 size_field=None, algo=1, footer_patch=None, eos=None):
        payload, lba, size_field = payload or {}, lba or {}, size_field or {}
        grain = GRAIN
        n_grains = ceil_div(capacity, grain)
        assert n_grains <= 512
        self.overhead = 128
        hdr = dict(version=3, flags=NL_DETECT | COMPRESSED | MARKERS,
                   capacity=capacity, grain=grain, desc_off=1, desc_size=20,
                   algo=algo, overhead=self.overhead)
        img = bytearray(self.overhead * SECTOR)
        img[SECTOR:SECTOR + len(desc)] = desc
        gt = [0] * 512
        self.marker_at = {}
        for idx in sorted(grains):
            data = payload.get(idx)
            if data is None:
                data = zlib.compress(grains[idx], 6)
            sec = len(img) // SECTOR
            self.marker_at[idx] = sec
            gt[idx] = sec
            m = struct.pack("<QI", lba.get(idx, idx * grain),
                            size_field.get(idx, len(data)))
            img += pad_sector(m + data)
        gt_sec = len(img) // SECTOR + 1
        img += marker(4, 1) + struct.pack("<512I", *gt)
        gd_sec = len(img) // SECTOR + 1
        img += marker(1, 2) + pad_sector(struct.pack("<I", gt_sec))
        footer = dict(hdr, gd=gd_sec)
        if footer_patch:
            footer.update(footer_patch)
        img += marker(1, 3) + sparse_header(**footer)
        img += eos if eos is not None else bytes(SECTOR)
        img[0:SECTOR] = sparse_header(gd=GD_AT_END, **hdr)
        self.img = img


# ---------------------------------------------------------------- COWD

def cowd(capacity, sectors, grain=1, version=1, flags=3, num_gd=None,
         free_patch=None, grain_field=None):
    """vmfsSparse redo log (4.3): 2048-byte header, GD at 4, 4096-entry
    GTs, grains.  sectors: {sector: 512 bytes}, grain must be 1 here."""
    per_gt = 4096 * grain
    n_gd = ceil_div(capacity, per_gt)
    gd_sectors = ceil_div(n_gd * 4, SECTOR)
    gt_base = 4 + gd_sectors
    img = bytearray((gt_base + 32 * n_gd) * SECTOR)
    for i in range(n_gd):
        struct.pack_into("<I", img, 4 * SECTOR + 4 * i, gt_base + 32 * i)
    for s in sorted(sectors):
        g = s // grain
        sec = len(img) // SECTOR
        img += sectors[s]
        struct.pack_into("<I", img, (gt_base + 32 * (g // 4096)) * SECTOR
                         + 4 * (g % 4096), sec)
    free = len(img) // SECTOR
    if grain_field is None:
        grain_field = grain
    hdr = struct.pack("<4sIIIIIII", b"COWD", version, flags, capacity,
                      grain_field,
                      4, n_gd if num_gd is None else num_gd,
                      free if free_patch is None else free_patch)
    hdr += struct.pack("<III", 4, 16, 63)           # root geometry
    img[0:len(hdr)] = hdr
    return img


# ---------------------------------------------------------------- seSparse

def sesparse(capacity, grains, patch=None, vol_patch=None, pad_byte=0):
    """seSparse (4.4) with 4 KiB grains: const header, volatile header,
    (empty) journal, GD, one GT, bitmap, backmap, grains."""
    patch, vol_patch = patch or {}, vol_patch or {}
    gt_cov = 4096 * 8
    n_gts = ceil_div(capacity, gt_cov)
    f = dict(magic=0xCAFEBABE, version=0x0000000200000001,
             capacity=capacity, grain_size=8, grain_table_size=64, flags=0,
             r1=0, r2=0, r3=0, r4=0,
             vol_off=1, vol_size=1, jh_off=2, jh_size=2, j_off=4, j_size=4,
             gd_off=8, gd_size=1, gt_off=16, gt_size=64 * n_gts,
             fb_off=16 + 64 * n_gts, fb_size=1, bm_off=17 + 64 * n_gts,
             bm_size=1, grains_off=round_up(18 + 64 * n_gts, 8),
             grains_size=8 * len(grains))
    img = bytearray((f["grains_off"] + 8 * len(grains)) * SECTOR)
    for i in range(n_gts):
        struct.pack_into("<Q", img, f["gd_off"] * SECTOR + 8 * i,
                         0x1000000000000000 | i)
    for j, idx in enumerate(sorted(grains)):
        gte = 0x3000000000000000 | ((j & 0xFFF) << 48) | (j >> 12)
        struct.pack_into("<Q", img, (f["gt_off"] + 64 * (idx // 4096))
                         * SECTOR + 8 * (idx % 4096), gte)
        off = (f["grains_off"] + 8 * j) * SECTOR
        img[off:off + 4096] = grains[idx]
    f.update(patch)
    const = struct.pack("<26Q", *f.values())
    img[0:SECTOR] = const + bytes([pad_byte]) * (SECTOR - len(const))
    v = dict(magic=0xCAFECAFE, free_gt=n_gts, txn=1, replay=0)
    v.update(vol_patch)
    vol = struct.pack("<4Q", *v.values())
    img[SECTOR:2 * SECTOR] = vol + bytes(SECTOR - len(vol))
    return img


# ------------------------------------------------------------------ corpus

class Corpus:
    def __init__(self, out):
        self.out = out
        self.rows = []
        self.bases = []
        self.expected = {}

    def folder(self, name):
        d = os.path.join(self.out, name)
        os.makedirs(d)
        return d

    def write(self, name, rel, data):
        p = os.path.join(self.out, name, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as fh:
            fh.write(data)
        return p

    def base(self, name, feature, files, main, raw):
        self.folder(name)
        for rel, data in files.items():
            self.write(name, rel, data)
        self.bases.append((name, feature, main))
        self.expected[name] = (main, raw)

    def add(self, name, item, feature, cmd, files, main, words, what,
            setup=None):
        assert "\t" not in words and "\t" not in what
        assert not any(r[0] == name for r in self.rows), name
        self.folder(name)
        for rel, data in files.items():
            self.write(name, rel, data)
        if setup:
            setup(os.path.join(self.out, name))
        rc = 2 if cmd == "check" else 1
        self.rows.append((name, str(item), feature, cmd, str(rc), main,
                          words, what))

    def finish(self):
        with open(os.path.join(self.out, "manifest.tsv"), "w") as fh:
            fh.write("#name\titem\tfeature\tcommand\texit\tfile\twords\twhat\n")
            for r in self.rows:
                fh.write("\t".join(r) + "\n")
        with open(os.path.join(self.out, "bases.tsv"), "w") as fh:
            fh.write("#name\tfeature\tfile\n")
            for r in self.bases:
                fh.write("\t".join(r) + "\n")


# Words shared by many cases
W_PAST = "past|beyond|after|end of file|eof|outside|truncated|short|exceed"
W_DESC = "descriptor"
W_GRAIN = "grain"
W_GT = "grain table|gt|gte|grain directory|gd|table"


def build(out):
    c = Corpus(out)

    # ---- base: monolithicFlat (separate descriptor + flat extent) ----
    flat_sectors = 256
    flat_data = rnd(1, flat_sectors * SECTOR)
    flat_ext = 'RW %d FLAT "disk-flat.vmdk" 0' % flat_sectors

    def fdesc(extents=None, **kw):
        return descriptor("monolithicFlat", extents or [flat_ext], **kw)

    c.base("base-flat", "core",
           {"disk.vmdk": fdesc(), "disk-flat.vmdk": flat_data},
           "disk.vmdk", flat_data)

    def flat_case(name, item, cmd, desc, words, what, extra=None,
                  main="disk.vmdk", setup=None, with_flat=True):
        files = {main: desc}
        if with_flat:
            files["disk-flat.vmdk"] = flat_data
        files.update(extra or {})
        c.add(name, item, "core", cmd, files, main, words, what, setup)

    def hdr(*lines):
        return list(lines)

    std_hdr = ["version=1", "CID=1a2b3c4d", "parentCID=ffffffff",
               'createType="monolithicFlat"']

    # item 1: descriptor over 1 MiB
    big = fdesc() + b"".join(b"# padding line %07d .......................\n"
                             % i for i in range(30000))
    assert len(big) > 1 << 20
    flat_case("desc-over-1mib", 1, "info", big,
              W_DESC + ";large|big|long|size|limit|exceed|mib",
              "separate descriptor file of %d bytes (cap 1 MiB)" % len(big))

    # item 3: NUL, non-ASCII key, over-long line
    flat_case("desc-nul-in-text", 3, "info",
              fdesc(header=["version=1", "CID=1a2b3c4d", "parentCID=ffffffff",
                            'createType="monolithic\0Flat"']),
              "nul|\\0|createtype|quote|invalid|extent|binary",
              "NUL byte inside the createType value")
    flat_case("desc-nonascii-key", 3, "info",
              fdesc(ddb=['ddb.virtualHWVersion = "4"',
                         'ddb.adapter\xffType = "ide"']),
              "ascii|utf-8|utf8|byte|character|invalid|key|unrecogni",
              "a non-ASCII byte (0xff) inside a ddb key")
    flat_case("desc-line-5kib", 3, "info",
              fdesc(ddb=['ddb.virtualHWVersion = "4"',
                         'ddb.comment = "%s"' % ("A" * 5000)]),
              "line;long|length|4096|4 kib|exceed|too|limit",
              "one descriptor line of 5018 bytes (cap 4 KiB)")

    # item 4: createType
    flat_case("createtype-missing", 4, "info",
              fdesc(header=std_hdr[:3]), "createtype",
              "no createType line")
    flat_case("createtype-duplicate", 4, "info",
              fdesc(header=std_hdr + ['createType="monolithicFlat"']),
              "createtype;duplicate|twice|more than once|again|repeat|already",
              "createType given twice")
    flat_case("createtype-overlong", 4, "info",
              fdesc(header=std_hdr[:3] + ['createType="%s"' % ("x" * 300)]),
              "createtype",
              "createType value of 300 characters")

    # item 5: version, CID
    flat_case("version-7", 5, "info",
              fdesc(header=["version=7"] + std_hdr[1:]), "version",
              "descriptor version=7")
    flat_case("version-missing", 5, "info",
              fdesc(header=std_hdr[1:]), "version",
              "no version= line")
    flat_case("cid-not-hex", 5, "info",
              fdesc(header=["version=1", "CID=xyz12345",
                            "parentCID=ffffffff",
                            'createType="monolithicFlat"']), "cid",
              "CID=xyz12345")
    flat_case("cid-9-digits", 5, "info",
              fdesc(header=["version=1", "CID=123456789",
                            "parentCID=ffffffff",
                            'createType="monolithicFlat"']), "cid",
              "CID with 9 hex digits")
    flat_case("parentcid-not-hex", 5, "info",
              fdesc(header=["version=1", "CID=1a2b3c4d", "parentCID=-1",
                            'createType="monolithicFlat"']), "cid",
              "parentCID=-1")

    # item 7: extent line grammar
    def ext_case(name, line, words, what, item=7, cmd="info", extra=None,
                 with_flat=True, setup=None, main="disk.vmdk"):
        flat_case(name, item, cmd, fdesc(extents=[line]), words, what,
                  extra=extra, with_flat=with_flat, setup=setup, main=main)

    ext_case("extent-access-bad", 'RX 256 FLAT "disk-flat.vmdk" 0',
             "access|rx|extent", "access mode RX")
    ext_case("extent-type-bad", 'RW 256 FLOPPY "disk-flat.vmdk" 0',
             "type|floppy|extent", "extent type FLOPPY")
    ext_case("extent-size-negative", 'RW -256 FLAT "disk-flat.vmdk" 0',
             "size|sector|extent|negative", "extent size -256")
    ext_case("extent-size-zero", 'RW 0 FLAT "disk-flat.vmdk" 0',
             "size|sector|extent|zero", "extent size 0")
    ext_case("extent-size-huge",
             'RW 18446744073709551615 FLAT "disk-flat.vmdk" 0',
             "size|sector|extent|large|big|overflow|range",
             "extent size 2^64-1 sectors")
    ext_case("extent-size-2p53", 'RW 9007199254740992 FLAT "disk-flat.vmdk" 0',
             "size|sector|extent|large|big|overflow|range|past|beyond",
             "extent size 2^53 sectors (limit 2^53 bytes)")
    ext_case("extent-missing-quote", 'RW 256 FLAT "disk-flat.vmdk 0',
             "quote|extent|\"", "file name without closing quote")
    ext_case("extent-trailing-garbage",
             'RW 256 FLAT "disk-flat.vmdk" 0 garbage',
             "extent|trailing|garbage|unexpected",
             "extra word after the offset")

    # item 8: FLAT offsets
    ext_case("flat-offset-missing", 'RW 256 FLAT "disk-flat.vmdk"',
             "offset|extent",
             "FLAT line without offset (qemu-img: Invalid extent line)",
             item=8)
    ext_case("flat-offset-negative", 'RW 256 FLAT "disk-flat.vmdk" -1',
             "offset|extent|negative", "FLAT offset -1", item=8)
    ext_case("flat-offset-overflow",
             'RW 256 FLAT "disk-flat.vmdk" 36028797018963967',
             "offset|overflow|large|past|beyond|range|exceed",
             "offset 2^55-1 sectors: offset*512 overflows u64", item=8)
    ext_case("flat-offset-plus-size-overflow",
             'RW 256 FLAT "disk-flat.vmdk" 18014398509481983',
             "offset|overflow|large|past|beyond|range|exceed",
             "offset (2^54-1) sectors: (offset+size)*512 wraps", item=8)
    ext_case("flat-size-past-eof", 'RW 512 FLAT "disk-flat.vmdk" 0',
             W_PAST + "|short|small", "extent of 512 sectors, file has 256",
             item=8, cmd="cat")
    ext_case("flat-size-past-eof-check", 'RW 512 FLAT "disk-flat.vmdk" 0',
             W_PAST + "|short|small",
             "check must report a FLAT extent longer than its file",
             item=8, cmd="check")
    ext_case("flat-offset-past-eof", 'RW 256 FLAT "disk-flat.vmdk" 128',
             W_PAST + "|short|small", "offset 128 + 256 sectors, file has 256",
             item=8, cmd="cat")

    flat_case("vmfs-with-offset", 8, "info",
              descriptor("vmfs", ['RW 256 VMFS "disk-flat.vmdk" 0']),
              "offset|extent|vmfs",
              "VMFS extent line with an offset (qemu-img: forbidden)")
    ext_case("extent-noaccess-read", 'NOACCESS 256 FLAT "disk-flat.vmdk" 0',
             "noaccess|access", "reading a NOACCESS extent must fail",
             item=7, cmd="cat")

    # item 9: ZERO with a name, FLAT without
    ext_case("zero-with-name", 'RW 256 ZERO "disk-flat.vmdk"',
             "zero", "ZERO extent with a file name", item=9)
    ext_case("flat-without-name", 'RW 256 FLAT',
             "name|file|extent", "FLAT extent without a file name",
             item=9)

    # item 10: extent count
    flat_case("extents-5000", 10, "info",
              fdesc(extents=["RW 1 ZERO"] * 5000),
              "extent;many|limit|count|max|exceed|4096",
              "5000 extent lines (cap 4096)", with_flat=False)

    flat_case("extent-sum-overflow", 10, "info",
              fdesc(extents=["RW 17592186044415 ZERO"] * 2048),
              "size|sum|overflow|large|capacity|add up|total|exceed",
              "2048 ZERO extents of 2^44-1 sectors: the byte total wraps",
              with_flat=False)

    # item 11: names
    ext_case("name-dotdot", 'RW 256 FLAT "../disk-flat.vmdk" 0', "..",
             "extent name ../disk-flat.vmdk (the file exists there)",
             item=11, main="sub/disk.vmdk")
    ext_case("name-absolute", 'RW 1 FLAT "/etc/passwd" 0',
             "absolute|/etc/passwd|trusted",
             "extent name /etc/passwd", item=11, with_flat=False)
    ext_case("name-slash", 'RW 256 FLAT "sub/disk-flat.vmdk" 0',
             "sub/disk-flat", "extent in a sub-folder (exists)", item=11,
             with_flat=False, extra={"sub/disk-flat.vmdk": flat_data})
    ext_case("name-backslash", 'RW 256 FLAT "sub\\disk-flat.vmdk" 0',
             "\\", "extent name with a backslash (a file of that literal "
             "name exists)", item=11, with_flat=False,
             extra={"sub\\disk-flat.vmdk": flat_data})
    ext_case("name-json-prefix", 'RW 256 FLAT "json:disk-flat.vmdk" 0',
             "json:", "extent name with a json: protocol prefix (a file of "
             "that literal name exists)", item=11, with_flat=False,
             extra={"json:disk-flat.vmdk": flat_data})
    ext_case("name-nbd-prefix", 'RW 256 FLAT "nbd:localhost:10809" 0',
             "nbd:", "extent name nbd:localhost:10809 (a file of that "
             "literal name exists)", item=11, with_flat=False,
             extra={"nbd:localhost:10809": flat_data})
    ext_case("name-control-chars", 'RW 256 FLAT "disk\x1b[2J-flat.vmdk" 0',
             "control|character|print|\\x|\\e|\\033|escape|invalid|name",
             "extent name containing ESC (the file exists)", item=11,
             with_flat=False, extra={"disk\x1b[2J-flat.vmdk": flat_data})
    ext_case("name-300-bytes", 'RW 256 FLAT "%s-flat.vmdk" 0' % ("n" * 290),
             "long|255|length|name",
             "extent name of 300 bytes", item=11)
    ext_case("name-empty", 'RW 256 FLAT "" 0', "empty|name|file",
             "extent name \"\"", item=11)

    # item 12: symlink, directory, FIFO
    ext_case("extent-symlink", flat_ext,
             "symlink|symbolic|link|regular",
             "disk-flat.vmdk is a symlink to real-flat.vmdk in the same folder",
             item=12, with_flat=False, extra={"real-flat.vmdk": flat_data},
             setup=lambda d: os.symlink("real-flat.vmdk",
                                        os.path.join(d, "disk-flat.vmdk")))
    ext_case("extent-directory", flat_ext, "director|regular",
             "disk-flat.vmdk is a directory", item=12, with_flat=False,
             setup=lambda d: os.mkdir(os.path.join(d, "disk-flat.vmdk")))
    ext_case("extent-fifo", flat_ext, "fifo|pipe|regular|special|device",
             "disk-flat.vmdk is a FIFO (a blocking open hangs)", item=12,
             with_flat=False,
             setup=lambda d: os.mkfifo(os.path.join(d, "disk-flat.vmdk")))

    # item 13: aliasing
    flat_case("extent-listed-twice", 13, "info",
              fdesc(extents=[flat_ext, flat_ext]),
              "twice|same|duplicate|alias|more than once|already|overlap",
              "the same FLAT extent listed twice")
    flat_case("extent-hardlink-twice", 13, "info",
              fdesc(extents=[flat_ext,
                             'RW 256 FLAT "other-flat.vmdk" 0']),
              "twice|same|duplicate|alias|more than once|already|overlap",
              "two extent names that are hard links to one file",
              setup=lambda d: os.link(os.path.join(d, "disk-flat.vmdk"),
                                      os.path.join(d, "other-flat.vmdk")))
    flat_case("desc-self-flat", 13, "info",
              fdesc(extents=['RW 1 FLAT "disk.vmdk" 0']),
              "itself|descriptor|same|alias",
              "the descriptor lists itself as its FLAT extent",
              with_flat=False)

    # ---- base: monolithicSparse ----
    cap = 8192
    sg = grains_for(2, cap, [0, 1, 2, 5, 63])
    sdesc = descriptor("monolithicSparse", ['RW %d SPARSE "disk.vmdk"' % cap])
    sp = Sparse(cap, sg, sdesc)
    sraw = sparse_raw(cap, sg)
    c.base("base-sparse", "core", {"disk.vmdk": bytes(sp.img)}, "disk.vmdk",
           sraw)

    def sp_case(name, item, cmd, img, words, what, feature="core"):
        c.add(name, item, feature, cmd, {"disk.vmdk": bytes(img)},
              "disk.vmdk", words, what)

    # item 1/2: embedded descriptor size and place
    big_sp = Sparse(cap, sg, sdesc, desc_size=2048)
    sp_case("emb-desc-2048-sectors", 1, "info", big_sp.img,
            W_DESC + ";large|big|long|size|limit|exceed|1024|mib",
            "embedded descriptorSize 2048 sectors (cap 1024), "
            "layout otherwise consistent")
    sp_case("emb-desc-offset0-size20", 2, "info", sp.poke("desc_off", 0),
            W_DESC, "descriptorOffset 0 but descriptorSize 20")
    sp_case("emb-desc-size0", 2, "info", sp.poke("desc_size", 0),
            W_DESC, "descriptorOffset 1 but descriptorSize 0")
    sp_case("emb-desc-past-eof", 2, "info", sp.poke("desc_off", 100000),
            W_DESC + ";" + W_PAST, "descriptorOffset 100000 (past EOF)")
    sp_case("emb-desc-overlaps-gd", 2, "info", sp.poke("desc_size", 40),
            W_DESC + ";overlap|gd|grain|metadata|inside",
            "descriptorSize 40 runs over the RGD/GD/GTs")
    sp_case("emb-extent-size-mismatch", 10, "info",
            Sparse(cap, sg, descriptor(
                "monolithicSparse",
                ['RW %d SPARSE "disk.vmdk"' % (2 * cap)])).img,
            "capacity|size|mismatch|differ|match",
            "embedded extent line says 16384 sectors, header capacity 8192")

    sp_case("emb-desc-flat-extent", 11, "info",
            Sparse(cap, sg, descriptor(
                "monolithicSparse", ['RW %d FLAT "/etc/passwd" 0' % cap])).img,
            "absolute|/etc/passwd|trusted|flat|sparse|embedded|extent",
            "KDMV file whose embedded descriptor maps a FLAT /etc/passwd")

    # item 15: short file
    sp_case("sparse-100-bytes", 15, "info", sp.img[:100],
            "short|small|truncated|header|" + W_PAST,
            "KDMV magic but only 100 bytes")
    sp_case("sparse-truncated", 15, "info", sp.img[:16384],
            "truncated|overhead|" + W_PAST,
            "file cut at 16 KiB: GD, GTs and overHead lie past EOF")

    # item 16: version, flags
    sp_case("sparse-version-0", 16, "info", sp.poke("version", 0), "version",
            "header version 0")
    sp_case("sparse-version-4", 16, "info", sp.poke("version", 4), "version",
            "header version 4")
    sp_case("sparse-incompat-flag", 16, "info",
            sp.poke("flags", NL_DETECT | RGD | 0x00040000),
            "flag|feature|incompatible",
            "unknown incompatible flag bit 18")

    # item 17: newline detector
    m = bytearray(sp.img)
    m[73:77] = b"\r\n \r"       # "\n \r\n" after LF -> CRLF
    sp_case("sparse-crlf-mangled", 17, "info", m,
            "cr/lf|crlf|newline|line end|end-of-line|translat",
            "newline detector bytes as left by an LF->CRLF transfer")

    # item 18: grain size
    for g, why in ((0, "0"), (3, "3 (not a power of two)"),
                   (12, "12 (not a power of two, above 8)"),
                   (4, "4 (below 8)"), (0x100000, "2^20 sectors (512 MiB)"),
                   (1 << 40, "2^40 sectors")):
        sp_case("grain-size-%s" % ("2p40" if g == 1 << 40 else
                                    "2p20" if g == 0x100000 else g),
                18, "info", sp.poke("grain", g), "grain",
                "grainSize " + why)

    # item 19: numGTEsPerGT
    for n in (0, 511, 1024):
        sp_case("gtes-per-gt-%d" % n, 19, "info", sp.poke("gtes", n),
                "numgtespergt|gte|grain table|gt|table",
                "numGTEsPerGT %d" % n)

    # item 20: capacity
    sp_case("capacity-0", 20, "info", sp.poke("capacity", 0),
            "capacity|size|mismatch|differ",
            "header capacity 0 (descriptor says 8192)")
    sp_case("capacity-2p63", 20, "info", sp.poke("capacity", 1 << 63),
            "capacity|large|big|gd|grain directory|" + W_PAST,
            "header capacity 2^63 sectors")
    sp_case("capacity-2p33", 20, "info", sp.poke("capacity", 1 << 33),
            "capacity|large|big|gd|grain directory|" + W_PAST,
            "capacity 2^33 sectors: beyond 32-bit sector offsets, GD past EOF")

    # item 21: GD offset
    sp_case("gd-offset-0", 21, "info", sp.poke("gd", 0),
            "gd|grain directory|gdoffset",
            "gdOffset 0")
    sp_case("gd-in-descriptor", 21, "info", sp.poke("gd", 5),
            "gd|grain directory|overlap|descriptor|header",
            "gdOffset 5, inside the embedded descriptor")
    sp_case("gd-past-eof", 21, "info", sp.poke("gd", 1000000),
            "gd|grain directory|" + W_PAST, "gdOffset 1000000 (past EOF)")
    sp_case("gd-offset-overflow", 21, "info", sp.poke("gd", 1 << 56),
            "overflow|large|gd|grain directory|" + W_PAST,
            "gdOffset 2^56: gdOffset*512 overflows u64")
    sp_case("gd-at-end-not-stream", 21, "info", sp.poke("gd", GD_AT_END),
            "footer|gd|grain directory|compress|marker|stream",
            "gdOffset GD_AT_END in a plain monolithicSparse (no markers, "
            "no footer)")

    # item 22: RGD
    sp_case("rgd-flag-offset-0", 22, "check", sp.poke("rgd", 0),
            "redundant|rgd",
            "RGD flag set but rgdOffset 0 (check must report corruption)")
    dis = Sparse(cap, sg, sdesc)
    dis.set_gte(5, dis.gte[2], tables=[dis.rgts])
    sp_case("rgd-disagrees", 22, "check", dis.img,
            "redundant|rgd|differ|disagree|mismatch|backup",
            "redundant GT entry 5 differs from the primary one")

    # item 23: overHead
    sp_case("overhead-below-metadata", 23, "info", sp.poke("overhead", 10),
            "overhead|metadata|grain",
            "overHead 10, inside the GD/GT area")
    sp_case("overhead-past-eof", 23, "info", sp.poke("overhead", 100000),
            "overhead|truncated|" + W_PAST, "overHead 100000 (past EOF)")

    # item 24: compression fields
    sp_case("sparse-compress-algo-7", 24, "info", sp.poke("algo", 7),
            "compress|algorithm", "compressAlgorithm 7")
    sp_case("sparse-markers-no-compress", 24, "info",
            sp.poke("flags", NL_DETECT | RGD | MARKERS),
            "marker|compress", "markers flag without the compressed flag")

    # item 26: GD entries
    m = Sparse(cap, sg, sdesc)
    struct.pack_into("<I", m.img, m.gd * SECTOR, 100000)
    struct.pack_into("<I", m.img, m.rgd * SECTOR, 100000)
    sp_case("gde-past-eof", 26, "info", m.img, W_PAST,
            "GD[0] and RGD[0] point at sector 100000 (past EOF)")
    m = Sparse(cap, sg, sdesc)
    struct.pack_into("<I", m.img, m.gd * SECTOR, 1)
    struct.pack_into("<I", m.img, m.rgd * SECTOR, 1)
    sp_case("gde-into-descriptor", 26, "info", m.img,
            "overlap|descriptor|header|metadata|" + W_GT,
            "GD[0] and RGD[0] point at sector 1 (the descriptor)")
    m = Sparse(cap, sg, sdesc)
    struct.pack_into("<I", m.img, m.gd * SECTOR, m.gd)
    struct.pack_into("<I", m.img, m.rgd * SECTOR, m.rgd)
    sp_case("gde-points-at-gd", 26, "info", m.img,
            "overlap|metadata|" + W_GT,
            "GD[0] points at the GD itself (RGD[0] at the RGD)")

    # item 27: GTEs
    m = Sparse(cap, sg, sdesc)
    m.set_gte(1, 100000)
    sp_case("gte-past-eof", 27, "cat", m.img, W_PAST,
            "GTE for grain 1 points at sector 100000 (past EOF)")
    sp_case("gte-past-eof-check", 27, "check", m.img, W_PAST,
            "check must report the GTE past EOF")
    m = Sparse(cap, sg, sdesc)
    m.set_gte(1, 0xFFFFFFFF)
    sp_case("gte-max", 27, "cat", m.img, W_PAST + "|overflow",
            "GTE 0xffffffff (grain end past EOF and past 2^32 sectors)")
    m = Sparse(cap, sg, sdesc)
    m.set_gte(1, 1)
    sp_case("gte-1-no-zero-flag", 27, "cat", m.img,
            "grain|gte|zero|overhead|metadata",
            "GTE 1 while the zeroed-grain flag is clear")
    m = Sparse(cap, sg, sdesc)
    m.set_gte(1, 64)
    sp_case("gte-below-overhead", 27, "cat", m.img,
            "overhead|metadata|grain",
            "GTE 64, below overHead 128 (grain inside the metadata)")

    # item 28: aliasing
    m = Sparse(cap, sg, sdesc)
    m.set_gte(1, m.gte[0])
    sp_case("gte-alias", 28, "check", m.img,
            "alias|same|twice|overlap|share|duplicate|more than once|"
            "referenced",
            "GTEs of grains 0 and 1 point at the same grain")

    m = Sparse(cap, sg, sdesc)
    m.set_gte(1, len(m.img) // SECTOR - 1)
    sp_case("gte-straddles-eof", 27, "cat", m.img, W_PAST,
            "GTE of grain 1 is the file's last sector: the grain runs "
            "127 sectors past EOF")

    # ---- base: monolithicSparse with two GTs, descriptor area full ----
    cap2 = 2 * 512 * GRAIN
    full = descriptor("monolithicSparse", ['RW %d SPARSE "disk.vmdk"' % cap2])
    fill = 20 * SECTOR - len(full)
    while fill > 1000:                     # comment lines under 4 KiB
        full += b"#" + b"x" * 998 + b"\n"
        fill -= 1000
    full += b"#" + b"y" * (fill - 1)       # no NUL, no final newline
    assert len(full) == 20 * SECTOR
    sg2 = grains_for(7, cap2, [0, 2, 512, 1023])
    sp2 = Sparse(cap2, sg2, full)
    c.base("base-sparse-2gt", "core", {"disk.vmdk": bytes(sp2.img)},
           "disk.vmdk", sparse_raw(cap2, sg2))
    m = Sparse(cap2, sg2, full)
    for gd, gts in ((m.gd, m.gts), (m.rgd, m.rgts)):
        struct.pack_into("<I", m.img, gd * SECTOR + 4, gts[0])
    sp_case("gde-same-gt", 26, "info", m.img,
            "overlap|same|share|twice|alias|" + W_GT,
            "GD[1] points at the same GT as GD[0] (both copies)")
    m = Sparse(cap2, sg2, full)
    for gd, gts in ((m.gd, m.gts), (m.rgd, m.rgts)):
        struct.pack_into("<I", m.img, gd * SECTOR + 4, gts[0] + 2)
    sp_case("gde-gt-overlap", 26, "info", m.img,
            "overlap|same|share|alias|" + W_GT,
            "GD[1] points 2 sectors into GT 0 (both copies)")
    m = Sparse(cap2, sg2, full)
    last = len(m.img) // SECTOR - 1
    for gd in (m.gd, m.rgd):
        struct.pack_into("<I", m.img, gd * SECTOR + 4, last)
    sp_case("gde-gt-straddles-eof", 26, "info", m.img, W_PAST,
            "GD[1] points at the last sector: the 4-sector GT runs past EOF")

    # ---- base: twoGbMaxExtentSparse ----
    half = 4096
    s1g = grains_for(3, half, [0, 31])
    s2g = grains_for(4, half, [1, 30])
    s1, s2 = Sparse(half, s1g), Sparse(half, s2g)
    split_lines = ['RW %d SPARSE "disk-s001.vmdk"' % half,
                   'RW %d SPARSE "disk-s002.vmdk"' % half]
    split_files = {"disk.vmdk": descriptor("twoGbMaxExtentSparse",
                                           split_lines),
                   "disk-s001.vmdk": bytes(s1.img),
                   "disk-s002.vmdk": bytes(s2.img)}
    c.base("base-split", "core", split_files, "disk.vmdk",
           sparse_raw(half, s1g) + sparse_raw(half, s2g))
    f = dict(split_files)
    f["disk.vmdk"] = descriptor("twoGbMaxExtentSparse",
                                ['RW 8192 SPARSE "disk-s001.vmdk"',
                                 split_lines[1]])
    c.add("split-size-mismatch", 10, "core", "info", f, "disk.vmdk",
          "capacity|size|mismatch|differ|match",
          "extent line 8192 sectors, extent header capacity 4096")
    f = dict(split_files)
    f["disk.vmdk"] = descriptor("twoGbMaxExtentSparse",
                                [split_lines[0], split_lines[0]])
    c.add("split-same-extent-twice", 13, "core", "info", f, "disk.vmdk",
          "twice|same|duplicate|alias|more than once|already",
          "disk-s001.vmdk listed twice")
    f = dict(split_files)
    f["disk-s002.vmdk"] = bytes(s2.poke("grain", 3))
    c.add("split-second-grain-3", 18, "core", "info", f, "disk.vmdk",
          "grain", "second extent has grainSize 3")

    # ---- base: streamOptimized (VMware layout with footer) ----
    st_g = {i: compressible(50 + i, GRAIN * SECTOR) for i in (0, 1, 5, 63)}
    st_desc = descriptor("streamOptimized", ['RW %d SPARSE "disk.vmdk"' % cap])
    st = Stream(cap, st_g, st_desc)
    c.base("base-stream", "stream", {"disk.vmdk": bytes(st.img)},
           "disk.vmdk", sparse_raw(cap, st_g))

    def st_case(name, item, cmd, img, words, what):
        c.add(name, item, "stream", cmd, {"disk.vmdk": bytes(img)},
              "disk.vmdk", words, what)

    st_case("stream-no-footer", 31, "info", st.img[:-3 * SECTOR], "footer",
            "GD_AT_END but footer marker, footer and EOS cut off")
    st_case("stream-footer-disagrees", 31, "info",
            Stream(cap, st_g, st_desc,
                   footer_patch=dict(capacity=2 * cap)).img,
            "footer", "footer capacity 16384, header capacity 8192")
    st_case("stream-footer-gd-at-end", 31, "info",
            Stream(cap, st_g, st_desc, footer_patch=dict(gd=GD_AT_END)).img,
            "footer", "the footer itself says GD_AT_END")
    st_case("stream-eos-bad", 31, "info",
            Stream(cap, st_g, st_desc, eos=marker(0, 1)).img,
            "footer|eos|end-of-stream|end of stream|marker",
            "the last sector is not an EOS marker (type 1)")
    st_case("stream-marker-size-0", 33, "cat",
            Stream(cap, st_g, st_desc, size_field={1: 0}).img,
            "marker|size|grain", "grain 1 marker has size 0")
    st_case("stream-marker-size-huge", 33, "cat",
            Stream(cap, st_g, st_desc, size_field={1: 0xFFFFFF00}).img,
            "marker|size|grain|large", "grain 1 marker has size 0xffffff00")
    st_case("stream-marker-lba", 33, "cat",
            Stream(cap, st_g, st_desc, lba={1: 0}).img,
            "lba|marker", "grain 1 marker says LBA 0 (slot is LBA 128)")
    bomb = zlib.compress(bytes(64 << 20), 9)
    st_case("stream-zlib-bomb", 34, "cat",
            Stream(cap, st_g, st_desc, payload={5: bomb}).img,
            "grain|inflate|decompress|large|size|more|bomb|exceed|long",
            "grain 5 is a %d-byte zlib stream inflating to 64 MiB" % len(bomb))
    short = zlib.compress(st_g[1][:1000], 6)
    st_case("stream-inflate-short", 34, "cat",
            Stream(cap, st_g, st_desc, payload={1: short}).img,
            "grain|inflate|decompress|short|fewer|size",
            "grain 1 inflates to 1000 bytes (not the last grain)")
    bad = bytearray(zlib.compress(st_g[1], 6))
    bad[len(bad) // 2:len(bad) // 2 + 16] = b"\xff" * 16
    st_case("stream-zlib-corrupt", 34, "cat",
            Stream(cap, st_g, st_desc, payload={1: bytes(bad)}).img,
            "inflate|decompress|zlib|deflate|compress|corrupt|grain",
            "grain 1 zlib stream damaged in the middle")
    st_case("stream-compress-algo-7", 24, "info",
            Stream(cap, st_g, st_desc, algo=7).img,
            "compress|algorithm", "compressAlgorithm 7 in header and footer")

    # ---- base: vmfsSparse (COWD) ----
    cw_cap = 8192
    cw_sec = {s: rnd(700 + s, SECTOR) for s in (0, 1, 7, 4096, 8191)}
    cw_desc = descriptor("vmfsSparse",
                         ['RW %d VMFSSPARSE "disk-delta.vmdk"' % cw_cap])
    cw_raw = bytearray(cw_cap * SECTOR)
    for s, d in cw_sec.items():
        cw_raw[s * SECTOR:(s + 1) * SECTOR] = d
    c.base("base-cowd", "cowd",
           {"disk.vmdk": cw_desc, "disk-delta.vmdk": cowd(cw_cap, cw_sec)},
           "disk.vmdk", cw_raw)

    def cw_case(name, item, words, what, **kw):
        c.add(name, item, "cowd", "info",
              {"disk.vmdk": cw_desc,
               "disk-delta.vmdk": cowd(cw_cap, cw_sec, **kw)},
              "disk.vmdk", words, what)

    cw_case("cowd-version-2", 37, "version", "COWD version 2", version=2)
    cw_case("cowd-flags-0", 37, "flag", "COWD flags 0", flags=0)
    cw_case("cowd-grain-0", 37, "grain", "COWD grainSize 0", grain_field=0)
    cw_case("cowd-numgd-wrong", 37,
            "numgdentries|gd|grain directory|entries",
            "COWD numGDEntries 5 (computed 2)", num_gd=5)
    cw_case("cowd-freesector-past-eof", 37,
            "free|" + W_PAST, "COWD freeSector 10000000 (past EOF)",
            free_patch=10000000)

    # ---- base: seSparse ----
    se_cap = 8192
    se_g = {i: rnd(800 + i, 4096) for i in (0, 3, 1023)}
    se_desc = descriptor("seSparse",
                         ['RW %d SESPARSE "disk-sesparse.vmdk"' % se_cap])
    se_raw = bytearray(se_cap * SECTOR)
    for i, d in se_g.items():
        se_raw[i * 4096:(i + 1) * 4096] = d
    c.base("base-sesparse", "sesparse",
           {"disk.vmdk": se_desc,
            "disk-sesparse.vmdk": sesparse(se_cap, se_g)},
           "disk.vmdk", se_raw)

    def se_case(name, words, what, **kw):
        c.add(name, 39, "sesparse", "info",
              {"disk.vmdk": se_desc,
               "disk-sesparse.vmdk": sesparse(se_cap, se_g, **kw)},
              "disk.vmdk", words, what)

    se_case("sesparse-grain-16", "grain", "grain_size 16 (must be 8)",
            patch=dict(grain_size=16))
    se_case("sesparse-gt-size-32", "table|gt|grain_table",
            "grain_table_size 32 (must be 64)",
            patch=dict(grain_table_size=32))
    se_case("sesparse-version", "version", "version 0x0000000300000001",
            patch=dict(version=0x0000000300000001))
    se_case("sesparse-flags", "flag", "flags 1", patch=dict(flags=1))
    se_case("sesparse-padding", "pad|reserved|header|zero",
            "non-zero const header padding", pad_byte=0x5A)
    se_case("sesparse-replay-journal", "journal|dirty",
            "volatile header replay_journal=1",
            vol_patch=dict(replay=1))
    se_case("sesparse-volatile-magic", "magic|volatile",
            "volatile header magic 0xcafebabe",
            vol_patch=dict(magic=0xCAFEBABE))

    # ---- base: a two-link chain (monolithicSparse child of one) ----
    pg = grains_for(5, cap, [0, 1, 2, 40])
    cg = grains_for(6, cap, [1, 3])

    def link(fname, cid, parent_cid=None, hint=None, grains=None):
        ext = ['RW %d SPARSE "%s"' % (cap, fname)]
        if parent_cid is None:
            d = descriptor("monolithicSparse", ext, cid=cid)
        else:
            d = descriptor("monolithicSparse", ext, cid=cid,
                           parent_cid=parent_cid, parent_hint=hint)
        return bytes(Sparse(cap, grains or {}, d).img)

    parent = link("parent.vmdk", "aaaa0001", grains=pg)
    child = link("child.vmdk", "bbbb0002", "aaaa0001", "parent.vmdk", cg)
    craw = sparse_raw(cap, pg)
    for i, d in cg.items():
        craw[i * GRAIN * SECTOR:(i + 1) * GRAIN * SECTOR] = d
    c.base("base-chain", "chain", {"parent.vmdk": parent,
                                   "child.vmdk": child}, "child.vmdk", craw)

    def ch_case(name, item, cmd, files, main, words, what):
        c.add(name, item, "chain", cmd, files, main, words, what)

    ch_case("parent-hint-dotdot", 40, "info",
            {"parent.vmdk": parent,
             "sub/child.vmdk": link("child.vmdk", "bbbb0002", "aaaa0001",
                                    "../parent.vmdk",
                                    cg)},
            "sub/child.vmdk", "..",
            "parentFileNameHint ../parent.vmdk (the parent exists there)")
    ch_case("parent-hint-absolute", 40, "info",
            {"child.vmdk": link("child.vmdk", "bbbb0002", "aaaa0001",
                                 "/etc/passwd", cg)},
            "child.vmdk", "absolute|/etc/passwd|trusted",
            "parentFileNameHint /etc/passwd")
    ch_case("parent-hint-empty", 40, "info",
            {"child.vmdk": link("child.vmdk", "bbbb0002", "aaaa0001", "",
                                cg)},
            "child.vmdk", "empty|parent|hint",
            "parentFileNameHint=\"\" with a parentCID set")
    ch_case("parent-hint-self", 40, "info",
            {"child.vmdk": link("child.vmdk", "bbbb0002", "bbbb0002",
                                 "child.vmdk", cg)},
            "child.vmdk", "itself|self|same|cycle|loop",
            "parentFileNameHint names the child itself (CIDs agree)")
    ch_case("parent-cycle", 41, "info",
            {"a.vmdk": link("a.vmdk", "aaaa0001", "bbbb0002", "b.vmdk", cg),
             "b.vmdk": link("b.vmdk", "bbbb0002", "aaaa0001", "a.vmdk", pg)},
            "a.vmdk", "cycle|loop|itself|chain|deep|depth|twice",
            "a.vmdk -> b.vmdk -> a.vmdk (CIDs agree)")
    deep = {}
    n_links = 40
    for i in range(n_links):
        cid = "%08x" % (0x10000 + i)
        if i == 0:
            deep["l00.vmdk"] = link("l00.vmdk", cid)
        else:
            deep["l%02d.vmdk" % i] = link("l%02d.vmdk" % i, cid,
                                          "%08x" % (0x10000 + i - 1),
                                          "l%02d.vmdk" % (i - 1))
    ch_case("chain-40-links", 41, "info", deep, "l%02d.vmdk" % (n_links - 1),
            "chain|deep|depth|long|links|limit|many",
            "a chain of 40 links (cap 32)")
    ch_case("parent-cid-mismatch", 42, "cat",
            {"parent.vmdk": parent,
             "child.vmdk": link("child.vmdk", "bbbb0002", "aaaa0009",
                                 "parent.vmdk", cg)},
            "child.vmdk", "cid",
            "child parentCID aaaa0009, parent CID aaaa0001")
    ch_case("parent-not-vmdk", 42, "cat",
            {"parent.vmdk": rnd(9, 1 << 20),
             "child.vmdk": link("child.vmdk", "bbbb0002", "aaaa0001",
                                 "parent.vmdk", cg)},
            "child.vmdk", "parent|descriptor|magic|format",
            "the parent is a raw file, not VMDK")

    c.finish()
    return c


def verify(c):
    """qemu-img must read every base as the bytes the generator meant."""
    if not shutil.which("qemu-img"):
        print("qemu-img not found: bases not verified", file=sys.stderr)
        return True
    good = True
    with tempfile.TemporaryDirectory() as tmp:
        for name, (main, raw) in sorted(c.expected.items()):
            out = os.path.join(tmp, name + ".raw")
            p = subprocess.run(["qemu-img", "convert", "-f", "vmdk", "-O",
                                "raw", os.path.join(c.out, name, main), out],
                               capture_output=True, text=True)
            if p.returncode != 0:
                print("%s: qemu-img failed: %s" % (name, p.stderr.strip()),
                      file=sys.stderr)
                good = False
                continue
            with open(out, "rb") as fh:
                got = fh.read()
            if got != bytes(raw):
                print("%s: qemu-img reads other bytes (%d vs %d)"
                      % (name, len(got), len(raw)), file=sys.stderr)
                good = False
            else:
                print("%s: qemu-img reads the intended %d bytes"
                      % (name, len(raw)))
    return good


def main():
    args = sys.argv[1:]
    check = "--verify" in args
    args = [a for a in args if a != "--verify"]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = args[0]
    if os.path.exists(out) and os.listdir(out):
        print("%s: not empty" % out, file=sys.stderr)
        return 2
    os.makedirs(out, exist_ok=True)
    c = build(out)
    print("%d hostile images, %d bases in %s" % (len(c.rows), len(c.bases),
                                                 out))
    if check and not verify(c):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
