#!/usr/bin/env bash
# Exactly-once resume of a shard load: kill -9 in the middle (several chunks and a few
# mid-chunk commits in), then the same command finishes with every row exactly once in the
# right shard (verify). Small chunks and commits, two readers, so files take chunks one at a
# time while another reader's rows wait. Also SIGINT and --max-runtime: exit 1 saying how to
# resume, then the same command finishes.
# shellcheck disable=SC1091
. "$(dirname "$0")/lib/common.sh"

repo=$(cd "$(dirname "$0")/../.." && pwd)
"$repo/scripts/sample-clients.sh" src.db 200000 >/dev/null
sqlite3 src.db "create table accounts(id integer primary key, owner text, amount real);
  with recursive n(i) as (select 1 union all select i + 1 from n where i < 200000)
  insert into accounts select i, 'owner ' || (i % 1000), i * 0.5 from n;"
cat >job.toml <<'TOML'
[sqlite]
chunk_rows = 2000
commit_rows = 1500
batch_kib = 16
TOML
# accounts is narrow and quick: smaller chunks and commits keep it busy long enough.
cat >job_accounts.toml <<'TOML'
[sqlite]
chunk_rows = 500
commit_rows = 100
batch_kib = 4
TOML
src="sqlite://$work/src.db"

done_chunks() { sqlite3 "$1/state.db" "select count(*) from chunk where status = 'done'" 2>/dev/null || echo 0; }
planned_chunks() { sqlite3 "$1/state.db" "select count(*) from chunk" 2>/dev/null || echo 0; }
key_of() { if [ "$1" = clients ]; then echo MOBILE_NUMBER; else echo owner; fi; }
start() {  # table state-dir target-dir [flags...]: runs in the background
  local table=$1 st=$2 dir=$3 config=job.toml
  shift 3
  [ "$table" = accounts ] && config=job_accounts.toml
  "$bin" run --config "$config" --jobs 2 --source "$src" \
    --target "sqlite://$work/$dir?shards=5&shard_key=$(key_of "$table")" --tables "$table" \
    --state-dir "$st" "$@" >"$st.out" 2>"$st.err" &
  pid=$!
}
wait_chunks() {  # state-dir n: until n chunks are done everywhere (bounded: 60 s)
  local i
  for i in $(seq 600); do
    [ "$(done_chunks "$1")" -ge "$2" ] && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# 1. kill -9 mid-load (clients: sequential rowids; accounts: INTEGER PRIMARY KEY ranges).
for table in clients accounts; do
  start "$table" st_$table out_$table
  wait_chunks st_$table 2 || fail "$table: the load never got going: $(tail -3 st_$table.err)"
  kill -9 "$pid"
  wait "$pid" 2>/dev/null || true
  got=$(done_chunks st_$table)
  all=$(planned_chunks st_$table)
  echo "$table: killed after $got of $all chunks"
  [ "$got" -lt "$all" ] || fail "$table: finished before the kill ($got/$all): not a resume test"
  dst="sqlite://$work/out_$table?shards=5&shard_key=$(key_of "$table")"
  # The half-written set is not mistaken for a finished one.
  rc=0
  "$bin" verify --source "$src" --target "$dst" --tables "$table" >v.out 2>&1 || rc=$?
  [ "$rc" -eq 1 ] || fail "$table: verify of a killed load exited $rc: $(cat v.out)"
  grep -q "incomplete" v.out || fail "$table: a killed load is not reported incomplete: $(cat v.out)"
  start "$table" st_$table out_$table
  rc=0; wait "$pid" || rc=$?
  [ "$rc" -eq 0 ] || fail "$table: resume exited $rc: $(tail -3 st_$table.err)"
  grep -q "resuming the job" st_$table.err || fail "$table: the resumed run does not say so"
  "$bin" verify --source "$src" --target "$dst" --tables "$table" >v.out 2>&1 ||
    fail "$table: after resume: $(cat v.out)"
done

# 2. SIGINT: stop at a chunk boundary, exit 1, then resume.
start clients st_int out_int
wait_chunks st_int 3 || fail "the load never got going (SIGINT case)"
kill -INT "$pid"
rc=0; wait "$pid" || rc=$?
[ "$rc" -eq 1 ] || fail "SIGINT: exit $rc, expected 1"
grep -q "resume with the same command" st_int.err || fail "SIGINT: no resume hint: $(tail -2 st_int.err)"
start clients st_int out_int
rc=0; wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || fail "resume after SIGINT exited $rc: $(tail -3 st_int.err)"
"$bin" verify --source "$src" --target "sqlite://$work/out_int?shards=5&shard_key=MOBILE_NUMBER" \
  --tables clients >v.out 2>&1 || fail "after SIGINT + resume: $(cat v.out)"

# 3. --max-runtime: the same, on a deadline.
start clients st_dl out_dl --max-runtime 1s
rc=0; wait "$pid" || rc=$?
if [ "$rc" -eq 1 ]; then
  grep -q "max-runtime" st_dl.err || fail "--max-runtime: no reason given: $(tail -2 st_dl.err)"
  start clients st_dl out_dl
  rc=0; wait "$pid" || rc=$?
fi
[ "$rc" -eq 0 ] || fail "--max-runtime then resume exited $rc: $(tail -3 st_dl.err)"
"$bin" verify --source "$src" --target "sqlite://$work/out_dl?shards=5&shard_key=MOBILE_NUMBER" \
  --tables clients >v.out 2>&1 || fail "after --max-runtime + resume: $(cat v.out)"
finish shards_resume
