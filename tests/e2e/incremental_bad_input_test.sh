#!/usr/bin/env bash
# uses-fixture: pg
# Bad [[tables]] entries stop `run` (and `plan`) with exit 2 and one line naming the entry and
# what is wrong, before anything is written to the target: a table or column in the wrong case,
# a key with no unique index on the target, a watermark of a type that cannot order changes, a
# filter that does not parse, an unknown key. `plan` of a good entry prints mode, strategy,
# chunk estimate and the current mark; --tables picks entries.
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
src=incr_bad_src_$$
dst=incr_bad_dst_$$
new_db "$src"
new_db "$dst"
psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
create table "Events" ("Id" bigint primary key, payload jsonb, "Changed" timestamp, n int);
insert into "Events" select g, '{}', '2024-01-01'::timestamp + g * interval '1 s', g from generate_series(1, 100) g;
SQL
psql -qX -v ON_ERROR_STOP=1 -d "$dst" <<'SQL'
create table events ("Id" bigint, payload jsonb, "Changed" timestamp, n int);
create table events_keyed ("Id" bigint primary key, payload jsonb, "Changed" timestamp);
SQL
entry() {  # extra TOML lines of the one entry
  cat >job.toml <<EOF
source = "$(url "$src")"
target = "$(url "$dst")"
preset = "incremental"
[[tables]]
$1
EOF
}
bad() {  # what, expected message (grep -E), TOML of the entry
  entry "$3"
  expect_exit 2 "$bin" run --config job.toml --state-dir "$work/state"
  [ "$(grep -c '^uringmig: ' "$work/err")" -eq 1 ] || fail "$1: not one error line: $(cat "$work/err")"
  grep -Eq "$2" "$work/err" || fail "$1: unexpected message: $(cat "$work/err")"
  [ "$(psql -qXAt -d "$dst" -c "select count(*) from pg_namespace where nspname = 'uringmig'")" = 0 ] ||
    fail "$1: the target was written to"
}
good='source = "public.\"Events\""
target = "public.events_keyed"
key = ["Id"]
watermark = "Changed"'
bad "table in the wrong case" 'source table public.events does not exist .*exact case' \
  'source = "public.events"
target = "public.events_keyed"
key = ["Id"]
watermark = "Changed"'
bad "column in the wrong case" 'watermark column "changed" is not a column of source table .*did you mean "Changed"' \
  'source = "public.\"Events\""
target = "public.events_keyed"
key = ["Id"]
watermark = "changed"'
bad "key not unique on the target" 'key \(Id\) is not unique on target table public.events: add a unique index' \
  'source = "public.\"Events\""
target = "public.events"
key = ["Id"]
watermark = "Changed"'
bad "unorderable watermark" 'watermark column "payload" is of type jsonb, which cannot order changes' \
  'source = "public.\"Events\""
target = "public.events_keyed"
key = ["Id"]
watermark = "payload"'
bad "filter that does not parse" 'filter does not parse on the source: .*syntax error' \
  "$good
filter = \"n = AND 3\""
bad "unknown key" "unknown key 'watermak' in \[\[tables\]\] \(did you mean 'watermark'\?\)" \
  "$good
watermak = \"x\""
bad "lookback that does not fit" "lookback = '5' does not fit a timestamp watermark" \
  "$good
lookback = \"5\""

# plan: per table mode, strategy, chunk estimate, current mark; nothing written.
entry "$good"
expect_exit 0 "$bin" plan --config job.toml
grep -q 'table public.Events -> public.events_keyed: mode incremental (upsert), strategy one chunk (small), 1 chunk(s), ~100 rows to read, mark none' "$work/stdout" ||
  fail "plan output: $(cat "$work/stdout")"
grep -q 'not on the target, skipped: n' "$work/stdout" || fail "plan does not name the skipped column"
[ "$(psql -qXAt -d "$dst" -c "select count(*) from pg_namespace where nspname = 'uringmig'")" = 0 ] ||
  fail "plan wrote to the target"
expect_exit 0 "$bin" run --dry-run --config job.toml
# --tables picks entries; one that picks none is a usage error.
expect_exit 2 "$bin" plan --config job.toml --tables 'nothing.*'
grep -q -- "--tables: no \[\[tables\]\] entry matches" "$work/err" || fail "--tables: $(cat "$work/err")"
expect_exit 0 "$bin" plan --config job.toml --tables 'public.events_*'
finish incremental_bad_input
