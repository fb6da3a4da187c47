#!/usr/bin/env bash
# uses-fixture: pg
# `uringmig run --preset bulk` with a column type that has no binary send/receive (a base type
# with text I/O only, as some extensions make): that table is copied with COPY in text —
# also where the type hides in a domain, an array or a composite — in values every server reads
# back alike (the source's DateStyle is not the target's), chunked as any other table; the
# other tables stay binary.
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
src=bulk_txt_src_$$; dst=bulk_txt_dst_$$
new_db "$src"; new_db "$dst"
psql -qX -c "alter database $src set datestyle = 'SQL, DMY'" -c "alter database $src set intervalstyle = 'sql_standard'"
psql -qX -c "alter database $dst set datestyle = 'ISO, MDY'"

psql -qX -v ON_ERROR_STOP=1 -d "$src" 2>/dev/null <<'SQL'
create type plain;
create function plain_in(cstring) returns plain language internal immutable strict as 'textin';
create function plain_out(plain) returns cstring language internal immutable strict as 'textout';
create type plain (input = plain_in, output = plain_out, like = text);
create domain plain_d as plain;
create type plain_pair as (a int, b plain);
create table texty (id int primary key, p plain, d plain_d, arr plain[], pair plain_pair,
  at timestamptz, day date, span interval, f float8, raw bytea);
insert into texty select g, ('p' || g)::plain, ('d' || g)::plain_d, array[('a' || g)::plain, null],
  row(g, ('b' || g)::plain)::plain_pair, '2020-01-13 10:00:00+00'::timestamptz + g * interval '1 hour',
  date '2020-01-13' + g, g * interval '1 day 2 hours 3 seconds', g / 3.0, decode(md5(g::text), 'hex')
from generate_series(1, 30000) g;
create table only_array (id int, arr plain[]);
insert into only_array select g, array[('x' || g)::plain] from generate_series(1, 100) g;
create table binary_ok (id int, at timestamptz);
insert into binary_ok select g, now() from generate_series(1, 100) g;
analyze;
SQL

cat > "$work/job.toml" <<'TOML'
[copy]
chunk_size = "1MB"
TOML
rc=0
"$bin" run --preset bulk --config "$work/job.toml" --source "$(url "$src")" \
  --target "$(tcp_url "$dst")" --state-dir "$work/state" --jobs 2 --log-level debug \
  >"$work/out" 2>"$work/err" || rc=$?
cat "$work/out" "$work/err"
[ "$rc" -eq 0 ] || fail "run exited $rc"
[ "$(psql -qXAt -d "$dst" -c "select count(*) from uringmig.chunk_done where table_name = 'texty'")" -gt 1 ] ||
  fail "texty was not split into chunks"
grep -q 'public.texty: copied in text format (type plain' "$work/state/uringmig.log" ||
  fail "the log does not say texty is copied in text"
grep -q 'public.only_array: copied in text format' "$work/state/uringmig.log" ||
  fail "the log does not say only_array is copied in text"
grep -q 'public.binary_ok: copied in text' "$work/state/uringmig.log" && fail "binary_ok was copied in text"
# The same text on both sides, printed under one DateStyle.
sums() {
  PGOPTIONS='-c datestyle=ISO -c intervalstyle=postgres -c extra_float_digits=3' table_sums "$1"
}
sums "$src" >"$work/src.sums"
sums "$dst" >"$work/dst.sums"
diff "$work/src.sums" "$work/dst.sums" || fail "target tables differ from the source"
expect_exit 0 "$bin" verify --source "$(url "$src")" --target "$(tcp_url "$dst")"
cat "$work/stdout"
finish bulk_text_types
