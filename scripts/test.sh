#!/usr/bin/env bash
# The project's one test command (CI runs it through .ci/run): installs the
# Debian packages, builds the asan preset, runs every ctest test (unit,
# integration against a throwaway PostgreSQL, e2e). Extra arguments go to ctest,
# e.g. `scripts/test.sh -L integration` or `scripts/test.sh -R pg_fixture`.
# Works as root (PostgreSQL is then run as the `postgres` user) and as a normal user.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup-deps.sh
cmake --preset asan
cmake --build --preset asan -j"$(nproc)"
ctest --preset asan -j2 "$@"
