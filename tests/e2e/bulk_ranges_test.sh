#!/usr/bin/env bash
# uses-fixture: pg
# Explicit ranges are parsed strictly (integer bounds only: nothing else goes
# into SQL), must take every row (a gap or overlap is a usage error naming it,
# unless `rest = true` asks for a chunk of the rows outside them), and rows
# with a NULL key are copied too.
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
src=rng_src_$$
new_db "$src"
psql -qX -v ON_ERROR_STOP=1 -d "$src" -c "create table r (k int, v text)" \
  -c "insert into r select g, 'v' || g from generate_series(1, 100) g" \
  -c "insert into r values (null, 'no key'), (null, 'no key either')"
n=0
run_ranges() {  # want-rc ranges [rest]: one run into a fresh target; target in $dst
  local want=$1 ranges=$2 rest=${3:-} rc=0
  n=$((n + 1)); dst=rng_dst_${$}_$n; new_db "$dst"
  printf '[tables."public.r"]\nchunk_column = "k"\nranges = %s\n%s\n' "$ranges" "$rest" >"$work/job$n.toml"
  "$bin" run --preset bulk --config "$work/job$n.toml" --source "$(url "$src")" --target "$(url "$dst")" \
    --state-dir "$work/state$n" >"$work/out$n" 2>"$work/err$n" || rc=$?
  echo "--- $ranges $rest: exit $rc $(grep '^uringmig:' "$work/err$n" || true)"
  [ "$rc" -eq "$want" ] || fail "ranges $ranges $rest: exit $rc, want $want"
}
count() { psql -qXAt -d "$dst" -c "select count(*) from r" 2>/dev/null || echo none; }

run_ranges 2 '["50..60) OR (true"]'
grep -q "range '50..60) OR (true' is not lo..hi with integer bounds" "$work/err$n" || fail "SQL in a range not refused"
run_ranges 2 '["..50", "60.."]'
grep -q "no range takes the keys from 50 to 60" "$work/err$n" || fail "a gap is not named"
run_ranges 2 '["..60", "50.."]'
grep -q "overlap" "$work/err$n" || fail "an overlap is not named"
run_ranges 2 '["10..20", "20.."]'
grep -q "keys below 10" "$work/err$n" || fail "a closed low end is not named"
run_ranges 0 '["50..", "..50"]'
[ "$(count)" = 102 ] || fail "full ranges (NULL keys included) copied $(count) rows, want 102"
run_ranges 0 '["..50", "60.."]' 'rest = true'
[ "$(count)" = 102 ] || fail "ranges with a rest chunk copied $(count) rows, want 102"
finish bulk_ranges
