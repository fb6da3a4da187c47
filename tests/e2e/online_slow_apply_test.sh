#!/usr/bin/env bash
# The follower under a slow target: a trigger on the target waits on an advisory lock this script
# holds, so a target transaction hangs as long as it wants (no sleeps). While it hangs the lag is
# live and rising (state store = what `status` and `switchover` read, the stats CSV); SIGTERM and
# --max-runtime stop the follower within 5 s with the resume hint, its transaction cancelled on
# the server and rolled back; `uringmig follow` then ends with the target equal to the source and
# every change applied once (a counter column).
# uses-fixture: pg
# shellcheck disable=SC1091
. "$(dirname "$0")/lib/pg.sh"

src=slow_src_$$
dst=slow_dst_$$
new_db "$src"
new_db "$dst"
psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
create table counter(id int primary key, n int not null);
insert into counter select g, 0 from generate_series(1, 10) g;
create table filler(id bigserial primary key, pad text);
SQL
kv() { sqlite3 "$1/state.db" "select value from kv where key = '$2'" 2>/dev/null || true; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}'; }
wait_phase_follow() {  # STATE_DIR PID
  local phase=
  for _ in $(seq 1 600); do
    phase=$(kv "$1" online.phase)
    [ "$phase" = follow ] && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.1
  done
  fail "never reached the follow phase"
  return 1
}
# The lock the target's trigger waits for, held by a psql session of this script.
lock() {
  coproc LOCKER { psql -qXAt -d "$dst" 2>&1; }
  echo "select pg_advisory_lock(7007), 'locked';" >&"${LOCKER[1]}"
  local line=
  read -r -t 30 line <&"${LOCKER[0]}" || true
  [ "$line" = "|locked" ] || fail "could not take the advisory lock: $line"
}
unlock() {
  local p=$LOCKER_PID
  exec {LOCKER[1]}>&-
  wait "$p" 2>/dev/null || true
}
# Until the apply session waits for the lock (its transaction is open on the target).
wait_blocked() {
  for _ in $(seq 1 300); do
    [ "$(psql -qXAt -d "$dst" -c "select count(*) from pg_locks where locktype = 'advisory'
          and not granted")" -ge 1 ] && return 0
    sleep 0.1
  done
  fail "the apply never reached the slow trigger"
}
sums() { table_sums "$1" | grep -v '^uringmig\.'; }

# One apply connection here: the follow loop itself waits for the target then (with two, the
# dispatcher keeps reading the stream while a worker waits); `follow` below runs with two.
printf '[online]\napply_workers = 1\n' >one.toml
"$bin" run --preset online --config one.toml --source "$(url "$src")" --target "$(url "$dst")" \
  --state-dir st >run.out 2>run.err &
pid=$!
wait_phase_follow st "$pid" || { tail -5 run.err; finish online_slow_apply; }
psql -qX -v ON_ERROR_STOP=1 -d "$dst" <<'SQL'
create function slow_apply() returns trigger language plpgsql as
  $$ begin perform pg_advisory_xact_lock_shared(7007); return new; end $$;
create trigger slow before update on counter for each row execute function slow_apply();
alter table counter enable always trigger slow;
SQL
psql -qX -d "$src" -c "update counter set n = n + 1 where id = 1" >/dev/null
# Applied while the lock is free: the follower works.
for _ in $(seq 1 300); do
  [ "$(psql -qXAt -d "$dst" -c "select n from counter where id = 1")" = 1 ] && break
  sleep 0.1
done
[ "$(psql -qXAt -d "$dst" -c "select n from counter where id = 1")" = 1 ] ||
  fail "the first change never arrived"

# 1. Lag while the apply hangs: > 0 and rising, in the state store, `status --json` and the CSV.
lock
psql -qX -d "$src" -c "update counter set n = n + 1 where id = 2" >/dev/null
wait_blocked
lag_bytes() { kv st online.lag_bytes; }
lag_s() { kv st online.lag_seconds; }
b1=0 s1=0
for _ in $(seq 1 100); do
  b1=$(lag_bytes) s1=$(lag_s)
  [ "${b1:-0}" -gt 0 ] && awk -v s="$s1" 'BEGIN {exit !(s > 0)}' && break
  sleep 0.1
done
[ "${b1:-0}" -gt 0 ] || fail "lag in bytes is not > 0 while the apply hangs: '$b1'"
awk -v s="$s1" 'BEGIN {exit !(s > 0)}' || fail "lag in seconds is not > 0 while the apply hangs: '$s1'"
# Twice: the one message the stream reads ahead shows the first write, not the second.
for round in 1 2; do
  psql -qX -d "$src" -c "insert into filler(pad) select repeat('x', 200) from generate_series(1, 2000)" \
    >/dev/null
  rising=
  for _ in $(seq 1 100); do
    b2=$(lag_bytes) s2=$(lag_s)
    if [ "${b2:-0}" -gt "$b1" ] && awk -v a="$s2" -v b="$s1" 'BEGIN {exit !(a > b)}'; then
      rising=1
      break
    fi
    sleep 0.1
  done
  [ -n "$rising" ] || fail "lag is not rising while the apply hangs (write $round): $b1 -> $b2 bytes, $s1 -> $s2 s"
  echo "lag while the apply hangs (write $round): $b1 -> $b2 bytes, $s1 -> $s2 s"
  b1=$b2 s1=$s2
done
expect_exit 0 "$bin" status --state-dir st --json
json_lag=$(jq -r '.marks["online.lag_bytes"]' stdout)
[ "${json_lag:-0}" -gt 0 ] || fail "status --json: lag_bytes '$json_lag' while the apply hangs"
csv_lag=$(tail -1 st/stats.csv | cut -d, -f12)
[ "${csv_lag:-0}" -gt 0 ] || fail "stats.csv: lag_bytes '$csv_lag' while the apply hangs"

# 2. SIGTERM while the target transaction hangs: out within 5 s, with the hint; nothing of it
# committed.
t0=$(now)
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
took=$(elapsed "$t0")
awk -v t="$took" 'BEGIN {exit !(t < 5)}' || fail "SIGTERM: the follower took ${took}s to stop"
echo "SIGTERM: stopped in ${took}s"
[ "$rc" -eq 1 ] || fail "SIGTERM: exit $rc, expected 1: $(tail -3 run.err)"
grep -q "uringmig follow" run.err || fail "SIGTERM: no resume hint: $(tail -2 run.err)"
[ "$(psql -qXAt -d "$dst" -c "select n from counter where id = 2")" = 0 ] ||
  fail "the hanging transaction was committed"
[ "$(psql -qXAt -d "$dst" -c "select count(*) from pg_stat_activity where datname = '$dst'
      and state like 'idle in transaction%'")" = 0 ] || fail "a target session was left in a transaction"

# 3. --max-runtime while it hangs again: the same prompt stop.
psql -qX -d "$src" -c "update counter set n = n + 1 where id = 3" >/dev/null
"$bin" follow --source "$(url "$src")" --target "$(url "$dst")" --state-dir st --max-runtime 3s \
  >f1.out 2>f1.err &
pid=$!
wait_blocked
# From here: at most the 3 s of runtime left, then the 5 s stop (its start-up, slow on a loaded
# machine, is not part of the promise).
t0=$(now)
rc=0
wait "$pid" || rc=$?
took=$(elapsed "$t0")
awk -v t="$took" 'BEGIN {exit !(t < 8)}' || fail "--max-runtime 3s: the follower took ${took}s"
echo "--max-runtime 3s: ended after ${took}s"
[ "$rc" -eq 1 ] || fail "--max-runtime: exit $rc, expected 1: $(tail -3 f1.err)"
grep -q "max-runtime.*uringmig follow" f1.err || fail "--max-runtime: no hint: $(tail -2 f1.err)"
unlock

# 4. Resume: every change exactly once.
for r in 1 2 3; do
  psql -qX -d "$src" -c "update counter set n = n + 1; insert into filler(pad) values ('r$r')" >/dev/null
done
"$bin" follow --source "$(url "$src")" --target "$(url "$dst")" --state-dir st >f2.out 2>f2.err &
pid=$!
expect_exit 0 "$bin" switchover --source "$(url "$src")" --target "$(url "$dst")" --state-dir st \
  --timeout 120s
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || fail "uringmig follow exited $rc: $(tail -3 f2.err)"
[ "$(sums "$src")" = "$(sums "$dst")" ] || fail "source and target differ after resuming:
$(diff <(sums "$src") <(sums "$dst"))"
[ "$(psql -qXAt -d "$dst" -c "select string_agg(n::text, ',' order by id) from counter")" = \
  "4,4,4,3,3,3,3,3,3,3" ] || fail "a change was applied twice or lost: $(psql -qXAt -d "$dst" \
  -c "select string_agg(n::text, ',' order by id) from counter")"
finish online_slow_apply
