#!/bin/bash
# kill -9 during `vdisk backup` and during `vdisk restore` of a VM (the VM
# of tests/backup/backup-vm.sh, two points backed up first): never a
# partial point, the VM unchanged, verify clean, a restored folder either
# absent or complete; afterwards a backup and a restore complete and
# match.  The kill moments are spread over the whole operation (a backup
# and a restore are timed first; each kill comes at a random point of that
# time).  BACKUP_KILLS=N cycles (default 12: about a minute under the
# sanitizers); `make backup-crash-long` runs the issue's 100.
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
# how long one backup and one restore take (ms), to aim the kills
ms() { date +%s%3N; }
t0=$(ms); $V backup vm repo 2>/dev/null; t1=$(ms)
rm -rf tr; $V restore repo tr 2>/dev/null; t2=$(ms); rm -rf tr
bdur=$(( t1 - t0 > 20 ? t1 - t0 : 20 )); rdur=$(( t2 - t1 > 20 ? t2 - t1 : 20 ))
# sleep_ms N: sleep N milliseconds
sleep_ms() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }
bad=0 landed=0 rlanded=0
for k in $(seq 1 $KILLS); do
  before=$(ls repo | grep -c T)
  $V backup vm repo 2>/dev/null & pid=$!
  sleep_ms $(( (RANDOM * 32768 + RANDOM) % (bdur * 9 / 10) ))
  kill -9 $pid 2>/dev/null && landed=$((landed+1)); wait $pid 2>/dev/null
  after=$(ls repo | grep -c T)
  [ $after -ge $before ] && [ $after -le $((before+1)) ] || { bad=$((bad+1)); echo "# kill $k: $before -> $after points"; }
  ls repo | grep -v '^\.' | grep -vq -e '^disks$' -e '^repo.json$' -e 'T[0-9]*Z\(-[0-9]*\)\?$' && { bad=$((bad+1)); echo "# kill $k: a stray name in the repository: $(ls repo)"; }
  $V backup verify repo >/dev/null 2>&1 || { bad=$((bad+1)); echo "# kill $k: verify failed"; }
  hash_vm | cmp -s - vm.h || { bad=$((bad+1)); echo "# kill $k: the VM changed"; }
  rm -rf kr; $V restore repo kr 2>/dev/null & pid=$!
  sleep_ms $(( (RANDOM * 32768 + RANDOM) % (rdur * 9 / 10) ))
  kill -9 $pid 2>/dev/null && rlanded=$((rlanded+1)); wait $pid 2>/dev/null
  if [ -e kr ]; then
    { qemu-img compare -q -f vmdk -F raw kr/data.vmdk st/6/data.raw 2>/dev/null \
      && qemu-img compare -q -f vmdk -F raw kr/sys-000001.vmdk st/6/sys.raw 2>/dev/null \
      && cmp -s kr/web.nvram st/6/web.nvram; } || { bad=$((bad+1)); echo "# kill $k: a restored folder appeared incomplete"; }
  fi
  ls -a | grep -q 'vdisk-restore' && { rm -rf .kr.vdisk-restore-*; }
done
echo "# backup ${bdur} ms, restore ${rdur} ms; kills that landed: $landed of $KILLS backups, $rlanded of $KILLS restores"
check "$KILLS kills during backup and $KILLS during restore ($landed and $rlanded landed): no partial point, the VM unchanged, verify clean ($bad problems)" test $bad = 0
$V backup vm repo 2>/dev/null
rm -rf r6; $V restore repo r6 2>/dev/null
check "after the kills a backup and restore complete and match" bash -c "qemu-img compare -q -f vmdk -F raw r6/sys-000001.vmdk st/6/sys.raw && qemu-img compare -q -f vmdk -F raw r6/data.vmdk st/6/data.raw"

done_testing
