#!/usr/bin/env bash
# uses-fixture: pg
# `uringmig run --preset bulk`: every kind of table arrives identical, chunked
# and whole; triggers do not fire during the load; indexes, constraints,
# triggers and sequences exist afterwards and sequences continue past the
# copied ids. Then `plan` on the done job, and a second run changes nothing.
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
src=bulk_src_$$; dst=bulk_dst_$$
new_db "$src"; new_db "$dst"

psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
create type mood as enum ('sad', 'ok', 'happy');
create domain posint as int check (value > 0);
create type pair as (a int, b text);
create schema "Sales";
create table "Sales"."Order Items" (
  id serial primary key, "Qty" posint, mood mood, p pair, tags text[], doc jsonb, raw bytea,
  price numeric, f float8, at timestamptz, note text,
  total numeric generated always as (price * 2) stored);
insert into "Sales"."Order Items" ("Qty", mood, p, tags, doc, raw, price, f, at, note)
select g % 100 + 1, (array['sad','ok','happy'])[g % 3 + 1]::mood, row(g, 't' || g)::pair,
       array['a', g::text, null], jsonb_build_object('g', g, 'nested', jsonb_build_array(g, null)),
       decode(md5(g::text), 'hex'),
       case when g % 1000 = 0 then 'NaN'::numeric else g / 3.0 end,
       case g % 500 when 0 then 'NaN'::float8 when 1 then 'Infinity' when 2 then '-Infinity' else g / 7.0 end,
       case g % 400 when 0 then 'infinity'::timestamptz when 1 then '-infinity' else '2020-01-01'::timestamptz + g * interval '1 min' end,
       case when g % 10 = 0 then null when g % 10 = 1 then '' else E'tab\there\nnewline ''q'' \\ ' || g end
from generate_series(1, 60000) g;
-- a dropped column and a trigger that must not fire during the load
create table dropped (id bigint primary key, gone text, keep text);
insert into dropped select g, 'x', 'keep ' || g from generate_series(1, 5000) g;
alter table dropped drop column gone;
create function no_insert() returns trigger language plpgsql as $$ begin raise exception 'trigger fired'; end $$;
create trigger t_no_insert before insert on dropped for each row execute function no_insert();
-- no key at all, with duplicate rows; chunked by ctid
create table nokey (a int, b text);
insert into nokey select g % 50, repeat('k', 200) from generate_series(1, 40000) g;
insert into nokey select 1, repeat('k', 200) from generate_series(1, 10);
create unlogged table scratch (id int primary key, v text);
insert into scratch select g, 'u' || g from generate_series(1, 1000) g;
create table measures (id bigint, at date not null, v int) partition by range (at);
create table measures_2023 partition of measures for values from ('2023-01-01') to ('2024-01-01');
create table measures_2024 partition of measures for values from ('2024-01-01') to ('2025-01-01');
insert into measures select g, date '2023-01-01' + (g % 700), g from generate_series(1, 20000) g;
create index on measures (at);
create table toasty (id int primary key, body text);
insert into toasty select g, repeat(md5(g::text), 40000) from generate_series(1, 5) g;
create table parent (id int primary key);
create table child (id int primary key, parent_id int references parent(id));
insert into parent select generate_series(1, 100);
insert into child select g, g % 100 + 1 from generate_series(1, 1000) g;
create index child_parent on child (parent_id);
analyze;
SQL

cat > "$work/job.toml" <<'EOF2'
[copy]
chunk_size = "1MB"
EOF2
rc=0
"$bin" run --preset bulk --config "$work/job.toml" --source "$(url "$src")" \
  --target "$(tcp_url "$dst")" --state-dir "$work/state" --jobs 3 --index-jobs 2 \
  >"$work/out" 2>"$work/err" || rc=$?
cat "$work/out" "$work/err"
[ "$rc" -eq 0 ] || fail "run exited $rc"
grep -q "$PGFIX_PASSWORD" "$work/out" "$work/err" "$work/state/uringmig.log" && fail "password printed or logged"

table_sums "$src" >"$work/src.sums"
table_sums "$dst" >"$work/dst.sums"
diff "$work/src.sums" "$work/dst.sums" || fail "target tables differ from the source"
[ "$(wc -l <"$work/src.sums")" -ge 9 ] || fail "expected at least 9 tables, got $(wc -l <"$work/src.sums")"

q() { psql -qXAt -d "$dst" -c "$1"; }
# Chunking really happened: several int-range chunks and several ctid chunks.
[ "$(q "select count(*) from uringmig.chunk_done where table_name = 'Order Items'")" -gt 1 ] ||
  fail "Order Items was not split into chunks"
[ "$(q "select count(*) from uringmig.chunk_done where table_name = 'nokey'")" -gt 1 ] ||
  fail "nokey was not split into ctid chunks"
# Schema objects after the data.
[ "$(q "select count(*) from pg_trigger where tgname = 't_no_insert'")" = 1 ] || fail "trigger missing"
[ "$(q "select count(*) from pg_constraint where contype = 'f' and conname like 'child_%'")" = 1 ] ||
  fail "foreign key missing"
[ "$(q "select count(*) from pg_indexes where indexname in ('child_parent', 'measures_2023_at_idx')")" = 2 ] ||
  fail "indexes missing"
[ "$(q "select contype from pg_constraint where conname = 'Order Items_pkey'")" = p ] || fail "primary key missing"
[ "$(q "select relpersistence from pg_class where relname = 'scratch'")" = u ] || fail "scratch is not unlogged"
[ "$(q "select count(*) from \"Sales\".\"Order Items\" where total is distinct from price * 2")" = 0 ] ||
  fail "generated column not recomputed"
# Sequences continue past the copied ids.
next=$(q "insert into \"Sales\".\"Order Items\" (\"Qty\") values (1) returning id")
[ "$next" -gt 60000 ] || fail "sequence did not continue: next id $next"
# The trigger is there and works now (it did not fire during the load).
psql -qXAt -d "$dst" -c "insert into dropped values (999999, 'x')" 2>/dev/null &&
  fail "trigger does not fire after the load"

# plan on a finished job, and a second run that changes nothing.
"$bin" plan --source "$(url "$src")" --target "$(tcp_url "$dst")" --state-dir "$work/state" \
  >"$work/plan" 2>&1 || fail "plan on a finished job failed"
grep -q "data already copied" "$work/plan" || fail "plan does not show the copied tables"
"$bin" run --preset bulk --config "$work/job.toml" --source "$(url "$src")" \
  --target "$(tcp_url "$dst")" --state-dir "$work/state" >/dev/null 2>&1 || fail "second run failed"
psql -qXAt -d "$dst" -c "delete from \"Sales\".\"Order Items\" where id = $next" >/dev/null
table_sums "$dst" >"$work/dst2.sums"
diff "$work/src.sums" "$work/dst2.sums" || fail "a second run changed the target"
finish bulk_clone
