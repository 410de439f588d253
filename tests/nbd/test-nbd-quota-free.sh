#!/bin/bash
# vdisk serve --quota-free holds for writes, not only at create: a client
# filling a thin disk stops with ENOSPC before the free space falls below
# the quota (before, only the create was checked and the write went on).
source "$(dirname "$0")/../functions.sh"
requires nbdkit nbdinfo nbdcopy python3 timeout df
find_plugin
[ -n "$plugin" ] || { echo "# skip: no uninstrumented nbdkit-vdisk-plugin.so (make build)"; exit 77; }
export VDISK_NBDKIT_PLUGIN=$plugin
cd "$WORK"
mkdir -p ds
M=$((1<<20))
head -c $((256*M)) /dev/urandom > big.bin
avail=$(df -B1 --output=avail ds | tail -1 | tr -d ' ')
[ "$avail" -gt $((1024*M)) ] || { echo "# skip: less than 1 GiB free"; exit 77; }
# leave room for 64 MiB of data, then try to write 256 MiB
quota=$((avail - 64*M))
echo secret | "$VDISK" user add --password-stdin users.psk alice
S=$WORK/sock
rm -f "$S" pid
start_server pidfile pid "$VDISK" serve --tls-psk users.psk --unix "$S" --pidfile pid --quota-free "$quota" ds 2>serve.log
check "vdisk serve --quota-free starts" test -s pid
Q="socket=$S&tls-psk-file=$WORK/users.psk"
check "a 256 MiB write into a thin disk is refused once 64 MiB are used" \
  bash -c "! timeout 60 nbdcopy big.bin 'nbds+unix://alice@/create:thin:$((512*M)):t.vmdk?$Q' 2>/dev/null"
check "the server log names the quota" grep -q "write refused by quota" serve.log
used=$(du -B1 ds/t-flat.vmdk | cut -f1)
# (the free space is the file system's, shared with the tests that run
# beside this one: what they free meanwhile the quota may hand out, so the
# bound is "stopped well before the whole 256 MiB", not an exact 64 MiB)
check "the write stopped before the whole 256 MiB ($used bytes)" test "$used" -lt $((224*M))
done_testing
