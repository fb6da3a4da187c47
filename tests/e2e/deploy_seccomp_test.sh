#!/usr/bin/env bash
# uses-fixture: pg
# deploy/seccomp-io_uring.json, the profile the container image and the Kubernetes Job run
# under, applied the way container runtimes apply it (libseccomp, inherited by every child):
# - under it io_uring works (`doctor` says ok) and a bulk clone, with the pg_dump and
#   pg_restore it starts, arrives identical;
# - it is a real filter: a call it leaves out (unshare, as a container escape would need)
#   fails with EPERM;
# - the same profile without the three io_uring calls (what Docker's default does) makes
#   `doctor` fail naming the file to use.
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
: "${SECCOMP_PROFILE_EXEC:?}"
runner=$(realpath -- "$SECCOMP_PROFILE_EXEC")
profile=$(realpath -- "$(dirname "${BASH_SOURCE[0]}")/../../deploy/seccomp-io_uring.json")
# The sanitizer build's leak check stops the process's threads with ptrace, which the profile
# (rightly) refuses; the release binary the image holds has no leak checker.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0

# doctor under the profile: io_uring ok, exit 0.
"$runner" "$profile" "$bin" doctor >"$work/doctor" 2>&1 || fail "doctor under the profile: $(cat "$work/doctor")"
grep -Eq '^ *io_uring *:? *ok' "$work/doctor" || fail "doctor under the profile: io_uring not ok: $(grep io_uring "$work/doctor")"

# The filter is active: unshare (not in the profile) is refused; without it, it is not.
if "$runner" "$profile" unshare --user true 2>"$work/unshare.err"; then
  fail "unshare ran under the profile: the filter is not applied"
fi
grep -q "Operation not permitted" "$work/unshare.err" || fail "unshare under the profile: $(cat "$work/unshare.err")"

# A bulk clone under the profile: pg_dump and pg_restore run under it too.
src=seccomp_src_$$; dst=seccomp_dst_$$
new_db "$src"; new_db "$dst"
psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
create table items (id bigint primary key, note text, at timestamptz);
insert into items select g, 'n' || g, '2024-01-01'::timestamptz + g * interval '1 s'
from generate_series(1, 50000) g;
create index on items (at);
create table nokey (a int, b text);
insert into nokey select g % 7, repeat('x', g % 50) from generate_series(1, 5000) g;
create sequence s start 42;
SQL
"$runner" "$profile" "$bin" run --preset bulk --source "$(url "$src")" --target "$(url "$dst")" \
  --state-dir "$work/state" >"$work/run.out" 2>"$work/run.err" ||
  fail "bulk clone under the profile failed: $(tail -3 "$work/run.err")"
table_sums "$src" >"$work/src.sums"
table_sums "$dst" >"$work/dst.sums"
diff "$work/src.sums" "$work/dst.sums" >/dev/null || fail "tables differ after the clone under the profile"
[ "$(psql -qXAt -d "$dst" -c "select count(*) from pg_indexes where tablename = 'items'")" = 2 ] ||
  fail "indexes missing after the clone under the profile"

# Without the io_uring calls: doctor fails and names the profile file.
sed 's/"io_uring_enter", "io_uring_register", "io_uring_setup"/"sync"/' "$profile" >"$work/no_uring.json"
grep -q io_uring "$work/no_uring.json" && fail "the test could not strip io_uring from the profile"
rc=0
"$runner" "$work/no_uring.json" "$bin" doctor >"$work/doctor2" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "doctor without io_uring: exit $rc, want 1"
grep -q 'deploy/seccomp-io_uring.json' "$work/doctor2" || fail "doctor without io_uring does not name deploy/seccomp-io_uring.json: $(grep -i seccomp "$work/doctor2")"

finish deploy_seccomp
