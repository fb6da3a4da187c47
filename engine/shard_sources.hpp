// Internal to the SQLite shard load: the sources (SQLite file, PostgreSQL) as table_loads
// plus a chunk_reader.
#pragma once

#include "codecs/url.hpp"
#include "engine/job.hpp"
#include "engine/shard_load.hpp"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace uringmig::engine::shards {

/// A source ready to load: its tables (planned) and how to read a chunk.
struct source {
  std::string description;  // for the plan and logs, secret-free
  std::vector<table_load> tables;
  chunk_reader reader;
  /// Rows estimate / bytes of a table for progress (parallel to `tables`).
  std::vector<std::int64_t> rows;
  std::vector<std::int64_t> bytes;
};

/// Opens and describes a SQLite source file, selects tables with --tables/--exclude, checks
/// the shard key and plans rowid-range chunks (setting sqlite.chunk_rows, default 100 000).
/// Throws usage_error for a missing file, a file that is not a database, no matching table,
/// a missing shard key column. `readers`: how many reader connections the reader may open.
source open_sqlite_source(const codecs::sqlite_endpoint& src, const job_options& opts,
                          const target_spec& target, std::size_t readers);

}  // namespace uringmig::engine::shards
