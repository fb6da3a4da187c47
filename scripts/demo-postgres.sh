#!/usr/bin/env bash
# The PostgreSQL demo (scripts/demo.sh is the README's "run" command): installs what is missing, builds the release
# binary, checks the machine (`uringmig doctor`), then runs the main job on an
# embedded default — a PostgreSQL -> PostgreSQL bulk clone (schema, data,
# indexes, constraints) of a generated 1M-row table between two databases of a
# throwaway local cluster — and checks the copy with `uringmig verify` and with
# checksums computed in SQL. Leaves nothing running.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

rows=${DEMO_ROWS:-1000000}
scripts/setup-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target uringmig pg_fixture -j"$(nproc)"
bin=build/release/uringmig

echo "== uringmig doctor"
"$bin" doctor

echo "== throwaway PostgreSQL 15 cluster"
fixdir=$(mktemp -d)
cleanup() { build/release/tests/pg_fixture stop "$fixdir" >/dev/null 2>&1 || true; rm -rf "$fixdir"; }
trap cleanup EXIT
build/release/tests/pg_fixture start "$fixdir"
# shellcheck disable=SC1091
. "$fixdir/conninfo.env"
export PGHOST=$PGFIX_HOST PGPORT=$PGFIX_PORT PGUSER=$PGFIX_USER

ddl="create table clients(id bigint primary key, inn text, mobile_number text, name text,
       balance numeric(14,2), created timestamptz, tags text[], profile jsonb)"
psql -qX -v ON_ERROR_STOP=1 -c "create database demo_source" -c "create database demo_target"
psql -qX -v ON_ERROR_STOP=1 -d demo_source -c "$ddl" -c "
  insert into clients
  select g, lpad((g::bigint * 7919 % 1000000000000)::text, 12, '0'),
         case when g % 50 = 0 then null else '+7' || (9000000000 + g)::text end,
         'client ' || g, (g % 100000) / 100.0, now() - g * interval '1 minute',
         array['tier' || g % 3], jsonb_build_object('score', g % 97)
  from generate_series(1, $rows) g"

src="postgresql://$PGFIX_USER@/demo_source?host=$PGFIX_HOST&port=$PGFIX_PORT"
dst="postgresql://$PGFIX_ROLE:$PGFIX_PASSWORD@127.0.0.1:$PGFIX_PORT/demo_target"
echo "== uringmig run --preset bulk (PostgreSQL -> PostgreSQL, $rows rows)"
state=$(mktemp -d)
"$bin" run --preset bulk --source "$src" --target "$dst" --state-dir "$state"
echo "== uringmig status"
"$bin" status --state-dir "$state"
rm -rf "$state"
echo "== uringmig verify"
"$bin" verify --source "$src" --target "$dst"

echo "== checksums in SQL"
check="select count(*) || ' rows, md5 ' || md5(string_agg(c::text, '|' order by id)) from clients c"
a=$(psql -qXAt -d demo_source -c "$check")
b=$(psql -qXAt -d demo_target -c "$check")
echo "source: $a"
echo "target: $b"
if [ "$a" != "$b" ]; then
  echo "demo: FAILED: the target differs from the source" >&2
  exit 1
fi
echo "demo: the copy is identical"
