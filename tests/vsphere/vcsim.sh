# Sourced by the vsphere tests after functions.sh: start_vcsim [ARGS...]
# starts the simulator (tests/vsphere/vcsim) on loopback under timeout, waits
# for it, and sets VCSIM_URL, VCSIM_HOST (127.0.0.1:PORT), VCSIM_DIR (the
# datastore folder), VCSIM_DS, VCSIM_DC, VCSIM_THUMBPRINT, VCSIM_CERT.
# stop_vcsim stops it; the EXIT trap stops every one left.
VCSIM_BIN=$("$VDISK_TOP/tests/vsphere/build-vcsim.sh") || {
  rc=$?; echo "# skip: simulator not buildable"; exit $rc; }
_vcsim_pids=()
_vcsim_n=0
trap 'for p in "${_vcsim_pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$WORK"' EXIT
start_vcsim() {
  _vcsim_n=$((_vcsim_n + 1))
  local d="$WORK/vcsim.$_vcsim_n"
  mkdir -p "$d/tmp"
  TMPDIR="$d/tmp" timeout 300 "$VCSIM_BIN" -info "$d/info" -cert "$d/cert.pem" "$@" \
    >"$d/out" 2>"$d/err" &
  VCSIM_PID=$!
  _vcsim_pids+=("$VCSIM_PID")
  for _ in $(seq 200); do [ -s "$d/info" ] && break; sleep 0.05; done
  [ -s "$d/info" ] || { echo "# vcsim did not start:"; sed 's/^/# /' "$d/err"; return 1; }
  VCSIM_URL=$(sed -n 's/^URL=//p' "$d/info")
  VCSIM_HOST=${VCSIM_URL#https://}; VCSIM_HOST=${VCSIM_HOST%/sdk}
  VCSIM_DIR=$(sed -n 's/^DIR=//p' "$d/info" | head -1)
  VCSIM_DS=$(sed -n 's/^DATASTORE=//p' "$d/info" | head -1)
  VCSIM_DC=$(sed -n 's/^DC=//p' "$d/info" | head -1)
  VCSIM_THUMBPRINT=$(sed -n 's/^THUMBPRINT=//p' "$d/info")
  VCSIM_CERT="$d/cert.pem"
  VCSIM_INFO="$d/info"
}
stop_vcsim() { kill "$VCSIM_PID" 2>/dev/null; wait "$VCSIM_PID" 2>/dev/null; }
