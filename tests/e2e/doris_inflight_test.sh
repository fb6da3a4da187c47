#!/usr/bin/env bash
# kill -9 while Doris still processes a chunk's request (the double holds it, its label
# RUNNING), then the same command: the resumed run meets `Label Already Exists` RUNNING, waits
# and asks the FE (get_load_state) without sending the rows again, and loads again under the
# same label only once the old request ended without loading. Every row exactly once, whether
# the old request was cut mid-body (aborted) or had its whole body (committed after the kill).
# uses-fixture: pg
# shellcheck disable=SC1091
. "$(dirname "$0")/lib/pg.sh"
# shellcheck disable=SC1091
. "$(dirname "$0")/lib/doris.sh"

db=doris_inflight_$$
new_db "$db"
psql -qX -v ON_ERROR_STOP=1 -d "$db" <<'SQL'
create table t(id bigint primary key, note text);
insert into t select g, 'row ' || g from generate_series(1, 20000) g;
-- One chunk of ~17 MB: more than the sockets between uringmig and the double can buffer, so
-- a kill while the double holds the load cuts its body.
create table big(id bigint primary key, note text);
insert into big select g, 'row ' || g from generate_series(1, 800000) g;
SQL
src=$(url "$db")
expected_rows "$db" "select id::text, note from t" >t.want
expected_rows "$db" "select id::text, note from big" >big.want
cat >fast.toml <<'EOF2'
[copy]
chunk_size = "128kB"
[doris]
backoff_ms = 20
backoff_max_ms = 200
[tables."public.big"]
chunk_size = "1GB"
EOF2

stats() { curl -sf "http://127.0.0.1:$FE_PORT/_double/stats"; }
held_label() { stats | python3 -c 'import json, sys; h = json.load(sys.stdin)["held"]; print(h[0] if h else "")'; }
loads_of() {  # LABEL: BE load requests that carried it
  stats | python3 -c 'import json, sys; print(json.load(sys.stdin)["be_loads_by_label"].get(sys.argv[1], 0))' "$1"
}

# DIR TABLE HOLD: a run of TABLE whose first load the double holds (HOLD: the fault's bytes=
# and delay_ms=), killed with -9 while held; then the same command. Sets $label to the held one.
kill_while_held_then_resume() {
  local dir=$1 table=$2 hold=$3 pid
  start_double "$dir"
  fault hold 1 "$hold"
  "$bin" run --config fast.toml --jobs 1 --source "$src" --tables "public.$table" \
    --target "doris://root@127.0.0.1:$FE_PORT/dw" --state-dir "$dir/st" >"$dir/out1" 2>"$dir/err1" &
  pid=$!
  label=""
  for _ in $(seq 1 600); do  # until the double holds the load
    label=$(held_label)
    [ -n "$label" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  [ -n "$label" ] || { fail "$dir: the double never held a load: $(tail -3 "$dir/err1")"; return; }
  "$bin" run --config fast.toml --jobs 1 --source "$src" --tables "public.$table" \
    --target "doris://root@127.0.0.1:$FE_PORT/dw" --state-dir "$dir/st" >"$dir/out2" 2>"$dir/err2" &
  pid=$!
  for _ in $(seq 1 600); do  # until the resumed run has asked the FE about the held label
    grep -q "asking the FE again" "$dir/err2" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  [ "$(held_label)" = "$label" ] || fail "$dir: the hold ended before the resumed run met it"
  curl -sf -X POST "http://127.0.0.1:$FE_PORT/_double/release" >/dev/null || fail "releasing the hold"
  wait "$pid" || fail "$dir: resume while the label is RUNNING: $(tail -3 "$dir/err2")"
  recorded_rows "$dir/rec/dw.$table.tsv" >"$dir/got"
  cmp -s "$table.want" "$dir/got" ||
    fail "$dir: rows differ from the source ($(wc -l <"$dir/got") rows recorded)"
  grep -q "$label.*still running" "$dir/err2" ||
    fail "$dir: the resumed run did not wait for the running label: $(grep "$label" "$dir/err2" | head -3)"
  grep -q "asking the FE again" "$dir/err2" || fail "$dir: the FE was not asked (get_load_state)"
}

# 1. Cut mid-body: the old request ends without loading (ABORTED); the resumed run loads the
#    chunk again under the same label: three requests carried it (the killed one, the one
#    answered RUNNING, the reload), never one per poll.
kill_while_held_then_resume mid big "bytes=20000&delay_ms=120000"
[ "$(loads_of "$label")" -eq 3 ] || fail "mid-body: $(loads_of "$label") load requests carried $label, expected 3"

# 2. The whole body was in, the commit held: the old request commits after the kill; the
#    resumed run finds the label VISIBLE and sends nothing more for it.
kill_while_held_then_resume whole t "bytes=0&delay_ms=120000"
[ "$(loads_of "$label")" -eq 2 ] || fail "whole body: $(loads_of "$label") load requests carried $label, expected 2"
grep -q "loaded by an earlier attempt" whole/err2 || fail "whole body: VISIBLE was not recognised"

finish doris_inflight
