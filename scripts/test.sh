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

scripts/setup-deps.sh
cmake --preset asan
cmake --build --preset asan -j"$(nproc)"
rc=0
ctest --preset asan -j2 "$@" || rc=$?
if [ $# -eq 0 ]; then
  cmake --preset clang-fuzz
  cmake --build --preset clang-fuzz -j"$(nproc)"
  ctest --preset clang-fuzz || rc=$?
fi
exit $rc
