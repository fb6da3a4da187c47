#!/usr/bin/env bash
# Regenerates the captured pgoutput messages in this directory from a throwaway PostgreSQL 15.
#
#   tests/data/pgoutput/capture.sh            # writes <scenario>_v<proto>.txt for sql/*.sql
#
# Each sql/<scenario>.sql runs against a fresh logical slot (pgoutput); its first line
# `-- protos: 1 2` says which proto_version to decode it with. Proto 2 asks for streaming, so
# transactions over logical_decoding_work_mem (64kB here) come as Stream Start/Stop blocks.
# The output file holds the SQL as `#` comments, then one message per line:
#   <lsn> <xid> <hex bytes of the pgoutput message>
# as returned by pg_logical_slot_peek_binary_changes.
#
# Environment: CAPTURE_ROOT (default /tmp/helper-pgoutput-cluster, deleted at the end),
# CAPTURE_PORT (55433), PG_BIN (/usr/lib/postgresql/15/bin). As root the server runs as the
# `postgres` OS user (PostgreSQL refuses to run as root).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=${CAPTURE_ROOT:-/tmp/helper-pgoutput-cluster}
port=${CAPTURE_PORT:-55433}
bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
db=capture

as_server=()
if [[ $(id -u) -eq 0 ]]; then
  as_server=(runuser -u postgres --)
fi

stop_cluster() {
  if [[ -f $root/data/postmaster.pid ]]; then
    "${as_server[@]}" "$bin/pg_ctl" -D "$root/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$root"
}
trap stop_cluster EXIT

stop_cluster
mkdir -p "$root/sock"
if [[ ${#as_server[@]} -gt 0 ]]; then chown -R postgres: "$root"; fi

"${as_server[@]}" "$bin/initdb" -D "$root/data" -U postgres --auth=trust -E UTF8 --locale=C \
  >"$root/initdb.log"
"${as_server[@]}" "$bin/pg_ctl" -D "$root/data" -l "$root/server.log" -w \
  -o "-p $port -k $root/sock -c listen_addresses='' -c wal_level=logical \
      -c max_replication_slots=4 -c max_wal_senders=4 -c logical_decoding_work_mem=64kB \
      -c fsync=off -c full_page_writes=off" start >/dev/null
# Not synchronous_commit=off: decoding stops at the flushed WAL, so async commits go missing.

psql_as() {  # psql_as DB [psql args...]
  local database=$1
  shift
  "${as_server[@]}" "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$root/sock" -p "$port" \
    -U postgres -d "$database" "$@"
}

psql_as postgres -c "CREATE DATABASE $db"
# FOR ALL TABLES: tables created by the scenarios are published without further DDL. The
# publication exists before any slot, as pgoutput requires.
psql_as "$db" -c "CREATE PUBLICATION pub FOR ALL TABLES"
version=$(psql_as "$db" -A -t -c "SHOW server_version")

for sql in "$here"/sql/*.sql; do
  name=$(basename "$sql" .sql)
  protos=$(sed -n '1s/^-- protos: //p' "$sql")
  psql_as "$db" -c "SELECT pg_create_logical_replication_slot('cap', 'pgoutput')" >/dev/null
  psql_as "$db" -f "$sql" >/dev/null
  for proto in $protos; do
    options="'proto_version', '$proto', 'publication_names', 'pub', 'messages', 'true'"
    if [[ $proto -ge 2 ]]; then options+=", 'streaming', 'on'"; fi
    out="$here/${name}_v$proto.txt"
    {
      echo "# Captured by tests/data/pgoutput/capture.sh from PostgreSQL $version."
      echo "# proto_version: $proto"
      echo "# SELECT lsn, xid, encode(data, 'hex') FROM pg_logical_slot_peek_binary_changes("
      echo "#   'cap', NULL, NULL, $options);"
      echo "# after running sql/$name.sql:"
      sed 's/^/#   /' "$sql"
      echo "# <lsn> <xid> <message bytes in hex>"
      psql_as "$db" -A -t -F ' ' -c "SELECT lsn, xid, encode(data, 'hex')
        FROM pg_logical_slot_peek_binary_changes('cap', NULL, NULL, $options)"
    } >"$out"
    echo "$out: $(grep -vc '^#' "$out") messages"
  done
  psql_as "$db" -c "SELECT pg_drop_replication_slot('cap')" >/dev/null
done
