#!/usr/bin/env bash
# uses-fixture: pg
# Resuming with a new --exclude: the table left out is reported "excluded"
# (not "gone from the source", not "failed"), and the exit code agrees with
# the summary. Dropping the --exclude again copies it.
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
src=xres_src_$$; dst=xres_dst_$$
new_db "$src"; new_db "$dst"
psql -qX -v ON_ERROR_STOP=1 -d "$src" <<SQL
create function on_source() returns bool language sql stable
  as \$\$ select current_database() = '$src' \$\$;
create table a (id int primary key);
insert into a select generate_series(1, 1000);
create table b (id int primary key, check (on_source()));
insert into b select generate_series(1, 100);
SQL
run() {
  local rc=0
  "$bin" run --preset bulk --source "$(url "$src")" --target "$(url "$dst")" --state-dir "$work/state" \
    "$@" >"$work/out" 2>"$work/err" || rc=$?
  cat "$work/out"; grep -E '^uringmig:|excluded|gone' "$work/err" || true
  return "$rc"
}
rc=0; run || rc=$?
[ "$rc" -eq 1 ] || fail "the first run (b refused by the target) exited $rc, want 1"
rc=0; run --exclude public.b || rc=$?
[ "$rc" -eq 0 ] || fail "the resume with --exclude public.b exited $rc"
grep -Eq '^public\.b +excluded ' "$work/out" || fail "the summary does not say b is excluded"
if grep -q 'gone from the source' "$work/err"; then fail "b is reported gone from the source"; fi
if grep -Eq 'failed' "$work/out"; then fail "the summary of a successful run says failed"; fi
# Without the --exclude (the cause fixed), b is copied.
psql -qX -v ON_ERROR_STOP=1 -d "$dst" -c \
  "create or replace function on_source() returns bool language sql stable as \$\$ select true \$\$"
rc=0; run || rc=$?
[ "$rc" -eq 0 ] || fail "the resume without --exclude exited $rc"
[ "$(psql -qXAt -d "$dst" -c "select count(*) from b")" = 100 ] || fail "b was not copied"
finish bulk_exclude_resume
