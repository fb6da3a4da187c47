#!/usr/bin/env bash
# Columns added on the source while following whose existing rows got values the stream does not
# carry (a volatile default: random(), gen_random_uuid(), clock_timestamp(); serial; identity):
# the follower copies those values from the source by key, so the target's rows end up with the
# source's values, also for rows updated, deleted or re-keyed after the ALTER. The added columns
# keep their whole definition on the target: type with modifier, collation, NOT NULL, default (a
# serial's sequence too, set by the switchover), identity (BY DEFAULT on the target); a constant
# default with NOT NULL gives the rows that existed the same value. A stored generated column
# (not published) is added by the switchover. On a keyless REPLICA IDENTITY
# FULL table such a column stops the follower with one line naming the table, the column and
# what to do; once done, `follow` resumes. With one apply connection and with two.
# uses-fixture: pg
# shellcheck disable=SC1091
. "$(dirname "$0")/lib/pg.sh"
# shellcheck disable=SC1091
. "$(dirname "$0")/lib/hold.sh"
# shellcheck disable=SC1091
. "$(dirname "$0")/lib/online.sh"

sums() { table_sums "$1" | grep -v '^uringmig\.'; }
coldefs() {  # the columns of items: name, type, collation, NOT NULL, default, identity, generated
  psql -qXAt -d "$1" -c "select string_agg(format('%s %s %s %s %s %s %s', a.attname,
      format_type(a.atttypid, a.atttypmod), coalesce(co.collname, '-'), a.attnotnull,
      coalesce(pg_get_expr(d.adbin, d.adrelid), '-'), a.attidentity <> '', a.attgenerated),
      ', ' order by a.attnum)
    from pg_attribute a left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
    left join pg_collation co on co.oid = a.attcollation and co.collname <> 'default'
    where a.attrelid = 'items'::regclass and a.attnum > 0 and not a.attisdropped"
}
seqs() { psql -qXAt -d "$1" -c "select last_value from items_s_seq union all select last_value from items_i_seq"; }

for workers in 2 1; do
  src=schema_values_src_${workers}_$$
  dst=schema_values_dst_${workers}_$$
  new_db "$src"
  new_db "$dst"
  psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
create table items(id int primary key, name text);
insert into items select g, 'item ' || g from generate_series(1, 200) g;
create table notes(note text);
alter table notes replica identity full;
insert into notes values ('a'), ('b');
SQL
  printf '[online]\napply_workers = %s\n' "$workers" >job.toml
  "$bin" run --preset online --config job.toml --source "$(url "$src")" --target "$(url "$dst")" \
    --state-dir "st$workers" >/dev/null 2>run.err &
  pid=$!
  wait_true "$dst" "select count(*) = 200 from items" || fail "w$workers: no copy: $(tail -3 run.err)"
  psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
alter table items add column r float8 default random();
alter table items add column u uuid default gen_random_uuid() not null;
alter table items add column s serial;
alter table items add column i bigint generated always as identity;
alter table items add column ts timestamptz default clock_timestamp();
alter table items add column f int default 5 not null;
alter table items add column c text collate "C" not null default 'z';
alter table items add column v varchar(7);
alter table items add column g int generated always as (id * 2) stored;
update items set name = 'updated', r = -1 where id <= 10;
delete from items where id between 11 and 15;
update items set id = id + 1000 where id between 16 and 18;
insert into items (id, name) values (300, 'new');
insert into items (id, name, v) values (301, 'v', 'seven77');
SQL
  wait_true "$dst" "select exists (select 1 from items where id = 301)" ||
    fail "w$workers: the rows after the new columns did not arrive: $(tail -3 run.err)"
  [ "$(psql -qXAt -d "$dst" -c "select count(*) from items where r is null or u is null or s is null
        or i is null or ts is null or f is null or c is null")" = 0 ] ||
    fail "w$workers: rows that existed have NULL in the added columns"
  grep -qF 'column "r" is new on the source; on the target: ALTER TABLE "public"."items" ADD COLUMN "r" double precision; the values of its' run.err ||
    fail "w$workers: the copy of the values is not logged: $(grep -F '"r"' run.err | head -2)"

  # A keyless table: no key to copy the values by.
  psql -qX -v ON_ERROR_STOP=1 -d "$src" -c "alter table notes add column n float8 default random()" \
    -c "insert into notes values ('c', 1)" >/dev/null
  rc=0
  for _ in $(seq 1 600); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && { fail "w$workers: the follower goes on"; kill "$pid"; }
  wait "$pid" || rc=$?
  [ "$rc" -eq 1 ] || fail "w$workers: the follower exited $rc, expected 1: $(tail -2 run.err)"
  for want in 'table "public"."notes": column "n" was added on the source with a default computed per row (random())' \
    'ALTER TABLE "public"."notes" ADD COLUMN "n" double precision' 'resume with `uringmig follow`'; do
    tail -1 run.err | grep -qF -- "$want" || fail "w$workers: the last line lacks '$want': $(tail -1 run.err)"
  done
  # What the line says: the column, with the source's values.
  psql -qX -v ON_ERROR_STOP=1 -d "$dst" -c "alter table notes add column n float8" >/dev/null
  psql -qXAt -d "$src" -c "select format('update notes set n = %s where note = %L;', n, note) from notes
      where note in ('a', 'b')" | psql -qX -v ON_ERROR_STOP=1 -d "$dst" >/dev/null
  follow_to_switchover "w$workers" "st$workers" "select exists (select 1 from notes where note = 'c')"
  [ "$(coldefs "$src")" = "$(coldefs "$dst")" ] ||
    fail "w$workers: column definitions differ: $(coldefs "$src") / $(coldefs "$dst")"
  [ "$(seqs "$src")" = "$(seqs "$dst")" ] ||
    fail "w$workers: the added columns' sequences differ: $(seqs "$src") / $(seqs "$dst")"
  # After the switchover, the target's defaults work as the source's did.
  psql -qX -v ON_ERROR_STOP=1 -d "$dst" -c "insert into items (id, name) values (900, 'on the target')" \
    >/dev/null || fail "w$workers: an insert with the defaults on the target"
  [ "$(psql -qXAt -d "$dst" -c "select count(*) from items where s = (select s from items where id = 900)
        or i = (select i from items where id = 900)")" = 1 ] ||
    fail "w$workers: the target's sequences gave a value the source used"
done
finish online_schema_values
