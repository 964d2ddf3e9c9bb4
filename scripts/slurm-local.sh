#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for `codecbench run --launcher slurm` tests and demos.
#
#   scripts/slurm-local.sh start    # munged + slurmctld + slurmd, waits until the node is idle
#   scripts/slurm-local.sh stop     # stops the three daemons this script started
#   scripts/slurm-local.sh status   # sinfo, or why the cluster is not up
#
# Needs root and Debian's packages: apt-get install -y slurm-wlm munge. Accounting stays
# disabled (no slurmdbd): `sacct` fails, and submitit falls back to `squeue`. Every wait has a
# timeout (SLURM_LOCAL_TIMEOUT seconds, default 60), so CI cannot hang here.
set -euo pipefail

CONF_DIR=/etc/slurm
CONF="$CONF_DIR/slurm.conf"
MARK="# written by codecbench scripts/slurm-local.sh"
TIMEOUT="${SLURM_LOCAL_TIMEOUT:-60}"
RUN=/run/codecbench-slurm
CTLD_PID="$RUN/slurmctld.pid"
SLURMD_PID="$RUN/slurmd.pid"
MUNGE_PID=/run/munge/munged.pid

say() { echo "slurm-local: $*" >&2; }
die() { say "error: $*"; exit 1; }

need_root() {
    [ "$(id -u)" = 0 ] || die "must run as root (it writes $CONF and starts system daemons)"
    for tool in munged slurmctld slurmd sinfo; do
        command -v "$tool" >/dev/null 2>&1 || die "$tool not found; install with: apt-get install -y slurm-wlm munge"
    done
}

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND every 0.5 s until it succeeds or time runs out.
wait_for() {
    local limit=$1 what=$2
    shift 2
    local deadline=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.5
    done
    say "$what"
}

write_munge_key() {
    if [ ! -s /etc/munge/munge.key ]; then
        install -d -o munge -g munge -m 700 /etc/munge
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
}

write_conf() {
    if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
        die "$CONF exists and was not written by this script; move it aside to use the local test cluster"
    fi
    local host cpus mem
    host=$(hostname -s)
    cpus=$(nproc)
    # RealMemory a little under the total, so slurmd never finds less than configured.
    mem=$(free -m | awk '/^Mem:/ {print int($2 * 0.9)}')
    install -d "$CONF_DIR" /var/spool/slurmctld /var/spool/slurmd /var/log/slurm "$RUN"
    cat >"$CONF" <<EOF
$MARK
ClusterName=codecbench
SlurmctldHost=$host
AuthType=auth/munge
SlurmUser=root
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
MinJobAge=60
MaxArraySize=10001
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP DefMemPerCPU=$((mem / cpus))
EOF
}

node_idle() { sinfo -h -N -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; }

start() {
    need_root
    write_munge_key
    write_conf
    install -d -o munge -g munge -m 755 /run/munge
    install -d -o munge -g munge -m 700 /var/lib/munge /var/log/munge
    if ! alive "$MUNGE_PID"; then
        runuser -u munge -- munged --pid-file="$MUNGE_PID" || die "munged did not start; see /var/log/munge/munged.log"
    fi
    wait_for "$TIMEOUT" "munged is up" munge -n || die "munged did not answer within ${TIMEOUT}s"
    if ! alive "$CTLD_PID"; then
        slurmctld || die "slurmctld did not start; see /var/log/slurm/slurmctld.log"
    fi
    if ! alive "$SLURMD_PID"; then
        slurmd || die "slurmd did not start; see /var/log/slurm/slurmd.log"
    fi
    if ! wait_for "$TIMEOUT" "node $(hostname -s) is idle" node_idle; then
        sinfo -N >&2 || true
        die "the node did not become idle within ${TIMEOUT}s; see /var/log/slurm/slurmd.log and slurmctld.log"
    fi
    # A node left DOWN/DRAIN by an earlier, unclean stop comes back here.
    scontrol update NodeName="$(hostname -s)" State=RESUME >/dev/null 2>&1 || true
}

stop_daemon() {  # stop_daemon PIDFILE NAME: TERM, wait up to 10 s, then KILL; only the pid we recorded
    local file=$1 name=$2 pid
    alive "$file" || return 0
    pid=$(cat "$file")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 20); do
        kill -0 "$pid" 2>/dev/null || { say "$name stopped"; rm -f "$file"; return 0; }
        sleep 0.5
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$file"
    say "$name killed"
}

stop() {
    need_root
    scancel --full --quiet --user=root >/dev/null 2>&1 || true
    stop_daemon "$SLURMD_PID" slurmd
    stop_daemon "$CTLD_PID" slurmctld
    stop_daemon "$MUNGE_PID" munged
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) sinfo -N 2>&1 || { say "not running; start it with: $0 start"; exit 1; } ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
