#!/usr/bin/env bash
# uses-fixture: pg
# Several uringmig processes (standing in for hosts) on one bulk job through a shared state
# (--state-url): three workers clone identically, each chunk done once; a worker killed
# mid-chunk has its chunk taken again after its lease; the coordinator killed stops a worker
# (one clear line) while one with --allow-inconsistent goes on; a worker whose definition
# differs is refused (exit 2, naming the difference); `status --state-url --json` and the HTTP
# status document list the workers, alive or dead, with the chunks each holds and did.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/pg.sh"
. "$here/lib/hold.sh"
. "$here/lib/http.sh"
src=workers_src_$$
state=workers_state_$$
new_db "$src"
new_db "$state"
psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
create table keyed (id bigint primary key, v text);
insert into keyed select g, repeat('v', 80) || g from generate_series(1, 80000) g;
create index keyed_v on keyed (v);
-- Scenario 4's gate: on the target, the rows 2000 and 14000 go in only while the test does not
-- hold advisory lock 4343 there (their chunks wait; the others do not).
create function gate() returns bool language plpgsql as
  $$ begin perform pg_advisory_xact_lock_shared(4343); return true; end $$;
alter table keyed add constraint keyed_gate check (id not in (2000, 14000) or gate());
create table keyless (a int, b text);
insert into keyless select g % 100, repeat('w', 80) from generate_series(1, 20000) g;
create table other (id int primary key);
insert into other select generate_series(1, 1000);
create sequence counter start 42;
analyze;
SQL
printf '[copy]\nchunk_size = "128kB"\n[state]\nlease_s = 2\n' >"$work/job.toml"
# Workers that die (as kill -9 does) in the middle of their 3rd chunk; the coordinator of
# scenario 3 in its 10th, once three workers are in.
printf '[copy]\nchunk_size = "128kB"\n[copy.debug]\nexit_mid_chunk = 3\n[state]\nlease_s = 2\n' \
  >"$work/dies3.toml"
printf '[copy]\nchunk_size = "128kB"\n[copy.debug]\nexit_mid_chunk = 10\nwait_workers = 3\n[state]\nlease_s = 2\n' \
  >"$work/dies10.toml"
# Scenario 4: bigger chunks (fewer to copy while one worker is left).
printf '[copy]\nchunk_size = "512kB"\n[state]\nlease_s = 2\n' >"$work/big.toml"
table_sums "$src" >"$work/src.sums"
q() { psql -qXAt -d "$state" -c "$1" 2>/dev/null || echo 0; }
worker() {  # name target job config extra...: in the background, pid in $pid
  local name=$1 db=$2 job=$3 cfg=$4; shift 4
  "$bin" run --preset bulk --config "$cfg" --jobs 1 --index-jobs 1 --log-level info \
    --source "$(url "$src")" --target "$(url "$db")" --state-dir "$work/dir_$name" \
    --state-url "$(tcp_url "$state")" --job "$job" "$@" >"$work/$name.out" 2>"$work/$name.err" &
  pid=$!
}
wait_for() {  # sql pid: until the state query prints t (the process still alive)
  for _ in $(seq 300); do
    [ "$(q "$1")" = t ] && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}
ready() { echo "select exists (select 1 from uringmig_state.kv where job = '$1' and key = 'workers.ready')"; }
same_as_source() {  # db what
  table_sums "$1" >"$work/$1.sums"
  diff "$work/src.sums" "$work/$1.sums" >/dev/null || fail "$2: the target differs from the source"
  [ "$(psql -qXAt -d "$1" -c "select last_value from counter")" = 42 ] || fail "$2: sequence not set"
}
exactly_once() {  # db job what
  local planned
  planned=$(q "select count(*) from uringmig_state.chunk where job = '$2'")
  [ "$(q "select count(*) from uringmig_state.chunk where job = '$2' and status = 'done'")" = "$planned" ] ||
    fail "$3: chunks not done in the state"
  [ "$(psql -qXAt -d "$1" -c "select count(*) from uringmig.chunk_done")" = "$planned" ] ||
    fail "$3: the target's done marks differ from the $planned planned chunks"
  [ "$(q "select count(*) from uringmig_state.job_index where job = '$2' and status = 'done'")" = 3 ] ||
    fail "$3: the state does not record the three indexes as built"
}

# 1. Three copies of one command: one plans, all copy, identical result, each chunk once,
#    each table finished (indexes) by one worker.
d1=workers_d1_$$; new_db "$d1"
worker a "$d1" one "$work/job.toml"; pa=$pid
worker b "$d1" one "$work/job.toml"; pb=$pid
worker c "$d1" one "$work/job.toml"; pc=$pid
for p in $pa $pb $pc; do wait "$p" || fail "scenario 1: a worker exited $?: $(tail -n 3 "$work"/[abc].err)"; done
same_as_source "$d1" "three workers"
exactly_once "$d1" one "three workers"
[ "$(q "select count(distinct done_by) from uringmig_state.chunk where job = 'one'")" -ge 2 ] ||
  fail "three workers: the chunks were not shared"
[ "$(cat "$work"/[abc].err | grep -c 'table public.keyed done')" = 1 ] ||
  fail "three workers: public.keyed was finished $(cat "$work"/[abc].err | grep -c 'table public.keyed done') times"
[ "$(cat "$work"/[abc].err | grep -c 'coordinating job')" = 1 ] || fail "three workers: not one coordinator"

# 2. A worker killed mid-chunk (the debug hook exits as kill -9 does): its chunk is taken again
#    once its lease runs out; the job ends identical.
d2=workers_d2_$$; new_db "$d2"
worker a2 "$d2" two "$work/job.toml"; pa=$pid
wait_for "$(ready two)" "$pa" || fail "scenario 2: the coordinator published no plan"
worker b2 "$d2" two "$work/dies3.toml"; pb=$pid
worker c2 "$d2" two "$work/job.toml"; pc=$pid
rc=0; wait "$pb" || rc=$?
[ "$rc" = 137 ] || fail "scenario 2: the dying worker exited $rc: $(tail -n 3 "$work/b2.err")"
for p in $pa $pc; do wait "$p" || fail "scenario 2: a worker exited $?: $(tail -n 3 "$work"/[ac]2.err)"; done
grep -q "taken again" "$work/a2.err" "$work/c2.err" || fail "scenario 2: no chunk was taken again"
same_as_source "$d2" "worker killed"
exactly_once "$d2" two "worker killed"

# 3. The coordinator killed mid-copy (in its 10th chunk): a worker without --allow-inconsistent
#    stops with one line; one with it goes on under fresh snapshots and says so. A worker of
#    another definition, started while the job runs, is refused.
d3=workers_d3_$$; new_db "$d3"
worker p1 "$d3" three "$work/dies10.toml"; p1=$pid
wait_for "select exists (select 1 from uringmig_state.kv where job = 'three' and key = 'workers.coordinator')" "$p1" ||
  fail "scenario 3: no coordinator"
# The coordinator waits for three live workers: it is alive while this one is refused.
expect_exit 2 "$bin" run --preset bulk --config "$work/job.toml" --source "$(url "$src")" \
  --target "$(url "$d3")" --state-dir "$work/dir_x3" --state-url "$(tcp_url "$state")" \
  --job three --exclude public.other
grep -q "^uringmig: this worker's --exclude (public.other) differs" "$work/err" ||
  fail "another definition: $(tail -n 1 "$work/err")"
worker p2 "$d3" three "$work/job.toml"; p2=$pid
worker p3 "$d3" three "$work/job.toml" --allow-inconsistent; p3=$pid
rc=0; wait "$p1" || rc=$?
[ "$rc" = 137 ] || fail "scenario 3: the coordinator exited $rc: $(tail -n 1 "$work/p1.err")"
grep -q "coordinating job" "$work/p1.err" || fail "scenario 3: the first worker did not coordinate"
rc=0; wait "$p2" || rc=$?
[ "$rc" = 1 ] || fail "scenario 3: the consistent worker exited $rc"
grep -q "^uringmig: the coordinator of job .* ended and its exported snapshot with it" "$work/p2.err" ||
  fail "scenario 3: no clear stop: $(tail -n 1 "$work/p2.err")"
wait "$p3" || fail "scenario 3: the --allow-inconsistent worker exited $?: $(tail -n 1 "$work/p3.err")"
grep -q "snapshot: not consistent" "$work/p3.out" || fail "scenario 3: the summary does not say not consistent"
same_as_source "$d3" "coordinator killed"

# 4. What `status --state-url` and the HTTP API show of the workers. Worker a4 (alone, so it
#    takes the chunks in plan order) waits at the gate in the chunk of row 2000; b4 joins, copies
#    the chunks after it and waits in the chunk of row 14000. Both are listed alive, each with the
#    chunk it waits in; b4 killed (-9) is listed dead, still holding its lease (a4 cannot take
#    it: it waits too); once the gate opens, a4 takes the rest and b4's chunk, and the chunks
#    the workers did add up to the plan.
d4=workers_d4_$$; new_db "$d4"
hold gate "$d4" "select pg_advisory_lock(4343);"
waiting() { echo "select count(*) >= $1 from $locks l where locktype = 'advisory' and not granted"; }
status4() {  # file: status --json of job four
  "$bin" status --state-url "$(tcp_url "$state")" --job four --state-dir "$work/dir_s4" --json \
    >"$work/$1" 2>"$work/$1.err" || fail "status --state-url: $(cat "$work/$1.err")"
}
chunk_of() {  # id: the chunk of keyed that holds it
  q "select chunk_no from uringmig_state.chunk where job = 'four' and name = 'keyed' and
     coalesce(lower::bigint, 0) <= $1 and (upper is null or $1 < upper::bigint)"
}
worker a4 "$d4" four "$work/big.toml" --http 127.0.0.1:0; pa=$pid
wait_true "$d4" "$(waiting 1)" || fail "scenario 4: a4 never reached the gate: $(tail -n 2 "$work/a4.err")"
worker b4 "$d4" four "$work/big.toml"; pb=$pid
wait_true "$d4" "$(waiting 2)" || fail "scenario 4: b4 never reached the gate: $(tail -n 2 "$work/b4.err")"
ca=$(chunk_of 2000); cb=$(chunk_of 14000)
[ $((ca + 1)) -lt "$cb" ] || fail "scenario 4: rows 2000 and 14000 are in chunks $ca and $cb: b4 copies none before its gate"
status4 st1.json
jq -e --argjson pa "$pa" --argjson pb "$pb" --argjson ca "$ca" --argjson cb "$cb" '
  (.workers | length) == 2 and all(.workers[]; .alive and .state == "alive" and .host != "")
  and (.workers[] | select(.pid == $pa) | [.leases[] | [.name, .chunk_no]]) == [["keyed", $ca]]
  and (.workers[] | select(.pid == $pb) | [.leases[] | [.name, .chunk_no]]) == [["keyed", $cb]]
  and (.workers[] | select(.pid == $pb) | .chunks_done >= 1 and .rows > 0)
  and (.workers[] | select(.pid == $pa) | .name | test("^r[0-9]+@.+:[0-9]+$"))' "$work/st1.json" >/dev/null ||
  fail "scenario 4: status does not list both workers alive with their chunks: $(jq -c .workers "$work/st1.json")"
"$bin" status --state-url "$(tcp_url "$state")" --job four --state-dir "$work/dir_s4" >"$work/st1.txt" 2>&1
grep -q "^workers (2 alive of 2)" "$work/st1.txt" || fail "scenario 4: status prints no workers: $(cat "$work/st1.txt")"
port=$(served_port "$work/a4.err" "$pa") || fail "scenario 4: a4 serves no HTTP API"
wait_api "$pa" '(.workers | length) == 2 and all(.workers[]; .alive)' ||
  fail "scenario 4: /api/v1/status lists no live workers: $(jq -c .workers "$work/status.json")"
$probe validate "$status_schema" "$work/status.json" || fail "scenario 4: the status document does not fit its schema"
kill -9 "$pb"; wait "$pb" 2>/dev/null || true
status4 st2.json
jq -e --argjson pa "$pa" --argjson pb "$pb" --argjson cb "$cb" '
  (.workers[] | select(.pid == $pa) | .alive)
  and (.workers[] | select(.pid == $pb) | (.alive | not) and .state == "dead"
       and ([.leases[] | [.name, .chunk_no]] == [["keyed", $cb]]))' "$work/st2.json" >/dev/null ||
  fail "scenario 4: status does not show b4 dead with its lease: $(jq -c .workers "$work/st2.json")"
wait_api "$pa" "any(.workers[]; .pid == $pb and .state == \"dead\" and (.leases | length) == 1)" ||
  fail "scenario 4: /api/v1/status does not show b4 dead: $(jq -c .workers "$work/status.json")"
$probe validate "$status_schema" "$work/status.json" || fail "scenario 4: the status document does not fit its schema"
# The dashboard page in headless Chromium: its workers table, b4 dead.
timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --disable-default-apps --user-data-dir="$work/chromium" --window-size=1280,900 \
  --virtual-time-budget=4000 --dump-dom "http://127.0.0.1:$port/" >"$work/page.html" \
  2>"$work/page.log" || fail "scenario 4: chromium failed: $(tail -n 3 "$work/page.log")"
python3 - "$work/page.html" >"$work/page.rows" <<'PY'
import html.parser, sys
class rows(html.parser.HTMLParser):
    inside, row, out = False, None, []
    def handle_starttag(self, tag, attrs):
        if tag == "tbody" and ("id", "workers") in attrs: self.inside = True
        elif tag == "tr" and self.inside: self.row = []
    def handle_endtag(self, tag):
        if tag == "tbody": self.inside = False
        elif tag == "tr" and self.row is not None: self.out.append(" | ".join(self.row)); self.row = None
    def handle_data(self, data):
        if self.row is not None and data.strip(): self.row.append(data.strip())
p = rows(); p.feed(open(sys.argv[1]).read()); print("\n".join(p.out))
PY
[ "$(grep -c ' | alive | ' "$work/page.rows")" = 1 ] && [ "$(grep -c ' | dead | ' "$work/page.rows")" = 1 ] &&
  grep -q ":$pb | dead | .*public.keyed #$cb" "$work/page.rows" ||
  fail "scenario 4: the dashboard's workers table: $(cat "$work/page.rows")"
release gate
wait "$pa" || fail "scenario 4: a4 exited $?: $(tail -n 3 "$work/a4.err")"
grep -q "taken again" "$work/a4.err" || fail "scenario 4: a4 did not take b4's chunk again"
status4 st3.json
planned=$(q "select count(*) from uringmig_state.chunk where job = 'four'")
jq -e --argjson n "$planned" --argjson pa "$pa" --argjson pb "$pb" '
  ([.workers[].chunks_done] | add) == $n and .totals.chunks_done == $n
  and (.workers[] | select(.pid == $pa) | .state == "done" and .leases == [])
  and (.workers[] | select(.pid == $pb) | .state == "dead" and .leases == [])' "$work/st3.json" >/dev/null ||
  fail "scenario 4: the workers' chunks do not add up to the $planned planned: $(jq -c .workers "$work/st3.json")"
timeout 60 "$bin" top --state-url "$(tcp_url "$state")" --job four --state-dir "$work/dir_s4" \
  >"$work/top.out" 2>&1 || fail "scenario 4: top --state-url: $(tail -n 2 "$work/top.out")"
grep -q "chunks $planned/$planned" "$work/top.out" && tail -n 1 "$work/top.out" | grep -q "^job " ||
  fail "scenario 4: top --state-url: $(cat "$work/top.out")"
same_as_source "$d4" "status of workers"
exactly_once "$d4" four "status of workers"
finish bulk_workers
