#!/usr/bin/env bash
# uses-fixture: pg
# Incremental loads PostgreSQL -> PostgreSQL over three runs: inserts, updates, a row committed
# late behind the mark (its transaction opened before run 1, committed after it: lookback reads
# it again), rows with a NULL watermark, deletes with reconcile. After each run the target holds
# exactly the source's rows; the second run upserts only the rows that changed; the watermark
# and the status views on the target say what happened.
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
. "$(dirname "${BASH_SOURCE[0]}")/lib/hold.sh"
src=incr_src_$$
dst=incr_dst_$$
new_db "$src"
new_db "$dst"
psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
create schema "Sales";
create table "Sales"."Orders" ("Order Id" bigint primary key, amount numeric(12,2), note text,
  "Updated At" timestamp(6), extra text);
insert into "Sales"."Orders"
  select g, g * 1.5, 'n' || g, timestamp '2024-01-01 00:00:00' + g * interval '1.000001 second', 'x'
  from generate_series(1, 5000) g;
insert into "Sales"."Orders" values (6001, 1, 'null wm', null, 'x');
SQL
psql -qX -v ON_ERROR_STOP=1 -d "$dst" <<'SQL'
create schema sales;
create table sales.orders ("Order Id" bigint primary key, amount numeric(12,2), note text,
  "Updated At" timestamp(6), loaded_by text default 'uringmig');
create index orders_note on sales.orders (note);
SQL
cat >job.toml <<EOF
source = "$(url "$src")"
target = "$(url "$dst")"
preset = "incremental"
[incremental]
chunk_rows = 1000
[[tables]]
source = '"Sales"."Orders"'
target = "sales.orders"
key = ["Order Id"]
watermark = "Updated At"
lookback = "1m"
chunk_by = "Order Id"
deletes = "reconcile"
EOF
compare() {  # label: the target's loaded columns equal the source's
  local a b
  a=$(psql -qXAt -d "$src" -c 'select md5(string_agg(t::text, $$|$$ order by "Order Id")) from (select "Order Id", amount, note, "Updated At" from "Sales"."Orders") t')
  b=$(psql -qXAt -d "$dst" -c 'select md5(string_agg(t::text, $$|$$ order by "Order Id")) from (select "Order Id", amount, note, "Updated At" from sales.orders) t')
  [ "$a" = "$b" ] || fail "$1: the target differs from the source"
}
run() { "$bin" run --config job.toml --state-dir "$work/state" "$@"; }

# A transaction opened before run 1 whose row carries an early watermark: committed after run 1.
hold late "$src" "begin; insert into \"Sales\".\"Orders\" values (7001, 7, 'late', '2024-01-01 01:23:19.5', 'x');"

# Run 1: everything (5000 rows with a watermark, one without).
expect_exit 0 run
cat "$work/stdout"
compare "run 1"
grep -q "sales.orders: 5001 rows read, 5001 upserted, 0 deleted" "$work/stdout" || fail "run 1 summary: $(cat "$work/stdout")"
mark1=$(psql -qXAt -d "$dst" -c "select mark from uringmig.watermarks where target_table = 'sales.orders'")
[ "$mark1" = "2024-01-01 01:23:20.005" ] || fail "run 1: mark '$mark1', expected the source's largest at its precision"
[ "$(psql -qXAt -d "$dst" -c "select loaded_by from sales.orders where \"Order Id\" = 1")" = uringmig ] ||
  fail "a target column the source lacks was not left alone"
grep -q "skipped: extra" "$work/err" || fail "no warning for the source column the target lacks"

# Between the runs: the late row commits, 3 updates, 2 inserts, 2 deletes, the NULL row changes.
send late "commit;"
release late
psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
update "Sales"."Orders" set amount = 0, "Updated At" = '2024-01-02 00:00:00.000001' where "Order Id" in (10, 20, 30);
insert into "Sales"."Orders" values (8001, 1, 'new', '2024-01-02 00:00:01', 'x'), (8002, 2, 'new', null, 'x');
delete from "Sales"."Orders" where "Order Id" in (40, 50);
update "Sales"."Orders" set note = 'null wm changed' where "Order Id" = 6001;
SQL

# Run 2: only what changed is written (3 updates, 2 inserts, the late row, the changed NULL row).
expect_exit 0 run
cat "$work/stdout"
compare "run 2"
grep -q "sales.orders: .* 7 upserted, 2 deleted, 0 rejected" "$work/stdout" || fail "run 2 moved other rows: $(cat "$work/stdout")"
[ "$(psql -qXAt -d "$dst" -c "select note from sales.orders where \"Order Id\" = 7001")" = late ] ||
  fail "the row committed late behind the mark was lost"

# Run 3: nothing changed: nothing written.
expect_exit 0 run
compare "run 3"
grep -q "sales.orders: .* 0 upserted, 0 deleted" "$work/stdout" || fail "run 3 wrote rows: $(cat "$work/stdout")"
[ "$(psql -qXAt -d "$dst" -c "select count(*) from uringmig.v_table_progress where target_table = 'sales.orders' and status = 'done'")" = 3 ] ||
  fail "v_table_progress does not show three done runs"
[ "$(psql -qXAt -d "$dst" -c "select sum(rows_deleted) from uringmig.v_table_progress")" = 2 ] ||
  fail "v_table_progress does not count the deletes"
[ "$(psql -qXAt -d "$dst" -c "select count(*) from uringmig.v_active_runs")" = 0 ] ||
  fail "v_active_runs lists a finished run"
expect_exit 0 "$bin" status --state-dir "$work/state"
grep -q "incremental.mark.sales.orders = 2024-01-02 00:00:01" "$work/stdout" ||
  fail "status does not mirror the mark: $(cat "$work/stdout")"

# A window of more rows than a count is kept for (1 000): its size and its chunk cuts come from a
# sample of the table's blocks, not from passes over the window; fewer rows than chunk_rows, it is
# still cut in two, one chunk per worker; and the chunks (integer ranges over keys bunched at one
# end) read each row of the window exactly once. The source-only column `extra` makes the table
# large enough (~1 100 blocks) to be sampled.
sed -i 's/^chunk_rows = 1000$/chunk_rows = 100000/' job.toml
psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
insert into "Sales"."Orders"
  select case when g <= 10 then 9000 + g else 100000 + g end, g, 'skewed',
    timestamp '2024-01-03 00:00:00' + g * interval '1 ms', rpad('', 1700, md5(g::text))
  from generate_series(1, 4400) g;
SQL
expect_exit 0 "$bin" plan --config job.toml
grep -q 'Sales.Orders -> sales.orders: .*strategy integer ranges on "Order Id" cut at sampled values, 3 chunk(s), .* rows to read (sampled)' "$work/stdout" ||
  fail "plan: the large window's size was not sampled: $(cat "$work/stdout")"
grep -q '^  chunk 1 rows \[[0-9]*, +inf)$' "$work/stdout" && grep -q '^  chunk 2 reconcile' "$work/stdout" ||
  fail "plan: the window was not cut in two: $(cat "$work/stdout")"
expect_exit 0 run
compare "run 4"
# 4 400 new rows; read again, unchanged: the 4 rows within the lookback of the mark and the 2
# rows without a watermark.
grep -q "sales.orders: 4406 rows read, 4400 upserted, 0 deleted" "$work/stdout" ||
  fail "run 4 did not read each row of the window once: $(cat "$work/stdout")"
mark4="2024-01-03 00:00:04.4"

# A watermark column that moves backwards is reported; the mark stays.
psql -qX -v ON_ERROR_STOP=1 -d "$src" -c 'update "Sales"."Orders" set "Updated At" = "Updated At" - interval '"'"'30 days'"'"''
expect_exit 0 run
grep -q "watermark Updated At moved backwards: the source.s largest value .* is below the stored mark $mark4" "$work/err" ||
  fail "a watermark that moved backwards was not reported: $(cat "$work/err")"
[ "$(psql -qXAt -d "$dst" -c "select mark from uringmig.watermarks")" = "$mark4" ] ||
  fail "the mark moved backwards"
finish incremental_pg
