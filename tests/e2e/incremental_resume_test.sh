#!/usr/bin/env bash
# uses-fixture: pg
# Incremental loads stop and resume: kill -9 while a chunk waits (a row lock the test holds on
# the target), then the same command finishes with the target equal to the source; the
# watermark never runs ahead of the data (it stays at the old mark until every chunk of the run
# is in). --max-runtime stops between chunks (exit 1, "resume with the same command"), and the
# same command resumes the same window.
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
. "$(dirname "${BASH_SOURCE[0]}")/lib/hold.sh"
src=incr_res_src_$$
dst=incr_res_dst_$$
new_db "$src"
new_db "$dst"
psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
create table items (id int primary key, v text, ts timestamptz);
insert into items select g, 'v' || g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 ms'
  from generate_series(1, 6000) g;
SQL
cat >job.toml <<EOF
source = "$(url "$src")"
target = "$(url "$dst")"
preset = "incremental"
jobs = 1
[incremental]
chunk_rows = 1000
[[tables]]
source = "public.items"
target = "public.items_copy"
key = ["id"]
watermark = "ts"
chunk_by = "id"
EOF
same() {  # label
  local a b
  a=$(psql -qXAt -d "$src" -c "select md5(string_agg(t::text, '|' order by id)) from items t")
  b=$(psql -qXAt -d "$dst" -c "select md5(string_agg(t::text, '|' order by id)) from items_copy t")
  [ "$a" = "$b" ] || fail "$1: the target differs from the source"
}
mark() { psql -qXAt -d "$dst" -c "select mark from uringmig.watermarks where target_table = 'public.items_copy'"; }
done_chunks() { psql -qXAt -d "$dst" -c "select count(*) from uringmig.chunks c join uringmig.table_runs t using (table_run_id) where t.status = 'running' and c.status = 'done'"; }
waiting() { wait_true "$dst" "select exists (select 1 from $sessions s where wait_event_type = 'Lock' and application_name = 'uringmig incremental')"; }
start() { "$bin" run --config job.toml --state-dir "$work/state" "$@" >"$work/run.out" 2>"$work/run.err" & pid=$!; }

# Run 1 creates the target table (missing: made from the source's columns) and loads it all.
expect_exit 0 "$bin" run --config job.toml --state-dir "$work/state"
same "run 1"
mark1=$(mark)
[ "$mark1" = "2024-01-01 00:00:06+00" ] || fail "run 1 mark '$mark1'"

# Every row changes; a lock on the row with id 2500 holds the third chunk.
psql -qX -v ON_ERROR_STOP=1 -d "$src" -c "update items set v = v || '!', ts = ts + interval '1 day'"
hold lock "$dst" "begin; select 1 from items_copy where id = 2500 for update;"
start
waiting || fail "the run never reached the locked row"
[ "$(done_chunks)" = 2 ] || fail "expected 2 chunks done before the lock, got $(done_chunks)"
kill -9 "$pid"; wait "$pid" 2>/dev/null || true
[ "$(mark)" = "$mark1" ] || fail "the watermark moved ahead of the data: $(mark)"
release lock
expect_exit 0 "$bin" run --config job.toml --state-dir "$work/state"
grep -q "resuming its unfinished run (2 of 6 chunks done)" "$work/err" || fail "the rerun did not resume: $(cat "$work/err")"
same "after kill -9 and rerun"
[ "$(mark)" = "2024-01-02 00:00:06+00" ] || fail "mark after the rerun: $(mark)"

# --max-runtime: the deadline passes while a chunk waits; it finishes, no other starts.
psql -qX -v ON_ERROR_STOP=1 -d "$src" -c "update items set v = v || '?', ts = ts + interval '1 day'"
hold lock2 "$dst" "begin; select 1 from items_copy where id = 1500 for update;"
start --max-runtime 1s
waiting || fail "the run never reached the locked row (max-runtime)"
for _ in $(seq 600); do grep -q "stopping (--max-runtime 1s reached)" "$work/run.err" && break; sleep 0.1; done
grep -q "stopping (--max-runtime 1s reached)" "$work/run.err" || fail "no stop line: $(cat "$work/run.err")"
release lock2
rc=0; wait "$pid" || rc=$?
[ "$rc" -eq 1 ] || fail "--max-runtime run exited $rc, expected 1"
grep -q "resume with the same command" "$work/run.err" || fail "no resume hint: $(tail -2 "$work/run.err")"
[ "$(done_chunks)" = 2 ] || fail "expected the two chunks before the deadline done, got $(done_chunks)"
[ "$(mark)" = "2024-01-02 00:00:06+00" ] || fail "an interrupted run moved the mark: $(mark)"
expect_exit 0 "$bin" run --config job.toml --state-dir "$work/state"
same "after --max-runtime and rerun"
[ "$(mark)" = "2024-01-03 00:00:06+00" ] || fail "mark after resuming: $(mark)"
expect_exit 0 "$bin" status --state-dir "$work/state"
finish incremental_resume
