#!/usr/bin/env bash
# `uringmig run` into Doris (the project's Stream Load double): every value arrives as it was
# (NULL vs empty string, tabs, newlines, quotes, backslashes, \N as text, \x01, unicode, numeric
# precision, zoned timestamps in UTC, arrays/json as text, bytea as hex) in CSV and JSON, through
# the FE's 307 and straight to BEs, gzip-compressed, with group commit; several chunks per
# table; the password never printed; a state dir already done is a no-op.
# uses-fixture: pg
# shellcheck disable=SC1091
. "$(dirname "$0")/lib/pg.sh"
# shellcheck disable=SC1091
. "$(dirname "$0")/lib/doris.sh"

db=doris_load_$$
new_db "$db"
psql -qX -v ON_ERROR_STOP=1 -d "$db" <<'SQL'
create table nasty(id int primary key, t text, n numeric, f float8, b bool, ts timestamptz,
                   tsn timestamp, d date, j jsonb, a text[], by bytea, u uuid);
insert into nasty values
 (1, null, 12345678901234567890.123456789012345, 'NaN', true, '2024-05-01 10:00:00.123456+05:30',
  '2024-05-01 10:00:00', '2024-02-29', '{"a": [1, "x\ny"], "q": "\"\\"}', '{1,"a b",NULL}',
  '\x00ff0a', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),
 (2, '', 0.1, 'Infinity', false, '1999-12-31 23:59:59-08', null, null, 'null', '{}', '\x', null),
 (3, E'tab\there', -1e-30, '-Infinity', null, null, null, null, '[]', null, null, null),
 (4, E'line\nbreak\r\nand CR\r', 1, 1e-300, true, '2024-05-01 10:00:00+00', null, null, null, null, null, null),
 (5, 'quote " and '' ', null, 0.1, null, null, null, null, '"just a string"', '{"x\"y"}', null, null),
 (6, E'back\\slash at end \\', null, null, null, null, null, null, null, null, null, null),
 (7, E'\\N', null, null, null, null, null, null, null, null, null, null),
 (8, 'ünïcödé 日本 🎉 ИНН', null, null, null, null, null, null, null, null, null, null),
 (9, E'sep \x01 inside', null, null, null, null, null, null, null, null, null, null),
 (10, '"', null, null, null, null, null, null, null, null, null, null),
 (11, ' ', null, null, null, null, null, null, null, null, null, null);
-- Big enough for several 256 kB chunks.
create table wide(id bigint primary key, note text, amount numeric(12,2));
insert into wide select g, repeat(md5(g::text), 3) || case when g % 7 = 0 then E'\t' else '' end,
                        g * 1.25 from generate_series(1, 30000) g;
create table keyless(v text);
insert into keyless values ('a'), ('a'), (null), ('');
SQL
want_nasty="select id::text, t, n::text, f::text, case when b then 'true' when not b then 'false' end,
  (ts at time zone 'UTC')::text, tsn::text, d::text, j::text, a::text, encode(by, 'hex'), u::text
  from nasty"
expected_rows "$db" "$want_nasty" >nasty.want
expected_rows "$db" "select * from wide" >wide.want
expected_rows "$db" "select * from keyless" >keyless.want
src=$(url "$db")
cat >job.toml <<'EOF2'
[copy]
chunk_size = "256kB"
EOF2

check_rows() {  # DIR LABEL
  local dir=$1 what=$2 t
  for t in nasty wide keyless; do
    recorded_rows "$dir/rec/dw.$t.tsv" >"$dir/$t.got"
    cmp -s "$t.want" "$dir/$t.got" ||
      fail "$what: table $t differs: $(diff "$t.want" "$dir/$t.got" | head -5)"
  done
}

# 1. CSV through the FE (307 followed by uringmig, credentials stripped from the Location).
start_double fe --password 's3cr:et@x'
"$bin" run --config job.toml --source "$src" \
  --target "doris://root:s3cr%3Aet%40x@127.0.0.1:$FE_PORT/dw" --state-dir st1 >out1 2>err1 ||
  fail "csv via FE: $(tail -3 err1)"
check_rows fe "csv via FE"
grep -q "s3cr" out1 err1 st1/*.log 2>/dev/null && fail "the Doris password was printed or logged"
grep -q "30000" out1 || fail "summary without the row count: $(cat out1)"
chunks=$(sqlite3 st1/state.db "select count(*) from chunk where status = 'done'" 2>/dev/null || echo 0)
[ "$chunks" -ge 4 ] || fail "expected several chunks, got $chunks"
# Every load went to the BE after a 307 from the FE, with its own label, none twice.
stats=$(curl -sf "http://127.0.0.1:$FE_PORT/_double/stats")
echo "$stats" | grep -q '"be_loads_by_label"' || fail "stats: $stats"
# BE body bytes received (compressed or not), to compare with the compressed runs below.
wire() { curl -sf "http://127.0.0.1:$1/_double/stats" | sed -n 's/.*"be_body_bytes":\([0-9]*\).*/\1/p'; }
plain_bytes=$(wire "$FE_PORT")
# Run again with the same state dir: nothing left to do, nothing loaded twice.
"$bin" run --config job.toml --source "$src" \
  --target "doris://root:s3cr%3Aet%40x@127.0.0.1:$FE_PORT/dw" --state-dir st1 >out1b 2>err1b ||
  fail "second run: $(tail -3 err1b)"
check_rows fe "csv via FE, run twice"

# 2. JSON lines straight to the BE (be=), gzip refused for JSON before anything happens.
start_double be
"$bin" run --config job.toml --source "$src" \
  --target "doris://root@127.0.0.1:$FE_PORT/dw?be=127.0.0.1:$BE_PORT&format=json" --state-dir st2 \
  >out2 2>err2 || fail "json via BE: $(tail -3 err2)"
check_rows be "json via BE"
cat >gzjson.toml <<'EOF2'
[doris]
compress = "gz"
EOF2
expect_exit 2 "$bin" run --config gzjson.toml --source "$src" \
  --target "doris://root@127.0.0.1:$FE_PORT/dw?format=json" --state-dir stx
grep -q "format=csv only" err || fail "gz with json: $(cat err)"
printf '[doris]\ncompress = "zstd"\n' >zstd.toml
expect_exit 2 "$bin" run --config zstd.toml --source "$src" \
  --target "doris://root@127.0.0.1:$FE_PORT/dw" --state-dir stx
grep -q "expected gz or lz4" err || fail "compress = zstd: $(cat err)"

# 3. CSV gzip- and lz4-compressed, and group commit (no labels).
for codec in gz lz4; do
  start_double "$codec"
  printf '[copy]\nchunk_size = "256kB"\n[doris]\ncompress = "%s"\n' "$codec" >"$codec.toml"
  "$bin" run --config "$codec.toml" --source "$src" --target "doris://root@127.0.0.1:$FE_PORT/dw" \
    --state-dir "st3$codec" >"out3$codec" 2>"err3$codec" || fail "$codec: $(tail -3 "err3$codec")"
  check_rows "$codec" "csv $codec"
  # Compressed on the wire: fewer body bytes than the same rows sent plain through the FE (1.).
  bytes=$(wire "$FE_PORT")
  [ -n "$bytes" ] && [ "$bytes" -gt 0 ] && [ "$bytes" -lt $((plain_bytes * 3 / 4)) ] ||
    fail "$codec: $bytes body bytes against $plain_bytes plain"
done
start_double gc
cat >gc.toml <<'EOF2'
[copy]
chunk_size = "256kB"
[doris]
group_commit = "sync_mode"
EOF2
"$bin" run --config gc.toml --source "$src" --target "doris://root@127.0.0.1:$FE_PORT/dw" \
  --state-dir st4 >out4 2>err4 || fail "group commit: $(tail -3 err4)"
check_rows gc "group commit"

finish doris_load
