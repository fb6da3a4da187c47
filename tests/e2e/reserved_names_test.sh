#!/usr/bin/env bash
# uses-fixture: pg
# Names that collide with uringmig's bookkeeping: a user schema called `uringmig` on a
# PostgreSQL source is refused before anything is written (its tables would be left behind,
# since the target's `uringmig` schema is ours); a source that was itself a clone's target
# (only our `uringmig.chunk_done`) clones cleanly, without its bookkeeping; a SQLite table
# whose name merely starts with `_uringmig_` is copied like any other and verified.
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
a=e2e_rn_a_$$; b=e2e_rn_b_$$; c=e2e_rn_c_$$
new_db "$a"; new_db "$b"; new_db "$c"
psql -qX -v ON_ERROR_STOP=1 -d "$a" <<'SQL'
create table t (id int primary key, v text);
insert into t select g, 'v' || g from generate_series(1, 100) g;
create schema uringmig;
create table uringmig.notes (id int, note text);
insert into uringmig.notes values (1, 'user data in a schema named like ours');
SQL
expect_exit 2 "$bin" run --preset bulk --source "$(url "$a")" --target "$(url "$b")" --state-dir st1
grep -q 'uringmig.notes' "$work/err" || fail "the colliding table is not named: $(cat "$work/err")"
[ "$(psql -qXAt -d "$b" -c "select count(*) from pg_class c join pg_namespace n
      on n.oid = c.relnamespace where n.nspname in ('public', 'uringmig')")" = 0 ] ||
  fail "the refused run wrote to the target"

# Without the user's schema, A -> B -> C: B carries our bookkeeping, C must not inherit it.
psql -qX -v ON_ERROR_STOP=1 -d "$a" -c "drop schema uringmig cascade"
expect_exit 0 "$bin" run --preset bulk --source "$(url "$a")" --target "$(url "$b")" --state-dir st2
expect_exit 0 "$bin" run --preset bulk --source "$(url "$b")" --target "$(url "$c")" --state-dir st3
[ "$(psql -qXAt -d "$c" -c 'select count(*) from t')" = 100 ] || fail "B -> C lost rows"
expect_exit 0 "$bin" verify --source "$(url "$b")" --target "$(url "$c")"

# SQLite: only our two bookkeeping tables are skipped.
sqlite3 src.db <<'SQL'
create table _uringmig_notes (id integer primary key, note text);
insert into _uringmig_notes values (1, 'a'), (2, 'b');
create table plain (id integer primary key);
insert into plain values (1);
SQL
expect_exit 0 "$bin" run --source "sqlite:///$work/src.db" --target "sqlite:///$work/copy.db" --state-dir st4
[ "$(sqlite3 copy.db 'select count(*) from _uringmig_notes')" = 2 ] ||
  fail "a user table named _uringmig_notes was not copied"
expect_exit 0 "$bin" verify --source "sqlite:///$work/src.db" --target "sqlite:///$work/copy.db"
grep -q '_uringmig_notes' "$work/stdout" || fail "verify does not list _uringmig_notes: $(cat "$work/stdout")"

finish reserved_names
