# The online tests' common ending (source it after lib/pg.sh and lib/hold.sh; the test defines
# `sums DB` and sets $bin, $src, $dst, and job.toml in the working directory).
# follow_to_switchover LABEL STATE_DIR READY_SQL: runs `uringmig follow` for the job in STATE_DIR
# in the background, waits until READY_SQL is true on the target, switches over (exit 0), then
# checks that the follower ended with 0 and that source and target have the same `sums`.
follow_to_switchover() {
  local label=$1 state=$2 ready=$3 pid rc=0
  "$bin" follow --config job.toml --source "$(url "$src")" --target "$(url "$dst")" \
    --state-dir "$state" >/dev/null 2>follow.err &
  pid=$!
  wait_true "$dst" "$ready" || fail "$label: follow after the fix: $(tail -3 follow.err)"
  expect_exit 0 "$bin" switchover --source "$(url "$src")" --target "$(url "$dst")" \
    --state-dir "$state" --timeout 60s
  wait "$pid" || rc=$?
  [ "$rc" -eq 0 ] || fail "$label: follow exited $rc: $(tail -3 follow.err)"
  [ "$(sums "$src")" = "$(sums "$dst")" ] ||
    fail "$label: source and target differ: $(sums "$src") / $(sums "$dst")"
}
