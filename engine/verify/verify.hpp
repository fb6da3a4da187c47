#pragma once

#include "engine/core/job.hpp"
#include "engine/core/job_spec.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace uringmig::engine::verify {

/// `uringmig verify`: compares every source table selected by --tables /
/// --exclude (and the config's filters) with the same table on the target.
/// Per table, both sides compute the row count and an order-independent
/// checksum (the sum of a 64-bit hash of each row's text, over the source's
/// columns in the source's order, generated columns included), in parallel:
/// source and target on different contexts, up to --jobs tables at once. Each
/// side reads one snapshot (exported by a control connection, imported by the
/// workers in REPEATABLE READ READ ONLY transactions).
/// Prints one line per table and a total line on stdout; returns 0 when every
/// table is identical. Throws job_error ("N table(s) differ: a.b, c.d") when a
/// table differs, is missing on the target or could not be read, or a
/// connection fails; usage_error for bad URLs or a filter matching nothing.
/// Setting `verify.hash` (config file): `auto` (default) or `md5`, see row_hash.
int run_verify(const job_spec& opts);

/// `uringmig verify` from a SQLite file or a PostgreSQL database to a SQLite file or shard set:
/// per table, count and an order-independent checksum of typed values (1 and '1' differ) on
/// both sides, plus, for a shard set, that every row sits in the file its key routes to and
/// that every file's load completed. A PostgreSQL source is read under one snapshot, its values
/// converted as the loader converts them (codecs/sqlite_types.hpp), so an identical copy
/// compares equal; its routing is checked per file (the rows each file should hold against
/// the rows it holds). Exit codes as run_verify.
int run_verify_sqlite(const job_spec& opts);

/// How a row's text becomes the 64-bit number the checksum sums.
enum class row_hash {
  /// hashtextextended(): ~2x faster; only when both servers hash a probe set
  /// alike and use the same encoding (same algorithm, endianness and bytes).
  hash64,
  /// The first 64 bits of md5 over the text in UTF-8: portable across
  /// versions, platforms and encodings. The fallback, or `verify.hash = md5`.
  md5,
};

/// The checksum statement over `table` (schema and name unquoted) with
/// `columns` (unquoted, in this order): one row of count and checksum, both
/// text; the checksum is 0 for an empty table.
std::string checksum_sql(std::string_view schema, std::string_view table,
                         const std::vector<std::string>& columns, row_hash hash);

}  // namespace uringmig::engine::verify
