#pragma once

#include "connectors/sqlite/database.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

// What uringmig needs to know about a SQLite source table.

namespace uringmig::connectors::sqlite {

struct column_info {
  std::string name;
  std::string declared_type;  // as written in CREATE TABLE ("" when none)
  int pk = 0;                 // position in the primary key, 0 when not part of it
  bool has_default = false;
};

struct table_info {
  std::string name;
  std::string create_sql;  // from sqlite_schema, verbatim
  std::vector<column_info> columns;
  bool without_rowid = false;
  bool has_generated_columns = false;  // not in `columns` (the target recomputes them)
  bool has_constraint_index = false;   // UNIQUE / non-INTEGER PRIMARY KEY (sqlite_autoindex_*)
  std::uint32_t root_page = 0;         // of the table's b-tree
  /// A name that reaches the rowid ("rowid", "_rowid_" or "oid", whichever no column shadows);
  /// empty for WITHOUT ROWID tables or when all three are column names.
  std::string rowid_name;
  /// The INTEGER PRIMARY KEY column, which is the rowid itself; nullopt when there is none.
  std::optional<std::size_t> rowid_alias;
  std::vector<std::string> index_sql;  // the table's own CREATE INDEX statements
  /// With a rowid: max - min + 1 (rowids are usually dense), at most the file's size / 4 (the
  /// most rows it can hold: sparse rowids); else count(*).
  std::int64_t rows = 0;
  bool rows_exact = true;
  /// The rowid span is more than the file can hold (hashed or time-based ids): `rows` is that
  /// bound, and equal slices of the span would be mostly empty.
  bool sparse_rowids = false;
  std::int64_t min_rowid = 0;  // when rowid_name is set and the table has rows
  std::int64_t max_rowid = 0;
  std::int64_t bytes = 0;  // the file's size: callers share it out between tables

  /// Index of the column called `name` (exact match first, then ASCII case-insensitive, as
  /// SQLite resolves names); nullopt when there is none.
  std::optional<std::size_t> find_column(std::string_view column) const;
};

/// Ordinary tables of the main schema (no sqlite_* internals, no virtual tables nor their
/// shadow tables, not the bookkeeping tables `_uringmig_chunks` / `_uringmig_meta` of our
/// shard files), by name.
std::vector<std::string> list_tables(const database& db);

/// A virtual table of the main schema (FTS5, R*Tree, ...) and the shadow tables that hold
/// its data (`docs_data`, `docs_idx`, ... for an FTS5 table `docs`).
struct virtual_table {
  std::string name;
  std::string module;  // after USING ("fts5"); empty when unknown
  std::vector<std::string> shadow_tables;
};

/// The virtual tables of the main schema, by name.
std::vector<virtual_table> list_virtual_tables(const database& db);

/// Describes one table; throws error when it does not exist.
table_info describe_table(const database& db, const std::string& name);

}  // namespace uringmig::connectors::sqlite
