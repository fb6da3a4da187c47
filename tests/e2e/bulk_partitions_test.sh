#!/usr/bin/env bash
# uses-fixture: pg
# `uringmig run --preset bulk` with partition trees: a 3-level tree (root → partitioned
# partitions → leaves) arrives whole with its rows, also when only one leaf is selected (its
# ancestors and siblings come along for the schema, the data is the leaf's); a partitioned table
# without partitions is carried, with the view that stands on it.
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
src=bulk_part_src_$$; dst=bulk_part_dst_$$; one=bulk_part_one_$$
new_db "$src"; new_db "$dst"; new_db "$one"

psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
create table events (id bigint, at date not null, region text not null, v text) partition by range (at);
create table events_2023 partition of events for values from ('2023-01-01') to ('2024-01-01') partition by list (region);
create table events_2024 partition of events for values from ('2024-01-01') to ('2025-01-01') partition by list (region);
create table events_2023_eu partition of events_2023 for values in ('eu');
create table events_2023_us partition of events_2023 for values in ('us');
create table events_2024_eu partition of events_2024 for values in ('eu');
create table events_2024_rest partition of events_2024 default;
insert into events select g, date '2023-01-01' + (g % 700), (array['eu', 'us'])[g % 2 + 1], 'v' || g
from generate_series(1, 20000) g;
create index on events (at);
alter table events add primary key (id, at, region);
SQL

tree() {
  psql -qXAt -d "$1" -c "select string_agg(format('%s<%s:%s', relid::regclass, parentrelid::regclass, level), ' ' order by relid::regclass::text) from pg_partition_tree('$2')"
}

# Only one leaf selected: its ancestors (and their other partitions, empty) come along.
# (First: a view on a table left out would fail the schema restore, as with pg_dump.)
rc=0
"$bin" run --preset bulk --source "$(url "$src")" --target "$(tcp_url "$one")" \
  --state-dir "$work/state_one" --tables public.events_2023_eu >"$work/out" 2>"$work/err" || rc=$?
cat "$work/out" "$work/err"
[ "$rc" -eq 0 ] || fail "run of one leaf exited $rc"
[ "$(tree "$src" events)" = "$(tree "$one" events)" ] || fail "one leaf: the tree is not whole"
[ "$(psql -qXAt -d "$one" -c "select count(*) from events_2023_eu")" = \
  "$(psql -qXAt -d "$src" -c "select count(*) from events_2023_eu")" ] || fail "one leaf: rows differ"
[ "$(psql -qXAt -d "$one" -c "select count(*) from events_2023_us")" = 0 ] ||
  fail "one leaf: an unselected leaf got rows"

psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
-- partitioned tables without partitions, one with a view on it
create table empty_parted (id int, k text) partition by list (k);
create view empty_parted_v as select id from empty_parted;
create table lonely_parted (id int) partition by range (id);
SQL

rc=0
"$bin" run --preset bulk --source "$(url "$src")" --target "$(tcp_url "$dst")" \
  --state-dir "$work/state" --jobs 2 >"$work/out" 2>"$work/err" || rc=$?
cat "$work/out" "$work/err"
[ "$rc" -eq 0 ] || fail "run exited $rc"
table_sums "$src" >"$work/src.sums"
table_sums "$dst" >"$work/dst.sums"
diff "$work/src.sums" "$work/dst.sums" || fail "target tables differ from the source"
[ "$(wc -l <"$work/src.sums")" -eq 4 ] || fail "expected 4 leaf tables, got $(wc -l <"$work/src.sums")"
[ "$(tree "$src" events)" = "$(tree "$dst" events)" ] ||
  fail "the partition tree differs: $(tree "$dst" events)"
q() { psql -qXAt -d "$dst" -c "$1"; }
[ "$(q "select relkind from pg_class where relname = 'empty_parted'")" = p ] || fail "empty_parted missing"
[ "$(q "select relkind from pg_class where relname = 'lonely_parted'")" = p ] || fail "lonely_parted missing"
[ "$(q "select count(*) from empty_parted_v")" = 0 ] || fail "the view on empty_parted is missing"
[ "$(q "select count(*) from pg_indexes where tablename = 'events_2023_eu'")" = 2 ] ||
  fail "the partitioned indexes did not reach the leaves"
# Rows inserted at the root still route through the middle level.
q "insert into events values (0, '2024-06-01', 'us', 'new')" >/dev/null || fail "insert at the root failed"
[ "$(q "select count(*) from events_2024_rest where id = 0")" = 1 ] || fail "the row did not route"

finish bulk_partitions
