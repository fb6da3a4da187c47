#pragma once

#include "codecs/doris_format.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

// PostgreSQL -> Apache Doris type mapping (format_type() text on the left), used for the
// CREATE TABLE that `uringmig plan` suggests (printed, never run) and for the row writer's kinds:
//   smallint / integer / bigint      SMALLINT / INT / BIGINT; oid -> BIGINT
//   real / double precision          FLOAT / DOUBLE (cannot be key columns in Doris)
//   numeric(p,s)                     DECIMAL(p,s) for p <= 38 (negative scale: DECIMAL(p-s,0),
//                                    scale > precision: DECIMAL(s,s)); p > 38 -> STRING
//   numeric                          DECIMAL(38,9): unconstrained numeric has no fixed scale, so
//                                    this is a guess; values past 29 integer or 9 fraction digits
//                                    do not fit (noted in the DDL)
//   boolean                          BOOLEAN
//   character varying(n), char(n)    VARCHAR(4n): Doris counts bytes, PostgreSQL characters, and
//                                    a UTF-8 character takes up to 4 bytes; 4n > 65533 -> STRING
//   text, varchar, bpchar            STRING
//   date                             DATE
//   timestamp(p) [without time zone] DATETIME(p), p = 6 by default
//   timestamp(p) with time zone      DATETIME(p), values converted to UTC by the writer
//   json, jsonb                      JSON
//   uuid                             VARCHAR(36)
//   bytea                            STRING of lowercase hex (Doris unhex() gives the bytes)
//   arrays (any "[]")                STRING holding PostgreSQL's array text ({1,2,"a b"}):
//   lossless;
//                                    Doris ARRAY<> would need a literal rewrite and element types
//   everything else (enums, domains, time, interval, money, inet, ...) STRING, PostgreSQL's text
// Doris refuses STRING key columns: a key column mapped to STRING becomes VARCHAR(65533).

namespace uringmig::codecs {

struct doris_type {
  std::string sql;  // "BIGINT", "DECIMAL(12,2)", "VARCHAR(80)", "STRING", ...
  doris_value_kind kind = doris_value_kind::text;
  bool key_allowed = true;  // false for FLOAT, DOUBLE and JSON
  std::string_view note;    // when some values may not fit or change form; empty otherwise
};

/// The Doris type for a format_type() text ("integer", "numeric(12,2)", "text[]", ...).
doris_type doris_type_of(std::string_view pg_type);

/// `name` in backquotes, embedded backquotes doubled.
std::string quote_doris_ident(std::string_view name);

struct doris_source_column {
  std::string name;
  std::string pg_type;  // format_type(atttypid, atttypmod)
  bool not_null = false;
  std::uint32_t type_oid = 0;  // atttypid; 0: unknown
};

struct doris_table_spec {
  std::string database;
  std::string table;
  std::vector<doris_source_column> columns;  // source (and COPY) order
  std::vector<std::string> primary_key;      // column names in key order; empty: none
};

/// Where each column goes in Doris. Key columns must lead a Doris table, so they come first and
/// the others follow in source order; loads name their columns (`columns` header), so the file
/// keeps the source order.
struct doris_table_layout {
  bool unique = false;             // UNIQUE KEY(primary key) model, else DUPLICATE KEY
  std::vector<std::size_t> key;    // source indexes of the key columns, in key order
  std::vector<std::size_t> order;  // every source index, in Doris column order
  std::vector<doris_type> types;   // by source index, key column substitutions applied
  std::vector<std::string> notes;  // printed as comments above the DDL
};

/// Throws std::invalid_argument when a primary key column is not among the columns.
doris_table_layout doris_layout_of(const doris_table_spec& t);

/// The suggested statement, notes first as `--` comments; ends with ";\n".
std::string render_create_table(const doris_table_spec& t);

/// The row writer's columns in source order (the order COPY produces).
std::vector<doris_column> doris_columns_of(const std::vector<doris_source_column>& columns);

}  // namespace uringmig::codecs
