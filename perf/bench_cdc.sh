#!/usr/bin/env bash
# CDC apply: six workloads, each caught up by uringmig's follower and by PostgreSQL's own logical
# replication (CREATE SUBSCRIPTION … WITH (streaming = on), one apply worker) on the same
# machine in the same run. Two throwaway clusters (source, target); per workload a source
# database and two target databases. Both followers are set up first and stopped (uringmig by
# `run --preset online`, then SIGTERM in the follow phase; native by CREATE SUBSCRIPTION, initial
# sync, then DISABLE), the workload runs on the source, so both slots hold the same backlog; then
# uringmig catches up, then native. Catch-up time: from the follower's start until its target
# shows the workload's last transaction (a marker row written after it: commit order makes
# everything before it applied); both targets are then compared with the source (counts and md5
# of every table). uringmig's own CPU (utime + stime from /proc/PID/stat, read when it has caught
# up) is reported per million changes (its `follow: applied up to …` count).
# Workloads (WORKLOADS, default all six, in this order; SIZE scales them, default 1):
# - updates: a 1M-row table, 10 000 transactions of 100-row updates (a random range of ids),
#   4 clients;
# - tpcb:    pgbench TPC-B, scale 10, 4 clients, 30 s;
# - mixed:   a keyed table (100 000 rows) and a keyless REPLICA IDENTITY FULL one (5 000 rows, 20
#   per value of g); pgbench at 1 000 tps for 20 s, 4 clients: 20-row updates of the keyless
#   table, keyless inserts and deletes, upserts, key changes, deletes, rolled-back transactions;
# - inserts: 1M rows in 10 000 transactions of 100 rows, 4 clients;
# - large:   one UPDATE of every row of a 2M-row table (streamed: it exceeds
#   logical_decoding_work_mem on the source);
# - tables:  200 tables of 1 000 rows, 20 000 transactions (4 clients) each updating 10 rows of
#   the next table round-robin.
# SIZE=0.1 is a quick run (rows, transactions and seconds scaled; pgbench scale stays 10).
# APPLY_WORKERS (default 2, as uringmig). PERF=1 records uringmig's catch-up of each workload
# (perf record -g on its pid) and prints its top symbols; PERF_DATA=DIR keeps the recordings.
# SOURCE_TCP=1: the followers reach the source over TCP on 127.0.0.1 (a password), not its Unix
# socket. PRESET=asan runs an existing asan build instead of the release build. FOLLOW_LOGS=DIR keeps each
# workload's follower log (stderr, log level info) as DIR/follow_<workload>_<ours|base>.err.
# BASE=<commit or uringmig binary>: per workload a third follower, uringmig of that commit (built
# by perf/lib.sh) or that binary, catches up the same backlog; it and this tree's take turns going
# first, workload by workload; the table then adds its time, its ratio to native, this tree / BASE
# and its CPU, and the median of this tree / BASE.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. perf/lib.sh
size=${SIZE:-1}
clients=${CLIENTS:-4}
workers=${APPLY_WORKERS:-2}
workloads=${WORKLOADS:-updates tpcb mixed inserts large tables}
for w in $workloads; do
  case $w in updates | tpcb | mixed | inserts | large | tables) ;;
    *) echo "WORKLOADS: a list of updates, tpcb, mixed, inserts, large, tables" >&2; exit 2 ;;
  esac
done
scaled() { awk -v n="$1" -v s="$size" 'BEGIN {v = int(n * s); print (v < 1 ? 1 : v)}'; }

scripts/setup-deps.sh
preset=${PRESET:-release}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_NOHASHDIR=1
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" --target uringmig pg_fixture -j"$(nproc)" >/dev/null
bin=$PWD/build/$preset/uringmig
base_bin=
if [ -n "${BASE:-}" ]; then
  if [ -f "$BASE" ] && [ -x "$BASE" ]; then
    base_bin=$(realpath "$BASE")
    echo "A/B base: the binary $base_bin"
  else
    bench_build_base "$BASE"
  fi
fi
fixture=$PWD/build/$preset/tests/pg_fixture
pgbin=/usr/lib/postgresql/15/bin

bench_two_clusters "$fixture"
cpu_of() {  # utime + stime of a live process, in seconds
  awk -v hz="$(getconf CLK_TCK)" '{sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz}' "/proc/$1/stat"
}
# Both targets live in one cluster: whichever follower runs first would pay for zero-filling
# fresh WAL segments, the second would get recycled ones. Not zero-filling makes it even.
tpsql -d postgres -c "alter system set wal_init_zero = off" -c "select pg_reload_conf()" >/dev/null
# The large transaction streams (64 MB by default, scaled with SIZE so that a quick run streams it
# too).
spsql -d postgres -c "alter system set logical_decoding_work_mem = '$(scaled 65536)kB'" \
  -c "select pg_reload_conf()" >/dev/null
# SOURCE_TCP=1: both followers reach the source over TCP on 127.0.0.1 (as a remote source), the
# clusters' superuser with a password; else over its Unix socket.
src_tcp=
native_conn="host=$shost port=$sport user=$suser"
if [ "${SOURCE_TCP:-0}" = 1 ]; then
  src_tcp=bench-secret
  spsql -d postgres -c "alter role \"$suser\" password '$src_tcp'" >/dev/null
  native_conn="host=127.0.0.1 port=$sport user=$suser password=$src_tcp"
fi
APPLY_CONF=$scratch/apply.toml
printf '[online]\napply_workers = %s\n' "$workers" >"$APPLY_CONF"
marker="update marker set note = 'backlog done' where id = 1"
marker_seen="select note = 'backlog done' from marker where id = 1"
marker_table="create table marker (id int primary key, note text); insert into marker values (1, '')"

# setup_W DB: creates the workload's tables in source database DB; sets `checked` (table:order
# pairs compared at the end) and `load` (the pgbench arguments of the workload).
setup_updates() {
  local rows; rows=$(scaled 1000000)
  spsql -d "$1" -c "create table t (id int primary key, v int not null, filler text);
    insert into t select g, 0, repeat('x', 80) from generate_series(1, $rows) g; $marker_table"
  printf '\\set start random(1, %s)\nupdate t set v = v + 1 where id between :start and :start + 99;\n' \
    "$((rows > 100 ? rows - 99 : 1))" >"$scratch/updates.sql"
  load=(-c "$clients" -j "$clients" -t "$(($(scaled 10000) / clients))" -f "$scratch/updates.sql")
  checked="t:id marker:id"
}
setup_inserts() {
  spsql -d "$1" -c "create table t (id int primary key, v int not null, filler text);
    create sequence new_ids; $marker_table"
  echo "insert into t select nextval('new_ids'), 0, repeat('y', 80) from generate_series(1, 100);" \
    >"$scratch/inserts.sql"
  load=(-c "$clients" -j "$clients" -t "$(($(scaled 10000) / clients))" -f "$scratch/inserts.sql")
  checked="t:id marker:id"
}
setup_large() {
  spsql -d "$1" -c "create table t (id int primary key, v int not null, filler text);
    insert into t select g, 0, repeat('x', 80) from generate_series(1, $(scaled 2000000)) g;
    $marker_table"
  echo "update t set v = v + 1;" >"$scratch/large.sql"
  load=(-c 1 -t 1 -f "$scratch/large.sql")
  checked="t:id marker:id"
}
setup_tables() {
  spsql -d "$1" -c "create sequence rr; $marker_table" -c "do \$\$ begin
      for i in 0..199 loop
        execute format('create table t%s (id int primary key, v int not null, pad text)', i);
        execute format('insert into t%s select g, 0, repeat(''z'', 40) from generate_series(1, 1000) g', i);
      end loop; end \$\$" -c "create function bump(n bigint) returns void language plpgsql as \$\$
      begin
        execute format('update t%s set v = v + 1 where id between \$1 and \$1 + 9', n % 200)
          using (n / 200 * 10) % 991 + 1;
      end \$\$"
  echo "select bump(nextval('rr'));" >"$scratch/tables.sql"
  load=(-c "$clients" -j "$clients" -t "$(($(scaled 20000) / clients))" -f "$scratch/tables.sql")
  checked="marker:id"
  for i in $(seq 0 199); do checked+=" t$i:id"; done
}
setup_tpcb() {
  "$pgbin/pgbench" -q -i -s 10 -h "$shost" -p "$sport" -U "$suser" "$1" >/dev/null 2>&1
  # pgbench_history has no key: it only gets INSERTs, but a follower needs an identity.
  spsql -d "$1" -c "alter table pgbench_history replica identity full; $marker_table"
  load=(-c "$clients" -j "$clients" -T "$(scaled 30)")
  checked="pgbench_accounts:aid pgbench_branches:bid pgbench_tellers:tid pgbench_history: marker:id"
}
setup_mixed() {
  spsql -d "$1" -c "create table acct (id bigint primary key, bal int not null, note text);
    insert into acct select g, 0, 'n' || g from generate_series(1, 100000) g;
    create sequence moved_ids start 10000000;
    create table kl (g int, n int, pad text); alter table kl replica identity full;
    insert into kl select g % 250, 0, repeat('p', 40) from generate_series(1, 5000) g;
    $marker_table"
  local w
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
  load=(-c "$clients" -j "$clients" -R 1000 -T "$(scaled 20)"
    -f "$scratch/mix_keyless.sql@20" -f "$scratch/mix_kl_churn.sql@10" -f "$scratch/mix_upsert.sql@40"
    -f "$scratch/mix_keychange.sql@10" -f "$scratch/mix_delete.sql@10" -f "$scratch/mix_rollback.sql@10")
  checked="acct:id kl: marker:id"
}

sums() {  # psql function: per checked table, count and md5 of the sorted rows; sorted by table
  local q="" tc order
  for tc in $checked; do
    order=${tc#*:}
    q+="${q:+ union all }select '${tc%%:*}', count(*), md5(string_agg(t::text, '|' order by ${order:-t::text})) from ${tc%%:*} t"
  done
  "$@" -Atc "$q" | sort  # a union of many tables may come back in any order (parallel append)
}
wait_marker() {  # db: polls until the marker shows on the target
  for _ in $(seq 1 72000); do
    [ "$(tpsql -d "$1" -Atc "$marker_seen")" = t ] && return 0
    if [ -n "${fpid:-}" ] && ! kill -0 "$fpid" 2>/dev/null; then
      echo "uringmig follow ended early:" >&2; tail -5 "$scratch/follow.err" >&2; exit 1
    fi
    sleep 0.05
  done
  echo "$1: not caught up after an hour" >&2; exit 1
}

# catch_up BIN TARGET_DB TARGET_URL STATE_DIR LABEL: `BIN follow` until TARGET_DB shows the marker,
# then its switchover; sets t_up (seconds), cpu_up (its CPU seconds) and changes_up.
catch_up() {
  local perf_pid=""
  t0=$(now)
  "$1" follow --config "$APPLY_CONF" --source "$src_url" --target "$3" \
    --state-dir "$4" --log-level info >"$scratch/follow.out" 2>"$scratch/follow.err" &
  fpid=$!
  if [ "${PERF:-0}" = 1 ]; then
    perf record -q -g -p "$fpid" -o "$scratch/perf_${w}_$5.data" 2>/dev/null &
    perf_pid=$!
  fi
  wait_marker "$2"
  t_up=$(since "$t0")
  cpu_up=$(cpu_of "$fpid")
  [ -n "$perf_pid" ] && { kill -INT "$perf_pid"; wait "$perf_pid" || true; }
  "$1" switchover --source "$src_url" --target "$3" --state-dir "$4" \
    --timeout 3600s --log-level warn >/dev/null
  wait "$fpid"
  fpid=
  changes_up=$(grep -o 'follow: applied up to [^:]*: [0-9]* transactions, [0-9]* changes' "$scratch/follow.err" |
    tail -1 | awk '{print $(NF - 1)}')
  echo "uringmig ($5): ${t_up}s, its own CPU ${cpu_up}s for ${changes_up} changes"
  [ -n "${FOLLOW_LOGS:-}" ] && mkdir -p "$FOLLOW_LOGS" && cp "$scratch/follow.err" "$FOLLOW_LOGS/follow_${w}_$5.err"
  if [ -n "$perf_pid" ]; then
    perf report -i "$scratch/perf_${w}_$5.data" --no-children -g none --stdio --sort dso,sym 2>/dev/null |
      grep -v '^#' | grep -v '^$' | head -25 || true
    [ -n "${PERF_DATA:-}" ] && mkdir -p "$PERF_DATA" && cp "$scratch/perf_${w}_$5.data" "$PERF_DATA/"
  fi
  return 0
}

results=()
nwork=0
for w in $workloads; do
  echo "== $w: setting up"
  db=bench_$w ours=ours_$w native=native_$w st=$scratch/st_$w
  based=base_$w st_base=$scratch/st_base_$w t_base=0 cpu_base=0
  spsql -d postgres -c "create database $db"
  "setup_$w" "$db"
  spsql -d "$db" -c "vacuum analyze"
  src_url="postgresql://$suser@/$db?host=$shost&port=$sport"
  [ -n "$src_tcp" ] && src_url="postgresql://$suser:$src_tcp@127.0.0.1:$sport/$db"
  ours_url="postgresql://$tuser@/$ours?host=$thost&port=$tport"
  base_url="postgresql://$tuser@/$based?host=$thost&port=$tport"

  tpsql -d postgres -c "create database $ours"
  bench_online_to_follow "$APPLY_CONF" "$src_url" "$ours_url" "$st"
  if [ -n "$base_bin" ]; then
    tpsql -d postgres -c "create database $based"
    bin=$base_bin bench_online_to_follow "$APPLY_CONF" "$src_url" "$base_url" "$st_base"
  fi

  tpsql -d postgres -c "create database $native"
  "$pgbin/pg_dump" -s -h "$shost" -p "$sport" -U "$suser" "$db" | tpsql -d "$native" >/dev/null
  spsql -d "$db" -c "create publication native_pub for all tables"
  tpsql -d "$native" -c "create subscription native_sub_$w connection '$native_conn dbname=$db' publication native_pub with (streaming = on)"
  for _ in $(seq 1 3000); do
    n=$(tpsql -d "$native" -Atc "select count(*) from pg_subscription_rel where srsubstate <> 'r'")
    [ "$n" = 0 ] && break
    sleep 0.1
  done
  tpsql -d "$native" -c "alter subscription native_sub_$w disable"

  echo "== $w: the workload on the source (both followers stopped)"
  "$pgbin/pgbench" -n "${load[@]}" -h "$shost" -p "$sport" -U "$suser" "$db" 2>&1 |
    grep -E "^(number of transactions actually processed|tps)" || true
  spsql -d "$db" -c "$marker"
  # No background work left for whichever follower goes first (autovacuum of what the workload
  # wrote, a checkpoint due): native always goes last and would not meet it.
  spsql -d "$db" -c "vacuum analyze" -c "checkpoint"
  tpsql -d postgres -c "checkpoint"
  backlog=$(spsql -d "$db" -Atc "select pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)) from pg_replication_slots where slot_name = 'native_sub_$w'")
  echo "backlog per slot: $backlog"

  # Ours and BASE alternate which catches up first, workload by workload.
  order="ours"
  [ -n "$base_bin" ] && { [ $((nwork % 2)) = 0 ] && order="ours base" || order="base ours"; }
  nwork=$((nwork + 1))
  for who in $order; do
    if [ "$who" = ours ]; then
      catch_up "$bin" "$ours" "$ours_url" "$st" ours
      t_ours=$t_up cpu=$cpu_up changes=$changes_up
    else
      catch_up "$base_bin" "$based" "$base_url" "$st_base" base
      t_base=$t_up cpu_base=$cpu_up
    fi
  done

  t0=$(now)
  tpsql -d "$native" -c "alter subscription native_sub_$w enable"
  wait_marker "$native"
  t_native=$(since "$t0")
  echo "native: ${t_native}s"

  want=$(sums spsql -d "$db")
  got=$(sums tpsql -d "$ours")
  if [ "$got" != "$want" ]; then
    echo "$w: uringmig's target differs from the source (table|rows|md5, < source, > target):"
    diff <(echo "$want") <(echo "$got") | grep '^[<>]' | head -20
    exit 1
  fi
  if [ -n "$base_bin" ] && [ "$(sums tpsql -d "$based")" != "$want" ]; then
    echo "$w: BASE's target differs from the source" >&2; exit 1
  fi
  same=yes
  [ "$(sums tpsql -d "$native")" = "$want" ] || same=no
  tpsql -d "$native" -c "drop subscription native_sub_$w" >/dev/null
  for d in "$ours" "$native" ${base_bin:+"$based"}; do tpsql -d postgres -c "drop database $d" >/dev/null; done
  spsql -d postgres -c "drop database $db" >/dev/null
  results+=("$w $backlog $changes $t_ours $t_native $cpu $same $t_base $cpu_base")
done

echo
echo "== apply workers $workers, SIZE $size, $(nproc) cores${base_bin:+, BASE $BASE}"
ab=()
if [ -z "$base_bin" ]; then
  printf '%-8s %10s %9s %10s %10s %7s %8s %10s\n' workload backlog changes uringmig native ratio "CPU s" "CPU s/M"
else
  printf '%-8s %10s %9s %10s %10s %10s %7s %7s %7s %8s %8s\n' workload backlog changes uringmig base native \
    ratio "base r" "/base" "CPU s/M" "base s/M"
fi
for r in "${results[@]}"; do
  # shellcheck disable=SC2086
  set -- $r
  if [ -z "$base_bin" ]; then
    awk -v w="$1" -v b="$2 $3" -v c="$4" -v o="$5" -v n="$6" -v cpu="$7" -v same="$8" 'BEGIN {
      printf "%-8s %10s %9d %9.2fs %9.2fs %7.3f %8.2f %10.2f%s\n", w, b, c, o, n, o / n, cpu,
        (c > 0 ? cpu / c * 1e6 : 0), (same == "yes" ? "" : "  (native target differs)")}'
  else
    awk -v w="$1" -v b="$2 $3" -v c="$4" -v o="$5" -v n="$6" -v cpu="$7" -v same="$8" -v a="$9" \
      -v acpu="${10}" 'BEGIN {
      printf "%-8s %10s %9d %9.2fs %9.2fs %9.2fs %7.3f %7.3f %7.3f %8.2f %8.2f%s\n", w, b, c, o, a, n,
        o / n, a / n, o / a, (c > 0 ? cpu / c * 1e6 : 0), (c > 0 ? acpu / c * 1e6 : 0),
        (same == "yes" ? "" : "  (native target differs)")}'
    ab+=("$(ratio "$5" "$9")")
  fi
done
[ -n "$base_bin" ] && echo "A/B median ratio this tree / BASE: $(printf '%s\n' "${ab[@]}" | median)"
echo "ratio = uringmig / native (below 1: faster than native); /base = this tree / BASE"
echo "goals: ratio <= 1.0 everywhere, <= 0.7 on updates and inserts; CPU <= 1.0 s per million changes"
