-- A schema corpus: the kinds of objects PostgreSQL's own regression scripts
-- create, each kind in its own named section, written for this project.
--
-- Layout: everything before the first `-- @section NAME` line is the prelude
-- (cluster-wide roles and one plain table, so that any single section makes a
-- database with something to copy; always run). Each section then runs up to the next
-- marker; a section uses its own schema, named after the section, and depends
-- on nothing but the prelude, so any section can be left out
-- (tests/e2e/lib/corpus.sh builds the SQL without the sections it is told to
-- skip). Sections marked `-- @needs EXT ...` need those extensions to be
-- available (contrib); the loader leaves them out, saying so, when they are not.
--
-- Run with psql (ON_ERROR_STOP), statements in autocommit: ALTER TYPE ... ADD
-- VALUE cannot share a transaction with the value's first use.

-- Roles are cluster-wide: create them once, tolerating a concurrent creator.
do $$
declare
  r text;
begin
  foreach r in array array['corpus_owner', 'corpus_reader', 'corpus_writer', 'Corpus Odd "Role"'] loop
    begin
      execute format('create role %I nologin', r);
    exception when duplicate_object or unique_violation then
      null;
    end;
  end loop;
end $$;
create table public.corpus_anchor (id int primary key, note text);
insert into public.corpus_anchor values (1, 'always here');

-- @section partition_multilevel
-- range -> list / hash -> list, a default partition, a partition attached
-- later, an empty intermediate level, an index and a primary key on the root,
-- and a foreign key pointing at the partitioned table.
create schema partition_multilevel;
create table partition_multilevel.events (
  id bigint not null, region text not null, at date not null, payload text,
  primary key (id, region, at)) partition by range (at);
create table partition_multilevel.events_2023 partition of partition_multilevel.events
  for values from ('2023-01-01') to ('2024-01-01') partition by list (region);
create table partition_multilevel.events_2023_eu partition of partition_multilevel.events_2023
  for values in ('eu', 'uk');
create table partition_multilevel.events_2023_us partition of partition_multilevel.events_2023
  for values in ('us');
create table partition_multilevel.events_2023_rest partition of partition_multilevel.events_2023 default;
create table partition_multilevel.events_2024 partition of partition_multilevel.events
  for values from ('2024-01-01') to ('2025-01-01') partition by hash (id);
create table partition_multilevel.events_2024_h0 partition of partition_multilevel.events_2024
  for values with (modulus 2, remainder 0);
create table partition_multilevel.events_2024_h1 partition of partition_multilevel.events_2024
  for values with (modulus 2, remainder 1) partition by list (region);
create table partition_multilevel.events_2024_h1_eu partition of partition_multilevel.events_2024_h1
  for values in ('eu');
create table partition_multilevel.events_2024_h1_other partition of partition_multilevel.events_2024_h1 default;
create table partition_multilevel.events_2025 partition of partition_multilevel.events
  for values from ('2025-01-01') to ('2026-01-01') partition by list (region);
create table partition_multilevel.events_old (like partition_multilevel.events);
alter table partition_multilevel.events attach partition partition_multilevel.events_old
  for values from (minvalue) to ('2023-01-01');
create index events_region_at on partition_multilevel.events (region, at);
insert into partition_multilevel.events
select g, (array['eu', 'uk', 'us', 'br'])[g % 4 + 1], date '2022-06-01' + (g % 900), 'p' || g
from generate_series(1, 6000) g;
create table partition_multilevel.event_notes (
  id int primary key, event_id bigint, region text, at date, note text,
  foreign key (event_id, region, at) references partition_multilevel.events);
insert into partition_multilevel.event_notes
select g, g, (array['eu', 'uk', 'us', 'br'])[g % 4 + 1], date '2022-06-01' + (g % 900), 'n' || g
from generate_series(1, 300) g;

-- @section partition_empty
-- partitioned tables without any partition, one with a view on it
create schema partition_empty;
create table partition_empty.nothing (id int, at date) partition by range (at);
create view partition_empty.nothing_v as select id, at from partition_empty.nothing;
create table partition_empty.keyed (k text primary key, v int) partition by list (k);
comment on table partition_empty.keyed is 'no partitions yet';

-- @section inheritance
-- single and multiple inheritance, a NO INHERIT check, a child attached later
-- with its own column order, a column added to the parent afterwards
create schema inheritance;
create table inheritance.animal (
  id int primary key, name text not null, constraint name_len check (length(name) < 100));
create table inheritance.pet (owner text) inherits (inheritance.animal);
create table inheritance.wild (habitat text, constraint wild_only check (id > 1000) no inherit)
  inherits (inheritance.animal);
create table inheritance.hybrid (extra int) inherits (inheritance.pet, inheritance.wild);
create table inheritance.reordered (
  note text, name text not null, id int not null,
  constraint name_len check (length(name) < 100));
alter table inheritance.reordered inherit inheritance.animal;
alter table inheritance.animal add column legs int default 4;
insert into inheritance.animal (id, name) select g, 'animal ' || g from generate_series(1, 50) g;
insert into inheritance.pet (id, name, owner, legs) select g, 'pet ' || g, 'owner ' || g, 3 from generate_series(51, 90) g;
insert into inheritance.wild (id, name, habitat) select g, 'wild ' || g, 'forest' from generate_series(1001, 1030) g;
insert into inheritance.hybrid (id, name, owner, habitat, extra) values (5000, 'hy', 'me', 'home', 1), (5001, 'hz', null, null, null);
insert into inheritance.reordered (note, name, id, legs) values ('late', 'reordered one', 7000, 0);

-- @section domains
-- domains over integer, over a domain, over text with NOT NULL and a collation,
-- over numeric with a default, over an array; arrays of domains
create schema domains;
create domain domains.posint as integer check (value > 0);
create domain domains.small_posint as domains.posint check (value < 1000);
create domain domains.email as text collate "C" not null check (value ~ '@');
create domain domains.score as numeric(5, 2) default 0 check (value between 0 and 100);
create domain domains.int_list as integer[] check (array_length(value, 1) > 0);
create table domains.people (
  id domains.posint primary key, age domains.small_posint, mail domains.email,
  s domains.score, picks domains.int_list, alt domains.posint[]);
insert into domains.people
select g, g % 999 + 1, 'user' || g || '@example.org', (g % 10000) / 100.0, array[g, g + 1],
       case when g % 3 = 0 then null else array[g, 1]::domains.posint[] end
from generate_series(1, 2000) g;

-- @section enums
-- values added before/after others (odd sort order), a renamed value, an empty
-- enum, enum arrays
create schema enums;
create type enums.mood as enum ('sad', 'ok', 'happy');
alter type enums.mood add value 'ecstatic' after 'happy';
alter type enums.mood add value 'meh' before 'ok';
alter type enums.mood rename value 'sad' to 'blue';
create type enums.nothing as enum ();
create table enums.diary (id int primary key, m enums.mood, ms enums.mood[], e enums.nothing);
insert into enums.diary
select g, (enum_range(null::enums.mood))[g % 5 + 1],
       case when g % 4 = 0 then null else array[(enum_range(null::enums.mood))[g % 5 + 1], 'meh']::enums.mood[] end,
       null
from generate_series(1, 1000) g;

-- @section ranges
-- built-in ranges and multiranges, user-defined range types with their
-- multiranges; empty ranges and infinite bounds
create schema ranges;
create type ranges.floatrange as range (subtype = float8, subtype_diff = float8mi);
create type ranges.textrange as range (subtype = text, collation = "C", multirange_type_name = ranges.text_multi);
create table ranges.bookings (
  id int primary key, r int4range, d daterange, ts tstzrange, f ranges.floatrange,
  fm ranges.floatmultirange, tm ranges.text_multi, dm datemultirange, nm nummultirange);
insert into ranges.bookings
select g, int4range(g, g + g % 7), daterange(date '2020-01-01' + g, null),
       tstzrange('2020-01-01'::timestamptz + g * interval '1 hour', 'infinity', '(]'),
       ranges.floatrange(g / 3.0, g / 2.0 + 1),
       ranges.floatmultirange(ranges.floatrange(0, 1), ranges.floatrange(g, g + 0.5)),
       ranges.text_multi(ranges.textrange('a' || g, 'b' || g)),
       datemultirange(daterange('2020-01-01', '2020-02-01'), daterange(date '2021-01-01' + g, null)),
       case when g % 5 = 0 then '{}'::nummultirange else nummultirange(numrange(g, null)) end
from generate_series(1, 1000) g;
insert into ranges.bookings values (0, 'empty', 'empty', 'empty', 'empty', '{}', '{}', '{}', '{}'),
  (-1, null, null, null, null, null, null, null, null);

-- @section composites_arrays
-- nested composites, arrays of composites, multidimensional arrays, arrays with
-- NULLs and lower bounds other than 1, a typed table, a composite with a
-- dropped attribute
create schema composites_arrays;
create type composites_arrays.point3 as (x float8, y float8, z float8);
create type composites_arrays.tagged as (label text, p composites_arrays.point3, tags text[]);
create type composites_arrays.holey as (a int, b text, c int);
alter type composites_arrays.holey drop attribute b;
create table composites_arrays.shapes (
  id int primary key, pts composites_arrays.point3[], t composites_arrays.tagged,
  ts composites_arrays.tagged[], h composites_arrays.holey, grid int[][], offs int[], words text[]);
insert into composites_arrays.shapes
select g, array[row(g, g / 2.0, null)::composites_arrays.point3, null],
       row('l' || g, row(1, 2, g)::composites_arrays.point3, array['x', null, 'y z'])::composites_arrays.tagged,
       array[row('a', null, null)::composites_arrays.tagged, row(null, row(0, 0, 0), '{}')::composites_arrays.tagged],
       row(g, -g)::composites_arrays.holey,
       array[[g, 2], [3, null]], '[0:2]={7,8,9}'::int[],
       array['a,b', 'c"d', null, 'NULL', '', E'back\\slash']
from generate_series(1, 500) g;
create table composites_arrays.typed of composites_arrays.point3 (primary key (x, y));
insert into composites_arrays.typed select g, -g, null from generate_series(1, 100) g;

-- @section generated_identity
-- stored generated columns, identity ALWAYS and BY DEFAULT with non-default
-- sequence options (descending, cycling), OVERRIDING SYSTEM VALUE rows
create schema generated_identity;
create table generated_identity.items (
  id bigint generated always as identity (start with 1000 increment by 7) primary key,
  qty int, price numeric,
  total numeric generated always as (qty * price) stored,
  code int generated by default as identity (minvalue -100 maxvalue -1 start with -50 increment by -3 cycle),
  label text generated always as (upper(coalesce(note, 'none'))) stored,
  note text);
insert into generated_identity.items (qty, price, note)
select g, g / 4.0, case when g % 2 = 0 then 'n' || g end from generate_series(1, 40) g;
insert into generated_identity.items (id, qty, price) overriding system value values (1, 1, 1), (2, null, 2);

-- @section exclusion
-- exclusion constraints (gist over ranges, partial, btree and hash with =,
-- deferrable)
create schema exclusion;
create table exclusion.reservations (
  id int primary key, room int, during tsrange, code text,
  constraint no_overlap exclude using gist (during with &&) where (room > 0),
  constraint code_once exclude using hash (code with =),
  constraint room_once exclude using btree (id with =) deferrable initially deferred);
insert into exclusion.reservations
select g, g % 5, tsrange('2024-01-01'::timestamp + g * interval '1 day', '2024-01-01'::timestamp + (g + 1) * interval '1 day'),
       'c' || g
from generate_series(1, 300) g;

-- @section deferred_constraints
-- deferrable unique and foreign keys, a self reference and a cycle between two
-- tables (data only loadable with deferred checks)
create schema deferred_constraints;
create table deferred_constraints.nodes (
  id int primary key, parent int, pos int,
  constraint pos_unique unique (pos) deferrable initially deferred,
  constraint parent_fk foreign key (parent) references deferred_constraints.nodes (id) deferrable initially deferred);
create table deferred_constraints.pair_a (id int primary key, b_id int);
create table deferred_constraints.pair_b (id int primary key, a_id int references deferred_constraints.pair_a deferrable);
alter table deferred_constraints.pair_a add constraint a_to_b foreign key (b_id) references deferred_constraints.pair_b deferrable initially deferred;
begin;
set constraints all deferred;
insert into deferred_constraints.nodes select g, case when g > 1 then g / 2 end, 1000 - g from generate_series(1, 500) g;
insert into deferred_constraints.pair_a select g, g from generate_series(1, 100) g;
insert into deferred_constraints.pair_b select g, g from generate_series(1, 100) g;
commit;

-- @section rules
-- rules on a table (DO ALSO, DO INSTEAD NOTHING) and an updatable view by rule
create schema rules;
create table rules.orders (id int primary key, amount numeric);
create table rules.audit (op text, id int, via text);
create rule orders_log as on insert to rules.orders do also insert into rules.audit values ('ins', new.id, 'rule');
create rule orders_keep as on delete to rules.orders do instead nothing;
create view rules.big_orders as select id, amount from rules.orders where amount > 100;
create rule big_orders_ins as on insert to rules.big_orders do instead insert into rules.orders values (new.id, new.amount);
insert into rules.orders select g, g * 1.5 from generate_series(1, 200) g;
insert into rules.big_orders values (1000, 5000);

-- @section rls
-- row level security, enabled and forced, permissive and restrictive policies,
-- a table with RLS and no policy at all
create schema rls;
create table rls.docs (id int primary key, owner name default current_user, body text);
alter table rls.docs enable row level security;
alter table rls.docs force row level security;
create policy docs_owner on rls.docs using (owner = current_user);
create policy docs_reader on rls.docs for select to corpus_reader using (true);
create policy docs_limit on rls.docs as restrictive for update to corpus_writer
  using (id > 0) with check (id < 1000000);
grant select on rls.docs to corpus_reader;
insert into rls.docs (id, owner, body) select g, case when g % 2 = 0 then 'corpus_reader' else 'someone' end, 'body ' || g
from generate_series(1, 400) g;
create table rls.locked (id int);
alter table rls.locked enable row level security;
insert into rls.locked values (1), (2), (3);

-- @section event_triggers
-- event triggers (one filtered by tag and disabled, one ENABLE ALWAYS); their
-- function does nothing observable
create schema event_triggers;
create function event_triggers.noop() returns event_trigger language plpgsql as $$ begin perform 1; end $$;
create event trigger corpus_ddl_end on ddl_command_end execute function event_triggers.noop();
create event trigger corpus_drop on sql_drop when tag in ('DROP TABLE') execute function event_triggers.noop();
alter event trigger corpus_drop disable;
create event trigger corpus_rewrite on table_rewrite execute function event_triggers.noop();
alter event trigger corpus_rewrite enable always;
create table event_triggers.t (id int primary key);
insert into event_triggers.t select generate_series(1, 10);

-- @section extensions
-- @needs hstore citext ltree cube pg_trgm btree_gist intarray uuid-ossp pgcrypto
-- contrib extensions (types with binary I/O), some in their own schema, with
-- columns, GiST/GIN indexes and an exclusion constraint over them
create schema extensions;
create extension if not exists hstore;
create extension if not exists citext;
create extension if not exists ltree;
create extension if not exists cube;
create extension if not exists pg_trgm;
create extension if not exists btree_gist;
create extension if not exists intarray;
create extension if not exists "uuid-ossp";
create extension if not exists pgcrypto;
create table extensions.things (
  id uuid primary key, h hstore, ci citext unique, path ltree, c cube, ids int[], name text,
  room int, during tsrange, digest bytea,
  constraint room_time exclude using gist (room with =, during with &&));
insert into extensions.things
select md5(g::text)::uuid, hstore(array['k', 'g'], array['v' || g, null]), 'Name' || g,
       text2ltree('top.mid' || g % 10 || '.leaf' || g), cube(array[g, g / 2.0]), array[g, g * 2, g * 3],
       'trigram text ' || g, g % 10,
       tsrange('2024-01-01'::timestamp + g * interval '1 hour', '2024-01-01'::timestamp + (g + 1) * interval '1 hour'),
       digest('x' || g, 'sha256')
from generate_series(1, 1000) g;
create index things_path on extensions.things using gist (path);
create index things_ids on extensions.things using gin (ids gin__int_ops);
create index things_trgm on extensions.things using gin (name gin_trgm_ops);
create index things_h on extensions.things using gin (h);

-- @section extension_text_io
-- @needs seg isn
-- contrib types that have only text I/O (no send/receive)
create schema extension_text_io;
create extension if not exists seg;
create extension if not exists isn;
create table extension_text_io.measures (id int primary key, s seg, code ean13, book isbn13);
insert into extension_text_io.measures values
  (1, '1.5 .. 2.5', '9780306406157', '978-0-306-40615-7'), (2, '<1e3', null, null), (3, '~5(+-)0.1', '0036000291452', null);

-- @section foreign_data
-- @needs file_fdw postgres_fdw
-- foreign servers, user mappings and foreign tables: definitions only, their
-- data is not read (the file does not exist; the remote server is nowhere)
create schema foreign_data;
create extension if not exists file_fdw;
create extension if not exists postgres_fdw;
create server corpus_files foreign data wrapper file_fdw;
create foreign table foreign_data.missing_file (a int, b text)
  server corpus_files options (filename '/nonexistent/corpus.csv', format 'csv');
create server corpus_remote foreign data wrapper postgres_fdw options (host '127.0.0.1', port '1', dbname 'nowhere');
create user mapping for public server corpus_remote options (user 'nobody');
create foreign table foreign_data.remote_t (id int, v text) server corpus_remote options (table_name 't');
comment on foreign table foreign_data.remote_t is 'never read';

-- @section collations
-- ICU (deterministic and not), libc copies, columns and indexes using them
create schema collations;
create collation collations.german (provider = icu, locale = 'de-DE');
create collation collations.ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
create collation collations.posix_copy from "POSIX";
create table collations.words (
  id int primary key, w text collate collations.german, c text collate collations.ci,
  p text collate "C", x varchar(20) collate collations.posix_copy);
insert into collations.words
select g, (array['Äpfel', 'apfel', 'Zebra', 'öl', 'Oel'])[g % 5 + 1] || g, 'Mixed' || g, 'c' || g, 'x' || g
from generate_series(1, 500) g;
create index words_w_c on collations.words (w collate "C");
create index words_c on collations.words (c);

-- @section text_search
-- a text search dictionary and configurations, a generated tsvector column
-- with a GIN index, tsquery values
create schema text_search;
create text search dictionary text_search.keep_all (template = pg_catalog.simple, accept = false);
create text search configuration text_search.cfg (copy = pg_catalog.english);
alter text search configuration text_search.cfg alter mapping for asciiword with text_search.keep_all, english_stem;
create text search configuration text_search.bare (parser = default);
alter text search configuration text_search.bare add mapping for word, asciiword with simple;
create table text_search.docs (
  id int primary key, body text,
  tsv tsvector generated always as (to_tsvector('text_search.cfg', body)) stored, q tsquery);
insert into text_search.docs (id, body, q)
select g, 'The quick brown foxes jumped ' || g || ' times over lazy dogs', to_tsquery('simple', 'fox & dog' || g % 3)
from generate_series(1, 300) g;
create index docs_tsv on text_search.docs using gin (tsv);

-- @section large_objects
-- large objects with fixed and server-chosen OIDs: empty, small, ~1 MB of
-- incompressible bytes, one with another owner, one with a grant, one with a
-- comment, one referenced by no table
create schema large_objects;
create table large_objects.files (id int primary key, name text, content oid);
insert into large_objects.files
select g, 'file ' || g, lo_from_bytea(4242000 + g, convert_to(repeat('large object ' || g || E'\n', g * 20), 'UTF8'))
from generate_series(1, 40) g;
insert into large_objects.files values (41, 'empty', lo_from_bytea(4242041, ''));
insert into large_objects.files
select 42, 'random MB', lo_from_bytea(0, string_agg(decode(md5('lo' || g), 'hex'), '' order by g))
from generate_series(1, 65536) g;
select lo_from_bytea(4242099, '\x00ff00ff'::bytea);
alter large object 4242001 owner to corpus_owner;
grant select on large object 4242002 to corpus_reader;
grant select, update on large object 4242003 to corpus_writer;
comment on large object 4242004 is 'a large object with a comment';

-- @section matviews
-- materialized views: populated, WITH NO DATA, one on another, one with a
-- unique index (refreshable concurrently), a view over a matview
create schema matviews;
create table matviews.sales (id int primary key, region text, amount numeric);
insert into matviews.sales select g, 'region ' || g % 7, g * 1.25 from generate_series(1, 2000) g;
create materialized view matviews.by_region as
  select region, sum(amount) as total, count(*) as n from matviews.sales group by region;
create unique index by_region_region on matviews.by_region (region);
create materialized view matviews.top_regions as select region, total from matviews.by_region where n > 100;
create materialized view matviews.not_yet as select id, amount from matviews.sales with no data;
create view matviews.over_mv as select region from matviews.top_regions;

-- @section zero_columns
-- tables without columns, with rows; one whose columns were all dropped; one
-- empty
create schema zero_columns;
create table zero_columns.nothing ();
insert into zero_columns.nothing default values;
insert into zero_columns.nothing default values;
insert into zero_columns.nothing default values;
create table zero_columns.dropped_all (a int, b text);
insert into zero_columns.dropped_all select g, 'x' from generate_series(1, 5) g;
alter table zero_columns.dropped_all drop column a, drop column b;
create table zero_columns.empty ();

-- @section no_binary_io
-- a base type with text input/output only (no send/receive), its array type,
-- used in a table
create schema no_binary_io;
create type no_binary_io.label;
create function no_binary_io.label_in(cstring) returns no_binary_io.label
  language internal immutable strict as 'textin';
create function no_binary_io.label_out(no_binary_io.label) returns cstring
  language internal immutable strict as 'textout';
create type no_binary_io.label (
  input = no_binary_io.label_in, output = no_binary_io.label_out,
  internallength = variable, storage = extended);
create table no_binary_io.tagged (id int primary key, l no_binary_io.label, ls no_binary_io.label[]);
insert into no_binary_io.tagged
select g, ('label ' || g)::no_binary_io.label,
       case when g % 2 = 0 then array[('a' || g)::no_binary_io.label, null] end
from generate_series(1, 300) g;

-- @section comments
-- comments on most kinds of objects, with quotes and newlines
create schema comments;
comment on schema comments is E'schema comment with ''quotes''\nand a newline';
create table comments.t (id int primary key, v text constraint v_not_empty check (v <> ''));
create index t_v on comments.t (v);
create sequence comments.s;
create view comments.v as select id from comments.t;
create function comments.f(int) returns int language sql immutable as 'select $1';
create type comments.e as enum ('x');
create domain comments.d as int;
create function comments.trg() returns trigger language plpgsql as $$ begin return new; end $$;
create trigger t_trg before update on comments.t for each row execute function comments.trg();
insert into comments.t select g, 'v' || g from generate_series(1, 20) g;
comment on table comments.t is 'a table';
comment on column comments.t.v is 'a column';
comment on constraint v_not_empty on comments.t is 'a check constraint';
comment on constraint t_pkey on comments.t is 'a primary key';
comment on index comments.t_v is 'an index';
comment on sequence comments.s is 'a sequence';
comment on view comments.v is 'a view';
comment on function comments.f(int) is 'a function';
comment on type comments.e is 'an enum';
comment on domain comments.d is 'a domain';
comment on trigger t_trg on comments.t is 'a trigger';
comment on column comments.v.id is 'a view column';

-- @section acls
-- owners other than the superuser, schema/table/column/sequence/function/type
-- grants, a revoked PUBLIC default, default privileges, an oddly named role
create schema acls authorization corpus_owner;
grant usage on schema acls to corpus_reader, "Corpus Odd ""Role""";
create table acls.ledger (id int primary key, amount numeric, secret text);
alter table acls.ledger owner to corpus_owner;
revoke all on acls.ledger from public;
grant select (id, amount) on acls.ledger to corpus_reader;
grant insert, update on acls.ledger to corpus_writer with grant option;
insert into acls.ledger select g, g * 10, 'secret ' || g from generate_series(1, 100) g;
create sequence acls.s;
grant usage on sequence acls.s to corpus_writer;
create function acls.f() returns int language sql as 'select 1';
revoke execute on function acls.f() from public;
grant execute on function acls.f() to "Corpus Odd ""Role""";
create type acls.t as (a int);
revoke usage on type acls.t from public;
alter default privileges in schema acls grant select on tables to corpus_reader;
alter default privileges for role corpus_owner revoke execute on functions from public;
create table acls.after_defaults (id int);
insert into acls.after_defaults values (1);

-- @section odd_names
-- quotes, spaces, unicode, a newline in a column name, mixed case and
-- case-only differences, reserved words, 63-byte and truncated names
create schema odd_names;
create schema "Odd ""Schema"" Ñame";
create table "Odd ""Schema"" Ñame"."Table With Spaces" (
  "Mixed Case" int primary key, "quote""d" text, "new
line" text, "ünïcødé ☃" text, "select" int, "a.b" text, "$dollar" int, "%pct" text);
insert into "Odd ""Schema"" Ñame"."Table With Spaces"
select g, 'q' || g, 'nl' || g, '☃' || g, g, 'a.b', -g, '%' from generate_series(1, 200) g;
create index "Idx ""quoted"" ☃" on "Odd ""Schema"" Ñame"."Table With Spaces" ("ünïcødé ☃");
create table odd_names.lower (id int);
create table odd_names."LOWER" (id int);
insert into odd_names.lower values (1);
insert into odd_names."LOWER" values (2), (3);
create table odd_names.a23456789012345678901234567890123456789012345678901234567890123 (
  b23456789012345678901234567890123456789012345678901234567890123 int primary key);
insert into odd_names.a23456789012345678901234567890123456789012345678901234567890123 values (1), (2);
-- 80 bytes of Cyrillic: truncated to 31 characters (62 bytes)
create table odd_names."жжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжж" ("ёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёё" text);
insert into odd_names."жжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжжж" values ('cut');
create table odd_names."user" ("from" int, "order" text, "group" text);
insert into odd_names."user" values (1, 'o', 'g');
create sequence odd_names."Seq With Space";
select setval('odd_names."Seq With Space"', 77);
create view odd_names."View ""Odd""" as select "Mixed Case", "new
line" from "Odd ""Schema"" Ñame"."Table With Spaces";
create type odd_names."Enum Type" as enum ('a b', 'c''d', 'É');
create table odd_names."Tab	With Tab" (e odd_names."Enum Type");
insert into odd_names."Tab	With Tab" values ('a b'), ('c''d'), ('É'), (null);

-- @section odd_values
-- NaN, ±Infinity, -0, huge numerics, infinite dates, extreme intervals, every
-- byte value, escapes, NULLs everywhere, big TOASTed text and bytea, arrays of
-- composites
create schema odd_values;
create type odd_values.kv as (k text, v numeric);
create table odd_values.vals (
  id int primary key, f4 real, f8 float8, n numeric, ts timestamptz, d date, iv interval, t text,
  b bytea, j jsonb, js json, x xml, bits varbit, ip inet, mac macaddr, pt point, c char(5),
  u uuid, m money, kvs odd_values.kv[]);
insert into odd_values.vals values
  (1, 'NaN', 'NaN', 'NaN', 'infinity', 'infinity', '178000000 years', E'tab\t nl\n cr\r bs\\ q'' dq"',
   '\x00', '{"a": [1, null, "\u00e9"], "b": {}}', '{"dup": 1, "dup": 2, "z": "\u0000"}', '<a b="c">t&amp;</a>',
   B'101', '::1/128', '08:00:2b:01:02:03', '(1.5,-2)', 'ab', '00000000-0000-0000-0000-000000000000', 12.34,
   array[row('a', 1)::odd_values.kv, null, row(null, 'NaN')::odd_values.kv]),
  (2, 'Infinity', '-Infinity', 'Infinity', '-infinity', '-infinity', '-178000000 years', '',
   '\x', 'null', '[]', null, B'', '10.0.0.0/8', null, null, '', null, -92233720368547758.08, '{}'),
  (3, '-Infinity', '-0', '-Infinity', '4713-01-01 00:00:00 BC', '5874897-12-31', '1 microsecond', 'ümlaut ☃ 𝄞',
   null, '1e400', '"s"', '<?xml version="1.0"?><r/>', null, '2001:db8::/32', null, null, 'abcde', null, null, null),
  (4, 1.17549435e-38, 2.2250738585072014e-308, 1e-1000, '2000-02-29 12:00:00+14', '2000-02-29', '-1 day +1 hour', null,
   null, null, null, null, null, null, null, null, null, null, null, null),
  (5, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null);
update odd_values.vals set b = (select string_agg(set_byte('\x00', 0, g), '' order by g) from generate_series(0, 255) g)
  where id = 3;
update odd_values.vals set n = ('9' || repeat('8', 1000) || '.' || repeat('7', 1000))::numeric where id = 5;
create table odd_values.all_nulls (a int, b text, c bytea, d numeric, e int[], f jsonb, g odd_values.kv);
insert into odd_values.all_nulls select from generate_series(1, 100);
create table odd_values.big (id int primary key, t text, b bytea, ext text);
alter table odd_values.big alter column ext set storage external;
insert into odd_values.big
select g, repeat('compressible text ' || g, 150000),
       (select string_agg(decode(md5(g || 'b' || h), 'hex'), '' order by h) from generate_series(1, 60000) h),
       repeat('e', 300000)
from generate_series(1, 2) g;
create table odd_values.comp_arrays (id int, arr odd_values.kv[], nested odd_values.kv[][]);
insert into odd_values.comp_arrays
select g, array[row('k' || g, g)::odd_values.kv, row('', 'Infinity')::odd_values.kv],
       array[[row('x', 1)::odd_values.kv], [null::odd_values.kv]]
from generate_series(1, 200) g;

-- @section sequences
-- sequences at non-default values: called and not called, descending and
-- cycling, smallint, unlogged, owned by a column, near the bigint limit, never
-- used
create schema sequences;
create sequence sequences.plain;
select setval('sequences.plain', 12345);
create sequence sequences.not_called start 100;
select setval('sequences.not_called', 500, false);
create sequence sequences.desc_cycle increment -5 minvalue -1000 maxvalue 0 start -10 cycle;
select nextval('sequences.desc_cycle') from generate_series(1, 3);
create sequence sequences.small as smallint maxvalue 32000 cache 20;
select setval('sequences.small', 31999);
create sequence sequences.fresh;
create unlogged sequence sequences.unlogged_seq;
select setval('sequences.unlogged_seq', 77);
create table sequences.owned (id int);
create sequence sequences.owned_id owned by sequences.owned.id;
select setval('sequences.owned_id', 9999);
create sequence sequences.big start 9223372036854775000;
select nextval('sequences.big');

-- @section wide_table
-- a table with 1200 columns of mixed types
create schema wide_table;
do $$
begin
  execute 'create table wide_table.t (id int primary key, ' ||
          (select string_agg(format('c%s %s', g, (array['int', 'text', 'numeric', 'bool'])[g % 4 + 1]), ', ' order by g)
           from generate_series(1, 1200) g) || ')';
  execute 'insert into wide_table.t select r, ' ||
          (select string_agg(format((array['r + %s', '''v'' || r', 'r / 3.0 + %s', '(r + %s) %% 2 = 0'])[g % 4 + 1], g), ', ' order by g)
           from generate_series(1, 1200) g) || ' from generate_series(1, 20) r';
  insert into wide_table.t (id) select generate_series(21, 25);
end $$;

-- @section fk_cross_schema
-- foreign keys between schemas: single and composite, ON DELETE/UPDATE
-- actions, MATCH FULL, SET NULL with a column list, NOT VALID over bad rows
create schema fk_cross_schema;
create schema fk_cross_schema_b;
create table fk_cross_schema.customers (
  id int primary key, code text unique, region text, constraint cust_rc unique (region, code));
create table fk_cross_schema_b.orders (
  id int primary key, cust int references fk_cross_schema.customers on delete cascade,
  code text references fk_cross_schema.customers (code) on update cascade,
  region text, rcode text,
  constraint orders_rc foreign key (region, rcode) references fk_cross_schema.customers (region, code)
    match full on delete set null (rcode));
create table fk_cross_schema.order_lines (
  order_id int references fk_cross_schema_b.orders (id) deferrable, line int, primary key (order_id, line));
insert into fk_cross_schema.customers select g, 'c' || g, 'r' || g % 3 from generate_series(1, 100) g;
insert into fk_cross_schema_b.orders select g, g % 100 + 1, 'c' || (g % 100 + 1), null, null from generate_series(1, 1000) g;
insert into fk_cross_schema.order_lines select g, l from generate_series(1, 1000) g, generate_series(1, 3) l;
create table fk_cross_schema_b.loose (id int, cust int);
insert into fk_cross_schema_b.loose values (1, 1), (2, 999999);
alter table fk_cross_schema_b.loose add constraint loose_cust foreign key (cust)
  references fk_cross_schema.customers not valid;

-- @section views
-- views on views on views, CHECK OPTION, security_barrier, security_invoker,
-- a recursive view, a view with a column grant
create schema views;
create table views.base (id int primary key, v int, secret text);
insert into views.base select g, g - 50, 's' || g from generate_series(1, 200) g;
create view views.v1 as select id, v from views.base where v > 0;
create view views.v2 with (security_barrier) as select id, v from views.v1 where v < 1000 with local check option;
create view views.v3 with (security_invoker = true) as
  select v2.id, v2.v * 2 as v2x from views.v2 join views.v1 using (id);
create view views.v4 as select id, v2x from views.v3 order by id;
create recursive view views.nums (n) as values (1) union all select n + 1 from nums where n < 10;
grant select (id) on views.v4 to corpus_reader;

-- @section index_kinds
-- partial, expression (with a statistics target), INCLUDE, NULLS NOT
-- DISTINCT, fillfactor, hash, BRIN, GIN; the table CLUSTERed on one and its
-- replica identity on another; constraints with index parameters
create schema index_kinds;
create table index_kinds.t (id int not null, a int, b text, c text, d jsonb);
insert into index_kinds.t
select g, g % 100, 'b' || g, case when g % 2 = 0 then 'c' || g end, jsonb_build_object('g', g)
from generate_series(1, 3000) g;
delete from index_kinds.t where c is null and id > 2;
create unique index t_id on index_kinds.t (id);
alter table index_kinds.t replica identity using index t_id;
create index t_partial on index_kinds.t (a) where a > 10;
create index t_expr on index_kinds.t (lower(b));
alter index index_kinds.t_expr alter column 1 set statistics 500;
create index t_incl on index_kinds.t (a) include (b);
create unique index t_nnd on index_kinds.t (c) nulls not distinct;
create index t_ff on index_kinds.t (b) with (fillfactor = 50);
create index t_hash on index_kinds.t using hash (b);
create index t_brin on index_kinds.t using brin (id) with (pages_per_range = 16);
create index t_gin on index_kinds.t using gin (d jsonb_path_ops);
cluster index_kinds.t using t_incl;
create table index_kinds.k (
  x int, y int, z text,
  constraint k_pk primary key (x, y) include (z),
  constraint k_y unique (y) with (fillfactor = 70));
insert into index_kinds.k select g, -g, 'z' from generate_series(1, 100) g;
alter table index_kinds.k cluster on k_pk;

-- @section table_options
-- storage parameters, column storage/compression/statistics/n_distinct,
-- extended statistics, an unlogged table
create schema table_options;
create table table_options.t (id int primary key, a text, b text, c int)
  with (fillfactor = 70, autovacuum_enabled = false, toast.autovacuum_enabled = false);
alter table table_options.t alter column a set storage external,
  alter column b set compression pglz, alter column c set statistics 1000,
  alter column c set (n_distinct = -0.5);
insert into table_options.t select g, repeat('a', g), repeat('b', g), g % 10 from generate_series(1, 500) g;
create statistics table_options.st (dependencies, ndistinct) on a, c from table_options.t;
alter statistics table_options.st set statistics 200;
create statistics table_options.st_expr on (lower(a)), c from table_options.t;
create unlogged table table_options.u (id int primary key, v text);
insert into table_options.u select g, 'u' || g from generate_series(1, 100) g;

-- @section routines
-- functions, a procedure, an aggregate, an operator, a cast, triggers that
-- would fail if they fired during the load (row, statement, TRUNCATE, a
-- constraint trigger), a disabled and an ENABLE ALWAYS trigger
create schema routines;
create function routines.add(a int, b int default 1) returns int language sql immutable as 'select a + b';
create procedure routines.double(inout x int) language plpgsql as $$ begin x := x * 2; end $$;
create aggregate routines.total(int) (sfunc = routines.add, stype = int, initcond = '0');
create operator routines.<+> (leftarg = int, rightarg = int, function = routines.add);
create type routines.level as enum ('low', 'high');
create function routines.level_num(routines.level) returns int language sql immutable
  as $$ select case $1 when 'low' then 0 else 1 end $$;
create cast (routines.level as int) with function routines.level_num(routines.level) as assignment;
create table routines.t (id int primary key, v int, lvl routines.level);
insert into routines.t select g, g * 2, (array['low', 'high'])[g % 2 + 1]::routines.level from generate_series(1, 500) g;
create function routines.refuse() returns trigger language plpgsql as
  $$ begin raise exception 'trigger % fired on %', tg_name, tg_table_name; end $$;
create trigger t_row before insert or update on routines.t for each row execute function routines.refuse();
create trigger t_stmt after insert on routines.t for each statement execute function routines.refuse();
create trigger t_trunc before truncate on routines.t for each statement execute function routines.refuse();
create constraint trigger t_con after insert on routines.t deferrable initially deferred
  for each row execute function routines.refuse();
create trigger t_off before delete on routines.t for each row execute function routines.refuse();
alter table routines.t disable trigger t_off;
create trigger t_always before insert on routines.t for each row execute function routines.refuse();
alter table routines.t enable always trigger t_always;

-- @section publications
-- publications: a table list, a row filter and column list, a schema
create schema publications;
create table publications.t (id int primary key, v text, hidden text);
insert into publications.t select g, 'v' || g, 'h' from generate_series(1, 50) g;
create publication corpus_pub_tables for table publications.t;
create publication corpus_pub_filtered for table publications.t (id, v) where (id > 10) with (publish = 'insert');
create publication corpus_pub_schema for tables in schema publications;

-- @section reg_types
-- columns of OID alias types naming user objects: their values are names in
-- text and OIDs in binary, and the OIDs differ on a clone
create schema reg_types;
create table reg_types.target_table (id int);
create type reg_types.target_type as (a int);
create function reg_types.target_fn(int) returns int language sql immutable as 'select $1';
create text search configuration reg_types.target_cfg (copy = pg_catalog.simple);
create table reg_types.refs (
  id int primary key, rel regclass, typ regtype, fn regprocedure, cfg regconfig, nsp regnamespace,
  role regrole, rels regclass[]);
insert into reg_types.refs values
  (1, 'reg_types.target_table', 'reg_types.target_type', 'reg_types.target_fn(int)', 'reg_types.target_cfg',
   'reg_types', 'corpus_owner', array['reg_types.target_table', 'reg_types.refs']::regclass[]),
  (2, 'pg_class', 'int4', 'now()', 'english', 'public', 'corpus_reader', null);

-- @section index_search_path
-- an expression index over a function in public, named without its schema by
-- pg_get_indexdef() under the default search_path
create schema index_search_path;
create function public.corpus_norm(text) returns text language sql immutable as 'select lower(trim($1))';
create table index_search_path.t (id int primary key, name text);
insert into index_search_path.t select g, '  Name ' || g from generate_series(1, 200) g;
create index t_norm on index_search_path.t (public.corpus_norm(name));
create unique index t_norm_id on index_search_path.t (public.corpus_norm(name), id) where id > 10;

-- @section invalid_objects
-- an invalid unique index left by a failed CREATE INDEX CONCURRENTLY over
-- duplicates (pg_dump leaves it out), NOT VALID check and foreign key
-- constraints over rows that break them
create schema invalid_objects;
create table invalid_objects.t (id int primary key, v int, parent int);
insert into invalid_objects.t select g, g % 10, g + 1000 from generate_series(1, 100) g;
\set ON_ERROR_STOP off
\warn 'corpus: the next ERROR (could not create unique index "t_v_unique") is intended'
create unique index concurrently t_v_unique on invalid_objects.t (v);
\set ON_ERROR_STOP on
alter table invalid_objects.t add constraint v_small check (v < 5) not valid;
alter table invalid_objects.t add constraint parent_fk foreign key (parent) references invalid_objects.t not valid;

-- @section partition_single_level
-- one level of partitions: a default partition, partitions in another schema,
-- one with its own column order and a dropped column, a detached one
create schema partition_single_level;
create schema partition_single_level_parts;
create table partition_single_level.m (id int not null, at date not null, v text) partition by range (at);
create table partition_single_level_parts.m_2023 partition of partition_single_level.m
  for values from ('2023-01-01') to ('2024-01-01');
create table partition_single_level.m_default partition of partition_single_level.m default;
create table partition_single_level_parts.m_2024 (gone int, v text, at date not null, id int not null);
alter table partition_single_level_parts.m_2024 drop column gone;
alter table partition_single_level.m attach partition partition_single_level_parts.m_2024
  for values from ('2024-01-01') to ('2025-01-01');
create table partition_single_level.m_2022 partition of partition_single_level.m
  for values from ('2022-01-01') to ('2023-01-01');
insert into partition_single_level.m select g, date '2021-06-01' + g % 1400, 'v' || g from generate_series(1, 4000) g;
alter table partition_single_level.m detach partition partition_single_level.m_2022;
create index m_at on partition_single_level.m (at);
alter table partition_single_level.m add primary key (id, at);

-- @section subscriptions
-- a subscription that was never connected (no slot), disabled
create schema subscriptions;
create subscription corpus_sub connection 'host=127.0.0.1 port=1 dbname=nowhere'
  publication nowhere_pub with (connect = false, enabled = false, create_slot = false, slot_name = none);
create table subscriptions.t (id int primary key);
insert into subscriptions.t values (1);
