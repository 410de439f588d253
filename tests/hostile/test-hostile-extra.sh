#!/bin/bash
# The security-checklist.md §4 items missing from tests/hostile: images
# from tests/hostile/make-hostile-extra.py, each run through vdisk on a copy.
# "fail": exit 1 (check: 2) with the expected words; "ok": exit 0 with the
# words (items read with a warning); "safe": exit 0 or 1.  Never a signal,
# a sanitizer report or a timeout; the image is never modified.
. "$(dirname "$0")/../functions.sh"
requires python3
python3 "$VDISK_TOP/tests/hostile/make-hostile-extra.py" "$WORK/c" || { not_ok "generator"; done_testing; exit 1; }
tried=0 rejected=0
while IFS=$'\t' read -r name item cmd expect file words what; do
  tried=$((tried+1))
  rm -rf "$WORK/w"; cp -r "$WORK/c/$name" "$WORK/w"
  before=$(cd "$WORK/w" && find . -type f -exec sha256sum {} + | sort)
  case $cmd in
    write) echo hello | timeout 10 "$VDISK" write --offset 0 "$WORK/w/$file" >"$WORK/out" 2>&1; rc=$? ;;
    *) timeout 10 "$VDISK" "$cmd" "$WORK/w/$file" >"$WORK/out" 2>&1; rc=$? ;;
  esac
  after=$(cd "$WORK/w" && find . -type f -exec sha256sum {} + | sort)
  good=1 why=""
  if [ "$rc" -ge 124 ] || grep -qE "AddressSanitizer|UndefinedBehavior|LeakSanitizer|runtime error" "$WORK/out"; then
    good=0 why="crash, timeout or sanitizer report (exit $rc)"
  fi
  want=1; [ "$cmd" = check ] && want=2
  case $expect in
    fail) [ "$rc" = "$want" ] || { good=0 why="exit $rc, want $want"; } ;;
    ok) [ "$rc" = 0 ] || { good=0 why="exit $rc, want 0"; } ;;
    safe) [ "$rc" = 0 ] || [ "$rc" = 1 ] || { good=0 why="exit $rc"; } ;;
  esac
  if [ -n "$words" ] && [ "$words" != - ]; then
    IFS='|' read -ra alts <<<"$words"; hit=0
    for a in "${alts[@]}"; do grep -qi -- "$a" "$WORK/out" && hit=1; done
    [ "$hit" = 1 ] || { good=0 why="output lacks '$words'"; }
  fi
  # item 50: messages quote little of the input
  [ "$(awk '{ if (length($0) > m) m = length($0) } END { print m+0 }' "$WORK/out")" -le 400 ] || { good=0 why="a message line over 400 bytes"; }
  [ "$before" = "$after" ] || { good=0 why="the image was modified"; }
  if [ "$good" = 1 ]; then
    [ "$expect" != ok ] && rejected=$((rejected+1))
    ok "item $item $name ($expect): $what"
  else
    not_ok "item $item $name: $what: $why"; sed 's/^/#   /' "$WORK/out" | head -3
  fi
done < "$WORK/c/manifest.tsv"
echo "# hostile extra: $tried tried, $rejected refused or handled safely as the checklist asks"
done_testing
