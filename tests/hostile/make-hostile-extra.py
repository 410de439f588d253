#!/usr/bin/env python3
"""Hostile images for the security-checklist.md section 4 items that the
corpus of tests/hostile (make-hostile.py) does not cover: 6, 25, 29, 30,
32, 35, 36, 38, 43, 44, 45, 50.  Built with that script's writers.

Usage: make-hostile-extra.py OUTDIR  -> OUTDIR/NAME/ + OUTDIR/manifest.tsv
manifest columns: name, item, command, expect, file, words, what
  expect: "fail" (exit 1, or 2 for check) with stderr/stdout holding the
  words; "safe": exit 0 or 1, no signal or sanitizer report (item 38 allows
  ignoring the field);
  words; "ok" (exit 0) with the words in the output, for items whose
  policy is to read and warn (29, 30)."""

import importlib.util
import os
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "hostile", os.path.join(HERE, "..", "hostile", "make-hostile.py"))
H = importlib.util.module_from_spec(spec)
spec.loader.exec_module(H)
SECTOR = 512


def main(out):
    rows = []

    def add(name, item, cmd, expect, files, main, words, what):
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        for rel, data in files.items():
            p = os.path.join(d, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as fh:
                fh.write(data if isinstance(data, bytes) else data.encode())
        rows.append((name, str(item), cmd, expect, main, words, what))

    cap = 8192
    ext = ['RW %d SPARSE "disk.vmdk"' % cap]

    def sparse(grains, **kw):
        desc = kw.pop("desc", None)
        if desc is None:
            desc = H.descriptor("monolithicSparse", ext)
        return H.Sparse(cap, H.grains_for(3, cap, grains), desc, **kw)

    # 6: a line that is neither header, extent, ddb nor comment
    flat = H.rnd(1, 64 * SECTOR)
    d = H.descriptor("monolithicFlat", ['RW 64 FLAT "disk-flat.vmdk" 0'])
    d = d.replace(b"# The Disk Data Base", b"this line means nothing\n# The Disk Data Base")
    add("unknown-line", 6, "info", "fail",
        {"disk.vmdk": d, "disk-flat.vmdk": flat}, "disk.vmdk",
        "line", "an unknown line kind in the descriptor")

    # 25: uncleanShutdown set: read-only works and check reports it
    s = sparse([0, 2])
    add("unclean-set", 25, "check", "ok", {"disk.vmdk": bytes(s.poke("unclean", 1))},
        "disk.vmdk", "unclean", "uncleanShutdown=1 (read allowed, reported dirty)")

    # 29: an entry of the last table beyond the capacity is ignored
    small = 8 * 128 + 64           # not a whole table: tail entries unused
    s2 = H.Sparse(small, H.grains_for(4, small, [0]),
                  H.descriptor("monolithicSparse",
                               ['RW %d SPARSE "disk.vmdk"' % small]))
    img = bytearray(s2.img)
    for t in (s2.gts, s2.rgts):
        struct.pack_into("<I", img, t[0] * SECTOR + 4 * 300, s2.gte[0])
    add("gte-beyond-capacity", 29, "check", "ok", {"disk.vmdk": bytes(img)},
        "disk.vmdk", "beyond capacity", "a GTE past the capacity (ignored, reported)")

    # 30: a grain not aligned to the grain size (readable, warned)
    s3 = sparse([0])
    img = bytearray(s3.img) + bytes(H.GRAIN * SECTOR)
    g = s3.gte[0]
    data = bytes(img[g * SECTOR:(g + H.GRAIN) * SECTOR])
    img[(g + 8) * SECTOR:(g + 8 + H.GRAIN) * SECTOR] = data
    for t in (s3.gts, s3.rgts):
        struct.pack_into("<I", img, t[0] * SECTOR, g + 8)
    add("grain-unaligned", 30, "check", "ok", {"disk.vmdk": bytes(img)},
        "disk.vmdk", "aligned", "grain at a sector not a multiple of the grain size")

    # 32: stream GT marker of the wrong type
    sdesc = H.descriptor("streamOptimized", ['RW 1024 SPARSE "disk.vmdk"'])
    st = H.Stream(1024, H.grains_for(5, 1024, [0, 3]), sdesc)
    img = bytearray(st.img)
    gd_sec = struct.unpack_from("<Q", img, len(img) - 2 * SECTOR + 56)[0]
    gt_sec = struct.unpack_from("<I", img, gd_sec * SECTOR)[0]
    struct.pack_into("<I", img, (gt_sec - 1) * SECTOR + 12, 2)   # GD type
    add("stream-gt-marker-type", 32, "cat", "fail", {"disk.vmdk": bytes(img)},
        "disk.vmdk", "marker", "GT marker with type 2 instead of 1")
    img = bytearray(st.img)
    struct.pack_into("<Q", img, (gt_sec - 1) * SECTOR, 1)        # 1 sector
    add("stream-gt-marker-size", 32, "cat", "fail", {"disk.vmdk": bytes(img)},
        "disk.vmdk", "marker", "GT marker of 1 sector instead of 4")

    # 35: a zero-sized metadata marker in the walk; the footer destroyed
    img = bytearray(st.img)
    img[len(img) - 2 * SECTOR:len(img) - SECTOR] = bytes(SECTOR)
    struct.pack_into("<QII", img, (gt_sec - 1) * SECTOR, 0, 0, 1)
    add("stream-zero-marker-walk", 35, "check", "fail", {"disk.vmdk": bytes(img)},
        "disk.vmdk", "footer|marker", "footer gone and a zero-sized GT marker (walk must end)")

    # 36: writing into a streamOptimized disk is refused
    add("stream-write", 36, "write", "fail", {"disk.vmdk": bytes(st.img)},
        "disk.vmdk", "stream|read-only|write", "a write to a compressed extent")

    # 38: COWD parent name field without a NUL, and with a path
    cw = bytearray(H.cowd(4096, {1: H.rnd(6, SECTOR)}))
    cdesc = H.descriptor("vmfsSparse", ['RW 4096 VMFSSPARSE "disk-delta.vmdk"'])
    cw1 = bytearray(cw)
    cw1[44:44 + 1024] = b"A" * 1024
    add("cowd-parent-no-nul", 38, "info", "safe",
        {"disk.vmdk": cdesc, "disk-delta.vmdk": bytes(cw1)}, "disk.vmdk",
        "-", "COWD parentFileName of 1024 bytes without NUL (ignored or "
        "refused, never over-read)")

    # 43: parent capacity differs from the child's
    pcap = cap // 2
    parent = H.Sparse(pcap, {}, H.descriptor(
        "monolithicSparse", ['RW %d SPARSE "parent.vmdk"' % pcap], cid="aaaa0001")).img
    child = H.Sparse(cap, {}, H.descriptor(
        "monolithicSparse", ['RW %d SPARSE "child.vmdk"' % cap], cid="bbbb0002",
        parent_cid="aaaa0001", parent_hint="parent.vmdk")).img
    add("parent-capacity", 43, "info", "fail",
        {"parent.vmdk": bytes(parent), "child.vmdk": bytes(child)}, "child.vmdk",
        "capacity|size", "parent smaller than the child")

    # 44: parentCID set but no parentFileNameHint (rw refused; info fails too)
    child2 = H.Sparse(cap, {}, H.descriptor(
        "monolithicSparse", ['RW %d SPARSE "child.vmdk"' % cap], cid="bbbb0002",
        parent_cid="aaaa0001")).img
    add("parentcid-no-hint", 44, "write", "fail", {"child.vmdk": bytes(child2)},
        "child.vmdk", "parent", "parentCID without parentFileNameHint")

    # 45: a capacity whose GD would need > 64 MiB (allocation refused)
    s4 = sparse([0])
    add("huge-capacity-gd", 45, "info", "fail",
        {"disk.vmdk": bytes(s4.poke("capacity", (1 << 40)))}, "disk.vmdk",
        "capacity|directory|large", "capacity 2^40 sectors with grain 128")

    # 50: an over-long, non-printable createType is quoted short and escaped
    bad = "\x01\x02" + "Z" * 300
    d = H.descriptor(bad, ['RW 64 FLAT "disk-flat.vmdk" 0'])
    add("createtype-binary-long", 50, "info", "fail",
        {"disk.vmdk": d, "disk-flat.vmdk": flat}, "disk.vmdk",
        "control|createtype", "createType of 302 bytes with control "
        "characters (message short and escaped)")

    with open(os.path.join(out, "manifest.tsv"), "w") as fh:
        for r in rows:
            fh.write("\t".join(r) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
