#!/usr/bin/env bash
# uses-fixture: pg
# mode = "full": truncate and COPY, with disable_indexes the non-key indexes dropped for the load
# and rebuilt after (twice: the second run replaces the first's rows). on_error = "reject": rows
# the target refuses (a CHECK constraint) are isolated by bisecting the chunk, written to
# <state-dir>/rejects/<table>.jsonl with the reason, counted in the summary and the status view,
# and the run exits 3; every other row is loaded.
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
src=incr_full_src_$$
dst=incr_full_dst_$$
new_db "$src"
new_db "$dst"
psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
create table stock (sku int primary key, qty int, at timestamp);
insert into stock select g, case when g in (77, 1234) then -1 else g end, '2024-01-01'::timestamp + g * interval '1 s'
  from generate_series(1, 3000) g;
create table prices (id int primary key, price numeric, at timestamp);
insert into prices select g, g / 10.0, '2024-01-01'::timestamp from generate_series(1, 3000) g;
SQL
psql -qX -v ON_ERROR_STOP=1 -d "$dst" <<'SQL'
create table stock (sku int primary key, qty int check (qty >= 0), at timestamp);
create table prices (id int primary key, price numeric, at timestamp);
create index prices_price on prices (price);
insert into prices values (99999, 1, now());
SQL
cat >job.toml <<EOF
source = "$(url "$src")"
target = "$(url "$dst")"
preset = "incremental"
[incremental]
chunk_rows = 1000
[[tables]]
source = "public.stock"
key = ["sku"]
watermark = "at"
chunk_by = "sku"
on_error = "reject"
[[tables]]
source = "public.prices"
key = ["id"]
mode = "full"
disable_indexes = true
chunk_by = "id"
EOF
prices_same() {
  local a b
  a=$(psql -qXAt -d "$src" -c "select md5(string_agg(t::text, '|' order by id)) from prices t")
  b=$(psql -qXAt -d "$dst" -c "select md5(string_agg(t::text, '|' order by id)) from prices t")
  [ "$a" = "$b" ] || fail "$1: prices differ from the source"
}
expect_exit 3 "$bin" run --config job.toml --state-dir "$work/state"
cat "$work/stdout"
grep -q "public.stock: 3000 rows read, 2998 upserted, 0 deleted, 2 rejected" "$work/stdout" || fail "summary: $(cat "$work/stdout")"
grep -q "2 row(s) rejected by the target" "$work/err" || fail "no rejects line: $(cat "$work/err")"
rej="$work/state/rejects/public.stock.jsonl"
[ "$(wc -l <"$rej")" -eq 2 ] || fail "rejects file: $(cat "$rej" 2>/dev/null)"
grep -q '"row":{"sku":77,"qty":-1' "$rej" || fail "sku 77 not in the rejects: $(cat "$rej")"
grep -q '"sqlstate":"23514","reason":"new row for relation \\"stock\\" violates check constraint' "$rej" ||
  fail "no reason in the rejects: $(cat "$rej")"
[ "$(psql -qXAt -d "$dst" -c "select count(*) from stock")" = 2998 ] || fail "the good rows were not all loaded"
[ "$(psql -qXAt -d "$dst" -c "select rows_rejected from uringmig.v_table_progress where target_table = 'public.stock'")" = 2 ] ||
  fail "v_table_progress does not count the rejects"
expect_exit 0 "$bin" status --state-dir "$work/state"
grep -q "incremental.rejected.public.stock = 2" "$work/stdout" || fail "status does not count the rejects: $(cat "$work/stdout")"
prices_same "full run 1"
[ "$(psql -qXAt -d "$dst" -c "select count(*) from pg_indexes where indexname = 'prices_price'")" = 1 ] ||
  fail "the dropped index was not rebuilt"
[ "$(psql -qXAt -d "$dst" -c "select count(*) from uringmig.dropped_indexes")" = 0 ] || fail "dropped_indexes not emptied"

psql -qX -v ON_ERROR_STOP=1 -d "$src" -c "update prices set price = price + 1 where id < 10" -c "delete from prices where id = 5" \
  -c "update stock set qty = 5, at = at + interval '1 day' where sku = 77"
expect_exit 0 "$bin" run --config job.toml --state-dir "$work/state"
prices_same "full run 2"
[ "$(psql -qXAt -d "$dst" -c "select qty from stock where sku = 77")" = 5 ] || fail "a fixed row was not loaded"

# on_error = "fail" (the default): the chunk fails, the run exits 1 naming the constraint, the
# view shows the error, the mark stays.
sed -i 's/^on_error = "reject"$/on_error = "fail"/' job.toml
mark=$(psql -qXAt -d "$dst" -c "select mark from uringmig.watermarks where target_table = 'public.stock'")
psql -qX -v ON_ERROR_STOP=1 -d "$src" -c "update stock set qty = -5, at = at + interval '2 days' where sku = 5"
expect_exit 1 "$bin" run --config job.toml --state-dir "$work/state"
grep -q '^uringmig: 1 table(s) failed (first: public.stock chunk 0: SQLSTATE 23514: new row for relation "stock" violates check constraint' "$work/err" ||
  fail "on_error = fail: $(tail -1 "$work/err")"
[ "$(psql -qXAt -d "$dst" -c "select count(*) from uringmig.v_table_progress where target_table = 'public.stock' and status = 'running' and error like '%23514%'")" = 1 ] ||
  fail "the view does not show the failed table run's error"
[ "$(psql -qXAt -d "$dst" -c "select mark from uringmig.watermarks where target_table = 'public.stock'")" = "$mark" ] ||
  fail "a failed run moved the mark"
finish incremental_full_reject
