#!/usr/bin/env bash
# uses-fixture: pg
# An incremental load into Doris killed with -9 while a chunk's load is in Doris (the double
# holds it before its commit, the label RUNNING): the mark stays where it was (the state store
# moves it only once every chunk of the window is in); the held load then commits on its own;
# the same command finds that label FINISHED (loaded once, not twice), loads the rest, and the
# double's table equals the source with the mark at the source's largest value. The next
# window is killed the same way and resumed while its held load is still RUNNING: the resumed
# run asks the FE until the label settles and never sends those rows meanwhile.
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
. "$(dirname "${BASH_SOURCE[0]}")/lib/doris.sh"
src=incr_doris_kill_$$
new_db "$src"
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
jobs = 1
[incremental]
chunk_rows = 1000
[doris]
backoff_ms = 10
[[tables]]
source = "public.items"
target = "items"
key = ["id"]
watermark = "ts"
chunk_by = "id"
EOF
same() {
  expected_rows "$src" "select * from items" >want
  recorded_rows dd/rec/dw.items.tsv >got
  cmp -s want got || fail "$1: the double's table differs from the source: $(diff want got | head -3)"
}
mark() { sqlite3 "$work/state/state.db" "select value from kv where key = 'incremental.mark.dw.items'"; }
held() { curl -sf "http://127.0.0.1:$FE_PORT/_double/stats" | grep -o '"held":\[[^]]*\]'; }
kill_while_held() {  # label: runs, waits until its load is held, kills -9
  "$bin" run --config job.toml --state-dir "$work/state" >"$work/run.out" 2>&1 &
  local pid=$! i
  for i in $(seq 1 600); do
    held | grep -q uringmig_inc && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  held | grep -q uringmig_inc || fail "$1: no load was held: $(cat "$work/run.out")"
  kill -9 "$pid"
  wait "$pid" 2>/dev/null || true
}

# Window 1: the first chunk's load is held before its commit, and the run killed.
fault hold 1 "bytes=0&delay_ms=60000"
kill_while_held "run 1"
[ -z "$(mark)" ] || fail "run 1: the mark moved ($(mark)) before every chunk was in"
curl -sf -X POST "http://127.0.0.1:$FE_PORT/_double/release" >/dev/null
expect_exit 0 "$bin" run --config job.toml --state-dir "$work/state"
cat "$work/stdout"
same "after kill -9 and resume"
[ "$(mark)" = "2024-01-01 00:00:06" ] || fail "resumed run: mark '$(mark)'"
grep -q "was loaded by an earlier attempt" "$work/err" || fail "the held label was not found FINISHED: $(cat "$work/err")"

# Window 2: 500 rows change; the load is held and the run killed; the same command runs while
# the held load is still RUNNING, and the double lets it go once the new run waits on it.
psql -qX -v ON_ERROR_STOP=1 -d "$src" -c "update items set v = 'w' || id, ts = timestamp '2024-02-01' + id * interval '1 ms' where id % 12 = 0"
fault hold 1 "bytes=0&delay_ms=60000"
kill_while_held "run 2"
[ "$(mark)" = "2024-01-01 00:00:06" ] || fail "run 2: the mark moved ($(mark)) before its window was in"
"$bin" run --config job.toml --state-dir "$work/state" >"$work/run3.out" 2>&1 &
pid=$!
for i in $(seq 1 600); do
  grep -q "still running" "$work/run3.out" && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05
done
grep -q "still running" "$work/run3.out" || fail "the resumed run did not wait for the RUNNING label: $(cat "$work/run3.out")"
curl -sf -X POST "http://127.0.0.1:$FE_PORT/_double/release" >/dev/null
rc=0
wait "$pid" || rc=$?
[ "$rc" = 0 ] || fail "the resumed run exited $rc: $(cat "$work/run3.out")"
same "window 2 after kill -9 and resume"
[ "$(mark)" = "2024-02-01 00:00:06" ] || fail "window 2: mark '$(mark)'"
finish incremental_doris_kill
