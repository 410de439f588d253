#!/usr/bin/env python3
"""Structure-aware mutation campaign against the vdisk CLI.

Builds a folder of disks of every layout vdisk and qemu-img make (sparse,
split sparse and flat, a two-extent flat disk, flat, vmfs, vmfsThin,
streamOptimized, a three-link chain, a sparse child of a flat base,
qemu-img's sparse and stream disks) beside a .vmx and a .nvram, and a
file outside the folder.  Each case copies that folder, changes ONE thing
structurally -- a KDMV header or stream footer field to a boundary value, a
grain directory or grain table entry, one descriptor line (extent size,
type, name, offset; parentFileNameHint, CID, parentCID, createType,
version; a duplicated or deleted line), or a neighbour file replaced by a
FIFO, a folder, a symlink or a hard link -- then runs one random vdisk
command on one disk under a time limit, and checks the oracles:

  crash     exit status of a sanitizer (ASan 99, UBSan 98), a signal, or a
            sanitizer report on stderr
  hang      the command did not finish within --timeout seconds
  readonly  a read-only command (info, map, cat, check, chain, meta,
            space-needed) changed a file in the folder (content, kind,
            size, link target) or made / removed one
  others    a writing command changed, made or removed a file other than
            the named disk's own (its descriptor and extents), the new
            output it was told to write, and for commit the ancestors
  failed    a command that failed changed a file
  message   a failed command printed no error, or one naming no file
  leftover  a hidden .vdisk-* work file or folder stayed behind
  outside   a file outside the folder changed

Every case is reproducible on its own: the case number and the seed fix the
mutation and the command.  A failure prints the command line that runs
just that case again (and keeps its folder with --keep).

Known bugs that belong to other work in progress are skipped ONLY through
ALLOW below, keyed by the bug; remove an entry once its fix is merged.

Usage: fuzz-cli.py --vdisk PATH [--seed N] [--count N] [--case I]
                   [--timeout S] [--work DIR] [--keep] [--time-budget S]
Exit 0 when no oracle failed, 1 otherwise.  Python 3 standard library only.
"""
import argparse
import hashlib
import json
import os
import random
import re
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import time

# ---- known failures of other engineers' areas (explicit allow-list) -------
# Each entry: bug key -> (description, predicate(case) -> bool).  A failing
# oracle of a case matching a predicate is counted as "known", not failed.
# The lead removes an entry after merging the branch that fixes the bug.
ALLOW = {
    # empty: the shared-extent and extent-not-disk-file entries were
    # removed when the issue-11 fixes (one extent-name rule, the "who uses
    # this file" scan) were merged
}

SAN_RC = {99: "ASan", 98: "UBSan"}
CHECK_OK = {0, 2, 3}          # vdisk check: clean, corrupt, leaks
READ_ONLY = {"info", "map", "cat", "check", "chain", "meta-list",
             "meta-get", "space-needed"}
SIZE = 4 * 1024 * 1024        # every fixture's capacity


def log(*a):
    print(*a, flush=True)


# ---- fixtures -------------------------------------------------------------

class Fixture:
    def __init__(self, vdisk, root):
        self.vdisk = vdisk
        self.root = root
        self.ds = os.path.join(root, "ds")
        self.disks = {}       # name -> {"files": [...], "parents": [...], "type": ...}

    def run(self, *args, stdin=None):
        r = subprocess.run([self.vdisk] + list(args), cwd=self.ds,
                           capture_output=True, timeout=120, stdin=stdin)
        if r.returncode != 0:
            raise RuntimeError("fixture: vdisk %s: %s" % (" ".join(args),
                               r.stderr.decode(errors="replace")))
        return r.stdout

    def write(self, disk, off, data):
        p = os.path.join(self.root, "chunk.bin")
        with open(p, "wb") as f:
            f.write(data)
        self.run("write", "-o", str(off), "-f", p, disk)

    def build(self):
        os.makedirs(self.ds)
        os.makedirs(os.path.join(self.root, "outside"))
        with open(os.path.join(self.root, "outside", "secret.txt"), "w") as f:
            f.write("secret outside the folder\n")
        rnd = random.Random(1234)
        pat = lambda n: bytes(rnd.getrandbits(8) for _ in range(n))
        for name, t in [("ms", "monolithicSparse"),
                        ("ts", "twoGbMaxExtentSparse"),
                        ("mf", "monolithicFlat"),
                        ("tf", "twoGbMaxExtentFlat"),
                        ("vf", "vmfs"), ("vt", "vmfsThin")]:
            self.run("create", "-t", t, "-s", str(SIZE), name + ".vmdk")
            self.write(name + ".vmdk", 0, pat(65536) + b"ABCD" * 4096)
            self.write(name + ".vmdk", 3 * 1024 * 1024 + 512, pat(70000))
        self.run("convert", "-t", "streamOptimized", "ms.vmdk", "so.vmdk")
        # a split flat disk of two extents, by hand
        with open(os.path.join(self.ds, "mf.vmdk")) as f:
            text = f.read()
        lines = []
        for ln in text.splitlines():
            if ln.startswith("RW "):
                lines.append('RW %d FLAT "t2-f001.vmdk" 0' % (SIZE // 1024))
                lines.append('RW %d FLAT "t2-f002.vmdk" 0' % (SIZE // 1024))
            elif ln.startswith("createType"):
                lines.append('createType="twoGbMaxExtentFlat"')
            else:
                lines.append(ln)
        with open(os.path.join(self.ds, "t2.vmdk"), "w") as f:
            f.write("\n".join(lines) + "\n")
        for i in (1, 2):
            with open(os.path.join(self.ds, "t2-f00%d.vmdk" % i), "wb") as f:
                f.write(pat(SIZE // 2))
        # chains
        self.run("create", "-t", "monolithicSparse", "-s", str(SIZE), "cb.vmdk")
        self.write("cb.vmdk", 0, pat(200000))
        self.run("child", "cb.vmdk", "cc.vmdk")
        self.write("cc.vmdk", 65536, pat(100000))
        self.run("child", "cc.vmdk", "cg.vmdk")
        self.write("cg.vmdk", 1024 * 1024, pat(65536))
        self.run("create", "-t", "monolithicFlat", "-s", str(SIZE), "fb.vmdk")
        self.write("fb.vmdk", 0, pat(131072))
        self.run("child", "fb.vmdk", "fc.vmdk")
        self.write("fc.vmdk", 4096, pat(8192))
        if shutil.which("qemu-img"):
            raw = os.path.join(self.root, "q.raw")
            with open(raw, "wb") as f:
                f.write(pat(300000))
                f.truncate(SIZE)
            for name, sub in (("q", "monolithicSparse"),
                              ("qs", "streamOptimized")):
                subprocess.run(["qemu-img", "convert", "-q", "-f", "raw",
                                "-O", "vmdk", "-o", "subformat=" + sub, raw,
                                os.path.join(self.ds, name + ".vmdk")],
                               check=True, timeout=120)
            os.unlink(raw)
        with open(os.path.join(self.ds, "vm.vmx"), "w") as f:
            f.write('.encoding = "UTF-8"\nscsi0:0.fileName = "ms.vmdk"\n')
        with open(os.path.join(self.ds, "vm.nvram"), "wb") as f:
            f.write(pat(8192))
        os.unlink(os.path.join(self.root, "chunk.bin"))
        # every disk's own files and its ancestors, from vdisk itself
        for fn in sorted(os.listdir(self.ds)):
            if not fn.endswith(".vmdk"):
                continue
            try:
                info = json.loads(self.run("info", "--json", "--single-link",
                                           fn))
            except (RuntimeError, ValueError):
                continue      # an extent file, not a disk
            files = {fn} | {os.path.basename(e["file"])
                            for e in info["extents"] if e.get("file")}
            chain = json.loads(self.run("chain", "--json", fn))
            self.disks[fn] = {"files": files, "type": info["create_type"],
                              "chain": chain}
        # extents are not disks: drop names that are someone's extent only
        extents = set()
        for d, v in self.disks.items():
            extents |= v["files"] - {d}
        for e in extents:
            self.disks.pop(e, None)
        for d, v in self.disks.items():
            v["ancestors"] = []
            for link in chain_files(v["chain"]):
                b = os.path.basename(link)
                if b != d and b in self.disks:
                    v["ancestors"].append(b)


def chain_files(chain):
    """Descriptor paths of every link in `vdisk chain --json` output."""
    out = []
    links = chain.get("links", chain) if isinstance(chain, dict) else chain
    for l in links if isinstance(links, list) else []:
        if isinstance(l, dict):
            p = l.get("path") or l.get("file")
            if p:
                out.append(p)
    return out


# ---- snapshots ------------------------------------------------------------

def snapshot(top):
    """{relative path: (kind, size, digest-or-target, inode)} of a tree,
    never opening a FIFO or following a link."""
    snap = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, top)
            try:
                st = os.lstat(p)
            except FileNotFoundError:
                continue
            if stat.S_ISREG(st.st_mode):
                h = hashlib.sha1()
                fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
                with os.fdopen(fd, "rb") as f:
                    for b in iter(lambda: f.read(1 << 20), b""):
                        h.update(b)
                snap[rel] = ("file", st.st_size, h.hexdigest(), st.st_mode & 0o7777)
            elif stat.S_ISLNK(st.st_mode):
                snap[rel] = ("link", 0, os.readlink(p), 0)
            elif stat.S_ISDIR(st.st_mode):
                snap[rel] = ("dir", 0, "", st.st_mode & 0o7777)
            elif stat.S_ISFIFO(st.st_mode):
                snap[rel] = ("fifo", 0, "", 0)
            else:
                snap[rel] = ("other", 0, "", 0)
    return snap


def diff(a, b):
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


# ---- mutations ------------------------------------------------------------

HDR_FIELDS = [  # name, offset, width
    ("version", 4, 4), ("flags", 8, 4), ("capacity", 12, 8),
    ("grainSize", 20, 8), ("descriptorOffset", 28, 8),
    ("descriptorSize", 36, 8), ("numGTEsPerGT", 44, 4), ("rgdOffset", 48, 8),
    ("gdOffset", 56, 8), ("overHead", 64, 8), ("uncleanShutdown", 72, 1),
    ("compressAlgorithm", 77, 2)]
EXT_TYPES = ["FLAT", "SPARSE", "ZERO", "VMFS", "VMFSSPARSE", "SESPARSE",
             "VMFSRDM", "BOGUS"]
CREATE_TYPES = ["monolithicSparse", "monolithicFlat", "twoGbMaxExtentSparse",
                "twoGbMaxExtentFlat", "streamOptimized", "vmfs", "vmfsThin",
                "vmfsSparse", "seSparse", "custom", "fullDevice", "bogus"]


def boundary(rng, orig, width, fsize):
    top = (1 << (8 * width)) - 1
    sec = fsize // 512
    c = [0, 1, 2, 3, top, top >> 1, (top >> 1) + 1, orig + 1,
         max(orig - 1, 0), orig * 2, orig // 2, sec, sec + 1, max(sec - 1, 0),
         fsize, 128, 512, 1 << 31, 1 << 32]
    return rng.choice(c) & top


def is_kdmv(p):
    try:
        with open(p, "rb") as f:
            return f.read(4) == b"KDMV"
    except OSError:
        return False


def rw_field(p, off, width, value=None):
    fmt = {1: "<B", 2: "<H", 4: "<I", 8: "<Q"}[width]
    with open(p, "r+b") as f:
        f.seek(off)
        old = struct.unpack(fmt, f.read(width))[0]
        if value is not None:
            f.seek(off)
            f.write(struct.pack(fmt, value))
    return old


def desc_text(p):
    """(text, offset, room) of a disk's descriptor: a text file, or the
    embedded area of a sparse extent."""
    if is_kdmv(p):
        with open(p, "rb") as f:
            hdr = f.read(512)
            doff, dsz = struct.unpack_from("<QQ", hdr, 28)
            if not doff or not dsz or dsz > 2048:
                return None
            f.seek(doff * 512)
            raw = f.read(dsz * 512)
        return raw.split(b"\0", 1)[0].decode("latin-1"), doff * 512, dsz * 512
    with open(p, "rb") as f:
        raw = f.read(1 << 20)
    return raw.decode("latin-1"), 0, None


def put_desc(p, text, off, room):
    b = text.encode("latin-1")
    if room is None:
        with open(p, "wb") as f:
            f.write(b)
        return True
    if len(b) > room:
        return False
    with open(p, "r+b") as f:
        f.seek(off)
        f.write(b + b"\0" * (room - len(b)))
    return True


class Case:
    def __init__(self, seed, idx):
        self.seed, self.idx = seed, idx
        self.rng = random.Random("%d:%d" % (seed, idx))
        self.mut_kind = self.mut_what = self.mut_value_kind = ""
        self.mut = "none"
        self.disk = None
        self.cmd = []
        self.kind = ""


def name_choices(fx, case, ds):
    """Names an extent line or parent hint may be turned into, with kinds."""
    d = case.disk
    others = [x for x in fx.disks if x != d]
    other_ext = sorted({e for x in others for e in fx.disks[x]["files"]
                        if e != x})
    own_ext = sorted(fx.disks[d]["files"] - {d})
    c = [("other-desc", case.rng.choice(others)),
         ("self-desc", d),
         ("vmx", "vm.vmx"), ("nvram", "vm.nvram"),
         ("outside", "../outside/secret.txt"),
         ("absolute", os.path.join(os.path.dirname(ds), "outside", "secret.txt")),
         ("etc", "/etc/passwd"), ("missing", "missing.vmdk"),
         ("subdir", "sub/x.vmdk"), ("empty", ""), ("dot", "."),
         ("dev-zero", "/dev/zero")]
    if other_ext:
        # the most dangerous: weigh them up
        c += [("other-extent", case.rng.choice(other_ext))] * 4
    c += [("other-desc", case.rng.choice(others))] * 2
    if own_ext:
        c.append(("own-extent", case.rng.choice(own_ext)))
    return c


def mutate_desc(fx, case, ds):
    d = case.disk
    p = os.path.join(ds, d)
    got = desc_text(p)
    if not got:
        return "descriptor not found"
    text, off, room = got
    lines = text.split("\n")
    rng = case.rng
    ext_i = [i for i, l in enumerate(lines) if l.split(" ", 1)[0] in
             ("RW", "RDONLY", "NOACCESS")]
    hdr = {l.split("=", 1)[0].strip(): i for i, l in enumerate(lines)
           if "=" in l and not l.startswith("ddb.") and not l.startswith("#")}
    what = rng.choice(["extent-size", "extent-size", "extent-type",
                       "extent-name", "extent-name", "extent-name",
                       "extent-offset", "extent-dup", "extent-del",
                       "extent-add-zero", "parent-hint", "parent-hint", "cid",
                       "parent-cid", "create-type", "version", "header-del",
                       "access"])
    case.mut_what = what
    desc = what
    if what.startswith("extent") or what == "access":
        if not ext_i:
            return "no extent line"
        i = rng.choice(ext_i)
        parts = lines[i].split(" ")
        # parts: ACCESS SECTORS TYPE ["NAME"] [OFFSET]
        if what == "extent-size":
            try:
                orig = int(parts[1])
            except ValueError:
                orig = 0
            v = rng.choice([0, 1, orig - 1, orig + 1, orig * 2, orig // 2,
                            orig + 128, 1 << 32, (1 << 63), (1 << 64) - 1,
                            1 << 64, 18446744073709551616 * 10])
            parts[1] = str(v)
            desc = "extent-size=%d" % v
        elif what == "extent-type":
            parts[2] = rng.choice(EXT_TYPES)
            desc = "extent-type=" + parts[2]
        elif what == "extent-name":
            if len(parts) < 4:
                parts.append('"x"')
            kind, name = rng.choice(name_choices(fx, case, ds))
            case.mut_value_kind = kind
            parts[3] = '"%s"' % name
            desc = "extent-name=%s (%s)" % (name, kind)
        elif what == "extent-offset":
            v = rng.choice([0, 1, 8, 4096, 8191, 8192, 1 << 32, (1 << 64) - 1])
            if len(parts) >= 5:
                parts[4] = str(v)
            elif len(parts) == 4:
                parts.append(str(v))
            desc = "extent-offset=%d" % v
        elif what == "access":
            parts[0] = rng.choice(["RDONLY", "NOACCESS", "RW"])
            desc = "access=" + parts[0]
        if what == "extent-dup":
            lines.insert(i, lines[i])
        elif what == "extent-del":
            del lines[i]
        elif what == "extent-add-zero":
            lines.insert(i + 1, "RW %d ZERO" % rng.choice([1, 128, 8192]))
        else:
            lines[i] = " ".join(parts)
    elif what == "parent-hint":
        kind, name = rng.choice(name_choices(fx, case, ds))
        case.mut_value_kind = kind
        ln = 'parentFileNameHint="%s"' % name
        if "parentFileNameHint" in hdr:
            lines[hdr["parentFileNameHint"]] = ln
        else:
            at = hdr.get("createType", 1)
            lines.insert(at + 1, ln)
            # a child needs a parentCID to be one
            if "parentCID" in hdr:
                lines[hdr["parentCID"] + (1 if hdr["parentCID"] > at else 0)] = \
                    "parentCID=%s" % rng.choice(["ffffffff", "12345678", "0"])
        desc = "parentFileNameHint=%s (%s)" % (name, kind)
    elif what in ("cid", "parent-cid"):
        key = "CID" if what == "cid" else "parentCID"
        v = rng.choice(["0", "ffffffff", "fffffffff", "zz", "", "-1",
                        "00000001", "1 2"])
        if key in hdr:
            lines[hdr[key]] = "%s=%s" % (key, v)
        else:
            lines.insert(1, "%s=%s" % (key, v))
        desc = "%s=%s" % (key, v)
    elif what == "create-type":
        v = rng.choice(CREATE_TYPES)
        if "createType" in hdr:
            lines[hdr["createType"]] = 'createType="%s"' % v
        desc = "createType=" + v
    elif what == "version":
        v = rng.choice(["0", "2", "3", "4", "99999999999", ""])
        if "version" in hdr:
            lines[hdr["version"]] = "version=" + v
        desc = "version=" + v
    elif what == "header-del":
        keys = sorted(hdr)
        if not keys:
            return "no header"
        k = rng.choice(keys)
        del lines[hdr[k]]
        desc = "delete header " + k
    if not put_desc(p, "\n".join(lines), off, room):
        return "descriptor does not fit its area"
    return "descriptor of %s: %s" % (d, desc)


def sparse_files(fx, d, ds):
    return sorted(f for f in fx.disks[d]["files"]
                  if is_kdmv(os.path.join(ds, f)))


def mutate_header(fx, case, ds, footer=False):
    rng = case.rng
    files = sparse_files(fx, case.disk, ds)
    if not files:
        return None
    f = rng.choice(files)
    p = os.path.join(ds, f)
    base = 0
    fsize = os.path.getsize(p)
    if footer:
        # streamOptimized: the footer header sits 1024 bytes before the end
        base = fsize - 1024
        with open(p, "rb") as fh:
            fh.seek(base)
            if fh.read(4) != b"KDMV":
                return None
    name, off, width = rng.choice(HDR_FIELDS)
    old = rw_field(p, base + off, width)
    v = boundary(rng, old, width, fsize)
    rw_field(p, base + off, width, v)
    case.mut_what = name
    return "%s of %s: %s %d -> %d" % ("footer" if footer else "header", f,
                                      name, old, v)


def mutate_table(fx, case, ds, level):
    rng = case.rng
    files = sparse_files(fx, case.disk, ds)
    if not files:
        return None
    f = rng.choice(files)
    p = os.path.join(ds, f)
    fsize = os.path.getsize(p)
    with open(p, "rb") as fh:
        hdr = fh.read(512)
    cap, grain = struct.unpack_from("<QQ", hdr, 12)
    ngte = struct.unpack_from("<I", hdr, 44)[0]
    gd = struct.unpack_from("<Q", hdr, 56)[0]
    if gd in (0, (1 << 64) - 1) or not grain or not ngte or gd * 512 >= fsize:
        return None          # stream (footer GD) or junk
    n_gd = max(1, -(-cap // (grain * ngte)))
    i = rng.randrange(min(n_gd, 1 << 16))
    gde = rw_field(p, gd * 512 + 4 * i, 4)
    if level == "gd":
        v = boundary(rng, gde, 4, fsize)
        rw_field(p, gd * 512 + 4 * i, 4, v)
        case.mut_what = "gd"
        return "grain directory of %s: entry %d %d -> %d" % (f, i, gde, v)
    if not gde or gde * 512 >= fsize:
        # any allocated table
        for j in range(min(n_gd, 4096)):
            gde = rw_field(p, gd * 512 + 4 * j, 4)
            if gde and gde * 512 < fsize:
                break
        else:
            return None
    k = rng.randrange(ngte)
    at = gde * 512 + 4 * k
    if at + 4 > fsize:
        return None
    old = rw_field(p, at, 4)
    others = [rw_field(p, gde * 512 + 4 * j, 4) for j in range(0, ngte, 37)]
    v = rng.choice([boundary(rng, old, 4, fsize), rng.choice(others), gde,
                    1, gd])
    rw_field(p, at, 4, v)
    case.mut_what = "gt"
    return "grain table of %s: sector %d entry %d %d -> %d" % (f, gde, k, old, v)


def mutate_neighbour(fx, case, ds):
    rng = case.rng
    d = case.disk
    names = sorted(n for n in os.listdir(ds) if n != d)
    victim = rng.choice(names)
    how = rng.choice(["fifo", "folder", "symlink", "hardlink"])
    p = os.path.join(ds, victim)
    os.unlink(p)
    case.mut_what = how
    own = victim in fx.disks[d]["files"]
    anc = any(victim in fx.disks[a]["files"] for a in fx.disks[d]["ancestors"])
    case.mut_value_kind = "own" if own else "ancestor" if anc else "other"
    if how == "fifo":
        os.mkfifo(p)
    elif how == "folder":
        os.mkdir(p)
    elif how == "symlink":
        tgt = rng.choice([n for n in names if n != victim] +
                         ["../outside/secret.txt", "/dev/zero", "/dev/null",
                          "missing", victim])
        os.symlink(tgt, p)
        how += " -> " + tgt
    else:
        src = rng.choice([n for n in names if n != victim] +
                         [d] if rng.random() < 0.3 else
                         [n for n in names if n != victim])
        if os.path.islink(os.path.join(ds, src)) or \
                not os.path.isfile(os.path.join(ds, src)):
            os.mkfifo(p)
            how = "fifo"
        else:
            os.link(os.path.join(ds, src), p)
            how += " of " + src
    return "%s (%s of %s) replaced by a %s" % (victim, case.mut_value_kind, d, how)


def mutate(fx, case, ds):
    rng = case.rng
    kinds = ["none", "header", "header", "gd", "gt", "gt", "desc", "desc",
             "desc", "desc", "neighbour", "neighbour", "footer"]
    for _ in range(8):
        k = rng.choice(kinds)
        case.mut_kind = k
        if k == "none":
            return "none"
        if k == "header":
            r = mutate_header(fx, case, ds)
        elif k == "footer":
            r = mutate_header(fx, case, ds, footer=True)
        elif k in ("gd", "gt"):
            r = mutate_table(fx, case, ds, k)
        elif k == "desc":
            r = mutate_desc(fx, case, ds)
        else:
            r = mutate_neighbour(fx, case, ds)
        if r and not r.endswith(("not found", "no extent line", "no header",
                                  "does not fit its area")):
            return r
    case.mut_kind = "none"
    return "none"


# ---- commands -------------------------------------------------------------

def pick_command(fx, case, datafile):
    rng = case.rng
    d = case.disk
    t = rng.choice(["monolithicSparse", "monolithicFlat", "twoGbMaxExtentSparse",
                    "twoGbMaxExtentFlat", "streamOptimized", "vmfs", "raw"])
    off = rng.choice([0, 512, 65536, 3 * 1024 * 1024, SIZE - 512, SIZE - 100,
                      SIZE, SIZE + 512])
    menu = [
        ("info", ["info", d]), ("info", ["info", "--json", d]),
        ("map", ["map", d]), ("map", ["map", "--json", d]),
        ("cat", ["cat", d]), ("check", ["check", d]),
        ("check", ["check", "--json", d]), ("chain", ["chain", d]),
        ("meta-list", ["meta", d]), ("meta-get", ["meta", d, "adapterType"]),
        ("space-needed", ["space-needed", d, t if t != "raw" else "monolithicFlat"]),
        ("write", ["write", "-o", str(off), "-f", datafile, d]),
        ("write", ["write", "-o", str(off), "-f", datafile, d]),
        ("repair", ["check", "--repair", d]),
        ("child", ["child", d, "newchild.vmdk"]),
        ("commit", ["commit", d]),
        ("convert", ["convert", "-t", t, d, "out.vmdk"]),
        ("convert", ["convert", "-t", t, d, "out.vmdk"]),
        ("shrink", ["shrink", d]), ("defrag", ["defrag", d]),
        ("grow", ["grow", d, "+1M"]),
        ("rename", ["rename", d, "renamed.vmdk"]),
        ("unlink", ["unlink", d]),
        ("unlink", ["unlink", d]),
        ("rename", ["rename", d, "renamed.vmdk"]),
        ("commit", ["commit", d]),
        ("meta-set", ["meta", d, "toolsVersion", "42"]),
        ("meta-set", ["meta", "--delete", "adapterType", d]),
        ("edit", ["edit", d, "--find", "ABCD", "--replace", "WXYZ"]),
    ]
    case.kind, case.cmd = rng.choice(menu)


def stem(n):
    return n[:-5] if n.endswith(".vmdk") else n


def allowed(fx, case):
    """Names in the folder the command may change, make or remove."""
    d = case.disk
    own = set(fx.disks[d]["files"])
    new_stems = []
    if case.kind in ("write", "repair", "shrink", "defrag", "meta-set",
                     "edit", "unlink"):
        pass
    elif case.kind == "grow":
        new_stems.append(stem(d))
    elif case.kind == "commit":
        for a in fx.disks[d]["ancestors"]:
            own |= fx.disks[a]["files"]
    elif case.kind == "child":
        own = set()
        new_stems.append("newchild")
    elif case.kind == "convert":
        own = set()
        new_stems.append("out")
    elif case.kind == "rename":
        new_stems.append("renamed")
    return own, new_stems


def may_change(name, own, stems):
    if name in own:
        return True
    return any(name == s + ".vmdk" or name.startswith(s + "-") or
               name == s for s in stems)


def run_case(fx, args, seed, idx, work):
    case = Case(seed, idx)
    root = os.path.join(work, "case-%d" % idx)
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(fx.root, root, symlinks=True)
    ds = os.path.join(root, "ds")
    case.disk = case.rng.choice(sorted(fx.disks))
    datafile = os.path.join(root, "data.bin")
    with open(datafile, "wb") as f:
        f.write(case.rng.randbytes(case.rng.choice([1, 512, 4096, 70000])))
    case.mut = mutate(fx, case, ds)
    pick_command(fx, case, datafile)
    before = snapshot(ds)
    out_before = snapshot(os.path.join(root, "outside"))
    argv = [args.vdisk] + case.cmd
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=99")
    env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1:exitcode=98")
    t0 = time.time()
    hang = False
    try:
        r = subprocess.run(argv, cwd=ds, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                           timeout=args.timeout, env=env)
        rc, err = r.returncode, r.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired as e:
        hang, rc = True, None
        err = (e.stderr or b"").decode(errors="replace")
    dt = time.time() - t0
    after = snapshot(ds)
    out_after = snapshot(os.path.join(root, "outside"))
    fails = []
    if hang:
        fails.append(("hang", "no exit after %ds" % args.timeout))
    elif rc in SAN_RC or rc < 0 or "AddressSanitizer" in err or \
            "runtime error:" in err or "LeakSanitizer" in err:
        fails.append(("crash", "exit %s%s" % (rc, " (%s)" % SAN_RC[rc]
                                              if rc in SAN_RC else "")))
    ok_codes = CHECK_OK if case.cmd[0] == "check" else {0}
    success = not hang and rc in ok_codes
    changed = diff(before, after)
    if case.kind in READ_ONLY and changed:
        fails.append(("readonly", "changed " + ", ".join(changed)))
    if case.kind not in READ_ONLY:
        own, stems = allowed(fx, case)
        bad = [n for n in changed if not may_change(n, own, stems)
               and not n.startswith(".vdisk-")]
        if bad:
            fails.append(("others", "changed " + ", ".join(bad)))
        if not success and not hang and changed and \
                not [f for f in fails if f[0] == "crash"]:
            fails.append(("failed", "failed (exit %s) yet changed %s" %
                          (rc, ", ".join(changed))))
    if diff(out_before, out_after):
        fails.append(("outside", "changed " + ", ".join(diff(out_before, out_after))))
    left = [n for n in after if os.path.basename(n).startswith(".vdisk-")
            and n not in before]
    if left and not hang:
        fails.append(("leftover", ", ".join(left)))
    if not hang and rc not in ok_codes and rc is not None and rc > 0 and \
            rc not in SAN_RC:
        names = set(os.listdir(ds)) | set(before) | {os.path.basename(a) for a
                                                     in case.cmd}
        names = {n for n in names if n and len(n) > 2}
        if not err.strip():
            fails.append(("message", "exit %d with no message" % rc))
        elif not any(n in err for n in names) and "usage" not in err.lower() \
                and not re.search(r"[\w.-]+\.(vmdk|vmx|nvram|txt)\b|/", err):
            fails.append(("message", "message names no file: " +
                          err.strip().splitlines()[0][:200]))
    known = []
    for key, (what, oracles, pred) in ALLOW.items():
        if pred(case) and any(f[0] in oracles for f in fails):
            known.append(key)
            fails = [f for f in fails if f[0] not in oracles]
    if not fails and not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return case, rc, err, fails, known, dt, root


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vdisk", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--case", type=int, default=None,
                    help="run only this case (reproduce)")
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("--time-budget", type=float, default=0,
                    help="stop starting cases after this many seconds")
    ap.add_argument("--work", default=None)
    ap.add_argument("--keep", action="store_true",
                    help="keep every case folder")
    ap.add_argument("--verbose", "-v", action="store_true")
    args = ap.parse_args()
    args.vdisk = os.path.abspath(args.vdisk)
    work = args.work or tempfile.mkdtemp(prefix="vdisk-fuzz-cli.")
    os.makedirs(work, exist_ok=True)
    fx = Fixture(args.vdisk, os.path.join(work, "template"))
    shutil.rmtree(fx.root, ignore_errors=True)
    t0 = time.time()
    fx.build()
    log("# fuzz-cli: seed %d, %s cases, %d disks (%s), fixtures in %.1fs, "
        "work %s" % (args.seed, args.count if args.case is None else "1",
                     len(fx.disks), " ".join(sorted(fx.disks)),
                     time.time() - t0, work))
    cases = [args.case] if args.case is not None else range(args.count)
    n = nfail = nknown = 0
    by_oracle = {}
    by_known = {}
    start = time.time()
    me = os.path.abspath(__file__)
    for idx in cases:
        if args.time_budget and time.time() - start > args.time_budget:
            log("# time budget of %ds reached after %d cases" %
                (args.time_budget, n))
            break
        case, rc, err, fails, known, dt, root = run_case(fx, args, args.seed,
                                                         idx, work)
        n += 1
        if args.verbose:
            log("# case %d: %s | vdisk %s -> %s (%.2fs)" %
                (idx, case.mut, " ".join(case.cmd), rc, dt))
        if known:
            nknown += 1
            for k in known:
                by_known[k] = by_known.get(k, 0) + 1
            log("# case %d: known bug %s (allow-listed): %s | vdisk %s" %
                (idx, ",".join(known), case.mut, " ".join(case.cmd)))
        if not fails:
            continue
        nfail += 1
        for o, _ in fails:
            by_oracle[o] = by_oracle.get(o, 0) + 1
        log("not ok %d - case %d: %s" % (nfail, idx,
            "; ".join("%s: %s" % f for f in fails)))
        log("#   mutation: %s" % case.mut)
        log("#   command:  (cd %s/ds && vdisk %s)   exit %s" %
            (root, " ".join(case.cmd), rc))
        for l in err.strip().splitlines()[:12]:
            log("#   stderr: " + l)
        log("#   repro:    python3 %s --vdisk %s --seed %d --case %d --keep" %
            (me, args.vdisk, args.seed, idx))
    log("# fuzz-cli: seed %d: %d cases run, %d failed (%s), %d known "
        "(allow-listed: %s), %.1fs" % (args.seed, n, nfail,
        ", ".join("%s %d" % kv for kv in sorted(by_oracle.items())) or "none",
        nknown, ", ".join("%s %d" % kv for kv in sorted(by_known.items()))
        or "none", time.time() - start))
    if not args.keep and nfail == 0 and not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if nfail else 0


if __name__ == "__main__":
    sys.exit(main())
