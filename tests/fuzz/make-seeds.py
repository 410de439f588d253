#!/usr/bin/env python3
"""Write the seed corpora of the fuzz targets: tests/fuzz/corpus/<target>/.

Usage: make-seeds.py [CORPUSDIR]

The images come from the fixture builders of tests/hostile/make-hostile.py
(first-principles VMDK writers, checked against qemu-img by its --verify),
made small (grain 8 sectors, tiny capacities) so that every seed stays
under 64 KiB, plus small qemu-img text descriptors when qemu-img exists.

Multi-file inputs (COWD, seSparse, chains, check) use the container the
fuzz targets split (tests/fuzz/fuzz-common.h): the first file's bytes,
then for each further file the separator "@@VDFZ@@", its name, "\\n" and
its bytes.  The first file is the one opened; the first one is named by
fuzz-common.h (disk.vmdk) unless the input starts with "@@VDFZ@@NAME\\n".
"""

import importlib.util
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "hostile", os.path.join(HERE, "..", "hostile", "make-hostile.py"))
H = importlib.util.module_from_spec(spec)
spec.loader.exec_module(H)

SEP = b"@@VDFZ@@"
LIMIT = 64 * 1024
SECTOR = 512


def container(files):
    """files: list of (name, bytes); the first is opened."""
    name0, data0 = files[0]
    out = bytearray()
    if name0 != "disk.vmdk":
        out += SEP + name0.encode() + b"\n"
    out += data0
    for name, data in files[1:]:
        out += SEP + name.encode() + b"\n" + data
    return bytes(out)


def small_sparse(cap, grains, name="disk.vmdk", embedded=True, version=1,
                 flags=H.NL_DETECT | H.RGD, cid="1a2b3c4d",
                 parent_cid=None, hint=None, create="monolithicSparse"):
    g = H.grains_for(7, cap, grains, grain=8)
    desc = None
    if embedded:
        ext = ['RW %d SPARSE "%s"' % (cap, name)]
        if parent_cid:
            desc = H.descriptor(create, ext, cid=cid, parent_cid=parent_cid,
                                parent_hint=hint)
        else:
            desc = H.descriptor(create, ext, cid=cid)
        desc = desc[:20 * SECTOR]
    return bytes(H.Sparse(cap, g, desc, version=version, flags=flags,
                          grain=8).img)


def small_stream(cap, grains, grain=8, name="disk.vmdk"):
    """streamOptimized in the streaming layout with a small grain."""
    desc = H.descriptor("streamOptimized",
                        ['RW %d SPARSE "%s"' % (cap, name)])
    overhead = 24
    hdr = dict(version=3, flags=H.NL_DETECT | H.COMPRESSED | H.MARKERS,
               capacity=cap, grain=grain, desc_off=1, desc_size=20, algo=1,
               overhead=overhead)
    img = bytearray(overhead * SECTOR)
    img[SECTOR:SECTOR + len(desc)] = desc
    gt = [0] * 512
    for idx in grains:
        data = zlib.compress(H.compressible(idx, grain * SECTOR), 6)
        gt[idx] = len(img) // SECTOR
        img += H.pad_sector(struct.pack("<QI", idx * grain, len(data)) + data)
    gt_sec = len(img) // SECTOR + 1
    img += H.marker(4, 1) + struct.pack("<512I", *gt)
    gd_sec = len(img) // SECTOR + 1
    img += H.marker(1, 2) + H.pad_sector(struct.pack("<I", gt_sec))
    img += H.marker(1, 3) + H.sparse_header(gd=gd_sec, **hdr)
    img += bytes(SECTOR)
    img[0:SECTOR] = H.sparse_header(gd=H.GD_AT_END, **hdr)
    return bytes(img)


def qemu_descriptors(tmp):
    """Text descriptors qemu-img writes (monolithicFlat, twoGbMaxExtent*)."""
    out = []
    if not shutil.which("qemu-img"):
        return out
    for sub in ("monolithicFlat", "twoGbMaxExtentFlat",
                "twoGbMaxExtentSparse"):
        p = os.path.join(tmp, "q-%s.vmdk" % sub)
        r = subprocess.run(["qemu-img", "create", "-q", "-f", "vmdk", "-o",
                            "subformat=%s,adapter_type=lsilogic" % sub, p,
                            "1M"], capture_output=True)
        if r.returncode != 0:
            continue
        with open(p, "rb") as fh:
            data = fh.read()
        if data.startswith(b"KDMV"):   # not a text descriptor
            continue
        out.append((sub, data))
    return out


def main():
    corpus = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE,
                                                                "corpus")
    seeds = {t: {} for t in ("descriptor", "sparse", "stream", "cowd",
                             "sesparse", "chain", "check")}
    tmp = tempfile.mkdtemp()
    try:
        # descriptor texts
        flat = H.descriptor("monolithicFlat",
                            ['RW 256 FLAT "disk-flat.vmdk" 0'])
        seeds["descriptor"]["flat"] = flat
        seeds["descriptor"]["split"] = H.descriptor(
            "twoGbMaxExtentSparse", ['RW 128 SPARSE "disk-s001.vmdk"',
                                     'RW 128 SPARSE "disk-s002.vmdk"'])
        seeds["descriptor"]["child"] = H.descriptor(
            "monolithicSparse", ['RW 256 SPARSE "child.vmdk"'],
            cid="bbbb0002", parent_cid="aaaa0001", parent_hint="parent.vmdk")
        seeds["descriptor"]["vmfs"] = H.descriptor(
            "vmfs", ['RW 256 VMFS "disk-flat.vmdk"', 'RW 64 ZERO'],
            ddb=['ddb.thinProvisioned = "1"', 'ddb.uuid = "60 00 c2 9a"'])
        for sub, data in qemu_descriptors(tmp):
            seeds["descriptor"]["qemu-" + sub] = data

        # single sparse files (embedded descriptor)
        seeds["sparse"]["two-grains"] = small_sparse(256, [0, 3])
        seeds["sparse"]["partial-last"] = small_sparse(100, [0, 12])
        seeds["sparse"]["v2-zeroed"] = small_sparse(
            256, [1], version=2, flags=H.NL_DETECT | H.RGD | H.ZERO_GRAIN)
        seeds["sparse"]["no-rgd"] = small_sparse(256, [5],
                                                 flags=H.NL_DETECT)
        seeds["sparse"]["two-tables"] = small_sparse(8 * 600, [0, 599])

        seeds["stream"]["two-grains"] = small_stream(64, [0, 5])
        seeds["stream"]["empty"] = small_stream(64, [])

        cow = H.descriptor("vmfsSparse", ['RW 64 VMFSSPARSE "disk-delta.vmdk"'])
        seeds["cowd"]["small"] = container(
            [("disk.vmdk", cow),
             ("disk-delta.vmdk",
              bytes(H.cowd(64, {1: H.rnd(3, SECTOR), 40: H.rnd(4, SECTOR)})))])

        sed = H.descriptor("seSparse", ['RW 64 SESPARSE "disk-sesparse.vmdk"'])
        se = bytes(H.sesparse(64, {0: H.rnd(5, 4096), 3: H.rnd(6, 4096)}))
        seeds["sesparse"]["small"] = container(
            [("disk.vmdk", sed), ("disk-sesparse.vmdk", se)])

        parent = small_sparse(256, [0, 1, 7], name="parent.vmdk",
                              cid="aaaa0001")
        child = small_sparse(256, [1, 3], name="child.vmdk", cid="bbbb0002",
                             parent_cid="aaaa0001", hint="parent.vmdk")
        seeds["chain"]["two-links"] = container(
            [("child.vmdk", child), ("parent.vmdk", parent)])

        # check: every layout (the check target opens the first file)
        seeds["check"]["sparse"] = seeds["sparse"]["two-grains"]
        seeds["check"]["flat"] = container(
            [("disk.vmdk", H.descriptor("monolithicFlat",
                                        ['RW 64 FLAT "disk-flat.vmdk" 0'])),
             ("disk-flat.vmdk", H.rnd(9, 64 * SECTOR))])
        seeds["check"]["split"] = container(
            [("disk.vmdk", seeds["descriptor"]["split"]),
             ("disk-s001.vmdk", small_sparse(128, [2], embedded=False)),
             ("disk-s002.vmdk", small_sparse(128, [0], embedded=False))])
        seeds["check"]["stream"] = seeds["stream"]["two-grains"]
        seeds["check"]["cowd"] = seeds["cowd"]["small"]
        seeds["check"]["sesparse"] = seeds["sesparse"]["small"]
        seeds["check"]["chain"] = seeds["chain"]["two-links"]
    finally:
        shutil.rmtree(tmp)

    for target, files in seeds.items():
        d = os.path.join(corpus, target)
        os.makedirs(d, exist_ok=True)
        for name, data in files.items():
            assert len(data) <= LIMIT, (target, name, len(data))
            with open(os.path.join(d, "seed-" + name), "wb") as fh:
                fh.write(data)
    print("seeds written to %s" % corpus)


if __name__ == "__main__":
    main()
