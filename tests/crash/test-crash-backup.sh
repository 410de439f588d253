#!/bin/bash
# kill -9 during `vdisk backup` and during `vdisk restore` of a VM (the VM
# of tests/backup/backup-vm.sh, two points backed up first): never a
# partial point, the VM unchanged, verify clean, a restored folder either
# absent or complete; afterwards a backup and a restore complete and
# match.  BACKUP_KILLS=N (default 12).  (Moved from the backup test.)
. "$(dirname "$0")/../functions.sh"
requires qemu-img python3 sha256sum
cd "$WORK"
V=$VDISK
KILLS=${BACKUP_KILLS:-12}

. "$VDISK_TOP/tests/backup/backup-vm.sh"
for i in 1 2; do
  [ $i -gt 1 ] && scribble $i
  $V backup vm repo >/dev/null || { echo "# setup: backup $i failed"; exit 1; }
  sleep 1.1
done

# kill -9 during backup and during restore
scribble 9; state_of 6
$V backup vm repo 2>/dev/null   # the newest point is state 6 from here on
hash_vm() { (cd vm && sha256sum web.vmx web.nvram && $V cat sys-000001.vmdk | sha256sum && $V cat data.vmdk | sha256sum); }
hash_vm > vm.h
bad=0 landed=0
for k in $(seq 1 $KILLS); do
  before=$(ls repo | grep -c T)
  $V backup vm repo 2>/dev/null & pid=$!
  sleep 0.$((RANDOM % 30))
  kill -9 $pid 2>/dev/null && landed=$((landed+1)); wait $pid 2>/dev/null
  after=$(ls repo | grep -c T)
  [ $after -ge $before ] && [ $after -le $((before+1)) ] || { bad=$((bad+1)); echo "# kill $k: $before -> $after points"; }
  $V backup verify repo >/dev/null 2>&1 || { bad=$((bad+1)); echo "# kill $k: verify failed"; }
  hash_vm | cmp -s - vm.h || { bad=$((bad+1)); echo "# kill $k: the VM changed"; }
  rm -rf kr; $V restore repo kr 2>/dev/null & pid=$!
  sleep 0.$((RANDOM % 20)); kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
  if [ -e kr ]; then
    qemu-img compare -q -f vmdk -F raw kr/data.vmdk st/6/data.raw 2>/dev/null || { bad=$((bad+1)); echo "# kill $k: a restored folder appeared incomplete"; }
  fi
  ls -a | grep -q 'vdisk-restore' && { rm -rf .kr.vdisk-restore-*; }
done
check "$KILLS kills during backup and restore ($landed landed): no partial point, the VM unchanged, verify clean ($bad problems)" test $bad = 0
$V backup vm repo 2>/dev/null
rm -rf r6; $V restore repo r6 2>/dev/null
check "after the kills a backup and restore complete and match" bash -c "qemu-img compare -q -f vmdk -F raw r6/sys-000001.vmdk st/6/sys.raw && qemu-img compare -q -f vmdk -F raw r6/data.vmdk st/6/data.raw"

done_testing
