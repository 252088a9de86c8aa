#!/usr/bin/env bash
# Capture what squeue, sacct and scontrol say of array tasks cancelled while still pending in
# their array (held back by the throttle): `scancel ARR_3`, `scancel ARR_[1-2]`, the last pending
# task, and `scancel -t PENDING ARR`, from the one-node cluster of scripts/slurm.sh (start
# --accounting). Takes ~15 s. README.md says what each file is.
# Usage: bash tests/data/slurm-samples/capture-cancel.sh   (from the repository root)
set -euo pipefail
cd "$(dirname "$0")"
OUT=$PWD
source ./capture-common.sh
sc() { scontrol show job -o "$1"; }

# One at a time (%1): task 0 runs, the others wait in the array's pending remainder.
one=$(sbatch --parsable --array=0-4%1 -J tsq-sample-cancel-task -o /dev/null --wrap 'sleep 6')
all=$(sbatch --parsable --array=0-3%1 -J tsq-sample-cancel-pending -o /dev/null --wrap 'sleep 6')
until_ok 60 state_is "${one}_0" RUNNING
until_ok 60 state_is "${all}_0" RUNNING

# A task, then a range: squeue and scontrol's remainder lose them, nothing records them.
scancel "${one}_3"
until_ok 20 sh -c "! squeue -h -r -o %i -j $one | grep -qx ${one}_3"
sq "$one" >"$OUT/squeue-cancel-task.txt"
sc "$one" >"$OUT/scontrol-cancel-task.txt"
scancel "${one}_[1-2]"
until_ok 20 sh -c "! squeue -h -r -o %i -j $one | grep -qx ${one}_2"
until_ok 20 sh -c "sacct -n -X -P -o JobID -j $one | grep -q '\[4'"
sa "$one" >"$OUT/sacct-cancel-range.txt"
# The last pending task: the remainder is empty, the array's own record CANCELLED, with no
# task (`ARR|...`) or with the last one (`ARR_[4%1]`), as slurmdbd last heard of the remainder.
scancel "${one}_4"
until_ok 20 sh -c "sacct -n -X -P -o JobID,State -j $one | grep -q 'CANCELLED by 0'"
sa "$one" >"$OUT/sacct-cancel-last.txt"
sc "$one" >"$OUT/scontrol-cancel-last.txt"

# Every pending task at once: the remainder CANCELLED whole, its tasks named only by sacct.
scancel -t PENDING "$all"
until_ok 20 sh -c "sacct -n -X -P -o State -j $all | grep -q CANCELLED"
sq "$all" >"$OUT/squeue-cancel-pending.txt"
sa "$all" >"$OUT/sacct-cancel-pending.txt"
sc "$all" >"$OUT/scontrol-cancel-pending.txt"

# Once the running tasks have ended: what is left to see of the cancelled ones.
until_ok 60 state_is "${one}_0" COMPLETED
until_ok 60 sh -c "sacct -n -X -P -o State -j ${one}_0 | grep -qx COMPLETED"
sa "$one" >"$OUT/sacct-cancel-ended.txt"
echo "captured in $OUT (jobs: $one, $all)"
