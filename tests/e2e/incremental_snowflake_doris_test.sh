#!/usr/bin/env bash
# uses-fixture: pg
# Incremental loads from the Snowflake SQL API double into the Doris double (a Unique Key table)
# over three runs, with every fault of the Snowflake double (429, 503, a partition cut
# mid-body, a partition late, an expired token) and Doris faults (an answer lost after the
# commit: the retry finds the label FINISHED; a transient -235): after each run the Doris table
# holds exactly the double's rows; the second run reads only what changed. Run 4: the same job
# on a shared state (--state-url) by two workers that split its chunks.
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
. "$(dirname "${BASH_SOURCE[0]}")/lib/snowflake.sh"
# lib/doris.sh's exit trap stops its doubles; keep the Snowflake double's too.
. "$(dirname "${BASH_SOURCE[0]}")/lib/doris.sh"
trap 'stop_sf; stop_doubles' EXIT
make_key "$work"
rows() {  # the ORDERS file: ID, "Name", AMOUNT, "Updated At" TIMESTAMP_NTZ(9)
  printf 'ID:fixed(18,0)\t"Name":text(100)\tAMOUNT:fixed(12,2)\t"Updated At":timestamp_ntz(9)\n'
  awk -v n="$1" 'BEGIN { for (i = 1; i <= n; i++) printf "%d\tname %d\t%d.25\t%d.000000000\n", i, i, i, 1700000000 + i }'
  printf '5001\tnano one\t1.00\t1700009000.000000001\n'
}
rows 3000 >"$work/t.tsv"
start_double dd --password pw --table 'dw.orders=4:ID,Name,AMOUNT,Updated At:unique:1'
cat >job.toml <<EOF2
source = "snowflake://LOADER@TESTACCT/DB/PUBLIC?warehouse=WH"
target = "doris://root:pw@127.0.0.1:$FE_PORT/dw"
preset = "incremental"
[snowflake]
endpoint = "http://127.0.0.1:\${SF_PORT}"
private_key_file = "$work/key.pem"
[incremental]
chunk_rows = 1000
[doris]
backoff_ms = 10
[[tables]]
source = "DB.PUBLIC.ORDERS"
target = "orders"
key = ["ID"]
watermark = "Updated At"
chunk_by = "ID"
EOF2
same() {  # label: the Doris table holds exactly the file's rows (ID, Name, AMOUNT)
  local a b
  a=$(tail -n +2 "$work/t.tsv" | awk -F '\t' '{ print $1 "|" $2 "|" $3 }' | LC_ALL=C sort | md5sum)
  b=$(awk -F '\t' '{ print $1 "|" $2 "|" $3 }' dd/rec/dw.orders.tsv | LC_ALL=C sort | md5sum)
  [ "$a" = "$b" ] || fail "$1: the Doris table differs from the double's rows"
}
run() {  # label [snowflake double args...]
  local label=$1
  shift
  start_sf "$work" --partition-rows 300 --table ORDERS="$work/t.tsv" "$@"
  export SF_PORT=$SNOWFLAKE_PORT
  expect_exit 0 "$bin" run --config job.toml --state-dir "$work/state"
  cat "$work/stdout"
  ! grep -q "BEGIN\|PRIVATE\|Bearer\|pw@" "$work/stdout" "$work/err" || fail "$label: a secret was printed"
  stop_sf
  grep -q "unfired faults: 0" "$work/sf.log" || fail "$label: a fault was not met: $(cat "$work/sf.log")"
}
export SF_PORT=0

fault reset_before_response 1
fault too_many_versions 1
run "run 1" --fault too_many_requests=2 --fault cut_partition=1 --fault late_partition=1
same "run 1"
grep -q "orders: 3001 rows read, 3001 upserted" "$work/stdout" || fail "run 1: $(cat "$work/stdout")"
stats=$(curl -sf "http://127.0.0.1:$FE_PORT/_double/stats")
echo "$stats" | grep -q '"held":\[\]' || fail "stats: $stats"

# Run 2: two rows updated, one inserted.
rows 3000 | sed -e 's/^7\tname 7\t7.25\t.*/7\tchanged\t7.25\t1700009100.000000000/' \
  -e 's/^8\tname 8\t8.25\t.*/8\tchanged too\t8.25\t1700009100.500000000/' >"$work/t.tsv"
printf '6000\tnew\t9.99\t1700009200.000000000\n' >>"$work/t.tsv"
run "run 2" --fault unavailable=2 --fault expired_token=1
same "run 2"
grep -q "orders: 4 rows read, 4 upserted" "$work/stdout" ||
  fail "run 2 should read the row at the mark and the 3 changed: $(cat "$work/stdout")"

# Run 3: nothing changed: the row at the mark again (a harmless upsert).
run "run 3"
same "run 3"
grep -q "orders: 1 rows read" "$work/stdout" || fail "run 3: $(cat "$work/stdout")"

# Run 4: two workers on one job through a shared state (a PostgreSQL database): the job is new
# there, so its first window reads every row; the coordinator opens it and both load chunks.
rows 3000 | sed -e 's/^9\tname 9\t9.25\t.*/9\tchanged by 4\t9.25\t1700009300.000000000/' >"$work/t.tsv"
printf '6000\tnew\t9.99\t1700009200.000000000\n' >>"$work/t.tsv"
state=incsfdw_state_$$
new_db "$state"
printf '[copy.debug]\nwait_workers = 2\n' >>job.toml
start_sf "$work" --partition-rows 300 --table ORDERS="$work/t.tsv"
export SF_PORT=$SNOWFLAKE_PORT
pids=()
for w in 1 2; do
  "$bin" run --config job.toml --state-dir "$work/w$w" --state-url "$(tcp_url "$state")" \
    --job sfdoris --worker "$w/2" >"$work/w$w.out" 2>"$work/w$w.err" &
  pids+=($!)
done
for w in 1 2; do
  wait "${pids[$((w - 1))]}" || fail "run 4: worker $w exited $?: $(tail -n 3 "$work/w$w.err")"
done
stop_sf
same "run 4"
sq() { psql -qXAt -d "$state" -c "$1"; }
[ "$(sq "select count(*) from uringmig_state.chunk where job = 'sfdoris' and status <> 'done'")" = 0 ] ||
  fail "run 4: chunks not done in the state"
[ "$(sq "select count(*) from uringmig_state.chunk where job = 'sfdoris'")" -ge 3 ] ||
  fail "run 4: the window was not cut into chunks"
[ "$(cat "$work"/w[12].err | grep -c 'coordinating job')" = 1 ] || fail "run 4: not one coordinator"
echo "run 4: $(sq "select count(*) || ' chunks by ' || count(distinct done_run) || ' worker(s)' from uringmig_state.chunk where job = 'sfdoris'")"
finish incremental_snowflake_doris
