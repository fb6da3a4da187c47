# Shared by the e2e scripts that use the `pg` fixture (source it).
# Provides what lib/common.sh does, and new_db NAME, url DB, tcp_url DB,
# table_sums DB (one line per table: name, row count, order-independent md5).
: "${URINGMIG_PGFIX_DIR:?}"
# shellcheck disable=SC1091
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck disable=SC1091
. "$URINGMIG_PGFIX_DIR/conninfo.env"
export PGHOST=$PGFIX_HOST PGPORT=$PGFIX_PORT PGUSER=$PGFIX_USER
new_db() { psql -qX -v ON_ERROR_STOP=1 -c "create database \"$1\""; }
url() { echo "postgresql://$PGFIX_USER@/$1?host=$PGFIX_HOST&port=$PGFIX_PORT"; }
tcp_url() { echo "postgresql://$PGFIX_ROLE:$PGFIX_PASSWORD@127.0.0.1:$PGFIX_PORT/$1"; }
# Every user table (leaf partitions included): rows and an md5 over the sorted row texts.
table_sums() {
  local db=$1 t
  psql -qXAt -d "$db" -c "select format('%I.%I', n.nspname, c.relname) from pg_class c
               join pg_namespace n on n.oid = c.relnamespace where c.relkind = 'r'
               and n.nspname not in ('pg_catalog', 'information_schema', 'uringmig', 'uringmig_state')
               and n.nspname not like 'pg\_%' order by 1" |
    while IFS= read -r t; do
      printf '%s\n' "select :'t', count(*), md5(coalesce(string_agg(x, '|' order by x), ''))
          from (select t::text as x from only $t t) s;" | psql -qXAt -d "$db" -v t="$t"
    done
}
