#!/usr/bin/env bash
# Several workers on one bulk job: the same clone (pgbench scale $SCALE, default 30, plus
# $MIXED_ROWS mixed-type rows, default 1M) with its state in a state directory (one process)
# and in one PostgreSQL state (--state-url, a database of the target cluster) with 1, 2 and 3
# worker processes, each `--jobs 2 --index-jobs 2`, RUNS (1) rounds in one run. Prints the wall
# times, the ratios against the state-directory run, and our CPU (user + system) per worker.
# The goal: the lease/claim traffic costs <= 3 % of the single worker's wall time (1 worker
# --state-url against --state-dir). On one 2-core machine the servers are the bottleneck: more
# workers show the overhead of sharing, not a speed-up. PRESET=asan uses the asan build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. perf/lib.sh
runs=${RUNS:-1}
scale=${SCALE:-30}
mixed_rows=${MIXED_ROWS:-1000000}
preset=${PRESET:-release}

scripts/setup-deps.sh
dpkg-query -W time >/dev/null 2>&1 || apt-get install -y -qq time >/dev/null
bench_build "$preset" uringmig pg_fixture
bin=$bench_dir/uringmig
bench_two_clusters "$bench_dir/tests/pg_fixture"

bench_bulk_source "$scale" "$mixed_rows"
echo "source database: $(spsql -d bench -Atc "select pg_size_pretty(pg_database_size('bench'))")"
# Chunks of 64 MB: pgbench_accounts and mixed split, so workers share tables.
printf '[copy]\nchunk_size = "64MB"\n' >"$scratch/job.toml"
tpsql -d postgres -c "create database uringstate" -c "alter system set wal_init_zero = off" \
  -c "select pg_reload_conf()" >/dev/null
state_url="postgresql://$tuser@/uringstate?host=$thost&port=$tport"
fresh_target() {
  tpsql -d postgres -c "drop database if exists bench" -c "create database bench" -c checkpoint \
    >/dev/null
}

# clone NAME WORKERS: a fresh target, WORKERS processes (0: one with --state-dir); prints
# "wall cpu1 cpu2 ..." (seconds).
clone() {
  local name=$1 n=$2 i pids=() t0 state_args
  fresh_target
  t0=$(now)
  for i in $(seq "$(( n > 0 ? n : 1 ))"); do
    state_args=(--state-dir "$scratch/$name.dir$i")
    [ "$n" -gt 0 ] && state_args+=(--state-url "$state_url" --job "$name" --worker "$i/$n")
    /usr/bin/time -f "%U %S" -o "$scratch/$name.time$i" \
      "$bin" run --preset bulk --config "$scratch/job.toml" --jobs 2 --index-jobs 2 \
      --source "$src_url" --target "$dst_url" "${state_args[@]}" --log-level warn \
      >/dev/null 2>"$scratch/$name.err$i" &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || { cat "$scratch/$name.err$((i + 1))" >&2; exit 1; }
  done
  local out; out=$(since "$t0")
  for i in $(seq "$(( n > 0 ? n : 1 ))"); do
    out+=" $(awk '{printf "%.2f", $1 + $2}' "$scratch/$name.time$i")"
  done
  echo "$out"
}

declare -A walls
for r in $(seq "$runs"); do
  for n in 0 1 2 3; do
    res=$(clone "r${r}w$n" "$n")
    wall=${res%% *}
    walls[$n]+="$wall "
    label=$([ "$n" = 0 ] && echo "--state-dir, 1 process" || echo "--state-url, $n worker(s)")
    echo "round $r: $label: wall ${wall}s, our CPU per worker (s): ${res#* }"
  done
done
base=$(echo "${walls[0]}" | tr ' ' '\n' | grep . | median)
echo "== medians over $runs round(s), ratio against --state-dir"
for n in 0 1 2 3; do
  m=$(echo "${walls[$n]}" | tr ' ' '\n' | grep . | median)
  echo "workers=$n: ${m}s ratio $(ratio "$m" "$base")"
done
echo "(goal: workers=1 ratio <= 1.03: leases and claims cost <= 3 % of the single worker's wall)"
