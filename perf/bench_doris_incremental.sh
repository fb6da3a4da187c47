#!/usr/bin/env bash
# Incremental load PostgreSQL -> Apache Doris: `uringmig run --preset incremental --jobs JOBS (2)`
# into a Unique Key table of the Stream Load double in discard mode (tests/doris_double: it
# counts rows and keeps nothing, so this measures the source, our transcoding and the HTTP side,
# not a real BE). One throwaway PostgreSQL 15 cluster, a source table of ROWS rows (default
# 1 000 000; bigint key, int, text, numeric, an indexed timestamp watermark). The first load
# reads every row; then CHANGED rows (default ROWS/10: half updates, half inserts, a watermark
# each) change and a second run loads them; then a run with nothing changed. Prints each run's
# wall time, rows/s, uringmig's CPU (user + system) per million rows and its peak RSS, and checks
# the rows each run read and the double counted. CHUNK_ROWS (default 200000) is
# incremental.chunk_rows: each chunk's Stream Load body is built in memory, so peak RSS grows
# with it (README.md: `incremental.chunk_rows`). BIN / FIXTURE / DOUBLE: the binaries (default
# build/release, built when missing).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. perf/lib.sh
rows=${ROWS:-1000000}
changed=${CHANGED:-$((rows / 10))}
jobs=${JOBS:-2}
chunk_rows=${CHUNK_ROWS:-200000}
pw=bench-pw
bin=${BIN:-build/release/uringmig}
fixture=${FIXTURE:-build/release/tests/pg_fixture}
double=${DOUBLE:-build/release/tests/doris_double/doris_double}
if [ ! -x "$bin" ] || [ ! -x "$fixture" ] || [ ! -x "$double" ]; then
  bench_build release uringmig pg_fixture doris_double
fi
bin=$(realpath "$bin"); fixture=$(realpath "$fixture"); double=$(realpath "$double")
dpkg-query -W time >/dev/null 2>&1 || apt-get install -y -qq time >/dev/null
dir=$(mktemp -d); scratch=$(mktemp -d)
dpid=
cleanup() {
  if [ -n "$dpid" ]; then kill -TERM "$dpid" 2>/dev/null || true; wait "$dpid" 2>/dev/null || true; fi
  "$fixture" stop "$dir" >/dev/null 2>&1 || true
  rm -rf "$dir" "$scratch"
}
trap cleanup EXIT
"$fixture" start "$dir" >/dev/null
. "$dir/conninfo.env"
export PGHOST=$PGFIX_HOST PGPORT=$PGFIX_PORT PGUSER=$PGFIX_USER
q() { psql -qX -v ON_ERROR_STOP=1 "$@"; }

echo "== source: $rows rows; then $changed change; chunk_rows $chunk_rows, --jobs $jobs"
q -d postgres -c "create database src"
q -d src <<SQL
create table t (id bigint primary key, a int, b text, c numeric(12,2), updated timestamp not null);
insert into t select g, g % 1000, 'row ' || g || repeat('x', 40), g / 100.0,
  timestamp '2024-01-01 00:00:00' + g * interval '1 ms' from generate_series(1, $rows) g;
create index t_updated on t (updated);
vacuum analyze t;
SQL

"$double" --discard --password "$pw" --ready-file "$scratch/ready" \
  --table 'dw.t=5:id,a,b,c,updated:unique:1' >"$scratch/double.log" 2>&1 &
dpid=$!
for _ in $(seq 300); do  # polling for the ready file: up to 30 s
  [ -s "$scratch/ready" ] && break
  kill -0 "$dpid" 2>/dev/null || { cat "$scratch/double.log" >&2; exit 1; }
  sleep 0.1
done
. "$scratch/ready"
: "${FE_PORT:?doris_double did not become ready}"
loads() {  # Stream Loads the BE took so far, and their body bytes
  curl -sf "http://127.0.0.1:$FE_PORT/_double/stats" | python3 -c 'import json, sys
d = json.load(sys.stdin)
print(sum(d["be_loads_by_label"].values()), "loads,", round(d["be_body_bytes"] / 1e6), "MB of CSV")'
}
cat >"$scratch/job.toml" <<EOF
source = "postgresql://$PGFIX_USER@/src?host=$PGFIX_HOST&port=$PGFIX_PORT"
target = "doris://root:$pw@127.0.0.1:$FE_PORT/dw"
preset = "incremental"
jobs = $jobs
[incremental]
chunk_rows = $chunk_rows
[[tables]]
source = "public.t"
target = "t"
key = ["id"]
watermark = "updated"
chunk_by = "id"
EOF
run() {  # label rows [rows+1]: one run (it must read that many rows), its line
  /usr/bin/time -f "%e %U %S %M" -o "$scratch/time" "$bin" run --config "$scratch/job.toml" \
    --state-dir "$scratch/state" --log-level warn >"$scratch/out" 2>"$scratch/err" ||
    { cat "$scratch/err"; exit 1; }
  local read
  read=$(sed -n 's/^[^ ]*: \([0-9]*\) rows read.*/\1/p' "$scratch/out" | head -1)
  [ "$read" = "$2" ] || [ "$read" = "${3:-}" ] ||
    { cat "$scratch/out"; echo "$1: read '$read' rows, expected $2"; exit 1; }
  read -r wall user sys rss <"$scratch/time"
  awk -v l="$1" -v w="$wall" -v u="$user" -v s="$sys" -v m="$rss" -v n="$read" 'BEGIN {
    printf "%s: %d rows in %.2f s, %.0f rows/s; CPU %.2f s (%.2f s per million rows); peak RSS %.0f MiB\n",
      l, n, w, n / w, u + s, (n > 0 ? (u + s) * 1e6 / n : 0), m / 1024 }'
}
run "first load" "$rows"
half=$((changed / 2))
q -d src -c "update t set a = a + 1, updated = clock_timestamp()::timestamp where id in (select id from t order by random() limit $half)" \
  -c "insert into t select g, 1, 'new ' || g, 1, clock_timestamp()::timestamp from generate_series($((rows + 1)), $((rows + changed - half))) g"
# The >= mark overlap reads the row at the old mark again (unless it was among the updated).
run "10 % changed" "$changed" "$((changed + 1))"
run "no change" 1
echo "the double took $(loads) in all"
