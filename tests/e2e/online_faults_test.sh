#!/usr/bin/env bash
# The online preset when things go wrong around the switchover:
# - a switchover that timed out leaves its sentinel in the WAL: the follower that reaches it
#   later ignores it and keeps following;
# - two online jobs on one source: switching one over leaves the other following;
# - `switchover` with no follower running fails at once, naming `uringmig follow`;
# - a switchover killed while it waited, then the follower killed and restarted with `follow`:
#   the restarted follower ignores the old sentinel;
# - `switchover` of a job already switched over syncs the sequences again (re-runnable);
# - a failed online copy drops its slot and publication (or, with --keep-slot, says what is left).
# A follower is held back by locking its target table (a psql session fed through a FIFO).
# uses-fixture: pg
# shellcheck disable=SC1091
. "$(dirname "$0")/lib/pg.sh"

src=onf_src_$$
dsta=onf_dsta_$$
dstb=onf_dstb_$$
for db in "$src" "$dsta" "$dstb"; do new_db "$db"; done
psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
create table t(id bigserial primary key, v text);
insert into t(v) select 'row ' || g from generate_series(1, 1000) g;
SQL
sums() { table_sums "$1" | grep -v '^uringmig\.'; }
ins() { psql -qX -v ON_ERROR_STOP=1 -d "$src" -c "insert into t values ($1, 'marker')" >/dev/null; }
# wait_row DB ID: until row ID is on DB (polled, up to 60 s).
wait_row() {
  for _ in $(seq 1 600); do
    [ "$(psql -qXAt -d "$1" -c "select count(*) from t where id = $2")" = 1 ] && return 0
    sleep 0.1
  done
  return 1
}
# start_job DST STATE: `run --preset online` in the background ($job_pid), until it follows.
start_job() {
  "$bin" run --preset online --source "$(url "$src")" --target "$(url "$1")" --state-dir "$2" \
    >"$2.out" 2>"$2.err" &
  job_pid=$!
  local phase=
  for _ in $(seq 1 600); do
    phase=$(sqlite3 "$2/state.db" "select value from kv where key = 'online.phase'" 2>/dev/null || true)
    [ "$phase" = follow ] && return 0
    kill -0 "$job_pid" 2>/dev/null || break
    sleep 0.1
  done
  fail "$2 never reached the follow phase: $(tail -3 "$2.err")"
  return 1
}
# lock_target DB / unlock_target: holds an exclusive lock on DB's t until unlock_target.
lock_target() {
  rm -f lockfifo
  mkfifo lockfifo
  psql -qX -d "$1" <lockfifo >/dev/null 2>&1 &
  lock_pid=$!
  exec 7>lockfifo
  echo "begin; lock table t in access exclusive mode;" >&7
  for _ in $(seq 1 600); do
    [ "$(psql -qXAt -d "$1" -c "select count(*) from pg_locks l where l.relation = 't'::regclass
         and l.database = (select oid from pg_database where datname = current_database())
         and l.mode = 'AccessExclusiveLock' and l.granted")" = 1 ] && return 0
    sleep 0.1
  done
  fail "could not lock t on $1"
}
unlock_target() {
  echo "commit;" >&7
  exec 7>&-
  wait "$lock_pid" || true
}
switchover() {  # STATE DST TIMEOUT
  "$bin" switchover --source "$(url "$src")" --target "$(url "$2")" --state-dir "$1" --timeout "$3"
}

# 1. A switchover that times out: its sentinel is reached later and must be ignored.
start_job "$dsta" sta
pid_a=$job_pid
lock_target "$dsta"
ins 1001
expect_exit 1 switchover sta "$dsta" 2s
grep -q "request is withdrawn and the follower keeps following" err ||
  fail "timed-out switchover: $(cat err)"
unlock_target
ins 1002
wait_row "$dsta" 1002 || fail "the follower stopped at the sentinel of a timed-out switchover: $(tail -3 sta.err)"
kill -0 "$pid_a" 2>/dev/null || fail "the follower exited at a stale sentinel: $(tail -3 sta.err)"
grep -q "ignored, following on" sta.err || fail "the follower did not say it ignored the sentinel"

# 2. Two jobs on one source: switching A over leaves B following.
start_job "$dstb" stb
pid_b=$job_pid
expect_exit 0 switchover sta "$dsta" 60s
rc=0
wait "$pid_a" || rc=$?
[ "$rc" -eq 0 ] || fail "job A exited $rc after its switchover: $(tail -3 sta.err)"
ins 1003
wait_row "$dstb" 1003 || fail "job B stopped at job A's sentinel: $(tail -3 stb.err)"
kill -0 "$pid_b" 2>/dev/null || fail "job B exited at job A's sentinel: $(tail -3 stb.err)"
[ "$(psql -qXAt -d "$src" -c "select count(*) from pg_replication_slots where database = '$src'")" = 1 ] ||
  fail "job B's slot is gone after job A's switchover"

# 3. A switchover of a job switched over already sets the sequences again.
psql -qX -d "$src" -c "select setval('t_id_seq', 777777)" >/dev/null
expect_exit 0 switchover sta "$dsta" 60s
grep -q "switched over already; [0-9]* sequence(s) set" stdout || fail "re-run switchover: $(cat stdout err)"
[ "$(psql -qXAt -d "$dsta" -c "select last_value from t_id_seq")" = 777777 ] ||
  fail "a re-run switchover did not set the sequences"

# 4. A switchover killed while waiting, the follower killed too and restarted with `follow`.
lock_target "$dstb"
ins 1004
switchover stb "$dstb" 300s >so.out 2>so.err &
so_pid=$!
for _ in $(seq 1 600); do
  grep -q "sentinel written" so.err && break
  kill -0 "$so_pid" 2>/dev/null || break
  sleep 0.1
done
grep -q "sentinel written" so.err || fail "the switchover wrote no sentinel: $(cat so.err)"
kill -9 "$so_pid" "$pid_b"
wait "$so_pid" 2>/dev/null || true
wait "$pid_b" 2>/dev/null || true
unlock_target
# No follower now: switchover fails at once instead of waiting for its timeout.
SECONDS=0
expect_exit 1 switchover stb "$dstb" 120s
grep -q "no follower is running.*uringmig follow" err || fail "switchover without a follower: $(cat err)"
[ "$SECONDS" -lt 30 ] || fail "switchover without a follower took ${SECONDS}s"
"$bin" follow --source "$(url "$src")" --target "$(url "$dstb")" --state-dir stb >f.out 2>f.err &
pid_f=$!
ins 1005
wait_row "$dstb" 1005 || fail "the restarted follower stopped at the killed switchover's sentinel: $(tail -3 f.err)"
kill -0 "$pid_f" 2>/dev/null || fail "the restarted follower exited: $(tail -3 f.err)"
expect_exit 0 switchover stb "$dstb" 60s
rc=0
wait "$pid_f" || rc=$?
[ "$rc" -eq 0 ] || fail "follow exited $rc after the switchover: $(tail -3 f.err)"
[ "$(sums "$src")" = "$(sums "$dstb")" ] || fail "job B's target differs:
$(diff <(sums "$src") <(sums "$dstb"))"
[ "$(psql -qXAt -d "$src" -c "select count(*) from pg_replication_slots where database = '$src'")" = 0 ] ||
  fail "a slot was left after both switchovers"

# 5. A failed copy leaves no slot nor publication behind, and says so.
dste=onf_dste_$$
new_db "$dste"
psql -qX -v ON_ERROR_STOP=1 -d "$dste" <<'SQL'
create function no_tables() returns event_trigger language plpgsql as $$
begin
  if exists (select from pg_event_trigger_ddl_commands()
             where command_tag = 'CREATE TABLE' and schema_name = 'public') then
    raise exception 'tables are not welcome here';
  end if;
end $$;
create event trigger no_tables on ddl_command_end execute function no_tables();
SQL
expect_exit 1 "$bin" run --preset online --source "$(url "$src")" --target "$(url "$dste")" \
  --state-dir ste
grep -q "slot uringmig_[0-9a-f]* and publication uringmig_[0-9a-f]* were dropped" err ||
  fail "a failed copy does not say what it dropped: $(cat err)"
[ "$(psql -qXAt -d "$src" -c "select count(*) from pg_replication_slots where database = '$src'")" = 0 ] ||
  fail "a failed copy left its slot on the source"
[ "$(psql -qXAt -d "$src" -c "select count(*) from pg_publication")" = 0 ] ||
  fail "a failed copy left its publication on the source"
expect_exit 1 "$bin" run --preset online --restart --keep-slot --source "$(url "$src")" \
  --target "$(url "$dste")" --state-dir ste
slot=$(sqlite3 ste/state.db "select value from kv where key = 'online.slot'")
grep -q "slot $slot and publication $slot are left on the source, holding WAL.*pg_drop_replication_slot('$slot')" err ||
  fail "--keep-slot: the message does not say what is left: $(cat err)"
psql -qX -d "$src" -c "select pg_drop_replication_slot('$slot')" >/dev/null ||
  fail "--keep-slot: the slot is not there"
psql -qX -d "$src" -c "drop publication $slot" >/dev/null || fail "--keep-slot: no publication"
finish online_faults
