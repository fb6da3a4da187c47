# The schema corpus (tests/e2e/corpus/schema_corpus.sql) for the e2e scripts
# (source it after lib/pg.sh). A corpus section is one kind of object, named by
# its `-- @section NAME` line; any of them can be left out.
#
#   corpus_sections                      every section name, in file order
#   corpus_load DB SECTION...            creates the corpus in DB without the named sections
#   corpus_missing_extensions            "SECTION EXT" for each needed extension the server lacks
#   corpus_schema DB                     pg_dump --schema-only of DB, without noise, to stdout
#   corpus_contents DB                   "WHAT<TAB>summary" per table, matview, large object,
#                                        sequence: row counts and md5s independent of the
#                                        order of rows and columns
#   corpus_compare SRC REF DST           three-way comparison of corpus_contents (or any
#                                        "key<TAB>value") files: prints what DST gets wrong
#                                        that REF gets right, and what both share
corpus_sql=$(realpath -- "$(dirname "${BASH_SOURCE[0]}")/../corpus/schema_corpus.sql")

corpus_sections() { sed -n 's/^-- @section \([A-Za-z0-9_]*\)$/\1/p' "$corpus_sql"; }

corpus_missing_extensions() {
  local section ext
  awk '/^-- @section /{s = $3} /^-- @needs /{for (i = 3; i <= NF; i++) print s, $i}' "$corpus_sql" |
    while read -r section ext; do
      [ "$(psql -qXAt -d postgres -c "select count(*) from pg_available_extensions where name = '$ext'")" = 1 ] ||
        echo "$section $ext"
    done
}

corpus_load() {
  local db=$1
  shift
  awk -v skip=" $* " '
    /^-- @section / { keep = index(skip, " " $3 " ") == 0 }
    NR == 1 { keep = 1 }
    keep' "$corpus_sql" >"$work/corpus_$db.sql"
  PGOPTIONS='-c client_min_messages=error' \
    psql -qX -v ON_ERROR_STOP=1 -d "$db" -f "$work/corpus_$db.sql" >/dev/null
  psql -qX -d "$db" -c analyze
}

# Comment lines, session settings and pg_dump's per-run \restrict key differ
# between any two dumps; nothing else does for equal databases.
corpus_schema() {
  pg_dump --schema-only --exclude-schema=uringmig -d "$1" |
    sed -e '/^--/d' -e '/^SET /d' -e "/^SELECT pg_catalog.set_config('search_path'/d" \
      -e '/^\\restrict /d' -e '/^\\unrestrict /d' -e '/^$/d'
}

corpus_contents() {
  psql -qXAt -d "$1" 2>&1 <<'SQL'
set client_min_messages = warning;
with rels as (
  select c.relkind, c.relispopulated, format('%I.%I', n.nspname, c.relname) as qname,
         -- the columns by name: pg_restore may reorder an inheritance child's columns
         (select coalesce(string_agg(format('t.%I', a.attname), ', ' order by a.attname), '')
          from pg_attribute a where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped) as cols,
         case c.relkind when 'r' then 'table ' else 'matview ' end ||
           replace(replace(format('%I.%I', n.nspname, c.relname), E'\n', '\n'), E'\t', '\t') as label
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
  where c.relkind in ('r', 'm') and n.nspname not in ('pg_catalog', 'information_schema', 'uringmig')
    and n.nspname not like 'pg\_%')
select case when relkind = 'm' and not relispopulated
            then format($q$select %L || E'\t' || 'not populated'$q$, label)
            else format($q$select %L || E'\t' || count(*) || ' rows, md5 ' ||
                          md5(coalesce(string_agg(x, E'\n' order by x), ''))
                        from (select row(%s)::text as x from only %s t) s$q$, label, cols, qname) end
from rels order by label
\gexec
select format($q$select %L || E'\t' || last_value || case when is_called then ' called' else ' not called' end
              from %s$q$, 'sequence ' || format('%I.%I', n.nspname, c.relname), format('%I.%I', n.nspname, c.relname))
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where c.relkind = 'S' and n.nspname not in ('pg_catalog', 'information_schema', 'uringmig')
order by 1
\gexec
select 'large objects' || E'\t' || count(*) from pg_largeobject_metadata;
select 'large object ' || oid || E'\t' || pg_get_userbyid(lomowner) || ' acl ' || coalesce(lomacl::text, '-') ||
       ' md5 ' || md5(lo_get(oid)) || ' comment ' || coalesce(obj_description(oid, 'pg_largeobject'), '-')
from pg_largeobject_metadata order by oid;
SQL
}

corpus_compare() {
  awk -F '\t' '
    FNR == 1 { f++ }
    f == 1 { s[$1] = $2; keys[$1]; next }
    f == 2 { r[$1] = $2; keys[$1]; next }
    { d[$1] = $2; keys[$1] }
    END {
      for (k in keys) {
        sv = (k in s) ? s[k] : "<absent>"; rv = (k in r) ? r[k] : "<absent>"; dv = (k in d) ? d[k] : "<absent>"
        if (dv != rv && dv != sv)
          printf "DIFFERS %s | source: %s | pg_dump clone: %s | uringmig: %s\n", k, sv, rv, dv
        else if (dv == rv && dv != sv)
          printf "shared by both clones: %s (source: %s, clones: %s)\n", k, sv, dv
      }
    }' "$1" "$2" "$3" | sort
}
