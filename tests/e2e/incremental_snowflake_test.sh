#!/usr/bin/env bash
# uses-fixture: pg
# Incremental loads from the Snowflake SQL API double into PostgreSQL over three runs: the target
# table is created from the rowType, the mark keeps a TIMESTAMP_NTZ(9)'s nanoseconds (rows that
# differ only there are neither lost nor read again run after run), the second run upserts only
# what changed, and the double's faults (429, 503, a cut partition, an expired token) leave the
# target identical. A text-keyed table (keys with backslashes, quotes, mixed case, UTF-8) loads
# in grouped-value chunks (NTILE boundaries, then range predicates in the same order): every row
# once; a run killed with -9 while a chunk waits on a target row lock, then run again, leaves it
# identical with the mark never ahead of the data.
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
. "$(dirname "${BASH_SOURCE[0]}")/lib/snowflake.sh"
. "$(dirname "${BASH_SOURCE[0]}")/lib/hold.sh"
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
# words D: WORDS, keyed by text ("K"); row i changes at 1700000000 + D * 100000 + i seconds.
words() {
  printf 'K:text(40)\tV:fixed(18,0)\tTS:timestamp_ntz(9)\n'
  awk -v d="$1" 'BEGIN { split("a|B|\303\251|a\\|a'"'"'", p, "|")
    for (i = 1; i <= 3000; i++) printf "%s%d\t%d\t%d.000000000\n", p[i % 5 + 1], i, (d ? -i : i), 1700000000 + d * 100000 + i }'
}
words 0 >"$work/w.tsv"
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
[[tables]]
source = "WORDS"
target = "public.words"
key = ["K"]
watermark = "TS"
chunk_by = "K"
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
words_same() {  # label: public.words holds exactly $work/w.tsv's rows
  local a b
  a=$(tail -n +2 "$work/w.tsv" | cut -f 1,2 | tr '\t' '|' | LC_ALL=C sort | md5sum)
  b=$(psql -qXAt -F '|' -d "$dst" -c 'select "K", "V" from words' | LC_ALL=C sort | md5sum)
  [ "$a" = "$b" ] || fail "$1: public.words differs from the double's rows"
}
words_chunks() { psql -qXAt -d "$dst" -c "select count(*) from uringmig.chunks c join uringmig.table_runs t using (table_run_id) where t.target_table = 'public.words' and t.table_run_id = (select max(table_run_id) from uringmig.table_runs where target_table = 'public.words') and c.status = 'done'"; }
serve() { start_sf "$work" --partition-rows 300 --table ORDERS="$work/t.tsv" --table GEN=generated:2500 --table WORDS="$work/w.tsv" "$@"; }
run() {  # label [double args...]: one run against the double serving $work/t.tsv
  local label=$1
  shift
  serve "$@"
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
serve
export SF_PORT=$SNOWFLAKE_PORT
expect_exit 0 "$bin" plan --config job.toml
grep -q 'ORDERS' "$work/stdout" || fail "plan: $(cat "$work/stdout")"
grep -q 'table WORDS -> public.words: .*strategy grouped values on "K", 3 chunk(s)' "$work/stdout" ||
  fail "plan (WORDS): $(cat "$work/stdout")"

run "run 1" --fault too_many_requests=2 --fault cut_partition=1 --fault late_partition=1
same "run 1" "$work/t1.tsv"
[ "$(mark)" = "2023-11-15 00:43:20.000000002" ] || fail "run 1: the mark lost its nanoseconds: $(mark)"
[ "$(psql -qXAt -d "$dst" -c "select format_type(atttypid, atttypmod) from pg_attribute where attrelid = 'orders'::regclass and attname = 'Updated At'")" = "timestamp without time zone" ] ||
  fail "TIMESTAMP_NTZ was not created as timestamp"
gen_same "run 1"
words_same "run 1"
[ "$(words_chunks)" = 3 ] || fail "run 1: WORDS did not load in 3 chunks ($(words_chunks))"
grep -q "public.words: 3000 rows read, 3000 upserted" "$work/stdout" || fail "run 1 (WORDS): $(cat "$work/stdout")"
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

# Run 3: nothing changed in ORDERS and GEN: only the row at the mark is read again (the >=
# overlap), none written. Every WORDS row changes; a lock on the target row 1500th in byte order
# holds WORDS' second chunk, the run is killed there with -9, and the same command finishes.
mark_words=$(mark words)
held_v=$(psql -qXAt -d "$dst" -c 'select "V" from words order by "K" collate "C" offset 1500 limit 1')
words 1 >"$work/w.tsv"
serve
export SF_PORT=$SNOWFLAKE_PORT
hold lock "$dst" "begin; select 1 from words where \"V\" = $held_v for update;"
"$bin" run --config job.toml --state-dir "$work/state" >"$work/run.out" 2>&1 &
pid=$!
wait_true "$dst" "select exists (select 1 from $sessions s where wait_event_type = 'Lock' and application_name = 'uringmig incremental')" ||
  fail "the run never reached the locked row: $(cat "$work/run.out")"
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
release lock
[ "$(mark words)" = "$mark_words" ] || fail "kill -9: the mark moved ahead of the data: $(mark words)"
run "run 3 (after kill -9)"
same "run 3" "$work/t2.tsv"
grep -q "public.orders: 1 rows read, 0 upserted" "$work/stdout" || fail "run 3: $(cat "$work/stdout")"
grep -q "public.gen: 1 rows read, 0 upserted" "$work/stdout" || fail "run 3 (GEN): $(cat "$work/stdout")"
gen_same "run 3"
grep -q "public.words: resuming its unfinished run" "$work/err" || fail "run 3 did not resume WORDS: $(cat "$work/err")"
words_same "run 3"
[ "$(mark words)" = "2023-11-16 02:50:00.000000000" ] || fail "run 3: WORDS mark $(mark words)"
finish incremental_snowflake
