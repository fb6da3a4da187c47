#!/usr/bin/env bash
# uses-fixture: pg
# A schema restore that fails says why in its one line: pg_restore's ERROR
# line, not the tail of the statement it echoes after it.
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
src=rerr_src_$$; dst=rerr_dst_$$
new_db "$src"; new_db "$dst"
psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
create type mood as enum ('sad', 'ok', 'happy');
create table t (id int primary key, m mood);
insert into t values (1, 'ok');
SQL
# No table on the target, but a type in the way.
psql -qX -v ON_ERROR_STOP=1 -d "$dst" -c "create type mood as enum ('x')"
rc=0
"$bin" run --preset bulk --source "$(url "$src")" --target "$(url "$dst")" --state-dir "$work/state" \
  >"$work/out" 2>"$work/err" || rc=$?
grep '^uringmig: ' "$work/err"
[ "$rc" -eq 1 ] || fail "a failed schema restore exited $rc, want 1"
grep -q '^uringmig: restoring the schema (pre-data) on the target failed: ERROR: type "mood" already exists' "$work/err" ||
  fail "the one-line error does not show pg_restore's ERROR line"
finish bulk_restore_error
