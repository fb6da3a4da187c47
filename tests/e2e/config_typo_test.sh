#!/usr/bin/env bash
# A config file with a typo in a key or section, or a value of the wrong type: exit 2 and one
# line naming the key, the file's line and the nearest valid key; nothing is created.
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
sqlite3 src.db "create table t (id integer primary key); insert into t values (1), (2)"

check() {  # name want-pattern: runs with $name.toml
  local rc=0
  "$bin" run --config "$1.toml" --source "sqlite://$work/src.db" --target "sqlite://$work/$1.db" \
    --state-dir "$work/state_$1" >"$1.out" 2>"$1.err" || rc=$?
  echo "--- $1 (exit $rc): $(cat "$1.err")"
  [ "$rc" -eq 2 ] || fail "$1: exit $rc, want 2"
  [ "$(wc -l <"$1.err")" -eq 1 ] || fail "$1: want exactly one line on stderr"
  grep -qF -- "$2" "$1.err" || fail "$1: the message does not say: $2"
  [ ! -e "$work/state_$1" ] || fail "$1: the state directory was created"
  [ ! -e "$work/$1.db" ] || fail "$1: the target was created"
}

printf '[sqlite]\ncommit_rows = 100\nchunk_row = 10\n' >key.toml
check key "uringmig: key.toml:3: unknown key 'chunk_row' in [sqlite] (did you mean 'chunk_rows'?)"
printf '[sqlit]\ncommit_rows = 100\n' >section.toml
check section "uringmig: section.toml:1: unknown section [sqlit] (did you mean [sqlite]?)"
printf 'job = 2\n' >top.toml
check top "uringmig: top.toml:1: unknown key 'job' (did you mean 'jobs'?)"
printf '[tables."main.t"]\nchunk_colum = "id"\n' >table.toml
check table "unknown key 'chunk_colum' in [tables.\"SCHEMA.TABLE\"] (did you mean 'chunk_column'?)"
printf '[sqlite]\ncommit_rows = "many"\n' >type.toml
check type "uringmig: sqlite.commit_rows = 'many': expected an integer from 1 to 1073741824 (type.toml:2)"

# The same keys spelled right: the copy runs.
printf '[sqlite]\ncommit_rows = 100\nchunk_rows = 10\n[tables."main.t"]\nchunk_column = "id"\n' >good.toml
rc=0
"$bin" run --config good.toml --source "sqlite://$work/src.db" --target "sqlite://$work/good.db" \
  --state-dir "$work/state_good" >good.out 2>good.err || rc=$?
[ "$rc" -eq 0 ] || fail "good config: exit $rc: $(tail -3 good.err)"
[ "$(sqlite3 good.db 'select count(*) from t')" = 2 ] || fail "good config: rows not copied"
finish config_typo
