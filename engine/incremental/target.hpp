// The PostgreSQL target of an incremental load: its tables as they are, the `uringmig` schema that
// holds the runs, table runs, chunks and watermarks (the marks commit with the rows they cover),
// and the status views.
#pragma once

#include "connectors/postgres/connection.hpp"
#include "engine/incremental/source.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace uringmig::engine::incremental {

struct target_column {
  std::string name;
  std::string type;           // format_type
  bool compare_text = false;  // no equality operator (json, xml, geometry): compared as text
};

struct target_index {
  std::string name;
  std::string definition;  // pg_get_indexdef
  std::vector<std::string> columns;
  bool unique = false;
  bool constraint = false;  // backs a primary key / unique constraint
};

struct target_table {
  bool found = false;
  std::string schema;
  std::string name;
  std::vector<target_column> columns;
  std::vector<target_index> indexes;
  const target_column* column(std::string_view n) const {
    for (const auto& c : columns)
      if (c.name == n) return &c;
    return nullptr;
  }
  std::string qualified() const;
};

/// The target's table `t` ([schema.]table; public when alone).
boost::asio::awaitable<target_table> describe_target(connectors::postgres::connection& c,
                                                     const table_name& t);

/// Whether a unique index or constraint (no predicate, no expressions) covers exactly `key`.
bool key_is_unique(const target_table& t, const std::vector<std::string>& key);

/// CREATE TABLE for a missing target: the source's columns (README's type mapping), the key as
/// primary key.
std::string create_table_sql(const table_name& target, const source_table& source,
                             const std::vector<std::string>& key);

/// Creates the `uringmig` schema's tables and views when missing (idempotent).
boost::asio::awaitable<void> ensure_state_schema(connectors::postgres::connection& c);

/// The stored mark of `target_table` (schema.table), nullopt when none.
boost::asio::awaitable<std::optional<std::string>> stored_mark(connectors::postgres::connection& c,
                                                               const std::string& target_table);

}  // namespace uringmig::engine::incremental
