#!/bin/bash
# Hostile-input test: every image made by make-hostile.py must be refused
# cleanly.  See tests/hostile/README.md.
#
# For each base (a valid image) qemu-img convert -O raw and "vdisk cat"
# must give identical bytes, so that each mutation is one real defect.
# For each hostile image: the named vdisk command must exit 1 (2 for
# "check"), print a message naming the problem, raise no signal or
# sanitizer report, finish within 10 s under a memory limit, and leave
# every file in the image's folder unchanged.
#
# Environment: VDISK (the CLI), HOSTILE_ONLY=regex to run some images,
# HOSTILE_VERBOSE=1 to print every message, HOSTILE_PEER=1 to also note
# what qemu-img does with each image.
. "$(dirname "${BASH_SOURCE[0]}")/../functions.sh"
requires python3 timeout sha256sum cmp
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ -x "$VDISK" ] || { echo "# skip: $VDISK not built"; exit 77; }

ORIG=$WORK/orig
if ! python3 "$HERE/make-hostile.py" "$ORIG" >"$WORK/gen.log" 2>&1; then
  not_ok "make-hostile.py builds the corpus"
  sed 's/^/# /' "$WORK/gen.log"
  done_testing
  exit
fi

# ASan builds reserve terabytes of virtual memory, so ulimit -v would
# break them: rely on ASan's own allocation cap there instead.
asan=0
if { ldd "$VDISK" 2>/dev/null | grep -qE 'libasan|clang_rt\.asan'; } ||
   { nm "$VDISK" 2>/dev/null | grep -q '__asan_init'; } ||
   { nm -D "$VDISK" 2>/dev/null | grep -q '__asan_init'; }; then
  asan=1
fi
MEM_KB=1048576     # 1 GiB of address space for release builds
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}allocator_may_return_null=1:max_allocation_size_mb=1024:hard_rss_limit_mb=1536"
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:exitcode=98}
echo "# vdisk: $VDISK (asan=$asan)"

# run_vdisk DIR CMD FILE: runs "vdisk CMD DIR/FILE" with the limits;
# sets $rc, stderr in $WORK/err.  "check" reports on stdout (as
# qemu-img check does), so its stdout is kept in $WORK/out; the data
# that "cat" writes is thrown away.
run_vdisk() {
  local dir=$1 cmd=$2 file=$3 out=/dev/null
  [ "$cmd" = check ] && out=$WORK/out
  : >"$WORK/out"
  (
    cd "$dir" || exit 90
    [ "$asan" = 1 ] || ulimit -v "$MEM_KB"
    exec timeout -k 2 10 "$VDISK" "$cmd" "$dir/$file"
  ) >"$out" 2>"$WORK/err" </dev/null
  rc=$?
}

# snapshot DIR: one line per entry: path, type, link target, sha256.
snapshot() {
  (cd "$1" && find . -printf '%p %y %l\n' | LC_ALL=C sort &&
     find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum)
}

# words_ok TEXT SPEC: SPEC is groups joined by ';', alternatives by '|';
# every group needs one alternative in TEXT (case-insensitive).
words_ok() {
  local text=${1,,} spec=${2,,} group alt found
  local IFS=';'
  for group in $spec; do
    found=0
    IFS='|'
    for alt in $group; do
      [[ $text == *"$alt"* ]] && { found=1; break; }
    done
    IFS=';'
    [ "$found" = 1 ] || return 1
  done
  return 0
}

sanitizer_report() {
  grep -qE 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:|MemorySanitizer|ThreadSanitizer|SUMMARY: ' "$1"
}

unsupported() {
  grep -qiE 'not supported|unsupported|not implemented|not yet' "$1"
}

oneline() { tr '\n\t' '  ' <"$1" | cut -c1-300; }
# the message of the last run, the image folder's path cut out so that
# its name cannot supply the expected words
message() {
  head -c 4096 "$WORK/out" | cat - "$WORK/err" | tr '\n\t' '  ' |
    sed "s|$1/||g" | cut -c1-300
}

# ---- bases: qemu-img and vdisk must agree --------------------------------
declare -A base_unsupported
have_qemu=0
command -v qemu-img >/dev/null 2>&1 && have_qemu=1
while IFS=$'\t' read -r name feature file; do
  case $name in '#'*|'') continue;; esac
  if [ -n "${HOSTILE_ONLY:-}" ] && ! [[ $name =~ $HOSTILE_ONLY ]]; then
    continue
  fi
  dir=$WORK/run/$name
  mkdir -p "$WORK/run" && cp -a "$ORIG/$name" "$dir"
  if [ "$have_qemu" = 0 ]; then
    ok "$name: valid base # SKIP qemu-img missing"
    continue
  fi
  if ! qemu-img convert -f vmdk -O raw "$dir/$file" "$WORK/q.raw" \
       2>"$WORK/qerr"; then
    not_ok "$name: qemu-img rejects the base: $(oneline "$WORK/qerr")"
    continue
  fi
  (
    cd "$dir" || exit 90
    [ "$asan" = 1 ] || ulimit -v "$MEM_KB"
    exec timeout -k 2 60 "$VDISK" cat "$dir/$file"
  ) >"$WORK/v.raw" 2>"$WORK/err" </dev/null
  rc=$?
  if [ "$rc" != 0 ] && [ "$feature" != core ] && unsupported "$WORK/err"; then
    base_unsupported[$feature]=1
    ok "$name: valid base # SKIP vdisk: $(oneline "$WORK/err")"
  elif [ "$rc" != 0 ]; then
    not_ok "$name: vdisk cat of the valid base exits $rc: $(oneline "$WORK/err")"
  elif ! cmp -s "$WORK/q.raw" "$WORK/v.raw"; then
    not_ok "$name: vdisk cat and qemu-img convert differ ($(cmp "$WORK/q.raw" "$WORK/v.raw" 2>&1 | head -n1))"
  else
    ok "$name: valid base, vdisk cat = qemu-img convert ($(stat -c %s "$WORK/v.raw") bytes)"
  fi
  rm -rf "$dir" "$WORK/q.raw" "$WORK/v.raw"
done <"$ORIG/bases.tsv"

# ---- hostile images ------------------------------------------------------
tried=0 clean=0 skipped=0
bad_list=()
while IFS=$'\t' read -r name item feature cmd want file words what; do
  case $name in '#'*|'') continue;; esac
  if [ -n "${HOSTILE_ONLY:-}" ] && ! [[ $name =~ $HOSTILE_ONLY ]]; then
    continue
  fi
  dir=$WORK/run/img$tried      # a name that gives no words away
  rm -rf "$dir"; mkdir -p "$WORK/run"
  cp -a "$ORIG/$name" "$dir"
  snapshot "$ORIG/$name" >"$WORK/before"
  run_vdisk "$dir" "$cmd" "$file"
  snapshot "$dir" >"$WORK/after"
  msg=$(message "$dir")
  [ "${HOSTILE_VERBOSE:-0}" = 1 ] && echo "# $name: rc=$rc: $msg"
  if [ "${HOSTILE_PEER:-0}" = 1 ] && [ "$have_qemu" = 1 ]; then
    if [ "$cmd" = check ]; then
      qemu-img check -f vmdk "$dir/$file" >/dev/null 2>"$WORK/qerr"
    else
      timeout 10 qemu-img convert -f vmdk -O raw "$dir/$file" "$WORK/q.raw" \
        2>"$WORK/qerr"
    fi
    echo "# $name: qemu-img $cmd exits $?: $(oneline "$WORK/qerr" | cut -c1-120)"
    rm -f "$WORK/q.raw"
  fi

  desc="$name (item $item, $cmd): $what"
  problems=()
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    problems+=("timed out after 10 s (hang)")
  elif [ "$rc" -ge 128 ] && [ "$rc" -lt 200 ]; then
    problems+=("killed by signal $((rc-128))")
  fi
  sanitizer_report "$WORK/err" && problems+=("sanitizer report")
  if [ "$rc" = 0 ]; then
    problems+=("accepted (exit 0)")
  elif [ "$rc" != "$want" ] && [ ${#problems[@]} = 0 ]; then
    problems+=("exit $rc, want $want")
  fi
  if [ "$rc" != 0 ] && ! [ -s "$WORK/err" ] && ! [ -s "$WORK/out" ]; then
    problems+=("no message")
  elif [ "$rc" != 0 ] && ! words_ok "$msg" "$words"; then
    problems+=("message lacks [$words]")
  fi
  cmp -s "$WORK/before" "$WORK/after" || problems+=("files in the folder changed")

  tried=$((tried+1))
  if [ ${#problems[@]} -gt 0 ] && [ "$feature" != core ] &&
     [ "$rc" != 0 ] && [ "$rc" -lt 124 ] && unsupported "$WORK/err" &&
     ! sanitizer_report "$WORK/err" && cmp -s "$WORK/before" "$WORK/after"; then
    skipped=$((skipped+1))
    ok "$desc # SKIP $feature: $msg"
  elif [ ${#problems[@]} = 0 ]; then
    clean=$((clean+1))
    ok "$desc"
  else
    IFS=';'; p="${problems[*]}"; unset IFS
    not_ok "$desc: $p"
    echo "#   rc=$rc stderr: $msg"
    bad_list+=("$name: $p")
  fi
  rm -rf "$dir"
done <"$ORIG/manifest.tsv"

echo "# hostile images rejected cleanly: $clean of $tried ($skipped skipped as not supported yet)"
for b in "${bad_list[@]}"; do echo "#   BAD $b"; done
done_testing
