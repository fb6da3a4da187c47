#!/usr/bin/env bash
# PostgreSQL -> Apache Doris (Stream Load): `uringmig run` against the reference pipeline
# `psql \copy t to stdout | curl -T - .../_stream_load`, side by side. Doris is the project's
# Stream Load double in discard mode (tests/doris_double: counts rows, keeps nothing), so both
# sides measure the client and the source, not a real BE. Source: a throwaway PostgreSQL 15
# cluster (tests/support/pg_fixture, run as an unprivileged user) with one table of ROWS
# (default 5M) mixed-type rows (bigint pk, text, numeric, timestamptz, boolean, some NULLs;
# ~0.5 GB of COPY text). Each round runs uringmig with --jobs N for every N in JOBS (default
# "2 4") and the pipeline once, RUNS rounds (default 3), alternated. Prints each run (wall,
# user+sys CPU and peak RSS from /usr/bin/time -v), the median ratio uringmig / pipeline per N
# (goal <= 0.70), uringmig CPU seconds per million rows and peak RSS (goal <= 256 MiB). Every
# run must exit 0 and load ROWS rows (uringmig's summary and the double's NumberLoadedRows).
# CONFIG=job.toml passes --config to uringmig (e.g. [copy] chunk_size = "32MB").
# PERF=1 also records one uringmig run (--jobs = first of JOBS) system-wide with
# `perf record -g` and prints the top commands and symbols.
# BASE=<commit>: every round also runs uringmig built from that commit (same --jobs) and the
# summary prints the median ratio this tree / BASE (wall and CPU).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. perf/lib.sh
runs=${RUNS:-3}
rows=${ROWS:-5000000}
jobs_list=${JOBS:-"2 4"}
pw=bench-pw

scripts/setup-deps.sh
dpkg-query -W time >/dev/null 2>&1 || apt-get install -y -qq time >/dev/null
command -v curl >/dev/null || apt-get install -y -qq curl >/dev/null

scratch=$(mktemp -d)
fixdir=$scratch/pg
dpid=
cleanup() {
  if [ -n "$dpid" ]; then kill -TERM "$dpid" 2>/dev/null || true; wait "$dpid" 2>/dev/null || true; fi
  [ -n "${fixture:-}" ] && "$fixture" stop "$fixdir" >/dev/null 2>&1 || true
  rm -rf "$scratch"
}
trap cleanup EXIT

echo "== build (preset release)"
bench_build release uringmig doris_double pg_fixture
bin=$bench_dir/uringmig
double=$bench_dir/tests/doris_double/doris_double
fixture=$bench_dir/tests/pg_fixture
base_bin=
[ -n "${BASE:-}" ] && bench_build_base "$BASE"

echo "== throwaway PostgreSQL 15 cluster, $rows rows"
"$fixture" start "$fixdir" >/dev/null
# shellcheck disable=SC1091
. "$fixdir/conninfo.env"
host=$PGFIX_HOST port=$PGFIX_PORT user=$PGFIX_USER
spsql() { psql -qX -v ON_ERROR_STOP=1 -h "$host" -p "$port" -U "$user" "$@"; }
spsql -d postgres -c "create database bench"
spsql -d bench <<SQL
create table t (id bigint primary key, name text, email text, amount numeric(12,2),
  created timestamptz, active boolean, note text);
insert into t select g, 'customer ' || g,
  case when g % 17 = 0 then null else substr(md5(g::text), 1, 12) || '@example.com' end,
  case when g % 23 = 0 then null else (g % 1000000) / 100.0 end,
  timestamptz '2024-01-01 00:00:00+00' - g * interval '1 s' - (g % 1000) * interval '1 ms',
  case when g % 31 = 0 then null else g % 3 = 0 end,
  case when g % 5 = 0 then null else 'note ' || (g % 9973) end
from generate_series(1, $rows) g;
vacuum analyze t;
SQL
src_url="postgresql://$user@/bench?host=$host&port=$port"
copy_bytes=$(spsql -d bench -c '\copy t to stdout' | wc -c)   # also warms the cache
awk -v b="$copy_bytes" -v s="$(spsql -d bench -Atc "select pg_size_pretty(pg_table_size('t'))")" \
  'BEGIN {printf "table t: %s on disk, %.0f MB of COPY text\n", s, b / 1e6}'

echo "== Doris Stream Load double (--discard)"
"$double" --discard --password "$pw" --ready-file "$scratch/ready" >"$scratch/double.log" 2>&1 &
dpid=$!
for _ in $(seq 300); do  # polling for the ready file: up to 30 s
  [ -s "$scratch/ready" ] && grep -q BE_PORT "$scratch/ready" && break
  kill -0 "$dpid" 2>/dev/null || { cat "$scratch/double.log" >&2; exit 1; }
  sleep 0.1
done
# shellcheck disable=SC1091
. "$scratch/ready"
: "${FE_PORT:?doris_double did not become ready}" "${BE_PORT:?}"
target="doris://root:$pw@127.0.0.1:$FE_PORT/db?be=127.0.0.1:$BE_PORT"
be_loads() { curl -sf "http://127.0.0.1:$FE_PORT/_double/stats" | grep -o '"uringmig_[^"]*":[0-9]*'; }

fail() { echo "bench_doris: $*" >&2; exit 1; }

# Sets wall, cpu (user+sys), rss_mib, chunks. Checks exit 0, the summary's row count, the
# state's chunks against the loads the double saw.
ours() {
  local n=$1 st=$scratch/state.$2 t0 rc=0
  t0=$(now)
  /usr/bin/time -v -o "$scratch/time.txt" "${3:-$bin}" run --source "$src_url" --target "$target" \
    ${CONFIG:+--config "$CONFIG"} --state-dir "$st" --jobs "$n" --log-level warn \
    >"$scratch/run.out" 2>"$scratch/run.err" || rc=$?
  wall=$(awk -v a="$t0" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}')
  [ "$rc" -eq 0 ] || { tail -20 "$scratch/run.err" >&2; fail "uringmig run exited $rc"; }
  local loaded
  loaded=$(sed -n 's/.*: \([0-9]*\) rows loaded into Doris.*/\1/p' "$scratch/run.out")
  [ "$loaded" = "$rows" ] || { cat "$scratch/run.out" >&2; fail "uringmig loaded '$loaded' rows, not $rows"; }
  # The double saw a load for every chunk (once each: no retries), and the chunks' rows add up.
  local token done_rows labels retried  # chunks: read by the caller
  token=$(sqlite3 "$st/state.db" "select value from kv where key = 'doris.token'")
  read -r chunks done_rows < <(sqlite3 -separator ' ' "$st/state.db" \
    "select count(*), sum(rows) from chunk where status = 'done'")
  labels=$(be_loads | grep -c "\"uringmig_${token}_" || true)
  retried=$(be_loads | grep "\"uringmig_${token}_" | grep -vc ':1$' || true)
  [ "$labels" = "$chunks" ] && [ "$done_rows" = "$rows" ] ||
    fail "the double saw $labels chunk labels for $chunks chunks ($done_rows rows)"
  [ "$retried" -eq 0 ] || echo "  (warning: $retried chunk labels were sent more than once)"
  cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {printf "%.2f", s}' "$scratch/time.txt")
  rss_mib=$(awk '/Maximum resident set size/ {printf "%.1f", $6 / 1024}' "$scratch/time.txt")
  rm -rf "$st"
}

# Sets wall, cpu (psql + curl user+sys). Checks the load's answer.
pipeline() {
  local label=bench_pipe_$1_$$ t0
  t0=$(now)
  /usr/bin/time -f '%U %S' -o "$scratch/ptime.txt" bash -c '
    set -o pipefail
    psql -qX -v ON_ERROR_STOP=1 -h "$1" -p "$2" -U "$3" -d bench -c "\copy t to stdout" |
      curl -sS -T - --location-trusted -u "root:$4" -H "Expect: 100-continue" -H "label: $5" \
        -H "format: csv" -H "column_separator: \t" \
        "http://127.0.0.1:$6/api/db/t/_stream_load"' _ \
    "$host" "$port" "$user" "$pw" "$label" "$FE_PORT" >"$scratch/answer.json" ||
    fail "the pipeline failed: $(cat "$scratch/answer.json")"
  wall=$(awk -v a="$t0" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}')
  grep -q '"Status": "Success"' "$scratch/answer.json" || fail "pipeline load: $(cat "$scratch/answer.json")"
  grep -q "\"NumberLoadedRows\": $rows," "$scratch/answer.json" ||
    fail "pipeline loaded other than $rows rows: $(cat "$scratch/answer.json")"
  cpu=$(awk '{printf "%.2f", $1 + $2}' "$scratch/ptime.txt")
}

echo "== runs: $(nproc) cores, load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A ratios walls cpus rsss ab_wall ab_cpu
pipe_walls=()
for i in $(seq "$runs"); do
  line="round $i:"
  declare -A w=()
  for n in $jobs_list; do
    if [ -n "$base_bin" ]; then
      ours "$n" "$i.$n.base" "$base_bin"
      bw=$wall bc=$cpu
    fi
    ours "$n" "$i.$n"
    if [ -n "$base_bin" ]; then
      ab_wall[$n]+="$(ratio "$wall" "$bw") "; ab_cpu[$n]+="$(ratio "$cpu" "$bc") "
      line+=" base --jobs $n ${bw}s (cpu ${bc}s);"
    fi
    w[$n]=$wall
    walls[$n]+="$wall "; cpus[$n]+="$cpu "; rsss[$n]+="$rss_mib "
    line+=" uringmig --jobs $n ${wall}s (cpu ${cpu}s, rss ${rss_mib} MiB, $chunks loads);"
  done
  pipeline "$i"
  pipe_walls+=("$wall")
  line+=" pipeline ${wall}s (psql+curl cpu ${cpu}s)"
  for n in $jobs_list; do
    r=$(awk -v a="${w[$n]}" -v b="$wall" 'BEGIN {printf "%.3f", a / b}')
    ratios[$n]+="$r "
    line+="; ratio j$n $r"
  done
  echo "$line"
done

echo "== summary ($rows rows, $(awk -v b="$copy_bytes" 'BEGIN {printf "%.0f", b / 1e6}') MB COPY text, load average now: $(cut -d' ' -f1-3 /proc/loadavg))"
echo "pipeline median wall: $(printf '%s\n' "${pipe_walls[@]}" | median)s"
for n in $jobs_list; do
  mw=$(printf '%s\n' ${walls[$n]} | median)
  mr=$(printf '%s\n' ${ratios[$n]} | median)
  mc=$(printf '%s\n' ${cpus[$n]} | median)
  maxrss=$(printf '%s\n' ${rsss[$n]} | sort -g | tail -1)
  echo "uringmig --jobs $n: median wall ${mw}s, median ratio uringmig / pipeline $mr (goal <= 0.70)"
  awk -v c="$mc" -v r="$rows" -v m="$maxrss" 'BEGIN {
    printf "  cpu %.2f s per million rows (median user+sys), peak RSS %.1f MiB (goal <= 256)\n", c / (r / 1e6), m }'
done

if [ -n "$base_bin" ]; then
  for n in $jobs_list; do
    echo "A/B --jobs $n, this tree / $BASE: median wall ratio $(printf '%s\n' ${ab_wall[$n]} | median), median CPU ratio $(printf '%s\n' ${ab_cpu[$n]} | median)"
  done
fi

if [ "${PERF:-0}" = 1 ]; then
  n=${jobs_list%% *}
  data=${PERF_DATA:-$scratch/perf.data}
  echo "== perf record -a -g: one uringmig run, --jobs $n (system wide: PostgreSQL and the double too)"
  perf record -q -a -g -o "$data" -- "$bin" run --source "$src_url" --target "$target" \
    --state-dir "$scratch/state.perf" --jobs "$n" --log-level warn >/dev/null 2>"$scratch/perf.err" ||
    { cat "$scratch/perf.err" >&2; fail "uringmig run under perf failed"; }
  report() { perf report -i "$data" --no-children -g none --stdio "$@" 2>/dev/null | grep -v '^#' | grep -v '^$' || true; }
  echo "-- samples by command"
  report --sort comm | head -8
  echo "-- uringmig: top symbols (self)"
  report --comm uringmig --sort dso,sym | head -25
fi
