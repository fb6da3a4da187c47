# A job's HTTP API from a test (source it after lib/common.sh).
#   free_port               a TCP port nobody listens on now (127.0.0.1)
#   api PATH                GET http://$api_addr PATH, the body on stdout (fails on HTTP errors)
#   api_wait                polls (bounded: 60 s) until the API at $api_addr answers
#   api_json JQ             api /api/v1/status | jq -r JQ
api_addr=${api_addr:-}
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
api() { curl -fsS --max-time 5 "http://$api_addr$1"; }
api_json() { api /api/v1/status | jq -r "$1"; }
api_wait() {
  local i
  for i in $(seq 600); do
    api /api/v1/status >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}
