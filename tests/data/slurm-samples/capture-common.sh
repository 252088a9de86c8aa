# Sourced by capture.sh and capture-squeue.sh (from this directory): the cluster's client
# settings, sacct's fields, and polling helpers.
eval "$(bash ../../../scripts/slurm.sh env)"
SACCT_FIELDS=JobID,JobIDRaw,State,ExitCode,Reason,Start,End,NodeList,JobName

# until SECONDS CMD...: poll CMD until it succeeds, failing at the deadline (never a bare sleep).
until_ok() {
    local end=$(($(date +%s) + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$end" ] || { echo "capture: timed out: $*" >&2; exit 1; }
        sleep 0.2
    done
}
state_is() { scontrol show job -o "$1" | grep -q "JobState=$2 "; }
