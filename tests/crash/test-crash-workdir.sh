#!/bin/bash
# A vdisk killed in the middle of convert (or shrink, defrag, grow) leaves a
# hidden work folder (.vdisk-new-*, .vdisk-work-*) holding up to a whole
# disk.  info and check report it (and change nothing), `vdisk clean`
# removes it (--dry-run only lists), the next operation on the same target
# removes it; a folder of a live process (here: a stopped convert), of an
# unknown creator, or reached through a symlink is never removed; a reused
# pid (same pid, other start time) is not taken for the creator.
. "$(dirname "$0")/../functions.sh"
requires python3
cd "$WORK"
mkdir ds && cd ds
pattern ../data.bin 67108864 5
$VDISK create -t monolithicSparse -s 256M a.vmdk && $VDISK write -o 0 -f ../data.bin a.vmdk || exit 1
rm -f ../data.bin
leftover() { ls -A | grep -E '^\.vdisk-(new|work)-' ; }

# kill -9 during convert, as soon as its work folder is there (a random
# sleep missed it when the convert was quick); bounded
got=
# (a work folder naming its target and holding some bytes)
have_work() {
  local d f
  for d in .vdisk-new-* .vdisk-work-*; do
    [ -s "$d/.vdisk-target" ] || continue
    for f in "$d"/*; do [ -s "$f" ] && return 0; done
  done
  return 1
}
for i in $(seq 1 60); do
  rm -f b.vmdk
  $VDISK convert -t monolithicSparse a.vmdk b.vmdk 2>/dev/null & p=$!
  for _ in $(seq 1 20000); do
    have_work && break
    kill -0 $p 2>/dev/null || break
  done
  kill -9 $p 2>/dev/null; wait $p 2>/dev/null
  if [ -n "$(leftover)" ]; then got=$i; break; fi
done
check "a kill -9 during convert left a work folder (try ${got:-none} of 60)" test -n "$got"
w=$(leftover | head -1)
echo "# leftover: $w"
rm -f b.vmdk
snap() { find . -printf '%p %s %T@\n' | sort; }
snap > ../before.snap
check "info reports the leftover, naming the folder and target" \
  bash -c "$VDISK info a.vmdk 2>&1 >/dev/null | grep -F '$w' | grep -q 'stale work folder for b.vmdk'"
check "info --json lists it as stale" \
  bash -c "$VDISK info --json a.vmdk | python3 -c 'import json,sys; l = json.load(sys.stdin)[\"leftovers\"]; assert [x[\"name\"] for x in l] == [\"$w\"] and l[0][\"state\"] == \"stale\" and l[0][\"target\"] == \"b.vmdk\" and l[0][\"bytes\"] > 0, l'"
check "check reports it" bash -c "$VDISK check a.vmdk 2>&1 | grep -qF '$w'"
check "check --json lists it" \
  bash -c "$VDISK check --json a.vmdk | python3 -c 'import json,sys; assert json.load(sys.stdin)[\"leftovers\"][0][\"name\"] == \"$w\"'"
snap > ../after.snap
check "info and check removed nothing" cmp -s ../before.snap ../after.snap
check "clean --dry-run lists it" bash -c "$VDISK clean --dry-run . | grep -F '$w' | grep -q stale"
check "clean --dry-run removed nothing" test -d "$w"

# a live creator: a convert stopped in the middle keeps its folder
$VDISK convert -t monolithicSparse a.vmdk live.vmdk 2>/dev/null & lp=$!
for i in $(seq 1 200); do
  [ -n "$(ls -A | grep -E '^\.vdisk-new-' | grep -v "^$w\$")" ] && break; sleep 0.02
done
kill -STOP $lp
lw=$(ls -A | grep -E '^\.vdisk-new-' | grep -v "^$w\$" | head -1)
check "the running convert has its own work folder" test -n "$lw"

# a reused pid: our own shell's pid with a wrong start time is stale; with
# the right one it is live
boot=$(head -c 8 /proc/sys/kernel/random/boot_id)
st=$(python3 -c "import sys; print(open('/proc/$$/stat').read().rsplit(')',1)[1].split()[19])")
mkdir ".vdisk-work-$$-$((st + 1))-$boot-00000001" ".vdisk-work-$$-$st-$boot-00000002"
printf x.vmdk > ".vdisk-work-$$-$((st + 1))-$boot-00000001/.vdisk-target"
# an older vdisk's folder (no creator) and a symlink with a work folder's name
mkdir .vdisk-new-0123456789ab keep && echo precious > keep/file
ln -s keep ".vdisk-new-1-1-$boot-00000003"
$VDISK clean --json . > clean.json; rc=$?
check "clean exits 0" test $rc = 0
check "clean removed the killed convert's folder" test ! -e "$w"
check "clean kept the stopped (live) convert's folder" test -d "$lw"
check "clean reported it as live with its pid" \
  python3 -c "import json; l = {x['name']: x for x in json.load(open('clean.json'))['work_folders']}; assert l['$lw']['state'] == 'live' and l['$lw']['pid'] == $lp and not l['$lw']['removed'], l"
check "clean removed the folder of a reused pid" test ! -e ".vdisk-work-$$-$((st + 1))-$boot-00000001"
check "clean kept the folder of the live pid with its start time" test -d ".vdisk-work-$$-$st-$boot-00000002"
check "clean kept the folder of unknown creator" test -d .vdisk-new-0123456789ab
check "clean did not follow a symlink" bash -c "test -L .vdisk-new-1-1-$boot-00000003 && test \"\$(cat keep/file)\" = precious"
check "the source disk is unchanged" $VDISK check a.vmdk
kill -CONT $lp; wait $lp; rc=$?
check "the stopped convert finishes after clean" test $rc = 0
check "its output is complete" bash -c "$VDISK cat a.vmdk | cmp -s - <($VDISK cat live.vmdk)"
check "its work folder is gone" test ! -e "$lw"
rmdir ".vdisk-work-$$-$st-$boot-00000002" .vdisk-new-0123456789ab
rm -f ".vdisk-new-1-1-$boot-00000003"

# the next operation on the same target removes the stale folder; a stale
# folder of another target stays (for clean)
other=".vdisk-new-999999999-1-$boot-0000000a"
mkdir "$other" && printf c.vmdk > "$other/.vdisk-target"
for i in $(seq 1 60); do
  rm -f b.vmdk
  $VDISK convert -t monolithicSparse a.vmdk b.vmdk 2>/dev/null & p=$!
  # kill it once its work folder exists (polling: deterministic on a fast
  # machine too, where a random delay often lands after the end)
  for _ in $(seq 1 500); do
    [ -n "$(leftover | grep -v "^$other\$")" ] && break
    kill -0 $p 2>/dev/null || break
    sleep 0.005
  done
  kill -9 $p 2>/dev/null; wait $p 2>/dev/null
  [ -n "$(leftover | grep -v "^$other\$")" ] && break
done
w=$(leftover | grep -v "^$other\$" | head -1)
check "another killed convert left a folder" test -n "$w"
rm -f b.vmdk
check "convert to the same target again succeeds" $VDISK convert -t monolithicSparse a.vmdk b.vmdk
check "and removed the stale folder of its target" test ! -e "$w"
check "but not the stale folder of another target" test -d "$other"
mkdir ".vdisk-work-999999998-1-$boot-0000000b"
printf b.vmdk > ".vdisk-work-999999998-1-$boot-0000000b/.vdisk-target"
check "shrink of b.vmdk works" $VDISK shrink b.vmdk
check "and removed the stale .vdisk-work folder of b.vmdk" test ! -e ".vdisk-work-999999998-1-$boot-0000000b"
check "clean removes the rest" bash -c "$VDISK clean . >/dev/null && test ! -e '$other'"
check "nothing is left" test -z "$(leftover)"
done_testing
