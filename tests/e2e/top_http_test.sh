#!/usr/bin/env bash
# uses-fixture: pg
# `uringmig top --http ADDR` on a bulk job that serves its API (run --http, [http] token):
# - the screen shows the phase and the tables;
# - a wrong token: p says the job refused it, and nothing is paused;
# - p pauses: the screen says PAUSED, the API says paused, and once the chunk in flight is done
#   the job's rows stop moving; s asks y/n and n cancels; q quits and the job stays paused;
# - another top: r resumes, the job finishes with the same data as the source.
# The first chunk is held at a gate on the target (a check constraint that waits for an
# advisory lock the test holds): no sleep stands for "the job got there".
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
. "$(dirname "${BASH_SOURCE[0]}")/lib/hold.sh"
. "$(dirname "${BASH_SOURCE[0]}")/lib/tmux.sh"
. "$(dirname "${BASH_SOURCE[0]}")/lib/http.sh"
src=top_http_src_$$; dst=top_http_dst_$$
new_db "$src"; new_db "$dst"
psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
create function gate() returns bool language plpgsql as
  $$ begin perform pg_advisory_xact_lock_shared(4344); return true; end $$;
create table gated (id int primary key, v text, check (gate()));
insert into gated select g, repeat('g', 100) from generate_series(1, 60000) g;
create table plain_one (id int primary key, v text);
insert into plain_one select g, 'p' || g from generate_series(1, 3000) g;
analyze;
SQL
cat >"$work/job.toml" <<'TOML'
[copy]
chunk_size = "256kB"
[http]
token = "${UM_HTTP_TOKEN}"
TOML
export UM_HTTP_TOKEN="top-test-token-$$"
status_field() { api /api/v1/status | jq -r "$1"; }

hold gate "$dst" "select pg_advisory_lock(4344);"
wait_true "$dst" "select exists (select 1 from $locks l where locktype = 'advisory' and granted)" ||
  fail "the test could not take its advisory lock"
"$bin" run --preset bulk --config "$work/job.toml" --jobs 1 --index-jobs 1 --http 127.0.0.1:0 \
  --source "$(url "$src")" --target "$(url "$dst")" --state-dir "$work/state" \
  >"$work/job.out" 2>"$work/job.err" &
job=$!
port=$(served_port "$work/job.err" "$job") || { fail "the job never served: $(tail -3 "$work/job.err")"; exit 1; }
addr="127.0.0.1:$port"
wait_api "$job" .live || fail "the job's API never answered: $(tail -3 "$work/job.err")"
wait_true "$dst" "select exists (select 1 from $locks l where locktype = 'advisory' and not granted)" ||
  fail "the copy of gated never reached the gate"
total=$(status_field .progress.chunks_total)
[ "$total" -gt 4 ] || fail "want many chunks, the plan has $total"

# ---- a wrong token --------------------------------------------------------------------------
UM_HTTP_TOKEN=wrong screen_start "$bin" top --http "$addr"
screen_wait '^phase copy +elapsed' || fail "top --http shows no copy phase"
screen_wait '^public\.gated +copying' || fail "top --http does not show gated copying"
screen_wait '^public\.plain_one ' || fail "top --http does not show plain_one"
screen_keys p
screen_wait 'pause: the job refused the token \(HTTP 401\)' || fail "a wrong token was not refused"
[ "$(status_field .paused)" = false ] || fail "a wrong token paused the job"
screen_keys q
screen_gone || fail "q did not end top"
tmux_ kill-server

# ---- pause, the rows stop; switchover asks; q leaves the job paused ------------------------
screen_start "$bin" top --http "$addr"
screen_wait '^public\.gated +copying' || fail "top does not show gated copying"
screen_wait 'p pause  r resume  s switchover' || fail "no action keys with a token"
screen_keys p
screen_wait '^PAUSED  phase copy' || fail "p did not show PAUSED"
screen_wait 'pause: accepted' || fail "p was not accepted"
[ "$(status_field .paused)" = true ] || fail "the API does not say paused"
release gate  # the chunk in flight finishes; no other starts
for _ in $(seq 600); do
  [ "$(status_field .progress.in_flight)" = 0 ] && break
  sleep 0.1
done
[ "$(status_field .progress.in_flight)" = 0 ] || fail "a chunk is still in flight while paused"
rows=$(status_field .progress.rows)
done_chunks=$(status_field .progress.chunks_done)
[ "$done_chunks" -lt "$total" ] || fail "paused, yet all $total chunks are done"
for _ in $(seq 10); do  # watch for movement: none may come while paused
  [ "$(status_field .progress.rows)" = "$rows" ] || fail "rows moved while paused ($rows -> $(status_field .progress.rows))"
  sleep 0.2
done
screen_keys s
screen_wait 'switch over to the target now\? y/n' || fail "s did not ask for confirmation"
screen_keys n
screen_wait 'switchover: cancelled' || fail "n did not cancel the switchover"
screen_keys q
screen_gone || fail "q did not end top"
screen_wait '^\[exited: 0\]' || fail "top did not exit 0"
kill -0 "$job" 2>/dev/null || fail "the job ended with top"
[ "$(status_field .paused)" = true ] || fail "the job is no longer paused after top quit"
tmux_ kill-server

# ---- plain lines over HTTP: paused shows, the lines end with the job ---------------------
"$bin" top --http "$addr" >"$work/plain.out" 2>"$work/plain.err" &
plain=$!
for _ in $(seq 600); do grep -q ' paused$' "$work/plain.out" && break; sleep 0.1; done
grep -q '^[0-9:]\{8\} phase copy [0-9.]*% chunks [0-9]*/[0-9]* tables 0/2 rows [0-9]* rows/s [^ ]* lag - paused$' \
  "$work/plain.out" || fail "no plain paused line: $(cat "$work/plain.out" "$work/plain.err")"

# ---- resume from another top; the job finishes with the source's data ---------------------
screen_start "$bin" top --http "$addr"
screen_wait '^PAUSED  phase copy' || fail "a new top does not show PAUSED"
screen_keys r
if ! screen_wait 'resume: accepted'; then
  fail "r was not accepted"
  post /api/v1/resume "$UM_HTTP_TOKEN" >/dev/null || kill "$job"  # else the wait below never ends
fi
rc=0; wait "$job" || rc=$?
[ "$rc" -eq 0 ] || fail "the job exited $rc: $(tail -3 "$work/job.err")"
[ "$(table_sums "$src")" = "$(table_sums "$dst")" ] || fail "the target differs from the source"
for _ in $(seq 300); do kill -0 "$plain" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$plain" 2>/dev/null; then
  fail "top (plain) did not end with the job"
  kill "$plain"
fi
rc=0; wait "$plain" || rc=$?
[ "$rc" -eq 0 ] || fail "top (plain) exited $rc: $(cat "$work/plain.err")"
tail -1 "$work/plain.out" | grep -q '^job \(done\|ended\)' || fail "plain mode did not end with the job: $(tail -2 "$work/plain.out")"
finish top_http
