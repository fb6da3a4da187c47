#include "engine/incremental/target.hpp"

#include "codecs/sql_text.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace uringmig::engine::incremental {

namespace asio = boost::asio;
namespace pg = connectors::postgres;

namespace {

// The bookkeeping of incremental jobs on the target. chunks holds every chunk of a table run
// (its done mark commits with its rows); watermarks the mark each table's next run starts from.
constexpr const char* schema_sql = R"sql(
CREATE SCHEMA IF NOT EXISTS uringmig;
CREATE TABLE IF NOT EXISTS uringmig.runs (
  run_id bigserial PRIMARY KEY,
  started timestamptz NOT NULL DEFAULT now(),
  finished timestamptz,
  status text NOT NULL DEFAULT 'running',
  message text,
  source text,
  state_dir text);
CREATE TABLE IF NOT EXISTS uringmig.table_runs (
  table_run_id bigserial PRIMARY KEY,
  run_id bigint NOT NULL REFERENCES uringmig.runs,
  target_table text NOT NULL,
  source_table text NOT NULL,
  mode text NOT NULL,
  window_key text NOT NULL,
  started timestamptz NOT NULL DEFAULT now(),
  finished timestamptz,
  status text NOT NULL DEFAULT 'running',
  wm_from text,
  wm_to text,
  next_mark text,
  watermark_before text,
  watermark_after text,
  error text);
CREATE INDEX IF NOT EXISTS table_runs_target ON uringmig.table_runs (target_table, status);
CREATE TABLE IF NOT EXISTS uringmig.chunks (
  table_run_id bigint NOT NULL REFERENCES uringmig.table_runs,
  chunk_no int NOT NULL,
  kind text NOT NULL,
  lower_bound text,
  upper_bound text,
  with_nulls boolean NOT NULL DEFAULT false,
  status text NOT NULL DEFAULT 'pending',
  rows_read bigint NOT NULL DEFAULT 0,
  rows_upserted bigint NOT NULL DEFAULT 0,
  rows_deleted bigint NOT NULL DEFAULT 0,
  rows_rejected bigint NOT NULL DEFAULT 0,
  finished timestamptz,
  error text,
  PRIMARY KEY (table_run_id, chunk_no));
CREATE TABLE IF NOT EXISTS uringmig.watermarks (
  target_table text PRIMARY KEY,
  source_table text NOT NULL,
  watermark_column text,
  mark text,
  updated timestamptz,
  table_run_id bigint);
CREATE TABLE IF NOT EXISTS uringmig.dropped_indexes (
  table_run_id bigint NOT NULL REFERENCES uringmig.table_runs,
  index_name text NOT NULL,
  definition text NOT NULL,
  PRIMARY KEY (table_run_id, index_name));
CREATE OR REPLACE VIEW uringmig.v_table_progress AS
  SELECT t.table_run_id, t.run_id, t.target_table, t.source_table, t.mode, t.status, t.started,
         t.finished, t.watermark_before, t.watermark_after, t.wm_from, t.wm_to,
         count(c.*) AS chunks_total, count(c.*) FILTER (WHERE c.status = 'done') AS chunks_done,
         coalesce(sum(c.rows_read), 0) AS rows_read,
         coalesce(sum(c.rows_upserted), 0) AS rows_upserted,
         coalesce(sum(c.rows_deleted), 0) AS rows_deleted,
         coalesce(sum(c.rows_rejected), 0) AS rows_rejected, t.error
  FROM uringmig.table_runs t LEFT JOIN uringmig.chunks c USING (table_run_id)
  GROUP BY t.table_run_id;
CREATE OR REPLACE VIEW uringmig.v_active_runs AS
  SELECT r.run_id, r.started, r.source, r.state_dir,
         count(p.*) AS tables, count(p.*) FILTER (WHERE p.status = 'done') AS tables_done,
         coalesce(sum(p.rows_read), 0) AS rows_read,
         coalesce(sum(p.rows_upserted), 0) AS rows_upserted,
         coalesce(sum(p.rows_deleted), 0) AS rows_deleted,
         coalesce(sum(p.rows_rejected), 0) AS rows_rejected
  FROM uringmig.runs r LEFT JOIN uringmig.v_table_progress p USING (run_id)
  WHERE r.status = 'running'
  GROUP BY r.run_id;
)sql";

std::vector<std::string> split_names(std::string_view arr) {
  // A name[] printed by PostgreSQL: {a,"b c"}.
  std::vector<std::string> out;
  if (arr.size() < 2) return out;
  arr = arr.substr(1, arr.size() - 2);
  std::string cur;
  bool quoted = false;
  for (std::size_t i = 0; i < arr.size(); ++i) {
    const char ch = arr[i];
    if (quoted) {
      if (ch == '\\' && i + 1 < arr.size()) {
        cur += arr[++i];
      } else if (ch == '"') {
        quoted = false;
      } else {
        cur += ch;
      }
    } else if (ch == '"') {
      quoted = true;
    } else if (ch == ',') {
      out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += ch;
    }
  }
  if (!arr.empty()) out.push_back(std::move(cur));
  return out;
}

}  // namespace

std::string target_table::qualified() const {
  return codecs::qualified_name(schema, name);
}

asio::awaitable<target_table> describe_target(pg::connection& c, const table_name& t) {
  target_table out;
  out.schema = t.schema_or("public");
  out.name = t.table();
  pg::result cols = co_await c.query(
      "select a.attname, format_type(a.atttypid, a.atttypmod),"
      " not exists (select 1 from pg_operator o where o.oprname = '=' and o.oprleft = a.atttypid"
      "   and o.oprright = a.atttypid) and ty.typcategory not in ('A', 'E', 'R')"
      " from pg_class c join pg_namespace n on n.oid = c.relnamespace"
      " join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped"
      " join pg_type ty on ty.oid = a.atttypid"
      " where n.nspname = $1 and c.relname = $2 and c.relkind in ('r', 'p')"
      "   and a.attgenerated = '' order by a.attnum",
      pg::make_params(out.schema, out.name));
  cols.check("reading the columns of target table " + codecs::printable(t.written));
  for (int r = 0; r < cols.rows(); ++r)
    out.columns.push_back(
        {std::string(cols.value(r, 0)), std::string(cols.value(r, 1)), cols.value(r, 2) == "t"});
  out.found = !out.columns.empty();
  if (!out.found) co_return out;
  pg::result idx = co_await c.query(
      "select i.relname, pg_get_indexdef(x.indexrelid), x.indisunique,"
      " exists (select 1 from pg_constraint k where k.conindid = x.indexrelid),"
      " x.indpred is null and x.indexprs is null,"
      " (select array_agg(a.attname order by k.ord) from unnest(x.indkey) with ordinality k(n, ord)"
      "   join pg_attribute a on a.attrelid = x.indrelid and a.attnum = k.n)"
      " from pg_index x join pg_class i on i.oid = x.indexrelid"
      " where x.indrelid = (quote_ident($1) || '.' || quote_ident($2))::regclass",
      pg::make_params(out.schema, out.name));
  idx.check("reading the indexes of target table " + codecs::printable(t.written));
  for (int r = 0; r < idx.rows(); ++r) {
    target_index i;
    i.name = std::string(idx.value(r, 0));
    i.definition = std::string(idx.value(r, 1));
    i.unique = idx.value(r, 2) == "t" && idx.value(r, 4) == "t";
    i.constraint = idx.value(r, 3) == "t";
    if (const auto v = idx.get(r, 5)) i.columns = split_names(*v);
    out.indexes.push_back(std::move(i));
  }
  co_return out;
}

bool key_is_unique(const target_table& t, const std::vector<std::string>& key) {
  std::vector<std::string> want = key;
  std::sort(want.begin(), want.end());
  return std::any_of(t.indexes.begin(), t.indexes.end(), [&](const target_index& i) {
    std::vector<std::string> have = i.columns;
    std::sort(have.begin(), have.end());
    return i.unique && have == want;
  });
}

std::string create_table_sql(const table_name& target, const source_table& source,
                             const std::vector<std::string>& key) {
  std::string cols;
  for (const auto& c : source.columns) {
    if (!cols.empty()) cols += ", ";
    cols += codecs::quote_ident(c.name) + " " + c.pg_type;
  }
  std::string keys;
  for (const auto& k : key) {
    if (!keys.empty()) keys += ", ";
    keys += codecs::quote_ident(k);
  }
  return fmt::format("CREATE TABLE {} ({}, PRIMARY KEY ({}))",
                     codecs::qualified_name(target.schema_or("public"), target.table()), cols,
                     keys);
}

asio::awaitable<void> ensure_state_schema(pg::connection& c) {
  // One creator at a time (two jobs starting on one target at once).
  pg::result r = co_await c.simple(std::string("BEGIN; SELECT pg_advisory_xact_lock(7580312); ") +
                                   schema_sql + "COMMIT");
  if (!r.ok()) (void)co_await c.simple("ROLLBACK");
  r.check("creating the uringmig schema on the target (the role needs CREATE on the database)");
}

asio::awaitable<std::optional<std::string>> stored_mark(pg::connection& c,
                                                        const std::string& target_table) {
  pg::result exists = co_await c.query("select to_regclass('uringmig.watermarks') is not null");
  exists.check("reading the target's watermarks");
  if (exists.value(0, 0) != "t") co_return std::nullopt;
  pg::result r = co_await c.query("select mark from uringmig.watermarks where target_table = $1",
                                  pg::make_params(target_table));
  r.check("reading the target's watermarks");
  if (r.rows() == 0 || r.is_null(0, 0)) co_return std::nullopt;
  co_return std::string(r.value(0, 0));
}

}  // namespace uringmig::engine::incremental
