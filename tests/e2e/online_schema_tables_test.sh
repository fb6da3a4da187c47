#!/usr/bin/env bash
# Tables changing on the source while following, with a FOR ALL TABLES publication (--publication):
# - TRUNCATE … CASCADE is applied without CASCADE (as PostgreSQL's own apply): a table only the
#   target has that refers to the truncated ones is not emptied; the target refuses, and the
#   follower stops with a line that says what failed and how to resume;
# - a table created on the source stops the follower with a line saying to create it on the target;
# - a table renamed on the source stops it with the statement to run on the target.
# Each time nothing after the change is applied; once the target is fixed, `follow` resumes there,
# and the switchover leaves identical data. With one apply connection and with two.
# uses-fixture: pg
# shellcheck disable=SC1091
. "$(dirname "$0")/lib/pg.sh"
# shellcheck disable=SC1091
. "$(dirname "$0")/lib/hold.sh"

sums() { table_sums "$1" | grep -v -e '^uringmig\.' -e '^public\.audit|'; }
stopped() {  # LOG WHAT...: the follower ($pid) exited 1 with each WHAT in its last line
  local log=$1 rc=0 want
  shift
  for _ in $(seq 1 600); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && { fail "w$workers: $1: the follower goes on"; kill "$pid"; }
  wait "$pid" || rc=$?
  [ "$rc" -eq 1 ] || fail "w$workers: $1: the follower exited $rc, expected 1: $(tail -2 "$log")"
  for want in "$@" 'resume with `uringmig follow`'; do
    tail -1 "$log" | grep -qF -- "$want" || fail "w$workers: the last line lacks '$want': $(tail -1 "$log")"
  done
}
follow() {  # LOG: `uringmig follow` in the background, its pid in $pid
  "$bin" follow --config job.toml --publication allpub --source "$(url "$src")" \
    --target "$(url "$dst")" --state-dir "st$workers" >/dev/null 2>"$1" &
  pid=$!
}
has() { psql -qXAt -d "$dst" -c "select exists (select 1 from $1 where id = $2)"; }

for workers in 2 1; do
  src=schema_tables_src_${workers}_$$
  dst=schema_tables_dst_${workers}_$$
  new_db "$src"
  new_db "$dst"
  psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
create table items(id int primary key);
insert into items select generate_series(1, 100);
create table parent(id int primary key);
create table child(id int primary key, p int references parent);
insert into parent values (1), (2);
insert into child values (1, 1);
create publication allpub for all tables;
SQL
  printf '[online]\napply_workers = %s\n' "$workers" >job.toml
  "$bin" run --preset online --config job.toml --publication allpub --source "$(url "$src")" \
    --target "$(url "$dst")" --state-dir "st$workers" >/dev/null 2>run.err &
  pid=$!
  wait_true "$dst" "select count(*) = 100 from items" || fail "w$workers: no copy: $(tail -3 run.err)"

  # 1. TRUNCATE … CASCADE; the target has a table of its own that refers to parent.
  psql -qX -v ON_ERROR_STOP=1 -d "$dst" -c "create table audit(id int primary key, p int references parent)" \
    -c "insert into audit values (1, 1)" >/dev/null
  psql -qX -v ON_ERROR_STOP=1 -d "$src" -c "truncate parent cascade" -c "insert into items values (101)" \
    2>/dev/null
  stopped run.err 'cannot truncate a table referenced in a foreign key constraint' \
    'nothing of that target transaction was applied'
  [ "$(psql -qXAt -d "$dst" -c "select count(*) from audit")" = 1 ] ||
    fail "w$workers: the target's own table was emptied"
  [ "$(has items 101)" = f ] || fail "w$workers: a change after the TRUNCATE is on the target"
  psql -qX -v ON_ERROR_STOP=1 -d "$dst" -c "alter table audit drop constraint audit_p_fkey" >/dev/null
  follow f1.err
  wait_true "$dst" "select exists (select 1 from items where id = 101)" ||
    fail "w$workers: follow after the TRUNCATE: $(tail -3 f1.err)"
  [ "$(psql -qXAt -d "$dst" -c "select (select count(*) from parent) + (select count(*) from child),
        (select count(*) from audit)")" = '0|1' ] || fail "w$workers: the TRUNCATE on the target"

  # 2. A table created on the source (FOR ALL TABLES: its changes are published).
  psql -qX -v ON_ERROR_STOP=1 -d "$src" -c "create table newt(id int primary key)" \
    -c "insert into newt values (1)" -c "insert into items values (102)" >/dev/null
  stopped f1.err 'table "public"."newt" is published on the source but does not exist on the target' \
    'create it on the target'
  [ "$(has items 102)" = f ] || fail "w$workers: a change after the new table is on the target"
  follow f2.err
  stopped f2.err 'table "public"."newt" is published on the source but does not exist on the target'
  psql -qX -v ON_ERROR_STOP=1 -d "$dst" -c "create table newt(id int primary key)" >/dev/null
  follow f3.err
  wait_true "$dst" "select exists (select 1 from items where id = 102)" ||
    fail "w$workers: follow after the new table: $(tail -3 f3.err)"
  [ "$(has newt 1)" = t ] || fail "w$workers: the new table's row"

  # 3. A table renamed on the source (the follower has seen it under its old name).
  psql -qX -v ON_ERROR_STOP=1 -d "$src" -c "insert into items values (103)" >/dev/null
  wait_true "$dst" "select exists (select 1 from items where id = 103)" ||
    fail "w$workers: items after the restart: $(tail -3 f3.err)"
  psql -qX -v ON_ERROR_STOP=1 -d "$src" -c "alter table items rename to goods" \
    -c "insert into goods values (104)" >/dev/null
  stopped f3.err 'table "public"."items" was renamed on the source to "public"."goods"; do the same on the target (ALTER TABLE "public"."items" RENAME TO "goods")'
  psql -qX -v ON_ERROR_STOP=1 -d "$dst" -c 'ALTER TABLE "public"."items" RENAME TO "goods"' >/dev/null
  follow f4.err
  wait_true "$dst" "select exists (select 1 from goods where id = 104)" ||
    fail "w$workers: follow after the rename: $(tail -3 f4.err)"

  expect_exit 0 "$bin" switchover --source "$(url "$src")" --target "$(url "$dst")" \
    --state-dir "st$workers" --timeout 60s
  rc=0
  wait "$pid" || rc=$?
  [ "$rc" -eq 0 ] || fail "w$workers: follow exited $rc: $(tail -3 f4.err)"
  [ "$(sums "$src")" = "$(sums "$dst")" ] ||
    fail "w$workers: source and target differ: $(sums "$src") / $(sums "$dst")"
done
finish online_schema_tables
