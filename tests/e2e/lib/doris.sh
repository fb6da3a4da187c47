# Shared by the e2e scripts that load into the Doris double (source it after lib/pg.sh).
# start_double DIR [doris_double args...]: starts the double with its ready file and record
# directory in DIR; sets FE_PORT, BE_PORT and DD_PID; the double is stopped at exit.
# fault NAME COUNT [extra query]: arms a fault. expected_rows DB SQL: a COPY text dump of SQL,
# sorted, the form the double records rows in.
: "${DORIS_DOUBLE:?}"
dd_pids=()
stop_doubles() {
  local p
  for p in "${dd_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${dd_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf -- "$work"
}
trap stop_doubles EXIT
start_double() {
  local dir=$1
  shift
  mkdir -p "$dir"
  rm -f "$dir/ready"
  "$DORIS_DOUBLE" --ready-file "$dir/ready" --record-dir "$dir/rec" "$@" >"$dir/log" 2>&1 &
  DD_PID=$!
  dd_pids+=("$DD_PID")
  local i
  for i in $(seq 1 300); do
    [ -f "$dir/ready" ] && break
    kill -0 "$DD_PID" 2>/dev/null || { echo "doris_double died: $(cat "$dir/log")" >&2; exit 1; }
    sleep 0.05
  done
  # shellcheck disable=SC1091
  . "$dir/ready"
}
fault() {
  curl -sf -X POST "http://127.0.0.1:$FE_PORT/_double/fault?name=$1&count=$2${3:+&$3}" >/dev/null ||
    fail "arming fault $1"
}
expected_rows() {
  psql -qXAt -d "$1" -c "copy ($2) to stdout" | LC_ALL=C sort
}
recorded_rows() {
  if [ -f "$1" ]; then LC_ALL=C sort "$1"; fi
}
