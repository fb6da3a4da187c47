#!/usr/bin/env bash
# uses-fixture: pg
# Several uringmig processes (standing in for hosts) on one shard job through a shared state
# (--state-url), writing into one directory: three workers on a PostgreSQL source write the
# same shard files as one process, each chunk done once and each table's files finished once;
# a worker killed with a chunk in one file and not in the others (the debug hook exits as
# kill -9 does) has its chunk taken again after its lease and the job ends identical; a worker
# whose definition differs, or that does not see the job's directory, is refused (exit 2); the
# coordinator of a PostgreSQL source killed before the other workers' readers joined its
# snapshot stops a worker with one line, while one with --allow-inconsistent goes on under
# fresh snapshots and says so.
# shellcheck disable=SC1091
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
repo=$(cd "$(dirname "$0")/../.." && pwd)
src=shw_src_$$
state=shw_state_$$
new_db "$src"
new_db "$state"
psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
create table clients (id bigint primary key, phone text, note text);
insert into clients select g, case when g % 50 = 0 then null else '79' || (g * 7919 % 1000000) end,
  repeat('n', 40) || g from generate_series(1, 6000) g;
analyze;
SQL
"$repo/scripts/sample-clients.sh" "$work/src.db" 6000 >/dev/null
printf '[copy]\nchunk_size = "48kB"\n[sqlite]\nchunk_rows = 500\n[state]\nlease_s = 1\n' >job.toml
# The coordinator of scenario 2 holds its first chunk until the test releases it (once the
# other workers joined), then dies with that chunk in one file and not in the others.
printf '[copy]\nchunk_size = "48kB"\n[copy.debug]\nexit_mid_chunk = 1\nhold_first_chunk = true\n[sqlite]\nchunk_rows = 500\n[state]\nlease_s = 1\n' >dies.toml
printf '[copy]\nchunk_size = "48kB"\n[sqlite]\nchunk_rows = 250\n[state]\nlease_s = 1\n' >other.toml
printf '[copy]\nchunk_size = "48kB"\n[copy.debug]\nhold_first_chunk = true\n[sqlite]\nchunk_rows = 500\n[state]\nlease_s = 1\n' >holds.toml
q() { psql -qXAt -d "$state" -c "$1" 2>/dev/null || echo 0; }
worker() {  # name source target job config extra...: in the background, pid in $pid
  local name=$1 from=$2 to=$3 job=$4 cfg=$5
  shift 5
  "$bin" run --config "$cfg" --jobs 1 --source "$from" --target "$to" --state-dir "$work/sd_$name" \
    --state-url "$(tcp_url "$state")" --job "$job" "$@" >"$work/$name.out" 2>"$work/$name.err" &
  pid=$!
}
dump() {  # dir table order: one line per file, the sha256 of its rows
  local f
  for f in "$1/$2"_shard_*.db; do
    printf '%s %s\n' "$(basename "$f")" "$(sqlite3 "$f" "select * from $2 order by $3" | sha256sum | cut -c1-16)"
  done
}
finished() {  # dir table: every file finished (WAL, marked complete, its index built)
  local f
  for f in "$1/$2"_shard_*.db; do
    [ "$(sqlite3 "$f" "pragma journal_mode")" = wal ] || fail "$f: not in WAL mode"
    [ "$(sqlite3 "$f" "select value from _uringmig_meta where key = 'status'")" = complete ] ||
      fail "$f: not marked complete"
    [ "$(sqlite3 "$f" "select count(*) from sqlite_schema where type = 'index' and tbl_name = '$2'")" -ge 1 ] ||
      fail "$f: no index"
  done
}
once() {  # job dir table what logs...: one done mark per chunk in the state and in every file
  local planned f n
  local job=$1 dir=$2 table=$3 what=$4
  shift 4
  planned=$(q "select count(*) from uringmig_state.chunk where job = '$job'")
  [ "$planned" -gt 3 ] || fail "$what: $planned chunk(s) planned, expected several"
  [ "$(q "select count(*) from uringmig_state.chunk where job = '$job' and status = 'done'")" = "$planned" ] ||
    fail "$what: not every chunk done in the state"
  for f in "$dir/$table"_shard_*.db; do
    [ "$(sqlite3 "$f" "select count(*) from _uringmig_chunks")" = "$planned" ] ||
      fail "$what: $f has $(sqlite3 "$f" "select count(*) from _uringmig_chunks") chunk marks, not $planned"
  done
  n=$(cat "$@" | grep -c "table $table: finishing its files")
  [ "$n" = 1 ] || fail "$what: the files of $table were finished $n times"
}

# 1. PostgreSQL source, three copies of one command: the same files as one process writes, each
#    chunk once, the chunks shared, one snapshot (the coordinator's) for all.
pgsrc=$(tcp_url "$src")
"$bin" run --config job.toml --source "$pgsrc" --target "sqlite://$work/ref1?shards=3&shard_key=phone" \
  --state-dir "$work/sd_ref1" >ref1.out 2>ref1.err || fail "single process: $(tail -3 ref1.err)"
t1="sqlite://$work/out1?shards=3&shard_key=phone"
# a holds its first chunk until b or c has done one: the chunks are shared whoever is fastest.
worker a "$pgsrc" "$t1" one holds.toml; pa=$pid
worker b "$pgsrc" "$t1" one job.toml; pb=$pid
worker c "$pgsrc" "$t1" one job.toml; pc=$pid
for _ in $(seq 600); do
  [ "$(q "select count(*) from uringmig_state.chunk where job = 'one' and status = 'done'")" -ge 1 ] && break
  kill -0 "$pa" 2>/dev/null || break
  sleep 0.05
done
q "insert into uringmig_state.kv (job, key, value) values ('one', 'debug.release', '1')" >/dev/null
for p in $pa $pb $pc; do wait "$p" || fail "scenario 1: a worker exited $?: $(tail -n 2 "$work"/[abc].err)"; done
[ "$(dump out1 clients id)" = "$(dump ref1 clients id)" ] || fail "three workers: the shard files differ from one process's"
finished out1 clients
once one out1 clients "three workers" a.err b.err c.err
[ "$(q "select count(distinct done_by) from uringmig_state.chunk where job = 'one'")" -ge 2 ] ||
  fail "three workers: the chunks were not shared"
[ "$(cat "$work"/[abc].err | grep -c 'coordinating job')" = 1 ] || fail "three workers: not one coordinator"
snap=$(q "select value from uringmig_state.kv where job = 'one' and key = 'workers.snapshot'")
[ -n "$snap" ] || fail "three workers: the coordinator published no snapshot"
[ "$(grep -l "source snapshot $snap" "$work"/[abc].err | wc -l)" = 1 ] &&
  [ "$(grep -l "reading under the coordinator's snapshot $snap" "$work"/[abc].err | wc -l)" = 2 ] ||
  fail "three workers: not all under the coordinator's snapshot"

# 2. SQLite source: the coordinator dies in its first chunk, once one file has it and the
#    others not; the other workers take it again after the lease; identical files. While it
#    waits for its workers, one of another definition and one that does not see the job's
#    directory are refused.
sqsrc="sqlite://$work/src.db"
"$bin" run --config job.toml --source "$sqsrc" --target "sqlite://$work/ref2?shards=3&shard_key=MOBILE_NUMBER" \
  --state-dir "$work/sd_ref2" >ref2.out 2>ref2.err || fail "single process: $(tail -3 ref2.err)"
t2="sqlite://$work/out2?shards=3&shard_key=MOBILE_NUMBER"
worker d "$sqsrc" "$t2" two dies.toml; pd=$pid
for _ in $(seq 300); do
  [ "$(q "select exists (select 1 from uringmig_state.kv where job = 'two' and key = 'workers.ready')")" = t ] && break
  kill -0 "$pd" 2>/dev/null || break
  sleep 0.05
done
expect_exit 2 "$bin" run --config other.toml --source "$sqsrc" --target "$t2" --state-dir "$work/sd_x" \
  --state-url "$(tcp_url "$state")" --job two
grep -q "^uringmig: this worker's sqlite.chunk_rows (250) differs" "$work/err" ||
  fail "another definition: $(tail -n 1 "$work/err")"
mv out2/.uringmig-workers mark.saved
expect_exit 2 "$bin" run --config job.toml --source "$sqsrc" --target "$t2" --state-dir "$work/sd_y" \
  --state-url "$(tcp_url "$state")" --job two
grep -q "^uringmig: --target: .*out2 does not hold the files this job's other workers write" "$work/err" ||
  fail "no shared directory: $(tail -n 1 "$work/err")"
mv mark.saved out2/.uringmig-workers
worker e "$sqsrc" "$t2" two job.toml; pe=$pid
worker f "$sqsrc" "$t2" two job.toml; pf=$pid
for _ in $(seq 300); do  # both joined the coordinator's round: then it may die
  [ "$(cat e.err f.err | grep -c 'joining job')" = 2 ] && break
  kill -0 "$pe" 2>/dev/null && kill -0 "$pf" 2>/dev/null || break
  sleep 0.05
done
q "insert into uringmig_state.kv (job, key, value) values ('two', 'debug.release', '1')" >/dev/null
rc=0; wait "$pd" || rc=$?
[ "$rc" = 137 ] || fail "scenario 2: the dying coordinator exited $rc: $(tail -n 2 "$work/d.err")"
for p in $pe $pf; do wait "$p" || fail "scenario 2: a worker exited $?: $(tail -n 2 "$work"/[ef].err)"; done
grep -q "taken again" "$work/e.err" "$work/f.err" || fail "scenario 2: no chunk was taken again"
[ "$(dump out2 clients INN)" = "$(dump ref2 clients INN)" ] || fail "worker killed: the shard files differ from one process's"
finished out2 clients
once two out2 clients "worker killed" d.err e.err f.err

# 3. PostgreSQL source: every worker holds its first chunk (its reader not yet in the
#    coordinator's snapshot) when the coordinator is killed; g stops with one line (exit 1),
#    h (--allow-inconsistent) reads under fresh snapshots and ends the job identical.
t3="sqlite://$work/out3?shards=3&shard_key=phone"
worker c3 "$pgsrc" "$t3" three holds.toml; pc3=$pid
for _ in $(seq 300); do
  [ "$(q "select exists (select 1 from uringmig_state.kv where job = 'three' and key = 'workers.ready')")" = t ] && break
  kill -0 "$pc3" 2>/dev/null || break
  sleep 0.05
done
worker g "$pgsrc" "$t3" three holds.toml; pg_=$pid
worker h "$pgsrc" "$t3" three holds.toml --allow-inconsistent; ph=$pid
for _ in $(seq 300); do  # each of the three holds a chunk
  [ "$(q "select count(distinct leased_by) from uringmig_state.chunk where job = 'three' and status = 'pending' and leased_by is not null")" = 3 ] && break
  kill -0 "$pg_" 2>/dev/null && kill -0 "$ph" 2>/dev/null || break
  sleep 0.05
done
kill -9 "$pc3"; wait "$pc3" 2>/dev/null || true
q "insert into uringmig_state.kv (job, key, value) values ('three', 'debug.release', '1')" >/dev/null
rc=0; wait "$pg_" || rc=$?
[ "$rc" = 1 ] || fail "scenario 3: the consistent worker exited $rc: $(tail -n 2 "$work/g.err")"
grep -q "^uringmig: the coordinator of job .* ended and its exported snapshot with it" "$work/g.err" ||
  fail "scenario 3: no clear stop: $(tail -n 1 "$work/g.err")"
wait "$ph" || fail "scenario 3: the --allow-inconsistent worker exited $?: $(tail -n 2 "$work/h.err")"
grep -q "snapshot: not consistent" "$work/h.out" || fail "scenario 3: the summary does not say not consistent"
[ "$(dump out3 clients id)" = "$(dump ref1 clients id)" ] || fail "coordinator killed: the shard files differ from one process's"
finished out3 clients
finish shards_workers
