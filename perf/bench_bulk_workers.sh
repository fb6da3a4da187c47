#!/usr/bin/env bash
# Several workers on one job through one PostgreSQL state (--state-url, a database of the target
# cluster), against the same job with a state directory (one process):
# - bulk: the clone of pgbench scale $SCALE (default 30) plus $MIXED_ROWS (default 1M) mixed rows,
#   64 MB chunks, each process `--jobs 2 --index-jobs 2`;
# - shards (SHARDS=1, the default): $SHARD_ROWS (default 1M) rows of scripts/sample-clients.sh
#   from a SQLite file into 10 SQLite shards, each process `--jobs 2`.
# RUNS (default 3) rounds alternate state directory and $WORKERS (default "1 2 3") worker
# processes; medians of the wall times and their ratios against the state directory.
# Wall-time ratios on a shared machine are mostly noise, so the lease/claim traffic is also
# measured directly: pg_stat_statements on the state database counts, per one-worker run, the
# state statements (claims, lease renewals, done marks, the rest) and their server time; the
# client's round trip (pgbench `select 1` on the same socket, extended protocol) times the
# statements gives their cost on the worker's side; both as % of that run's wall time.
# Goal: the lease/claim traffic costs <= 3 % of the single worker's wall time.
# PRESET=asan uses the asan build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. perf/lib.sh
runs=${RUNS:-3}
scale=${SCALE:-30}
mixed_rows=${MIXED_ROWS:-1000000}
shard_rows=${SHARD_ROWS:-1000000}
workers=${WORKERS:-1 2 3}
shards=${SHARDS:-1}
bulk=${BULK:-1}
preset=${PRESET:-release}

scripts/setup-deps.sh
dpkg-query -W time >/dev/null 2>&1 || apt-get install -y -qq time >/dev/null
bench_build "$preset" uringmig pg_fixture
bin=$bench_dir/uringmig
bench_two_clusters "$bench_dir/tests/pg_fixture"

# pg_stat_statements on the target cluster (the state's): a restart to preload it.
(
  . "$dstdir/conninfo.env"
  tpsql -d postgres -c "alter system set shared_preload_libraries = 'pg_stat_statements'" \
    -c "alter system set wal_init_zero = off"
  ctl=("$PGFIX_BIN_DIR/pg_ctl" -D "$PGFIX_DATA_DIR" -l "$PGFIX_LOG" -m fast -w restart)
  if [ -n "$PGFIX_OS_USER" ] && [ "$(id -un)" != "$PGFIX_OS_USER" ]; then
    runuser -u "$PGFIX_OS_USER" -- "${ctl[@]}" >/dev/null
  else
    "${ctl[@]}" >/dev/null
  fi
)
tpsql -d postgres -c "create database uringstate" >/dev/null
tpsql -d uringstate -c "create extension pg_stat_statements" >/dev/null
state_url="postgresql://$tuser@/uringstate?host=$thost&port=$tport"
quiet_tpsql() { PGOPTIONS="-c client_min_messages=warning" tpsql "$@"; }  # no drop NOTICEs
echo 'select 1;' >"$scratch/select1.sql"
# The client's cost of one statement: a round trip on the state's socket (ms).
rtt_ms=$(PGPASSWORD= /usr/lib/postgresql/15/bin/pgbench -n -M extended -c 1 -T 3 \
  -f "$scratch/select1.sql" -h "$thost" -p "$tport" -U "$tuser" uringstate 2>/dev/null |
  awk '/latency average/ {print $4}')
echo "one state round trip (select 1, extended protocol): ${rtt_ms} ms"

# state_traffic WALL: the state statements since the last reset, by kind (calls, server ms),
# and the whole as % of WALL (s): server time, and calls x round trip + server time.
state_traffic() {
  local wall=$1
  tpsql -d uringstate -Atc "
    with s as (
      select calls, total_exec_time + total_plan_time as ms, case
        when query like 'WITH c AS (SELECT schema, name, chunk_no, leased_by%' then 'claim'
        when query like 'WITH beat AS%' then 'renew'
        when query like 'WITH old AS%' then 'done'
        else 'other' end as kind
      from pg_stat_statements
      where dbid = (select oid from pg_database where datname = 'uringstate')
        and query not like '%pg_stat_statements%')
    select kind, sum(calls), round(sum(ms)::numeric, 1) from s group by kind
    union all select 'total', sum(calls), round(sum(ms)::numeric, 1) from s order by 1" |
    awk -F'|' -v wall="$wall" -v rtt="$rtt_ms" '
      $1 == "total" {calls = $2; ms = $3; next}
      {printf "%s %d (%.1f ms)  ", $1, $2, $3}
      END {
        client = calls * rtt + ms
        printf "| %d statements, server %.1f ms = %.2f %% of wall, with round trips ~%.1f ms = %.2f %%\n",
          calls, ms, ms / 10 / wall, client, client / 10 / wall
      }'
}
reset_traffic() { tpsql -d uringstate -Atc "select pg_stat_statements_reset()" >/dev/null; }

# job KIND NAME WORKERS: the bulk clone or the shard job, WORKERS processes (0: one with
# --state-dir); prints "wall cpu1 cpu2 ..." (seconds).
job() {
  local kind=$1 name=$2 n=$3 i pids=() t0 state_args job_args
  if [ "$kind" = bulk ]; then
    quiet_tpsql -d postgres -c "drop database if exists bench" -c "create database bench" \
      -c checkpoint >/dev/null
    job_args=(--preset bulk --config "$scratch/job.toml" --jobs 2 --index-jobs 2
      --source "$src_url" --target "$dst_url")
  else
    rm -rf "$scratch/shards"
    job_args=(--jobs 2 --source "sqlite://$scratch/src.db"
      --target "sqlite://$scratch/shards?shards=10&shard_key=MOBILE_NUMBER")
  fi
  quiet_tpsql -d uringstate -c "drop schema if exists uringmig_state cascade" >/dev/null
  reset_traffic
  t0=$(now)
  for i in $(seq "$(( n > 0 ? n : 1 ))"); do
    state_args=(--state-dir "$scratch/$name.dir$i")
    [ "$n" -gt 0 ] && state_args+=(--state-url "$state_url" --job "$name" --worker "$i/$n")
    /usr/bin/time -f "%U %S" -o "$scratch/$name.time$i" "$bin" run "${job_args[@]}" \
      "${state_args[@]}" --log-level warn >/dev/null 2>"$scratch/$name.err$i" &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || { cat "$scratch/$name.err$((i + 1))" >&2; exit 1; }
  done
  local out; out=$(since "$t0")
  for i in $(seq "$(( n > 0 ? n : 1 ))"); do
    out+=" $(awk '{printf "%.2f", $1 + $2}' "$scratch/$name.time$i")"
  done
  echo "$out"
}

# rounds KIND: RUNS rounds of the state directory and each worker count, then the medians.
rounds() {
  local kind=$1 r n res wall label m base
  declare -A walls=()
  for r in $(seq "$runs"); do
    for n in 0 $workers; do
      res=$(job "$kind" "$kind${r}w$n" "$n")
      wall=${res%% *}
      walls[$n]+="$wall "
      label=$([ "$n" = 0 ] && echo "--state-dir, 1 process" || echo "--state-url, $n worker(s)")
      echo "$kind round $r: $label: wall ${wall}s, our CPU per worker (s): ${res#* }"
      [ "$n" = 1 ] && echo "  state traffic: $(state_traffic "$wall")"
    done
  done
  base=$(echo "${walls[0]}" | tr ' ' '\n' | grep . | median)
  echo "== $kind: medians over $runs round(s), ratio against --state-dir"
  for n in 0 $workers; do
    m=$(echo "${walls[$n]}" | tr ' ' '\n' | grep . | median)
    echo "workers=$n: ${m}s ratio $(ratio "$m" "$base")"
  done
}

if [ "$bulk" = 1 ]; then
  bench_bulk_source "$scale" "$mixed_rows"
  echo "source database: $(spsql -d bench -Atc "select pg_size_pretty(pg_database_size('bench'))")"
  # Chunks of 64 MB: pgbench_accounts and mixed split, so workers share tables.
  printf '[copy]\nchunk_size = "64MB"\n' >"$scratch/job.toml"
  rounds bulk
fi
if [ "$shards" = 1 ]; then
  echo "== shards: $shard_rows rows (scripts/sample-clients.sh) into 10 SQLite shards"
  scripts/sample-clients.sh "$scratch/src.db" "$shard_rows" >/dev/null
  rounds shards
fi
echo "(goal: the state traffic of one worker <= 3 % of its wall time)"
