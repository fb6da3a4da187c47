#!/usr/bin/env bash
# uses-fixture: pg
# `uringmig run --preset bulk` copies large objects with their OIDs, contents, owners, ACLs and
# comments: 10 000 small ones in batches (quickly), big ones in slices, an empty one and one of
# exactly one slice. --skip-large-objects leaves them out and says so, and `verify` sees the difference;
# the next run copies them; objects lost on the target after their done marks went too (or a
# leftover without a mark) are copied again by a rerun, the others are not touched; kill -9 in
# the middle of the copy, and the rerun copies only the batch that had not committed.
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
src=bulk_lo_src_$$; dst=bulk_lo_dst_$$
new_db "$src"; new_db "$dst"
owner=lo_owner_$$; reader=lo_reader_$$
psql -qX -v ON_ERROR_STOP=1 -c "create role $owner" -c "create role $reader"

psql -qX -v ON_ERROR_STOP=1 -d "$src" <<SQL
create table docs (id int primary key, body oid);
insert into docs select g, lo_from_bytea(0, convert_to(repeat(md5(g::text), 1 + g % 120), 'UTF8'))
from generate_series(1, 10000) g;
-- bigger than one slice (256 KiB) and than one piece (1 MiB); exactly one slice; empty
insert into docs select 10000 + g, lo_from_bytea(0, decode(repeat(md5(g::text), 200000 + g), 'hex'))
from generate_series(1, 3) g;
insert into docs values (20001, lo_from_bytea(0, decode(repeat('ab', 262144), 'hex')));
insert into docs values (20002, lo_create(0));
SQL
# Owners and ACLs (ALTER LARGE OBJECT and GRANT take a literal OID).
o1=$(psql -qXAt -d "$src" -c "select body from docs where id = 1")
o2=$(psql -qXAt -d "$src" -c "select body from docs where id = 2")
psql -qX -v ON_ERROR_STOP=1 -d "$src" <<SQL
alter large object $o1 owner to $owner;
grant select on large object $o1 to $reader;
alter large object $o2 owner to $owner;
grant select, update on large object $o2 to $reader with grant option;
revoke all on large object $o2 from $owner;
comment on large object $o1 is 'the first one''s comment';
SQL
lo_list() {
  psql -qXAt -d "$1" -c "select m.oid, pg_get_userbyid(m.lomowner), coalesce(m.lomacl::text, '-'),
    coalesce(obj_description(m.oid, 'pg_largeobject'), '-'),
    md5(lo_get(m.oid)), length(lo_get(m.oid)) from pg_largeobject_metadata m order by m.oid"
}
lo_list "$src" >"$work/src.lo"
[ "$(wc -l <"$work/src.lo")" -eq 10005 ] || fail "the source has $(wc -l <"$work/src.lo") large objects"

run() {
  local rc=0
  "$bin" run --preset bulk --source "$(url "$src")" --target "$(tcp_url "$dst")" \
    --state-dir "$work/state" --jobs 2 "$@" >"$work/out" 2>"$work/err" || rc=$?
  cat "$work/out" "$work/err"
  return "$rc"
}

# plan says what a run would do with them.
"$bin" plan --source "$(url "$src")" --target "$(tcp_url "$dst")" --state-dir "$work/plan" \
  >"$work/plan.out" 2>&1 || fail "plan failed: $(tail -3 "$work/plan.out")"
grep -q "large objects: 10005, copied after the tables" "$work/plan.out" || fail "plan does not mention the large objects"

# Skipped: said in the summary, and verify sees what is missing.
run --skip-large-objects || fail "run --skip-large-objects failed"
grep -q "large objects: 10005 on the source, not copied" "$work/out" || fail "the summary does not say the large objects were skipped"
[ "$(psql -qXAt -d "$dst" -c "select count(*) from pg_largeobject_metadata")" = 0 ] || fail "large objects copied despite --skip-large-objects"
expect_exit 1 "$bin" verify --source "$(url "$src")" --target "$(tcp_url "$dst")"
grep -Eq '^\(large objects\) +10005 .*DIFFERS: rows 10005 vs 0' "$work/stdout" || fail "verify does not see the missing large objects: $(tail -3 "$work/stdout")"

# The next run copies them.
run || fail "run failed"
lo_list "$dst" >"$work/dst.lo"
diff "$work/src.lo" "$work/dst.lo" >/dev/null || fail "large objects differ: $(diff "$work/src.lo" "$work/dst.lo" | head -5)"
grep -q "large objects: 10005 on the source, 10005 copied by this run" "$work/out" || fail "the summary does not count the large objects"
secs=$(grep -o 'large objects: 10005 copied ([0-9.]* MB) in [0-9.]*s' "$work/state/uringmig.log" | sed 's/.* in \([0-9.]*\)s/\1/' | tail -1)
echo "10005 large objects copied in ${secs}s"
[ -n "$secs" ] && awk -v s="$secs" 'BEGIN { exit !(s < 20) }' || fail "copying the large objects took ${secs}s"
[ "$(psql -qXAt -d "$src" -c "select md5(string_agg(id || ':' || body, ',' order by id)) from docs")" = \
  "$(psql -qXAt -d "$dst" -c "select md5(string_agg(id || ':' || body, ',' order by id)) from docs")" ] ||
  fail "docs differs"
expect_exit 0 "$bin" verify --source "$(url "$src")" --target "$(tcp_url "$dst")"
grep -Eq '^\(large objects\) +10005 .* ok' "$work/stdout" || fail "verify does not compare the large objects"

# Lost on the target with their marks, or a leftover without a mark: a rerun copies those only.
psql -qX -v ON_ERROR_STOP=1 -d "$dst" <<SQL
select lo_unlink(oid) from pg_largeobject_metadata where oid in ($o1, $o2);
delete from uringmig.large_object_done where loid in ($o1, $o2);
select lo_from_bytea($o2, 'junk');
SQL
before=$(psql -qXAt -d "$dst" -c "select max(done_at) from uringmig.large_object_done")
run || fail "the rerun failed"
grep -q "large objects: 10005 on the source, 2 copied by this run" "$work/out" || fail "the rerun did not copy just the 2 missing objects"
lo_list "$dst" >"$work/dst.lo"
diff "$work/src.lo" "$work/dst.lo" >/dev/null || fail "large objects differ after the rerun: $(diff "$work/src.lo" "$work/dst.lo" | head -5)"
[ "$(psql -qXAt -d "$dst" -c "select count(*) from uringmig.large_object_done where done_at > '$before'")" = 2 ] ||
  fail "the rerun touched other large objects"

# A new job into a target that has a large object with one of the source's OIDs: refused before
# anything is touched, the object stays.
dst4=bulk_lo_clash_$$; new_db "$dst4"
psql -qX -d "$dst4" -c "select lo_from_bytea($o1, 'theirs')" >/dev/null
expect_exit 2 "$bin" run --preset bulk --source "$(url "$src")" --target "$(tcp_url "$dst4")" \
  --state-dir "$work/state4"
grep -q "the target already has 1 large object(s) with the OIDs of the source's (the first: $o1)" "$work/err" ||
  fail "no clear refusal for a clashing large object: $(tail -2 "$work/err")"
[ "$(psql -qXAt -d "$dst4" -c "select convert_from(lo_get($o1), 'UTF8')")" = theirs ] ||
  fail "the target's own large object was touched"
[ "$(psql -qXAt -d "$dst4" -c "select count(*) from pg_class where relname = 'docs'")" = 0 ] ||
  fail "the refused run restored the schema"

# kill -9 while the last batch waits (its done mark is held by another session): the batches
# that committed stay, the rerun copies the last one (10005 = 156 x 64 + 21 objects).
dst3=bulk_lo_kill_$$; new_db "$dst3"
psql -qX -v ON_ERROR_STOP=1 -d "$dst3" -c "create schema uringmig" \
  -c "create table uringmig.large_object_done (loid oid primary key, done_at timestamptz default now())"
last=$(psql -qXAt -d "$src" -c "select max(oid) from pg_largeobject_metadata")
PGAPPNAME=lo_blocker psql -qX -d "$dst3" \
  -c "begin; insert into uringmig.large_object_done values ($last); select pg_sleep(120)" \
  >/dev/null 2>&1 &
blocker=$!
"$bin" run --preset bulk --source "$(url "$src")" --target "$(tcp_url "$dst3")" \
  --state-dir "$work/state3" --jobs 2 >"$work/out3" 2>&1 &
pid=$!
marks3() { psql -qXAt -d "$dst3" -c "select count(*) from uringmig.large_object_done"; }
for i in $(seq 600); do  # until every batch but the blocked one committed (bounded: 60 s)
  [ "$(marks3)" -ge 9984 ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
[ "$(marks3)" -eq 9984 ] || fail "expected 9984 marks before the kill, got $(marks3): $(tail -3 "$work/out3")"
kill -9 "$pid"; wait "$pid" 2>/dev/null || true
psql -qXAt -d "$dst3" -c "select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'lo_blocker'" >/dev/null
wait "$blocker" 2>/dev/null || true
rc=0
"$bin" run --preset bulk --source "$(url "$src")" --target "$(tcp_url "$dst3")" \
  --state-dir "$work/state3" --jobs 2 >"$work/out3" 2>&1 || rc=$?
cat "$work/out3"
[ "$rc" -eq 0 ] || fail "the run after kill -9 exited $rc"
grep -q "large objects: 10005 on the source, 21 copied by this run" "$work/out3" ||
  fail "the run after kill -9 did not copy just the last batch"
lo_list "$dst3" >"$work/dst3.lo"
diff "$work/src.lo" "$work/dst3.lo" >/dev/null || fail "large objects differ after kill -9 and rerun"
finish bulk_large_objects
