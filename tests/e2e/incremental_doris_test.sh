#!/usr/bin/env bash
# uses-fixture: pg
# Incremental loads PostgreSQL -> Doris (the Stream Load double, a Unique Key table) over several
# runs: inserts, updates, rows with a NULL watermark, deletes found by reconcile; after each run the double's table holds
# exactly the source's rows, the mark (kept in the state store) is the source's largest
# watermark, a run with nothing new loads nothing. Then the refusals: a Duplicate Key table, a
# key that is not the table's key, a column in the wrong case, mode = "full" -- each one line,
# exit 2, nothing loaded. Then Doris filtered rows: on_error = "reject" writes them to
# <state-dir>/rejects/<table>.jsonl with Doris's reason and the run exits 3.
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
. "$(dirname "${BASH_SOURCE[0]}")/lib/doris.sh"
src=incr_doris_src_$$
new_db "$src"
psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
create table "Orders" ("Order Id" bigint primary key, amount numeric(12,2), note text,
  "Updated At" timestamp(6));
insert into "Orders"
  select g, g * 1.5, 'n' || g, timestamp '2024-01-01 00:00:00' + g * interval '1.000001 second'
  from generate_series(1, 3000) g;
insert into "Orders" values (6001, 1, 'null wm', null);
SQL
start_double dd --password pw \
  --table 'dw.orders=4:Order Id,amount,note,Updated At:unique:1' \
  --table 'dw.dup=4:Order Id,amount,note,Updated At:duplicate:1'
target="doris://root:pw@127.0.0.1:$FE_PORT/dw"
job() {  # job FILE [extra entry lines...]
  local f=$1
  shift
  {
    printf 'source = "%s"\ntarget = "%s"\npreset = "incremental"\n' "$(url "$src")" "$target"
    printf '[incremental]\nchunk_rows = 1000\n[doris]\nbackoff_ms = 10\n'
    printf '[[tables]]\nsource = %s\n' "'\"Orders\"'"
    printf '%s\n' "$@"
  } >"$f"
}
job job.toml 'target = "dw.orders"' 'key = ["Order Id"]' 'watermark = "Updated At"' \
  'chunk_by = "Order Id"' 'deletes = "reconcile"'
compare() {
  expected_rows "$src" 'select "Order Id", amount, note, "Updated At" from "Orders"' >want
  recorded_rows "dd/rec/dw.orders.tsv" >got
  cmp -s want got || fail "$1: the double's table differs from the source: $(diff want got | head -5)"
}
run() { "$bin" run --config "${cfg:-job.toml}" --state-dir "$work/state" "$@"; }

expect_exit 0 "$bin" plan --config job.toml --state-dir "$work/state"
grep -q 'table public.Orders -> dw.orders: mode incremental (upsert), strategy integer ranges on "Order Id"' "$work/stdout" ||
  fail "plan: $(cat "$work/stdout" "$work/err")"

# Run 1: every row, in several chunks (one label each).
expect_exit 0 run
cat "$work/stdout"
compare "run 1"
grep -q "dw.orders: 3001 rows read, 3001 upserted, 0 deleted, 0 rejected; watermark (none) -> 2024-01-01 00:50:00.003" "$work/stdout" ||
  fail "run 1 summary: $(cat "$work/stdout")"
loads=$(curl -sf "http://127.0.0.1:$FE_PORT/_double/stats" | grep -o 'uringmig_inc_[^"]*' | sort -u | wc -l)
[ "$loads" -ge 3 ] || fail "run 1: expected one load per chunk (3 or more), saw $loads"

# Between the runs: updates, inserts (one with a NULL watermark), the NULL row changes.
psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
update "Orders" set amount = 0, "Updated At" = '2024-01-02 00:00:00.000001' where "Order Id" in (10, 20, 30);
insert into "Orders" values (8001, 1, 'new', '2024-01-02 00:00:01'), (8002, 2, 'new', null);
update "Orders" set note = 'null wm changed' where "Order Id" = 6001;
delete from "Orders" where "Order Id" in (40, 50);
SQL
expect_exit 0 run
cat "$work/stdout"
compare "run 2"
grep -q "dw.orders: 7 rows read, 7 upserted, 2 deleted, 0 rejected" "$work/stdout" ||
  fail "run 2 should read the row at the mark, the 4 changed rows and the 2 NULL-watermark rows: $(cat "$work/stdout")"
expect_exit 0 "$bin" status --state-dir "$work/state"
grep -q "incremental.mark.dw.orders = 2024-01-02 00:00:01" "$work/stdout" ||
  fail "status does not show the mark: $(cat "$work/stdout")"

# Run 3: nothing new: the row at the mark and the NULL-watermark rows again (harmless upserts).
expect_exit 0 run
compare "run 3"
grep -q "dw.orders: 3 rows read" "$work/stdout" || fail "run 3: $(cat "$work/stdout")"
# --restart starts over from the stored mark: the mark is what Doris holds, not run state.
expect_exit 0 run --restart
compare "run with --restart"
grep -q "dw.orders: 3 rows read" "$work/stdout" || fail "--restart lost the mark: $(cat "$work/stdout")"

# Refusals before anything is loaded: exit 2, one line naming the entry.
before=$(curl -sf "http://127.0.0.1:$FE_PORT/_double/stats" | grep -o '"requests":[0-9]*')
refused() {  # what pattern entry-lines...
  local what=$1 pattern=$2
  shift 2
  job bad.toml "$@"
  cfg=bad.toml expect_exit 2 run
  grep -q -- "$pattern" "$work/err" || fail "$what: expected '$pattern' in: $(cat "$work/err")"
}
refused "duplicate key table" 'Doris table dw.dup is a DUP_KEYS table: an incremental load upserts, which needs a Unique Key table' \
  'target = "dw.dup"' 'key = ["Order Id"]' 'watermark = "Updated At"'
refused "key not the table's key" 'key (note) is not the Unique Key of Doris table dw.orders (its key: Order Id)' \
  'target = "dw.orders"' 'key = ["note"]' 'watermark = "Updated At"'
refused "column case" 'watermark column "updated at" is not a column of source table' \
  'target = "dw.orders"' 'key = ["Order Id"]' 'watermark = "updated at"'
refused "full mode" 'mode = "full" needs a truncate' \
  'target = "dw.orders"' 'key = ["Order Id"]' 'watermark = "Updated At"' 'mode = "full"'
refused "missing table" 'Doris table dw.nope cannot be described' \
  'target = "dw.nope"' 'key = ["Order Id"]' 'watermark = "Updated At"'
compare "after the refusals"

# Doris filters two rows of the next load: with on_error = "reject" they go to the rejects file
# with Doris's reason, the others load, the run exits 3.
psql -qX -v ON_ERROR_STOP=1 -d "$src" -c "update \"Orders\" set note = 'again', \"Updated At\" = '2024-01-03' where \"Order Id\" between 100 and 104"
job reject.toml 'target = "dw.orders"' 'key = ["Order Id"]' 'watermark = "Updated At"' \
  'on_error = "reject"'
fault filtered_rows 1 rows=2
cfg=reject.toml expect_exit 3 run
cat "$work/stdout"
grep -q "dw.orders: 8 rows read, 6 upserted, 0 deleted, 2 rejected" "$work/stdout" ||
  fail "reject run summary: $(cat "$work/stdout")"
rej="$work/state/rejects/dw.orders.jsonl"
[ "$(wc -l <"$rej")" = 2 ] || fail "expected 2 rejected rows in $rej: $(cat "$rej" 2>/dev/null)"
grep -q '"reason":"injected by the test double' "$rej" || grep -q '"reason":' "$rej" ||
  fail "rejects without a reason: $(cat "$rej")"
grep -q '"row":"' "$rej" || fail "rejects without the row: $(cat "$rej")"
grep -q "2 row(s) rejected by the target" "$work/err" || fail "no rejects line: $(cat "$work/err")"
finish incremental_doris
