#!/usr/bin/env bash
# Columns added on the source while following: the follower adds them on the target with the
# type the Relation message names (typmod included), the value the rows that existed got (a text
# default), the source's default, then applies their values (also for a column added while the
# follower was stopped); switchover leaves identical data.
# With one apply connection and with two (the parallel lanes order the DDL with the DML around it).
# uses-fixture: pg
# shellcheck disable=SC1091
. "$(dirname "$0")/lib/pg.sh"

wait_true() {  # DB SQL: until SQL returns t (polled, up to 60 s)
  for _ in $(seq 1 600); do
    [ "$(psql -qXAt -d "$1" -c "$2" 2>/dev/null)" = t ] && return 0
    sleep 0.1
  done
  return 1
}
sums() { table_sums "$1" | grep -v '^uringmig\.'; }
coltypes() {
  psql -qXAt -d "$1" -c "select string_agg(format('%s.%s %s default %s', c.relname, a.attname,
      format_type(a.atttypid, a.atttypmod), coalesce(pg_get_expr(d.adbin, d.adrelid), '-')), ', '
      order by c.relname, a.attnum)
    from pg_attribute a join pg_class c on c.oid = a.attrelid
    left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
    where c.relname in ('items', 'notes') and a.attnum > 0 and not a.attisdropped"
}

for workers in 2 1; do
  src=schema_add_src_${workers}_$$
  dst=schema_add_dst_${workers}_$$
  new_db "$src"
  new_db "$dst"
  psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
create table items(id int primary key, name text);
insert into items select g, 'item ' || g from generate_series(1, 100) g;
create table notes(note text);
alter table notes replica identity full;
insert into notes values ('first'), ('first');
SQL
  printf '[online]\napply_workers = %s\n' "$workers" >job.toml
  "$bin" run --preset online --config job.toml --source "$(url "$src")" --target "$(url "$dst")" \
    --state-dir "st$workers" >run.out 2>run.err &
  pid=$!
  wait_true "$dst" "select count(*) = 100 from items" || fail "w$workers: no copy: $(tail -3 run.err)"
  psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
insert into items values (101, 'before'), (102, 'before');
update items set name = 'touched' where id <= 10;
insert into notes values ('before');
SQL
  wait_true "$dst" "select count(*) = 102 from items" ||
    fail "w$workers: the follower does not follow: $(tail -3 run.err)"
  # Columns added while following; writes that use them, in the same transaction as one ADD and
  # in later ones; a keyless REPLICA IDENTITY FULL table gains one too.
  psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
alter table items add column c int;
insert into items values (103, 'with c', 3);
begin;
alter table items add column label text default 'none';
update items set c = id * 2, label = 'set ' || id where id between 5 and 15;
commit;
alter table items add column price numeric(10,2), add column tags varchar(12)[];
insert into items select g, 'new ' || g, g, 'l' || g, g * 1.25, array['t' || g]
  from generate_series(200, 260) g;
update items set price = 9.99, c = c + 1 where id in (200, 201, 1);
delete from items where id = 202;
alter table notes add column n int default 7;
insert into notes values ('after', 5);
update notes set n = 8 where note = 'before';
SQL
  wait_true "$dst" "select exists (select 1 from items where id = 260)" ||
    fail "w$workers: the added columns' values did not arrive: $(tail -3 run.err)"
  kill -0 "$pid" 2>/dev/null || fail "w$workers: the follower stopped: $(tail -3 run.err)"
  # A column added while no follower runs: `follow` sees it in its first Relation message.
  kill -TERM "$pid"
  wait "$pid" || true
  psql -qX -v ON_ERROR_STOP=1 -d "$src" -c "alter table items add column late int default 42" \
    -c "insert into items (id, name, late) values (300, 'late', 7)" >/dev/null
  "$bin" follow --config job.toml --source "$(url "$src")" --target "$(url "$dst")" \
    --state-dir "st$workers" >/dev/null 2>>run.err &
  pid=$!
  wait_true "$dst" "select late = 7 from items where id = 300" ||
    fail "w$workers: a column added while stopped: $(tail -3 run.err)"
  expect_exit 0 "$bin" switchover --source "$(url "$src")" --target "$(url "$dst")" \
    --state-dir "st$workers" --timeout 60s
  rc=0
  wait "$pid" || rc=$?
  [ "$rc" -eq 0 ] || fail "w$workers: the follower exited $rc: $(tail -3 run.err)"
  [ "$(sums "$src")" = "$(sums "$dst")" ] ||
    fail "w$workers: source and target differ: $(sums "$src") / $(sums "$dst")"
  # The rows that existed got the default's value (not NULL), as on the source.
  [ "$(psql -qXAt -d "$dst" -c "select count(*) from items where label = 'none'")" -gt 50 ] ||
    fail "w$workers: the rows that existed did not get the added column's default"
  [ "$(coltypes "$src")" = "$(coltypes "$dst")" ] ||
    fail "w$workers: column types or defaults differ: $(coltypes "$src") / $(coltypes "$dst")"
  grep -q 'table "public"."items": column "price" is new on the source; on the target: ALTER TABLE "public"."items" ADD COLUMN "price" numeric(10,2)' run.err ||
    fail "w$workers: the added column is not logged: $(grep -i column run.err | head -3)"
  [ "$(grep -c 'column "label" is new on the source' run.err)" = 1 ] ||
    fail "w$workers: the column was not added once: $(grep 'is new on the source' run.err)"
done
finish online_schema_add
