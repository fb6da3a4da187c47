#!/usr/bin/env bash
# uses-fixture: pg
# Per-table settings and filters of the bulk clone: a `where` filter, a chunk
# count, explicit ranges, a queue file, schema/table/regex exclusions; a
# permanently failing table fails alone (exit 1, named in the summary) while
# the others finish; transient connection loss on the target is retried.
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
src=cfg_src_$$; dst=cfg_dst_$$
new_db "$src"; new_db "$dst"
psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
create table evens (id int primary key, v text);
insert into evens select g, 'e' || g from generate_series(1, 1000) g;
create table counted (id bigint primary key, v text);
insert into counted select g, 'c' || g from generate_series(1, 4000) g;
create table ranged (id int primary key, v text);
insert into ranged select g, 'r' || g from generate_series(1, 300) g;
create table queued (k int, v text);
insert into queued select g, 'q' || g from generate_series(1, 500) g;
create table tmp_scratch (x int);
create table skipped_by_list (x int);
create schema audit;
create table audit.log (x int);
create table broken (id int primary key);
insert into broken select generate_series(1, 10);
SQL
cat >"$work/queue.txt" <<'EOF2'
# schema.table|column|range
public.queued|k|..250
public.queued|k|250..
EOF2
cat >"$work/job.toml" <<EOF2
[copy]
queue_file = "$work/queue.txt"

[filters]
exclude_schemas = ["audit"]
exclude_tables = ["public.skipped_by_list"]

[filters.exclude_regex]
public = ["^tmp_"]

[tables."public.evens"]
where = "id % 2 = 0"

[tables."public.counted"]
chunks = 4

[tables."public.ranged"]
chunk_column = "id"
ranges = ["..100", "100..200", "200.."]

[tables."public.broken"]
where = "this is not sql"
EOF2

rc=0
"$bin" run --preset bulk --config "$work/job.toml" --source "$(url "$src")" --target "$(url "$dst")" \
  --state-dir "$work/state" >"$work/out" 2>"$work/err" || rc=$?
cat "$work/out"; grep '^uringmig: ' "$work/err" || true
[ "$rc" -eq 1 ] || fail "a failing table must give exit 1, got $rc"
grep -q '^uringmig: 1 table(s) failed (public.broken' "$work/err" || fail "the failing table is not named"
grep -q 'public.broken.*failed' "$work/out" || fail "the summary does not show public.broken as failed"
q() { psql -qXAt -d "$dst" -c "$1"; }
[ "$(q "select count(*), min(id) % 2, max(id) from evens")" = "500|0|1000" ] || fail "where filter not applied"
[ "$(q "select count(*) from uringmig.chunk_done where table_name = 'counted'")" = 4 ] || fail "chunks = 4 not honoured"
[ "$(q "select count(*) from counted")" = 4000 ] || fail "counted lost rows"
[ "$(q "select count(*) from uringmig.chunk_done where table_name = 'ranged'")" = 3 ] || fail "ranges not honoured"
[ "$(q "select count(*), sum(id) from ranged")" = "300|45150" ] || fail "ranged lost or duplicated rows"
[ "$(q "select count(*) from uringmig.chunk_done where table_name = 'queued'")" = 2 ] || fail "queue file not honoured"
[ "$(q "select count(*) from queued")" = 500 ] || fail "queued lost rows"
[ "$(q "select count(*) from pg_class where relname in ('tmp_scratch', 'skipped_by_list')")" = 0 ] ||
  fail "excluded tables were created"
[ "$(q "select count(*) from pg_namespace where nspname = 'audit'")" = 0 ] || fail "excluded schema was created"

# Transient failures: terminate the target's copy sessions mid-run; chunks retry.
dst2=cfg_retry_$$; new_db "$dst2"
psql -qX -v ON_ERROR_STOP=1 -d "$src" -c "create table bulky (id bigint primary key, v text);
  insert into bulky select g, repeat('b', 200) from generate_series(1, 600000) g; drop table broken"
cat >"$work/retry.toml" <<'EOF2'
[copy]
chunk_size = "1MB"
EOF2
"$bin" run --preset bulk --config "$work/retry.toml" --jobs 2 --source "$(url "$src")" \
  --target "$(url "$dst2")" --state-dir "$work/state2" >"$work/out2" 2>"$work/err2" &
pid=$!
killed=0
for i in $(seq 1200); do
  n=$(psql -qXAt -d "$dst2" -c "select count(*) from uringmig.chunk_done" 2>/dev/null || echo 0)
  if [ "$n" -ge 3 ]; then
    # Between chunks a session may not be in COPY: keep trying until one is caught.
    killed=$(psql -qXAt -d "$dst2" -c "select count(*) from (select pg_terminate_backend(pid) from pg_stat_activity
      where datname = current_database() and application_name like 'uringmig-%' and pid <> pg_backend_pid()
      and query like 'COPY%' and state = 'active') s")
    [ "$killed" -ge 1 ] && break
  fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05
done
rc=0; wait "$pid" || rc=$?
grep -E 'retrying|uringmig: ' "$work/err2" | head -5
[ "$killed" -ge 1 ] || fail "no copy session was caught to terminate"
[ "$rc" -eq 0 ] || fail "the run did not survive terminated sessions (exit $rc)"
grep -q 'retrying in' "$work/err2" || fail "no retry was logged"
[ "$(psql -qXAt -d "$dst2" -c "select count(*), sum(id) from bulky")" = "600000|180000300000" ] ||
  fail "bulky lost or duplicated rows after retries"
finish bulk_config
