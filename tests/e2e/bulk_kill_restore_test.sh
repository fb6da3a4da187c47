#!/usr/bin/env bash
# uses-fixture: pg
# kill -9 while pg_restore restores the schema: the pg_restore child dies with
# uringmig (nothing finishes the restore behind the job's back) and the same
# command completes. A target that a restore left half done (tables there, the
# job's schema phase not finished) is refused with one line saying --restart,
# which then completes. The restore is held by a lock the test holds.
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
. "$(dirname "${BASH_SOURCE[0]}")/lib/hold.sh"
src=krestore_src_$$
new_db "$src"
psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
create schema app;
create table app.t (id int primary key, v text);
insert into app.t select g, 'v' || g from generate_series(1, 2000) g;
create table app.u (id int primary key references app.t (id));
insert into app.u select generate_series(1, 100);
SQL
table_sums "$src" >"$work/src.sums"
run_bg() {  # dst extra-args...: pid in $pid
  local dst=$1; shift
  "$bin" run --preset bulk --source "$(url "$src")" --target "$(url "$dst")" \
    --state-dir "$work/state_$dst" "$@" >"$work/$dst.out" 2>"$work/$dst.err" &
  pid=$!
}
# Holds the restore: an open transaction on the target that creates schema app first.
kill_during_restore() {  # dst: pg_restore's pid in $child after uringmig was killed
  local dst=$1
  hold block "$dst" "begin; create schema app;"
  wait_true "$dst" "select exists (select 1 from pg_namespace where nspname = 'app') or exists (select 1 from $sessions s where state = 'idle in transaction' and query like '%create schema app%')" ||
    fail "the test could not start its transaction"
  run_bg "$dst"
  wait_true "$dst" "select exists (select 1 from $sessions s where wait_event_type = 'Lock' and query like '%CREATE SCHEMA app%')" ||
    fail "pg_restore never reached the schema"
  child=$(pgrep -P "$pid" -x pg_restore || true)
  [ -n "$child" ] || fail "no pg_restore child found"
  kill -9 "$pid"; wait "$pid" 2>/dev/null || true
}
gone() {  # pid: not running (a zombie nobody reaps counts as gone)
  local i st
  for i in $(seq 100); do
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)
    [ -z "$st" ] || [ "$st" = Z ] && return 0
    sleep 0.1
  done
  return 1
}

# 1. The child dies with its parent; the same command completes.
dst=krestore_dst_$$; new_db "$dst"
kill_during_restore "$dst"
[ -z "$child" ] || gone "$child" || { fail "pg_restore ($child) outlived uringmig"; kill -9 "$child" || true; }
release block
rc=0; run_bg "$dst"; wait "$pid" || rc=$?
tail -2 "$work/$dst.err"
[ "$rc" -eq 0 ] || fail "the rerun after kill -9 during the restore exited $rc"
table_sums "$dst" >"$work/dst.sums"
diff "$work/src.sums" "$work/dst.sums" || fail "the rerun's target differs from the source"

# 2. A half-done restore (tables there, the job's schema phase not done): one line, --restart.
dst2=krestore_half_$$; new_db "$dst2"
kill_during_restore "$dst2"
[ -z "$child" ] || gone "$child" || kill -9 "$child" || true
release block
psql -qX -v ON_ERROR_STOP=1 -d "$dst2" -c "create schema app" -c "create table app.t (id int)"
rc=0; run_bg "$dst2"; wait "$pid" || rc=$?
tail -1 "$work/$dst2.err"
[ "$rc" -eq 2 ] || fail "a half-done restore: exit $rc, want 2"
grep -q "^uringmig: the schema restore .* did not finish.*--restart" "$work/$dst2.err" ||
  fail "a half-done restore is not explained"
rc=0; run_bg "$dst2" --restart; wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || fail "--restart after a half-done restore exited $rc: $(tail -1 "$work/$dst2.err")"
table_sums "$dst2" >"$work/dst2.sums"
diff "$work/src.sums" "$work/dst2.sums" || fail "--restart's target differs from the source"
finish bulk_kill_restore
