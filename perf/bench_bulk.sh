#!/usr/bin/env bash
# PostgreSQL -> PostgreSQL bulk clone: uringmig against pgcopydb, side by side.
# Two throwaway clusters (source, target) on this machine; data: pgbench scale
# $SCALE (default 30) plus a 1M-row table of mixed types with a secondary
# index. Runs `uringmig run --preset bulk --jobs 2 --index-jobs 2` and
# `pgcopydb clone --table-jobs 2 --index-jobs 2` alternately RUNS times (3),
# prints each time and the median ratio (goal: <= 0.80). Also the floor: a
# `psql \copy to stdout | psql \copy from stdin` pipe of the same tables into a
# pre-made schema, and uringmig's peak RSS (/usr/bin/time -v). TIMELINE=1: the
# uringmig runs log at debug level and the last one's timeline is printed
# (perf/bulk_timeline.py: copies, index builds, ANALYZE, the tail). BASE=<commit>: every run
# also clones with uringmig built from that commit; prints the median ratio this tree / BASE.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. perf/lib.sh
runs=${RUNS:-3}
scale=${SCALE:-30}
mixed_rows=${MIXED_ROWS:-1000000}
log_level=warn
[ -n "${TIMELINE:-}" ] && log_level=debug

scripts/setup-deps.sh
for p in pgcopydb time; do dpkg-query -W "$p" >/dev/null 2>&1 || apt-get install -y -qq "$p" >/dev/null; done
bench_build release uringmig pg_fixture
bin=$bench_dir/uringmig
fixture=$bench_dir/tests/pg_fixture
base_bin=
[ -n "${BASE:-}" ] && bench_build_base "$BASE"

bench_two_clusters "$fixture"

bench_bulk_source "$scale" "$mixed_rows"
size=$(spsql -d bench -Atc "select pg_size_pretty(pg_database_size('bench'))")
echo "source database: $size"

# Each run starts with no dirty buffers on either side: without the checkpoints the
# checkpointer flushed the data set (first run: 8.3 s instead of 4.2-4.6 s) or the previous
# run's copy in the middle of the next one.
# The first run would zero-fill fresh WAL segments on the target and the later ones recycle them
# (uringmig runs first: 7.0 s where its other runs took 4.6-5.5 s). Not zero-filling evens it.
tpsql -d postgres -c "alter system set wal_init_zero = off" -c "select pg_reload_conf()" >/dev/null
fresh_target() {
  tpsql -d postgres -c "drop database if exists bench" -c "create database bench" -c checkpoint
}
# uringmig_clone BINARY STATE: one clone into a fresh target; prints its wall time.
uringmig_clone() {
  fresh_target >/dev/null
  local t0; t0=$(now)
  "$1" run --preset bulk --jobs 2 --index-jobs 2 --source "$src_url" --target "$dst_url" \
    --state-dir "$2" --log-level warn >/dev/null 2>"$2.err" || { cat "$2.err" >&2; exit 1; }
  since "$t0"
}
ratios=(); ab=()
for i in $(seq "$runs"); do
  if [ -n "$base_bin" ]; then
    c=$(uringmig_clone "$base_bin" "$scratch/base$i")
    echo "run $i: base ($BASE) ${c}s"
  fi
  fresh_target
  t0=$(now)
  "$bin" run --preset bulk --jobs 2 --index-jobs 2 --source "$src_url" --target "$dst_url" \
    --state-dir "$scratch/state$i" --log-level "$log_level" >/dev/null 2>"$scratch/err$i" ||
    { cat "$scratch/err$i"; exit 1; }
  a=$(since "$t0")
  fresh_target
  t0=$(now)
  pgcopydb clone --source "$src_url" --target "$dst_url" --table-jobs 2 --index-jobs 2 \
    --dir "$scratch/pgcopydb$i" >/dev/null 2>&1
  b=$(since "$t0")
  r=$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.3f", a / b}')
  ratios+=("$r")
  echo "run $i: uringmig ${a}s, pgcopydb ${b}s, ratio $r"
  [ -n "$base_bin" ] && ab+=("$(ratio "$a" "$c")")
done
echo "median ratio uringmig / pgcopydb: $(printf '%s\n' "${ratios[@]}" | median) (goal <= 0.80)"
[ -n "$base_bin" ] && echo "A/B median ratio this tree / $BASE: $(printf '%s\n' "${ab[@]}" | median)"
if [ -n "${TIMELINE:-}" ]; then
  echo "== timeline of uringmig run $runs"
  python3 perf/bulk_timeline.py "$scratch/state$runs/uringmig.log"
fi

echo "== floor: psql \\copy pipes of the same tables into a pre-made schema (data only)"
fresh_target
/usr/lib/postgresql/15/bin/pg_dump -s -h "$shost" -p "$sport" -U "$suser" bench | tpsql -d bench >/dev/null
t0=$(now)
for t in pgbench_accounts pgbench_branches pgbench_tellers pgbench_history mixed; do
  spsql -d bench -c "\\copy $t to stdout (format binary)" | tpsql -d bench -c "\\copy $t from stdin (format binary)"
done
echo "psql pipe (data only, one table at a time, indexes already present): $(since "$t0")s"

echo "== peak memory of uringmig"
fresh_target
/usr/bin/time -v "$bin" run --preset bulk --jobs 2 --index-jobs 2 --source "$src_url" \
  --target "$dst_url" --state-dir "$scratch/rss" --log-level warn 2>&1 >/dev/null |
  awk '/Maximum resident set size/ {printf "uringmig peak RSS: %.1f MiB\n", $6 / 1024}'
