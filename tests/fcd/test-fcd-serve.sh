#!/bin/bash
# First class disks through `vdisk serve`: the plugin's exports
# "fcd:ID[@SSID]" (by UUID or prefix, "[name] " prefixed, a snapshot
# read-only, hostile names refused), and a program following the guide's
# FCD backup code with serverName set (VixDiskLib_ConnectEx with a
# vStorageObjSpec whose datastoreMoRef is the served datastore's name,
# Open with a NULL path, Read of every allocated block of a snapshot)
# whose copy matches the local read byte for byte.
source "$(dirname "$0")/../functions.sh"
requires nbdkit nbdinfo nbdcopy python3 timeout
find_plugin
[ -n "$plugin" ] || { echo "# skip: no uninstrumented nbdkit-vdisk-plugin.so (make build)"; exit 77; }
export VDISK_NBDKIT_PLUGIN=$plugin
BACKUP="$VDISK_TOP/$VDISK_BUILD/tests/fcd-vix-backup"
[ -x "$BACKUP" ] || { echo "# skip: VixDiskLib layer not built"; exit 77; }
cd "$WORK"
DS=$WORK/ds
mkdir -p "$DS"
M=1048576
for i in 1 2 3; do pattern "p$i" $((M / 2)) "$i"; done
top() { "$VDISK" fcd info --json "$DS" "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["fcd"]["path"])'; }
A=$("$VDISK" fcd create --name a --size 8M "$DS")
"$VDISK" write --offset $M --file p1 "$(top "$A")" >/dev/null
"$VDISK" write --offset $((5 * M + 4096)) --file p2 "$(top "$A")" >/dev/null
S1=$("$VDISK" fcd snapshot "$DS" "$A")
"$VDISK" write --offset $M --file p3 "$(top "$A")" >/dev/null    # after S1
"$VDISK" fcd cat "$DS" "$A@$S1" > s1.raw
"$VDISK" fcd cat "$DS" "$A" > a.raw
check "the snapshot and the FCD differ (a write after the snapshot)" bash -c "! cmp -s s1.raw a.raw"

echo secret | "$VDISK" user add --password-stdin users.psk alice
S=$WORK/sock
rm -f "$S" pid
timeout 120 "$VDISK" serve --unix "$S" --pidfile pid --tls-psk users.psk \
  --datastore-name ds1 "$DS" 2>serve.log &
for _ in $(seq 100); do [ -s pid ] && break; sleep 0.1; done
stop_server() { [ -s "$WORK/pid" ] && kill "$(cat "$WORK/pid")" 2>/dev/null; wait 2>/dev/null; true; }
trap 'stop_server; rm -rf "$WORK"' EXIT
check "vdisk serve starts" test -s pid
uri() { python3 -c 'import sys,urllib.parse as u; print("nbds+unix://alice@/"+u.quote(sys.argv[1])+"?socket="+sys.argv[2]+"&tls-psk-file="+sys.argv[3])' "$1" "$S" "$WORK/users.psk"; }

# ---- the plugin's fcd: exports ----
check "fcd:ID@SSID reads as the snapshot" bash -c "nbdcopy '$(uri "fcd:$A@$S1")' - | cmp -s - s1.raw"
check "fcd:ID reads as the FCD" bash -c "nbdcopy '$(uri "fcd:$A")' - | cmp -s - a.raw"
check "by prefixes, with the datastore's name: [ds1] fcd:${A:0:8}@${S1:0:8}" \
  bash -c "nbdcopy '$(uri "[ds1] fcd:${A:0:8}@${S1:0:8}")' - | cmp -s - s1.raw"
check "a snapshot is served read-only" bash -c "nbdinfo --json '$(uri "fcd:$A@$S1")' | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)[\"exports\"][0][\"is_read_only\"] else 1)'"
check "the FCD itself is served writable" bash -c "nbdinfo --json '$(uri "fcd:$A")' | python3 -c 'import json,sys; sys.exit(0 if not json.load(sys.stdin)[\"exports\"][0][\"is_read_only\"] else 1)'"
# list_exports names the FCD and its snapshot (nbdinfo --list), and what
# it lists opens
nbdinfo --list --json "$(uri "")" > list.json 2>list.err
listed() { python3 -c 'import json,sys; e={x["export-name"]: x.get("description","") for x in json.load(open(sys.argv[1]))["exports"]}; sys.exit(0 if e.get(sys.argv[2]) == sys.argv[3] else 1)' list.json "$1" "$2"; }
check "nbdinfo --list lists fcd:ID, described by its name" listed "fcd:$A" 'first class disk "a"'
check "nbdinfo --list lists fcd:ID@SSID as a snapshot of it" listed "fcd:$A@$S1" "snapshot of fcd:$A"
check "... and still the disks by path" bash -c "grep -q '\"fcd/$A/' list.json"
check "the listed fcd:ID@SSID reads as the snapshot" bash -c "nbdcopy '$(uri "fcd:$A@$S1")' - | cmp -s - s1.raw"
refused() {  # refused WHAT EXPORT NEEDLE: the open fails and status:EXPORT names NEEDLE
  if nbdinfo "$(uri "$2")" >/dev/null 2>&1; then not_ok "$1 (it opened)"; return; fi
  if nbdcopy "$(uri "status:$2")" - 2>/dev/null | grep -q -- "$3"; then ok "$1"
  else not_ok "$1"; nbdcopy "$(uri "status:$2")" - 2>&1 | sed 's/^/# /'; fi
}
refused "an unknown FCD ID is refused" "fcd:00000000" "no FCD with ID"
refused "an unknown snapshot ID is refused" "fcd:$A@00000000" "no snapshot with ID"
refused "a path in place of an ID is refused" "fcd:../../etc/passwd" "not fcd:ID"
refused "another datastore's name is refused" "[other] fcd:$A" "unknown datastore prefix"
check "... and nothing changed in the datastore" bash -c "'$VDISK' fcd cat '$DS' '$A' | cmp -s - a.raw && [ \$('$VDISK' fcd snapshots '$DS' '$A' | grep -c .) -ge 1 ]"

# ---- VixDiskLib with serverName: the guide's backup of a snapshot ----
export FCD_VIX_SERVER="unix:$S" FCD_VIX_USER=alice FCD_VIX_PASSWORD=secret
timeout 60 "$BACKUP" ds1 "$A" "$S1" copy.raw > out 2>&1; rc=$?
sed 's/^/# /' out
check "VixDiskLib_ConnectEx with a vStorageObjSpec on the server: exit 0" test $rc = 0
check "... the copy matches the local read of the snapshot byte for byte" cmp -s copy.raw s1.raw
check "... it read the allocated 64 KiB grains only (8 + 9 of 128: 2176 sectors)" grep -q "sectors 2176 " out
check "... the snapshot refused a write" grep -q "write-to-snapshot refused" out
timeout 60 "$BACKUP" ds1 "${A:0:8}" "" copy2.raw > /dev/null 2>&1
check "by an ID prefix, no snapshot: the FCD itself" cmp -s copy2.raw a.raw
check "an unknown FCD ID on the server is a clear error" \
  bash -c "! timeout 60 '$BACKUP' ds1 00000000 '$S1' x.raw 2>err && grep -qi 'no FCD with ID\|refused\|not found' err"
check "a wrong password fails at connect" \
  bash -c "! FCD_VIX_PASSWORD=wrong timeout 60 '$BACKUP' ds1 '$A' '$S1' x.raw 2>/dev/null"

# ---- the sample's -fcdid -fcdds -fcdssid with -host (a vdisk serve server) ----
SAMPLE="$VDISK_TOP/$VDISK_BUILD/bin/vix-disklib-sample"
if [ -x "$SAMPLE" ]; then
  R=(-host "unix:$S" -user alice -password secret)
  timeout 60 "$SAMPLE" -info -fcdid "${A:0:8}" -fcdds ds1 -fcdssid "$S1" "${R[@]}" > info 2>&1
  check "sample -info -fcdid -fcdds -fcdssid -host: the capacity" grep -q "capacity *= 16384 sectors" info
  timeout 60 "$SAMPLE" -dump -start 2048 -count 1 -fcdid "$A" -fcdds ds1 -fcdssid "$S1" "${R[@]}" > dump 2>&1
  first=$(od -An -tx1 -N16 p1 | tr -s ' ' | sed 's/^ //;s/ $//')
  check "sample -dump -host of sector 2048 at S1 shows the data written there" grep -q "^00100000 : $first" dump
  timeout 60 "$SAMPLE" -clone "$WORK/clone.vmdk" -fcdid "$A" -fcdds ds1 -fcdssid "$S1" "${R[@]}" > clone 2>&1
  check "sample -clone PATH -fcdid -host: a local copy of the snapshot" \
    bash -c "'$VDISK' cat '$WORK/clone.vmdk' | cmp -s - s1.raw"
  grep -q Cloned clone || sed 's/^/# /' clone
  check "sample -virus -fcdid -host: refused as remote (a clear usage error)" \
    bash -c "! timeout 60 '$SAMPLE' -virus -fcdid '$A' -fcdds ds1 ${R[*]} >/dev/null 2>v.err && grep -q 'local disks only' v.err"
else
  echo "# skip: the sample is not built"
fi
done_testing
