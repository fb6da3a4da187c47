#!/usr/bin/env bash
# uses-fixture: pg
# Incremental loads SQLite -> PostgreSQL: the target table is created from the SQLite columns
# (the documented type mapping), text timestamps are compared (and split into date/time
# chunks) as the file writes them, rows
# with a NULL watermark are loaded, blobs and odd text arrive intact; the second run upserts
# only what changed and reconcile deletes what the file lost.
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
dst=incr_sqlite_dst_$$
new_db "$dst"
db="$work/src.db"
sqlite3 "$db" <<'SQL'
create table Clients (Id integer primary key, Name text, Score real, Photo blob, Updated datetime, Active boolean);
with recursive g(i) as (select 1 union all select i + 1 from g where i < 3000)
insert into Clients select i, 'client ' || i, i / 4.0, randomblob(8), printf('2024-02-01 10:%02d:%02d', i / 60 % 60, i % 60), i % 2 from g;
insert into Clients values (5000, 'tab	and\newline', null, x'00ff', null, 1);
SQL
cat >job.toml <<EOF
source = "sqlite://$db"
target = "$(url "$dst")"
preset = "incremental"
[incremental]
chunk_rows = 1000
[[tables]]
source = "Clients"
target = "public.clients"
key = ["Id"]
watermark = "Updated"
lookback = "0"
chunk_by = "Updated"
deletes = "reconcile"
EOF
same() {  # label: every row, each value as text (bytea in hex)
  local a b
  a=$(sqlite3 -separator '|' "$db" "select Id, Name, case when Score is null then '' else printf('%g', Score) end, lower(hex(Photo)), coalesce(Updated, ''), Active from Clients order by Id" | md5sum)
  b=$(psql -qXAt -F '|' -d "$dst" -c "select \"Id\", \"Name\", coalesce(\"Score\"::text, ''), encode(\"Photo\", 'hex'), coalesce(to_char(\"Updated\", 'YYYY-MM-DD HH24:MI:SS'), ''), \"Active\"::int from clients order by 1" | md5sum)
  [ "$a" = "$b" ] || fail "$1: the target differs from the source"
}
expect_exit 0 "$bin" plan --config job.toml
grep -q 'strategy date/time ranges on "Updated", 5 chunk(s), ~3001 rows to read' "$work/stdout" ||
  fail "plan: $(cat "$work/stdout")"
expect_exit 0 "$bin" run --config job.toml --state-dir "$work/state"
cat "$work/stdout"
same "run 1"
[ "$(psql -qXAt -d "$dst" -c "select format_type(atttypid, atttypmod) from pg_attribute where attrelid = 'clients'::regclass and attname = 'Updated'")" = "timestamp without time zone" ] ||
  fail "a DATETIME column was not created as timestamp"
[ "$(psql -qXAt -d "$dst" -c "select mark from uringmig.watermarks")" = "2024-02-01 10:50:00" ] ||
  fail "mark: $(psql -qXAt -d "$dst" -c "select mark from uringmig.watermarks")"

sqlite3 "$db" <<'SQL'
update Clients set Name = 'changed', Updated = '2024-02-02 00:00:00' where Id in (7, 8);
insert into Clients values (6000, 'new', 1.5, x'01', '2024-02-02 00:00:01', 0);
delete from Clients where Id = 9;
SQL
expect_exit 0 "$bin" run --config job.toml --state-dir "$work/state"
cat "$work/stdout"
same "run 2"
grep -q "public.clients: .* 3 upserted, 1 deleted" "$work/stdout" || fail "run 2: $(cat "$work/stdout")"
finish incremental_sqlite
