# Sourced by the FCD tests: a shadow model of a datastore (raw copies of
# what every FCD and snapshot must read) and checks of the real one
# against it.  Model: $MODEL/ID/top.raw and $MODEL/ID/SSID.raw.
MODEL=${MODEL:-$WORK/model}
mkdir -p "$MODEL"

# json EXPR < JSON: print a Python expression of the parsed input (j)
json() { python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }
fcd_ids() { "$VDISK" fcd list --json "$1" | json '" ".join(sorted(x["id"] for x in j))'; }
snap_ids() { "$VDISK" fcd snapshots --json "$1" "$2" | json '" ".join(x["id"] for x in j)'; }
fcd_top() { "$VDISK" fcd info --json "$1" "$2" | json 'j["fcd"]["path"]'; }
snap_path() { "$VDISK" fcd snapshots --json "$1" "$2" | json "[x['path'] for x in j if x['id']=='$3'][0]"; }

# model_new ID SIZE: an FCD reading as zeros
model_new() { mkdir -p "$MODEL/$1"; truncate -s "$2" "$MODEL/$1/top.raw"; }
# fcd_write DS ID OFFSET FILE: write FILE into the FCD's top and the model
fcd_write() {
  "$VDISK" write --offset "$3" --file "$4" "$(fcd_top "$1" "$2")" >/dev/null &&
    dd if="$4" of="$MODEL/$2/top.raw" bs=1 seek="$3" conv=notrunc status=none
}
model_snapshot() { cp "$MODEL/$1/top.raw" "$MODEL/$1/$2.raw"; echo "$2" >> "$MODEL/$1/order"; }
model_ssids() { [ -f "$MODEL/$1/order" ] && tr '\n' ' ' < "$MODEL/$1/order" | sed 's/ $//'; true; }
model_drop_snap() { rm -f "$MODEL/$1/$2.raw"; grep -vx "$2" "$MODEL/$1/order" > "$MODEL/$1/order.n"; mv "$MODEL/$1/order.n" "$MODEL/$1/order"; }
# model_revert ID SSID: top as at SSID, later snapshots gone
model_revert() {
  cp "$MODEL/$1/$2.raw" "$MODEL/$1/top.raw"
  local keep=1 s
  : > "$MODEL/$1/order.n"
  while read -r s; do
    if [ $keep = 1 ]; then echo "$s" >> "$MODEL/$1/order.n"; else rm -f "$MODEL/$1/$s.raw"; fi
    [ "$s" = "$2" ] && keep=0
  done < "$MODEL/$1/order"
  mv "$MODEL/$1/order.n" "$MODEL/$1/order"
}
model_ids() { (cd "$MODEL" && ls -d */ 2>/dev/null | tr -d / | sort | tr '\n' ' ' | sed 's/ $//'); }

# verify DS: the catalog lists exactly the model's FCDs and snapshots, and
# each reads as its raw copy (vdisk fcd cat | cmp).  Prints what differs.
verify() {
  local ds=$1 id s bad=0
  local have; have=$(fcd_ids "$ds") || return 1
  if [ "$have" != "$(model_ids)" ]; then
    echo "# FCDs: catalog [$have] model [$(model_ids)]"; return 1
  fi
  for id in $have; do
    if ! "$VDISK" fcd cat "$ds" "$id" | cmp -s - "$MODEL/$id/top.raw"; then
      echo "# $id: top differs"; bad=1
    fi
    local ss; ss=$(snap_ids "$ds" "$id")
    if [ "$ss" != "$(model_ssids "$id")" ]; then
      echo "# $id: snapshots [$ss] model [$(model_ssids "$id")]"; bad=1; continue
    fi
    for s in $ss; do
      if ! "$VDISK" fcd cat "$ds" "$id@$s" | cmp -s - "$MODEL/$id/$s.raw"; then
        echo "# $id@$s differs"; bad=1
      fi
    done
  done
  return $bad
}

# qemu_verify DS: qemu-img compare of every link against the model
qemu_verify() {
  local ds=$1 id s bad=0
  for id in $(fcd_ids "$ds"); do
    qemu-img compare -q -f vmdk -F raw "$(fcd_top "$ds" "$id")" "$MODEL/$id/top.raw" || { echo "# qemu-img: $id top differs"; bad=1; }
    for s in $(snap_ids "$ds" "$id"); do
      qemu-img compare -q -f vmdk -F raw "$(snap_path "$ds" "$id" "$s")" "$MODEL/$id/$s.raw" || { echo "# qemu-img: $id@$s differs"; bad=1; }
    done
  done
  return $bad
}

# orphans DS: the number reconcile finds
orphans() { "$VDISK" fcd reconcile --json "$1" | json 'j["count"]'; }
export -f json fcd_ids snap_ids fcd_top snap_path orphans
