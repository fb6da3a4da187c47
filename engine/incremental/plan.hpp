// Checking `[[tables]]` entries against both sides before anything is written, and fixing each
// table's window (the watermark range a run reads) and chunks.
#pragma once

#include "connectors/postgres/connection.hpp"
#include "engine/incremental/entry.hpp"
#include "engine/incremental/source.hpp"
#include "engine/incremental/target.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace uringmig::engine::incremental {

/// A source column and the target column it loads into.
struct column_pair {
  std::string source;
  std::string target;
};

/// One entry, checked: what both sides hold and how it loads.
struct table_plan {
  table_entry entry;
  source_table src;
  target_table tgt;                  // found false: created from the source's columns
  std::string create_sql;            // when the target is missing
  std::vector<column_pair> columns;  // loaded, in source order
  std::vector<std::string> skipped;  // source columns the target lacks
  std::vector<std::string> key;      // target names
  value_class watermark_class = value_class::other;
  value_class chunk_class = value_class::other;
  lookback back;
  std::optional<std::string> mark;  // stored on the target
  std::string target_name;          // "schema.table" as the status tables key it

  /// The source query of this table (columns, filter) without window or range.
  row_query base_query() const;
};

/// A chunk of a window: rows (a watermark range x a chunk range) or a reconcile pass.
struct window_chunk {
  int chunk_no = 0;
  std::string kind;  // "rows" | "reconcile"
  range_bound range;
};

/// What one run reads of a table: the watermark range, fixed when the window opens (and kept
/// by a resumed run), and its chunks.
struct table_window {
  std::optional<std::string> from;  // mark - lookback; unset on the first run
  std::optional<std::string> to;    // the source's max when the window opened
  std::optional<std::string> next_mark;
  std::int64_t rows_estimate = 0;
  bool rows_estimated = false;  // rows_estimate from a sample, not a count
  std::string strategy;         // "integer ranges on \"id\" (4 chunks)"
  std::vector<window_chunk> chunks;
  bool backwards = false;              // the source's max is below the stored mark
  std::optional<std::string> largest;  // that max, when backwards
};

/// Checks `e` against the source and the target (read-only): tables and columns with their
/// exact case, key unique on the target, an orderable watermark, a filter that parses, lookback
/// and chunk_by. Throws usage_error with one line naming the entry.
boost::asio::awaitable<table_plan> check_entry(const table_entry& e, source& src,
                                               connectors::postgres::connection& target);

/// The checks of check_entry that need only the target's table as described (its columns, and
/// whether it exists): everything but the key's uniqueness, a missing table's DDL and the mark.
boost::asio::awaitable<table_plan> check_entry_on(const table_entry& e, source& src,
                                                  target_table tgt, std::string target_name);

/// Fixes the window of `p` now: reads the source's counts and bounds. A window whose size is
/// sampled (many rows) is cut into at least `workers` chunks when it holds split_rows rows per
/// worker, so that every worker upserts a part.
boost::asio::awaitable<table_window> open_window(const table_plan& p, source& src,
                                                 std::int64_t chunk_rows, int workers = 1);

/// Rows per worker a sampled window needs before open_window splits it among the workers.
inline constexpr std::int64_t split_rows = 2000;

/// A stable text of what shapes a window (entry, columns): a resumed window must match it.
std::string window_key(const table_plan& p);

/// The plan lines of one table (mode, strategy, chunk estimate, current mark, columns).
std::string describe_plan(const table_plan& p, const table_window& w);

}  // namespace uringmig::engine::incremental
