# Shared by the --http e2e scripts (source it after lib/pg.sh): free_port, served_port LOG PID
# (the port a job started with `--http 127.0.0.1:0` listens on, read from its log line: a port
# picked by free_port and bound later can be taken in between), api PATH,
# post PATH [TOKEN] (prints the HTTP status; the body lands in $work/post.out), wait_api
# PID JQ_CONDITION (bounded poll of /api/v1/status, 60 s), probe (tests/e2e/lib/http_probe.py),
# status_schema, counters FILE (the metrics' counter samples, "name{labels} value" lines).
probe="python3 $(dirname "${BASH_SOURCE[0]}")/http_probe.py"
status_schema="$(dirname "${BASH_SOURCE[0]}")/../../data/http/status.schema.json"
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
served_port() {  # log pid: bounded poll (60 s) of LOG for the "serving the HTTP API" line
  local i p
  for i in $(seq 600); do
    p=$(sed -nE 's|.*serving the HTTP API on https?://[^ ]*:([0-9]+)/.*|\1|p' "$1" 2>/dev/null | head -1)
    [ -n "$p" ] && { echo "$p"; return 0; }
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
api() { curl -sS --max-time 10 "http://127.0.0.1:$port$1"; }
post() {
  local auth=()
  [ -n "${2:-}" ] && auth=(-H "Authorization: Bearer $2")
  curl -sS --max-time 10 -o "$work/post.out" -w '%{http_code}' -X POST "${auth[@]}" \
    "http://127.0.0.1:$port$1"
}
wait_api() {  # pid condition: until jq -e CONDITION holds on the status document
  local i
  for i in $(seq 600); do
    api /api/v1/status >"$work/status.json" 2>/dev/null &&
      jq -e "$2" "$work/status.json" >/dev/null 2>&1 && return 0
    kill -0 "$1" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
counters() { grep -E '^uringmig_[a-z_]+_total[{ ]' "$1" | sort; }
