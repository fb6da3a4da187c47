#!/usr/bin/env bash
# SQLite -> SQLite shard sets and a plain SQLite copy: every row once, in the shard its key
# routes to (checked by `verify`, whose routing the unit tests pin to hashlib vectors), storage
# classes and non-ASCII names kept, indexes built, files in WAL mode and marked complete,
# status recorded; a second run without --restart refuses to overwrite.
# shellcheck disable=SC1091
. "$(dirname "$0")/lib/common.sh"

repo=$(cd "$(dirname "$0")/../.." && pwd)
"$repo/scripts/sample-clients.sh" src.db 30000 >/dev/null
sqlite3 src.db <<'SQL'
-- Every storage class, a non-ASCII column name, an INTEGER PRIMARY KEY (the rowid itself),
-- sparse rowids, and a WITHOUT ROWID table.
create table "ИНН клиента"(id integer primary key, "ИНН" text, phone, amount real, raw blob,
                           n integer);
with recursive n(i) as (select 1 union all select i + 1 from n where i < 5000)
insert into "ИНН клиента"
select i * 3, printf('%012d', i), case i % 5 when 0 then null when 1 then i when 2 then i * 1.5
                                       when 3 then x'00ff' || cast(i as blob) else 'п' || i end,
       i / 7.0, case when i % 2 = 0 then randomblob(8) end, case when i % 4 = 0 then null else i end
from n;
create table kv(k text primary key, v text) without rowid;
insert into kv values ('a', '1'), ('b', null), ('c', 'три');
create index clients_inn on clients(INN);
SQL

cat >job.toml <<'TOML'
[sqlite]
chunk_rows = 2000
index = ["SNILS"]
TOML
dst="sqlite://$work/shards?shards=4&shard_key=MOBILE_NUMBER"
# plan: checks and prints, writes nothing.
"$bin" plan --config job.toml --source "sqlite://$work/src.db" --target "$dst" --tables clients \
  --state-dir stp >plan.out 2>plan.err || fail "plan: $(tail -3 plan.err)"
grep -q "clients_shard_00.db .. .*clients_shard_04.db (5 files, key MOBILE_NUMBER)" plan.out ||
  fail "plan output: $(cat plan.out)"
grep -q "15 rowid-range chunks" plan.out || fail "plan chunks: $(cat plan.out)"
[ ! -e shards ] && [ ! -e stp ] || fail "plan wrote files"
# phone is the key for the other table: one run per key column.
"$bin" run --config job.toml --source "sqlite://$work/src.db" --target "$dst" --tables clients \
  --state-dir st1 >run1.out 2>run1.err || fail "run clients: $(tail -3 run1.err)"
grep -q "wall time" run1.out || fail "no summary printed"
# Nothing beside the files: no journal, WAL or shared-memory file left behind (checked before
# anything else opens them; a read-only reader of a WAL file leaves its -wal and -shm).
[ -z "$(ls shards | grep -v '\.db$')" ] || fail "files left beside the shards: $(ls shards | tr '\n' ' ')"
"$bin" verify --source "sqlite://$work/src.db" --target "$dst" --tables clients >verify1.out 2>&1 ||
  fail "verify clients: $(cat verify1.out)"
[ -z "$(ls shards | grep -v '\.db$')" ] || fail "verify left files beside the shards: $(ls shards | tr '\n' ' ')"
[ "$(ls shards | grep -c '^clients_shard_0[0-4]\.db$')" -eq 5 ] || fail "expected 5 files: $(ls shards)"

# The files: WAL, complete, indexes on the key, SNILS, and the source's own index.
for f in shards/clients_shard_0{0..4}.db; do
  [ "$(sqlite3 "$f" 'pragma journal_mode')" = wal ] || fail "$f is not in WAL mode"
  [ "$(sqlite3 "$f" "select value from _uringmig_meta where tbl = 'clients' and key = 'status'")" = complete ] ||
    fail "$f is not marked complete"
  idx=$(sqlite3 "$f" "select group_concat(name, ',') from (select name from sqlite_schema where type = 'index' and tbl_name = 'clients' order by name)")
  [ "$idx" = "clients_MOBILE_NUMBER_idx,clients_SNILS_idx,clients_inn" ] || fail "$f indexes: $idx"
done
# NULL and blank keys are all in the reserved file (index 4), and only there.
blank_src=$(sqlite3 src.db "select count(*) from clients where trim(coalesce(MOBILE_NUMBER, '')) = ''")
blank_res=$(sqlite3 shards/clients_shard_04.db "select count(*) from clients")
[ "$blank_src" -gt 0 ] && [ "$blank_src" = "$blank_res" ] || fail "reserved shard has $blank_res rows, source has $blank_src blank keys"

# Sharding the other table by a column holding every storage class.
dst2="sqlite://$work/shards2?shards=3&shard_key=phone&reserved_shard=0"
"$bin" run --config job.toml --source "sqlite://$work/src.db" --target "$dst2" --tables 'ИНН клиента' \
  --state-dir st2 >run2.out 2>run2.err || fail "run ИНН клиента: $(tail -3 run2.err)"
"$bin" verify --source "sqlite://$work/src.db" --target "$dst2" --tables 'ИНН клиента' >verify2.out 2>&1 ||
  fail "verify ИНН клиента: $(cat verify2.out)"
[ "$(ls shards2 | grep -c "\.db$")" -eq 3 ] || fail "reserved_shard=0 should give 3 files: $(ls shards2)"
types_src=$(sqlite3 src.db "select group_concat(t || ':' || c) from (select typeof(phone) t, count(*) c from \"ИНН клиента\" group by 1 order by 1)")
types_dst=$(for f in shards2/*.db; do sqlite3 "$f" "select typeof(phone), typeof(raw), typeof(n), id, \"ИНН\" from \"ИНН клиента\""; done |
  awk -F'|' '{print $1}' | sort | uniq -c | awk '{printf "%s%s:%s", (NR>1?",":""), $2, $1}')
[ "$types_src" = "$types_dst" ] || fail "storage classes changed: source $types_src, shards $types_dst"
ids=$(for f in shards2/*.db; do sqlite3 "$f" "select count(*) from \"ИНН клиента\" where rowid = id"; done | awk "{s += \$1} END {print s}")
[ "$ids" -eq 5000 ] || fail "rowids of the INTEGER PRIMARY KEY table changed ($ids of 5000 kept)"

# The INTEGER PRIMARY KEY itself as the key (its values live in the rowid, not the record),
# and an empty table.
sqlite3 src.db "create table empty_t(k text, v text)"
dst3="sqlite://$work/shards3?shards=4&shard_key=id"
"$bin" run --source "sqlite://$work/src.db" --target "$dst3" --tables 'ИНН клиента' --state-dir st5 \
  >/dev/null 2>run5.err || fail "key = INTEGER PRIMARY KEY: $(tail -3 run5.err)"
"$bin" verify --source "sqlite://$work/src.db" --target "$dst3" --tables 'ИНН клиента' >v5.out 2>&1 ||
  fail "verify, key = INTEGER PRIMARY KEY: $(cat v5.out)"
dst4="sqlite://$work/shards4?shards=2&shard_key=k"
"$bin" run --source "sqlite://$work/src.db" --target "$dst4" --tables empty_t --state-dir st6 \
  >/dev/null 2>run6.err || fail "empty table: $(tail -3 run6.err)"
"$bin" verify --source "sqlite://$work/src.db" --target "$dst4" --tables empty_t >v6.out 2>&1 ||
  fail "verify, empty table: $(cat v6.out)"

# A plain copy of every table into one file (WITHOUT ROWID table included).
"$bin" run --source "sqlite://$work/src.db" --target "sqlite://$work/copy.db" --state-dir st3 \
  >run3.out 2>run3.err || fail "plain copy: $(tail -3 run3.err)"
"$bin" verify --source "sqlite://$work/src.db" --target "sqlite://$work/copy.db" >verify3.out 2>&1 ||
  fail "verify plain copy: $(cat verify3.out)"
grep -q "all 4 table(s) identical" verify3.out || fail "plain copy verify: $(cat verify3.out)"

# status reads the job back; a second run refuses to overwrite; --restart replaces.
"$bin" status --state-dir st1 --json >status.json || fail "status"
grep -q '"status":"done"' status.json || fail "status does not say done: $(head -c 300 status.json)"
expect_exit 2 "$bin" run --source "sqlite://$work/src.db" --target "$dst" --tables clients --state-dir st4
grep -q "already exists: use --restart" err || fail "overwrite not refused: $(cat err)"
"$bin" run --source "sqlite://$work/src.db" --target "$dst" --tables clients --state-dir st4 --restart \
  >/dev/null 2>run4.err || fail "--restart: $(tail -3 run4.err)"
"$bin" verify --source "sqlite://$work/src.db" --target "$dst" --tables clients >/dev/null 2>&1 ||
  fail "verify after --restart"

# verify notices a changed value and a row in the wrong file.
sqlite3 shards/clients_shard_01.db "update clients set balance = balance + 1 where rowid = 3"
expect_exit 1 "$bin" verify --source "sqlite://$work/src.db" --target "$dst" --tables clients
grep -q "contents differ" stdout || fail "changed value not noticed: $(cat stdout)"

# Sparse rowids (hashed or time-based ids, both signs): chunks of chunk_rows rows found by a
# scan, not one per chunk_rows of the rowid span (2^63 here, which does not fit an int64).
sqlite3 sparse.db "create table ids(id integer primary key, k text);
                   insert into ids values (-4611686018427387904, 'a'), (1, 'b'),
                                          (1099511627776, 'c'), (4611686018427387904, 'd');"
printf '[sqlite]\nchunk_rows = 2\n' >sparse.toml
timeout -s KILL 60 "$bin" run --config sparse.toml --source "sqlite://$work/sparse.db" \
  --target "sqlite://$work/sparse?shards=2&shard_key=k" --state-dir sts >sparse.out 2>sparse.err ||
  fail "sparse rowids: $(tail -3 sparse.err)"
"$bin" verify --source "sqlite://$work/sparse.db" --target "sqlite://$work/sparse?shards=2&shard_key=k" \
  >sparse_v.out 2>&1 || fail "verify, sparse rowids: $(cat sparse_v.out)"
[ "$(sqlite3 sts/state.db "select count(*) from chunk")" -eq 2 ] ||
  fail "sparse rowids: $(sqlite3 sts/state.db "select count(*) from chunk") chunks planned"

# Virtual tables (FTS5 here) are not copied, and neither are the shadow tables that hold their
# data: plan and the run's summary name them.
sqlite3 vt.db "create table a(k text, v int); insert into a values ('x', 1), ('y', 2);
               create virtual table docs using fts5(k, body);
               insert into docs values ('z', 'hello world');"
"$bin" plan --source "sqlite://$work/vt.db" --target "sqlite://$work/vt_shards?shards=2&shard_key=k" \
  --state-dir stv0 >vplan.out 2>vplan.err || fail "plan with a virtual table: $(tail -3 vplan.err)"
grep -q "^not copied: virtual table docs (fts5) and its shadow tables docs_config, docs_content, docs_data, docs_docsize, docs_idx (SQLite virtual tables are not copied" vplan.out ||
  fail "plan does not name the virtual table: $(cat vplan.out)"
grep -q "docs_" <(grep -v "^not copied" vplan.out) && fail "plan copies a shadow table: $(cat vplan.out)"
"$bin" run --source "sqlite://$work/vt.db" --target "sqlite://$work/vt_copy.db" --state-dir stv \
  >vrun.out 2>vrun.err || fail "run with a virtual table: $(tail -3 vrun.err)"
grep -q "^not copied: virtual table docs (fts5)" vrun.out || fail "summary does not name the virtual table: $(cat vrun.out)"
[ "$(sqlite3 vt_copy.db "select group_concat(name) from sqlite_schema where name like 'docs%'")" = "" ] ||
  fail "shadow tables copied: $(sqlite3 vt_copy.db "select group_concat(name) from sqlite_schema")"
"$bin" verify --source "sqlite://$work/vt.db" --target "sqlite://$work/vt_copy.db" >vverify.out 2>&1 ||
  fail "verify with a virtual table: $(cat vverify.out)"
grep -q "all 1 table(s) identical" vverify.out || fail "verify with a virtual table: $(cat vverify.out)"
expect_exit 2 "$bin" run --source "sqlite://$work/vt.db" --target "sqlite://$work/vt_only.db" --tables docs \
  --state-dir stv2
grep -q "nothing to copy (virtual tables are not copied: virtual table docs (fts5)" err ||
  fail "only a virtual table selected: $(cat err)"
finish shards_sqlite
