#!/usr/bin/env bash
# `uringmig plan` with a Doris target: the chunk plan and a suggested Doris CREATE TABLE per
# source table from the documented type mapping (key columns first, UNIQUE KEY on the primary
# key, DUPLICATE KEY without one), the password masked; `run --dry-run` is the same plan and
# writes nothing.
# uses-fixture: pg
# shellcheck disable=SC1091
. "$(dirname "$0")/lib/pg.sh"

db=doris_plan_$$
new_db "$db"
psql -qX -v ON_ERROR_STOP=1 -d "$db" <<'SQL'
create table orders(note text, amount numeric(12,2) not null, region varchar(20), id bigint,
                    at timestamptz, tags int[], primary key (region, id));
create table events(payload jsonb, ok boolean, score double precision);
insert into orders values ('a', 1.5, 'eu', 1, now(), '{1,2}');
SQL
dst="doris://root:doris-secret@127.0.0.1:8030/dw"
"$bin" plan --source "$(url "$db")" --target "$dst" >plan.out 2>plan.err || fail "plan: $(tail -3 plan.err)"
grep -q "doris-secret" plan.out plan.err && fail "the Doris password was printed"
grep -q "^CREATE TABLE IF NOT EXISTS \`dw\`.\`orders\` ($" plan.out || fail "no orders DDL: $(cat plan.out)"
# Key columns first, in key order; VARCHAR in bytes; DECIMAL kept.
awk '/`dw`.`orders`/,/;$/' plan.out >orders.sql
head -3 orders.sql | tail -2 | tr -d '\n' | grep -q '`region` VARCHAR(80) NOT NULL,  `id` BIGINT NOT NULL,' ||
  fail "orders key columns not first: $(cat orders.sql)"
grep -q '`amount` DECIMAL(12,2) NOT NULL' orders.sql || fail "numeric(12,2): $(cat orders.sql)"
grep -q 'UNIQUE KEY(`region`, `id`)' orders.sql || fail "UNIQUE KEY: $(cat orders.sql)"
grep -q '`tags` STRING' orders.sql || fail "array column: $(cat orders.sql)"
awk '/`dw`.`events`/,/;$/' plan.out >events.sql
grep -q 'DUPLICATE KEY' events.sql || fail "events without a primary key: $(cat events.sql)"
grep -q '`payload` JSON' events.sql || fail "jsonb: $(cat events.sql)"
# run --dry-run is the plan: nothing contacted, nothing written.
"$bin" run --dry-run --source "$(url "$db")" --target "$dst" --state-dir st >run.out 2>run.err ||
  fail "run --dry-run: $(tail -3 run.err)"
grep -q "Suggested Doris tables" run.out || fail "run --dry-run did not print the plan"
[ ! -e st/state.db ] || fail "run --dry-run into Doris wrote state"
finish doris_plan
