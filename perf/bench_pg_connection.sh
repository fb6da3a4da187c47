#!/usr/bin/env bash
# One PostgreSQL connection, uringmig against the reference, side by side:
#  1. pipelined queries/s: perf/pg_pipeline_bench (uringmig's connection,
#     100 coroutines, one sync per query) vs pgbench -M extended with
#     \startpipeline (one client, 100 queries per pipeline);
#  2. a 1M-row table (with a primary key) to another database: `uringmig run`
#     (schema, data, then the key built) vs psql \copy ... to stdout (binary) |
#     psql \copy ... from stdin (binary, freeze, with TRUNCATE in the same
#     transaction) into the table made beforehand, alternated RUNS times.
# Prints each time and the median ratio uringmig / reference (< 1: faster).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs=${RUNS:-3}
rows=${ROWS:-1000000}
queries=${QUERIES:-100000}

scripts/setup-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target uringmig pg_fixture pg_pipeline_bench -j"$(nproc)" >/dev/null
bin=build/release/uringmig

fixdir=$(mktemp -d)
cleanup() { build/release/tests/pg_fixture stop "$fixdir" >/dev/null 2>&1 || true; rm -rf "$fixdir"; }
trap cleanup EXIT
build/release/tests/pg_fixture start "$fixdir" >/dev/null
# shellcheck disable=SC1091
. "$fixdir/conninfo.env"
export PGHOST=$PGFIX_HOST PGPORT=$PGFIX_PORT PGUSER=$PGFIX_USER
url() { echo "postgresql://$PGFIX_USER@/$1?host=$PGFIX_HOST&port=$PGFIX_PORT"; }
now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "== pipelined queries over one connection ($queries queries)"
ours=$(build/release/perf/pg_pipeline_bench "$(url postgres)" "$queries" 100)
echo "uringmig: $ours"
script=$(mktemp)
{ echo '\startpipeline'; for _ in $(seq 100); do echo 'select 21 * 2;'; done; echo '\endpipeline'; } >"$script"
ref=$(/usr/lib/postgresql/15/bin/pgbench -n -M extended -c 1 -t $((queries / 100)) -f "$script" postgres 2>&1 |
      awk '/tps = / {printf "%.0f queries/s", $3 * 100}')
rm -f "$script"
echo "pgbench (pipeline of 100): $ref"
q_ours=$(echo "$ours" | awk '{print $(NF-3)}')
q_ref=${ref% queries/s}
awk -v a="$q_ours" -v b="$q_ref" 'BEGIN {printf "queries/s ratio uringmig/pgbench: %.2f (> 1: faster)\n", a / b}'

echo "== COPY $rows rows between databases, $runs runs each, alternated"
ddl="create table t(id bigint primary key, name text, amount numeric, at timestamptz, tags text[])"
psql -qX -v ON_ERROR_STOP=1 -c "create database bsrc"
fresh() { psql -qX -v ON_ERROR_STOP=1 -c "drop database if exists bdst" -c "create database bdst"; }
psql -qX -v ON_ERROR_STOP=1 -d bsrc -c "$ddl" -c "insert into t select g, 'name ' || g, g * 1.5,
  now() - g * interval '1 s', array['a', g::text] from generate_series(1, $rows) g" -c "vacuum analyze t"
mb=$(psql -qXAt -d bsrc -c "select pg_total_relation_size('t') / 1e6")
ratios=()
for i in $(seq "$runs"); do
  fresh
  t0=$(now)
  "$bin" run --source "$(url bsrc)" --target "$(url bdst)" --state-dir "$fixdir/state$i" --log-level warn >/dev/null
  fresh
  psql -qX -v ON_ERROR_STOP=1 -d bdst -c "$ddl"
  t1=$(now)
  psql -qX -d bsrc -c '\copy t to stdout (format binary)' |
    psql -qX -v ON_ERROR_STOP=1 -1 -d bdst -c 'truncate t' -c '\copy t from stdin (format binary, freeze)'
  t2=$(now)
  a=$(awk -v x="$t0" -v y="$t1" 'BEGIN {print y - x}')
  b=$(awk -v x="$t1" -v y="$t2" 'BEGIN {print y - x}')
  r=$(awk -v x="$a" -v y="$b" 'BEGIN {print x / y}')
  ratios+=("$r")
  printf "run %d: uringmig %.2fs, psql pipe %.2fs, ratio %.2f (table %.0f MB)\n" "$i" "$a" "$b" "$r" "$mb"
done
printf "COPY median ratio uringmig / psql pipe: %.2f\n" "$(printf '%s\n' "${ratios[@]}" | median)"
