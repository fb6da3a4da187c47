#!/usr/bin/env bash
# With io_uring blocked by seccomp (what Docker's default profile does) every
# command must fail at once with exit 1 and one clear line naming io_uring and
# seccomp — never hang, never print a secret from the command line.
#
# Environment (set by tests/CMakeLists.txt): URINGMIG_BIN, NO_URING_EXEC.
set -euo pipefail
: "${URINGMIG_BIN:?URINGMIG_BIN must name the uringmig binary}"
: "${NO_URING_EXEC:?NO_URING_EXEC must name the no_uring_exec runner}"

abs() { case $1 in */*) realpath -- "$1" ;; *) printf '%s\n' "$1" ;; esac; }
URINGMIG_BIN=$(abs "$URINGMIG_BIN")
NO_URING_EXEC=$(abs "$NO_URING_EXEC")

work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT
cd "$work"

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
show() {  # name: print what the command wrote, for the log
  echo "--- $1 stdout:"; cat "$work/$1.out"
  echo "--- $1 stderr:"; cat "$work/$1.err"
}
# Runs uringmig under the seccomp filter; sets rc. Output in $work/NAME.{out,err}.
run_blocked() {
  local name=$1
  shift
  rc=0
  timeout 60 "$NO_URING_EXEC" "$URINGMIG_BIN" "$@" >"$work/$name.out" 2>"$work/$name.err" || rc=$?
  show "$name"
  if [ "$rc" -eq 124 ]; then fail "$name: still running after 60 s (hangs without io_uring)"; fi
}
lines() { awk 'END { print NR }' "$1"; }  # counts an unterminated last line too

# Precondition: the runner really blocks io_uring.
probe=$("$NO_URING_EXEC" "$NO_URING_EXEC" --probe || true)
if [ "$probe" != "io_uring_setup: Operation not permitted" ]; then
  echo "FAIL: no_uring_exec does not block io_uring: $probe" >&2
  exit 1
fi

secret=hunter2

# doctor: reports the problem and how to fix it, exit 1.
run_blocked doctor doctor
[ "$rc" -eq 1 ] || fail "doctor: exit code $rc, want 1"
grep -q 'io_uring' "$work/doctor.out" "$work/doctor.err" || fail "doctor: does not mention io_uring"
grep -q 'seccomp' "$work/doctor.out" "$work/doctor.err" || fail "doctor: does not mention seccomp"

# run: one line on stderr, exit 1, no password in the output.
run_blocked run run --source "postgresql://u:${secret}@127.0.0.1:1/db" \
  --target "postgresql://u:${secret}@127.0.0.1:1/db2"
[ "$rc" -eq 1 ] || fail "run: exit code $rc, want 1"
n=$(lines "$work/run.err")
[ "$n" -eq 1 ] || fail "run: $n lines on stderr, want exactly 1"
grep -q 'io_uring' "$work/run.err" || fail "run: stderr does not mention io_uring"
grep -q 'seccomp' "$work/run.err" || fail "run: stderr does not mention seccomp"

# Podman's, Buildah's and CRI-O's default profiles answer ENOSYS, not EPERM: still a seccomp
# block (the process runs under a filter), not a kernel without io_uring.
rc=0
timeout 60 "$NO_URING_EXEC" --errno=ENOSYS "$URINGMIG_BIN" doctor >"$work/doctor_enosys.out" \
  2>"$work/doctor_enosys.err" || rc=$?
show doctor_enosys
[ "$rc" -eq 1 ] || fail "doctor (ENOSYS): exit code $rc, want 1"
grep -q 'seccomp' "$work/doctor_enosys.out" "$work/doctor_enosys.err" ||
  fail "doctor (ENOSYS): does not name seccomp as the cause"
grep -q 'deploy/seccomp-io_uring.json' "$work/doctor_enosys.out" "$work/doctor_enosys.err" ||
  fail "doctor (ENOSYS): does not name the profile to use"
grep -q 'lacks io_uring' "$work/doctor_enosys.out" "$work/doctor_enosys.err" &&
  fail "doctor (ENOSYS): blames the kernel although a seccomp filter is active"

# A kernel that cannot give Asio's 16 384-entry ring (fragmented memory, a low memlock limit)
# answers ENOMEM: the runtime takes a smaller ring and the job runs.
python3 - "$work/small.db" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
c.executemany("INSERT INTO t VALUES (?, ?)", [(i, "v%d" % i) for i in range(1000)])
c.commit()
PY
rc=0
timeout 60 "$NO_URING_EXEC" --enomem-above=4096 "$URINGMIG_BIN" run --source "sqlite://$work/small.db" \
  --target "sqlite://$work/copy.db" >"$work/small_ring.out" 2>"$work/small_ring.err" || rc=$?
show small_ring
[ "$rc" -eq 0 ] || fail "a run whose large rings get ENOMEM: exit code $rc, want 0"
n=$(python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM t").fetchone()[0])' "$work/copy.db" 2>&1 || true)
[ "$n" = 1000 ] || fail "a run whose large rings get ENOMEM: copy has '$n' rows, want 1000"

for f in "$work"/*.out "$work"/*.err; do
  if grep -q "$secret" "$f"; then fail "$(basename "$f"): the password appears in the output"; fi
done

if [ "$failures" -ne 0 ]; then
  echo "no_uring_test: $failures check(s) failed" >&2
  exit 1
fi
echo "no_uring_test: all checks passed"
