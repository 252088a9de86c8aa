#!/usr/bin/env bash
# Capture squeue's outputs in the -O format tsq asks for (the only one with restart counts), and
# a requeued job's runs as squeue, sacct -D and scontrol see them, from the one-node cluster of
# scripts/slurm.sh (start --accounting). Takes ~15 s. README.md says what each file is.
# Usage: bash tests/data/slurm-samples/capture-squeue.sh   (from the repository root)
set -euo pipefail
cd "$(dirname "$0")"
OUT=$PWD
source ./capture-common.sh

arr=$(sbatch --parsable --array=0-5%2 -J tsq-sample-array -o /dev/null --wrap 'sleep 30')
canc=$(sbatch --parsable -J 'name|with pipes and a name longer than twenty' -o /dev/null --wrap 'sleep 300')
held=$(sbatch --parsable -H -J tsq-sample-held -o /dev/null --wrap true)
deppend=$(sbatch --parsable -J tsq-sample-dep-pending -d "afterok:$canc" -o /dev/null --wrap true)
rq=$(sbatch --parsable -J tsq-sample-requeue -o /dev/null --wrap 'sleep 300')

until_ok 60 state_is "${arr}_0" RUNNING
sq "$arr" >"$OUT/squeue-array-running.txt"
squeue -h -O "$FMT" -j "$arr" >"$OUT/squeue-array-running-no-r.txt"
until_ok 60 state_is "$canc" RUNNING
sq "$held,$deppend,$canc" >"$OUT/squeue-held-dependency-running.txt"

# A requeue: pending again (BeginTime) with one restart, then (start time moved to now) its
# second run, then that run ended.
until_ok 60 state_is "$rq" RUNNING
scontrol requeue "$rq"
until_ok 60 state_is "$rq" PENDING
sq "$rq" >"$OUT/squeue-requeued.txt"
scontrol update "JobId=$rq" StartTime=now
until_ok 60 state_is "$rq" RUNNING
sq "$rq" >"$OUT/squeue-rerun-running.txt"
scancel "$rq"
until_ok 60 sh -c "sacct -n -X -D -P -o State -j $rq | grep -q CANCELLED"
sa "$rq" >"$OUT/sacct-rerun-D.txt"
scontrol show job -o "$rq" >"$OUT/scontrol-rerun.txt"

set +e
squeue -h -r -O "$FMT" -j 999999 >/dev/null 2>"$OUT/squeue-error-unknown-id.txt"
echo "exit status $?" >"$OUT/squeue-error-unknown-id.status"
set -e
scancel "$arr" "$canc" "$held" "$deppend" || true
echo "captured in $OUT (jobs: array $arr, requeue $rq)"
