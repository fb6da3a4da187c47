#!/usr/bin/env bash
# uses-fixture: pg
# Incremental loads from the Snowflake SQL API double into PostgreSQL over three runs: the target
# table is created from the rowType, the mark keeps a TIMESTAMP_NTZ(9)'s nanoseconds (rows that
# differ only there are neither lost nor read again run after run), the second run upserts only
# what changed, and the double's faults (429, 503, a cut partition, an expired token) leave the
# target identical.
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
. "$(dirname "${BASH_SOURCE[0]}")/lib/snowflake.sh"
dst=incr_sf_dst_$$
new_db "$dst"
make_key "$work"
# rows N: the double's table file (ID, "Name", AMOUNT, "Updated At" TIMESTAMP_NTZ(9)); row i
# changes at 1700000000 + i seconds; rows 5001 and 5002 differ only in nanoseconds.
rows() {
  printf 'ID:fixed(18,0)\t"Name":text(100)\tAMOUNT:fixed(12,2)\t"Updated At":timestamp_ntz(9)\n'
  awk -v n="$1" 'BEGIN { for (i = 1; i <= n; i++) printf "%d\tname %d\t%d.25\t%d.000000000\n", i, i, i, 1700000000 + i }'
  printf '5001\tnano one\t1.00\t1700009000.000000001\n'
  printf '5002\tnano two\t2.00\t1700009000.000000002\n'
}
rows 3000 >"$work/t1.tsv"
cat >job.toml <<EOF2
source = "snowflake://LOADER@TESTACCT/DB/PUBLIC?warehouse=WH"
target = "$(url "$dst")"
preset = "incremental"
[snowflake]
endpoint = "http://127.0.0.1:\${SF_PORT}"
private_key_file = "$work/key.pem"
[incremental]
chunk_rows = 1000
[[tables]]
source = "DB.PUBLIC.ORDERS"
target = "public.orders"
key = ["ID"]
watermark = "Updated At"
chunk_by = "ID"
[[tables]]
source = "GEN"
target = "public.gen"
key = ["ID"]
watermark = "SEEN_TZ"
filter = '"ACTIVE" = TRUE OR "NAME" IS NULL'
chunk_by = "ID"
EOF2
same() {  # label file: the target holds exactly the file's rows
  local a b
  a=$(tail -n +2 "$2" | awk -F '\t' '{ print $1 "|" $2 "|" $3 }' | LC_ALL=C sort | md5sum)
  b=$(psql -qXAt -F '|' -d "$dst" -c 'select "ID", "Name", "AMOUNT" from orders' | LC_ALL=C sort | md5sum)
  [ "$a" = "$b" ] || fail "$1: the target differs from the double's rows"
}
mark() { psql -qXAt -d "$dst" -c "select mark from uringmig.watermarks where target_table = 'public.${1:-orders}'"; }
# GEN (the double's generated table, a TIMESTAMP_TZ(9) watermark at +01:00, filtered): row i
# (ID i + 1) is ACTIVE when i is even and has a NULL NAME when i % 17 = 0.
gen_same() {
  local a b
  a=$(awk 'BEGIN { for (i = 0; i < 2500; i++) if (i % 2 == 0 || i % 17 == 0) print i + 1 }' | md5sum)
  b=$(psql -qXAt -d "$dst" -c 'select "ID" from gen order by 1' | md5sum)
  [ "$a" = "$b" ] || fail "$1: public.gen differs from the double's filtered rows"
}
run() {  # label [double args...]: one run against the double serving $work/t.tsv
  local label=$1
  shift
  start_sf "$work" --partition-rows 300 --table ORDERS="$work/t.tsv" --table GEN=generated:2500 "$@"
  export SF_PORT=$SNOWFLAKE_PORT
  expect_exit 0 "$bin" run --config job.toml --state-dir "$work/state"
  cat "$work/stdout"
  ! grep -q "BEGIN\|PRIVATE\|Bearer" "$work/stdout" "$work/err" || fail "$label: a secret was printed"
  stop_sf
  grep -q "unfired faults: 0" "$work/sf.log" || fail "$label: a fault was not met: $(cat "$work/sf.log")"
  grep "served" "$work/sf.log"
}
export SF_PORT=0
cp "$work/t1.tsv" "$work/t.tsv"
start_sf "$work" --table ORDERS="$work/t.tsv" --table GEN=generated:2500
export SF_PORT=$SNOWFLAKE_PORT
expect_exit 0 "$bin" plan --config job.toml
grep -q 'ORDERS' "$work/stdout" || fail "plan: $(cat "$work/stdout")"

run "run 1" --fault too_many_requests=2 --fault cut_partition=1 --fault late_partition=1
same "run 1" "$work/t1.tsv"
[ "$(mark)" = "2023-11-15 00:43:20.000000002" ] || fail "run 1: the mark lost its nanoseconds: $(mark)"
[ "$(psql -qXAt -d "$dst" -c "select format_type(atttypid, atttypmod) from pg_attribute where attrelid = 'orders'::regclass and attname = 'Updated At'")" = "timestamp without time zone" ] ||
  fail "TIMESTAMP_NTZ was not created as timestamp"
gen_same "run 1"
[ "$(mark gen)" = "2023-11-14 22:54:59.000002499+00" ] || fail "run 1: GEN's mark: $(mark gen)"

# Run 2: two rows updated, one inserted in the same microsecond as the mark (only nanoseconds
# later: a mark cut to microseconds would lose it), one inserted later.
{
  rows 3000 | sed -e 's/^7\tname 7\t7.25\t.*/7\tchanged\t7.25\t1700009100.000000000/' \
    -e 's/^8\tname 8\t8.25\t.*/8\tchanged too\t8.25\t1700009100.500000000/'
  printf '5003\tnano three\t3.00\t1700009000.000000003\n'
  printf '6000\tnew\t9.99\t1700009200.000000000\n'
} >"$work/t2.tsv"
cp "$work/t2.tsv" "$work/t.tsv"
run "run 2" --fault unavailable=2 --fault expired_token=1
same "run 2" "$work/t2.tsv"
grep -q "public.orders: .* 4 upserted" "$work/stdout" || fail "run 2 moved more than the changed rows"
[ "$(mark)" = "2023-11-15 00:46:40.000000000" ] || fail "run 2 mark: $(mark)"

# Run 3: nothing changed: only the row at the mark is read again (the >= overlap), none written.
run "run 3"
same "run 3" "$work/t2.tsv"
grep -q "public.orders: 1 rows read, 0 upserted" "$work/stdout" || fail "run 3: $(cat "$work/stdout")"
grep -q "public.gen: 1 rows read, 0 upserted" "$work/stdout" || fail "run 3 (GEN): $(cat "$work/stdout")"
gen_same "run 3"
finish incremental_snowflake
