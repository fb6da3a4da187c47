#!/usr/bin/env bash
# The online preset end to end: writes on the source during the copy and while following all
# reach the target (no gap, no overlap with the slot's snapshot); `switchover` waits for the
# follower, syncs sequences, both exit 0, and nothing is left on the source; kill -9 of the
# follower then `uringmig follow` resumes exactly once; a switchover with no follower running
# fails (exit 1); a keyless table without REPLICA IDENTITY is refused up front. A partitioned
# table gains a partition while following; the job's publication is not cloned.
# uses-fixture: pg
# shellcheck disable=SC1091
. "$(dirname "$0")/lib/pg.sh"

src=online_src_$$
dst=online_dst_$$
new_db "$src"
new_db "$dst"
psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
create table accounts(id bigserial primary key, owner text not null, balance numeric(12,2),
                      note text, updated timestamptz default now(), code char(8), bits bit(4));
insert into accounts(owner, balance, note)
  select 'owner ' || g, g * 1.5, case when g % 100 = 0 then repeat('toast ', 2000) end
  from generate_series(1, 20000) g;
create table measures(day date not null, id int not null, v int, primary key (day, id))
  partition by range (day);
create table measures_1 partition of measures for values from ('2024-01-01') to ('2024-02-01');
create table measures_2 partition of measures for values from ('2024-02-01') to ('2024-03-01');
insert into measures select '2024-01-01'::date + g % 59, g, g from generate_series(1, 500) g;
create table events(kind text, payload jsonb);
alter table events replica identity full;
insert into events select 'boot', '{"n": 1}' from generate_series(1, 3);
SQL
# Source writes, as a client would make them: inserts, updates (some of the TOASTed rows keep
# their big value untouched), deletes, a rolled-back transaction, keyless duplicates.
write_load() {  # ROUND
  psql -qX -v ON_ERROR_STOP=1 -d "$src" <<SQL
begin;
insert into accounts(owner, balance) select 'new $1 ' || g, g from generate_series(1, 200) g;
update accounts set balance = balance + 1 where id % 97 = $1 % 97;
update accounts set owner = owner || '!', code = 'c$1', bits = B'1010' where id in (100, 200, 300);
delete from accounts where id % 101 = $1 % 101 and id < 20000;
commit;
begin;
insert into accounts(owner) values ('rolled back $1');
rollback;
insert into events values ('tick', '{"round": $1}'), ('tick', '{"round": $1}');
delete from events where ctid = (select ctid from events where kind = 'boot' limit 1);
SQL
}
sums() { table_sums "$1" | grep -v '^uringmig\.'; }

# 1. Copy while writing, follow, switchover.
"$bin" run --preset online --source "$(url "$src")" --target "$(url "$dst")" --state-dir st \
  --jobs 2 >run.out 2>run.err &
pid=$!
for r in 1 2 3; do write_load "$r"; done  # during the copy (or just after: both must arrive)
for _ in $(seq 1 600); do
  phase=$(sqlite3 st/state.db "select value from kv where key = 'online.phase'" 2>/dev/null || true)
  [ "$phase" = follow ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
[ "$phase" = follow ] || fail "the online job never reached the follow phase: $(tail -5 run.err)"
for r in 4 5 6; do write_load "$r"; done
# A partition attached while following (created on both sides, as DDL is not replicated):
# its rows arrive through the partitioned table; a row moves between partitions.
for db in "$src" "$dst"; do
  psql -qX -v ON_ERROR_STOP=1 -d "$db" -c "create table measures_3 partition of measures
    for values from ('2024-03-01') to ('2024-04-01')" >/dev/null
done
psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
insert into measures select '2024-03-01'::date + g % 31, 1000 + g, g from generate_series(1, 50) g;
update measures set day = '2024-03-15' where id = 7;
update measures set v = -1 where day = '2024-03-02';
delete from measures where id = 1010;
SQL
psql -qX -d "$src" -c "select setval('accounts_id_seq', 900000)" >/dev/null
expect_exit 0 "$bin" switchover --source "$(url "$src")" --target "$(url "$dst")" --state-dir st \
  --timeout 60s --verify
grep -q "switchover complete" stdout || fail "switchover: $(cat stdout err)"
# --verify: a manifest of every migrated table, each with its rows and checksum, all identical.
grep -q "^verifying the [0-9]* migrated table(s)" stdout || fail "switchover --verify: $(cat stdout)"
grep -Eq '^public\.accounts +[0-9]+ .* ok, checksum -?[0-9]+' stdout ||
  fail "switchover --verify: no manifest line for accounts: $(cat stdout)"
grep -Eq '^total: .* 0 differ, 0 could not be checked' stdout || fail "switchover --verify: $(cat stdout)"
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || fail "the online run exited $rc: $(tail -5 run.err)"
[ "$(sums "$src")" = "$(sums "$dst")" ] || fail "source and target differ after switchover:
$(diff <(sums "$src") <(sums "$dst"))"
# (Slots are cluster-wide and other tests run beside this one: count this database's.)
[ "$(psql -qXAt -d "$src" -c "select count(*) from pg_replication_slots where database = '$src'")" = 0 ] ||
  fail "a replication slot was left on the source"
[ "$(psql -qXAt -d "$src" -c "select count(*) from pg_publication")" = 0 ] ||
  fail "a publication was left on the source"
[ "$(psql -qXAt -d "$dst" -c "select count(*) from pg_publication")" = 0 ] ||
  fail "the job's publication was cloned into the target"
[ "$(psql -qXAt -d "$dst" -c "select count(*) from measures_3")" = 50 ] ||
  fail "rows of a partition attached while following did not arrive"
[ "$(psql -qXAt -d "$dst" -c "select last_value from accounts_id_seq")" = 900000 ] ||
  fail "sequences were not synced at switchover"
# Follow progress: the stats CSV's follow columns (the last line is written at the end) and
# `status`'s online line.
head -1 st/stats.csv | grep -q ',applied_lsn,lag_bytes,lag_s,apply_per_s,apply_queue$' ||
  fail "stats.csv has no follow columns: $(head -1 st/stats.csv)"
tail -1 st/stats.csv | awk -F, '$11 ~ /^[0-9A-F]+\/[0-9A-F]+$/ && $12 ~ /^[0-9]+$/ && $15 ~ /^[0-9]+$/ {ok = 1}
  END {exit !ok}' || fail "stats.csv: no follow values on the last line: $(tail -1 st/stats.csv)"
expect_exit 0 "$bin" status --state-dir st
grep -Eq '^online +switched_over; applied to [0-9A-F]+/[0-9A-F]+; lag [0-9]+ bytes' stdout ||
  fail "status shows no online line: $(cat stdout)"

# 2. kill -9 of the follower, then `uringmig follow`: every change exactly once.
dst2=online_dst2_$$
new_db "$dst2"
"$bin" run --preset online --source "$(url "$src")" --target "$(url "$dst2")" --state-dir st2 \
  >run2.out 2>run2.err &
pid=$!
for _ in $(seq 1 600); do
  phase=$(sqlite3 st2/state.db "select value from kv where key = 'online.phase'" 2>/dev/null || true)
  [ "$phase" = follow ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
[ "$phase" = follow ] || fail "run 2 never reached the follow phase: $(tail -5 run2.err)"
for r in 7 8 9 10 11 12; do write_load "$r"; done
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
for r in 13 14; do write_load "$r"; done
"$bin" follow --source "$(url "$src")" --target "$(url "$dst2")" --state-dir st2 >f.out 2>f.err &
pid=$!
# A row written on the target behind the follower's back: switchover --verify says so.
psql -qX -d "$dst2" -c "insert into accounts (id, owner) values (-42, 'target only')" >/dev/null ||
  fail "writing on the target"
expect_exit 1 "$bin" switchover --source "$(url "$src")" --target "$(url "$dst2")" \
  --state-dir st2 --timeout 60s --verify
grep -q "switchover complete" stdout || fail "switchover --verify: not switched over: $(cat stdout err)"
grep -q 'accounts' err || fail "switchover --verify does not name the differing table: $(cat err)"
psql -qX -d "$dst2" -c "delete from accounts where id = -42" >/dev/null
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || fail "uringmig follow exited $rc: $(tail -5 f.err)"
[ "$(sums "$src")" = "$(sums "$dst2")" ] || fail "after kill -9 and follow the tables differ:
$(diff <(sums "$src") <(sums "$dst2"))"

# 3. A switchover nobody answers: exit 1 after the timeout, naming it.
dst3=online_dst3_$$
new_db "$dst3"
"$bin" run --preset online --source "$(url "$src")" --target "$(url "$dst3")" --state-dir st3 \
  --max-runtime 600s >run3.out 2>run3.err &
pid=$!
for _ in $(seq 1 600); do
  phase=$(sqlite3 st3/state.db "select value from kv where key = 'online.phase'" 2>/dev/null || true)
  [ "$phase" = follow ] && break
  sleep 0.1
done
kill -TERM "$pid" 2>/dev/null || fail "job 3 ended before it could be stopped: $(tail -3 run3.err)"
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 1 ] || fail "SIGTERM while following: exit $rc, expected 1"
grep -q "uringmig follow" run3.err || fail "SIGTERM: no resume hint: $(tail -2 run3.err)"
expect_exit 1 "$bin" switchover --source "$(url "$src")" --target "$(url "$dst3")" \
  --state-dir st3 --timeout 2s
grep -q "no follower is running" err || fail "switchover without a follower: $(cat err)"
"$bin" run --preset online --restart --source "$(url "$src")" --target "$(url "$dst3")" \
  --state-dir st3 --dry-run >/dev/null 2>&1 || true

# 4. A keyless table without replica identity is refused before anything is created.
src4=online_src4_$$
new_db "$src4"
psql -qX -d "$src4" -c "create table loose(v text)" >/dev/null
expect_exit 2 "$bin" run --preset online --source "$(url "$src4")" --target "$(url "$dst3")" \
  --state-dir st4
grep -q "REPLICA IDENTITY FULL" err || fail "keyless table: $(cat err)"
[ "$(psql -qXAt -d "$src4" -c "select count(*) from pg_publication")" = 0 ] ||
  fail "a refused job created a publication"

# Leave nothing behind for the other tests: job 3 was interrupted, not switched over.
slot3=$(sqlite3 st3/state.db "select value from kv where key = 'online.slot'")
psql -qX -d "$src" -c "select pg_drop_replication_slot('$slot3')" >/dev/null || fail "job 3's slot is gone"
psql -qX -d "$dst3" -c "select pg_replication_origin_drop('$slot3')" >/dev/null ||
  fail "job 3's origin is gone"
# With several apply workers each has its own origin <origin>_<k>.
psql -qX -d "$dst3" -c "select pg_replication_origin_drop(roname) from pg_replication_origin
  where roname like '${slot3}\_%'" >/dev/null
finish online
