#!/usr/bin/env bash
# uses-fixture: pg
# Resume: kill -9 in the middle of a chunked copy, then the same command
# finishes with identical data (no lost rows, no duplicates — also in a keyless
# table). SIGINT stops cleanly with exit 1 and "resume with the same command";
# --max-runtime does the same on a deadline; --restart starts over.
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
src=resume_src_$$
new_db "$src"
psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
create table keyed (id bigint primary key, v text);
insert into keyed select g, repeat('v', 100) || g from generate_series(1, 400000) g;
create table keyless (a int, b text);
insert into keyless select g % 100, repeat('w', 100) from generate_series(1, 200000) g;
analyze;
SQL
cat > "$work/job.toml" <<'EOF2'
[copy]
chunk_size = "256kB"
EOF2
table_sums "$src" >"$work/src.sums"
run() {  # db, extra args...: runs in the background, pid in $pid
  local db=$1; shift
  "$bin" run --preset bulk --config "$work/job.toml" --jobs 1 --index-jobs 1 \
    --source "$(url "$src")" --target "$(url "$db")" --state-dir "$work/state_$db" "$@" \
    >"$work/$db.out" 2>"$work/$db.err" &
  pid=$!
}
done_marks() { psql -qXAt -d "$1" -c "select count(*) from uringmig.chunk_done" 2>/dev/null || echo 0; }
wait_marks() {  # db n: until the target has n done chunks (bounded: 60 s)
  local i
  for i in $(seq 600); do
    [ "$(done_marks "$1")" -ge "$2" ] && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# 1. kill -9 mid-copy, then resume.
dst=resume_dst_$$; new_db "$dst"
run "$dst"
wait_marks "$dst" 5 || fail "the copy never got going"
kill -9 "$pid"; wait "$pid" 2>/dev/null || true
marks=$(done_marks "$dst")
planned=$(sqlite3 "$work/state_$dst/state.db" "select count(*) from chunk" 2>/dev/null || echo 0)
echo "killed after $marks of $planned chunks"
[ "$marks" -lt "$planned" ] || fail "the copy finished before the kill ($marks/$planned): not a resume test"
rc=0; "$bin" run --preset bulk --config "$work/job.toml" --jobs 2 --source "$(url "$src")" \
  --target "$(url "$dst")" --state-dir "$work/state_$dst" >"$work/resume.out" 2>&1 || rc=$?
cat "$work/resume.out"
[ "$rc" -eq 0 ] || fail "resume exited $rc"
grep -q "fresh snapshot" "$work/resume.out" || fail "resume does not say the snapshot is fresh"
table_sums "$dst" >"$work/dst.sums"
diff "$work/src.sums" "$work/dst.sums" || fail "resumed copy differs from the source"

# 2. SIGINT: clean stop, exit 1, one line saying how to resume; then resume.
dst2=resume_int_$$; new_db "$dst2"
run "$dst2"
wait_marks "$dst2" 3 || fail "the copy never got going (SIGINT case)"
kill -INT "$pid"
rc=0; wait "$pid" || rc=$?
cat "$work/$dst2.err" | tail -3
[ "$rc" -eq 1 ] || fail "SIGINT: exit $rc, want 1"
grep -q "^uringmig: interrupted (SIGINT).*resume with the same command" "$work/$dst2.err" ||
  fail "SIGINT: no 'resume with the same command' line"
run "$dst2"; rc=0; wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || fail "resume after SIGINT exited $rc"
table_sums "$dst2" >"$work/dst2.sums"
diff "$work/src.sums" "$work/dst2.sums" || fail "copy resumed after SIGINT differs"

# 3. --max-runtime: stops itself, exit 1; the same command resumes.
dst3=resume_deadline_$$; new_db "$dst3"
run "$dst3" --max-runtime 1s; rc=0; wait "$pid" || rc=$?
tail -1 "$work/$dst3.err"
[ "$rc" -eq 1 ] || fail "--max-runtime: exit $rc, want 1"
grep -q "max-runtime.*resume with the same command" "$work/$dst3.err" || fail "--max-runtime: no resume hint"
run "$dst3"; rc=0; wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || fail "resume after --max-runtime exited $rc"
table_sums "$dst3" >"$work/dst3.sums"
diff "$work/src.sums" "$work/dst3.sums" || fail "copy resumed after --max-runtime differs"

# 4. --restart on a finished job: starts over and ends identical.
run "$dst3" --restart; rc=0; wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || { cat "$work/$dst3.err"; fail "--restart exited $rc"; }
table_sums "$dst3" >"$work/dst4.sums"
diff "$work/src.sums" "$work/dst4.sums" || fail "--restart result differs"
finish bulk_resume
