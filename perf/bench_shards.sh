#!/usr/bin/env bash
# SQLite -> 10 SQLite shards: uringmig against SQLite's own fastest single-file copy of the
# same table (the sqlite3 CLI: WAL, synchronous off, ATTACH + INSERT INTO ... SELECT * into a
# table of the same schema, which takes SQLite's page-level transfer path). The source is
# scripts/sample-clients.sh (ROWS, default 1M). Alternates RUNS times (default 3), prints each
# pair, the median ratio (goal <= 1.0, issue #4 resolves at <= 1.5), uringmig's rows/s and peak
# RSS (/usr/bin/time -v). uringmig also builds the index on the shard key in every file (the
# reference builds none). JOBS: uringmig --jobs (default 2). BASE=<commit>: also runs uringmig
# built from that commit in every round and prints the median ratio this tree / BASE.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. perf/lib.sh
runs=${RUNS:-3}
rows=${ROWS:-1000000}
jobs=${JOBS:-2}

scripts/setup-deps.sh
dpkg-query -W time >/dev/null 2>&1 || apt-get install -y -qq time >/dev/null
bench_build release uringmig
bin=$bench_dir/uringmig
base_bin=
[ -n "${BASE:-}" ] && bench_build_base "$BASE"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
scripts/sample-clients.sh "$dir/src.db" "$rows" >/dev/null
schema=$(sqlite3 "$dir/src.db" "select sql from sqlite_schema where name = 'clients'")


reference() {
  rm -f "$dir"/ref.db*
  local t0; t0=$(now)
  sqlite3 "$dir/ref.db" >/dev/null <<SQL
pragma journal_mode = wal;
pragma synchronous = off;
attach '$dir/src.db' as src;
$schema;
insert into main.clients select * from src.clients;
SQL
  since "$t0"
}
ours() {
  rm -rf "$dir/shards" "$dir/state"
  local t0; t0=$(now)
  /usr/bin/time -v -o "$dir/time.txt" "${1:-$bin}" run --jobs "$jobs" --source "sqlite://$dir/src.db" \
    --target "sqlite://$dir/shards?shards=10&shard_key=MOBILE_NUMBER" --state-dir "$dir/state" \
    >"$dir/run.out" 2>"$dir/run.err"
  since "$t0"
}

echo "rows: $rows, uringmig --jobs $jobs, $(nproc) cores"
ratios=(); ours_times=(); ab=()
for i in $(seq "$runs"); do
  if [ -n "$base_bin" ]; then
    c=$(ours "$base_bin")
    cpu_base=$(awk -F': ' '/User time|System time/ {s += $2} END {printf "%.2f", s}' "$dir/time.txt")
  fi
  a=$(ours); b=$(reference)
  cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {printf "%.2f", s}' "$dir/time.txt")
  idx=$(sqlite3 "$dir/state/state.db" "select index_seconds from job_table" 2>/dev/null || echo 0)
  rss=$(awk '/Maximum resident set size/ {printf "%.1f", $6 / 1024}' "$dir/time.txt")
  r=$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.3f", a / b}')
  ratios+=("$r"); ours_times+=("$a")
  echo "run $i: uringmig ${a}s (cpu ${cpu}s, longest index build of a file ${idx}s, peak RSS ${rss} MiB), sqlite3 ${b}s, ratio $r"
  if [ -n "$base_bin" ]; then
    ab+=("$(ratio "$a" "$c")")
    echo "  base ($BASE) ${c}s (cpu ${cpu_base}s): this tree / base ${ab[-1]}"
  fi
done
t=$(printf '%s\n' "${ours_times[@]}" | median)
echo "median ratio uringmig / sqlite3: $(printf '%s\n' "${ratios[@]}" | median) (goal <= 1.0; resolve at <= 1.5)"
awk -v t="$t" -v n="$rows" 'BEGIN {printf "uringmig: %.0f rows/s end to end (median run)\n", n / t}'
[ -n "$base_bin" ] && echo "A/B median ratio this tree / $BASE: $(printf '%s\n' "${ab[@]}" | median)"
exit 0
