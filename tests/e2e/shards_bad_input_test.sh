#!/usr/bin/env bash
# Bad input for SQLite targets: one clear line, exit 2 when nothing was touched (DESIGN.md),
# exit 1 for a failure mid-load (a full disk, simulated with a file size limit), which leaves
# a set that verify calls incomplete and that the same command then finishes.
# shellcheck disable=SC1091
. "$(dirname "$0")/lib/common.sh"

repo=$(cd "$(dirname "$0")/../.." && pwd)
"$repo/scripts/sample-clients.sh" src.db 100000 >/dev/null
src="sqlite://$work/src.db"
dst="sqlite://$work/out?shards=4&shard_key=MOBILE_NUMBER"
one_line() {  # the error is one "uringmig:" line
  [ "$(grep -c '^uringmig:' err)" -eq 1 ] || fail "expected one 'uringmig:' line: $(cat err)"
}

printf 'this is not a database, just text that is long enough to look like a header..' >text.db
expect_exit 2 "$bin" run --source "sqlite://$work/text.db" --target "$dst" --state-dir st1
grep -q "is not a SQLite database" err || fail "not-a-database: $(cat err)"
one_line

expect_exit 2 "$bin" run --source "sqlite://$work/missing.db" --target "$dst" --state-dir st2
grep -q "no such file" err || fail "missing file: $(cat err)"
one_line

expect_exit 2 "$bin" run --source "$src" --target "sqlite://$work/out?shards=4&shard_key=PHONE" --state-dir st3
grep -q "shard key column 'PHONE' does not exist in table clients" err || fail "missing key: $(cat err)"
one_line

expect_exit 2 "$bin" run --source "$src" --target "sqlite://$work/out?shards=0&shard_key=MOBILE_NUMBER" --state-dir st4
grep -q "shards" err || fail "shards=0: $(cat err)"
one_line

expect_exit 2 "$bin" run --source "$src" --target "sqlite://$work/out?shards=4" --state-dir st4b
grep -q "shard_key" err || fail "shards without a key: $(cat err)"

sqlite3 slash.db "create table \"a/b\"(k text); insert into \"a/b\" values ('x')"
expect_exit 2 "$bin" run --source "sqlite://$work/slash.db" --target "sqlite://$work/out?shards=2&shard_key=k" --state-dir st4c
grep -q "cannot name a shard file" err || fail "a table name with '/': $(cat err)"

touch afile
expect_exit 2 "$bin" run --source "$src" --target "sqlite://$work/afile/sub?shards=4&shard_key=MOBILE_NUMBER" --state-dir st5
grep -q "cannot create directory" err || fail "target under a file: $(cat err)"
one_line
# A bad number in the config: the key and what it expects, exit 2, nothing touched.
for v in -1 0 '"x"' '"12x"'; do
  printf '[sqlite]\nchunk_rows = %s\n' "$v" >bad.toml
  expect_exit 2 timeout -s KILL 60 "$bin" run --config bad.toml --source "$src" --target "$dst" --state-dir st6
  grep -q "^uringmig: sqlite.chunk_rows = '.*': expected an integer from 1 to" err ||
    fail "sqlite.chunk_rows = $v: $(cat err)"
  one_line
done
[ ! -e out ] || fail "bad input left files behind: $(ls out)"

# Permissions (root ignores them: run as nobody when we are root).
if [ "$(id -u)" -eq 0 ] && command -v runuser >/dev/null; then
  mkdir -p ro
  chmod 755 ro "$work"
  chmod 644 src.db
  expect_exit 2 runuser -u nobody -- "$bin" run --source "$src" \
    --target "sqlite://$work/ro?shards=4&shard_key=MOBILE_NUMBER" --state-dir /tmp/uringmig-ro-$$
  rm -rf /tmp/uringmig-ro-$$
  grep -q "is not writable" err || fail "read-only target directory: $(cat err)"
fi

# A full disk mid-load: a 1 MB file size limit (SIGXFSZ ignored, so writes fail with EFBIG).
rc=0
(trap '' XFSZ; ulimit -f 1024; exec "$bin" run --source "$src" --target "$dst" --state-dir stf) \
  >full.out 2>err || rc=$?
[ "$rc" -eq 1 ] || fail "full disk: exit $rc, expected 1: $(tail -3 err)"
grep -q "disk is full or a file size limit was hit" err || fail "full disk message: $(cat err)"
grep -q "run the same command to resume" err || fail "full disk: no resume hint"
rc=0
"$bin" verify --source "$src" --target "$dst" >v.out 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "verify after a failed load exited $rc: $(cat v.out)"
"$bin" run --source "$src" --target "$dst" --state-dir stf >/dev/null 2>err || fail "resume after the full disk: $(tail -3 err)"
"$bin" verify --source "$src" --target "$dst" >v.out 2>&1 || fail "after resume: $(cat v.out)"
finish shards_bad_input
