#pragma once

#include "codecs/row_batch.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

// PostgreSQL -> SQLite type mapping (documented in engine/README.md):
//   smallint, integer, bigint, oid           -> INTEGER
//   real, double precision                   -> REAL ('NaN' stays TEXT: SQLite stores a NaN
//                                               REAL as NULL; ±Infinity are REAL)
//   numeric                                  -> TEXT (its exact text: no precision lost)
//   bytea                                    -> BLOB
//   everything else (text, varchar, bool 't'/'f', dates, json, arrays, ...) -> TEXT, PG's text form

namespace uringmig::codecs {

enum class sqlite_affinity { integer, real, text, blob };

/// From format_type() / typname of a column ("bigint", "character varying(20)", "bytea", ...).
sqlite_affinity sqlite_affinity_of(std::string_view pg_type);
/// The declared type for CREATE TABLE: "INTEGER", "REAL", "TEXT" or "BLOB".
std::string_view declared_type(sqlite_affinity a);

/// Appends one PostgreSQL text-format value converted for `a` to `out`. A value that does not
/// parse as the affinity expects (never for well-formed COPY output) is kept as TEXT.
void append_pg_value(row_batch_writer& out, sqlite_affinity a, std::string_view text);

/// Appends one row of PostgreSQL text-format fields (nullopt: NULL), field i converted for
/// `a[i]` as append_pg_value does: what a SQLite file stores for that row.
void append_pg_row(row_batch_writer& out, const std::vector<sqlite_affinity>& a,
                   const std::vector<std::optional<std::string_view>>& fields);

}  // namespace uringmig::codecs
