#pragma once

#include "connectors/postgres/connection.hpp"
#include "engine/core/job.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace uringmig::engine {

/// Which source tables a job covers. Globs match "schema.table" (a partition
/// also matches through its root's name); schemas and tables match exactly;
/// regexes (ECMAScript, searched) apply to the table name within a schema.
struct table_filter {
  std::vector<std::string> include;          // --tables; empty: every table
  std::vector<std::string> exclude;          // --exclude
  std::vector<std::string> include_schemas;  // empty: every schema
  std::vector<std::string> exclude_schemas;
  std::vector<std::string> exclude_tables;                        // "schema.table"
  std::map<std::string, std::vector<std::string>> exclude_regex;  // schema -> regexes

  bool matches(const std::string& schema, const std::string& table, const std::string& root_schema,
               const std::string& root_table) const;
};

/// From --tables/--exclude and the config's [filters] section:
/// filters.include_schemas, filters.exclude_schemas, filters.exclude_tables
/// (comma-separated lists) and filters.exclude_regex.<schema> (a regex; several
/// separated by newlines). Throws usage_error on an invalid regex.
table_filter make_filter(const job_options& opts);

/// A table whose rows are copied: a plain table or a leaf partition.
struct table_info {
  std::string schema;
  std::string name;
  std::uint32_t oid = 0;
  std::int64_t bytes = 0;          // pg_table_size: heap + TOAST (+ FSM/VM)
  std::int64_t heap_bytes = 0;     // main fork only: what ctid ranges split
  std::int64_t rows_estimate = 0;  // reltuples, -1 when never analysed
  std::int64_t pages = 0;          // heap pages now (from the heap size)
  bool unlogged = false;
  std::string root_schema;           // the partitioned root for a partition; else schema
  std::string root_name;             // ... else name
  std::vector<std::string> columns;  // quoted, copyable (not dropped, not generated), attnum order
  std::optional<std::string> int_key;  // quoted column of the single-column integer PK/unique key

  std::string display() const { return schema + "." + name; }
  std::string qualified() const;  // "schema"."name"
};

/// Tables (relkind 'r', partitions included; system schemas and the
/// `uringmig` schema excluded) that pass `f`, largest first. Runs on `c`,
/// inside whatever transaction/snapshot `c` is in.
boost::asio::awaitable<std::vector<table_info>> discover_tables(connectors::postgres::connection& c,
                                                                const table_filter& f);

/// OIDs as a PostgreSQL array literal ("{1,2,3}"), for `= any($1::oid[])`.
std::string oid_array(const std::vector<std::uint32_t>& oids);
std::string oid_array(const std::vector<table_info>& tables);

/// Before anything is created on any target: throws usage_error naming up to five of `tables` the
/// session's user cannot SELECT from, or the user's own relations in a schema named `uringmig`
/// (the name of our bookkeeping schema on PostgreSQL targets: they would be left behind).
boost::asio::awaitable<void> check_source_tables(connectors::postgres::connection& src,
                                                 const std::vector<table_info>& tables);

/// Materialized views that pass `f` (as tables do; system schemas and `uringmig` excluded):
/// schema, name and oid set, the rest empty.
boost::asio::awaitable<std::vector<table_info>> discover_matviews(
    connectors::postgres::connection& c, const table_filter& f);

}  // namespace uringmig::engine
