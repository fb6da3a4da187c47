// The PostgreSQL source of an incremental load: catalog reads on a control session, filter
// checks by EXPLAIN, rows by `COPY (SELECT ...) TO STDOUT` in text (the `portable` profile: UTF-8,
// UTC, ISO dates, hex bytea, shortest-exact floats), which the target reads back as it is.

#include "codecs/sql_text.hpp"
#include "connectors/postgres/connection.hpp"
#include "engine/core/job.hpp"
#include "engine/core/pg_session.hpp"
#include "engine/incremental/source.hpp"
#include "engine/incremental/sql.hpp"

#include <fmt/format.h>
#include <boost/asio/this_coro.hpp>

#include <algorithm>
#include <cmath>

namespace uringmig::engine::incremental {

namespace asio = boost::asio;
namespace pg = connectors::postgres;

value_class pg_class_of(std::string_view base_type) {
  const auto starts = [&](std::string_view p) { return base_type.substr(0, p.size()) == p; };
  if (base_type == "smallint" || base_type == "integer" || base_type == "bigint")
    return value_class::integer;
  if (starts("numeric") || base_type == "real" || base_type == "double precision")
    return value_class::numeric;
  if (base_type == "date") return value_class::date;
  if (starts("timestamp") && base_type.find("with time zone") != std::string_view::npos &&
      base_type.find("without") == std::string_view::npos)
    return value_class::timestamptz;
  if (starts("timestamp")) return value_class::timestamp;
  if (base_type == "text" || starts("character") || base_type == "uuid" || starts("\"char\"") ||
      base_type == "name")
    return value_class::text;
  return value_class::other;
}

namespace {

/// The table's schema and name on this server: [database.]schema.table or table (public).
std::pair<std::string, std::string> pg_name(const table_name& t, const std::string& database) {
  if (t.parts.size() == 3 && t.parts[0] != database)
    throw usage_error(fmt::format("source table {}: the source URL connects to database {}, not {}",
                                  codecs::printable(t.written), codecs::printable(database),
                                  codecs::printable(t.parts[0])));
  return {t.schema_or("public"), t.table()};
}

std::string qualified(const table_name& t, const std::string& database) {
  const auto [s, n] = pg_name(t, database);
  return codecs::qualified_name(s, n);
}

class pg_session final : public source_session {
 public:
  pg_session(pg::connection c, std::string database)
      : c_(std::move(c)), database_(std::move(database)) {}

  asio::awaitable<std::int64_t> copy_rows(const row_query& q, io::buffer_pool& pool,
                                          text_sink sink) override {
    // Literals are quoted and cast to the column's type by name: the types live on the server.
    const std::string sql =
        fmt::format("COPY (SELECT {} FROM {} WHERE {}) TO STDOUT", column_list(q.columns),
                    qualified(q.table, database_),
                    where_of(q, "pg_catalog.text", "pg_catalog.text", false, true));
    pg::result r =
        co_await c_.copy_out(sql, pool, [&](io::buffer b) { return sink(std::move(b)); });
    r.check("reading the source");
    co_return r.affected_rows();
  }

  asio::awaitable<void> close() override { co_await c_.close(); }

 private:
  pg::connection c_;
  std::string database_;
};

class pg_source final : public source {
 public:
  /// Blocks read to estimate a large window's row count (8 MB at the default block size).
  static constexpr std::int64_t sample_blocks = 1000;

  pg_source(codecs::endpoint e, pg::connection c, std::string database)
      : e_(std::move(e)), c_(std::move(c)), database_(std::move(database)) {}

  std::string description() const override { return codecs::redacted_url(e_); }

  asio::awaitable<source_table> describe(const table_name& t) override {
    const auto [schema, name] = pg_name(t, database_);
    source_table out;
    out.display = schema + "." + name;
    pg::result cols = co_await c_.query(
        "select a.attname, format_type(a.atttypid, a.atttypmod),"
        " format_type(coalesce(nullif(ty.typbasetype, 0), a.atttypid), null),"
        " greatest(c.reltuples, -1)::bigint"
        " from pg_class c join pg_namespace n on n.oid = c.relnamespace"
        " join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped"
        " join pg_type ty on ty.oid = a.atttypid"
        " where n.nspname = $1 and c.relname = $2 and c.relkind in ('r', 'p', 'v', 'm', 'f')"
        " order by a.attnum",
        pg::make_params(schema, name));
    cols.check("reading the columns of source table " + codecs::printable(out.display));
    for (int r = 0; r < cols.rows(); ++r) {
      source_column c;
      c.name = std::string(cols.value(r, 0));
      c.type = std::string(cols.value(r, 1));
      c.pg_type = c.type;  // PostgreSQL to PostgreSQL: the same type
      c.cls = pg_class_of(cols.value(r, 2));
      out.columns.push_back(std::move(c));
      out.rows_estimate = std::stoll(std::string(cols.value(r, 3)));
    }
    out.found = !out.columns.empty();
    co_return out;
  }

  asio::awaitable<std::optional<std::string>> check_filter(const table_name& t,
                                                           const std::string& filter) override {
    pg::result r = co_await c_.query(
        fmt::format("EXPLAIN SELECT 1 FROM {} WHERE {}", qualified(t, database_), filter));
    if (r.ok()) co_return std::nullopt;
    co_return r.error().message;
  }

  asio::awaitable<column_stats> stats(const row_query& q, const std::string& column) override {
    const std::string col = codecs::quote_ident(column);
    pg::result r = co_await c_.query(
        fmt::format("SELECT count(*), min({0})::text, max({0})::text FROM {1} WHERE {2}", col,
                    qualified(q.table, database_),
                    where_of(q, "pg_catalog.text", "pg_catalog.text", false, true)));
    r.check("reading the source's row counts");
    column_stats s;
    s.rows = std::stoll(std::string(r.value(0, 0)));
    if (const auto v = r.get(0, 1)) s.min = std::string(*v);
    if (const auto v = r.get(0, 2)) s.max = std::string(*v);
    co_return s;
  }

  asio::awaitable<column_stats> plan_stats(const row_query& q, const std::string& column,
                                           std::int64_t exact_up_to) override {
    // No pass over the rows (the load reads them once more anyway): max alone, which the
    // server answers from the column's index when there is one, and the count exact only while
    // it is small; above that, estimated from a sample of the table's blocks.
    const std::string table = qualified(q.table, database_);
    const std::string where = where_of(q, "pg_catalog.text", "pg_catalog.text", false, true);
    // max skips NULLs: over the window's range alone (no `OR ... IS NULL`), which the index
    // answers from its end whatever the planner believes of the range's size.
    std::string max_where = where;
    if (q.window && column == q.watermark && (q.from || q.to)) {
      row_query range = q;
      range.window = false;
      max_where = where_of(range, "pg_catalog.text", "pg_catalog.text", false, true);
      const std::string c = codecs::quote_ident(column);
      if (q.from)
        max_where += " AND " + c + " >= " + literal(q.watermark_class, *q.from, "", false);
      if (q.to) max_where += " AND " + c + " <= " + literal(q.watermark_class, *q.to, "", false);
    }
    pg::result m = co_await c_.query(fmt::format("SELECT max({})::text FROM {} WHERE {}",
                                                 codecs::quote_ident(column), table, max_where));
    m.check("reading the source's largest " + codecs::printable(column));
    column_stats s;
    if (const auto v = m.get(0, 0)) s.max = std::string(*v);
    pg::result few =
        co_await c_.query(fmt::format("SELECT count(*) FROM (SELECT FROM {} WHERE {} LIMIT {}) s",
                                      table, where, exact_up_to + 1));
    few.check("reading the source's row counts");
    s.rows = std::stoll(std::string(few.value(0, 0)));
    if (s.rows <= exact_up_to) co_return s;
    const auto percent = co_await sample_percent(table);
    if (!percent) co_return co_await stats(q, column);  // a view, or small enough to count
    pg::result r = co_await c_.query(fmt::format(
        "SELECT count(*) FROM {} TABLESAMPLE SYSTEM ({:.6f}) WHERE {}", table, *percent, where));
    r.check("sampling the source's rows");
    const auto estimate = std::llround(static_cast<double>(std::stoll(std::string(r.value(0, 0)))) *
                                       100.0 / *percent);
    s.rows = std::max<std::int64_t>(exact_up_to + 1, estimate);
    s.rows_estimated = true;
    co_return s;
  }

  asio::awaitable<std::vector<std::string>> boundaries(const row_query& q,
                                                       const std::string& column,
                                                       int groups) override {
    // The first value of each of `groups` equal groups, in byte order (chunk_order_expr).
    const std::string c = chunk_order_expr(column);
    pg::result r = co_await c_.query(fmt::format(
        "SELECT DISTINCT ON (g) v FROM (SELECT {0} AS v, ntile({1}) OVER (ORDER BY {0}) AS g "
        "FROM {2} WHERE ({3}) AND {4} IS NOT NULL) s ORDER BY g, v",
        c, groups, qualified(q.table, database_),
        where_of(q, "pg_catalog.text", "pg_catalog.text", false, true),
        codecs::quote_ident(column)));
    r.check("reading the source's chunk boundaries");
    std::vector<std::string> out;
    for (int i = 0; i < r.rows(); ++i)
      out.emplace_back(r.value(i, 0));
    co_return out;
  }

  asio::awaitable<std::vector<std::string>> sampled_boundaries(const row_query& q,
                                                               const std::string& column,
                                                               int groups) override {
    // As `boundaries`, over the blocks plan_stats samples; integer and date/time columns in
    // their own order (the chunk predicate's), text-class ones in byte order (chunk_order_expr).
    const std::string table = qualified(q.table, database_);
    const auto percent = co_await sample_percent(table);
    if (!percent) co_return std::vector<std::string>{};
    const std::string o = column == q.chunk_by && q.chunk_class == value_class::text
                              ? chunk_order_expr(column)
                              : codecs::quote_ident(column);
    pg::result r = co_await c_.query(fmt::format(
        "SELECT DISTINCT ON (g) v FROM (SELECT {0} AS o, ({0})::text AS v, ntile({1}) OVER "
        "(ORDER BY {0}) AS g FROM {2} TABLESAMPLE SYSTEM ({3:.6f}) WHERE ({4}) AND {5} IS NOT "
        "NULL) s ORDER BY g, o",
        o, groups, table, *percent, where_of(q, "pg_catalog.text", "pg_catalog.text", false, true),
        codecs::quote_ident(column)));
    r.check("sampling the source's chunk boundaries");
    std::vector<std::string> out;
    for (int i = 0; i < r.rows(); ++i)
      out.emplace_back(r.value(i, 0));
    co_return out;
  }

  asio::awaitable<std::unique_ptr<source_session>> open_session(asio::any_io_executor ex) override {
    pg::connection c = co_await connect_endpoint(ex, e_, "source", "uringmig incremental");
    co_await apply_settings(c, text_profile::portable, "setting up a source session");
    co_return std::make_unique<pg_session>(std::move(c), database_);
  }

  asio::awaitable<void> close() override { co_await c_.close(); }

 private:
  /// The TABLESAMPLE SYSTEM percentage that reads about sample_blocks of `table`; unset for a
  /// relation that cannot be sampled (a view, a foreign or partitioned table) or is that small.
  asio::awaitable<std::optional<double>> sample_percent(const std::string& table) {
    pg::result rel = co_await c_.query(
        "SELECT c.relkind IN ('r', 'm'), pg_relation_size(c.oid) / "
        "current_setting('block_size')::bigint FROM pg_class c WHERE c.oid = $1::regclass",
        pg::make_params(table));
    rel.check("reading the source table's size");
    if (rel.rows() == 0 || rel.value(0, 0) != "t") co_return std::nullopt;
    const std::int64_t blocks = std::stoll(std::string(rel.value(0, 1)));
    if (blocks <= sample_blocks) co_return std::nullopt;
    co_return 100.0 * static_cast<double>(sample_blocks) / static_cast<double>(blocks);
  }

  codecs::endpoint e_;
  pg::connection c_;
  std::string database_;
};

}  // namespace

asio::awaitable<std::unique_ptr<source>> open_pg_source(const codecs::endpoint& e) {
  auto ex = co_await asio::this_coro::executor;
  pg::connection c = co_await connect_endpoint(ex, e, "source", "uringmig incremental");
  co_await apply_settings(c, text_profile::portable, "setting up the source session");
  pg::result db = co_await c.query("select current_database()");
  db.check("reading the source's database name");
  std::string database(db.value(0, 0));
  co_return std::make_unique<pg_source>(e, std::move(c), std::move(database));
}

}  // namespace uringmig::engine::incremental
