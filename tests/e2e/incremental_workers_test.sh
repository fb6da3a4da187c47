#!/usr/bin/env bash
# uses-fixture: pg
# Several uringmig processes (standing in for hosts) on one incremental PostgreSQL -> PostgreSQL
# job through a shared state (--state-url): three workers share the chunks of the windows one
# of them (the coordinator) opened; the target equals the source, every chunk's done mark is
# written once (the state's and the target's), the watermark moves once per window and the
# indexes a full load dropped are rebuilt once. A second round moves only the changed rows. A
# worker killed (kill -9) while its chunk waits on a row lock the test holds has its chunk taken
# again after its lease, and the job ends identical; a worker of another definition is refused.
# (A Doris target on several workers: incremental_doris_workers_test.sh.)
# shellcheck disable=SC1091
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
. "$(dirname "${BASH_SOURCE[0]}")/lib/hold.sh"
src=incw_src_$$
dst=incw_dst_$$
state=incw_state_$$
new_db "$src"
new_db "$dst"
new_db "$state"
psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
create table items (id int primary key, v text, ts timestamptz);
insert into items select g, 'v' || g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 ms'
  from generate_series(1, 8000) g;
create table refs (id int primary key, note text);
insert into refs select g, 'n' || (g % 97) from generate_series(1, 3000) g;
SQL
psql -qX -v ON_ERROR_STOP=1 -d "$dst" <<'SQL'
create table refs_copy (id int primary key, note text);
create index refs_note on refs_copy (note);
SQL
config() {  # file chunk_rows [debug line]
  cat >"$1" <<EOF
source = "$(url "$src")"
target = "$(url "$dst")"
preset = "incremental"
[incremental]
chunk_rows = $2
[state]
lease_s = 1
[copy.debug]
wait_workers = 3
${3:-}
[[tables]]
source = "public.items"
target = "public.items_copy"
key = ["id"]
watermark = "ts"
chunk_by = "id"
[[tables]]
source = "public.refs"
target = "public.refs_copy"
key = ["id"]
mode = "full"
disable_indexes = true
chunk_by = "id"
EOF
}
config job.toml 1000
config other.toml 2000
config dies.toml 1000 "exit_mid_chunk = 1"
q() { psql -qXAt -d "$state" -c "$1"; }
t() { psql -qXAt -d "$dst" -c "$1"; }
worker() {  # name N/M [config]: in the background, pid in $pid
  "$bin" run --config "${3:-job.toml}" --jobs 1 --state-dir "$work/sd_$1" --state-url "$(tcp_url "$state")" \
    --job inc --worker "$2" >"$work/$1.out" 2>"$work/$1.err" &
  pid=$!
}
mark() { t "select mark from uringmig.watermarks where target_table = 'public.items_copy'"; }
md5() {  # table: its rows' md5 in key order
  echo "(select md5(string_agg(t::text, '|' order by id)) from $1 t)"
}
# round label logs...: the checks every round makes once its workers are done (few queries: each
# psql costs a tenth of a second here). Sets $upserted: the rows items' window upserted.
round() {
  local label=$1 planned done_state sharers done_target runs_done index left mark_now a b
  shift
  IFS='|' read -r planned done_state sharers <<<"$(q "select count(*), count(*) filter (where
    status = 'done'), count(distinct done_by) from uringmig_state.chunk where job = 'inc'")"
  IFS='|' read -r done_target runs_done index left last_run upserted mark_now b <<<"$(t "select
    (select count(*) from uringmig.chunks where table_run_id > $last_run and status = 'done'),
    (select count(*) from uringmig.table_runs where table_run_id > $last_run and status = 'done'),
    (select count(*) from pg_indexes where indexname = 'refs_note'),
    (select count(*) from uringmig.dropped_indexes),
    (select max(table_run_id) from uringmig.table_runs),
    (select sum(rows_upserted) from uringmig.chunks where table_run_id = (select max(table_run_id)
      from uringmig.table_runs where target_table = 'public.items_copy')),
    (select mark from uringmig.watermarks where target_table = 'public.items_copy'),
    $(md5 items_copy) || $(md5 refs_copy)")"
  a=$(psql -qXAt -d "$src" -c "select $(md5 items) || $(md5 refs)")
  [ "$a" = "$b" ] || fail "$label: the target differs from the source"
  [ "$planned" -ge 4 ] || fail "$label: $planned chunk(s) planned, expected several"
  [ "$done_state" = "$planned" ] || fail "$label: not every chunk done in the state"
  [ "$done_target" = "$planned" ] || fail "$label: the target's done marks are not the state's chunks"
  [ "$runs_done" = 2 ] || fail "$label: not both table runs done"
  # How many workers did chunks is printed, not asserted: a fast coordinator may do them all
  # before the others see its plan (rounds 2 and 3 prove the takeovers between workers).
  echo "$label: $planned chunks done by $sharers worker(s)"
  [ "$index/$left" = 1/0 ] || fail "$label: the dropped index was not rebuilt"
  [ "$mark_now" = "$want_mark" ] || fail "$label: mark '$mark_now', expected '$want_mark'"
  [ "$(cat "$@" | grep -c 'coordinating job')" = 1 ] || fail "$label: not one coordinator"
  [ "$(cat "$@" | grep -c 'public.refs_copy: finished by worker .* (1 dropped index(es) rebuilt)')" = 1 ] ||
    fail "$label: refs_copy not finished once: $(cat "$@" | grep 'finished by' || true)"
}
# From round 2 on, triggers count the target's done marks and mark moves: one per chunk and
# one per window.
counted() {  # label
  local dup marks moves
  IFS='|' read -r dup marks moves <<<"$(psql -qXAt -d "$dst" -c "select count(*) -
    count(distinct (table_run_id, chunk_no)), count(*), (select count(*) from mark_moves where
    target_table = 'public.items_copy') from chunk_marks" -c "truncate chunk_marks, mark_moves")"
  [ "$dup" = 0 ] || fail "$1: a chunk's done mark was written twice on the target"
  [ "$marks" = "$(q "select count(*) from uringmig_state.chunk where job = 'inc'")" ] ||
    fail "$1: not one target done mark per chunk"
  [ "$moves" = 1 ] || fail "$1: the items mark moved $moves times"
}
last_run=0

# 1. Three copies of one command: one coordinates (opens both windows: the full load's truncate
#    and index drop), all share the chunks.
worker a 1/3; pa=$pid
worker b 2/3; pb=$pid
worker c 3/3; pc=$pid
for p in $pa $pb $pc; do wait "$p" || fail "round 1: a worker exited $?: $(tail -n 2 "$work"/[abc].err)"; done
want_mark="2024-01-01 00:00:08+00" round "round 1" a.err b.err c.err
grep -q "public.items_copy: .* rows read, .* (this worker's chunks)" a.out || fail "round 1: no summary: $(cat a.out)"
psql -qX -v ON_ERROR_STOP=1 -d "$dst" <<'SQL'
create table chunk_marks (table_run_id bigint, chunk_no int);
create table mark_moves (target_table text, mark text);
create function chunk_marked() returns trigger language plpgsql as
  $$begin insert into public.chunk_marks values (new.table_run_id, new.chunk_no); return new; end$$;
create function mark_moved() returns trigger language plpgsql as
  $$begin insert into public.mark_moves values (new.target_table, new.mark); return new; end$$;
create trigger chunk_marked after update on uringmig.chunks for each row
  when (new.status = 'done') execute function chunk_marked();
create trigger mark_moved after update on uringmig.watermarks for each row execute function mark_moved();
SQL

# 2. A third of the rows change: only those move. The coordinator dies (as kill -9) right after
#    its first chunk committed on the target, before the state has it done: the worker that
#    takes the chunk again after the lease finds its mark on the target and skips it.
psql -qX -v ON_ERROR_STOP=1 -d "$src" -c "update items set v = v || '!', ts = ts + interval '1 day' where id % 3 = 0"
worker d 1/3 dies.toml; pd=$pid
for _ in $(seq 100); do grep -q "coordinating job" d.err && break; sleep 0.05; done
worker e 2/3; pe=$pid
worker f 3/3; pf=$pid
rc=0; wait "$pd" || rc=$?
[ "$rc" = 137 ] || fail "round 2: the dying coordinator exited $rc: $(tail -n 2 "$work/d.err")"
for p in $pe $pf; do wait "$p" || fail "round 2: a worker exited $?: $(tail -n 2 "$work"/[ef].err)"; done
cat e.err f.err | grep -q "chunk .: already done on the target .*; skipped" ||
  fail "round 2: the chunk committed before its worker died was not skipped"
want_mark="2024-01-02 00:00:07.998+00" round "round 2" d.err e.err f.err
counted "round 2"
[ "$upserted" = 2666 ] || fail "round 2: $upserted rows upserted, not only the 2666 changed ones"

# 3. Every row changes; a lock on the target's row 2500 holds one chunk. Once every other chunk
#    is in, its worker is known (its lease); a worker of another definition is refused, then
#    that worker is killed: another takes the chunk after the lease and the job ends identical.
psql -qX -v ON_ERROR_STOP=1 -d "$src" -c "update items set v = v || '?', ts = ts + interval '2 days'"
hold lock "$dst" "begin; select 1 from items_copy where id = 2500 for update;"
for _ in $(seq 100); do grep -q "(1 row)" hold_lock.out && break; sleep 0.05; done
worker g 1/3; pg=$pid
worker h 2/3; ph=$pid
worker i 3/3; pi=$pid
wait_true "$state" "select count(*) = 1 and bool_and(leased_by is not null) from uringmig_state.chunk
  where job = 'inc' and status = 'pending' and exists (select 1 from uringmig_state.chunk where job = 'inc'
  and status = 'done')" || fail "round 3: the chunks other than the held one did not finish"
wait_true "$dst" "select exists (select 1 from $sessions s where wait_event_type = 'Lock' and application_name = 'uringmig incremental')" ||
  fail "round 3: no worker waits on the held row"
victim=$(q "select substring(leased_by from ':([0-9]+)') from uringmig_state.chunk where job = 'inc' and status = 'pending'")
expect_exit 2 "$bin" run --config other.toml --jobs 1 --state-dir "$work/sd_x" --state-url "$(tcp_url "$state")" --job inc
grep -q "^uringmig: this worker's incremental.chunk_rows (2000) differs" "$work/err" ||
  fail "another definition: $(tail -n 1 "$work/err")"
[ -n "$victim" ] && kill -9 "$victim"
for _ in $(seq 100); do cat g.err h.err i.err | grep -q "taken again" && break; sleep 0.05; done
cat g.err h.err i.err | grep -q "taken again" || fail "round 3: the held chunk was not taken again"
[ "$(mark)" = "2024-01-02 00:00:07.998+00" ] || fail "round 3: the mark moved ahead of the data: $(mark)"
release lock
for p in $pg $ph $pi; do
  rc=0; wait "$p" || rc=$?
  if [ "$p" = "$victim" ]; then
    [ "$rc" = 137 ] || fail "round 3: the killed worker exited $rc"
  else
    [ "$rc" = 0 ] || fail "round 3: a worker exited $rc: $(tail -n 2 "$work"/[ghi].err)"
  fi
done
want_mark="2024-01-04 00:00:07.998+00" round "round 3" g.err h.err i.err
counted "round 3"
finish incremental_workers
