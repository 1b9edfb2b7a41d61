#!/usr/bin/env bash
# A one-node SLURM cluster on localhost, for trying regstudy's SLURM path (and its `slurm` tests)
# on a machine without a scheduler. Needs root and Debian's packages:
#   apt-get install slurm-wlm munge slurmdbd mariadb-server
#
#   scripts/slurm_cluster.sh start    # writes the config, starts the daemons, waits for the node
#   scripts/slurm_cluster.sh env      # the line to source: export SLURM_CONF=...
#   scripts/slurm_cluster.sh stop     # stops what `start` started
#
# Everything lives in $REGSTUDY_SLURM_DIR (default /tmp/regstudy-slurm): slurm.conf, state, logs,
# a MariaDB data directory for accounting (without it `sacct` fails and submitit never sees a
# cancelled job end). Nothing under /etc is changed; clients find the cluster through SLURM_CONF.
# Choices, each needed for a requeue to restart within ~20 s on one node:
#   JobRequeue=1, SchedulerParameters=sched_interval=10 (the main scheduler runs every 10 s, not 60),
#   AuthInfo=cred_expire=15 (a requeued job may start again only after the credential lifetime,
#   120 s by default); select/cons_tres with CR_Core runs one job per core at once;
#   partition `high` preempts `debug` (PreemptType=preempt/partition_prio, PreemptMode=REQUEUE).
# MessageTimeout=30 (10 s by default): on a busy machine a job's srun may take longer than 10 s
# to send its first message to slurmctld, and the job fails before Python starts.
set -euo pipefail

DIR="${REGSTUDY_SLURM_DIR:-/tmp/regstudy-slurm}"
CTLD_PORT="${REGSTUDY_SLURM_PORT:-6817}"          # slurmctld; slurmd and slurmdbd use the next two
DB_PORT="${REGSTUDY_SLURM_DB_PORT:-3307}"         # MariaDB on 127.0.0.1
KILL_WAIT="${REGSTUDY_SLURM_KILL_WAIT:-10}"       # seconds between SIGTERM and SIGKILL
NODE="$(hostname -s)"
DB_PASS="regstudy-slurm"

need() { command -v "$1" >/dev/null || { echo "slurm_cluster: $1 not found (apt-get install slurm-wlm munge slurmdbd mariadb-server)" >&2; exit 3; }; }

write_conf() {
  local cpus mem
  cpus="$(slurmd -C | sed -n 's/.*CPUs=\([0-9]*\).*/\1/p')"
  mem="$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')"
  mkdir -p "$DIR"/{state,spool,log,run}
  cat >"$DIR/slurm.conf" <<EOF
ClusterName=regstudy
SlurmctldHost=$NODE
SlurmctldPort=$CTLD_PORT
SlurmdPort=$((CTLD_PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=cred_expire=15
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=10
JobRequeue=1
KillWait=$KILL_WAIT
MessageTimeout=30
MinJobAge=300
ReturnToService=2
MpiDefault=none
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$((CTLD_PORT + 2))
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
NodeName=$NODE CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP PriorityTier=1 PreemptMode=REQUEUE
PartitionName=high Nodes=$NODE MaxTime=INFINITE State=UP PriorityTier=10 PreemptMode=OFF
EOF
  cat >"$DIR/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdPort=$((CTLD_PORT + 2))
SlurmUser=root
PidFile=$DIR/run/slurmdbd.pid
LogFile=$DIR/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
  chmod 600 "$DIR/slurmdbd.conf"
}

start_munge() {
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then return; fi   # already running
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge: /run/munge /var/log/munge /var/lib/munge
  [ -s /etc/munge/munge.key ] || { mungekey --create --keyfile=/etc/munge/munge.key; chown munge: /etc/munge/munge.key; }
  runuser -u munge -- /usr/sbin/munged
  touch "$DIR/run/munge.started"
}

start_db() {
  if [ ! -d "$DIR/mysql/mysql" ]; then
    mariadb-install-db --user=root --datadir="$DIR/mysql" --auth-root-authentication-method=socket \
      >"$DIR/log/mariadb-install.log" 2>&1
  fi
  setsid mariadbd --user=root --datadir="$DIR/mysql" --socket="$DIR/run/mysql.sock" \
    --port="$DB_PORT" --bind-address=127.0.0.1 --pid-file="$DIR/run/mariadb.pid" \
    --log-error="$DIR/log/mariadb.log" </dev/null >/dev/null 2>&1 &
  for _ in $(seq 60); do [ -S "$DIR/run/mysql.sock" ] && break; sleep 0.5; done
  mariadb -S "$DIR/run/mysql.sock" -u root <<EOF
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
EOF
}

daemon() {  # name, then the command (in the foreground, -D): its own session, pid in run/
  local name="$1"; shift
  setsid "$@" </dev/null >>"$DIR/log/$name.out" 2>&1 &
  echo $! >"$DIR/run/$name.started"
}

wait_for() {  # seconds, description, command
  local n="$1" what="$2"; shift 2
  for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  echo "slurm_cluster: $what did not come up; logs in $DIR/log" >&2; return 1
}

start() {
  [ "$(id -u)" -eq 0 ] || { echo "slurm_cluster: must run as root (slurmd starts jobs as their users)" >&2; exit 3; }
  for cmd in slurmctld slurmd slurmdbd munged mariadbd sacctmgr; do need "$cmd"; done
  if [ -f "$DIR/run/slurmctld.started" ] && kill -0 "$(cat "$DIR/run/slurmctld.started")" 2>/dev/null; then
    echo "slurm_cluster: already started in $DIR" >&2; exit 0
  fi
  stop >/dev/null   # what a crashed earlier start left behind
  write_conf
  export SLURM_CONF="$DIR/slurm.conf"
  start_munge
  start_db
  daemon slurmdbd slurmdbd -D   # reads slurmdbd.conf beside $SLURM_CONF
  wait_for 30 slurmdbd sacctmgr -i list cluster
  sacctmgr -i add cluster regstudy >/dev/null 2>&1 || true
  daemon slurmctld slurmctld -D -i -f "$SLURM_CONF"
  wait_for 30 slurmctld scontrol ping
  daemon slurmd slurmd -D -f "$SLURM_CONF"
  wait_for 30 "node $NODE" sh -c "sinfo -h -n $NODE -o %t | grep -qE '^(idle|mix|alloc)'"
  echo "slurm_cluster: up ($NODE, partitions debug and high); export SLURM_CONF=$SLURM_CONF"
}

stop_pidfiles() {  # pid files written by `start`: SIGTERM to all at once, SIGKILL after 10 s
  local file pid alive pids=()
  for file in "$@"; do
    [ -f "$file" ] || continue
    pid="$(cat "$file")"
    kill "$pid" 2>/dev/null && pids+=("$pid")
    rm -f "$file"
  done
  for _ in $(seq 20); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" -eq 0 ] && break
    sleep 0.5
  done
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
}

stop() {  # the SLURM daemons together, then what they talk to (the database, munge)
  export SLURM_CONF="$DIR/slurm.conf"
  if [ -f "$DIR/run/slurmctld.started" ] && kill -0 "$(cat "$DIR/run/slurmctld.started")" 2>/dev/null; then
    scancel --quiet --user="$(id -un)" 2>/dev/null || true   # jobs of this cluster only
  fi
  stop_pidfiles "$DIR/run/slurmd.started" "$DIR/run/slurmctld.started" "$DIR/run/slurmdbd.started"
  if [ -f "$DIR/run/munge.started" ]; then   # munged was started here, not found running
    stop_pidfiles "$DIR/run/mariadb.pid" /run/munge/munged.pid
    rm -f "$DIR/run/munge.started"
  else
    stop_pidfiles "$DIR/run/mariadb.pid"
  fi
  echo "slurm_cluster: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) echo "export SLURM_CONF=$DIR/slurm.conf" ;;
  *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
