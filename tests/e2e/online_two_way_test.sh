#!/usr/bin/env bash
# Two-way replication: two online jobs facing each other, A -> B (copies A into B, then follows)
# and B -> A (`[online] copy = false`: B's data is A's already), each with its own state dir.
# Writes on both sides on disjoint keys, in single transactions and in streamed large ones: no
# change comes back to where it was made (each follower applies exactly the transactions written
# on its source: the changes it applied itself carry its replication origin and are skipped by
# the other), both sides converge; `switchover` of A -> B leaves B -> A running. Conflicting
# writes to one key (documented in README.md): an UPDATE on both sides swaps the values.
# uses-fixture: pg
# shellcheck disable=SC1091
. "$(dirname "$0")/lib/pg.sh"
# shellcheck disable=SC1091
. "$(dirname "$0")/lib/hold.sh"

a=two_way_a_$$
b=two_way_b_$$
new_db "$a"
new_db "$b"
phase() { sqlite3 "$1/state.db" "select value from kv where key = 'online.phase'" 2>/dev/null || true; }
sums() { table_sums "$1" | grep -v '^uringmig\.'; }
converged() {
  for _ in $(seq 1 600); do
    [ "$(sums "$a")" = "$(sums "$b")" ] && return 0
    sleep 0.1
  done
  return 1
}
applied() {  # LOG: the transactions the follower's summary says it applied
  sed -n 's/.*follow: applied up to [0-9A-F/]*: \([0-9]*\) transactions.*/\1/p' "$1" | tail -1
}
psql -qX -v ON_ERROR_STOP=1 -d "$a" <<'SQL'
create table t(id int primary key, side text, v int, big text);
insert into t select g, 'seed', 0 from generate_series(1, 100) g;
SQL
printf '[online]\napply_workers = 2\n' >ab.toml
printf '[online]\ncopy = false\napply_workers = 2\n' >ba.toml
"$bin" run --preset online --config ab.toml --source "$(url "$a")" --target "$(url "$b")" \
  --state-dir st_ab >ab.out 2>ab.err &
ab=$!
wait_true "$b" "select count(*) = 100 from t" || fail "A -> B: no copy: $(tail -3 ab.err)"
"$bin" run --preset online --config ba.toml --source "$(url "$b")" --target "$(url "$a")" \
  --state-dir st_ba >ba.out 2>ba.err &
ba=$!
for _ in $(seq 1 600); do
  [ "$(phase st_ba)" = follow ] && break
  kill -0 "$ba" 2>/dev/null || break
  sleep 0.1
done
[ "$(phase st_ba)" = follow ] || fail "B -> A never followed: $(tail -3 ba.err)"

# Writes on both sides, disjoint keys: A owns the seed rows 2-50 and ids 1000+, B 51-100 and 2000+.
txns_a=0
txns_b=0
write() {  # DB SIDE BASE ROUND LOW HIGH: four transactions
  psql -qX -v ON_ERROR_STOP=1 -d "$1" \
    -c "insert into t select $3 + $4 * 10 + g, '$2', g from generate_series(0, 9) g" \
    -c "update t set v = v + 1, side = '$2' where id between $5 and $6" \
    -c "delete from t where id = $3 + $4 * 10 + 3" \
    -c "update t set big = repeat('$2', 20000 + $4) where id = $3 + $4 * 10" >/dev/null
}
for r in 1 2 3 4 5; do
  write "$a" a 1000 "$r" 2 50
  txns_a=$((txns_a + 4))
  write "$b" b 2000 "$r" 51 100
  txns_b=$((txns_b + 4))
done
# A large transaction on each side (more changes than an apply worker holds back: fed as it comes).
psql -qX -v ON_ERROR_STOP=1 -d "$a" -c "insert into t select g, 'a-large', g from generate_series(10000, 14999) g" >/dev/null
txns_a=$((txns_a + 1))
psql -qX -v ON_ERROR_STOP=1 -d "$b" \
  -c "insert into t select g, 'b-large', g from generate_series(20000, 24999) g" >/dev/null
txns_b=$((txns_b + 1))
converged || fail "A and B did not converge: $(sums "$a") / $(sums "$b")"
for p in "$ab" "$ba"; do
  kill -0 "$p" 2>/dev/null || fail "a follower stopped: $(tail -3 ab.err) $(tail -3 ba.err)"
done
[ "$(psql -qXAt -d "$a" -c "select count(*) from t")" = $((100 + 2 * 5 * 9 + 2 * 5000)) ] ||
  fail "unexpected row count on A: $(psql -qXAt -d "$a" -c "select count(*) from t")"

# Conflicting updates of one key on both sides, both committed before either arrives (each holds
# the row until it commits): each side then applies the other's change, and they swap.
hold ua "$a" "begin; update t set side = 'from a' where id = 1;"
hold ub "$b" "begin; update t set side = 'from b' where id = 1;"
for db in "$a" "$b"; do
  wait_true "$db" "select exists (select 1 from $sessions s where state = 'idle in transaction'
                   and query like 'update t set side = ''from %')" || fail "conflict: no open update"
done
send ua "commit;"
send ub "commit;"
release ua
release ub
txns_a=$((txns_a + 1))
txns_b=$((txns_b + 1))
wait_true "$a" "select side = 'from b' from t where id = 1" ||
  fail "conflict: A has $(psql -qXAt -d "$a" -c "select side from t where id = 1")"
wait_true "$b" "select side = 'from a' from t where id = 1" ||
  fail "conflict: B has $(psql -qXAt -d "$b" -c "select side from t where id = 1")"

# Switchover of A -> B: B -> A goes on. A's last change reaches B just before A -> B drops its
# origins there: B -> A must still see it as A -> B's (else it comes back: a duplicate key on A).
psql -qX -v ON_ERROR_STOP=1 -d "$a" -c "insert into t values (3001, 'a last', 0)" >/dev/null
txns_a=$((txns_a + 1))
expect_exit 0 "$bin" switchover --source "$(url "$a")" --target "$(url "$b")" --state-dir st_ab \
  --timeout 60s
rc=0
wait "$ab" || rc=$?
[ "$rc" -eq 0 ] || fail "A -> B exited $rc: $(tail -3 ab.err)"
[ "$(applied ab.err)" = "$txns_a" ] ||
  fail "A -> B applied $(applied ab.err) transactions, $txns_a were written on A (a loop?)"
kill -0 "$ba" 2>/dev/null || fail "B -> A stopped with the switchover of A -> B: $(tail -3 ba.err)"
psql -qX -v ON_ERROR_STOP=1 -d "$b" -c "insert into t values (3000, 'b after', 0)" >/dev/null
txns_b=$((txns_b + 1))
wait_true "$a" "select exists (select 1 from t where id = 3000)" ||
  fail "B -> A no longer follows after the switchover of A -> B: $(tail -3 ba.err)"
[ "$(psql -qXAt -d "$b" -c "select count(*) from t where id = 3001")" = 1 ] ||
  fail "A's last change before the switchover is not on B"
expect_exit 0 "$bin" switchover --source "$(url "$b")" --target "$(url "$a")" --state-dir st_ba \
  --timeout 60s
rc=0
wait "$ba" || rc=$?
[ "$rc" -eq 0 ] || fail "B -> A exited $rc: $(tail -3 ba.err)"
[ "$(applied ba.err)" = "$txns_b" ] ||
  fail "B -> A applied $(applied ba.err) transactions, $txns_b were written on B (a loop?)"
for db in "$a" "$b"; do
  [ "$(psql -qXAt -d "$db" -c "select count(*) from pg_replication_slots
         where slot_name like 'uringmig%' and database = current_database()")" = 0 ] ||
    fail "a slot is left on $db"
done
finish online_two_way
