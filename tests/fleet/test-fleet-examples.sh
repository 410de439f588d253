#!/bin/bash
# examples/fleet: the Kubernetes Indexed Job manifest parsed and checked
# (python3-yaml), the Slurm array script checked, and run-local.sh (the
# xargs -P way) run for real on a small fleet of local VM folders.
source "$(dirname "$0")/../functions.sh"
requires python3
EX="$VDISK_TOP/examples/fleet"
DB="$VDISK_TOP/tests/scan/db"
python3 -c 'import yaml' 2>/dev/null || { echo "# skip: python3-yaml missing (scripts/bootstrap.sh)"; exit 77; }
cd "$WORK"
cat > k8s.py <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
by = {}
for d in docs:
    by.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
errs = []
def need(c, what):
    if not c: errs.append(what)
jobs = [j for j in by.get("Job", {}).values() if j["spec"].get("completionMode") == "Indexed"]
need(len(jobs) == 1, "one Indexed Job")
j = jobs[0]; sp = j["spec"]; tpl = sp["template"]["spec"]
c = tpl["containers"][0]; cmd = c["command"]
need(cmd[:2] == ["vdisk", "scan"], "the container runs vdisk scan")
arg = lambda k: cmd[cmd.index(k) + 1] if k in cmd else None
shard = arg("--shard") or ""
need(shard.startswith("auto/"), "--shard auto/N (JOB_COMPLETION_INDEX)")
n = int(shard.split("/")[1]) if "/" in shard else -1
need(sp.get("completions") == n, "completions (%s) = N of --shard auto/N (%d)" % (sp.get("completions"), n))
need(1 <= sp.get("parallelism", 0) <= n, "1 <= parallelism <= completions")
need(tpl.get("restartPolicy") in ("Never", "OnFailure"), "restartPolicy Never or OnFailure")
vols = {v["name"]: v for v in tpl["volumes"]}
mounts = {m["name"]: m for m in c["volumeMounts"]}
need(set(mounts) <= set(vols), "every volumeMount has a volume")
def under(path, kind):
    for name, m in mounts.items():
        if kind in vols[name] and (path + "/").startswith(m["mountPath"].rstrip("/") + "/"):
            return vols[name][kind]
    return None
cm = under(arg("--manifest") or "", "configMap")
need(cm is not None and cm["name"] in by.get("ConfigMap", {}), "--manifest is in a mounted ConfigMap defined here")
if cm:
    need(arg("--manifest").rsplit("/", 1)[1] in by["ConfigMap"][cm["name"]]["data"], "the ConfigMap holds the manifest file")
pvc = under(arg("--out") or "", "persistentVolumeClaim")
need(pvc is not None and pvc["claimName"] in by.get("PersistentVolumeClaim", {}), "--out is on a claim defined here")
if pvc:
    need("ReadWriteMany" in by["PersistentVolumeClaim"][pvc["claimName"]]["spec"]["accessModes"], "the results claim is ReadWriteMany")
env = {e["name"]: e.get("value") for e in c.get("env", [])}
sec = under(env.get("VDISK_NBD_PSK_FILE") or "", "secret")
need(sec is not None and sec["secretName"] in by.get("Secret", {}), "VDISK_NBD_PSK_FILE is in a mounted Secret defined here")
if sec:
    need(env["VDISK_NBD_PSK_FILE"].rsplit("/", 1)[1] in by["Secret"][sec["secretName"]].get("stringData", {}), "the Secret holds the key file")
need(mounts.get([k for k, v in vols.items() if "secret" in v][0], {}).get("readOnly") is True, "the key is mounted read-only")
for e in errs: print("# missing: " + e)
sys.exit(1 if errs else 0)
PY
check "k8s-indexed-job.yaml: an Indexed Job with what the job needs" python3 k8s.py "$EX/k8s-indexed-job.yaml"
# the check can fail: a Job whose completions differ from N
sed 's/completions: 7 /completions: 6 /' "$EX/k8s-indexed-job.yaml" > bad.yaml
check "... and the check refuses completions != N" bash -c "! python3 k8s.py bad.yaml >/dev/null"
check "slurm-array.sh: bash syntax" bash -n "$EX/slurm-array.sh"
check "slurm-array.sh: --array=0-(N-1) for --shard auto/N" python3 - "$EX/slurm-array.sh" <<'PY'
import re, sys
s = open(sys.argv[1]).read()
a = re.search(r"^#SBATCH --array=0-(\d+)", s, re.M)
n = re.search(r"--shard auto/(\d+)", s)
sys.exit(0 if a and n and int(a.group(1)) == int(n.group(1)) - 1 else 1)
PY

# ---- run-local.sh for real ----
printf '%s' 'X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' > eicar.bin
pattern rnd.bin 65536 2
for v in 1 2 3 4 5 6; do
  mkdir -p vms/vm$v
  "$VDISK" create -s 2M vms/vm$v/vm$v.vmdk >/dev/null
  "$VDISK" write -o $((v * 65536)) -f rnd.bin vms/vm$v/vm$v.vmdk >/dev/null
  printf 'displayName = "vm%s"\nscsi0:0.fileName = "vm%s.vmdk"\n' $v $v > vms/vm$v/vm$v.vmx
done
"$VDISK" write -o 1000000 -f eicar.bin vms/vm4/vm4.vmdk >/dev/null
"$VDISK" inventory vms > m.jsonl
VDISK="$VDISK" timeout 300 "$EX/run-local.sh" m.jsonl out 3 2 "$DB" 1 > rep.txt 2>err.txt; rc=$?
sed 's/^/# /' rep.txt
check "run-local.sh (xargs -P 2, 3 shards): report exit 1 (one infected disk)" test "$rc" = 1
check "run-local.sh: 6 disks done, 1 infected, vm4 named" bash -c \
  "grep -q '6 disks: 6 done (5 clean, 1 infected)' rep.txt && grep -q 'vm4.vmdk: .*FOUND at sectors 1953-1953' rep.txt"
check "run-local.sh: 6 results" test "$(ls out/*.json | wc -l)" = 6
done_testing
