#!/usr/bin/env bash
# Capture the real Slurm outputs in this directory from the one-node cluster of
# scripts/slurm.sh (start --accounting). Takes ~2 minutes (the TIMEOUT job). README.md says what
# each file is; squeue's and a requeued job's later runs are capture-squeue.sh's.
# Usage: bash tests/data/slurm-samples/capture.sh   (from the repository root)
set -euo pipefail
cd "$(dirname "$0")"
OUT=$PWD
source ./capture-common.sh
W=$(mktemp -d /tmp/tsq-capture.XXXXXX)
cd "$W"

ended() { ! scontrol show job -o "$1" | grep -qE 'JobState=(PENDING|RUNNING|COMPLETING|CONFIGURING|REQUEUED|SUSPENDED)'; }
in_sacct() { sacct -n -X -P -o State -j "$1" | grep -qv -E '^(PENDING|RUNNING|REQUEUED)$'; }
sa() { sacct --parsable2 -n -o "$SACCT_FIELDS" -j "$@"; }
sc() { scontrol show job -o "$1"; }

# --- submissions -------------------------------------------------------------------------------
# An array of 6 tasks, 2 at a time; task i sleeps 3 s and exits with status i.
arr=$(sbatch --parsable --array=0-5%2 -J tsq-sample-array -o "$W/arr-%A_%a.out" \
    --wrap 'sleep 3; exit $SLURM_ARRAY_TASK_ID')
echo "$arr" >"$OUT/sbatch-parsable-array.txt"
# --parsable with -M (--clusters) prints "id;cluster".
clu=$(sbatch --parsable -M tsq -J tsq-sample-cluster -o /dev/null --wrap true)
echo "$clu" >"$OUT/sbatch-parsable-cluster.txt"
# Without --parsable.
sbatch -J tsq-sample-plain -o /dev/null --wrap true >"$OUT/sbatch-plain.txt"
kill9=$(sbatch --parsable -J tsq-sample-kill9 -o /dev/null --wrap 'kill -9 $$')
fail3=$(sbatch --parsable -J tsq-sample-exit3 -o /dev/null --wrap 'exit 3')
canc=$(sbatch --parsable -J tsq-sample-scancel -o /dev/null --wrap 'sleep 300')
tmo=$(sbatch --parsable -J tsq-sample-timeout -t 0:01 -o /dev/null --wrap 'sleep 300')
oom=$(sbatch --parsable -J tsq-sample-oom --mem=20M -o "$W/oom.out" \
    --wrap 'exec python3 -c "a = bytearray(300 * 2**20); import time; time.sleep(30)"')
rq=$(sbatch --parsable -J tsq-sample-requeue -o /dev/null --wrap 'sleep 300')
held=$(sbatch --parsable -H -J tsq-sample-held -o /dev/null --wrap true)
# A dependency still waiting on a running job, and one that can never be satisfied.
deppend=$(sbatch --parsable -J tsq-sample-dep-pending -d "afterok:$canc" -o /dev/null --wrap true)

# --- live: pending and running array tasks -----------------------------------------------------
until_ok 60 state_is "${arr}_0" RUNNING
sc "$arr" >"$OUT/scontrol-array-running.txt"

until_ok 60 state_is "$canc" RUNNING
until_ok 60 state_is "$rq" RUNNING
sc "$held" >"$OUT/scontrol-held.txt"
sc "$deppend" >"$OUT/scontrol-dependency-pending.txt"

# --- requeue: back to PENDING (BeginTime) ------------------------------------------------------
scontrol requeue "$rq"
until_ok 60 state_is "$rq" PENDING
sc "$rq" >"$OUT/scontrol-requeued.txt"
until_ok 60 sh -c "sacct -n -D -X -P -o State -j $rq | grep -q REQUEUED"
sa "$rq" -D >"$OUT/sacct-requeued-D.txt"
sa "$rq" >"$OUT/sacct-requeued.txt"

# --- scancel a running job; its dependant can never run ----------------------------------------
scancel "$canc"
until_ok 60 ended "$canc"
until_ok 60 ended "$deppend"
sc "$canc" >"$OUT/scontrol-cancelled.txt"
sc "$deppend" >"$OUT/scontrol-dependency-never.txt"
scancel "$held"
until_ok 60 ended "$held"
sc "$held" >"$OUT/scontrol-cancelled-pending.txt"

# --- ended: completed / failed / killed / oom ---------------------------------------------------
until_ok 120 ended "${arr}_5"
until_ok 60 ended "$kill9"
until_ok 60 ended "$fail3"
until_ok 60 ended "$oom"
sc "$arr" >"$OUT/scontrol-array-ended.txt"
sc "$kill9" >"$OUT/scontrol-kill9.txt"
sc "$fail3" >"$OUT/scontrol-exit3.txt"
sc "$oom" >"$OUT/scontrol-oom.txt"
cp "$W/oom.out" "$OUT/oom-job-output.txt" || true

# --- timeout (-t 0:01): ~1-2 minutes -----------------------------------------------------------
until_ok 200 ended "$tmo"
sc "$tmo" >"$OUT/scontrol-timeout.txt"

# --- sacct once accounting has every end -------------------------------------------------------
for j in "$arr" "$kill9" "$fail3" "$canc" "$deppend" "$held" "$oom" "$tmo"; do
    until_ok 60 in_sacct "$j"
done
sa "$arr" >"$OUT/sacct-array.txt"
sa "$arr,$kill9,$fail3,$canc,$deppend,$held,$oom,$tmo" >"$OUT/sacct-ended.txt"
sa "$arr,$kill9,$fail3,$canc,$deppend,$held,$oom,$tmo" -X >"$OUT/sacct-ended-X.txt"

# --- errors: the exact stderr and exit status of one-line refusals -----------------------------
err() {
    local name=$1
    shift
    set +e
    "$@" >/dev/null 2>"$OUT/$name.txt"
    echo "exit status $?" >"$OUT/$name.status"
    set -e
}
err sbatch-error-partition sbatch --parsable -p nope -o /dev/null --wrap true
err sbatch-error-option sbatch --parsable --bogus-option -o /dev/null --wrap true
err sbatch-error-time sbatch --parsable -t notatime -o /dev/null --wrap true
err sbatch-error-mem sbatch --parsable --mem=999999G -o /dev/null --wrap true
err scontrol-error-unknown-id scontrol show job -o 999999

# --- free text with spaces: job name, work dir, script path and arguments ----------------------
mkdir -p "$W/dir with space"
printf '#!/bin/sh\nexit 0\n' >"$W/dir with space/job script.sh"
sp=$(cd "$W/dir with space" && sbatch --parsable -J 'name with spaces' -o "$W/dir with space/out %j.txt" \
    "$W/dir with space/job script.sh" 'arg one' two)
until_ok 60 ended "$sp"
sc "$sp" >"$OUT/scontrol-spaces.txt"
until_ok 60 in_sacct "$sp"
sa "$sp" >"$OUT/sacct-spaces.txt"

# --- sacct of an array still running: its unstarted tasks are one 123_[a-b%k] row --------------
thr=$(sbatch --parsable --array=0-3%1 -J tsq-sample-throttled -o /dev/null --wrap 'sleep 2')
until_ok 60 state_is "${thr}_0" RUNNING
until_ok 60 sh -c "sacct -n -P -o JobID -j $thr | grep -q '_0$'"
sa "$thr" >"$OUT/sacct-array-running.txt"
scancel "$thr"

# Clean up the requeued job (it would run again after its BeginTime).
scancel "$rq" || true
echo "captured in $OUT (jobs: array $arr, requeue $rq, timeout $tmo)"
rm -rf "$W"
