#!/usr/bin/env bash
# The README's "run" command. Needs no server: installs what is missing, builds the release
# binary, checks the machine (`uringmig doctor`), generates a sample clients database (SQLite,
# 1M rows: INN, MOBILE_NUMBER, SNILS, name, balance; some NULL and blank phones), shards it by
# MOBILE_NUMBER into 10 SQLite files (+1 reserved for NULL/blank keys) with `uringmig run`,
# shows `uringmig status`, and checks with `uringmig verify` that every row landed exactly once
# in the shard its key routes to. DEMO_ROWS changes the row count. Leaves its files in
# DEMO_DIR (default: a temporary directory, removed at the end).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

rows=${DEMO_ROWS:-1000000}
scripts/setup-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target uringmig -j"$(nproc)"
bin=$PWD/build/release/uringmig

echo "== uringmig doctor"
"$bin" doctor

if [ -n "${DEMO_DIR:-}" ]; then
  dir=$DEMO_DIR
  mkdir -p "$dir"
else
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' EXIT
fi
rm -rf "$dir/clients.db" "$dir/shards" "$dir/state"

echo "== sample data: $dir/clients.db ($rows clients)"
scripts/sample-clients.sh "$dir/clients.db" "$rows"

src="sqlite://$dir/clients.db"
dst="sqlite://$dir/shards?shards=10&shard_key=MOBILE_NUMBER"
echo "== uringmig run (SQLite -> 10 SQLite shards by SHA-256 of MOBILE_NUMBER)"
"$bin" run --source "$src" --target "$dst" --state-dir "$dir/state"
ls -l "$dir/shards"

echo "== uringmig status"
"$bin" status --state-dir "$dir/state"

echo "== uringmig verify (every row once, in the right shard)"
"$bin" verify --source "$src" --target "$dst"
echo "demo: every row landed once, in the shard its key routes to"
