#!/usr/bin/env bash
# Incremental load PostgreSQL -> PostgreSQL: uringmig against the best hand-written SQL for the
# same job, side by side. One throwaway cluster, a source table of ROWS rows (default 1 000 000;
# the issue's size is ROWS=10000000) loaded once into two targets; then, RUNS times (2):
# CHANGED rows change on the source (default ROWS/10: half updates, half inserts, new
# watermarks), and both sides bring their target up to date, in alternating order:
#   uringmig run --preset incremental --jobs JOBS (2)
#   psql: \copy (SELECT … WHERE updated >= mark) TO STDOUT | \copy staging FROM pstdin, one
#         INSERT … ON CONFLICT (id) DO UPDATE, the new mark, one transaction
# Prints each time, uringmig's CPU (user + system) and the median ratio (goal <= 1.0); then a
# run with nothing changed (goal < 1 s); checks both targets equal the source.
# BIN / FIXTURE: the binaries (default: build/release, built when missing).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rows=${ROWS:-1000000}
changed=${CHANGED:-$((rows / 10))}
runs=${RUNS:-2}
jobs=${JOBS:-2}
bin=${BIN:-build/release/uringmig}
fixture=${FIXTURE:-build/release/tests/pg_fixture}
if [ ! -x "$bin" ] || [ ! -x "$fixture" ]; then
  cmake --preset release >/dev/null && cmake --build --preset release --target uringmig pg_fixture
fi
bin=$(realpath "$bin"); fixture=$(realpath "$fixture")
dir=$(mktemp -d); scratch=$(mktemp -d)
cleanup() { "$fixture" stop "$dir" >/dev/null 2>&1 || true; rm -rf "$dir" "$scratch"; }
trap cleanup EXIT
"$fixture" start "$dir" >/dev/null
. "$dir/conninfo.env"
export PGHOST=$PGFIX_HOST PGPORT=$PGFIX_PORT PGUSER=$PGFIX_USER
url() { echo "postgresql://$PGFIX_USER@/$1?host=$PGFIX_HOST&port=$PGFIX_PORT"; }
q() { psql -qX -v ON_ERROR_STOP=1 "$@"; }

echo "== source: $rows rows; $changed change per run"
for db in src dst_u dst_p; do q -d postgres -c "create database $db"; done
q -d src <<SQL
create table t (id bigint primary key, a int, b text, c numeric(12,2), updated timestamptz not null);
insert into t select g, g % 1000, 'row ' || g || repeat('x', 40), g / 100.0,
  timestamptz '2024-01-01 00:00:00+00' + g * interval '1 ms' from generate_series(1, $rows) g;
create index t_updated on t (updated);  -- the watermark column: indexed, as a source should
vacuum analyze t;
SQL
for db in dst_u dst_p; do
  q -d "$db" -c "create table t (id bigint primary key, a int, b text, c numeric(12,2), updated timestamptz not null)"
done
q -d dst_p -c "create table mark (m timestamptz)" -c "insert into mark values ('-infinity')"
cat >"$scratch/job.toml" <<EOF
source = "$(url src)"
target = "$(url dst_u)"
preset = "incremental"
jobs = $jobs
[incremental]
chunk_rows = 500000
[[tables]]
source = "public.t"
key = ["id"]
watermark = "updated"
chunk_by = "id"
EOF
run_uringmig() {  # prints "seconds cpu"
  /usr/bin/time -f "%e %U %S" -o "$scratch/time" "$bin" run --config "$scratch/job.toml" \
    --state-dir "$scratch/state" --log-level warn >"$scratch/u.out" 2>"$scratch/u.err" ||
    { cat "$scratch/u.err"; exit 1; }
  awk '{printf "%s %.2f\n", $1, $2 + $3}' "$scratch/time"
}
cat >"$scratch/load.sql" <<'SQL'
begin;
create temp table s (like t) on commit drop;
\copy s from pstdin
insert into t select * from s on conflict (id) do update
  set a = excluded.a, b = excluded.b, c = excluded.c, updated = excluded.updated;
update mark set m = greatest(m, (select max(updated) from s));
commit;
SQL
run_psql() {  # prints seconds
  local mark t0 t1
  t0=$(date +%s.%N)
  mark=$(psql -qXAt -d dst_p -c "select m from mark")
  psql -qX -d src -c "\copy (select * from t where updated >= '$mark') to stdout" |
    q -d dst_p -f "$scratch/load.sql"
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc
}
echo "== initial load (not timed against each other)"
echo "uringmig: $(run_uringmig)"
echo "psql: $(run_psql) s"

ratios=()
next_id=$((rows + 1))
for r in $(seq "$runs"); do
  half=$((changed / 2))
  # clock_timestamp(): each row its own watermark, as rows changed one by one get (now() would
  # give all of them the mark, and `>=` reads the rows at the mark again on every run).
  q -d src -c "update t set a = a + 1, updated = clock_timestamp() where id in (select id from t order by random() limit $half)" \
    -c "insert into t select g, 1, 'new ' || g, 1, clock_timestamp() from generate_series($next_id, $((next_id + changed - half - 1))) g"
  next_id=$((next_id + changed - half))
  if [ $((r % 2)) -eq 1 ]; then
    read -r us ucpu < <(run_uringmig); ps=$(run_psql)
  else
    ps=$(run_psql); read -r us ucpu < <(run_uringmig)
  fi
  ratio=$(echo "scale=3; $us / $ps" | bc)
  ratios+=("$ratio")
  echo "run $r: uringmig ${us} s (CPU ${ucpu} s), psql ${ps} s, ratio $ratio"
done
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}')
echo "median ratio uringmig / psql: $median (goal <= 1.0)"
read -r ns ncpu < <(run_uringmig)
echo "no change: uringmig ${ns} s (CPU ${ncpu} s) (goal < 1 s)"
sum() {  # order-independent: count and the sum of 60-bit prefixes of each row's md5
  psql -qXAt -d "$1" -c "select count(*), sum(('x' || substr(md5(t::text), 1, 15))::bit(60)::bigint::numeric) from t"
}
s=$(sum src)
[ "$(sum dst_u)" = "$s" ] || { echo "FAIL: uringmig's target differs from the source"; exit 1; }
[ "$(sum dst_p)" = "$s" ] || { echo "FAIL: psql's target differs from the source"; exit 1; }
echo "both targets equal the source"
