#!/usr/bin/env bash
# PostgreSQL -> SQLite shard set: the documented type mapping (integers INTEGER, floats REAL
# with NaN kept as TEXT, numeric TEXT, bytea BLOB, the rest PostgreSQL's text form), values
# with tabs/newlines/backslashes/non-ASCII intact, every row once in the shard its key routes
# to, chunked tables under one snapshot, and kill -9 then the same command.
# uses-fixture: pg
# shellcheck disable=SC1091
. "$(dirname "$0")/lib/pg.sh"

db=shards_src_$$
new_db "$db"
psql -qX -v ON_ERROR_STOP=1 -d "$db" <<'SQL'
create table clients(id bigint primary key, "ИНН" text, phone text, note text, balance numeric(14,4),
                     score double precision, photo bytea, active boolean, born date, tags text[]);
insert into clients
select i, lpad(i::text, 12, '0'),
       case when i % 97 = 0 then null when i % 89 = 0 then '' when i % 83 = 0 then '  '
            else '79' || lpad((i::bigint * 104729 % 1000000000)::text, 9, '0') end,
       E'tab\there\nnew line \\ back ' || i || ' ёж',
       i * 1.0001, case when i % 1000 = 0 then 'NaN' when i % 1001 = 0 then '-Infinity'
                        else i / 7.0 end,
       case when i % 2 = 0 then decode(lpad(to_hex(i), 8, '0') || '00ff', 'hex') end,
       i % 3 = 0, date '2000-01-01' + i, array['a' || i, null]
from generate_series(1, 60000) i;
SQL
src=$(tcp_url "$db")
dst="sqlite://$work/out?shards=4&shard_key=phone"
cat >job.toml <<'TOML'
[copy]
chunk_size = "1MB"
TOML
"$bin" run --config job.toml --source "$src" --target "$dst" --tables public.clients --state-dir st \
  >run.out 2>run.err || fail "run: $(tail -3 run.err)"
grep -q "uringmig-secret" run.out run.err st/*.log && fail "the password was printed or logged"
chunks=$(sqlite3 st/state.db "select count(*) from chunk")
[ "$chunks" -gt 1 ] || fail "expected a chunked table, got $chunks chunk(s)"

all() {  # SQL over every shard file, one output line per file's rows
  local f
  for f in out/clients_shard_0{0..4}.db; do sqlite3 -separator '|' "$f" "$1"; done
}
[ "$(all 'select count(*) from clients' | awk '{s += $1} END {print s}')" -eq 60000 ] || fail "row count"
[ "$(all 'select count(*) from clients' | awk 'END {print NR}')" -eq 5 ] || fail "expected 5 files"
# Nothing twice: ids unique over the whole set.
[ "$(all 'select id from clients' | sort -u | wc -l)" -eq 60000 ] || fail "duplicated or missing ids"
# NULL and blank keys in the reserved file only.
[ "$(sqlite3 out/clients_shard_04.db "select count(*) from clients where trim(coalesce(phone, '')) <> ''")" -eq 0 ] ||
  fail "a real key in the reserved file"
want=$(psql -qXAt -d "$db" -c "select count(*) from clients where trim(coalesce(phone, '')) = ''")
[ "$(sqlite3 out/clients_shard_04.db 'select count(*) from clients')" -eq "$want" ] || fail "reserved file row count"
# Types.
decl=$(sqlite3 out/clients_shard_00.db "select group_concat(type, ',') from pragma_table_info('clients')")
[ "$decl" = "INTEGER,TEXT,TEXT,TEXT,TEXT,REAL,BLOB,TEXT,TEXT,TEXT" ] || fail "declared types: $decl"
types=$(all "select typeof(id), typeof(balance), typeof(score), typeof(photo), typeof(active) from clients" | sort | uniq -c | awk '{print $2 ":" $1}' | paste -sd' ')
echo "storage classes: $types"
for t in "integer|text|real|blob|text" "integer|text|real|null|text" "integer|text|text|blob|text"; do
  echo "$types" | grep -q "$t" || fail "no rows stored as $t"
done
# Values, compared with PostgreSQL's own text: one row of each kind.
for id in 1000 1001 2002 7; do
  pg=$(psql -qXAt -F'|' -d "$db" -c "select id, \"ИНН\", coalesce(phone, '<null>'), replace(replace(note, E'\t', '<T>'), E'\n', '<N>'),
      balance::text, coalesce(upper(encode(photo, 'hex')), '<null>'), case when active then 't' else 'f' end,
      born::text, tags::text from clients where id = $id")
  lite=$(all "select id, \"ИНН\", coalesce(phone, '<null>'), replace(replace(note, char(9), '<T>'), char(10), '<N>'),
      balance, case when photo is null then '<null>' else hex(photo) end, active, born, tags
      from clients where id = $id")
  [ "$pg" = "$lite" ] || fail "row $id: postgres '$pg' vs sqlite '$lite'"
  pgscore=$(psql -qXAt -d "$db" -c "select score from clients where id = $id")
  case $pgscore in
    NaN) want="text|NaN" ;;
    Infinity) want="real|Inf" ;;
    -Infinity) want="real|-Inf" ;;
    *) want="real|1" ;;
  esac
  num=$pgscore
  case $pgscore in NaN | Infinity | -Infinity) num=0 ;; esac
  got=$(all "select typeof(score), case when typeof(score) = 'text' or abs(score) > 1e308 then score
             else abs(score - $num) <= 1e-12 * abs($num) end from clients where id = $id")
  [ "$got" = "$want" ] || fail "row $id score: postgres $pgscore, sqlite $got"
done

# kill -9 mid-load, then the same command finishes with every row once.
dst2="sqlite://$work/out2?shards=4&shard_key=phone"
cat >small.toml <<'TOML'
[copy]
chunk_size = "256kB"
[sqlite]
commit_rows = 500
TOML
"$bin" run --config small.toml --jobs 2 --source "$src" --target "$dst2" --tables public.clients \
  --state-dir st2 >run2.out 2>run2.err &
pid=$!
for _ in $(seq 600); do
  [ "$(sqlite3 st2/state.db "select count(*) from chunk where status = 'done'" 2>/dev/null || echo 0)" -ge 2 ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
echo "killed after $(sqlite3 st2/state.db "select count(*) from chunk where status = 'done'") of $(sqlite3 st2/state.db "select count(*) from chunk") chunks"
"$bin" run --config small.toml --jobs 2 --source "$src" --target "$dst2" --tables public.clients \
  --state-dir st2 >run3.out 2>run3.err || fail "resume: $(tail -3 run3.err)"
n=0
for f in out2/clients_shard_0{0..4}.db; do n=$((n + $(sqlite3 "$f" 'select count(*) from clients'))); done
[ "$n" -eq 60000 ] || fail "after kill -9 and resume: $n rows, expected 60000"
[ "$(for f in out2/*.db; do sqlite3 "$f" 'select id from clients'; done | sort -u | wc -l)" -eq 60000 ] ||
  fail "after resume: duplicated or missing ids"

# A table the source user cannot read is refused before any target file exists.
ro=shards_ro_$$
psql -qX -v ON_ERROR_STOP=1 -d "$db" -c "create role $ro login password 'ro-pw'; grant usage on schema public to $ro"
rc=0
"$bin" run --source "postgresql://$ro:ro-pw@127.0.0.1:$PGFIX_PORT/$db" --tables public.clients \
  --target "sqlite:///$work/denied/x.db" --state-dir st_denied >denied.out 2>denied.err || rc=$?
[ "$rc" -eq 2 ] || fail "an unreadable source table: exit $rc, want 2"
grep -q 'cannot read public.clients' denied.err || fail "unreadable table not named: $(cat denied.err)"
[ ! -e "$work/denied" ] || fail "the target was created before the source was found unreadable"

# Domains map as their base type (nested ones too); enums and arrays keep their text form.
psql -qX -v ON_ERROR_STOP=1 -d "$db" <<'SQL'
create domain year_t as integer check (value > 1800);
create domain film_year as year_t;
create domain price_t as double precision;
create type rating as enum ('G', 'PG', 'R');
create table films(id int primary key, release_year film_year, y2 year_t, price price_t,
                   r rating, ids int[]);
insert into films select i, 1900 + i % 120, 1950, i / 4.0, 'PG', array[i, i + 1]
from generate_series(1, 1000) i;
SQL
"$bin" run --source "$src" --target "sqlite:///$work/films.db" --tables public.films \
  --state-dir st_films >films.out 2>films.err || fail "films: $(tail -3 films.err)"
[ "$(sqlite3 films.db "select count(*) from films where release_year > 999")" -eq 1000 ] ||
  fail "a domain over integer is not compared as a number"
[ "$(sqlite3 films.db "select typeof(release_year) || typeof(y2) || typeof(price) || typeof(r) || typeof(ids) from films limit 1")" = integerintegerrealtexttext ] ||
  fail "domain columns: $(sqlite3 films.db "select typeof(release_year), typeof(y2), typeof(price), typeof(r), typeof(ids) from films limit 1")"
[ "$(sqlite3 films.db "select r || ids from films where id = 7")" = 'PG{7,8}' ] || fail "enum / array text form"
finish shards_pg
