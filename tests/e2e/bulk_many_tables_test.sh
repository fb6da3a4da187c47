#!/usr/bin/env bash
# uses-fixture: pg
# Catalog scale against a small lock table: a target whose shared lock table
# (max_locks_per_transaction × (max_connections + max_prepared_transactions),
# plus PostgreSQL's slack) cannot hold every object of the schema restore in
# one transaction gets the restore one transaction per object, as
# `pg_dump | pg_restore` does, instead of failing "out of shared memory"; every
# table arrives. The source is the shared cluster; the target is a cluster of
# this test's own, so its settings can be lowered.
# shellcheck disable=SC1091
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
: "${PG_FIXTURE:?}"
src=e2e_many_$$
new_db "$src"
psql -qX -v ON_ERROR_STOP=1 -d "$src" >/dev/null <<'SQL'
do $$ begin
  for i in 1..2500 loop
    execute format('create table t%s (id int primary key, v text)', i);
    execute format('insert into t%s values (%s, ''x'')', i, i);
    commit;
  end loop;
end $$;
SQL
src_url=$(url "$src")

"$PG_FIXTURE" start "$work/pgpriv" >/dev/null
trap '"$PG_FIXTURE" stop "$work/pgpriv" >/dev/null 2>&1; rm -rf -- "$work"' EXIT
# The target's settings, from its own conninfo.env (read in a subshell: it names the same
# variables as the shared cluster's).
eval "$(. "$work/pgpriv/conninfo.env"; declare -p PGFIX_HOST PGFIX_PORT PGFIX_USER PGFIX_OS_USER \
  PGFIX_BIN_DIR PGFIX_DATA_DIR PGFIX_LOG | sed 's/declare -- PGFIX_/T_/')"
tpsql() { psql -h "$T_HOST" -p "$T_PORT" -U "$T_USER" -qX -v ON_ERROR_STOP=1 "$@"; }
# 10 × (10 + 0) = 100 lock slots, the smallest the server allows (about 1 300 with its slack).
tpsql -d postgres -c "alter system set max_locks_per_transaction = 10" \
  -c "alter system set max_connections = 12" >/dev/null
if [ -n "$T_OS_USER" ]; then
  runuser -u "$T_OS_USER" -- "$T_BIN_DIR/pg_ctl" -D "$T_DATA_DIR" -m fast -w -t 60 -l "$T_LOG" restart
else
  "$T_BIN_DIR/pg_ctl" -D "$T_DATA_DIR" -m fast -w -t 60 -l "$T_LOG" restart
fi >/dev/null || fail "pg_ctl restart failed"
tpsql -d postgres -c "create database dst" >/dev/null
dst_url="postgresql://$T_USER@/dst?host=$T_HOST&port=$T_PORT"

expect_exit 0 "$bin" run --preset bulk --jobs 2 --index-jobs 1 --source "$src_url" \
  --target "$dst_url" --state-dir st
grep -q 'one transaction per object' st/uringmig.log ||
  fail "the restore did not switch to one transaction per object"
[ "$(tpsql -At -d dst -c "select count(*) from pg_tables where schemaname = 'public'")" = 2500 ] ||
  fail "not every table arrived: $(tail -3 "$work/err")"
[ "$(tpsql -At -d dst -c "select sum(id) from t7") $(tpsql -At -d dst -c "select count(*) from t2500")" = "7 1" ] ||
  fail "table data did not arrive"
finish bulk_many_tables
