#!/usr/bin/env bash
# uses-fixture: pg
# `uringmig top --state-dir DIR` watches a running bulk job without its HTTP API:
# - in a terminal (tmux): the phase and the tables show while the job copies, p/r/s only say
#   that they need --http, q quits and leaves the job running;
# - through a pipe: one plain line a second until the job ends, then "job done".
# The job is held mid-copy by a gate on the target (a check constraint that waits for an
# advisory lock the test holds), so everything is synchronised through locks and polling.
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
. "$(dirname "${BASH_SOURCE[0]}")/lib/hold.sh"
. "$(dirname "${BASH_SOURCE[0]}")/lib/tmux.sh"
src=top_state_src_$$; dst=top_state_dst_$$
new_db "$src"; new_db "$dst"
psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
create function gate() returns bool language plpgsql as
  $$ begin perform pg_advisory_xact_lock_shared(4343); return true; end $$;
create table gated (id int primary key, v text, check (gate()));
insert into gated select g, repeat('g', 100) from generate_series(1, 20000) g;
create table plain_one (id int primary key, v text);
insert into plain_one select g, 'p' || g from generate_series(1, 3000) g;
analyze;
SQL

hold gate "$dst" "select pg_advisory_lock(4343);"
wait_true "$dst" "select exists (select 1 from $locks l where locktype = 'advisory' and granted)" ||
  fail "the test could not take its advisory lock"
"$bin" run --preset bulk --jobs 1 --index-jobs 1 --source "$(url "$src")" --target "$(url "$dst")" \
  --state-dir "$work/state" >"$work/job.out" 2>"$work/job.err" &
job=$!
wait_true "$dst" "select exists (select 1 from $locks l where locktype = 'advisory' and not granted)" ||
  fail "the copy of gated never reached the gate"

# ---- full screen ----------------------------------------------------------------------------
screen_start "$bin" top --state-dir "$work/state"
screen_wait '^phase copy +elapsed' || fail "top shows no copy phase"
screen_wait '^public\.gated +copying' || fail "top does not show gated copying"
screen_wait '^public\.plain_one ' || fail "top does not show plain_one"
screen_wait '^uringmig top  #1 run --preset bulk  state directory ' || fail "no title line"
screen_wait 'p/r/s need --http URL' || fail "no hint that actions need the API"
screen_keys p
screen_wait 'pause, resume and switchover need the job.s API' || fail "p did not say it needs --http"
# A smaller terminal (SIGWINCH): the whole picture is laid out again, title first, keys last.
tmux_ resize-window -t top -x 70 -y 12
for _ in $(seq 300); do
  [ "$(screen_text | wc -l)" -eq 12 ] && screen_text | head -1 | grep -q '^uringmig top  #1' &&
    screen_text | tail -1 | grep -q '^pause, resume and switchover' && break
  sleep 0.1
done
screen_text | head -1 | grep -q '^uringmig top  #1' || fail "after a resize: no title on the first line"
screen_text | tail -1 | grep -q '^pause, resume and switchover' || fail "after a resize: the last line is not the notice: $(screen_text | tail -2)"
screen_text | grep -q '^public\.gated ' || fail "after a resize: no table rows"
screen_keys q
screen_gone || fail "q did not end top"
screen_wait '^\[exited: 0\]' || fail "top did not exit 0"
kill -0 "$job" 2>/dev/null || fail "the job ended with top"

# ---- plain lines, until the job ends --------------------------------------------------------
"$bin" top --state-dir "$work/state" >"$work/plain.out" 2>"$work/plain.err" &
plain=$!
for _ in $(seq 600); do
  grep -q '^[0-9:]\{8\} phase copy ' "$work/plain.out" && break
  sleep 0.1
done
grep -q '^[0-9:]\{8\} phase copy [0-9.]*% chunks [0-9]*/[0-9]* tables 0/2 rows [0-9]* rows/s ' \
  "$work/plain.out" || fail "no plain status line while copying: $(cat "$work/plain.out" "$work/plain.err")"
release gate
rc=0; wait "$job" || rc=$?
[ "$rc" -eq 0 ] || fail "the job exited $rc: $(tail -3 "$work/job.err")"
for _ in $(seq 300); do kill -0 "$plain" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$plain" 2>/dev/null; then
  fail "top (plain) did not end with the job"
  kill "$plain"
fi
rc=0; wait "$plain" || rc=$?
[ "$rc" -eq 0 ] || fail "top (plain) exited $rc: $(cat "$work/plain.err")"
tail -1 "$work/plain.out" | grep -qx 'job done' || fail "plain mode did not end with 'job done': $(tail -3 "$work/plain.out")"
grep -q ' phase done 100.0% chunks \([0-9]*\)/\1 tables 2/2 rows 23000 ' "$work/plain.out" ||
  fail "no final plain line: $(tail -3 "$work/plain.out")"
[ "$(grep -c 'PAUSED\|\x1b' "$work/plain.out")" -eq 0 ] || fail "escape sequences in plain output"

# ---- no job state: one line, exit 2 ----------------------------------------------------------
expect_exit 2 "$bin" top --state-dir "$work/none"
grep -qx "uringmig: no job state in $work/none (start a job with --state-dir $work/none, or watch it with --http URL)" \
  "$work/err" || fail "no-state message: $(cat "$work/err")"
expect_exit 2 "$bin" top --http 'nohost'
grep -q "^uringmig: --http 'nohost' is not an address to watch" "$work/err" || fail "bad --http: $(cat "$work/err")"
finish top_state
