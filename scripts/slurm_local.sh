#!/usr/bin/env bash
# A real one-node SLURM cluster on localhost, for the scheduler tests and for trying
# `nnunet slurm` without a cluster: Debian's slurm-wlm (slurmctld + slurmd) with munge.
#
#   scripts/slurm_local.sh start     installs the packages if missing, starts munged, slurmctld
#                                    and slurmd, waits until the node is idle, and prints the
#                                    `export SLURM_CONF=...` line that sbatch/squeue/sacct need
#   scripts/slurm_local.sh stop      stops the daemons it started
#   scripts/slurm_local.sh env       prints the export line only
#
# Everything lives in $NNUNET_SLURM_DIR (default /tmp/nnunet-slurm): config, state, logs,
# sockets. Nothing outside it is changed except the Debian packages. Runs as root (CI and the
# development machines do); the daemons listen on 127.0.0.1 only.
set -euo pipefail
DIR="${NNUNET_SLURM_DIR:-/tmp/nnunet-slurm}"
CONF="$DIR/slurm.conf"
HOST="$(hostname -s)"

install_packages() {
    command -v slurmctld >/dev/null && command -v munged >/dev/null && return
    echo "slurm_local: installing slurm-wlm and munge (Debian packages)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq slurm-wlm munge >&2
}

write_config() {
    mkdir -p "$DIR"/{state,spool,log,munge}
    local cpus mem
    cpus=$(nproc)
    mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
    cat >"$CONF" <<CONF
ClusterName=nnunet-local
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$DIR/munge/munge.socket
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
MinJobAge=3600
KillWait=5
InactiveLimit=0
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$HOST Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
CONF
}

munge_socket() { echo "$DIR/munge/munge.socket"; }

# One start or stop at a time: two tests may start the cluster together, and the second must
# find the first's daemons rather than start its own.
lock() {
    mkdir -p "$DIR"
    exec 9>"$DIR/.lock"
    flock 9
}

start() {
    lock
    install_packages
    write_config
    if ! pgrep -f "munged.*$DIR/munge" >/dev/null; then
        [ -s /etc/munge/munge.key ] || { mungekey --create --force >/dev/null 2>&1 || \
            dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; }
        chmod 400 /etc/munge/munge.key
        munged --force --socket="$(munge_socket)" --pid-file="$DIR/munge/munged.pid" \
            --log-file="$DIR/log/munged.log" --seed-file="$DIR/munge/seed" 9>&-
    fi
    export SLURM_CONF="$CONF"
    # slurm talks to munge through libmunge, which reads this variable.
    export MUNGE_SOCKET
    MUNGE_SOCKET="$(munge_socket)"
    # The daemons must not inherit the lock's descriptor (they would hold the lock forever).
    pgrep -f "slurmctld -f $CONF" >/dev/null || slurmctld -f "$CONF" 9>&-
    pgrep -f "slurmd -f $CONF" >/dev/null || slurmd -f "$CONF" 9>&-
    for _ in $(seq 1 60); do
        state=$(sinfo -h -N -o '%T' 2>/dev/null | head -n1 || true)
        case "$state" in
            idle*|mixed*|allocated*) break ;;
            down*|drain*) scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true ;;
        esac
        sleep 1
    done
    state=$(sinfo -h -N -o '%T' 2>/dev/null | head -n1 || true)
    case "$state" in
        idle*|mixed*|allocated*) ;;
        *) echo "slurm_local: node did not come up (state '$state'); logs in $DIR/log" >&2; exit 1 ;;
    esac
    echo "export SLURM_CONF=$CONF"
}

stop() {
    lock
    for pidfile in "$DIR/slurmd.pid" "$DIR/slurmctld.pid" "$DIR/munge/munged.pid"; do
        [ -s "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
    done
    sleep 1
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    env) echo "export SLURM_CONF=$CONF" ;;
    *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
