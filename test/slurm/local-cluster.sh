#!/usr/bin/env bash
# A real one-node Slurm cluster on this machine, for the tests of `grodd sweep --executor slurm`.
#
#   eval "$(test/slurm/local-cluster.sh up)"    # starts munged, slurmctld and slurmd; prints `export SLURM_CONF=...`
#   sbatch / squeue / scancel ...               # talk to it (they need only SLURM_CONF)
#   test/slurm/local-cluster.sh down [DIR]      # cancels its jobs, stops exactly the daemons it started, removes DIR
#
# Everything (config, munge key and socket, state, spool, logs, pid files) is under one temporary
# directory (DIR, default: a new one from mktemp; `down` finds it from SLURM_CONF); the daemons listen
# on 127.0.0.1 only, on two free ports picked at random. Needs Debian's slurmctld, slurmd,
# slurm-client and munge packages, and root (slurmd starts jobs as their user). See ENGINEERING.md.
set -euo pipefail

die() { echo "local-cluster: $*" >&2; exit 1; }

# The pid in pid file $1 if it is alive and its command line names this cluster's directory $2.
ours() {
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$2/" && echo "$pid"
}

# A TCP port of 127.0.0.1 that nothing listens on.
free_port() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 30000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
  die "found no free port"
}

stop() {
  local dir=$1 pid name
  if [ -f "$dir/slurm.conf" ] && [ -n "$(ours "$dir/slurmctld.pid" "$dir")" ]; then
    # Jobs first, so that no slurmstepd outlives its slurmd.
    SLURM_CONF="$dir/slurm.conf" scancel --quiet --full --user="$(id -un)" 2>/dev/null || true
    for _ in $(seq 50); do
      [ -z "$(SLURM_CONF="$dir/slurm.conf" squeue -h -t PD,R,CG,CF,S 2>/dev/null)" ] && break
      sleep 0.2
    done
  fi
  for name in slurmd slurmctld munged; do
    pid=$(ours "$dir/$name.pid" "$dir") || continue
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  done
  return 0
}

up() {
  for cmd in munged mungekey slurmctld slurmd sbatch squeue scancel sinfo; do
    command -v "$cmd" >/dev/null || PATH="$PATH:/usr/sbin" command -v "$cmd" >/dev/null || die "$cmd is not installed (apt-get install slurmctld slurmd slurm-client munge)"
  done
  export PATH="$PATH:/usr/sbin"
  [ "$(id -u)" = 0 ] || die "must run as root (slurmd starts each job as its user)"
  local dir=${1:-$(mktemp -d "${TMPDIR:-/tmp}/grodd-slurm.XXXXXX")}
  dir=$(cd "$dir" && pwd)
  mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
  chmod 755 "$dir" "$dir/munge" # munged refuses a socket directory that others can write, or cannot search
  trap 'echo "local-cluster: up failed; logs:" >&2; tail -n 5 "$dir"/*.log >&2 2>/dev/null; stop "$dir"; exit 1' ERR

  mungekey --create --keyfile="$dir/munge/munge.key" >/dev/null
  munged --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" --pid-file="$dir/munged.pid" \
    --log-file="$dir/munged.log" --seed-file="$dir/munge/munged.seed" --force

  local cpus mem ctld_port slurmd_port
  cpus=$(nproc)
  mem=$(awk '/^MemTotal/ { print int($2 / 1024 * 0.9) }' /proc/meminfo)
  ctld_port=$(free_port)
  slurmd_port=$(free_port)
  [ "$ctld_port" != "$slurmd_port" ] || slurmd_port=$((ctld_port + 1))
  cat >"$dir/slurm.conf" <<CONF
# A one-node test cluster, written by test/slurm/local-cluster.sh; everything lives in $dir.
ClusterName=grodd-test
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=$(id -un)
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/jobcomp.txt
MpiDefault=none
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
ReturnToService=2
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
DependencyParameters=kill_invalid_depend
SlurmdParameters=config_overrides
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF="$dir/slurm.conf"
  slurmctld -f "$SLURM_CONF"
  slurmd -f "$SLURM_CONF" -N localhost
  for _ in $(seq 100); do
    [ "$(sinfo -h -N -o %t 2>/dev/null)" = idle ] && break
    sleep 0.1
  done
  [ "$(sinfo -h -N -o %t 2>/dev/null)" = idle ] || false
  trap - ERR
  echo "export SLURM_CONF=$SLURM_CONF"
}

down() {
  local dir=${1:-${SLURM_CONF:+$(dirname "$SLURM_CONF")}}
  [ -n "$dir" ] || die "down: give the cluster's directory (or set SLURM_CONF)"
  [ -f "$dir/slurm.conf" ] && grep -q 'written by test/slurm/local-cluster.sh' "$dir/slurm.conf" || die "down: $dir is not a cluster of this script"
  dir=$(cd "$dir" && pwd)
  export PATH="$PATH:/usr/sbin"
  stop "$dir"
  rm -rf "$dir"
}

case ${1:-} in
  up) up "${2:-}" ;;
  down) down "${2:-}" ;;
  *) echo "usage: $0 up [DIR] | down [DIR]" >&2; exit 2 ;;
esac
