#!/usr/bin/env bash
# CDC apply: how fast uringmig's follower catches up with a backlog, against PostgreSQL's own
# logical replication (one apply worker), side by side on the same backlog.
# Two throwaway clusters (source, target). Both followers are set up first and stopped: uringmig
# by `run --preset online` then SIGTERM in the follow phase; native by CREATE SUBSCRIPTION,
# initial sync, then DISABLE. Then the workload runs on the source, so both slots hold the same
# backlog:
# - WORKLOAD=tpcb (default): pgbench scale $SCALE (10), $CLIENTS clients (4) for $SECONDS_LOAD
#   seconds (20): per transaction 3 single-row updates (two on small hot tables) and an insert;
# - WORKLOAD=updates: issue #6's mix — a $ROWS-row table (1M), $TXNS transactions (10 000) of
#   100-row updates (a random range of ids), $CLIENTS clients;
# - WORKLOAD=inserts / deletes: the same table and transaction count, each transaction inserting
#   100 new rows / deleting 100 existing ones (ids from a sequence: every row once);
# - WORKLOAD=mixed: a keyed table (100 000 rows) and a keyless REPLICA IDENTITY FULL one (5 000
#   rows, 20 per value of g); pgbench at $RATE tps (1000) for $SECONDS_LOAD seconds (20 here too),
#   $CLIENTS clients, a mix of 20-row updates of the keyless table, keyless inserts and deletes,
#   upserts, key changes, deletes and rolled-back transactions.
# Prints rows/s applied for both followers (changed rows / catch-up time).
# LIVE=1 (any workload) measures lag instead of catch-up: both followers run while the workload
# runs; every second, each slot's lag (source WAL position minus what the follower confirmed, i.e.
# committed on its target) is sampled; prints median / p95 / max per follower and how long each
# took to drain after the load stopped.
# PERF=1 records uringmig's catch-up system wide (perf record -a -g) and prints the busiest
# processes and their top symbols; PERF_DATA=FILE keeps the recording. Catch-up time: uringmig = `uringmig follow` + `uringmig switchover` (returns once every
# change before its sentinel is committed on the target); native = ENABLE until the
# subscription's confirmed LSN reaches the source's LSN after the load. Prints both, the ratio
# (goal: uringmig several times faster, ratio <= 0.5), and checks both targets equal the source.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scale=${SCALE:-10}
seconds=${SECONDS_LOAD:-20}
clients=${CLIENTS:-4}
workers=${APPLY_WORKERS:-2}
workload=${WORKLOAD:-tpcb}
rows=${ROWS:-1000000}
txns=${TXNS:-10000}
rate=${RATE:-1000}
case $workload in tpcb | updates | inserts | deletes | mixed) ;;
  *) echo "WORKLOAD is tpcb, updates, inserts, deletes or mixed" >&2; exit 2 ;;
esac

scripts/setup-deps.sh
dpkg-query -W time >/dev/null 2>&1 || apt-get install -y -qq time >/dev/null
preset=${PRESET:-release}  # PRESET=asan: an existing asan build (slower uringmig CPU)
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" --target uringmig pg_fixture -j"$(nproc)" >/dev/null
bin=$PWD/build/$preset/uringmig
fixture=$PWD/build/$preset/tests/pg_fixture
pgbin=/usr/lib/postgresql/15/bin

srcdir=$(mktemp -d); dstdir=$(mktemp -d); scratch=$(mktemp -d)
cleanup() {
  "$fixture" stop "$srcdir" >/dev/null 2>&1 || true
  "$fixture" stop "$dstdir" >/dev/null 2>&1 || true
  rm -rf "$srcdir" "$dstdir" "$scratch"
}
trap cleanup EXIT
"$fixture" start "$srcdir" >/dev/null
"$fixture" start "$dstdir" >/dev/null
env_of() { (. "$1/conninfo.env"; echo "$PGFIX_HOST $PGFIX_PORT $PGFIX_USER"); }
read -r shost sport suser < <(env_of "$srcdir")
read -r thost tport tuser < <(env_of "$dstdir")
spsql() { psql -qX -v ON_ERROR_STOP=1 -h "$shost" -p "$sport" -U "$suser" "$@"; }
tpsql() { psql -qX -v ON_ERROR_STOP=1 -h "$thost" -p "$tport" -U "$tuser" "$@"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}'; }
src_url="postgresql://$suser@/bench?host=$shost&port=$sport"
ours_url="postgresql://$tuser@/ours?host=$thost&port=$tport"

spsql -d postgres -c "create database bench"
if [ "$workload" = tpcb ]; then
  echo "== source: pgbench scale $scale"
  "$pgbin/pgbench" -q -i -s "$scale" -h "$shost" -p "$sport" -U "$suser" bench 2>&1 | tail -1
  # pgbench_history has no key: it only gets INSERTs, but a follower needs an identity.
  spsql -d bench -c "alter table pgbench_history replica identity full"
  marker="update pgbench_branches set filler = 'backlog done' where bid = 1"
  marker_seen="select filler like 'backlog done%' from pgbench_branches where bid = 1"
  checked="pgbench_accounts:aid pgbench_branches:bid pgbench_tellers:tid pgbench_history:"
elif [ "$workload" = mixed ]; then
  echo "== source: keyed acct (100 000 rows) and keyless kl (5 000 rows, REPLICA IDENTITY FULL)"
  spsql -d bench -c "create table acct (id bigint primary key, bal int not null, note text);
    insert into acct select g, 0, 'n' || g from generate_series(1, 100000) g;
    create sequence moved_ids start 10000000;
    create table kl (g int, n int, pad text); alter table kl replica identity full;
    insert into kl select g % 250, 0, repeat('p', 40) from generate_series(1, 5000) g;
    create table marker (id int primary key, note text); insert into marker values (1, '')"
  spsql -d bench -c "vacuum analyze"
  w() { cat >"$scratch/mix_$1.sql"; }
  w keyless <<'SQL'
\set g random(0, 249)
update kl set n = n + 1 where g = :g;
SQL
  w kl_churn <<'SQL'
\set g random(0, 249)
insert into kl values (:g, 0, 'new');
delete from kl where ctid = (select ctid from kl where g = :g limit 1);
SQL
  w upsert <<'SQL'
\set id random(1, 200000)
insert into acct values (:id, 1, 'up') on conflict (id) do update set bal = acct.bal + 1;
SQL
  w keychange <<'SQL'
\set id random(1, 100000)
update acct set id = nextval('moved_ids') where id = :id;
SQL
  w delete <<'SQL'
\set id random(1, 200000)
delete from acct where id = :id;
SQL
  w rollback <<'SQL'
\set g random(0, 249)
\set id random(1, 100000)
begin;
update kl set n = n - 1 where g = :g;
update acct set bal = bal - 1 where id = :id;
rollback;
SQL
  mix=(-f "$scratch/mix_keyless.sql@20" -f "$scratch/mix_kl_churn.sql@10" -f "$scratch/mix_upsert.sql@40"
    -f "$scratch/mix_keychange.sql@10" -f "$scratch/mix_delete.sql@10" -f "$scratch/mix_rollback.sql@10")
  marker="update marker set note = 'backlog done' where id = 1"
  marker_seen="select note = 'backlog done' from marker where id = 1"
  checked="acct:id kl: marker:id"
else
  echo "== source: $rows rows"
  spsql -d bench -c "create table t (id int primary key, v int not null, filler text);
    insert into t select g, 0, repeat('x', 80) from generate_series(1, $rows) g;
    create table marker (id int primary key, note text); insert into marker values (1, '')"
  spsql -d bench -c "create sequence new_ids start $((rows + 1)); create sequence old_ids"
  spsql -d bench -c "vacuum analyze"
  case $workload in
    updates)
      printf '\\set start random(1, %s)\nupdate t set v = v + 1 where id between :start and :start + 99;\n' \
        "$((rows - 99))" ;;
    inserts)
      echo "insert into t select nextval('new_ids'), 0, repeat('y', 80) from generate_series(1, 100);" ;;
    deletes)
      echo "delete from t where id in (select nextval('old_ids') from generate_series(1, 100));" ;;
  esac >"$scratch/updates.sql"
  marker="update marker set note = 'backlog done' where id = 1"
  marker_seen="select note = 'backlog done' from marker where id = 1"
  checked="t:id marker:id"
fi

# Both targets live in one cluster: whichever follower runs first would pay for zero-filling
# fresh WAL segments, the second would get recycled ones. Not zero-filling makes it even.
tpsql -d postgres -c "alter system set wal_init_zero = off" -c "select pg_reload_conf()" >/dev/null
echo "== uringmig: online copy, stopped in the follow phase"
tpsql -d postgres -c "create database ours"
APPLY_CONF=$scratch/apply.toml
printf '[online]\napply_workers = %s\n' "$workers" >"$APPLY_CONF"
"$bin" run --preset online --config "$APPLY_CONF" --source "$src_url" --target "$ours_url" \
  --state-dir "$scratch/st" --log-level warn >"$scratch/online.out" 2>"$scratch/online.err" &
pid=$!
for _ in $(seq 1 1200); do
  phase=$(sqlite3 "$scratch/st/state.db" "select value from kv where key = 'online.phase'" 2>/dev/null || true)
  [ "$phase" = follow ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$scratch/online.err"; exit 1; }
  sleep 0.1
done
kill -TERM "$pid"; wait "$pid" || true

echo "== native: subscription, initial sync, disabled"
tpsql -d postgres -c "create database native"
"$pgbin/pg_dump" -s -h "$shost" -p "$sport" -U "$suser" bench | tpsql -d native >/dev/null
spsql -d bench -c "create publication native_pub for all tables"
tpsql -d native -c "create subscription native_sub connection 'host=$shost port=$sport user=$suser dbname=bench' publication native_pub"
for _ in $(seq 1 1200); do
  n=$(tpsql -d native -Atc "select count(*) from pg_subscription_rel where srsubstate <> 'r'")
  [ "$n" = 0 ] && break
  sleep 0.1
done
tpsql -d native -c "alter subscription native_sub disable"

sums() {  # psql function: per checked table, count and md5 of the sorted rows
  local q="" tc order
  for tc in $checked; do
    order=${tc#*:}
    q+="${q:+ union all }select '${tc%%:*}', count(*), md5(string_agg(t::text, '|' order by ${order:-t::text})) from ${tc%%:*} t"
  done
  "$@" -Atc "$q"
}
if [ "$workload" = tpcb ]; then
  load=(-T "$seconds"); what="pgbench TPC-B for ${seconds}s"
elif [ "$workload" = mixed ]; then
  load=(-R "$rate" -T "$seconds" "${mix[@]}"); what="the mixed workload at ${rate} tps for ${seconds}s"
else
  load=(-t "$((txns / clients))" -f "$scratch/updates.sql"); what="$txns transactions of 100-row $workload"
fi

if [ "${LIVE:-0}" = 1 ]; then
  # Lag while the workload runs: both followers apply as it goes.
  ours_slot=$(spsql -d bench -Atc "select slot_name from pg_replication_slots where slot_name <> 'native_sub' and database = 'bench'")
  # The native apply worker reports its position at least this often (default 10 s).
  tpsql -d postgres -c "alter system set wal_receiver_status_interval = '1s'" -c "select pg_reload_conf()" >/dev/null
  "$bin" follow --config "$APPLY_CONF" --source "$src_url" --target "$ours_url" \
    --state-dir "$scratch/st" --log-level info >"$scratch/follow.out" 2>"$scratch/follow.err" &
  fpid=$!
  tpsql -d native -c "alter subscription native_sub enable"
  echo "== live: $what, $clients clients, both followers running; lag sampled every second"
  (
    while :; do
      spsql -d bench -Atc "select slot_name, pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn) from pg_replication_slots where slot_name in ('$ours_slot', 'native_sub')"
      sleep 1
    done
  ) >"$scratch/lag.txt" 2>/dev/null &
  sampler=$!
  "$pgbin/pgbench" -n -c "$clients" -j "$clients" "${load[@]}" -h "$shost" -p "$sport" -U "$suser" bench 2>&1 |
    grep -E "^(number of transactions actually processed|tps)" || true
  kill "$sampler"; wait "$sampler" 2>/dev/null || true
  spsql -d bench -c "$marker"
  t0=$(now)
  ours_drain= native_drain=
  for _ in $(seq 1 36000); do
    [ -z "$ours_drain" ] && [ "$(tpsql -d ours -Atc "$marker_seen")" = t ] && ours_drain=$(since "$t0")
    [ -z "$native_drain" ] && [ "$(tpsql -d native -Atc "$marker_seen")" = t ] && native_drain=$(since "$t0")
    [ -n "$ours_drain" ] && [ -n "$native_drain" ] && break
    sleep 0.05
  done
  "$bin" switchover --source "$src_url" --target "$ours_url" --state-dir "$scratch/st" \
    --timeout 3600s --log-level warn >/dev/null
  wait "$fpid"
  stats() {  # slot: samples, median / p95 / max of its lag in MB
    awk -F'|' -v s="$1" '$1 == s {print $2}' "$scratch/lag.txt" | sort -g |
      awk '{a[NR]=$1} END {if (!NR) {print "no samples"; exit}
        printf "%d samples, median %.1f MB, p95 %.1f MB, max %.1f MB\n", NR, a[int((NR+1)/2)] / 1048576,
          a[int(NR*0.95 + 0.999)] / 1048576, a[NR] / 1048576}'
  }
  echo "uringmig (apply workers $workers): lag $(stats "$ours_slot"); drained ${ours_drain}s after the load"
  echo "native:  lag $(stats native_sub); drained ${native_drain}s after the load"
  want=$(sums spsql -d bench)
  [ "$(sums tpsql -d ours)" = "$want" ] || { echo "uringmig's target differs from the source"; exit 1; }
  echo "targets checked: uringmig's equals the source"
  exit 0
fi

# The floor: the same backlog only decoded and streamed (pg_recvlogical into /dev/null), no apply.
spsql -d bench -Atc "select 'probe slot at ' || lsn from pg_create_logical_replication_slot('probe', 'pgoutput')"
echo "== backlog: $what, $clients clients, on the source (both followers stopped)"
"$pgbin/pgbench" -n -c "$clients" -j "$clients" "${load[@]}" -h "$shost" -p "$sport" -U "$suser" bench 2>&1 |
  grep -E "^(number of transactions actually processed|tps)" || true
# The last transaction: once a follower shows it, it has applied everything (commit order).
spsql -d bench -c "$marker"
end_lsn=$(spsql -d bench -Atc "select pg_current_wal_lsn()")
backlog=$(spsql -d bench -Atc "select pg_size_pretty(pg_wal_lsn_diff('$end_lsn', confirmed_flush_lsn)) from pg_replication_slots where slot_name = 'native_sub'")
echo "backlog per slot: $backlog"

echo "== catch-up"
t0=$(now)
"$pgbin/pg_recvlogical" -h "$shost" -p "$sport" -U "$suser" -d bench --slot probe --start \
  --endpos "$end_lsn" -o proto_version=1 -o publication_names=native_pub -f /dev/null
floor=$(since "$t0")
spsql -d bench -Atc "select pg_drop_replication_slot('probe')" >/dev/null
echo "decode and stream only (pg_recvlogical to /dev/null): ${floor}s"
perf_pid=
if [ "${PERF:-0}" = 1 ]; then  # system wide during uringmig's catch-up: source, uringmig, target
  perf record -q -a -g -o "$scratch/perf.data" &
  perf_pid=$!
fi
t0=$(now)
/usr/bin/time -f "%U %S" -o "$scratch/follow.time" \
  "$bin" follow --config "$APPLY_CONF" --source "$src_url" --target "$ours_url" \
  --state-dir "$scratch/st" --log-level info >"$scratch/follow.out" 2>"$scratch/follow.err" &
fpid=$!
"$bin" switchover --source "$src_url" --target "$ours_url" --state-dir "$scratch/st" \
  --timeout 3600s --log-level warn >/dev/null
wait "$fpid"
ours=$(since "$t0")
if [ -n "$perf_pid" ]; then
  kill -INT "$perf_pid"; wait "$perf_pid" || true
  report() { perf report -i "$scratch/perf.data" --no-children -g none --stdio "$@" 2>/dev/null | grep -v '^#' | grep -v '^$' || true; }
  echo "-- samples by process (postgres: walsender on the source, apply backend on the target)"
  report --sort comm,pid | head -8
  for p in $(report --comm postgres --sort pid | head -2 | awk '{print $2}' | cut -d: -f1); do
    echo "-- postgres pid $p: top symbols (self)"
    report --pid "$p" --sort dso,sym | head -12
  done
  echo "-- uringmig: top symbols (self)"
  report --comm uringmig --sort dso,sym | head -20
  if [ -n "${PERF_DATA:-}" ]; then cp "$scratch/perf.data" "$PERF_DATA"; echo "perf data kept in $PERF_DATA"; fi
fi
echo "uringmig follow (apply workers $workers): ${ours}s, its own CPU $(awk '{printf "%.2f", $1 + $2}' "$scratch/follow.time")s"
grep -o 'follow: applied up to.*' "$scratch/follow.err" | tail -1 || true
t0=$(now)
tpsql -d native -c "alter subscription native_sub enable"
for _ in $(seq 1 36000); do
  done_=$(tpsql -d native -Atc "$marker_seen")
  [ "$done_" = t ] && break
  sleep 0.05
done
native=$(since "$t0")
echo "native logical replication: ${native}s"
echo "ratio uringmig / native: $(awk -v a="$ours" -v b="$native" 'BEGIN {printf "%.3f", a / b}') (goal <= 0.5: several times faster)"
echo "floor / native: $(awk -v a="$floor" -v b="$native" 'BEGIN {printf "%.3f", a / b}') (the source's decoding alone)"
if [ "$workload" != tpcb ] && [ "$workload" != mixed ]; then
  changed=$((txns / clients * clients * 100))
  awk -v n="$changed" -v a="$ours" -v b="$native" -v w="$workload" \
    'BEGIN {printf "rows/s applied (%s): uringmig %.0f, native %.0f\n", w, n / a, n / b}'
fi

want=$(sums spsql -d bench)
[ "$(sums tpsql -d ours)" = "$want" ] || { echo "uringmig's target differs from the source"; exit 1; }
[ "$(sums tpsql -d native)" = "$want" ] || echo "note: the native subscriber differs (still applying?)"
echo "targets checked: uringmig's equals the source"
