# Shared by the e2e scripts that read from the Snowflake SQL API double (source it after
# lib/pg.sh). make_key DIR: an RSA key pair DIR/key.pem, DIR/pub.pem (the user's registered
# key). start_sf DIR [snowflake_double args...]: starts the double (account TESTACCT, user
# LOADER, DIR/pub.pem registered) and sets SNOWFLAKE_PORT; stop_sf stops it (also at exit).
: "${SNOWFLAKE_DOUBLE:?}"
sf_pid=
stop_sf() {
  if [ -n "$sf_pid" ]; then
    kill -TERM "$sf_pid" 2>/dev/null || true
    wait "$sf_pid" 2>/dev/null || true
  fi
  sf_pid=
}
trap 'stop_sf; rm -rf -- "$work"' EXIT
make_key() {
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1/key.pem" 2>/dev/null
  openssl pkey -in "$1/key.pem" -pubout -out "$1/pub.pem"
}
start_sf() {
  local dir=$1
  shift
  stop_sf
  rm -f "$dir/ready"
  "$SNOWFLAKE_DOUBLE" --ready-file "$dir/ready" --public-key "$dir/pub.pem" "$@" >"$dir/sf.log" 2>&1 &
  sf_pid=$!
  local i
  for i in $(seq 1 300); do
    [ -f "$dir/ready" ] && break
    kill -0 "$sf_pid" 2>/dev/null || { echo "snowflake_double died: $(cat "$dir/sf.log")" >&2; exit 1; }
    sleep 0.05
  done
  # shellcheck disable=SC1090
  . "$dir/ready"
}
