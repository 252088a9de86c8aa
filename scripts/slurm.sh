#!/usr/bin/env bash
# A one-node Slurm on localhost for tsq's tests and demos, without systemd.
#
#   bash scripts/slurm.sh start [--accounting]   # install what is missing, start; no-op when up
#   bash scripts/slurm.sh stop                   # stop every daemon this script started
#   bash scripts/slurm.sh status                 # exit 0 when the cluster answers, 1 otherwise
#   bash scripts/slurm.sh env                    # print `export SLURM_CONF=...` for a shell
#
# Everything lives in $TSQ_SLURM_DIR (default /tmp/tsq-slurm): slurm.conf, state, spool, logs, a
# private munged (own socket and key) and, with --accounting, a private MariaDB and slurmdbd.
# Nothing under /etc is written: clients find the cluster through SLURM_CONF=$DIR/slurm.conf
# (`eval "$(bash scripts/slurm.sh env)"`). Daemons bind to 127.0.0.1 only (NoCtldInAddrAny /
# NoInAddrAny, MariaDB --bind-address), on ports $TSQ_SLURM_PORT.. +2 (default 6817..6819) and
# $TSQ_SLURM_PORT+3 for MariaDB (slurmdbd: see below).
#
# Measured on the 2-core Debian 12 development machine (busy with other workers), 2026-11-29:
#   apt-get update 2.9 s; install slurmctld slurmd slurm-client munge 18.8 s; slurmdbd
#   mariadb-server another 31.5 s (DESIGN §5 saw ~11 + ~12 s on a quieter machine).
#   `start` from an empty $TSQ_SLURM_DIR: daemons up and node idle 0.1-1.2 s, first job
#   submitted -> COMPLETED 1.1 s (1.3 s in all); with --accounting (mariadb-install-db, MariaDB,
#   slurmdbd, then the rest) 2.7 s + 0.9 s (3.7 s in all). `start` when up: ~0.1 s.
#   So accounting costs CI ~30 s of install and ~2.5 s of start: .ci/run uses it (sacct works),
#   and tests can still read `scontrol show job` as a cluster without accounting would.
#   slurmdbd has no bind-address setting: it alone listens on 0.0.0.0 (port $TSQ_SLURM_PORT+2).
#
# Why each setting (DESIGN §5): the defaults schedule a 100-task array in ~130 s, these in ~10 s;
# kill_invalid_depend ends jobs whose dependency can never be met (else PENDING forever);
# MinJobAge keeps ended jobs visible to `scontrol show job` for an hour (tests run without
# accounting too), and MaxJobCount has room for them; MaxArraySize=50 makes small sweeps take
# several arrays. Killed daemons
# stay <defunct> on this machine (PID 1 does not reap), so a daemon is "up" when its pid file
# names a live, non-zombie process, never by `kill -0`. Every wait is bounded by the wall
# clock: Slurm's clients retry forever when the controller is down.
set -euo pipefail

DIR=${TSQ_SLURM_DIR:-/tmp/tsq-slurm}
PORT=${TSQ_SLURM_PORT:-6817}
DBPORT=$((PORT + 3))
CONF=$DIR/slurm.conf
export SLURM_CONF=$CONF

say() { echo "slurm.sh: $*" >&2; }
now() { date +%s.%N; }
elapsed() { printf '%.1f' "$(echo "$(now) - $1" | bc)"; }

# alive PIDFILE NAME: the pid file names a running (not zombie) process whose name is NAME.
alive() {
    local pid state comm
    [ -s "$1" ] || return 1
    pid=$(head -n1 "$1" 2>/dev/null | tr -dc 0-9)
    [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
    [ "$state" != Z ] && [ "$comm" = "$2" ]
}

# wait_for SECONDS WHAT CMD...: run CMD (each try bounded to 5 s) until it succeeds; at the
# deadline fail naming WHAT, with the tail of the logs.
wait_for() {
    local end=$(($(date +%s) + $1)) what=$2
    shift 2
    until timeout 5 "$@" >/dev/null 2>&1; do
        if [ "$(date +%s)" -ge "$end" ]; then
            say "timed out waiting for $what"
            tail -n 5 "$DIR"/log/*.log "$DIR"/mysql/*.log "$DIR"/munge/*.log >&2 2>/dev/null || true
            return 1
        fi
        sleep 0.1
    done
}

# stop_pid PIDFILE NAME: TERM the daemon, wait (bounded) until it is gone or a zombie, then KILL.
stop_pid() {
    local pid end
    alive "$1" "$2" || { rm -f "$1"; return 0; }
    pid=$(head -n1 "$1" 2>/dev/null | tr -dc 0-9)
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    end=$(($(date +%s) + 15))
    while alive "$1" "$2" && [ "$(date +%s)" -lt "$end" ]; do sleep 0.1; done
    if alive "$1" "$2"; then
        say "$2 ($pid) ignored SIGTERM for 15 s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$1"
}

install_missing() {
    local pkgs="slurmctld slurmd slurm-client munge" missing="" p sudo=""
    [ "$1" = yes ] && pkgs="$pkgs slurmdbd mariadb-server"
    for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
    [ -z "$missing" ] && return 0
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    say "installing$missing with apt-get"
    local t=$(now)
    # Another apt-get may hold the dpkg lock: wait for it (bounded) rather than fail.
    $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
        --no-install-recommends $missing >/dev/null
    say "installed in $(elapsed "$t") s"
}

write_conf() {
    local acct=$1
    cat >"$CONF.new" <<CONF
# Written by tsq's scripts/slurm.sh: a one-node test cluster on loopback.
ClusterName=tsq
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.socket
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1,sched_min_interval=0,batch_sched_delay=0,bf_interval=1
DependencyParameters=kill_invalid_depend
MpiDefault=none
ReturnToService=2
MinJobAge=3600
# Ended jobs kept for an hour count against MaxJobCount (default 10,000): a machine that runs the
# suite a few times an hour, or a 10,000-job benchmark, would have sbatch refused ("MaxJobCount
# limit ... reached"). slurmctld holds a few kB a job record.
MaxJobCount=100000
# Array task ids below 50 (Slurm's default: 1001), so that tsq's tests split a 120-job sweep
# into 3 arrays as a 1,500-job one would be on a default cluster.
MaxArraySize=50
KillWait=5
InactiveLimit=0
# Memory limits enforced by polling (no cgroups here): a job over its --mem (default 1 GiB a CPU)
# is SIGKILLed. It then ends FAILED 0:9, not OUT_OF_MEMORY (that state needs task/cgroup).
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
JobAcctGatherParams=OverMemoryKill
SlurmdParameters=config_overrides
NodeName=localhost NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=8 RealMemory=8192 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
    if [ "$acct" = yes ]; then
        cat >>"$CONF.new" <<CONF
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$((PORT + 2))
# For auth/munge this names the munge socket used towards slurmdbd (AuthInfo is not used there).
AccountingStoragePass=$DIR/munge/munge.socket
CONF
    else
        echo 'AccountingStorageType=accounting_storage/none' >>"$CONF.new"
    fi
    mv "$CONF.new" "$CONF"
}

start_munge() {
    alive "$DIR/munge/munged.pid" munged && return 0
    install -d -o munge -g munge -m 0755 "$DIR/munge"
    if [ ! -s "$DIR/munge/munge.key" ]; then
        dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1 count=1024 2>/dev/null
        chown munge:munge "$DIR/munge/munge.key"
        chmod 0400 "$DIR/munge/munge.key"
    fi
    rm -f "$DIR/munge/munge.socket" "$DIR/munge/munge.socket.lock"
    # munged checks that no one but its owner can write the directories above its socket:
    # $DIR is 0755 root, /tmp is sticky, which it accepts.
    runuser -u munge -- /usr/sbin/munged --socket="$DIR/munge/munge.socket" \
        --key-file="$DIR/munge/munge.key" --pid-file="$DIR/munge/munged.pid" \
        --log-file="$DIR/munge/munged.log" --seed-file="$DIR/munge/munged.seed"
    wait_for 20 munged munge -S "$DIR/munge/munge.socket" -n
}

start_mariadb() {
    alive "$DIR/mysql/mariadbd.pid" mariadbd && return 0
    install -d -o mysql -g mysql -m 0700 "$DIR/mysql"
    if [ ! -d "$DIR/mysql/data/mysql" ]; then
        mariadb-install-db --user=mysql --datadir="$DIR/mysql/data" --auth-root-authentication-method=socket \
            --skip-test-db >"$DIR/log/mariadb-install.log" 2>&1
    fi
    /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$DIR/mysql/data" \
        --bind-address=127.0.0.1 --port="$DBPORT" --socket="$DIR/mysql/mysqld.sock" \
        --pid-file="$DIR/mysql/mariadbd.pid" --log-error="$DIR/mysql/mariadb.log" \
        --innodb-buffer-pool-size=64M --skip-log-bin >/dev/null 2>&1 &
    wait_for 60 mariadb mariadb --no-defaults -S "$DIR/mysql/mysqld.sock" -e 'select 1'
    mariadb --no-defaults -S "$DIR/mysql/mysqld.sock" -e \
        "create or replace user 'slurm'@'127.0.0.1' identified by 'slurm';
         grant all on slurm_acct_db.* to 'slurm'@'127.0.0.1';"
}

start_slurmdbd() {
    alive "$DIR/run/slurmdbd.pid" slurmdbd && return 0
    cat >"$DIR/slurmdbd.conf" <<CONF
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$((PORT + 2))
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$DIR/munge/munge.socket
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DBPORT
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
PidFile=$DIR/run/slurmdbd.pid
LogFile=$DIR/log/slurmdbd.log
CONF
    chmod 600 "$DIR/slurmdbd.conf"
    # slurmdbd reads slurmdbd.conf beside $SLURM_CONF.
    /usr/sbin/slurmdbd
    # slurmctld dies ("we have no TRES from it") if slurmdbd is not serving yet.
    wait_for 60 slurmdbd sacctmgr -n show cluster
}

is_up() {
    local mode
    mode=$(cat "$DIR/mode" 2>/dev/null) || return 1
    alive "$DIR/munge/munged.pid" munged || return 1
    alive "$DIR/run/slurmctld.pid" slurmctld || return 1
    alive "$DIR/run/slurmd.pid" slurmd || return 1
    if [ "$mode" = accounting ]; then
        alive "$DIR/mysql/mariadbd.pid" mariadbd || return 1
        alive "$DIR/run/slurmdbd.pid" slurmdbd || return 1
    fi
    timeout 5 scontrol ping 2>/dev/null | grep -q UP
}

cmd_start() {
    local acct=no mode=plain
    case "${1:-}" in
    --accounting) acct=yes mode=accounting ;;
    "") ;;
    *) say "unknown option: $1"; exit 2 ;;
    esac
    # A cluster with accounting serves a plain start too (it is a superset).
    if is_up && { [ "$mode" = plain ] || [ "$(cat "$DIR/mode")" = accounting ]; }; then
        say "already up ($(cat "$DIR/mode")) in $DIR"
        return 0
    fi
    # Partly up, or up in the other mode: start again from a clean stop.
    cmd_stop quiet
    install_missing "$acct"
    local t0=$(now)
    mkdir -p "$DIR/state" "$DIR/spool" "$DIR/run" "$DIR/log"
    chmod 0755 "$DIR"
    write_conf "$acct"
    start_munge
    if [ "$acct" = yes ]; then
        start_mariadb
        start_slurmdbd
    fi
    /usr/sbin/slurmctld -f "$CONF"
    /usr/sbin/slurmd -f "$CONF" -N localhost
    wait_for 60 "the node to be idle" sh -c 'sinfo -h -o %T | grep -qx idle'
    echo "$mode" >"$DIR/mode"
    local t1=$(now)
    local id
    id=$(sbatch --parsable -J tsq-slurm-sh-probe -o /dev/null --wrap true)
    wait_for 60 "the first job to complete" sh -c \
        "scontrol show job -o ${id%%;*} | grep -q JobState=COMPLETED"
    say "up ($mode) in $DIR: daemons $(printf '%.1f' "$(echo "$t1 - $t0" | bc)") s, first job $(elapsed "$t1") s"
    say "clients: export SLURM_CONF=$CONF"
}

cmd_stop() {
    stop_pid "$DIR/run/slurmd.pid" slurmd
    stop_pid "$DIR/run/slurmctld.pid" slurmctld
    stop_pid "$DIR/run/slurmdbd.pid" slurmdbd
    stop_pid "$DIR/mysql/mariadbd.pid" mariadbd
    stop_pid "$DIR/munge/munged.pid" munged
    rm -f "$DIR/mode" "$DIR/munge/munge.socket" "$DIR/munge/munge.socket.lock"
    [ "${1:-}" = quiet ] || say "stopped (state kept in $DIR/state: job ids go on from there)"
}

cmd_status() {
    if is_up; then
        echo "up ($(cat "$DIR/mode")): SLURM_CONF=$CONF"
        timeout 5 sinfo -h -o '%P %a %D %T %C' || true
    else
        echo "down ($DIR)"
        return 1
    fi
}

case "${1:-}" in
start) shift; cmd_start "$@" ;;
stop) cmd_stop ;;
status) cmd_status ;;
env) echo "export SLURM_CONF=$CONF" ;;
*)
    echo "usage: $0 {start [--accounting]|stop|status|env}" >&2
    exit 2
    ;;
esac
