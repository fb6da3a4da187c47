#!/usr/bin/env bash
# CDC apply, CPU per change as instruction counts: a repeatable figure on a shared, loaded machine
# (wall-clock times there are noise). Per workload, a fixed backlog is written on a source
# database by one psql session (the same statements every run), then `uringmig follow` catches it
# up under `valgrind --tool=callgrind` and is stopped (SIGTERM) once the target shows the
# backlog's marker row. Each workload is measured twice: a baseline whose backlog is the marker
# alone (start-up, catalog questions, the stop), then the workload. Printed: the changes the
# follower applied, both instruction totals and (workload - baseline) / changes, the
# instructions per change of the decode -> SQL -> libpq path (the kernel's part of socket I/O
# is not counted: callgrind sees user space only).
# Workloads (WORKLOADS, default "inserts updates mixed"; ROWS scales them, default 20000):
# - inserts: ROWS rows in ROWS/100 transactions of 100 rows;
# - updates: a table of ROWS rows, ROWS/100 transactions each updating 100 consecutive ids;
# - mixed:   a keyed table (ROWS rows) and a keyless REPLICA IDENTITY FULL one (2 000 rows, 20 per
#   value of g), ROWS/20 transactions cycling through: a 20-row keyless update, a keyless insert
#   and delete, an upsert, a key change, a delete, a rolled-back transaction.
# APPLY_WORKERS (default 2, as uringmig). KEEP=DIR keeps the callgrind outputs there (for
# callgrind_annotate). PRESET (default release).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. perf/lib.sh
rows=${ROWS:-20000}
workers=${APPLY_WORKERS:-2}
workloads=${WORKLOADS:-inserts updates mixed}
for w in $workloads; do
  case $w in inserts | updates | mixed) ;;
    *) echo "WORKLOADS: a list of inserts, updates, mixed" >&2; exit 2 ;;
  esac
done
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 2; }

scripts/setup-deps.sh
preset=${PRESET:-release}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_NOHASHDIR=1
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" --target uringmig pg_fixture -j"$(nproc)" >/dev/null
bin=$PWD/build/$preset/uringmig
fixture=$PWD/build/$preset/tests/pg_fixture

bench_two_clusters "$fixture"
conf=$scratch/apply.toml
printf '[online]\napply_workers = %s\n' "$workers" >"$conf"
marker_table="create table marker (id int primary key, note text); insert into marker values (1, '')"

# setup_W DB: the workload's tables; script_W FILE: its statements (one psql session, autocommit).
setup_inserts() {
  spsql -d "$1" -c "create table t (id int primary key, v int not null, filler text); $marker_table"
}
script_inserts() {
  awk -v n="$rows" 'BEGIN { for (s = 1; s <= n; s += 100)
    printf "insert into t select g, 0, repeat(%s, 80) from generate_series(%d, %d) g;\n", "'"'y'"'", s, s + 99 }' >"$1"
}
setup_updates() {
  spsql -d "$1" -c "create table t (id int primary key, v int not null, filler text);
    insert into t select g, 0, repeat('x', 80) from generate_series(1, $rows) g; $marker_table"
}
script_updates() {  # 100 consecutive ids from a fixed pseudo-random start
  awk -v n="$rows" 'BEGIN { top = n > 100 ? n - 99 : 1; for (k = 0; k < n / 100; k++) {
    s = (k * 7919) % top + 1; printf "update t set v = v + 1 where id between %d and %d;\n", s, s + 99 } }' >"$1"
}
setup_mixed() {
  spsql -d "$1" -c "create table acct (id bigint primary key, bal int not null, note text);
    insert into acct select g, 0, 'n' || g from generate_series(1, $rows) g;
    create sequence moved_ids start 10000000;
    create table kl (g int, n int, pad text); alter table kl replica identity full;
    insert into kl select g % 100, 0, repeat('p', 40) from generate_series(1, 2000) g;
    $marker_table"
}
script_mixed() {
  awk -v n="$rows" 'BEGIN { for (k = 0; k < n / 20; k++) {
    g = (k * 37) % 100; id = (k * 7919) % (2 * n) + 1; c = k % 6
    if (c == 0) printf "update kl set n = n + 1 where g = %d;\n", g
    if (c == 1) printf "insert into kl values (%d, 0, %s); delete from kl where ctid = (select ctid from kl where g = %d limit 1);\n", g, "'"'new'"'", (g + 1) % 100
    if (c == 2) printf "insert into acct values (%d, 1, %s) on conflict (id) do update set bal = acct.bal + 1;\n", id, "'"'up'"'"
    if (c == 3) printf "update acct set id = nextval(%s) where id = %d;\n", "'"'moved_ids'"'", id % n + 1
    if (c == 4) printf "delete from acct where id = %d;\n", id
    if (c == 5) printf "begin; update kl set n = n - 1 where g = %d; update acct set bal = bal - 1 where id = %d; rollback;\n", g, id % n + 1
  } }' >"$1"
}

wait_marker() {  # db note: polls until the marker shows `note` on the target
  for _ in $(seq 1 36000); do
    [ "$(tpsql -d "$1" -Atc "select note from marker where id = 1")" = "$2" ] && return 0
    kill -0 "$fpid" 2>/dev/null || { echo "uringmig follow ended early:" >&2; grep -v "^==" "$scratch/follow.err" | tail -5 >&2; exit 1; }
    sleep 0.1
  done
  echo "$1: not caught up after an hour" >&2; exit 1
}
# measure NAME: `uringmig follow` under callgrind until the marker says NAME; sets `instr` and
# `changes`.
measure() {
  local out=$scratch/callgrind.$w.$1
  spsql -d "$db" -c "update marker set note = '$1' where id = 1"
  valgrind --tool=callgrind --callgrind-out-file="$out" --dump-instr=no \
    "$bin" follow --config "$conf" --source "$src_url" --target "$ours_url" \
    --state-dir "$st" --log-level info >"$scratch/follow.out" 2>"$scratch/follow.err" &
  fpid=$!
  wait_marker "$ours" "$1"
  kill -TERM "$fpid"
  wait "$fpid" || true
  fpid=
  instr=$(awk '/^(summary|totals):/ {print $2; exit}' "$out")
  changes=$(grep -o 'follow: applied up to [^:]*: [0-9]* transactions, [0-9]* changes' "$scratch/follow.err" |
    tail -1 | awk '{print $(NF - 1)}')
  groups=$(grep -o 'in [0-9]* target transactions' "$scratch/follow.err" | tail -1 | awk '{print $2}')
  [ -n "${KEEP:-}" ] && mkdir -p "$KEEP" && cp "$out" "$KEEP/"
  return 0
}

results=()
for w in $workloads; do
  echo "== $w: setting up"
  db=cg_$w ours=cg_ours_$w st=$scratch/st_$w
  spsql -d postgres -c "create database $db"
  "setup_$w" "$db"
  src_url="postgresql://$suser@/$db?host=$shost&port=$sport"
  ours_url="postgresql://$tuser@/$ours?host=$thost&port=$tport"
  tpsql -d postgres -c "create database $ours"
  bench_online_to_follow "$conf" "$src_url" "$ours_url" "$st"

  measure base
  base_instr=$instr
  "script_$w" "$scratch/$w.sql"
  spsql -d "$db" -f "$scratch/$w.sql" >/dev/null
  echo "== $w: $(wc -l <"$scratch/$w.sql") statements written; catching up under callgrind"
  measure done
  local_tables=t
  [ "$w" = mixed ] && local_tables="acct kl"
  for tb in $local_tables; do
    q="select count(*), md5(string_agg(x::text, '|' order by x::text)) from $tb x"
    [ "$(spsql -d "$db" -Atc "$q")" = "$(tpsql -d "$ours" -Atc "$q")" ] ||
      { echo "$w: table $tb differs on the target" >&2; exit 1; }
  done
  results+=("$w $changes $groups $base_instr $instr")
done

echo
echo "== apply workers $workers, ROWS $rows, $(valgrind --version), $(git rev-parse --short HEAD)"
printf '%-8s %8s %7s %14s %14s %12s\n' workload changes groups baseline workload "instr/change"
for r in "${results[@]}"; do
  # shellcheck disable=SC2086
  set -- $r
  awk -v w="$1" -v c="$2" -v g="$3" -v b="$4" -v i="$5" 'BEGIN {
    printf "%-8s %8d %7d %14d %14d %12.0f\n", w, c, g, b, i, (c > 0 ? (i - b) / c : 0)}'
done
