#!/usr/bin/env bash
# uses-fixture: pg
# kill -9 during an index build leaves our CREATE INDEX running on the target;
# the resume ends that leftover session (found by the job's application_name)
# before it builds the index itself: exit 0, every index valid. The build is
# held by an advisory lock the test holds (the index's expression takes it).
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
. "$(dirname "${BASH_SOURCE[0]}")/lib/hold.sh"
src=kindex_src_$$; dst=kindex_dst_$$
new_db "$src"; new_db "$dst"
psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
create function gate(int) returns int language plpgsql immutable as
  $$ begin perform pg_advisory_xact_lock_shared(4343); return $1; end $$;
create table t (id int primary key, v int);
insert into t select g, g % 1000 from generate_series(1, 20000) g;
create index t_gate on t (gate(v));
SQL
table_sums "$src" >"$work/src.sums"
run_bg() {
  "$bin" run --preset bulk --index-jobs 1 --source "$(url "$src")" --target "$(url "$dst")" \
    --state-dir "$work/state" >"$work/run.out" 2>"$work/run.err" &
  pid=$!
}
blocked="select pid from $locks l where locktype = 'advisory' and not granted"
hold gate "$dst" "select pg_advisory_lock(4343);"
wait_true "$dst" "select exists (select 1 from $locks l where locktype = 'advisory' and granted)" ||
  fail "the test could not take its advisory lock"
run_bg
wait_true "$dst" "select exists ($blocked)" || fail "the index build never started"
old=$(psql -qXAt -d "$dst" -c "$blocked limit 1")
kill -9 "$pid"; wait "$pid" 2>/dev/null || true
[ "$(psql -qXAt -d "$dst" -c "select count(*) from $sessions s where pid = $old")" = 1 ] ||
  fail "the killed run's index build is not running on the target: not the case under test"
run_bg
# The resume ends the leftover build, then its own build waits at the gate.
wait_true "$dst" "select not exists (select 1 from $sessions s where pid = $old)" ||
  fail "the resume did not end the leftover index build ($old)"
wait_true "$dst" "select exists (select 1 from $locks l where not granted and pid <> $old)" ||
  fail "the resume's index build never started"
release gate
rc=0; wait "$pid" || rc=$?
tail -2 "$work/run.err"
[ "$rc" -eq 0 ] || fail "the resume after kill -9 during an index build exited $rc"
[ "$(psql -qXAt -d "$dst" -c "select count(*) filter (where indisvalid) || '/' || count(*) from pg_index where indrelid = 't'::regclass")" = 2/2 ] ||
  fail "the indexes on t are not both there and valid"
table_sums "$dst" >"$work/dst.sums"
diff "$work/src.sums" "$work/dst.sums" || fail "the target differs from the source"
finish bulk_kill_index
