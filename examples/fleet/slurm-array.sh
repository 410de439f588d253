#!/bin/bash
# vdisk scan of a fleet as a Slurm job array: one array task per shard,
# the shard index from SLURM_ARRAY_TASK_ID (--shard auto/7).  Keep the
# array 0..N-1 for --shard auto/N; %3 is how many run at once.  A task
# that fails can be resubmitted alone (sbatch --array=4 ...): it skips the
# disks whose results are already in $OUT.
#SBATCH --job-name=vdisk-scan
#SBATCH --array=0-6%3
#SBATCH --cpus-per-task=2
#SBATCH --mem=1G
#SBATCH --time=04:00:00
#SBATCH --output=vdisk-scan-%A_%a.log
set -euo pipefail
MANIFEST=${MANIFEST:-$HOME/fleet/manifest.jsonl}   # vdisk inventory ... > manifest.jsonl
OUT=${OUT:-$HOME/fleet/results}                     # on a shared file system
DB=${DB:-/var/lib/clamav}
# the TLS key for the vdisk servers (a file "USER:HEXKEY", mode 0400)
export VDISK_NBD_PSK_FILE=${VDISK_NBD_PSK_FILE:-$HOME/.config/vdisk/client.psk}
export VDISK_NBD_USER=${VDISK_NBD_USER:-fleet}
srun vdisk scan --db "$DB" --manifest "$MANIFEST" --out "$OUT" \
  --shard auto/7 --per-host 2 --threads "${SLURM_CPUS_PER_TASK:-2}"
# After the array: vdisk report "$OUT"   (e.g. sbatch --dependency=afterok:JOBID)
