# Drives a full-screen program in tmux (source it after lib/common.sh). Every screen_start gets
# a tmux server of its own (socket uringmig-$$-N), all killed at exit with $work: `tmux
# kill-server` returns before the server is gone, so a new session on the same socket right
# after it can meet the dying server ("server exited unexpectedly").
#   screen_start CMD...     runs CMD in a 120x40 pane; when it exits the pane shows
#                           "[exited: RC]" and stays
#   screen_keys KEYS...     tmux send-keys
#   screen_text             the pane's text now
#   screen_wait REGEX       polls the pane (bounded: 60 s) until a line matches; 1 if never
#   screen_gone             polls until the program in the pane has exited (screen_wait)
# Every wait is a bounded polling loop on the pane's content: no sleep stands for "it is done".
tmux_servers=0
tmux_sock="uringmig-$$-0"
tmux_() { tmux -L "$tmux_sock" "$@"; }
tmux_kill_all() {
  local i
  for i in $(seq 0 "$tmux_servers"); do tmux -L "uringmig-$$-$i" kill-server 2>/dev/null || true; done
}
trap 'tmux_kill_all; rm -rf -- "$work"' EXIT

screen_start() {
  local cmd
  cmd=$(printf '%q ' "$@")
  tmux_servers=$((tmux_servers + 1))
  tmux_sock="uringmig-$$-$tmux_servers"
  tmux_ -f /dev/null new-session -d -s top -x 120 -y 40 \
    "$cmd; echo \"[exited: \$?]\"; exec cat >/dev/null"
}
screen_keys() { tmux_ send-keys -t top "$@"; }
screen_text() { tmux_ capture-pane -p -t top; }
screen_wait() {
  local i
  for i in $(seq 600); do
    screen_text | grep -Eq -- "$1" && return 0
    sleep 0.1
  done
  echo "--- the screen, still without /$1/:" >&2
  screen_text >&2
  return 1
}
screen_gone() { screen_wait '^\[exited: [0-9]+\]'; }
