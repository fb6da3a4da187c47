#!/usr/bin/env bash
# uses-fixture: pg
# A state directory that no longer matches its target (the target database
# dropped and created again after a finished or half-finished job) is refused
# with one line that says --restart, instead of "relation does not exist";
# --restart then completes.
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
src=stale_src_$$; dst=stale_dst_$$
new_db "$src"; new_db "$dst"
psql -qX -v ON_ERROR_STOP=1 -d "$src" -c "create table t (id int primary key, v text)" \
  -c "insert into t select g, 'v' || g from generate_series(1, 5000) g"
run() {
  local rc=0
  "$bin" run --preset bulk --source "$(url "$src")" --target "$(url "$dst")" --state-dir "$work/state" \
    "$@" >"$work/out" 2>"$work/err" || rc=$?
  grep '^uringmig:' "$work/err" || true
  return "$rc"
}
rc=0; run || rc=$?
[ "$rc" -eq 0 ] || fail "the first run exited $rc"
psql -qX -v ON_ERROR_STOP=1 -c "drop database \"$dst\"" -c "create database \"$dst\""
rc=0; run || rc=$?
[ "$rc" -eq 2 ] || fail "a recreated target with the old state: exit $rc, want 2"
grep -q '^uringmig: the target does not hold what the job .*--restart' "$work/err" ||
  fail "the stale state is not explained"
if grep -q 'does not exist' "$work/err"; then fail "a relation-does-not-exist error leaked"; fi
rc=0; run --restart || rc=$?
[ "$rc" -eq 0 ] || fail "--restart exited $rc"
[ "$(psql -qXAt -d "$dst" -c "select count(*) from t")" = 5000 ] || fail "--restart did not copy t"
finish bulk_stale_state
