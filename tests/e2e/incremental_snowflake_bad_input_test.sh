#!/usr/bin/env bash
# uses-fixture: pg
# A Snowflake source's bad input is one clear line and exit 2 before anything is written: a
# missing private key file, a wrong account (the double refuses the JWT), a table or a column
# in the wrong case, a filter that does not parse; a snowflake:// source outside --preset
# incremental. No key, JWT or token is ever printed.
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
. "$(dirname "${BASH_SOURCE[0]}")/lib/snowflake.sh"
dst=incr_sf_bad_$$
new_db "$dst"
make_key "$work"
{
  printf 'ID:fixed(18,0)\t"Name":text(100)\t"Updated At":timestamp_ntz(9)\n'
  printf '1\tone\t1700000000.000000001\n2\ttwo\t1700000001.000000000\n'
} >"$work/t.tsv"
start_sf "$work" --table ORDERS="$work/t.tsv"
job() {  # account key_file table watermark filter
  cat >job.toml <<EOF2
source = "snowflake://LOADER@$1/DB/PUBLIC"
target = "$(url "$dst")"
preset = "incremental"
[snowflake]
endpoint = "http://127.0.0.1:$SNOWFLAKE_PORT"
private_key_file = "$2"
[[tables]]
source = "$3"
target = "public.orders"
key = ["ID"]
watermark = "$4"
filter = '$5'
EOF2
}
nothing_written() {
  [ "$(psql -qXAt -d "$dst" -c "select count(*) from pg_namespace where nspname = 'uringmig'")" = 0 ] ||
    fail "$1: the uringmig schema was created"
  [ "$(psql -qXAt -d "$dst" -c "select count(*) from pg_class where relname = 'orders'")" = 0 ] ||
    fail "$1: the target table was created"
}
check() {  # label pattern: both plan and run exit 2 with one line matching pattern, no secret
  local label=$1 pattern=$2 cmd
  for cmd in plan run; do
    expect_exit 2 "$bin" "$cmd" --config job.toml --state-dir "$work/state"
    grep -q -- "$pattern" "$work/err" || fail "$label ($cmd): $(cat "$work/err")"
    [ "$(grep -c '^uringmig: ' "$work/err")" = 1 ] || fail "$label ($cmd): not one line: $(cat "$work/err")"
    ! grep -q "BEGIN\|PRIVATE\|Bearer\|eyJ" "$work/stdout" "$work/err" || fail "$label: a secret was printed"
    nothing_written "$label ($cmd)"
  done
}
job TESTACCT "$work/missing.pem" ORDERS "Updated At" '"ID" > 0'
check "missing key file" "missing.pem"
job OTHERACCT "$work/key.pem" ORDERS "Updated At" '"ID" > 0'
check "wrong account" "credentials were refused"
job TESTACCT "$work/key.pem" Orders "Updated At" '"ID" > 0'
check "table in the wrong case" "Orders"
job TESTACCT "$work/key.pem" ORDERS "updated at" '"ID" > 0'
check "column in the wrong case" "updated at"
job TESTACCT "$work/key.pem" ORDERS "Updated At" '"ID" >> 0 AND'
check "filter that does not parse" "filter"
job TESTACCT "$work/key.pem" ORDERS "Updated At" '"ID" > 0'
expect_exit 0 "$bin" plan --config job.toml
nothing_written "a good plan"
# OAuth: the token comes from the environment and is never printed, right or wrong.
start_sf "$work" --table ORDERS="$work/t.tsv" --oauth-token right-token-123
sed -i "s|^private_key_file = .*|oauth_token = \"\\\${SF_TOKEN}\"|; s|127.0.0.1:[0-9]*|127.0.0.1:$SNOWFLAKE_PORT|" job.toml
export SF_TOKEN=wrong-token-456
expect_exit 2 "$bin" plan --config job.toml
grep -q "refused" "$work/err" || fail "wrong token: $(cat "$work/err")"
! grep -q "wrong-token-456" "$work/stdout" "$work/err" || fail "the wrong token was printed"
export SF_TOKEN=right-token-123
expect_exit 0 "$bin" plan --config job.toml
! grep -q "right-token-123" "$work/stdout" "$work/err" || fail "the token was printed"
nothing_written "an OAuth plan"
sed -i 's/^preset = "incremental"$/preset = "bulk"/; /^\[\[tables\]\]/,$d' job.toml
expect_exit 2 "$bin" run --config job.toml --state-dir "$work/state"
grep -q "snowflake:// source is read by incremental loads" "$work/err" || fail "bulk preset: $(cat "$work/err")"
finish incremental_snowflake_bad_input
