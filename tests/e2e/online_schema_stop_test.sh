#!/usr/bin/env bash
# A column dropped or retyped on the source while following stops the follower: exit 1, one line
# naming the table, the column and what to do on the target; what came before the change is on
# the target, nothing after it; once the target is fixed, `follow` resumes at that transaction and
# the switchover leaves identical data. With one apply connection, the transaction that drops the
# column shares its target transaction with an earlier one (held back by a lock on the target):
# that one is applied again and committed before the follower stops.
# uses-fixture: pg
# shellcheck disable=SC1091
. "$(dirname "$0")/lib/pg.sh"
# shellcheck disable=SC1091
. "$(dirname "$0")/lib/hold.sh"

sums() { table_sums "$1" | grep -v '^uringmig\.'; }
has() { psql -qXAt -d "$1" -c "select exists (select 1 from items where id = $2)"; }
stopped() {  # PID LOG WHAT: the follower exited 1 with WHAT in its last line (within 60 s)
  local rc=0
  for _ in $(seq 1 600); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$1" 2>/dev/null && { fail "w$workers: $3: the follower goes on"; kill "$1"; }
  wait "$1" || rc=$?
  [ "$rc" -eq 1 ] || fail "w$workers: $3: the follower exited $rc, expected 1: $(tail -2 "$2")"
  tail -1 "$2" | grep -qF -- "$3" || fail "w$workers: no clear error: $(tail -2 "$2")"
  tail -1 "$2" | grep -qF "uringmig follow" || fail "w$workers: no resume hint: $(tail -1 "$2")"
}
follow() {  # LOG: `uringmig follow` in the background, its pid in $pid
  "$bin" follow --config job.toml --source "$(url "$src")" --target "$(url "$dst")" \
    --state-dir "st$workers" >/dev/null 2>"$1" &
  pid=$!
}

for workers in 2 1; do
  src=schema_stop_src_${workers}_$$
  dst=schema_stop_dst_${workers}_$$
  new_db "$src"
  new_db "$dst"
  psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
create table items(id int primary key, name text, note text, qty int);
insert into items select g, 'item ' || g, 'note ' || g, g from generate_series(1, 100) g;
create table gate(id int primary key);
SQL
  printf '[online]\napply_workers = %s\n' "$workers" >job.toml
  "$bin" run --preset online --config job.toml --source "$(url "$src")" --target "$(url "$dst")" \
    --state-dir "st$workers" >/dev/null 2>run.err &
  pid=$!
  wait_true "$dst" "select count(*) = 100 from items" || fail "w$workers: no copy: $(tail -3 run.err)"
  psql -qX -v ON_ERROR_STOP=1 -d "$src" -c "insert into items values (101, 'a', 'b', 1)" \
    -c "insert into gate values (1)" >/dev/null
  wait_true "$dst" "select exists (select 1 from gate where id = 1)" ||
    fail "w$workers: the follower does not follow: $(tail -3 run.err)"

  # 1. A dropped column. The target's lock on `gate` holds the follower in one target transaction
  # while 102 and the drop come in behind it.
  hold gate "$dst" "begin; lock table gate in access exclusive mode;"
  wait_true "$dst" "select exists (select 1 from $locks l where granted
                    and mode = 'AccessExclusiveLock' and relation = 'gate'::regclass)" ||
    fail "w$workers: the test's lock on the target"
  psql -qX -v ON_ERROR_STOP=1 -d "$src" -c "insert into gate values (2)" >/dev/null
  wait_true "$dst" "select exists (select 1 from $locks l where not granted and relation = 'gate'::regclass)" ||
    fail "w$workers: the follower did not wait for the lock"
  psql -qX -v ON_ERROR_STOP=1 -d "$src" -c "insert into items values (102, 'a', 'b', 2)" \
    -c "alter table items drop column note" -c "insert into items values (103, 'c', 3)" >/dev/null
  release gate
  stopped "$pid" run.err 'table "public"."items": column "note" was dropped (or renamed) on the source; drop it on the target too (ALTER TABLE "public"."items" DROP COLUMN "note")'
  [ "$(has "$dst" 102)" = t ] || fail "w$workers: the row written before the drop is not on the target"
  if [ "$workers" = 1 ]; then
    grep -q "a column changed on the source: applying what comes before it" run.err ||
      fail "w1: 102 and the drop were not in one target transaction: $(tail -3 run.err)"
  fi
  [ "$(has "$dst" 103)" = f ] || fail "w$workers: a row written after the drop is on the target"
  # Not fixed: it stops again, at the same place.
  follow f1.err
  stopped "$pid" f1.err 'column "note" was dropped'
  psql -qX -v ON_ERROR_STOP=1 -d "$dst" -c "alter table items drop column note" >/dev/null
  follow f2.err
  wait_true "$dst" "select exists (select 1 from items where id = 103)" ||
    fail "w$workers: follow after the fix: $(tail -3 f2.err)"

  # 2. A retyped column.
  psql -qX -v ON_ERROR_STOP=1 -d "$src" -c "alter table items alter column qty type bigint" \
    -c "update items set qty = 5000000000 where id = 1" >/dev/null
  stopped "$pid" f2.err 'table "public"."items": column "qty" changed its type on the source to bigint; change it on the target too (ALTER TABLE "public"."items" ALTER COLUMN "qty" TYPE bigint)'
  psql -qX -v ON_ERROR_STOP=1 -d "$dst" -c "alter table items alter column qty type bigint" >/dev/null
  follow f3.err
  wait_true "$dst" "select qty = 5000000000 from items where id = 1" ||
    fail "w$workers: follow after the retype was fixed: $(tail -3 f3.err)"
  psql -qX -v ON_ERROR_STOP=1 -d "$src" -c "insert into items values (104, 'd', 4)" >/dev/null
  expect_exit 0 "$bin" switchover --source "$(url "$src")" --target "$(url "$dst")" \
    --state-dir "st$workers" --timeout 60s
  rc=0
  wait "$pid" || rc=$?
  [ "$rc" -eq 0 ] || fail "w$workers: follow exited $rc: $(tail -3 f3.err)"
  [ "$(sums "$src")" = "$(sums "$dst")" ] ||
    fail "w$workers: source and target differ: $(sums "$src") / $(sums "$dst")"
done
finish online_schema_stop
