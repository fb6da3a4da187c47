#!/usr/bin/env bash
# A change the target refuses while following (a row written on the target besides the follower:
# the source's INSERT of that key is a duplicate there) stops the follower: exit 1, one line that
# names the table and the server's error, says nothing of that target transaction was applied,
# what to fix, and how to resume. Once the target is fixed, `follow` resumes with nothing lost and
# the switchover leaves identical data. With one apply connection and with two.
# uses-fixture: pg
# shellcheck disable=SC1091
. "$(dirname "$0")/lib/pg.sh"
# shellcheck disable=SC1091
. "$(dirname "$0")/lib/hold.sh"
# shellcheck disable=SC1091
. "$(dirname "$0")/lib/online.sh"

sums() { table_sums "$1" | grep -v '^uringmig\.'; }
has() { psql -qXAt -d "$1" -c "select exists (select 1 from items where id = $2)"; }

for workers in 2 1; do
  src=apply_conflict_src_${workers}_$$
  dst=apply_conflict_dst_${workers}_$$
  new_db "$src"
  new_db "$dst"
  psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
create table items(id int primary key, name text);
insert into items select g, 'item ' || g from generate_series(1, 100) g;
SQL
  printf '[online]\napply_workers = %s\n' "$workers" >job.toml
  "$bin" run --preset online --config job.toml --source "$(url "$src")" --target "$(url "$dst")" \
    --state-dir "st$workers" >/dev/null 2>run.err &
  pid=$!
  wait_true "$dst" "select count(*) = 100 from items" || fail "w$workers: no copy: $(tail -3 run.err)"
  # Written on the target besides the follower, then the same key on the source.
  psql -qX -v ON_ERROR_STOP=1 -d "$dst" -c "insert into items values (101, 'on the target')" >/dev/null
  psql -qX -v ON_ERROR_STOP=1 -d "$src" -c "insert into items values (101, 'source'), (102, 'x')" \
    >/dev/null
  rc=0
  for _ in $(seq 1 600); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && { fail "w$workers: the follower goes on"; kill "$pid"; }
  wait "$pid" || rc=$?
  [ "$rc" -eq 1 ] || fail "w$workers: the follower exited $rc, expected 1: $(tail -2 run.err)"
  last=$(tail -1 run.err)
  for want in 'table "public"."items"' 'duplicate key value violates unique constraint' \
    'nothing of that target transaction was applied' 'fix the target' \
    'resume with `uringmig follow`'; do
    grep -qF -- "$want" <<<"$last" || fail "w$workers: the last line lacks '$want': $last"
  done
  [ "$(has "$dst" 102)" = f ] || fail "w$workers: part of the refused transaction is on the target"
  psql -qX -v ON_ERROR_STOP=1 -d "$dst" -c "delete from items where id = 101" >/dev/null
  follow_to_switchover "w$workers" "st$workers" "select exists (select 1 from items where id = 102)"
done
finish online_apply_conflict
