#!/bin/bash
# Every hint the CLI prints names only options that exist: each "--NAME"
# in an error or report is in the --help of the command that printed it
# (or of the command the hint names, "'vdisk CMD --NAME'").  The library
# names its open flags as "the NAME option"; the CLI turns those into its
# own options.  Also: every option a command accepts is in its --help, and
# a refused repair is not followed by "'vdisk check --repair' fixes them".
source "$(dirname "$0")/../functions.sh"
requires python3
cd "$WORK"
SRC="$VDISK_TOP"

# hints_ok CMD FILE: every --NAME in FILE exists where FILE says it does.
hints_ok() {
  local cmd=$1 file=$2 bad=0 other opt
  while read -r hit; do
    [ -n "$hit" ] || continue
    opt=${hit##*--}
    if [[ "$hit" == "'vdisk "* ]]; then
      other=${hit#\'vdisk }; other=${other%% *}
    else
      other=$cmd
    fi
    if ! "$VDISK" "$other" --help | grep -qE -- "--$opt([^a-z-]|$)"; then
      echo "# '$cmd' printed --$opt, not an option of 'vdisk $other': $(grep -m1 -- "--$opt" "$file")"
      bad=1
    fi
  done < <(grep -oE "('vdisk [a-z-]+ )?--[a-z][a-z-]*" "$file" | sort -u)
  return $bad
}
# try DESCRIPTION CMD ARGS...: run, then check the hints in its output.
n_hints=0
try() {
  local d=$1; shift
  "$VDISK" "$@" > out.txt 2>&1
  n_hints=$((n_hints + $(grep -cE -- "--[a-z]" out.txt)))
  check "$d: every option it names exists ($*)" hints_ok "$1" out.txt
}

# --- a parent that has a child: write, meta, grow, edit refuse ---
"$VDISK" create --size 1M p.vmdk >/dev/null
"$VDISK" child p.vmdk c.vmdk >/dev/null
echo hello > hello.txt
try "write to a parent" write --offset 0 --file hello.txt p.vmdk
check "... and the hint names write's --force" grep -q -- "use --force" out.txt
check "write --force is in write --help" bash -c "'$VDISK' write --help | grep -q -- '--force'"
try "meta on a parent" meta p.vmdk note hello
try "grow a parent" grow p.vmdk 2M
try "edit a parent" edit p.vmdk --find a --replace b
# now the parent changes: the child's CID no longer matches
"$VDISK" write --force --offset 0 --file hello.txt p.vmdk >/dev/null
for c in info cat map chain check convert; do
  if [ $c = convert ]; then try "CID mismatch ($c)" $c c.vmdk out.vmdk
  else try "CID mismatch ($c)" $c c.vmdk; fi
done
"$VDISK" info c.vmdk > cid.txt 2>&1
check "the CID mismatch names --ignore-cid" grep -q -- "--ignore-cid" cid.txt
check "... which opens it" bash -c "'$VDISK' info --ignore-cid c.vmdk >/dev/null"

# --- a raw image given as a disk ---
head -c 2000000 /dev/zero > raw.img
for c in info map chain check; do try "raw image ($c)" $c raw.img; done
"$VDISK" info raw.img > raw.txt 2>&1
check "info on a raw image names --raw" grep -q -- "use --raw" raw.txt
check "... which info has" bash -c "'$VDISK' info --raw raw.img | grep -q '2000000 bytes'"

# --- an extent named by absolute path, and a symbolic link ---
"$VDISK" create --type monolithicFlat --size 1M f.vmdk >/dev/null
sed "s|\"f-flat.vmdk\"|\"$WORK/f-flat.vmdk\"|" f.vmdk > abs.vmdk
for c in info cat map chain check shrink space-needed meta; do try "absolute extent ($c)" $c abs.vmdk; done
"$VDISK" info abs.vmdk > abs.txt 2>&1
check "the absolute extent hint names --trusted" grep -q -- "--trusted" abs.txt
ln -s f-flat.vmdk link-flat.vmdk
sed "s|\"f-flat.vmdk\"|\"link-flat.vmdk\"|" f.vmdk > link.vmdk
for c in info map check; do try "symlinked extent ($c)" $c link.vmdk; done

# --- a VMware lock folder ---
"$VDISK" create --size 1M l.vmdk >/dev/null
mkdir l.vmdk.lck
for c in write check; do
  if [ $c = write ]; then try "lock folder ($c)" write --offset 0 --file hello.txt l.vmdk
  else try "lock folder ($c)" check --repair l.vmdk; fi
done
rmdir l.vmdk.lck
"$VDISK" create --size 1M l.vmdk > ex.txt 2>&1
try "create over an existing disk" create --size 1M l.vmdk

# --- a refused repair is not followed by "check --repair fixes them" ---
"$VDISK" create -s 64M r.vmdk >/dev/null
pattern data 200000 3
"$VDISK" write --offset 0 --file data r.vmdk >/dev/null
"$VDISK" write --offset 40M --file data r.vmdk >/dev/null
python3 - r.vmdk <<'PY'
import struct, sys
f = open(sys.argv[1], 'r+b')
b = f.read(512)
gd, rgd = struct.unpack_from('<Q', b, 56)[0], struct.unpack_from('<Q', b, 48)[0]
f.seek(rgd * 512); rgt0, rgt1 = struct.unpack('<II', f.read(8))
f.seek(gd * 512); gt0, gt1 = struct.unpack('<II', f.read(8))
f.seek(rgt1 * 512 + 128 * 4); f.write(struct.pack('<I', 0))      # table 1 lags
for t in (gt0, rgt0):                                             # table 0 broken twice
    f.seek(t * 512 + 40); f.write(struct.pack('<I', 0x7fffff00))
PY
"$VDISK" check r.vmdk > r1.txt 2>&1
check "check sees a repairable inconsistency and says how to fix it" \
  grep -q "'vdisk check --repair' fixes them" r1.txt
"$VDISK" check --repair r.vmdk > r2.txt 2>&1
sed 's/^/# /' r2.txt
check "check --repair: the repair is refused" grep -q "^repair refused" r2.txt
check "... and no 'check --repair fixes them' after the refusal" \
  bash -c "! grep -q 'fixes them' r2.txt && ! grep -q 'repair syncs' r2.txt"
try "refused repair" check --repair r.vmdk

# --- static: options each command accepts are in its --help ---
check "every long option a command accepts is in its --help" python3 - "$SRC" "$VDISK" <<'PY'
import re, subprocess, sys, glob, os
src, vdisk = sys.argv[1], sys.argv[2]
bad = 0
for f in sorted(glob.glob(os.path.join(src, "tools/vdisk/cmd-*.c"))):
    text = open(f).read()
    opts = set(re.findall(r'\{\s*"([a-z][a-z-]*)"\s*,\s*(?:no|required|optional)_argument', text))
    cmds = re.findall(r'const struct command cmd_\w+ = \{\s*"([a-z-]+)"', text)
    helps = "".join(subprocess.run([vdisk, c, "--help"], capture_output=True, text=True).stdout for c in cmds)
    for o in sorted(opts - {"help"}):
        if not re.search(r"--%s([^a-z-]|$)" % re.escape(o), helps, re.M):
            print("# %s: --%s is accepted but not in the --help of %s" % (os.path.basename(f), o, ", ".join(cmds)))
            bad = 1
sys.exit(bad)
PY
check "every 'the NAME option' in a library message is some command's --NAME" python3 - "$SRC" "$VDISK" <<'PY'
import re, subprocess, sys, glob, os
src, vdisk = sys.argv[1], sys.argv[2]
names = set()
for f in glob.glob(os.path.join(src, "lib/**/*.c"), recursive=True):
    # join adjacent string literals, then look for the phrase
    text = re.sub(r'"\s*\n\s*"', "", open(f).read())
    for lit in re.findall(r'"((?:[^"\\]|\\.)*)"', text):
        names.update(re.findall(r"the ([a-z][a-z-]*) option", lit))
cmds = re.findall(r"^  ([a-z-]+) ", subprocess.run([vdisk, "--help"], capture_output=True, text=True).stdout, re.M)
helps = "".join(subprocess.run([vdisk, c, "--help"], capture_output=True, text=True).stdout for c in cmds)
bad = [n for n in sorted(names) if not re.search(r"--%s([^a-z-]|$)" % n, helps, re.M)]
print("# library hints name: %s" % ", ".join(sorted(names)))
for n in bad:
    print("# 'the %s option' is no command's --%s" % (n, n))
sys.exit(1 if bad or not names else 0)
PY
check "the hints above named options ($n_hints lines)" test "$n_hints" -gt 10
done_testing
