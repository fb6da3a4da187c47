#!/usr/bin/env bash
# uses-fixture: pg
# `uringmig verify` from PostgreSQL to SQLite: a shard set and a single file cloned from a
# database with the mapped column types (integers, numeric, text, bytea, bool, dates and
# timestamps, floats with NaN/±Infinity/-0, json, arrays, enums, domains, a generated column)
# compare identical; one changed value, one deleted row and one row moved to the wrong shard
# file each make verify exit 1 naming the table and what differs.
# shellcheck disable=SC1091
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
db=e2e_vsh_$$
new_db "$db"
psql -qX -v ON_ERROR_STOP=1 -d "$db" <<'SQL'
create domain year_t as integer check (value > 1800);
create domain money_t as numeric(12, 2);
create type mood as enum ('sad', 'ok', 'happy');
create table items(id bigint primary key, phone text, small smallint, mid int, price numeric,
                   note text, photo bytea, active boolean, born date, seen timestamp,
                   seen_tz timestamptz, span interval, f4 real, f8 double precision,
                   doc json, docb jsonb, tags text[], nums int[], m mood, y year_t,
                   cost money_t, id_uuid uuid, twice bigint generated always as (id * 2) stored);
insert into items(id, phone, small, mid, price, note, photo, active, born, seen, seen_tz, span,
                  f4, f8, doc, docb, tags, nums, m, y, cost, id_uuid)
select i,
       case when i % 97 = 0 then null when i % 89 = 0 then '' when i % 83 = 0 then '  '
            else '79' || lpad((i * 104729 % 1000000000)::text, 9, '0') end,
       (i % 30000)::smallint, i * 7, i / 7.0,
       E'tab\there\nnew line \\ back ' || i || ' ёж',
       case when i % 2 = 0 then decode(lpad(to_hex(i), 8, '0') || '00ff', 'hex') end,
       i % 3 = 0, date '2000-01-01' + i, timestamp '2001-02-03 04:05:06.789' + i * interval '1 min',
       timestamptz '2001-02-03 04:05:06+03' + i * interval '1 s', i * interval '90 s',
       (i / 3.0)::real,
       case i % 500 when 1 then 'NaN' when 2 then 'Infinity' when 3 then '-Infinity'
                    when 4 then '-0' else i / 7.0 end,
       json_build_object('i', i, 's', 'x y'), jsonb_build_object('i', i, 'a', array[1, 2]),
       array['a' || i, null, 'q"q'], array[i, -i], (array['sad', 'ok', 'happy'])[1 + i % 3]::mood,
       1900 + i % 100, i * 1.25, md5(i::text)::uuid
from generate_series(1, 5000) i;
create table notes(id int primary key, phone text, body text);
insert into notes select i, 'p' || (i % 50), repeat('z', i % 40) from generate_series(1, 700) i;
SQL
src=$(tcp_url "$db")
shards="sqlite://$work/out?shards=4&shard_key=phone"
one="sqlite://$work/one.db"
"$bin" run --source "$src" --target "$shards" --state-dir st1 >run1.out 2>run1.err ||
  fail "run into the shard set: $(tail -3 run1.err)"
"$bin" run --source "$src" --target "$one" --state-dir st2 >run2.out 2>run2.err ||
  fail "run into one file: $(tail -3 run2.err)"

check() {  # expected_rc name target: runs verify; the error is one line without the password
  local want=$1 name=$2 target=$3 got=0
  timeout 120 "$bin" verify --source "$src" --target "$target" >"$work/$name.out" \
    2>"$work/$name.err" || got=$?
  echo "--- $name (exit $got):"
  cat "$work/$name.out" "$work/$name.err"
  [ "$got" -eq "$want" ] || fail "$name: exit $got, want $want"
  if [ "$want" -ne 0 ]; then
    [ "$(grep -c '^uringmig: ' "$work/$name.err")" -eq 1 ] ||
      fail "$name: want exactly one 'uringmig:' line"
  fi
  if grep -q -e "$PGFIX_PASSWORD" "$work/$name.out" "$work/$name.err"; then
    fail "$name: password printed"
  fi
}

check 0 shards_same "$shards"
grep -q "^all 2 table(s) identical: every row once, in the right shard" shards_same.out ||
  fail "shards_same: not identical"
grep -Eq '^public\.items +5000 +5000 +0 +identical' shards_same.out || fail "shards_same: no line for items"
check 0 one_same "$one"
grep -q "^all 2 table(s) identical" one_same.out || fail "one_same: not identical"
check 0 reserved "$shards&reserved_shard=4" # the default reserved shard, spelt out

file_of() {  # dir table id: the shard file holding the row
  local f
  for f in "$1/$2"_shard_0?.db; do
    [ "$(sqlite3 "$f" "select count(*) from $2 where id = $3")" -eq 1 ] && { echo "$f"; return; }
  done
  fail "row $3 of $2 is in no file of $1"
}

# One changed value: the checksum sees it (text '1' for the integer 1 too).
cp -r out changed
sqlite3 "$(file_of changed items 42)" "update items set price = price || '0' where id = 42"
check 1 changed "sqlite://$work/changed?shards=4&shard_key=phone"
grep -q "^uringmig: 1 table(s) differ: public.items (contents differ)$" changed.err ||
  fail "changed: the error does not name public.items and the contents"
cp -r out typed
sqlite3 "$(file_of typed items 42)" "update items set photo = cast(photo as text) where id = 42"
check 1 typed "sqlite://$work/typed?shards=4&shard_key=phone"
grep -q "public.items (contents differ)" typed.err || fail "typed: bytes stored as text not seen"

# One deleted row.
cp -r out deleted
sqlite3 "$(file_of deleted items 43)" "delete from items where id = 43"
check 1 deleted "sqlite://$work/deleted?shards=4&shard_key=phone"
grep -q "^uringmig: 1 table(s) differ: public.items (rows missing)$" deleted.err ||
  fail "deleted: the error does not name public.items and the missing rows"
grep -Eq '^public\.items +5000 +4999 ' deleted.out || fail "deleted: counts not shown"

# One row moved to another shard file: same rows, same contents, wrong place.
cp -r out moved
from=$(file_of moved items 44)
to=moved/items_shard_00.db
[ "$from" = "$to" ] && to=moved/items_shard_01.db
sqlite3 "$from" "attach '$to' as other; insert into other.items select * from items where id = 44;
                 delete from items where id = 44"
check 1 moved "sqlite://$work/moved?shards=4&shard_key=phone"
grep -q "^uringmig: 1 table(s) differ: public.items (rows in the wrong shard (.*$(basename "$to")" moved.err ||
  fail "moved: the error does not name public.items, the wrong shard and its file"
grep -Eq '^public\.items +5000 +5000 +1 ' moved.out || fail "moved: one misrouted row not counted"

# The single file: a changed value and a missing table.
sqlite3 one.db "update items set f8 = f8 + 1 where id = 10"
check 1 one_changed "$one"
grep -q "^uringmig: 1 table(s) differ: public.items (contents differ)$" one_changed.err ||
  fail "one_changed: the error does not name public.items"
sqlite3 one.db "drop table notes"
check 1 one_missing "$one"
grep -q "public.notes (table notes is missing in $work/one.db)" one_missing.err ||
  fail "one_missing: the missing table is not named"

# An unfinished shard set is incomplete, not identical.
cp -r out partial
rm partial/notes_shard_02.db
check 1 partial "sqlite://$work/partial?shards=4&shard_key=phone"
grep -q "public.notes (.*notes_shard_02.db is missing)" partial.err || fail "partial: missing file not named"
finish verify_shards_pg
