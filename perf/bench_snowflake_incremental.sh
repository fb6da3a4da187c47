#!/usr/bin/env bash
# Incremental load Snowflake (the SQL API double) -> PostgreSQL: ROWS rows (default 1 000 000)
# of the double's generated table (ten columns of the common types) loaded by
#   uringmig run --preset incremental --jobs JOBS (2)
# into an empty PostgreSQL table. Prints wall time, rows/s, uringmig's CPU (user + system) per
# million rows, its peak RSS, and the double's own CPU for the same run (the double builds
# jsonv2 and gzips every partition on two cores shared with uringmig and PostgreSQL: it caps the
# rate: its CPU per million rows bounds what any client reaches here). BIN / FIXTURE / DOUBLE:
# the binaries (default build/release).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. perf/lib.sh
rows=${ROWS:-1000000}
jobs=${JOBS:-2}
bin=${BIN:-build/release/uringmig}
fixture=${FIXTURE:-build/release/tests/pg_fixture}
double=${DOUBLE:-build/release/tests/snowflake_double/snowflake_double}
if [ ! -x "$bin" ] || [ ! -x "$fixture" ] || [ ! -x "$double" ]; then
  bench_build release uringmig pg_fixture snowflake_double
fi
bin=$(realpath "$bin"); fixture=$(realpath "$fixture"); double=$(realpath "$double")
dir=$(mktemp -d); scratch=$(mktemp -d)
sf_pid=
cleanup() {
  [ -z "$sf_pid" ] || { kill -TERM "$sf_pid" 2>/dev/null || true; wait "$sf_pid" 2>/dev/null || true; }
  "$fixture" stop "$dir" >/dev/null 2>&1 || true
  rm -rf "$dir" "$scratch"
}
trap cleanup EXIT
"$fixture" start "$dir" >/dev/null
. "$dir/conninfo.env"
export PGHOST=$PGFIX_HOST PGPORT=$PGFIX_PORT PGUSER=$PGFIX_USER
psql -qX -d postgres -c "create database dst"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$scratch/key.pem" 2>/dev/null
openssl pkey -in "$scratch/key.pem" -pubout -out "$scratch/pub.pem"
"$double" --ready-file "$scratch/ready" --public-key "$scratch/pub.pem" --partition-rows 20000 \
  --running-polls 0 --table T=generated:"$rows" >"$scratch/sf.log" 2>&1 &
sf_pid=$!
for _ in $(seq 1 600); do [ -f "$scratch/ready" ] && break; sleep 0.1; done
. "$scratch/ready"
cat >"$scratch/job.toml" <<TOML
source = "snowflake://LOADER@TESTACCT/DB/PUBLIC"
target = "postgresql://$PGFIX_USER@/dst?host=$PGFIX_HOST&port=$PGFIX_PORT"
preset = "incremental"
[snowflake]
endpoint = "http://127.0.0.1:$SNOWFLAKE_PORT"
private_key_file = "$scratch/key.pem"
[incremental]
chunk_rows = 250000
[[tables]]
source = "T"
target = "public.t"
key = ["ID"]
watermark = "Updated At"
chunk_by = "ID"
TOML
echo "== $rows rows x 10 columns, Snowflake double -> PostgreSQL, --jobs $jobs"
sf_cpu0=$(awk '{print $14 + $15}' "/proc/$sf_pid/stat")
/usr/bin/time -f "%e %U %S %M" -o "$scratch/time" "$bin" run --config "$scratch/job.toml" \
  --state-dir "$scratch/state" --jobs "$jobs" >"$scratch/out" 2>"$scratch/err" ||
  { cat "$scratch/err"; exit 1; }
sf_cpu1=$(awk '{print $14 + $15}' "/proc/$sf_pid/stat")
tick=$(getconf CLK_TCK)
read -r wall user sys rss <"$scratch/time"
loaded=$(psql -qXAt -d dst -c "select count(*) from t")
[ "$loaded" = "$rows" ] || { echo "loaded $loaded rows, expected $rows"; exit 1; }
awk -v w="$wall" -v u="$user" -v s="$sys" -v m="$rss" -v n="$rows" -v d="$(( (sf_cpu1 - sf_cpu0) ))" -v t="$tick" 'BEGIN {
  printf "uringmig: %.2f s wall, %.0f rows/s; CPU %.2f s per million rows (user %.2f + sys %.2f); peak RSS %.0f MiB\n",
    w, n / w, (u + s) * 1e6 / n, u, s, m / 1024
  printf "double:   CPU %.2f s for the same run (%.2f s per million rows)\n", d / t, d / t * 1e6 / n }'
