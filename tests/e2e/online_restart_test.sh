#!/usr/bin/env bash
# The follower through restarts of the server (source and target live on one cluster of this
# test's own, started with pg_fixture, so it can be restarted): after `pg_ctl restart -m fast`
# the follower reconnects and resumes from the target's origin; a server that stays down longer
# than `[online] reconnect_s` ends it with exit 1 and the `uringmig follow` hint; `follow` then
# finishes the job with identical data.
# shellcheck disable=SC1091
. "$(dirname "$0")/lib/common.sh"
: "${PG_FIXTURE:?}"
"$PG_FIXTURE" start "$work/pgpriv" >/dev/null
trap '"$PG_FIXTURE" stop "$work/pgpriv" >/dev/null 2>&1; rm -rf -- "$work"' EXIT
. "$work/pgpriv/conninfo.env"
export PGHOST=$PGFIX_HOST PGPORT=$PGFIX_PORT PGUSER=$PGFIX_USER
url() { echo "postgresql://$PGFIX_USER@/$1?host=$PGFIX_HOST&port=$PGFIX_PORT"; }
pgctl() {
  if [ -n "$PGFIX_OS_USER" ]; then
    runuser -u "$PGFIX_OS_USER" -- "$PGFIX_BIN_DIR/pg_ctl" -D "$PGFIX_DATA_DIR" "$@"
  else
    "$PGFIX_BIN_DIR/pg_ctl" -D "$PGFIX_DATA_DIR" "$@"
  fi
}
sums() {
  psql -qXAt -d "$1" -c "select count(*), md5(coalesce(string_agg(t::text, '|' order by id), ''))
                         from t"
}
wait_row() {  # DB ID: until row ID is on DB (polled, up to 60 s)
  for _ in $(seq 1 600); do
    [ "$(psql -qXAt -d "$1" -c "select count(*) from t where id = $2" 2>/dev/null)" = 1 ] && return 0
    sleep 0.1
  done
  return 1
}
ins() { psql -qX -v ON_ERROR_STOP=1 -d src -c "insert into t values ($1, 'row $1')" >/dev/null; }

psql -qX -v ON_ERROR_STOP=1 -d postgres -c "create database src" -c "create database dst" >/dev/null
psql -qX -v ON_ERROR_STOP=1 -d src -c "create table t(id int primary key, v text)" \
  -c "insert into t select g, 'row ' || g from generate_series(1, 100) g" >/dev/null
printf '[online]\nreconnect_s = 10\n' >job.toml
"$bin" run --preset online --config job.toml --source "$(url src)" --target "$(url dst)" \
  --state-dir st >run.out 2>run.err &
pid=$!
wait_row dst 100 || fail "the copy did not arrive: $(tail -3 run.err)"
ins 1001
wait_row dst 1001 || fail "the follower does not follow: $(tail -3 run.err)"

# 1. A restart: the follower reconnects and goes on.
pgctl -m fast -w -t 60 -l "$PGFIX_LOG" restart >/dev/null || fail "pg_ctl restart -m fast failed"
ins 1002
wait_row dst 1002 || fail "no reconnect after a restart: $(tail -3 run.err)"
kill -0 "$pid" 2>/dev/null || fail "the follower exited at the restart: $(tail -3 run.err)"
grep -q "reconnecting in" run.err || fail "the follower did not say it reconnects"

# 2. Down longer than reconnect_s: exit 1 with the hint.
pgctl -m fast -w -t 60 stop >/dev/null || fail "pg_ctl stop -m fast failed"
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 1 ] || fail "a server down for good: exit $rc, expected 1"
grep -q "gave up reconnecting after 10s.*uringmig follow" run.err ||
  fail "giving up: no hint: $(tail -2 run.err)"

# 3. `follow` finishes the job.
pgctl -w -t 60 -l "$PGFIX_LOG" start >/dev/null || fail "pg_ctl start failed"
ins 1003
"$bin" follow --source "$(url src)" --target "$(url dst)" --state-dir st >f.out 2>f.err &
pid=$!
wait_row dst 1003 || fail "follow after the outage: $(tail -3 f.err)"
expect_exit 0 "$bin" switchover --source "$(url src)" --target "$(url dst)" --state-dir st \
  --timeout 60s
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || fail "follow exited $rc: $(tail -3 f.err)"
[ "$(sums src)" = "$(sums dst)" ] || fail "source and target differ: $(sums src) / $(sums dst)"
finish online_restart
