#!/usr/bin/env bash
# uses-fixture: pg
# Several uringmig processes (standing in for hosts) on one incremental PostgreSQL -> Doris job
# (the Stream Load double) through a shared state (--state-url): three workers share the chunks
# of the window one of them (the coordinator) opened; the double's table equals the source,
# every chunk is done once in the state and loaded once under its label, the mark (a kv entry of
# the state) moves once, by the one worker that finishes the table. A second window with
# updates and reconcile deletes: the first chunk's load is held by the double and its worker
# killed (kill -9); another worker takes the chunk again after the 1 s lease, finds its label
# loaded once the hold ends, and the job ends identical with the mark moved once.
# shellcheck disable=SC1091
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
. "$(dirname "${BASH_SOURCE[0]}")/lib/doris.sh"
src=incdw_src_$$
state=incdw_state_$$
new_db "$src"
new_db "$state"
psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
create table items (id int primary key, v text, ts timestamp);
insert into items select g, 'v' || g, timestamp '2024-01-01 00:00:00' + g * interval '1 ms'
  from generate_series(1, 6000) g;
SQL
start_double dd --password pw --table 'dw.items=3:id,v,ts:unique:1'
cat >job.toml <<EOF
source = "$(url "$src")"
target = "doris://root:pw@127.0.0.1:$FE_PORT/dw"
preset = "incremental"
[incremental]
chunk_rows = 1000
[doris]
backoff_ms = 10
[state]
lease_s = 1
[copy.debug]
wait_workers = 3
[[tables]]
source = "public.items"
target = "items"
key = ["id"]
watermark = "ts"
chunk_by = "id"
deletes = "reconcile"
EOF
q() { psql -qXAt -d "$state" -c "$1"; }
worker() {  # name N/M: in the background, pid in $pid
  "$bin" run --config job.toml --jobs 1 --state-dir "$work/sd_$1" --state-url "$(tcp_url "$state")" \
    --job dw --worker "$2" >"$work/$1.out" 2>"$work/$1.err" &
  pid=$!
}
mark() { q "select value from uringmig_state.kv where job = 'dw' and key = 'incremental.mark.dw.items'"; }
stats() { curl -sf "http://127.0.0.1:$FE_PORT/_double/stats"; }
poll() {  # CMD...: true once CMD succeeds (bounded: 30 s)
  local i
  for i in $(seq 600); do
    "$@" && return 0
    sleep 0.05
  done
  return 1
}
# round label want_mark logs...: the checks every window makes once its workers are done.
round() {
  local label=$1 want=$2 planned done sharers
  shift 2
  expected_rows "$src" "select * from items" >want
  recorded_rows dd/rec/dw.items.tsv >got
  cmp -s want got || fail "$label: the double's table differs from the source: $(diff want got | head -3)"
  IFS='|' read -r planned done sharers <<<"$(q "select count(*), count(*) filter (where status =
    'done'), count(distinct done_by) from uringmig_state.chunk where job = 'dw'")"
  [ "$planned" -ge 3 ] || fail "$label: $planned chunk(s) planned, expected several"
  [ "$done" = "$planned" ] || fail "$label: $done of $planned chunks done in the state"
  [ "$sharers" -ge 2 ] || fail "$label: the chunks were not shared"
  [ "$(mark)" = "$want" ] || fail "$label: mark '$(mark)', expected '$want'"
  [ -z "$(q "select value from uringmig_state.kv where job = 'dw' and key = 'incremental.doris.window.dw.items'")" ] ||
    fail "$label: the window is still open"
  [ "$(cat "$@" | grep -c 'coordinating job')" = 1 ] || fail "$label: not one coordinator"
  [ "$(cat "$@" | grep -c 'dw.items: finished by worker')" = 1 ] ||
    fail "$label: the table not finished once: $(cat "$@" | grep 'finished by' || true)"
}

# 1. Three copies of one command: one coordinates (opens the window), all share the chunks;
#    each chunk's label is loaded once.
worker a 1/3; pa=$pid
worker b 2/3; pb=$pid
worker c 3/3; pc=$pid
for p in $pa $pb $pc; do wait "$p" || fail "round 1: a worker exited $?: $(tail -n 2 "$work"/[abc].err)"; done
round "round 1" "2024-01-01 00:00:06" a.err b.err c.err
grep -q "dw.items: .* rows read, .* (this worker's chunks)" a.out || fail "round 1: no summary: $(cat a.out)"
loads=$(stats | grep -o '"uringmig_inc_[^"]*":[0-9]*')
[ "$(grep -c . <<<"$loads")" -ge 3 ] || fail "round 1: expected several labels: $loads"
grep -qv ':1$' <<<"$loads" && fail "round 1: a label loaded more than once: $loads"
# From here on a trigger counts the mark's writes.
psql -qX -v ON_ERROR_STOP=1 -d "$state" <<'SQL'
create table mark_moves (value text);
create function mark_moved() returns trigger language plpgsql as
  $$begin insert into public.mark_moves values (new.value); return new; end$$;
create trigger mark_moved after insert or update on uringmig_state.kv for each row
  when (new.key = 'incremental.mark.dw.items') execute function mark_moved();
SQL

# 2. A third of the rows change and 1 in 50 are deleted (reconcile). The first load of the
#    window is held by the double; its worker is killed; the chunk is taken again after the
#    lease and, once the hold ends, found loaded under its label.
psql -qX -v ON_ERROR_STOP=1 -d "$src" -c "update items set v = v || '!', ts = ts + interval '1 day' where id % 3 = 0" \
  -c "delete from items where id % 50 = 0"
fault hold 1 "bytes=0&delay_ms=60000"
worker d 1/3; pd=$pid
worker e 2/3; pe=$pid
worker f 3/3; pf=$pid
held_label() { stats | grep -o '"held":\["uringmig_inc_[^"]*' | sed 's/.*\["//'; }
held() { [ -n "$(held_label)" ]; }
poll held || fail "round 2: no load was held"
label=$(held_label)
victim=$(q "select substring(leased_by from ':([0-9]+)') from uringmig_state.chunk where job = 'dw'
  and status = 'pending' and chunk_no = ${label##*_}")
[ -n "$victim" ] || fail "round 2: no worker holds chunk ${label##*_}"
kill -9 "$victim"
poll grep -q "still running" d.err e.err f.err || fail "round 2: the held chunk was not taken again"
grep -q "taken again" d.err e.err f.err || fail "round 2: no 'taken again' line"
[ "$(mark)" = "2024-01-01 00:00:06" ] || fail "round 2: the mark moved ahead of the data: $(mark)"
curl -sf -X POST "http://127.0.0.1:$FE_PORT/_double/release" >/dev/null
for p in $pd $pe $pf; do
  rc=0; wait "$p" || rc=$?
  if [ "$p" = "$victim" ]; then
    [ "$rc" = 137 ] || fail "round 2: the killed worker exited $rc"
  else
    [ "$rc" = 0 ] || fail "round 2: a worker exited $rc: $(tail -n 2 "$work"/[def].err)"
  fi
done
round "round 2" "2024-01-02 00:00:05.997" d.err e.err f.err
grep -q "was loaded by an earlier attempt" d.err e.err f.err || fail "round 2: the held label was not found loaded"
[ "$(psql -qXAt -d "$state" -c "select count(*) || ' ' || max(value) from mark_moves")" = "1 2024-01-02 00:00:05.997" ] ||
  fail "round 2: the mark's writes: $(psql -qXAt -d "$state" -c "select * from mark_moves")"
[ "$(stats | grep -o "\"$label\":[0-9]*")" = "\"$label\":2" ] ||
  fail "round 2: the held label: $(stats | grep -o "\"$label\":[0-9]*")"
finish incremental_doris_workers
