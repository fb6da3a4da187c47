#!/usr/bin/env bash
# uses-fixture: pg
# A table truncated or rewritten on the source during the copy never arrives
# empty with exit 0: the run holds ACCESS SHARE locks on every selected table
# (TRUNCATE and ALTER TABLE ... TYPE wait for the copy), a rewrite that slipped
# in between the snapshot and the locks fails the table loudly, and a lock
# held elsewhere ends the run with one clear line (copy.lock_timeout).
# Synchronised through locks the test holds (advisory and table locks), no sleeps.
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
. "$(dirname "${BASH_SOURCE[0]}")/lib/hold.sh"
src=locks_src_$$; dst=locks_dst_$$
new_db "$src"; new_db "$dst"
psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
-- On the target, rows of `gated` go in only while the test does not hold advisory lock 4242.
create function gate() returns bool language plpgsql as
  $$ begin perform pg_advisory_xact_lock_shared(4242); return true; end $$;
create table gated (id int primary key, v text, check (gate()));
insert into gated select g, repeat('g', 100) from generate_series(1, 30000) g;
create table trunc_me (id int primary key, v text);
insert into trunc_me select g, 't' || g from generate_series(1, 5000) g;
create table retype_me (id int primary key, n int);
insert into retype_me select g, g from generate_series(1, 5000) g;
analyze;
SQL
uringmig_bg() {  # source state target: pid in $pid, output in $work/<state>.out/.err
  "$bin" run --preset bulk --jobs 1 --index-jobs 1 --source "$(url "$1")" --target "$(url "$3")" \
    --state-dir "$work/$2" >"$work/$2.out" 2>"$work/$2.err" &
  pid=$!
}
waiting_on() {  # db table: someone waits for a lock on the table
  echo "select exists (select 1 from $locks l where relation = '$2'::regclass and not granted)"
}

# 1. TRUNCATE and ALTER TABLE ... TYPE during the copy wait for it to end (or the table fails loudly).
hold gate "$dst" "select pg_advisory_lock(4242);"
wait_true "$dst" "select exists (select 1 from $locks l where locktype = 'advisory' and granted)" ||
  fail "the test could not take its advisory lock"
uringmig_bg "$src" state1 "$dst"
wait_true "$dst" "select exists (select 1 from $locks l where locktype = 'advisory' and not granted)" ||
  fail "the copy of gated never reached the gate"
psql -qX -d "$src" -c "truncate trunc_me" >"$work/trunc.out" 2>&1 & trunc_pid=$!
psql -qX -d "$src" -c "alter table retype_me alter column n type bigint" >"$work/alter.out" 2>&1 & alter_pid=$!
wait_true "$src" "$(waiting_on "$src" trunc_me)" || fail "TRUNCATE did not wait for the copy"
wait_true "$src" "$(waiting_on "$src" retype_me)" || fail "ALTER TABLE did not wait for the copy"
kill -0 "$trunc_pid" 2>/dev/null || fail "TRUNCATE completed during the copy"
kill -0 "$alter_pid" 2>/dev/null || fail "ALTER TABLE completed during the copy"
release gate
rc=0; wait "$pid" || rc=$?
wait "$trunc_pid" "$alter_pid" || true
cat "$work/state1.out"; tail -2 "$work/state1.err"
[ "$(psql -qXAt -d "$dst" -c "select count(*) from gated")" = 30000 ] || fail "gated did not arrive whole"
for t in trunc_me retype_me; do
  n=$(psql -qXAt -d "$dst" -c "select count(*) from $t")
  if [ "$n" != 5000 ]; then
    # Not copied: then the run failed, naming the table.
    [ "$rc" -eq 1 ] || fail "$t arrived with $n rows and the run exited $rc"
    grep -q "public.$t" "$work/state1.err" || fail "$t has $n rows and the error does not name it"
  fi
done
[ "$rc" -eq 0 ] || grep -q "waits on the source for a lock" "$work/state1.err" ||
  fail "the run failed without saying why: $(tail -1 "$work/state1.err")"

# 2. TRUNCATE committed after the snapshot, before the locks: the table fails loudly.
src2=locks_src2_$$; dst2=locks_dst2_$$
new_db "$src2"; new_db "$dst2"
psql -qX -v ON_ERROR_STOP=1 -d "$src2" -c "create table a (id int primary key)" \
  -c "insert into a select generate_series(1, 1000)" -c "create table b (id int primary key)" \
  -c "insert into b select generate_series(1, 1000)" -c "analyze"
hold ddl "$src2" "begin; truncate b;"
wait_true "$src2" "select exists (select 1 from $locks l where relation = 'b'::regclass and mode = 'AccessExclusiveLock' and granted)" ||
  fail "the test could not lock b"
uringmig_bg "$src2" state2 "$dst2"
wait_true "$src2" "$(waiting_on "$src2" b)" || fail "the run never waited for b"
send ddl "commit;"
rc=0; wait "$pid" || rc=$?
release ddl
tail -2 "$work/state2.err"
[ "$rc" -eq 1 ] || fail "b was truncated after the snapshot: exit $rc, want 1"
grep -q "public.b was truncated or rewritten on the source after the snapshot" "$work/state2.err" ||
  fail "the truncated table is not named: $(tail -1 "$work/state2.err")"

# 3. A lock held elsewhere for longer than copy.lock_timeout: one clear line naming the table.
src3=locks_src3_$$; dst3=locks_dst3_$$
new_db "$src3"; new_db "$dst3"
psql -qX -v ON_ERROR_STOP=1 -d "$src3" -c "create table c (id int primary key)" \
  -c "insert into c select generate_series(1, 10)"
printf '[copy]\nlock_timeout = "300ms"\n' >"$work/job.toml"
hold busy "$src3" "begin; lock table c in access exclusive mode;"
wait_true "$src3" "select exists (select 1 from $locks l where relation = 'c'::regclass and granted and mode = 'AccessExclusiveLock')" ||
  fail "the test could not lock c"
rc=0
"$bin" run --preset bulk --config "$work/job.toml" --source "$(url "$src3")" --target "$(url "$dst3")" \
  --state-dir "$work/state3" >"$work/state3.out" 2>"$work/state3.err" || rc=$?
release busy
tail -1 "$work/state3.err"
[ "$rc" -eq 1 ] || fail "a lock held on the source: exit $rc, want 1"
grep -q "^uringmig: public.c on the source is locked by another session for longer than copy.lock_timeout (300ms)" "$work/state3.err" ||
  fail "the lock timeout is not explained"
finish bulk_source_locks
