#!/usr/bin/env bash
# uses-fixture: pg
# Several uringmig processes (standing in for hosts) on one PostgreSQL -> Doris job (the Stream
# Load double) through a shared state (--state-url): the rows in Doris are those of a single
# process, every chunk done once in the state and every label loaded once in Doris, whichever
# worker loads it. A worker killed (-9) while Doris still holds its chunk's load (label
# RUNNING) has its chunk taken again after its lease: the taker waits for the label and sends
# nothing more once the old load is in. A worker whose definition differs is refused (exit 2,
# naming the difference). With two-phase commit, a coordinator that dies right after a
# precommit: a worker without --allow-inconsistent stops with one line, one with it goes on,
# commits the dead worker's precommit and says the data is not consistent.
# shellcheck disable=SC1091
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
# shellcheck disable=SC1091
. "$(dirname "${BASH_SOURCE[0]}")/lib/doris.sh"
src=dwork_src_$$
state=dwork_state_$$
new_db "$src"
new_db "$state"
psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
create table t (id bigint primary key, note text);
insert into t select g, 'row ' || g || repeat('x', g % 17) from generate_series(1, 24000) g;
create table small (id int primary key, v text);
insert into small select g, 'v' || g from generate_series(1, 300) g;
analyze;
SQL
expected_rows "$src" "select * from t" >t.want
printf '[copy]\nchunk_size = "64kB"\n[doris]\nbackoff_ms = 20\nbackoff_max_ms = 100\n[state]\nlease_s = 1\n' >job.toml
printf '[copy]\nchunk_size = "64kB"\n[doris]\nbackoff_ms = 20\nbackoff_max_ms = 100\ntwo_phase_commit = true\n[state]\nlease_s = 1\n' >tpc.toml
# Scenario 2's coordinator exits as kill -9 does right after its first precommit is recorded;
# its lease is longer (2 s), so the others see it dead while its chunk is still left.
sed 's/^lease_s = 1$/lease_s = 2/' tpc.toml >tpc_dies.toml
printf '[doris.debug]\nexit_after_precommit = 1\n' >>tpc_dies.toml

# The reference, one process without a shared state, loads into a double of its own while the
# workers' scenarios run.
start_double "$work/dd_ref"
"$bin" run --config job.toml --jobs 1 --source "$(url "$src")" \
  --target "doris://root@127.0.0.1:$FE_PORT/ref" --state-dir "$work/sd_ref" >ref.out 2>ref.err &
pref=$!
start_double "$work/dd"
doris="doris://root@127.0.0.1:$FE_PORT"
q() { psql -qXAt -d "$state" -c "$1" 2>/dev/null || echo 0; }
stats() { curl -sf "http://127.0.0.1:$FE_PORT/_double/stats"; }
held() { stats | python3 -c 'import json, sys; print(" ".join(json.load(sys.stdin)["held"]))'; }
wait_held() {  # n pid: until the double holds n loads (the labels in $held)
  for _ in $(seq 400); do
    held=$(held)
    [ "$(wc -w <<<"$held")" -ge "$1" ] && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}
worker() {  # name db job config extra...: in the background, pid in $pid
  local name=$1 db=$2 job=$3 cfg=$4
  shift 4
  "$bin" run --config "$cfg" --jobs 1 --source "$(url "$src")" --target "$doris/$db" \
    --state-dir "$work/sd_$name" --state-url "$(tcp_url "$state")" --job "$job" "$@" \
    >"$work/$name.out" 2>"$work/$name.err" &
  pid=$!
}
wait_log() {  # pattern pids... -- files...: until a file matches (false once a pid ended)
  local pattern=$1 p
  shift
  local pids=()
  while [ "$1" != -- ]; do pids+=("$1"); shift; done
  shift
  for _ in $(seq 400); do
    cat "$@" 2>/dev/null | grep -q -- "$pattern" && return 0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || return 1; done
    sleep 0.05
  done
  return 1
}
same_as_reference() {  # db what: the double's rows of t equal the single process's (count, sha256)
  recorded_rows "$work/dd/rec/$1.t.tsv" >"$1.got"
  [ "$(wc -l <"$1.got")" = "$(wc -l <ref.got)" ] && [ "$(sha256sum <"$1.got")" = "$(sha256sum <ref.got)" ] ||
    fail "$2: Doris has $(wc -l <"$1.got") rows of t, the single process $(wc -l <ref.got) (or they differ)"
  [ "$(recorded_rows "$work/dd/rec/$1.small.tsv" | sha256sum)" = "$(recorded_rows "$work/dd_ref/rec/ref.small.tsv" | sha256sum)" ] ||
    fail "$2: table small differs from the single process's"
}
all_done() {  # job what: every planned chunk done in the state
  local planned
  planned=$(q "select count(*) from uringmig_state.chunk where job = '$1'")
  [ "$planned" -gt 4 ] || fail "$2: $planned chunk(s) planned, expected several"
  [ "$(q "select count(*) from uringmig_state.chunk where job = '$1' and status = 'done'")" = "$planned" ] ||
    fail "$2: not every chunk is done in the state"
}


# 1. The double holds the first two loads (their whole body in, the commit held back): the
#    coordinator a's first chunk, then that of b, which joins and is killed. A worker of
#    another definition is refused. c and d join and load the rest; once b's lease ran out one
#    of them takes b's chunk, finds its label RUNNING and asks the FE until the test lets the
#    held loads commit; then the label is VISIBLE and nothing more is sent for it.
fault hold 2 "bytes=0&delay_ms=60000"
worker a dw one job.toml; pa=$pid
wait_held 1 "$pa" || fail "scenario 1: the double never held a's load: $(tail -n 3 a.err)"
la=$held
grep -q "coordinating job" a.err || fail "scenario 1: a does not coordinate"
worker b dw one job.toml; pb=$pid
wait_held 2 "$pb" || fail "scenario 1: the double never held b's load: $(tail -n 3 b.err)"
label=$(tr ' ' '\n' <<<"$held" | grep -vx "$la" || true)
[ -n "$label" ] || fail "scenario 1: no label of b held"
[ "$(q "select count(*) from uringmig_state.chunk where job = 'one' and status = 'pending' and leased_by ~ ':$pb( |\$)'")" = 1 ] ||
  fail "scenario 1: b does not hold one chunk's lease"
kill -9 "$pb"
wait "$pb" 2>/dev/null || true
worker x dw one job.toml --exclude public.small; px=$pid  # another definition
worker c dw one job.toml; pc=$pid
worker d dw one job.toml; pd=$pid
rc=0; wait "$px" || rc=$?
[ "$rc" = 2 ] && grep -q "^uringmig: this worker's --exclude (public.small) differs" x.err ||
  fail "another definition: exit $rc, $(tail -n 1 x.err)"
wait_log "$label.*asking the FE again" "$pa" "$pc" "$pd" -- a.err c.err d.err ||
  fail "scenario 1: nobody took b's chunk and waited for its label: $(tail -n 2 a.err c.err d.err)"
grep -qw "$label" <<<"$(held)" || fail "scenario 1: the hold ended before b's chunk was taken again"
curl -sf -X POST "http://127.0.0.1:$FE_PORT/_double/release" >/dev/null || fail "releasing the hold"
for p in $pa $pc $pd; do wait "$p" || fail "scenario 1: a worker exited $?: $(tail -n 2 a.err c.err d.err)"; done
wait "$pref" || fail "single process: $(tail -n 3 ref.err)"
recorded_rows "$work/dd_ref/rec/ref.t.tsv" >ref.got
cmp -s t.want ref.got || fail "single process: the rows of t differ from the source"
same_as_reference dw "three workers"
all_done one "three workers"
grep -q "taken again" a.err c.err d.err || fail "scenario 1: b's chunk was not taken again"
grep -q "$label) was loaded by an earlier attempt (label VISIBLE)" a.err c.err d.err ||
  fail "scenario 1: the held load was not recognised as loaded"
[ "$(q "select count(distinct done_by) from uringmig_state.chunk where job = 'one'")" -ge 2 ] ||
  fail "three workers: the chunks were not shared"
[ "$(cat a.err c.err d.err | grep -c 'coordinating job')" = 1 ] || fail "three workers: not one coordinator"
snap=$(q "select value from uringmig_state.kv where job = 'one' and key = 'workers.snapshot'")
[ "$(grep -l "reading under the coordinator's snapshot $snap" c.err d.err | wc -l)" = 2 ] ||
  fail "three workers: not all under the coordinator's snapshot $snap"
for tb in t small; do
  n=$(cat a.err c.err d.err | grep -c "doris: table public.$tb is loaded")
  [ "$n" = 1 ] || fail "three workers: public.$tb was finished $n times"
done
n=$(cat a.err c.err d.err | grep -c "job .* is finished")
[ "$n" = 1 ] || fail "three workers: the job's end ran $n times"
# Every label of the job loaded once: one load request per label, two for b's (its held load
# and the one Doris answered RUNNING), as many labels as chunks.
token=$(q "select value from uringmig_state.kv where job = 'one' and key = 'doris.token'")
stats | python3 -c '
import json, sys
loads = {k: v for k, v in json.load(sys.stdin)["be_loads_by_label"].items() if k.startswith("uringmig_" + sys.argv[1] + "_")}
print(len(loads), sorted(set(v for k, v in loads.items() if k != sys.argv[2])), loads.get(sys.argv[2]))' \
  "$token" "$label" >labels.txt
planned=$(q "select count(*) from uringmig_state.chunk where job = 'one'")
[ "$(cat labels.txt)" = "$planned [1] 2" ] ||
  fail "three workers: labels (count, requests per label, b's) are $(cat labels.txt), expected $planned [1] 2"
grep -q "rows loaded into Doris by worker r[0-9]*@" a.out || fail "three workers: the summary does not name the worker"

# 2. Two-phase commit. The double holds the coordinator e's first load while f
#    (--allow-inconsistent) and g join and load the rest; once released, e's load is
#    precommitted and e exits as kill -9 does right after recording it. g stops with one line;
#    f goes on under fresh snapshots, takes e's chunk once e's lease ran out, finds its label
#    precommitted and commits it; no precommit mark is left.
fault hold 1 "bytes=0&delay_ms=60000"
worker e dw2 two tpc_dies.toml; pe=$pid
wait_held 1 "$pe" || fail "scenario 2: the double never held e's load: $(tail -n 3 e.err)"
grep -q "coordinating job" e.err || fail "scenario 2: e does not coordinate"
worker f dw2 two tpc.toml --allow-inconsistent; pf=$pid
worker g dw2 two tpc.toml; pg=$pid
wait_log "reading under the coordinator's snapshot" "$pf" -- f.err && wait_log "reading under the coordinator's snapshot" "$pg" -- g.err ||
  fail "scenario 2: f and g did not join: $(tail -n 2 f.err g.err)"
curl -sf -X POST "http://127.0.0.1:$FE_PORT/_double/release" >/dev/null || fail "releasing the hold"
rc=0; wait "$pe" || rc=$?
[ "$rc" = 137 ] || fail "scenario 2: the coordinator exited $rc: $(tail -n 2 e.err)"
rc=0; wait "$pg" || rc=$?
[ "$rc" = 1 ] || fail "scenario 2: the worker without --allow-inconsistent exited $rc: $(tail -n 2 g.err)"
grep -q "^uringmig: the coordinator of job .* ended and its exported snapshot with it" g.err ||
  fail "scenario 2: no clear stop: $(tail -n 1 g.err)"
wait "$pf" || fail "scenario 2: the --allow-inconsistent worker exited $?: $(tail -n 2 f.err)"
grep -q "committed the earlier attempt's precommitted transaction" f.err ||
  fail "scenario 2: e's precommit was not committed by f: $(grep -i precommit f.err | tail -n 2)"
grep -q "snapshot: not consistent" f.out || fail "scenario 2: the summary does not say not consistent"
[ "$(q "select count(*) from uringmig_state.kv where job = 'two' and key like 'doris.precommit.%'")" = 0 ] ||
  fail "scenario 2: precommit marks are left in the state"
same_as_reference dw2 "coordinator died after a precommit"
all_done two "coordinator died after a precommit"
finish doris_workers
