#!/usr/bin/env bash
# CDC apply: how fast uringmig's follower catches up with a backlog, against PostgreSQL's own
# logical replication (one apply worker), side by side on the same backlog.
# Two throwaway clusters (source, target). Source: pgbench scale $SCALE (default 10). Both
# followers are set up first and stopped: uringmig by `run --preset online` then SIGTERM in the
# follow phase; native by CREATE SUBSCRIPTION, initial sync, then DISABLE. Then pgbench runs
# $SECONDS_LOAD seconds (default 20, $CLIENTS clients) on the source, so both slots hold the same
# backlog. Catch-up time: uringmig = `uringmig follow` + `uringmig switchover` (returns once every
# change before its sentinel is committed on the target); native = ENABLE until the
# subscription's confirmed LSN reaches the source's LSN after the load. Prints both, the ratio
# (goal: uringmig several times faster, ratio <= 0.5), and checks both targets equal the source.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scale=${SCALE:-10}
seconds=${SECONDS_LOAD:-20}
clients=${CLIENTS:-4}
workers=${APPLY_WORKERS:-4}

scripts/setup-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target uringmig pg_fixture -j"$(nproc)" >/dev/null
bin=$PWD/build/release/uringmig
fixture=$PWD/build/release/tests/pg_fixture
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

echo "== source: pgbench scale $scale"
spsql -d postgres -c "create database bench"
"$pgbin/pgbench" -q -i -s "$scale" -h "$shost" -p "$sport" -U "$suser" bench 2>&1 | tail -1
# pgbench_history has no key: it only gets INSERTs, but a follower needs an identity.
spsql -d bench -c "alter table pgbench_history replica identity full"

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

echo "== backlog: pgbench -c $clients for ${seconds}s on the source (both followers stopped)"
"$pgbin/pgbench" -n -c "$clients" -j "$clients" -T "$seconds" -h "$shost" -p "$sport" -U "$suser" bench 2>&1 |
  grep -E "^(number of transactions actually processed|tps)" || true
# The last transaction: once a follower shows it, it has applied everything (commit order).
spsql -d bench -c "update pgbench_branches set filler = 'backlog done' where bid = 1"
end_lsn=$(spsql -d bench -Atc "select pg_current_wal_lsn()")
backlog=$(spsql -d bench -Atc "select pg_size_pretty(pg_wal_lsn_diff('$end_lsn', confirmed_flush_lsn)) from pg_replication_slots where slot_name = 'native_sub'")
echo "backlog per slot: $backlog"

echo "== catch-up"
t0=$(now)
"$bin" follow --config "$APPLY_CONF" --source "$src_url" --target "$ours_url" \
  --state-dir "$scratch/st" --log-level warn >"$scratch/follow.out" 2>"$scratch/follow.err" &
fpid=$!
"$bin" switchover --source "$src_url" --target "$ours_url" --state-dir "$scratch/st" \
  --timeout 3600s --log-level warn >/dev/null
wait "$fpid"
ours=$(since "$t0")
echo "uringmig follow (apply workers $workers): ${ours}s"
t0=$(now)
tpsql -d native -c "alter subscription native_sub enable"
for _ in $(seq 1 36000); do
  done_=$(tpsql -d native -Atc "select filler like 'backlog done%' from pgbench_branches where bid = 1")
  [ "$done_" = t ] && break
  sleep 0.05
done
native=$(since "$t0")
echo "native logical replication: ${native}s"
echo "ratio uringmig / native: $(awk -v a="$ours" -v b="$native" 'BEGIN {printf "%.3f", a / b}') (goal <= 0.5: several times faster)"

sums() {  # psql function: table, count, md5 of the sorted rows
  "$@" -Atc "select 'accounts', count(*), md5(string_agg(t::text, '|' order by aid)) from pgbench_accounts t
             union all select 'branches', count(*), md5(string_agg(t::text, '|' order by bid)) from pgbench_branches t
             union all select 'tellers', count(*), md5(string_agg(t::text, '|' order by tid)) from pgbench_tellers t
             union all select 'history', count(*), md5(string_agg(t::text, '|' order by t::text)) from pgbench_history t"
}
want=$(sums spsql -d bench)
[ "$(sums tpsql -d ours)" = "$want" ] || { echo "uringmig's target differs from the source"; exit 1; }
[ "$(sums tpsql -d native)" = "$want" ] || echo "note: the native subscriber differs (still applying?)"
echo "targets checked: uringmig's equals the source"
