#!/usr/bin/env bash
# The project's one test command (CI runs it through .ci/run): installs the
# Debian packages, builds the asan preset, runs every ctest test (unit,
# integration against a throwaway PostgreSQL, e2e, lint), then builds the
# clang-fuzz preset and replays the fuzz corpora. Extra arguments go to the asan
# ctest and skip the fuzz replay, e.g. `scripts/test.sh -L integration` or
# `scripts/test.sh -R pg_fixture`.
# Works as root (PostgreSQL is then run as the `postgres` user) and as a normal user.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Each step's wall time goes to stderr at the end (the suite's budget is 25 minutes).
t0=$SECONDS
times=()
step() { times+=("$1 $((SECONDS - t0)) s"); t0=$SECONDS; }
trap 'printf "test.sh timing: %s\n" "${times[@]}" >&2' EXIT
scripts/setup-deps.sh
step setup
cmake --preset asan
cmake --build --preset asan -j"$(nproc)"
step build
rc=0
ctest --preset asan -j2 "$@" || rc=$?
step ctest
if [ $# -eq 0 ]; then
  cmake --preset clang-fuzz
  cmake --build --preset clang-fuzz -j"$(nproc)"
  ctest --preset clang-fuzz || rc=$?
  step fuzz
fi
exit $rc
