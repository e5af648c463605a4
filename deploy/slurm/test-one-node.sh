#!/usr/bin/env bash
# Tests the Slurm path for real: installs Slurm and munge from Debian's packages (if absent),
# starts a one-node cluster on this machine (munged, slurmctld, slurmd, no systemd needed),
# queues deploy/slurm/test-sweep.toml with deploy/slurm/submit.sh as a 3-task job array plus
# the merge, waits, checks every task and the merge, runs the same sweep on this machine
# alone and compares the two runs.csv byte for byte.
#
#   bash deploy/slurm/test-one-node.sh        # as root (it installs packages, runs daemons)
#
# It stops the daemons it started and removes its temporary folder however it ends, and
# exits non-zero with a message on any failure. It uses target/release/bulwark, built first
# if missing. About a minute on 2 cores (.ci/run runs it). The cluster's ports are the first
# free ones from 16817 up, so a Slurm already running here is left alone; a munged already
# running is used and left running.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo="$(pwd)"
started_s=$SECONDS

say() { echo "slurm test: $*"; }
fail() {
  echo "slurm test: FAILED: $*" >&2
  exit 1
}

[ "$(id -u)" = 0 ] || fail "run as root (it installs Debian packages and starts slurmd)"

# ---- Slurm and munge from Debian's packages ----
pkgs=(slurmctld slurmd slurm-client munge)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
      >"/tmp/slurm-test-apt.log" 2>&1
  }
  # The package lists may be absent (a fresh image) or stale: update only then.
  if ! apt_install; then
    apt-get update -qq >/dev/null 2>&1 || true
    apt_install || { cat /tmp/slurm-test-apt.log >&2; fail "apt-get install ${missing[*]}"; }
  fi
  rm -f /tmp/slurm-test-apt.log
fi
say "$(slurmctld -V), $(munged -V 2>&1 | head -n 1)"

# ---- the binary ----
bulwark="$repo/target/release/bulwark"
if [ ! -x "$bulwark" ]; then
  say "building $bulwark"
  cargo build --release -p bulwark
fi

# ---- a temporary folder, and cleanup however the script ends ----
tmp="$(mktemp -d /tmp/bulwark-slurm-test.XXXXXX)"
started_munged=""
cleanup() {
  local rc=$?
  set +e
  if [ -f "$tmp/slurmctld.pid" ]; then
    # Jobs still queued or running (a timeout): cancel them before the daemons go.
    mapfile -t queued < <(squeue -h -o %A 2>/dev/null)
    [ ${#queued[@]} -eq 0 ] || { scancel --quiet "${queued[@]}"; sleep 1; }
  fi
  local pidfiles=("$tmp/slurmd.pid" "$tmp/slurmctld.pid")
  [ -n "$started_munged" ] && pidfiles+=(/run/munge/munged.pid)
  stop_daemons "${pidfiles[@]}"
  if [ $rc -ne 0 ]; then
    for log in "$tmp"/slurmctld.log "$tmp"/slurmd.log; do
      [ -f "$log" ] && { echo "--- last lines of $log" >&2; tail -n 20 "$log" >&2; }
    done
  fi
  rm -rf "$tmp"
  exit $rc
}
# Sends SIGTERM to the daemons of these pid files at once (each takes about 2 s to stop),
# then waits up to 10 s for them before SIGKILL.
stop_daemons() {
  local pids=() alive=() pid file
  for file in "$@"; do
    pid="$(cat "$file" 2>/dev/null)" || continue
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && pids+=("$pid")
  done
  for _ in $(seq 100); do
    alive=()
    for pid in "${pids[@]}"; do
      kill -0 "$pid" 2>/dev/null && alive+=("$pid")
    done
    [ ${#alive[@]} -eq 0 ] && return 0
    sleep 0.1
  done
  echo "slurm test: ${alive[*]} did not stop on SIGTERM: SIGKILL" >&2
  kill -9 "${alive[@]}" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- munge: Slurm's authentication ----
# Without systemd nobody makes /run/munge or starts munged; the package made the key.
if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  say "munged is already running: using it"
else
  [ -s /etc/munge/munge.key ] || runuser -u munge -- mungekey --create
  install -d -o munge -g munge -m 0755 /run/munge
  runuser -u munge -- /usr/sbin/munged
  started_munged=1
  munge -n | unmunge >/dev/null || fail "munged does not answer (munge -n | unmunge)"
fi

# ---- slurm.conf for one node, this machine ----
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port=16817
until port_free "$port" && port_free $((port + 1)); do
  port=$((port + 2))
  [ "$port" -lt 17000 ] || fail "no two free ports between 16817 and 17000"
done
cpus="$(nproc)"
memory_mb="$(awk '/^MemTotal:/ { print int($2 / 1024 * 0.9) }' /proc/meminfo)"
mkdir -p "$tmp/state" "$tmp/spool" "$tmp/sweep"
export SLURM_CONF="$tmp/slurm.conf"
# No cgroups and no accounting: nothing here needs systemd or a database. SlurmUser=root keeps
# the state and spool folders simple. The scheduler starts a fresh array at once.
cat >"$SLURM_CONF" <<EOF
ClusterName=bulwarktest
SlurmctldHost=localhost
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
MinJobAge=600
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory_mb State=UNKNOWN
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF

# ---- the daemons (each puts itself in the background and writes its pid file) ----
slurmctld -i -f "$SLURM_CONF" || fail "slurmctld did not start"
slurmd -f "$SLURM_CONF" -N localhost || fail "slurmd did not start"
for _ in $(seq 100); do
  state="$(sinfo -h -n localhost -o %t 2>/dev/null || true)"
  [ "$state" = idle ] && break
  sleep 0.2
done
[ "$state" = idle ] || fail "the node is '${state:-not known}', not idle, 20 s after the daemons started"
say "cluster up: 1 node, $cpus CPUs, ports $port-$((port + 1)) ($((SECONDS - started_s)) s so far)"

# ---- the sweep as an array job of 3 shards, then the merge ----
shards=3
submitted="$(BULWARK="$bulwark" CPUS=1 TIME=00:10:00 \
  deploy/slurm/submit.sh deploy/slurm/test-sweep.toml "$tmp/sweep" "$shards")" ||
  fail "deploy/slurm/submit.sh"
echo "$submitted"
sweep_job="$(sed -n 's/^sweep job \([0-9]*\):.*/\1/p' <<<"$submitted")"
merge_job="$(sed -n 's/^merge job \([0-9]*\):.*/\1/p' <<<"$submitted")"
if [ -z "$sweep_job" ] || [ -z "$merge_job" ]; then
  fail "no job ids in submit.sh's output"
fi

timeout_s=300
waited=0
while [ -n "$(squeue -h -j "$sweep_job,$merge_job" -o %i 2>/dev/null)" ]; do
  [ "$waited" -lt $((timeout_s * 2)) ] || fail "jobs $sweep_job and $merge_job not done after $timeout_s s"
  sleep 0.5
  waited=$((waited + 1))
done

# Without accounting, scontrol still knows finished jobs (for MinJobAge seconds).
show_logs() {
  for log in "$tmp/sweep/logs"/*; do
    echo "--- $log" >&2
    cat "$log" >&2
  done
}
check_job() { # JOB EXPECTED_COUNT WHAT
  local lines bad
  lines="$(scontrol -o show job "$1")" || fail "scontrol show job $1"
  [ "$(grep -c . <<<"$lines")" = "$2" ] || { show_logs; fail "$3: $2 job records expected: $lines"; }
  bad="$(grep -v 'JobState=COMPLETED .*ExitCode=0:0' <<<"$lines" |
    awk '{ s = ""; for (i = 1; i <= NF; i++) if ($i ~ /^(JobId|ArrayTaskId|JobState|Reason|ExitCode)=/) s = s " " $i; print s }' || true)"
  [ -z "$bad" ] || { show_logs; fail "$3 did not succeed:"$'\n'"$bad"; }
}
check_job "$sweep_job" "$shards" "array job $sweep_job"
check_job "$merge_job" 1 "merge job $merge_job"
for ((i = 0; i < shards; i++)); do
  [ -s "$tmp/sweep/shard-$i/runs.csv" ] || { show_logs; fail "shard $i has no runs.csv"; }
done
say "array job $sweep_job (3 tasks) and merge job $merge_job completed, exit 0 ($((SECONDS - started_s)) s so far)"
cat "$tmp"/sweep/logs/merge-*.out

# ---- the same sweep on this machine alone, and the comparison ----
"$bulwark" lab sweep deploy/slurm/test-sweep.toml --out "$tmp/single" --threads 2 --quiet >/dev/null
merged="$tmp/sweep/merged/runs.csv"
single="$tmp/single/runs.csv"
rows=$(($(wc -l <"$single") - 1))
[ "$rows" = 6 ] || fail "the single-machine runs.csv has $rows runs, not 6"
cmp "$merged" "$single" || {
  diff "$merged" "$single" | head -n 20 >&2
  fail "the merged runs.csv differs from the single-machine one"
}
# The report is made from runs.csv and the manifest alone, so it must match too.
cmp "$tmp/sweep/merged/report.html" "$tmp/single/report.html" ||
  fail "the merged report.html differs from the single-machine one"
say "OK: the merged runs.csv of $shards Slurm array tasks and its report are byte-identical to the single-machine ones ($rows runs); $((SECONDS - started_s)) s in all"
