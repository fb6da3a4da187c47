#!/usr/bin/env bash
# uses-fixture: pg
# The bulk clone with its state in PostgreSQL (--state-url) instead of a state directory:
# a clone with the state on the target itself, kill -9 mid-copy and resume, two jobs on one
# state database kept apart, `status --state-url`, and bad state URLs (exit 2, one line).
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
src=stateurl_src_$$
new_db "$src"
psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
create table keyed (id bigint primary key, v text);
insert into keyed select g, repeat('v', 100) || g from generate_series(1, 300000) g;
create index keyed_v on keyed (v);
create table keyless (a int, b text);
insert into keyless select g % 100, repeat('w', 100) from generate_series(1, 100000) g;
create table other (id int primary key);
insert into other select generate_series(1, 1000);
analyze;
SQL
cat >"$work/job.toml" <<'EOF2'
[copy]
chunk_size = "256kB"
EOF2
table_sums "$src" >"$work/src.sums"
clone() {  # target db, extra args...: in the background, pid in $pid
  local db=$1; shift
  "$bin" run --preset bulk --config "$work/job.toml" --jobs 1 --index-jobs 1 \
    --source "$(url "$src")" --target "$(url "$db")" --state-dir "$work/dir_$db" "$@" \
    >"$work/$db.out" 2>"$work/$db.err" &
  pid=$!
}
state_count() {  # db sql
  psql -qXAt -d "$1" -c "$2" 2>/dev/null || echo 0
}

# 1. State on the target itself; kill -9 mid-copy; the same command resumes from that state.
dst=stateurl_dst_$$; new_db "$dst"
clone "$dst" --state-url target
for _ in $(seq 600); do
  [ "$(state_count "$dst" "select count(*) from uringmig_state.chunk where status = 'done'")" -ge 5 ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
done_now=$(state_count "$dst" "select count(*) from uringmig_state.chunk where status = 'done'")
planned=$(state_count "$dst" "select count(*) from uringmig_state.chunk")
echo "killed after $done_now of $planned chunks"
[ "$done_now" -lt "$planned" ] || fail "the copy finished before the kill: not a resume test"
[ ! -e "$work/dir_$dst/state.db" ] || fail "--state-url still wrote a state.db"
clone "$dst" --state-url target; rc=0; wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || { cat "$work/$dst.err"; fail "resume with --state-url exited $rc"; }
grep -q "fresh snapshot" "$work/$dst.err" "$work/$dst.out" || fail "the resume did not resume"
table_sums "$dst" >"$work/dst.sums"
diff "$work/src.sums" "$work/dst.sums" || fail "the clone with --state-url differs from the source"
# One done mark per chunk, in the state and on the target.
[ "$(state_count "$dst" "select count(*) from uringmig_state.chunk where status <> 'done'")" = 0 ] ||
  fail "chunks left undone in the state"
[ "$(state_count "$dst" "select count(*) from uringmig.chunk_done")" = "$planned" ] ||
  fail "the target's done marks do not match the plan's $planned chunks"
[ "$(state_count "$dst" "select count(*) from uringmig_state.job_index where status = 'done'")" = 3 ] ||
  fail "the state does not record the three indexes as built"
"$bin" status --state-url "$(tcp_url "$dst")" --state-dir "$work/none" >"$work/status.out" 2>&1 ||
  fail "status --state-url failed: $(cat "$work/status.out")"
grep -q "schema uringmig_state, job job-" "$work/status.out" || fail "status does not name the shared state"
grep -q "public.keyed" "$work/status.out" || fail "status does not list the tables"
if grep -q "$PGFIX_PASSWORD" "$work/status.out"; then fail "status printed the password"; fi

# 2. Two jobs (different tables) on one separate state database: neither sees the other's chunks.
state=stateurl_state_$$; new_db "$state"
a=stateurl_a_$$; b=stateurl_b_$$; new_db "$a"; new_db "$b"
clone "$a" --state-url "$(tcp_url "$state")" --tables 'public.keyed'; rc=0; wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || { cat "$work/$a.err"; fail "job a exited $rc"; }
clone "$b" --state-url "$(tcp_url "$state")" --job small-one --tables 'public.other'; rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || { cat "$work/$b.err"; fail "job b exited $rc"; }
[ "$(state_count "$state" "select count(distinct job) from uringmig_state.job_table")" = 2 ] ||
  fail "want two jobs in the state database"
[ "$(state_count "$state" "select string_agg(name, ',') from uringmig_state.job_table where job = 'small-one'")" = other ] ||
  fail "job small-one holds other tables than its own"
[ "$(psql -qXAt -d "$b" -c "select count(*) from other")" = 1000 ] || fail "job b did not copy its table"
expect_exit 2 "$bin" status --state-url "$(tcp_url "$state")" --state-dir "$work/none"
grep -q "several jobs" "$work/err" || fail "status with two jobs and no --job: $(cat "$work/err")"
expect_exit 0 "$bin" status --state-url "$(tcp_url "$state")" --job small-one --state-dir "$work/none"
grep -q "public.other" "$work/stdout" || fail "status --job small-one does not show its table"
if grep -q "public.keyed" "$work/stdout"; then fail "status --job small-one shows the other job"; fi

# 3. Bad state URLs: exit 2, one line, no password; --state-url with --follow refused.
c=stateurl_c_$$; new_db "$c"
expect_exit 2 "$bin" run --preset bulk --source "$(url "$src")" --target "$(url "$c")" \
  --state-dir "$work/dir_bad" --state-url "postgresql://u:hunter2@127.0.0.1:1/db"
grep -q "^uringmig: cannot connect to the state database" "$work/err" || fail "unreachable: $(cat "$work/err")"
[ "$(grep -c '^uringmig: ' "$work/err")" -eq 1 ] || fail "unreachable: want one line"
if grep -q hunter2 "$work/err"; then fail "unreachable: password printed"; fi
psql -qX -v ON_ERROR_STOP=1 -c "create role nocreate_$$ login password 'hunter2'"
expect_exit 2 "$bin" run --preset bulk --source "$(url "$src")" --target "$(url "$c")" \
  --state-dir "$work/dir_bad" --state-url "postgresql://nocreate_$$:hunter2@127.0.0.1:$PGFIX_PORT/$c"
grep -q "may not create schema uringmig_state" "$work/err" || fail "no CREATE: $(cat "$work/err")"
if grep -q hunter2 "$work/err"; then fail "no CREATE: password printed"; fi
expect_exit 2 "$bin" run --preset bulk --follow --source "$(url "$src")" --target "$(url "$c")" \
  --state-dir "$work/dir_bad" --state-url target
grep -q "keeps its state in --state-dir" "$work/err" || fail "--follow with --state-url: $(cat "$work/err")"
finish bulk_state_url
