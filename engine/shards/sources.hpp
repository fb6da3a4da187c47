// Internal to the SQLite shard load: the sources (SQLite file, PostgreSQL) as table_loads
// plus a chunk_reader.
#pragma once

#include "codecs/sqlite_types.hpp"
#include "codecs/url.hpp"
#include "engine/core/catalog.hpp"
#include "engine/core/job.hpp"
#include "engine/core/job_spec.hpp"
#include "engine/core/workers.hpp"
#include "engine/shards/load.hpp"
#include "io/runtime.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace uringmig::connectors::postgres {
class connection;
}

namespace uringmig::engine::shards {

/// A PostgreSQL column as the SQLite files store it.
struct pg_sqlite_column {
  std::string name;
  codecs::sqlite_affinity affinity = codecs::sqlite_affinity::text;
};

/// Every stored column of table `oid` (generated ones included), in attnum order, mapped by
/// codecs/sqlite_types.hpp (a domain as its base type). Runs in `c`'s transaction.
boost::asio::awaitable<std::vector<pg_sqlite_column>> pg_sqlite_columns(
    connectors::postgres::connection& c, std::uint32_t oid);

/// A SQLite table takes the PostgreSQL table's name without its schema: throws usage_error
/// when two of `tables` would share one.
void check_unique_names(const std::vector<table_info>& tables);

/// A source ready to load: its tables (planned) and how to read a chunk.
struct source {
  std::string description;  // for the plan and logs, secret-free
  std::vector<table_load> tables;
  chunk_reader reader;
  /// Rows estimate / bytes of a table for progress (parallel to `tables`).
  std::vector<std::int64_t> rows;
  std::vector<std::int64_t> bytes;
  /// What the source has and the load leaves out (SQLite virtual tables), one phrase each,
  /// for the plan and the summary.
  std::vector<std::string> not_copied;
  /// A PostgreSQL source: the snapshot it exported (its readers read under it), and how to
  /// read under the job's coordinator's instead (the workers of one job: before the first
  /// chunk; `watch` and `state` outlive the source): its sessions join the snapshot `watch`
  /// names, as join_coordinator_snapshot does. Empty / unset: SQLite.
  std::string snapshot;
  std::function<boost::asio::awaitable<void>(state_store& state, coordinator_watch& watch)>
      follow_coordinator;
  /// Releases connections (on their own contexts); call before the runtime ends.
  std::function<boost::asio::awaitable<void>()> close;
};

/// Opens and describes a SQLite source file, selects tables with --tables/--exclude, checks
/// the shard key and plans rowid-range chunks (settings sqlite.chunk_rows, default 50 000, and
/// sqlite.chunk_bytes, default 64 MB: whichever gives smaller chunks).
/// Throws usage_error for a missing file, a file that is not a database, no matching table,
/// a missing shard key column. `readers`: how many reader connections the reader may open.
source open_sqlite_source(const codecs::sqlite_endpoint& src, const job_spec& opts,
                          const target_spec& target, std::size_t readers);

/// Connects to a PostgreSQL source (on the caller's context), exports one snapshot held by a
/// control session until close(), discovers tables with the bulk filters, maps column types
/// (codecs/sqlite_types.hpp) and plans chunks as the bulk clone does. Readers connect on
/// their own contexts (1..readers) and read `COPY (SELECT ...) TO STDOUT` under the snapshot.
/// Throws usage_error for bad input (no table, a missing shard key, duplicate table names).
boost::asio::awaitable<source> open_pg_source(const codecs::endpoint& src, const job_options& opts,
                                              const target_spec& target, io::runtime& rt,
                                              std::size_t readers);

}  // namespace uringmig::engine::shards
