#!/usr/bin/env bash
# uses-fixture: pg
# Workers of one bulk job whose state database (a cluster of this test's own, so that it can
# be restarted) goes away under them. 1: `pg_ctl restart -m fast` while one worker waits in a
# chunk and the other in its table's finish: both connect again, take back their locks and
# finish; the target equals the source and every chunk is done once. 2: the state stays down
# longer than `state.reconnect_s`: each worker stops with one line (exit 1) that says to run
# the same command again, and that command finishes the job identically.
here=$(dirname "${BASH_SOURCE[0]}")
. "$here/lib/pg.sh"
. "$here/lib/hold.sh"
: "${PG_FIXTURE:?}"
"$PG_FIXTURE" start "$work/pgst" >/dev/null
trap '"$PG_FIXTURE" stop "$work/pgst" >/dev/null 2>&1; rm -rf -- "$work"' EXIT
eval "$(. "$work/pgst/conninfo.env"; declare -p PGFIX_HOST PGFIX_PORT PGFIX_OS_USER PGFIX_BIN_DIR \
  PGFIX_DATA_DIR PGFIX_LOG PGFIX_ROLE PGFIX_PASSWORD | sed 's/PGFIX_/ST_/')"
st_url="postgresql://$ST_ROLE:$ST_PASSWORD@127.0.0.1:$ST_PORT/postgres"
stq() { psql -qXAt -h "$ST_HOST" -p "$ST_PORT" -U postgres -d postgres -c "$1" 2>/dev/null || echo 0; }
stctl() {  # pg_ctl on the state's cluster, as its user, from / (that user may not enter $work)
  if [ -n "$ST_OS_USER" ]; then
    (cd / && runuser -u "$ST_OS_USER" -- "$ST_BIN_DIR/pg_ctl" -D "$ST_DATA_DIR" -l "$ST_LOG" "$@" >/dev/null)
  else
    (cd / && "$ST_BIN_DIR/pg_ctl" -D "$ST_DATA_DIR" -l "$ST_LOG" "$@" >/dev/null)
  fi
}

src=strestart_src_$$
new_db "$src"
psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
create table keyed (id bigint primary key, v text);
insert into keyed select g, repeat('v', 80) || g from generate_series(1, 40000) g;
-- On the target, row 2000 goes in only while the test does not hold advisory lock 4343 there.
create function gate() returns bool language plpgsql as
  $$ begin perform pg_advisory_xact_lock_shared(4343); return true; end $$;
alter table keyed add constraint keyed_gate check (id <> 2000 or gate());
create table other (id int primary key);
insert into other select generate_series(1, 1000);
analyze;
SQL
table_sums "$src" >"$work/src.sums"
worker() {  # name target job reconnect_s: in the background, pid in $pid
  printf '[copy]\nchunk_size = "256kB"\n[state]\nlease_s = 2\nreconnect_s = %s\n' "$4" >"$work/$1.toml"
  "$bin" run --preset bulk --config "$work/$1.toml" --jobs 1 --index-jobs 1 --log-level info \
    --source "$(url "$src")" --target "$(url "$2")" --state-dir "$work/dir_$1" \
    --state-url "$st_url" --job "$3" >"$work/$1.out" 2>"$work/$1.err" &
  pid=$!
}
waiting() { echo "select count(*) >= 1 from $locks l where locktype = 'advisory' and not granted"; }
no_chunk_free() {  # every chunk is done or held (the one at the gate): none is left to take
  for _ in $(seq 600); do
    [ "$(stq "select count(*) from uringmig_state.chunk where status = 'pending' and leased_by is null")" = 0 ] && return 0
    sleep 0.1
  done
  return 1
}
same_as_source() {  # db what
  table_sums "$1" >"$work/$1.sums"
  diff "$work/src.sums" "$work/$1.sums" >/dev/null || fail "$2: the target differs from the source"
}

# 1. A restart of the state's server while both workers are in the middle of the job.
d1=strestart_d1_$$; new_db "$d1"
hold gate "$d1" "select pg_advisory_lock(4343);"
worker a "$d1" one 30; pa=$pid
wait_true "$d1" "$(waiting)" || fail "restart: worker a never reached the gate: $(tail -n 2 "$work/a.err")"
worker b "$d1" one 30; pb=$pid
no_chunk_free || fail "restart: chunks are left to take: $(tail -n 2 "$work/b.err")"
stctl -m fast -w -t 60 restart || fail "pg_ctl restart of the state's server failed"
release gate
for p in $pa $pb; do wait "$p" || fail "restart: a worker exited $?: $(tail -n 3 "$work"/[ab].err)"; done
for w in a b; do
  grep -q "connection lost" "$work/$w.err" && grep -q "connected again after" "$work/$w.err" ||
    fail "restart: worker $w did not say it lost and made again its state connection: $(grep -i state "$work/$w.err" | tail -n 3)"
done
same_as_source "$d1" "restart"
[ "$(stq "select count(*) from uringmig_state.chunk where job = 'one' and status <> 'done'")" = 0 ] ||
  fail "restart: chunks not done in the state"
[ "$(cat "$work"/[ab].err | grep -c 'table public.keyed done')" = 1 ] ||
  fail "restart: public.keyed was finished $(cat "$work"/[ab].err | grep -c 'table public.keyed done') times"

# 2. The state stays away longer than reconnect_s (2 s): one line and exit 1 from each worker;
#    the same command, once the database is back, finishes the job.
d2=strestart_d2_$$; new_db "$d2"
hold gate "$d2" "select pg_advisory_lock(4343);"
worker c "$d2" two 2; pc=$pid
wait_true "$d2" "$(waiting)" || fail "outage: worker c never reached the gate: $(tail -n 2 "$work/c.err")"
stctl -m fast -w -t 60 stop || fail "pg_ctl stop of the state's server failed"
release gate  # the chunk in flight ends; its done mark finds no state
rc=0; wait "$pc" || rc=$?
[ "$rc" = 1 ] || fail "outage: worker c exited $rc, not 1: $(tail -n 2 "$work/c.err")"
line=$(grep '^uringmig: ' "$work/c.err" || true)
[ "$(printf '%s\n' "$line" | wc -l)" = 1 ] && [[ "$line" == *"could not be made again in 2 s"*"run the same command again"* ]] ||
  fail "outage: not one line saying to run again: $(tail -n 5 "$work/c.err")"
[[ "$line" != *"$ST_PASSWORD"* ]] || fail "outage: the state password is printed"
stctl -w -t 60 -o "-p $ST_PORT" start || fail "pg_ctl start of the state's server failed"
worker c2 "$d2" two 30; pc=$pid
wait "$pc" || fail "outage: the rerun exited $?: $(tail -n 3 "$work/c2.err")"
same_as_source "$d2" "outage, then the same command"
finish bulk_workers_state_restart
