#!/usr/bin/env bash
# uses-fixture: pg
# Bad settings of the bulk clone: a line naming the key and what it expects,
# exit 2, before anything is copied — also for settings the servers judge
# (index.maintenance_work_mem, copy.lock_timeout).
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
src=bset_src_$$; dst=bset_dst_$$
new_db "$src"; new_db "$dst"
psql -qX -v ON_ERROR_STOP=1 -d "$src" -c "create table t (id int primary key)" \
  -c "insert into t select generate_series(1, 100)"
check() {  # name toml-section key value grep-pattern
  printf '[%s]\n%s = %s\n' "$2" "$3" "$4" >"$work/$1.toml"
  local rc=0
  "$bin" run --preset bulk --config "$work/$1.toml" --source "$(url "$src")" --target "$(url "$dst")" \
    --state-dir "$work/state_$1" >"$work/$1.out" 2>"$work/$1.err" || rc=$?
  echo "--- $1 (exit $rc): $(grep '^uringmig:' "$work/$1.err")"
  [ "$rc" -eq 2 ] || fail "$1: exit $rc, want 2"
  grep -q "^uringmig: $5" "$work/$1.err" || fail "$1: the message does not name $2.$3"
  [ "$(psql -qXAt -d "$dst" -c "select count(*) from pg_class where relname = 't'")" = 0 ] ||
    fail "$1: the target was touched"
}
check retries copy retries '"x"' "copy.retries = 'x': expected an integer"
check mwm index maintenance_work_mem '"lots"' "index.maintenance_work_mem = 'lots': .*want a size"
check lock_timeout copy lock_timeout '"soon"' "copy.lock_timeout = 'soon': .*want a duration"
finish bulk_settings_check
