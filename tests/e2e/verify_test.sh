#!/usr/bin/env bash
# uses-fixture: pg
# `uringmig verify` end to end on the shared cluster: identical databases exit
# 0; a changed row, a missing table and a duplicated keyless row exit 1 with
# one `uringmig:` line naming the tables; --tables limits the check; a bad
# connection is one line without the password.
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
src=e2e_vsrc_$$; dst=e2e_vdst_$$
new_db "$src"; new_db "$dst"
data=$(cat <<'SQL'
create table items(id bigint primary key, name text, price numeric, tags text[], doc jsonb);
insert into items select g, E'item\t' || g, g / 7.0, array['a', g::text],
       jsonb_build_object('g', g) from generate_series(1, 50000) g;
create table bag(v text, b bytea);
insert into bag values ('x', '\x00ff'), ('y', null), (null, '\x');
SQL
)
psql -qX -v ON_ERROR_STOP=1 -d "$src" -c "$data"
psql -qX -v ON_ERROR_STOP=1 -d "$dst" -c "$data"

src_url=$(url "$src")
dst_url=$(tcp_url "$dst")

check() {  # expected_rc name args...: runs verify, checks the exit code and the one-line error
  local want=$1 name=$2; shift 2
  local got=0
  timeout 120 "$bin" verify --state-dir "$work/state" "$@" >"$work/$name.out" 2>"$work/$name.err" ||
    got=$?
  echo "--- $name (exit $got):"; cat "$work/$name.out" "$work/$name.err"
  [ "$got" -eq "$want" ] || fail "$name: exit $got, want $want"
  if [ "$want" -ne 0 ]; then
    [ "$(grep -c '^uringmig: ' "$work/$name.err")" -eq 1 ] ||
      fail "$name: want exactly one 'uringmig:' line"
  fi
  if grep -q -e "$PGFIX_PASSWORD" -e hunter2 "$work/$name.out" "$work/$name.err"; then
    fail "$name: password printed"
  fi
}

check 0 same --source "$src_url" --target "$dst_url" --jobs 2
grep -q "items.* ok" "$work/same.out" || fail "same: no ok line for public.items"

psql -qX -v ON_ERROR_STOP=1 -d "$dst" -c "update items set price = price + 1 where id = 4242"
check 1 changed --source "$src_url" --target "$dst_url"
grep -q "^uringmig: 1 table(s) differ: public.items$" "$work/changed.err" ||
  fail "changed: the error does not name public.items alone"
check 0 limited --source "$src_url" --target "$dst_url" --tables 'public.bag'

# Keyless: one row lost and another duplicated keep the count; the checksum sees it.
psql -qX -v ON_ERROR_STOP=1 -d "$dst" -c "delete from bag where v = 'y'" \
  -c "insert into bag values ('x', '\\x00ff')"
check 1 duplicate --source "$src_url" --target "$dst_url" --tables 'public.bag'
grep -q "DIFFERS: checksum" "$work/duplicate.out" || fail "duplicate: no checksum difference"

psql -qX -v ON_ERROR_STOP=1 -d "$dst" -c "drop table bag"
check 1 missing --source "$src_url" --target "$dst_url" --exclude 'public.items'
grep -q "MISSING on target" "$work/missing.out" || fail "missing: no MISSING line"

check 1 unreachable --source "$src_url" --target "postgresql://u:hunter2@127.0.0.1:1/db"
grep -q "cannot connect to the target" "$work/unreachable.err" || fail "unreachable: unclear error"
check 2 no_match --source "$src_url" --target "$dst_url" --tables 'nope.*'

finish verify
