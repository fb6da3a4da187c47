#!/usr/bin/env bash
# uses-fixture: pg
# Tables without columns hold rows: the bulk clone copies their row count
# (whole and in ctid chunks) and verify counts them.
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
src=zcol_src_$$; dst=zcol_dst_$$
new_db "$src"; new_db "$dst"
psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
create table z ();
insert into z default values;
insert into z default values;
insert into z default values;
create table z_empty ();
create table z_big ();
insert into z_big select from generate_series(1, 300000);
create table t (id int primary key);
insert into t select generate_series(1, 100);
analyze;
SQL
printf '[copy]\nchunk_size = "1MB"\n' >"$work/job.toml"
rc=0
"$bin" run --preset bulk --config "$work/job.toml" --source "$(url "$src")" --target "$(url "$dst")" \
  --state-dir "$work/state" >"$work/out" 2>"$work/err" || rc=$?
cat "$work/out"; tail -2 "$work/err"
[ "$rc" -eq 0 ] || fail "a clone with zero-column tables exited $rc"
for t in z:3 z_empty:0 z_big:300000 t:100; do
  n=$(psql -qXAt -d "$dst" -c "select count(*) from ${t%%:*}")
  [ "$n" = "${t#*:}" ] || fail "${t%%:*}: $n rows on the target, want ${t#*:}"
done
chunks=$(sqlite3 "$work/state/state.db" "select count(*) from chunk where name = 'z_big'")
[ "$chunks" -gt 1 ] || fail "z_big was not split (chunks: $chunks): the chunked path is not tested"
rc=0; "$bin" verify --source "$(url "$src")" --target "$(url "$dst")" >"$work/verify.out" 2>&1 || rc=$?
cat "$work/verify.out"
[ "$rc" -eq 0 ] || fail "verify after the clone exited $rc"
psql -qX -d "$dst" -c "delete from z where ctid = (select min(ctid) from z)"
rc=0; "$bin" verify --source "$(url "$src")" --target "$(url "$dst")" >"$work/verify2.out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "verify does not see a row missing from a zero-column table"
finish bulk_zero_columns
