#!/usr/bin/env bash
# Capture real outputs of the GPU fork's CPU build (scripts/build-ts-fork.sh) into this directory.
# Runs its own server on a private socket in a temporary directory; never the default socket.
# Usage: bash tests/data/ts-fork-samples/capture.sh [OUTDIR]   (default: this directory)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here}
TS=$(bash "$here/../../../scripts/build-ts-fork.sh")
work=$(mktemp -d /tmp/tsfork-capture.XXXXXX)
export TS_SOCKET="$work/socket" TMPDIR="$work/out" TS_MAXFINISHED=1000
unset TS_SLOTS TS_ENV TS_SAVELIST TS_ONFINISH
mkdir -p "$TMPDIR"
trap '"$TS" -K >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
L=my_app/d951f05712ab

# Records a command and its output (stdout and stderr, exit code) in a sample file; the socket
# and temporary paths are replaced by fixed names so re-captures diff cleanly.
capture() {
    local name=$1
    shift
    local rc=0
    "$@" >"$work/captured" 2>&1 || rc=$?
    sed -e "s#$work#/tmp/tsfork#g" "$work/captured" >"$out/$name"
    echo "$name: exit $rc" >&2
}
running() { # wait until job $1 is running
    for _ in $(seq 100); do
        [ "$("$TS" -s "$1")" = running ] && return 0
        sleep 0.1
    done
    echo "job $1 never ran" >&2
    exit 1
}


"$TS" -S 1
exec 3>&1 1>/dev/null # the job ids ts prints as jobs are queued
# Phase A, one slot: jobs that end, one by one.
"$TS" -L "$L/0" -- python3 -c "print('ok')"                      # 0: exit 0
"$TS" -L "$L/1" -- python3 -c "import os; os._exit(7)"           # 1: exit 7
"$TS" -L "$L/2" -- sh -c 'exit 200'                              # 2: exit 200
"$TS" -L "$L/3" -- sh -c 'kill -KILL $$'                         # 3: SIGKILL
"$TS" -L "$L/4" -- false                                         # 4: exit 1
"$TS" -L "$L/5" -W 4 -- echo W-after-failure                     # 5: -W after a failure
"$TS" -L "$L/6" -D 4 -- echo D-after-failure                     # 6: -D after a failure
"$TS" -L "$L/7" -d -- echo d-after-previous                      # 7: -d (after job 6)
"$TS" -w 7 >/dev/null || true
"$TS" -L "$L/8" -- sleep 60                                      # 8: killed by ts -k
"$TS" -L "$L/9" -- echo removed-before-it-ran                    # 9: removed with -r
"$TS" -L "$L/10" -W 9 -- echo W-on-removed-job                   # 10: -W on the removed job
"$TS" -L "$L/11" -D 9 -- echo D-on-removed-job                   # 11: -D on the removed job
running 8
capture r-9.txt "$TS" -r 9
capture A-M-tab.txt "$TS" -M tab
capture A-l.txt "$TS" -l
capture i-9-removed.txt "$TS" -i 9
capture k-8.txt "$TS" -k 8
"$TS" -w 11 >/dev/null || true

# Phase B, three slots: three running jobs (one with -D, one with -W), then queued ones.
"$TS" -S 3
capture S.txt "$TS" -S
"$TS" -L "$L/12" -- python3 -c "import time; time.sleep(300)"    # 12: running, argv with spaces
"$TS" -L "$L/13" -D 0 -- sleep 300                               # 13: running, -D on a finished job
"$TS" -L "$L/14" -W 0 -- sleep 300                               # 14: running, -W on a finished job
running 12
running 13
running 14
"$TS" -L "a_much_longer_application_name/d951f05712ab/15" -- echo queued   # 15: queued
"$TS" -L "$L/16" -D 12 -- echo D-on-running                      # 16: queued, -D on a running job
"$TS" -L "$L/17" -W 12,13 -- echo W-on-two-running               # 17: queued, -W on two jobs
"$TS" -L "$L/18" -d -- echo d-after-previous                     # 18: queued, -d (after 17)
"$TS" -L "$L/19" -- printf '%s|' 'two words' "$(printf 'a\tb')" "$(printf 'c\nd')" # 19: tab, newline
"$TS" -- echo no-label                                           # 20: queued, no label
"$TS" -n -L "$L/21" -- echo not-stored                           # 21: queued, -n (stdout)
"$TS" -L "$L/22" -D 9 -- echo D-on-removed-while-queued          # 22: queued, -D on removed 9
capture B-M-tab.txt "$TS" -M tab
capture B-M-json.txt "$TS" -M json
capture B-l.txt "$TS" -l
for id in 0 1 2 3 5 6 8 10 11 12 13 15 16 17 19; do
    capture "i-$id.txt" "$TS" -i "$id"
done
for id in 0 12 15 19 20; do
    capture "a-$id.txt" "$TS" -a "$id"
done
capture F-19.txt "$TS" -F 19
capture i-99-missing.txt "$TS" -i 99
capture a-99-missing.txt "$TS" -a 99
capture V.txt "$TS" -V
capture G-cpu-build.txt "$TS" -G 1 -- true
capture M-bogus.txt "$TS" -M csv
# A Debian client on the fork's socket (with the fork's server running): not to be shared.
if command -v tsp >/dev/null; then
    capture debian-tsp-on-fork-socket.txt timeout 10 tsp -l
    # and the reverse: the fork's client on a Debian server's socket.
    TS_SOCKET="$work/debian-socket" tsp -L "$L/debian" -- sleep 30
    TS_SOCKET="$work/debian-socket" capture fork-on-debian-socket.txt timeout 10 "$TS" -M tab
    TS_SOCKET="$work/debian-socket" tsp -K || true
fi
# The environment a job without -G gets from the fork (CUDA_VISIBLE_DEVICES).
"$TS" -S 10 >/dev/null
env_job=$("$TS" -L "$L/env" -- sh -c 'echo "CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES-unset}"')
"$TS" -w "$env_job" >/dev/null || true
capture c-env-job.txt "$TS" -c "$env_job"
exec 1>&3 3>&-
echo "captured into $out"
