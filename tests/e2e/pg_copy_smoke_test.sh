#!/usr/bin/env bash
# uses-fixture: pg
# The binary end to end on the shared cluster: `uringmig run` clones tables
# PG -> PG (the README's smoke job), talks to PostgreSQL over io_uring only
# (strace: io_uring_setup, no epoll), and bad input gives one line and the
# right exit code without printing the password.
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
src=e2e_src_$$; dst=e2e_dst_$$
new_db "$src"; new_db "$dst"
ddl='create table items(id bigint primary key, name text, price numeric, tags text[], doc jsonb);
     create table "Odd ""Name"""(k text, v bytea);'
psql -qX -v ON_ERROR_STOP=1 -d "$src" -c "$ddl" -c "
  insert into items select g, 'item ' || g, g / 7.0, array['a', g::text],
         jsonb_build_object('g', g) from generate_series(1, 200000) g;
  insert into \"Odd \"\"Name\"\"\" values ('x', '\\x00ff'), (null, null), ('', '\\x');"

src_url="postgresql://$PGFIX_USER@/$src?host=$PGFIX_HOST&port=$PGFIX_PORT"
dst_url="postgresql://$PGFIX_ROLE:$PGFIX_PASSWORD@127.0.0.1:$PGFIX_PORT/$dst"

rc=0
# LeakSanitizer cannot run under ptrace: off for the traced run only.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace -f -qq -e trace=io_uring_setup,epoll_create,epoll_create1 -o "$work/trace" \
  "$bin" run --source "$src_url" --target "$dst_url" --state-dir "$work/state" \
  >"$work/out" 2>"$work/err" || rc=$?
cat "$work/out" "$work/err"
[ "$rc" -eq 0 ] || fail "run exited $rc"
grep -q "io_uring_setup" "$work/trace" || fail "no io_uring_setup in strace output"
if grep -q "epoll_create" "$work/trace"; then fail "epoll_create seen: not on the io_uring backend"; fi
grep -q "$PGFIX_PASSWORD" "$work/out" "$work/err" "$work/state/uringmig.log" &&
  fail "the target password was printed or logged"

sum() { psql -qXAt -d "$1" -c "select count(*), md5(string_agg(t::text, '|' order by id)) from items t" \
        -c "select count(*), md5(string_agg(t::text, '|' order by t::text)) from \"Odd \"\"Name\"\"\" t"; }
[ "$(sum "$src")" = "$(sum "$dst")" ] || fail "target differs from source: $(sum "$dst") vs $(sum "$src")"
grep -q "200000" "$work/out" || fail "summary lacks the row count"

# Running the same command again resumes a finished job: nothing copied twice.
"$bin" run --source "$src_url" --target "$dst_url" --state-dir "$work/state" >/dev/null 2>&1 ||
  fail "second run failed"
[ "$(sum "$src")" = "$(sum "$dst")" ] || fail "second run duplicated or lost rows"

# Bad input: one line on stderr, the right exit code, no password.
expect() {  # expected_rc name args...
  local want=$1 name=$2; shift 2
  local got=0
  timeout 60 "$bin" "$@" >"$work/$name.out" 2>"$work/$name.err" || got=$?
  echo "--- $name (exit $got):"; cat "$work/$name.err"
  [ "$got" -eq "$want" ] || fail "$name: exit $got, want $want"
  [ "$(grep -c '^uringmig: ' "$work/$name.err")" -eq 1 ] || fail "$name: want exactly one 'uringmig:' line"
  if grep -q "hunter2" "$work/$name.err" "$work/$name.out"; then fail "$name: password printed"; fi
}
expect 1 unreachable run --source "postgresql://u:hunter2@127.0.0.1:1/db" --target "$dst_url" \
  --state-dir "$work/state"
expect 1 wrong_password run --source "postgresql://$PGFIX_ROLE:hunter2@127.0.0.1:$PGFIX_PORT/$src" \
  --target "$dst_url" --state-dir "$work/state"
expect 2 no_match run --source "$src_url" --target "$dst_url" --tables 'nope.*' --state-dir "$work/state"
expect 2 bad_url run --source "mysql://u:hunter2@h/db" --target "$dst_url"
expect 2 not_yet follow --source "$src_url" --target "$dst_url"
rc=0; "$bin" verify --source "$src_url" --target "$dst_url" >"$work/verify.out" 2>&1 || rc=$?
[ "$rc" -eq 0 ] || { cat "$work/verify.out"; fail "verify after the copy exited $rc"; }

finish pg_copy_smoke
