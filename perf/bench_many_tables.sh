#!/usr/bin/env bash
# Catalog scale, PostgreSQL -> PostgreSQL: `uringmig run --preset bulk --jobs 2 --index-jobs 2`
# against `pg_dump -Fc | pg_restore` and against `pg_dump -Fd -j2` + `pg_restore -j2`, on TABLES
# (10 000) small tables: ROWS (3) rows each, a primary key on each, a secondary index on every
# fourth, a serial column on every tenth. Two throwaway clusters (the test fixture's settings:
# the lock table holds 64 x 200 locks, so the schema restore goes one transaction per object, as
# pg_restore's does). Alternated RUNS (3) times, each into a fresh target; prints each time,
# uringmig's CPU seconds (user + system, with its pg_dump/pg_restore children) and the median
# ratios (goal: <= 1.0). Checks every run carried every table. TIMELINE=1: the last uringmig run
# logs at debug level and its phases are printed (perf/bulk_timeline.py's events, summarised).
# PRESET=asan measures the asan build instead of release.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. perf/lib.sh
runs=${RUNS:-3}
tables=${TABLES:-10000}
rows=${ROWS:-3}
preset=${PRESET:-release}
pgbin=/usr/lib/postgresql/15/bin

if [ "$preset" = release ]; then
  scripts/setup-deps.sh
  dpkg-query -W time >/dev/null 2>&1 || apt-get install -y -qq time >/dev/null
  cmake --preset release >/dev/null
  cmake --build --preset release --target uringmig pg_fixture -j"$(nproc)" >/dev/null
fi
bin=$PWD/build/$preset/uringmig
[ -x "$bin" ] || bin=$PWD/build/$preset/cli/uringmig
fixture=$PWD/build/$preset/tests/pg_fixture

bench_two_clusters "$fixture"

echo "== data: $tables tables of $rows rows"
spsql -d postgres -c "create database bench"
t0=$(now)
spsql -d bench <<SQL
do \$\$ begin
  for i in 1..$tables loop
    if i % 10 = 0 then
      execute format('create table t%s (id serial primary key, v text, n int)', i);
    else
      execute format('create table t%s (id int primary key, v text, n int)', i);
    end if;
    execute format('insert into t%s (id, v, n) select g, ''value '' || g, g * %s '
                   'from generate_series(1, $rows) g', i, i);
    if i % 4 = 0 then
      execute format('create index t%s_v on t%s (v)', i, i);
    end if;
    if i % 500 = 0 then commit; end if;
  end loop;
end \$\$;
vacuum analyze;
checkpoint;
SQL
echo "source made in $(since "$t0")s: $(spsql -d bench -Atc "select count(*) from pg_class where relkind = 'r' and relnamespace = 'public'::regnamespace") tables, $(spsql -d bench -Atc "select count(*) from pg_class where relkind = 'i' and relnamespace = 'public'::regnamespace") indexes"

fresh_target() {
  tpsql -d postgres -c "drop database if exists bench" -c "create database bench" -c checkpoint >/dev/null
}
check_target() {
  local got
  got=$(tpsql -d bench -Atc "select count(*) from pg_class where relkind = 'r' and relnamespace = 'public'::regnamespace")
  [ "$got" = "$tables" ] || { echo "$1: the target has $got tables, not $tables" >&2; exit 1; }
  got=$(tpsql -d bench -Atc "select sum(n) from t$tables")
  [ "$got" = "$((tables * rows * (rows + 1) / 2))" ] || { echo "$1: t$tables holds the wrong rows" >&2; exit 1; }
}
ours=(); pipe=(); par=(); r_pipe=(); r_par=(); cpu=()
for i in $(seq "$runs"); do
  level=warn
  [ -n "${TIMELINE:-}" ] && [ "$i" = "$runs" ] && level=debug
  fresh_target
  t0=$(now)
  /usr/bin/time -f "%U %S" -o "$scratch/time$i" "$bin" run --preset bulk --jobs 2 --index-jobs 2 \
    --source "$src_url" --target "$dst_url" --state-dir "$scratch/state$i" --log-level "$level" \
    >/dev/null 2>"$scratch/err$i" || { cat "$scratch/err$i"; exit 1; }
  a=$(since "$t0"); check_target uringmig; ours+=("$a")
  c=$(awk '{printf "%.2f", $1 + $2}' "$scratch/time$i"); cpu+=("$c")
  fresh_target
  t0=$(now)
  "$pgbin/pg_dump" -Fc -h "$shost" -p "$sport" -U "$suser" -d bench |
    "$pgbin/pg_restore" -h "$thost" -p "$tport" -U "$tuser" -d bench
  b=$(since "$t0"); check_target "pg_dump | pg_restore"; pipe+=("$b")
  fresh_target
  rm -rf "$scratch/dir"
  t0=$(now)
  "$pgbin/pg_dump" -Fd -j2 -f "$scratch/dir" -h "$shost" -p "$sport" -U "$suser" -d bench
  "$pgbin/pg_restore" -j2 -h "$thost" -p "$tport" -U "$tuser" -d bench "$scratch/dir"
  d=$(since "$t0"); check_target "pg_dump -j2 + pg_restore -j2"; par+=("$d")
  r_pipe+=("$(ratio "$a" "$b")"); r_par+=("$(ratio "$a" "$d")")
  echo "run $i: uringmig ${a}s (CPU ${c}s), pg_dump -Fc | pg_restore ${b}s, pg_dump -Fd -j2 + pg_restore -j2 ${d}s"
done
echo "median: uringmig $(printf '%s\n' "${ours[@]}" | median)s (CPU $(printf '%s\n' "${cpu[@]}" | median)s)," \
  "pg_dump | pg_restore $(printf '%s\n' "${pipe[@]}" | median)s, -j2 $(printf '%s\n' "${par[@]}" | median)s"
echo "median ratio uringmig / pg_dump | pg_restore: $(printf '%s\n' "${r_pipe[@]}" | median) (goal <= 1.0)"
echo "median ratio uringmig / pg_dump -j2 + pg_restore -j2: $(printf '%s\n' "${r_par[@]}" | median)"
if [ -n "${TIMELINE:-}" ]; then
  echo "== phases of uringmig run $runs"
  python3 perf/bulk_timeline.py --phases "$scratch/state$runs/uringmig.log"
fi
