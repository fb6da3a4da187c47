#!/usr/bin/env bash
# Loading into Doris when things go wrong, each ending in every row exactly once or a clear
# exit 1: resets mid-body, a commit whose answer is lost (Label Already Exists FINISHED), a
# label RUNNING, -235 and too many running txns, Publish Timeout, a slow 100 Continue; kill -9
# mid-load then the same command; 2PC (commit, a crash between precommit and commit resumed,
# --restart aborting what the crash left); filtered rows (error with ErrorURL, or accepted with
# max_filter_ratio); wrong password; Doris down; `Status: Fail` forever; an FE error body;
# SIGINT while a chunk waits to retry.
# uses-fixture: pg
# shellcheck disable=SC1091
. "$(dirname "$0")/lib/pg.sh"
# shellcheck disable=SC1091
. "$(dirname "$0")/lib/doris.sh"

db=doris_faults_$$
new_db "$db"
psql -qX -v ON_ERROR_STOP=1 -d "$db" <<'SQL'
create table t(id bigint primary key, note text, at timestamptz);
insert into t select g, 'row ' || g || case when g % 5 = 0 then E'\n' else '' end,
                     '2024-01-01 00:00:00+00'::timestamptz + g * interval '1 second'
  from generate_series(1, 60000) g;
SQL
src=$(url "$db")
want() { expected_rows "$db" "select id::text, note, (at at time zone 'UTC')::text from t"; }
want >t.want
same_rows() {  # DIR WHAT
  recorded_rows "$1/rec/dw.t.tsv" >"$1/t.got"
  cmp -s t.want "$1/t.got" || fail "$2: rows differ from the source: $(diff t.want "$1/t.got" |
    head -3) ($(wc -l <"$1/t.got") rows recorded)"
}
cat >fast.toml <<'EOF2'
[copy]
chunk_size = "256kB"
[doris]
backoff_ms = 20
backoff_max_ms = 200
retries = 4
EOF2

# 1. Transient faults in one run: resets mid-body, -235, too many txns, Publish Timeout, a
#    100 Continue slower than our wait.
start_double f1
fault reset_mid_body 2 "bytes=70000"
fault too_many_versions 2
fault too_many_txns 1
fault publish_timeout 1
fault slow_continue 1 "delay_ms=400"
cat >f1.toml <<'EOF2'
[copy]
chunk_size = "256kB"
[doris]
backoff_ms = 20
backoff_max_ms = 200
retries = 8
expect_100_ms = 100
EOF2
"$bin" run --config f1.toml --jobs 2 --source "$src" --target "doris://root@127.0.0.1:$FE_PORT/dw" \
  --state-dir st1 >out1 2>err1 || fail "transient faults: $(tail -3 err1)"
same_rows f1 "transient faults"
for m in "Connection reset" "E-235" "current running txns"; do
  grep -q "$m.*trying again in" err1 || fail "no retry after '$m' was logged"
done
grep -q "60000" out1 || fail "the summary does not count every row: $(cat out1)"
# A commit whose answer is lost: the retry meets Label Already Exists, RUNNING (wait), then
# FINISHED (done); the rows count once, in the summary too.
start_double f1b
fault reset_before_response 1
fault label_running 1
"$bin" run --config fast.toml --jobs 1 --source "$src" --target "doris://root@127.0.0.1:$FE_PORT/dw" \
  --state-dir st1b >out1b 2>err1b || fail "lost answer: $(tail -3 err1b)"
same_rows f1b "lost answer"
grep -q "still running" err1b || fail "label RUNNING was not waited for: $(tail -5 err1b)"
grep -q "loaded by an earlier attempt" err1b || fail "FINISHED was not recognised: $(tail -5 err1b)"
grep -q "60000 rows loaded" out1b || fail "lost answer: rows miscounted: $(tail -2 out1b)"

# 2. kill -9 mid-load (a slow BE keeps chunks in flight), then the same command.
start_double f2
fault slow_continue 1000 "delay_ms=30"
cat >kill.toml <<'EOF2'
[copy]
chunk_size = "64kB"
EOF2
"$bin" run --config kill.toml --jobs 2 --source "$src" \
  --target "doris://root@127.0.0.1:$FE_PORT/dw" --state-dir st2 >out2 2>err2 &
pid=$!
for _ in $(seq 1 600); do
  n=$(sqlite3 st2/state.db "select count(*) from chunk where status = 'done'" 2>/dev/null || echo 0)
  [ "$n" -ge 10 ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05
done
kill -9 "$pid" 2>/dev/null || fail "the load ended before it could be killed"
wait "$pid" 2>/dev/null || true
recorded_rows f2/rec/dw.t.tsv >partial
[ "$(wc -l <partial)" -lt 60000 ] || fail "kill -9 came too late to test anything"
fault clear 0
"$bin" run --config kill.toml --jobs 2 --source "$src" \
  --target "doris://root@127.0.0.1:$FE_PORT/dw" --state-dir st2 >out2b 2>err2b ||
  fail "resume after kill -9: $(tail -3 err2b)"
same_rows f2 "kill -9 then resume"

# 3. 2PC: every chunk precommitted, recorded, committed.
start_double f3
cat >tpc.toml <<'EOF2'
[copy]
chunk_size = "256kB"
[doris]
two_phase_commit = true
EOF2
"$bin" run --config tpc.toml --source "$src" --target "doris://root@127.0.0.1:$FE_PORT/dw" \
  --state-dir st3 >out3 2>err3 || fail "2PC: $(tail -3 err3)"
same_rows f3 "2PC"
# A crash between precommit and commit (the debug hook exits like kill -9 right after the
# state store recorded the precommit): nothing of that chunk is visible; the next run commits it.
start_double f4
cat >tpc_crash.toml <<'EOF2'
[copy]
chunk_size = "256kB"
[doris]
two_phase_commit = true
[doris.debug]
exit_after_precommit = 3
EOF2
rc=0
"$bin" run --config tpc_crash.toml --jobs 1 --source "$src" \
  --target "doris://root@127.0.0.1:$FE_PORT/dw" --state-dir st4 >out4 2>err4 || rc=$?
[ "$rc" -eq 137 ] || fail "the precommit crash hook exited $rc: $(tail -3 err4)"
before=$(recorded_rows f4/rec/dw.t.tsv | wc -l)
"$bin" run --config tpc.toml --jobs 1 --source "$src" \
  --target "doris://root@127.0.0.1:$FE_PORT/dw" --state-dir st4 >out4b 2>err4b ||
  fail "resume after a precommit crash: $(tail -3 err4b)"
grep -q "committing precommitted transaction" err4b || fail "the precommit was not committed: $(tail -5 err4b)"
same_rows f4 "2PC crash then resume"
[ "$before" -lt 60000 ] || fail "the precommitted chunk was visible before its commit"
# The same crash, then --restart: the precommit is aborted, never visible; all rows load once.
start_double f5
cat >tpc_crash1.toml <<'EOF2'
[copy]
chunk_size = "256kB"
[doris]
two_phase_commit = true
[doris.debug]
exit_after_precommit = 1
EOF2
rc=0
"$bin" run --config tpc_crash1.toml --jobs 1 --source "$src" \
  --target "doris://root@127.0.0.1:$FE_PORT/dw" --state-dir st5 >out5 2>err5 || rc=$?
[ "$rc" -eq 137 ] || fail "the precommit crash hook exited $rc"
[ ! -s f5/rec/dw.t.tsv ] || fail "a precommitted chunk became visible without a commit"
"$bin" run --config tpc.toml --restart --jobs 1 --source "$src" \
  --target "doris://root@127.0.0.1:$FE_PORT/dw" --state-dir st5 >out5b 2>err5b ||
  fail "--restart after a precommit crash: $(tail -3 err5b)"
grep -q "aborting precommitted transaction" err5b || fail "the precommit was not aborted: $(tail -5 err5b)"
same_rows f5 "2PC crash then --restart"

# 4. Filtered rows: an error naming the ErrorURL unless max_filter_ratio allows them.
start_double f6
fault filtered_rows 1 "rows=2"
expect_exit 1 "$bin" run --config fast.toml --source "$src" \
  --target "doris://root@127.0.0.1:$FE_PORT/dw" --state-dir st6
grep -q "public.t" err || fail "filtered rows: the table is not named: $(cat err)"
grep -q "_load_error_log" stdout err || fail "filtered rows: no ErrorURL: $(cat err)"
start_double f7
fault filtered_rows 1 "rows=2"
cat >ratio.toml <<'EOF2'
[copy]
chunk_size = "256kB"
[doris]
max_filter_ratio = 0.5
EOF2
"$bin" run --config ratio.toml --source "$src" --target "doris://root@127.0.0.1:$FE_PORT/dw" \
  --state-dir st7 >out7 2>err7 || fail "max_filter_ratio: $(tail -3 err7)"
grep -q "2 rows filtered" out7 || fail "filtered rows not in the summary: $(cat out7)"
[ "$(recorded_rows f7/rec/dw.t.tsv | wc -l)" -eq 59998 ] || fail "max_filter_ratio: wrong row count"

# 5. Clear failures: wrong password, Doris down, Fail forever, an FE error body.
start_double f8 --password right
expect_exit 1 "$bin" run --config fast.toml --source "$src" \
  --target "doris://root:wrong-pw@127.0.0.1:$FE_PORT/dw" --state-dir st8
grep -q "wrong user or password" err || fail "wrong password: $(cat err)"
grep -q "wrong-pw" stdout err st8/*.log 2>/dev/null && fail "the wrong password was printed"
[ "$(wc -l <err)" -le 3 ] || fail "wrong password: more than a line: $(cat err)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
expect_exit 1 "$bin" run --config fast.toml --source "$src" \
  --target "doris://root@127.0.0.1:$port/dw" --state-dir st9
grep -q "cannot reach the Doris FE" err || fail "Doris down: $(tail -2 err)"
start_double f10
fault too_many_versions 1000
expect_exit 1 "$bin" run --config fast.toml --source "$src" \
  --target "doris://root@127.0.0.1:$FE_PORT/dw" --state-dir st10
tail -1 err | grep -q "public.t" || fail "Fail forever: the table is not named: $(tail -1 err)"
tail -1 err | grep -q "E-235" || fail "Fail forever: Doris's message is missing: $(tail -1 err)"
grep -q "gave up after 5 attempts" err || fail "Fail forever: retries not bounded: $(tail -2 err)"
"$bin" status --state-dir st10 >status10 || fail "status after a failed load"
grep -q "failed" status10 || fail "status does not show the failure: $(cat status10)"
start_double f11
fault fe_error_body 1000 "message=no+such+table"
expect_exit 1 "$bin" run --config fast.toml --source "$src" \
  --target "doris://root@127.0.0.1:$FE_PORT/dw" --state-dir st11
tail -1 err | grep -q "no such table" || fail "FE error body: $(tail -1 err)"
grep -q "trying again" err && fail "a definite FE error was retried"

# 6. SIGINT while a chunk waits to retry (a 30 s backoff): the wait ends at once, exit 1 with the
#    resume hint, the chunk is neither done nor failed; the same command then loads every row
#    once, with the same label.
start_double f12
fault too_many_versions 1000
cat >slow.toml <<'EOF2'
[doris]
backoff_ms = 30000
backoff_max_ms = 60000
retries = 5
EOF2
"$bin" run --config slow.toml --jobs 1 --source "$src" --target "doris://root@127.0.0.1:$FE_PORT/dw" \
  --state-dir st12 >out12 2>err12 &
pid=$!
for _ in $(seq 1 600); do  # until the first retry's wait has begun
  grep -q "trying again in 30000 ms" err12 && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05
done
grep -q "trying again in 30000 ms" err12 || fail "SIGINT in a backoff: no retry wait: $(tail -3 err12)"
t0=$(date +%s%N)
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
waited_ms=$((($(date +%s%N) - t0) / 1000000))
[ "$rc" -eq 1 ] || fail "SIGINT in a backoff: exit $rc, expected 1"
[ "$waited_ms" -lt 15000 ] || fail "SIGINT in a backoff: took ${waited_ms} ms to stop"
grep -q "resume with the same command" err12 || fail "SIGINT in a backoff: no resume hint: $(tail -2 err12)"
"$bin" status --state-dir st12 >status12 || fail "status after SIGINT in a backoff"
grep -q "failed" status12 && fail "SIGINT in a backoff: a chunk or table is marked failed: $(cat status12)"
curl -sf -X POST "http://127.0.0.1:$FE_PORT/_double/fault?name=clear" >/dev/null || fail "clearing faults"
"$bin" run --config fast.toml --jobs 1 --source "$src" --target "doris://root@127.0.0.1:$FE_PORT/dw" \
  --state-dir st12 >out12b 2>err12b || fail "resume after SIGINT in a backoff: $(tail -3 err12b)"
same_rows f12 "resume after SIGINT in a backoff"

finish doris_faults
