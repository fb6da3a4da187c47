#!/usr/bin/env bash
# What a stuck or slow --http client costs the job: the same bulk clone (ROWS rows, one
# cluster, fresh target each time) with --http and
#   none  — no client;
#   reader — a WebSocket client that reads every push (what any watcher costs: the status
#           document built every 500 ms);
#   stuck — a WebSocket client on /api/v1/ws that never reads (a 4 kB receive buffer);
#   slow  — a WebSocket client that reads one push every 2 s (pushes come every 500 ms);
# alternated RUNS times. Prints each run's wall time, rows/s and uringmig's peak RSS, then the
# median rows/s ratio of each client against none and against reader (goal for stuck and slow:
# within noise of reader's) and the peak RSS of each (goal: no growth). PRESET=asan uses the asan build (default release).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. perf/lib.sh
runs=${RUNS:-3}
rows=${ROWS:-1000000}
preset=${PRESET:-release}

scripts/setup-deps.sh
bench_build "$preset" uringmig pg_fixture
bin=$bench_dir/uringmig
probe="python3 $PWD/tests/e2e/lib/http_probe.py"

fixdir=$(mktemp -d)
client=""
cleanup() {
  [ -n "$client" ] && kill "$client" 2>/dev/null
  "$bench_dir/tests/pg_fixture" stop "$fixdir" >/dev/null 2>&1 || true
  rm -rf "$fixdir"
}
trap cleanup EXIT
"$bench_dir/tests/pg_fixture" start "$fixdir" >/dev/null
# shellcheck disable=SC1091
. "$fixdir/conninfo.env"
export PGHOST=$PGFIX_HOST PGPORT=$PGFIX_PORT PGUSER=$PGFIX_USER
url() { echo "postgresql://$PGFIX_USER@/$1?host=$PGFIX_HOST&port=$PGFIX_PORT"; }
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

psql -qX -v ON_ERROR_STOP=1 -c "create database hsrc"
psql -qX -v ON_ERROR_STOP=1 -d hsrc -c "create table t(id bigint primary key, v text)" \
  -c "insert into t select g, repeat('v', 80) || g from generate_series(1, $rows) g" \
  -c "vacuum analyze t"
printf '[copy]\nchunk_size = "1MB"\n' >"$fixdir/job.toml"

# one MODE: one clone with that client; prints "SECONDS PEAK_RSS_KB CLIENT_RESULT".
one() {
  local mode=$1 port pid t0 secs rss result=-
  psql -qX -v ON_ERROR_STOP=1 -c "drop database if exists hdst" -c "create database hdst"
  rm -rf "$fixdir/state"
  port=$(free_port)
  t0=$(now)
  /usr/bin/time -f '%M' -o "$fixdir/rss" "$bin" run --preset bulk --config "$fixdir/job.toml" \
    --jobs 2 --source "$(url hsrc)" --target "$(url hdst)" --state-dir "$fixdir/state" \
    --http "127.0.0.1:$port" --log-level warn >/dev/null 2>"$fixdir/run.err" &
  pid=$!
  client=""
  if [ "$mode" != none ]; then
    for _ in $(seq 200); do
      curl -sf -o /dev/null "http://127.0.0.1:$port/api/v1/status" && break
      sleep 0.02
    done
    case $mode in
      stuck) $probe noread "$port" 3600 >"$fixdir/client.out" 2>&1 & ;;
      slow) $probe slow "$port" 2 3600 >"$fixdir/client.out" 2>&1 & ;;
      *) $probe slow "$port" 0 3600 >"$fixdir/client.out" 2>&1 & ;;
    esac
    client=$!
  fi
  wait "$pid" || { echo "the clone failed: $(tail -3 "$fixdir/run.err")" >&2; exit 1; }
  secs=$(since "$t0")
  if [ -n "$client" ]; then
    kill "$client" 2>/dev/null || true
    wait "$client" 2>/dev/null || true
    client=""
  fi
  rss=$(tail -1 "$fixdir/rss")
  echo "$secs $rss"
}

declare -A rates=() peaks=()
for i in $(seq "$runs"); do
  for mode in none reader stuck slow; do
    read -r secs rss < <(one "$mode")
    rate=$(awk -v r="$rows" -v s="$secs" 'BEGIN {printf "%.0f", r / s}')
    printf 'run %d %-6s %7.2f s %9d rows/s peak RSS %6.1f MiB\n' "$i" "$mode" "$secs" "$rate" \
      "$(awk -v k="$rss" 'BEGIN {print k / 1024}')"
    rates[$mode]+="$rate "
    peaks[$mode]=$(awk -v a="${peaks[$mode]:-0}" -v b="$rss" 'BEGIN {print (b > a ? b : a)}')
  done
done
med() { echo "${rates[$1]}" | tr ' ' '\n' | grep . | median; }
for mode in none reader stuck slow; do
  printf '%-6s median %9.0f rows/s  ratio to none %s, to reader %s  peak RSS %6.1f MiB\n' \
    "$mode" "$(med "$mode")" "$(ratio "$(med "$mode")" "$(med none)")" \
    "$(ratio "$(med "$mode")" "$(med reader)")" "$(awk -v k="${peaks[$mode]}" 'BEGIN {print k / 1024}')"
done
