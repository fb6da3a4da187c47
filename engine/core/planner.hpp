#pragma once

#include "connectors/postgres/connection.hpp"
#include "engine/core/catalog.hpp"
#include "engine/core/job.hpp"
#include "engine/core/plan_types.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace uringmig::engine {

/// Chunking knobs; per-table overrides come from the config:
///   [tables."s.t"] chunk_column = "id", chunks = 8, chunk_size = "512MB",
///                  where = "created > '2024-01-01'", ranges = ["..1000", "1000..5000", "5000.."]
/// and from a queue file (setting copy.queue_file), lines "schema.table|column|lo..hi".
struct chunk_policy {
  // copy.chunk_size. Large by default: a table copied whole gets COPY FREEZE
  // (no later hint-bit or visibility-map work) and leaves the other jobs to
  // other tables; smaller chunks resume at a finer grain and spread one huge
  // table over several jobs.
  std::int64_t chunk_bytes = 1ll << 30;
};

chunk_policy make_chunk_policy(const job_options& opts);

/// "512MB", "1GiB", "65536" -> bytes; throws usage_error naming `what`.
std::int64_t parse_size(const std::string& text, const std::string& what);

/// "lo..hi", "..hi", "lo..", or "lo-hi" (non-negative integers) -> (lo, hi) as integer text,
/// "" for an open end; lo < hi. Throws usage_error naming `what`.
std::pair<std::string, std::string> parse_range(const std::string& r, const std::string& what);

/// Evenly spaced integer bounds: n chunks over [lo, hi] on `col`, open at both ends (rows with a
/// NULL key in the first); bounds that coincide are merged. `filter`: ANDed to each predicate.
std::vector<planned_chunk> int_chunks(std::int64_t lo, std::int64_t hi, int n,
                                      const std::string& col, const std::string& filter);

/// n ctid block ranges over `pages` pages, the last one open-ended (the table may grow).
std::vector<planned_chunk> ctid_chunks(std::int64_t pages, int n, const std::string& filter);

/// Chunks of explicit ranges on `column`, in key order. Together they must take every row: an
/// overlap, a gap or a closed end is a usage_error naming `what`, unless `rest` adds a chunk for
/// the keys outside them. Rows with a NULL key go to the first range (or the rest chunk).
std::vector<planned_chunk> explicit_chunks(std::vector<std::pair<std::string, std::string>> ranges,
                                           const std::string& column, const std::string& filter,
                                           bool rest, const std::string& what);

/// Splits each table into chunks: integer key ranges when the table has a
/// single-column integer PK/unique key (or a configured chunk column), else
/// ctid block ranges, sized from the table's size including TOAST; one chunk
/// for small tables. Reads min/max under `src`'s snapshot. Largest tables first.
boost::asio::awaitable<std::vector<planned_table>> make_plan(connectors::postgres::connection& src,
                                                             const std::vector<table_info>& tables,
                                                             const job_options& opts);

/// The SELECT list + FROM + WHERE of a chunk: "SELECT cols FROM ONLY t WHERE ...".
std::string chunk_select(const table_info& t, const planned_chunk& c);

}  // namespace uringmig::engine
