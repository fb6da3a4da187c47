#!/usr/bin/env bash
# uses-fixture: pg
# Bad input to the bulk clone: each a clear one-line error with the right exit
# code, no password printed, and nothing written to the target.
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
src=bad_src_$$; dst=bad_dst_$$; full=bad_full_$$
new_db "$src"; new_db "$dst"; new_db "$full"
psql -qX -v ON_ERROR_STOP=1 -d "$src" -c "create table t (id int primary key); insert into t values (1)"
psql -qX -v ON_ERROR_STOP=1 -d "$full" -c "create table already_here (x int)"

expect() {  # want_rc name args...
  local want=$1 name=$2; shift 2
  local got=0
  timeout 120 "$bin" "$@" --state-dir "$work/state_$name" >"$work/$name.out" 2>"$work/$name.err" || got=$?
  echo "--- $name (exit $got): $(grep '^uringmig: ' "$work/$name.err")"
  [ "$got" -eq "$want" ] || fail "$name: exit $got, want $want"
  [ "$(grep -c '^uringmig: ' "$work/$name.err")" -eq 1 ] || fail "$name: want exactly one 'uringmig:' line"
  if grep -q "hunter2" "$work/$name.err" "$work/$name.out"; then fail "$name: password printed"; fi
}
untouched() {  # db: no uringmig schema, no user table
  local n
  n=$(psql -qXAt -d "$1" -c "select count(*) from pg_namespace where nspname = 'uringmig'")
  [ "$n" = 0 ] || fail "$1: the uringmig schema was created"
}

expect 1 unreachable run --preset bulk --source "postgresql://u:hunter2@127.0.0.1:1/db" --target "$(url "$dst")"
expect 1 wrong_password run --preset bulk --source "postgresql://$PGFIX_ROLE:hunter2@127.0.0.1:$PGFIX_PORT/$src" \
  --target "$(url "$dst")"
expect 1 missing_target_db run --preset bulk --source "$(url "$src")" --target "$(url no_such_db_$$)"
grep -q 'no_such_db' "$work/missing_target_db.err" || fail "missing database not named"
expect 2 target_not_empty run --preset bulk --source "$(url "$src")" --target "$(url "$full")"
grep -q 'not empty' "$work/target_not_empty.err" || fail "non-empty target not explained"
grep -q -- '--restart' "$work/target_not_empty.err" || fail "non-empty target: --restart not suggested"
expect 2 no_table_matches run --preset bulk --source "$(url "$src")" --target "$(url "$dst")" --tables 'nope.*'
expect 2 plan_not_empty plan --source "$(url "$src")" --target "$(url "$full")"
# A source user that cannot read a table: named, before anything is touched.
psql -qX -v ON_ERROR_STOP=1 -d "$src" -c "create role reader_$$ login password 'hunter2'" \
  -c "create table secret (x int)" -c "grant select on t to reader_$$"
expect 2 no_select_privilege run --preset bulk \
  --source "postgresql://reader_$$:hunter2@127.0.0.1:$PGFIX_PORT/$src" --target "$(url "$dst")"
grep -q 'cannot read public.secret' "$work/no_select_privilege.err" || fail "unreadable table not named"
untouched "$dst"; untouched "$full"
[ "$(psql -qXAt -d "$dst" -c "select count(*) from pg_class where relname = 't'")" = 0 ] ||
  fail "a table was created on the target"
[ "$(psql -qXAt -d "$full" -c "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public'")" = 1 ] ||
  fail "the non-empty target was changed"

# plan / --dry-run touch nothing either, and print the plan.
rc=0; "$bin" run --dry-run --preset bulk --source "$(url "$src")" --target "$(url "$dst")" \
  --state-dir "$work/dry" >"$work/dry.out" 2>&1 || rc=$?
cat "$work/dry.out"
[ "$rc" -eq 0 ] || fail "--dry-run exited $rc"
grep -q "public.t" "$work/dry.out" || fail "--dry-run did not print the plan"
untouched "$dst"
[ ! -e "$work/dry/state.db" ] || fail "--dry-run created a state store"
finish bulk_bad_input
