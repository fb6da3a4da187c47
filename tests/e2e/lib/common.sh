# Shared by every e2e script (source it): $bin (the binary), $work (a temp dir, the cwd,
# removed at exit), fail MSG (counts a failure), finish NAME (exit 1 if any failed).
set -euo pipefail
: "${URINGMIG_BIN:?}"
bin=$(realpath -- "$URINGMIG_BIN")
work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT
cd "$work"

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
finish() {
  [ "$failures" -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
  echo "$1: all checks passed"
}
# expect_exit CODE CMD...: runs CMD, fails unless it exits with CODE; its stdout and stderr are in $work/stdout and $work/err.
expect_exit() {
  local want=$1 rc=0
  shift
  "$@" >"$work/stdout" 2>"$work/err" || rc=$?
  [ "$rc" -eq "$want" ] || fail "'$*' exited $rc, expected $want: $(tail -3 "$work/err")"
}
