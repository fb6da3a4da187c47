// What an incremental load needs from a source, whatever it is (PostgreSQL, SQLite; Snowflake
// plugs in the same way): describe a table's columns (exact-case names, types), check a filter,
// min/max/count over the rows a query selects, and the rows of a query as PostgreSQL COPY text.
// Each source builds its own SQL dialect from a `row_query`; nothing above it writes source SQL
// except the user's filter, which is pasted as written.
#pragma once

#include "codecs/url.hpp"
#include "engine/incremental/entry.hpp"
#include "engine/incremental/watermark.hpp"
#include "io/buffer_pool.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

namespace uringmig::engine {
struct job_spec;
}

namespace uringmig::engine::incremental {

/// A source column, exact case.
struct source_column {
  std::string name;
  std::string type;  // the source's own type text ("timestamp(6) without time zone", "TEXT")
  value_class cls = value_class::other;
  std::string pg_type;  // the PostgreSQL type a created target column gets (README's mapping)
};

/// A table as the source describes it; `found` false when there is none of that exact name.
struct source_table {
  bool found = false;
  std::string display;  // as the source names it, for messages
  std::vector<source_column> columns;
  std::int64_t rows_estimate = -1;  // -1: unknown
  const source_column* column(std::string_view name) const {
    for (const auto& c : columns)
      if (c.name == name) return &c;
    return nullptr;
  }
};

/// Which rows a read takes:
///   (filter) AND (watermark >= from AND watermark <= to, or watermark IS NULL)
///            AND chunk.lower <= chunk_by < chunk.upper (OR chunk_by IS NULL when chunk.nulls)
/// Unset parts select everything: no filter, no window (`window` false: a full load), no range.
struct row_query {
  table_name table;
  std::vector<std::string> columns;  // exact case, in this order in the COPY text
  std::string filter;
  std::string watermark;  // "" : no window
  value_class watermark_class = value_class::other;
  bool window = false;
  std::optional<std::string> from;  // source precision text; unset: no lower bound
  std::optional<std::string> to;    // unset: no upper bound
  std::string chunk_by;             // "" : no range
  value_class chunk_class = value_class::other;
  range_bound range;
};

/// count(*), min and max of `column` over a query's rows (min/max unset when no row has one).
struct column_stats {
  std::int64_t rows = 0;
  bool rows_estimated = false;  // `rows` is an estimate (plan_stats over many rows)
  std::optional<std::string> min;
  std::optional<std::string> max;
};

/// Receives COPY text (whole rows or not; in order). Return false to stop the read.
using text_sink = std::function<boost::asio::awaitable<bool>(io::buffer)>;

/// One worker's reader, used from one coroutine on the executor it was opened on.
class source_session {
 public:
  virtual ~source_session() = default;
  /// The rows of `q` as PostgreSQL COPY text (tab-separated, \N for NULL, the COPY escapes),
  /// columns in `q.columns` order, values in forms PostgreSQL's input functions read back
  /// exactly; returns the row count. Throws job_error (or postgres::error) on failure.
  virtual boost::asio::awaitable<std::int64_t> copy_rows(const row_query& q, io::buffer_pool& pool,
                                                         text_sink sink) = 0;
  virtual boost::asio::awaitable<void> close() = 0;
};

/// A source: the control side (checks, statistics) and a factory of reader sessions.
class source {
 public:
  virtual ~source() = default;
  /// "postgresql://u@host/db" without secrets, for the plan.
  virtual std::string description() const = 0;
  /// The table's columns in the source's order; `found` false when it does not exist.
  virtual boost::asio::awaitable<source_table> describe(const table_name& t) = 0;
  /// nullopt when `filter` is a valid condition on `t` (the source parses and plans it without
  /// reading rows: EXPLAIN, prepare); else the source's message.
  virtual boost::asio::awaitable<std::optional<std::string>> check_filter(
      const table_name& t, const std::string& filter) = 0;
  /// count(*) and min/max of `column` over the rows of `q` (its columns ignored).
  virtual boost::asio::awaitable<column_stats> stats(const row_query& q,
                                                     const std::string& column) = 0;
  /// What planning a load's chunks needs, as cheaply as the source can give it: `max` of
  /// `column` exact (a window ends there), `rows` exact up to `exact_up_to` and above it an
  /// estimate (`rows_estimated`); `min` may be unset. The default: `stats`, exact.
  virtual boost::asio::awaitable<column_stats> plan_stats(const row_query& q,
                                                          const std::string& column,
                                                          std::int64_t exact_up_to) {
    (void)exact_up_to;
    co_return co_await stats(q, column);
  }
  /// Grouped-value chunks of a text-class `column` (text, varchar, uuid): the first value of
  /// each of about `groups` equal groups of its non-NULL values over the rows of `q`, ascending
  /// in the order the source's chunk predicate compares. Empty: the source cannot group (the
  /// column is then one chunk).
  virtual boost::asio::awaitable<std::vector<std::string>> boundaries(const row_query& q,
                                                                      const std::string& column,
                                                                      int groups) {
    (void)q;
    (void)column;
    (void)groups;
    co_return std::vector<std::string>{};
  }
  /// As `boundaries` (integer and date/time columns too, in their own order), from a sample of
  /// the rows; empty when the source does not sample (`boundaries` or the min/max then).
  virtual boost::asio::awaitable<std::vector<std::string>> sampled_boundaries(
      const row_query& q, const std::string& column, int groups) {
    (void)q;
    (void)column;
    (void)groups;
    co_return std::vector<std::string>{};
  }
  /// A reader session on `ex`.
  virtual boost::asio::awaitable<std::unique_ptr<source_session>> open_session(
      boost::asio::any_io_executor ex) = 0;
  virtual boost::asio::awaitable<void> close() = 0;
};

/// The source of `spec` (`postgresql://`, `sqlite:///`, `snowflake://`) on the caller's executor.
boost::asio::awaitable<std::unique_ptr<source>> open_source(const job_spec& spec,
                                                            std::stop_token stop);

/// A PostgreSQL source (`postgresql://`): control session on the caller's executor.
boost::asio::awaitable<std::unique_ptr<source>> open_pg_source(const codecs::endpoint& e);

/// A SQLite source (`sqlite:///file.db`): blocking reads on threads of their own.
std::unique_ptr<source> open_sqlite_source(const codecs::sqlite_endpoint& e);

}  // namespace uringmig::engine::incremental
