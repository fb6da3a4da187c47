#!/usr/bin/env bash
# Large objects, PostgreSQL -> PostgreSQL: `uringmig run --preset bulk` against
# `pg_dump -Fc | pg_restore` (and pgcopydb, when installed) on COUNT objects (10 000) of
# 1-100 KB plus one small table that points at them. Two throwaway clusters on this machine;
# RUNS (3) alternating runs, each tool into a fresh target database; prints each time and the
# medians. PRESET=asan measures the asan build instead of release (slower: a sanitizer build).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. perf/lib.sh
runs=${RUNS:-3}
count=${COUNT:-10000}
preset=${PRESET:-release}

if [ "$preset" = release ]; then
  scripts/setup-deps.sh
  cmake --preset release >/dev/null
  cmake --build --preset release --target uringmig pg_fixture -j"$(nproc)" >/dev/null
fi
bin=$PWD/build/$preset/uringmig
fixture=$PWD/build/$preset/tests/pg_fixture
pgbin=/usr/lib/postgresql/15/bin

bench_two_clusters "$fixture"

echo "== data: $count large objects of 1-100 KB"
spsql -d postgres -c "create database bench"
spsql -d bench <<SQL
create table docs (id int primary key, body oid);
insert into docs select g, lo_from_bytea(0, decode(repeat(md5(g::text), 64 + (g * 7919) % 6336), 'hex'))
from generate_series(1, $count) g;
checkpoint;
SQL
spsql -d bench -Atc "select 'source: ' || count(*) || ' objects, ' || pg_size_pretty(sum(length(lo_get(oid)))) from pg_largeobject_metadata"

fresh_target() {
  tpsql -d postgres -c "drop database if exists bench" -c "create database bench" -c checkpoint >/dev/null
}
check_target() {
  [ "$(tpsql -d bench -Atc "select count(*) from pg_largeobject_metadata")" = "$count" ] ||
    { echo "$1: the target does not have $count large objects" >&2; exit 1; }
}
have_pgcopydb=$(command -v pgcopydb || true)
ours=(); theirs=(); copydb=(); ratios=()
for i in $(seq "$runs"); do
  fresh_target
  t0=$(now)
  "$bin" run --preset bulk --jobs 2 --source "$src_url" --target "$dst_url" \
    --state-dir "$scratch/state$i" --log-level warn >/dev/null 2>"$scratch/err$i" ||
    { cat "$scratch/err$i"; exit 1; }
  a=$(since "$t0"); check_target uringmig; ours+=("$a")
  fresh_target
  t0=$(now)
  "$pgbin/pg_dump" -Fc -h "$shost" -p "$sport" -U "$suser" -d bench |
    "$pgbin/pg_restore" -h "$thost" -p "$tport" -U "$tuser" -d bench
  b=$(since "$t0"); check_target pg_dump; theirs+=("$b")
  ratios+=("$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.3f", a / b}')")
  line="run $i: uringmig ${a}s, pg_dump -Fc | pg_restore ${b}s"
  if [ -n "$have_pgcopydb" ]; then
    fresh_target
    t0=$(now)
    if pgcopydb clone --source "$src_url" --target "$dst_url" --table-jobs 2 --index-jobs 2 \
      --large-objects-jobs 2 --dir "$scratch/pgcopydb$i" >"$scratch/pgcopydb$i.log" 2>&1; then
      c=$(since "$t0"); check_target pgcopydb; copydb+=("$c")
      line+=", pgcopydb ${c}s"
    else
      # A reference that fails is reported, not fatal: the other two are still compared.
      line+=", pgcopydb failed (exit $?): $(grep -m1 -E 'ERROR|FATAL' "$scratch/pgcopydb$i.log" || tail -1 "$scratch/pgcopydb$i.log")"
    fi
  fi
  echo "$line"
done
[ ${#copydb[@]} -gt 0 ] || have_pgcopydb=
echo "median: uringmig $(printf '%s\n' "${ours[@]}" | median)s, pg_dump | pg_restore $(printf '%s\n' "${theirs[@]}" | median)s${have_pgcopydb:+, pgcopydb $(printf '%s\n' "${copydb[@]}" | median)s}"
echo "median ratio uringmig / pg_dump | pg_restore: $(printf '%s\n' "${ratios[@]}" | median)"
