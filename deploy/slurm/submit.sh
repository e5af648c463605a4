#!/usr/bin/env bash
# Queues a Bulwark sweep on Slurm: a job array of N shards (sweep-array.sbatch), then the
# merge (merge.sbatch), which runs once every shard succeeded.
#
#   deploy/slurm/submit.sh SWEEP.toml OUT_DIR N [more sbatch options for both jobs]
#
#   BULWARK=/shared/bin/bulwark CPUS=8 deploy/slurm/submit.sh \
#     /shared/sweeps/maintenance.toml /shared/sweep-out/maintenance 32 --partition=batch
#
# Environment: BULWARK, the binary every node runs (default: bulwark on PATH); CPUS, the cores
# (worker threads) of each task (default 4); TIME, each task's time limit (default 04:00:00).
# Logs go to OUT_DIR/logs; the result to OUT_DIR/merged/runs.csv. The last two lines it prints
# name the two jobs ("sweep job ID: ..." and "merge job ID: ...").
set -euo pipefail

usage() {
  echo "usage: $0 SWEEP.toml OUT_DIR N [sbatch options]" >&2
  exit 2
}
[ $# -ge 3 ] || usage
sweep="$1"
out="$2"
shards="$3"
shift 3
case "$shards" in
  '' | *[!0-9]* | 0) echo "N must be a positive integer, not '$shards'" >&2; usage ;;
esac
[ -f "$sweep" ] || { echo "no sweep file $sweep" >&2; exit 2; }

here="$(cd "$(dirname "$0")" && pwd)"
bulwark="${BULWARK:-bulwark}"
# A path given relative to here is made absolute: the jobs may start in another directory.
case "$bulwark" in
  */*) bulwark="$(cd "$(dirname "$bulwark")" && pwd)/$(basename "$bulwark")" ;;
esac
sweep="$(cd "$(dirname "$sweep")" && pwd)/$(basename "$sweep")"
mkdir -p "$out/logs"
out="$(cd "$out" && pwd)"

jobid() { # sbatch --parsable prints ID or ID;CLUSTER
  local id="${1%%;*}"
  case "$id" in
    '' | *[!0-9]*) echo "sbatch did not print a job id: '$1'" >&2; exit 1 ;;
  esac
  echo "$id"
}

sweep_job="$(jobid "$(BULWARK="$bulwark" SWEEP="$sweep" OUT="$out" \
  sbatch --parsable --export=ALL \
  --array="0-$((shards - 1))" \
  --cpus-per-task="${CPUS:-4}" \
  --time="${TIME:-04:00:00}" \
  --output="$out/logs/sweep-%A_%a.out" \
  "$@" "$here/sweep-array.sbatch")")"

merge_job="$(jobid "$(BULWARK="$bulwark" OUT="$out" SHARDS="$shards" \
  sbatch --parsable --export=ALL \
  --dependency="afterok:$sweep_job" --kill-on-invalid-dep=yes \
  --output="$out/logs/merge-%j.out" \
  "$@" "$here/merge.sbatch")")"

echo "watch: squeue -j $sweep_job,$merge_job; logs in $out/logs"
echo "sweep job $sweep_job: $shards array tasks into $out/shard-0 .. shard-$((shards - 1))"
echo "merge job $merge_job: after every task succeeded, into $out/merged/runs.csv"
