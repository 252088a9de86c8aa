# Sourced by the capture scripts (from this directory): the cluster's client settings, sacct's
# fields, squeue's format, the listing commands and polling helpers.
eval "$(bash ../../../scripts/slurm.sh env)"
SACCT_FIELDS=JobID,JobIDRaw,State,ExitCode,Reason,Start,End,NodeList,JobName
FMT=$(cd ../../.. && python3 -c 'from tsq.backends.slurmlist import SQUEUE_FORMAT; print(SQUEUE_FORMAT)')
sq() { squeue -h -r -O "$FMT" -j "$1"; }
sa() { sacct --parsable2 -n -X -D -o "$SACCT_FIELDS" -j "$1"; }

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
