#!/bin/bash
# The plugin's list_exports (nbdinfo --list) only reads a datastore's FCD
# catalog (VD_FCD_READ_ONLY): an unfinished intent (an attach killed
# mid-way) is neither completed nor rolled back by a listing, so the
# catalog and the VM's .vmx stay byte-identical, and a datastore whose
# fcd/ folder is gone stays without it.  A list longer than the cap
# (VDISK_PLUGIN_MAX_LISTED, lowered for the test; 10000 in use) is cut at
# the cap, the cut logged once, the FCDs up to it still listed.
source "$(dirname "$0")/../functions.sh"
requires nbdkit nbdinfo python3 timeout sha256sum
find_plugin
[ -n "$plugin" ] || { echo "# skip: no uninstrumented nbdkit-vdisk-plugin.so (make build)"; exit 77; }
cd "$WORK"

# serve DS [ENV...]: a read-only nbdkit on a unix socket, debug to log.N
n=0
serve() {
  local ds=$1; shift
  n=$((n + 1))
  start_server socket "$WORK/sock$n" env "$@" nbdkit -f -v -r -U "$WORK/sock$n" \
    "$plugin" dir="$ds" 2>"$WORK/log$n" \
    || { not_ok "nbdkit starts on $ds"; sed 's/^/# /' "$WORK/log$n"; }
}
list() { timeout 60 nbdinfo --list --json "nbd+unix:///?socket=$WORK/sock$n" > "$1" 2>"$1.err"; }
count() {  # count FILE PREFIX: exports whose name begins with PREFIX
  python3 -c 'import json,sys; print(sum(1 for x in json.load(open(sys.argv[1]))["exports"] if x["export-name"].startswith(sys.argv[2])))' "$1" "$2"
}
# every file, and every name (a reader that made a -wal, -shm or -journal
# would show here)
sums() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum; find . | sort); }

# ---- a pending intent: an attach killed at each step until one is left ----
mkdir -p ds/vm
printf 'displayName = "vm"\n' > ds/vm/vm.vmx
A=$("$VDISK" fcd create --name a --size 1M ds)
"$VDISK" fcd snapshot ds "$A" >/dev/null
cp -a ds tpl
pending=0
for k in $(seq 1 12); do
  rm -rf ds; cp -a tpl ds
  VDISK_FCD_KILL_AT=$k "$VDISK" fcd attach ds "$A" ds/vm >/dev/null 2>&1
  rc=$?
  [ $rc = 0 ] && break
  p=$(python3 -c 'import sqlite3,sys; c=sqlite3.connect("file:"+sys.argv[1]+"?mode=ro", uri=True); print(c.execute("SELECT count(*) FROM intent").fetchone()[0])' ds/fcd-catalog.db 2>/dev/null)
  if [ "${p:-0}" -gt 0 ] && ! cmp -s ds/vm/vm.vmx tpl/vm/vm.vmx; then pending=1; break; fi
done
check "an attach killed mid-way leaves an intent and an edited .vmx (checkpoint $k)" test $pending = 1
sums ds > before.sum
serve "$WORK/ds"
list l1.json
check "nbdinfo --list succeeds" test -s l1.json
check "... it lists the FCD and its snapshot" test "$(count l1.json "fcd:$A")" = 2
sums ds > after.sum
check "... the catalog and the .vmx are byte-identical, no file made beside them (no recovery)" cmp -s before.sum after.sum
diff before.sum after.sum | sed 's/^/# /'
stop_server
"$VDISK" fcd list ds >/dev/null
check "a writer's open then recovers the intent (it was left for it)" \
  test "$(python3 -c 'import sqlite3,sys; c=sqlite3.connect("file:"+sys.argv[1]+"?mode=ro", uri=True); print(c.execute("SELECT count(*) FROM intent").fetchone()[0])' ds/fcd-catalog.db)" = 0

# ---- a catalog whose fcd/ folder is gone: the listing does not make it ----
mkdir ds2
X=$("$VDISK" fcd create --name x --size 1M ds2)
"$VDISK" fcd delete ds2 "$X"
rmdir ds2/fcd
serve "$WORK/ds2"
list l2.json
check "nbdinfo --list of a catalog without fcd/ succeeds" test -s l2.json
check "... and the datastore stays without fcd/" test ! -e ds2/fcd
stop_server

# ---- a writer killed mid-transaction: a hot journal a reader cannot undo ----
mkdir -p dsj
J1=$("$VDISK" fcd create --name j --size 1M dsj)
python3 - dsj/fcd-catalog.db <<'PY'
import os, sqlite3, sys
if os.fork() == 0:      # a writer that dies after changing pages on disk
    c = sqlite3.connect(sys.argv[1], isolation_level=None)
    c.execute("PRAGMA cache_size = 1"); c.execute("BEGIN")
    c.execute("CREATE TABLE junk (x)")
    c.executemany("INSERT INTO junk VALUES (?)", [(os.urandom(200),) for _ in range(500)])
    os._exit(0)
os.wait()
PY
check "a killed writer left a hot journal" test -s dsj/fcd-catalog.db-journal
sums dsj > jbefore.sum
serve "$WORK/dsj"
list lj.json
nj=$(count lj.json fcd:)
check "the listing leaves the FCDs out ($nj listed), logging a clear error (not corruption)" \
  sh -c "test '$nj' = 0 && grep -q 'a writer was stopped in the middle of a change' '$WORK/log$n'"
stop_server
sums dsj > jafter.sum
check "... and the catalog and its journal are untouched" cmp -s jbefore.sum jafter.sum
"$VDISK" fcd list dsj > jl.txt 2>&1
check "a writer's open rolls the change back and lists the FCD" \
  sh -c "grep -q '$J1' jl.txt && test ! -e dsj/fcd-catalog.db-journal"

# ---- a list longer than the cap is cut at the cap, not emptied ----
# 25 FCDs: 25 top links by path first, then room for 20 fcd: exports
# (past the first 16 the ID array grows to the room left, not past it).
mkdir ds3
for i in $(seq 1 25); do "$VDISK" fcd create --name "f$i" --size 64K ds3 >/dev/null; done
serve "$WORK/ds3" VDISK_PLUGIN_MAX_LISTED=45
list l3.json
check "a cut list still has the 25 disks by path" test "$(count l3.json fcd/)" = 25
check "... and the first 20 FCDs (the room left), not none" test "$(count l3.json fcd:)" = 20
check "... the cut is logged once" test "$(grep -c 'the list was cut at 45' "$WORK/log$n")" = 1
stop_server
# room 5: the ID array stops at 5 (it used to double 16 to 32, past the
# cap, and then list no FCD at all, as past 8192 with the real cap)
serve "$WORK/ds3" VDISK_PLUGIN_MAX_LISTED=30
list l5.json
check "a cap of 30: 25 by path and 5 FCDs, not none" \
  test "$(count l5.json fcd/)/$(count l5.json fcd:)" = 25/5
stop_server
serve "$WORK/ds3"
list l4.json
check "without the lowered cap all 25 FCDs are listed" test "$(count l4.json fcd:)" = 25
check "... and no cut is logged" test "$(grep -c 'the list was cut' "$WORK/log$n")" = 0
stop_server
done_testing
