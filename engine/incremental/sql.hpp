// SQL text both sources and the target build from a row_query: the predicate, in PostgreSQL's
// and SQLite's shared dialect (double-quoted names, single-quoted literals).
#pragma once

#include "engine/incremental/source.hpp"

#include <string>

namespace uringmig::engine::incremental {

/// A literal of class `c` for a comparison with a column of source type `type`:
/// `'2024-01-01 00:00:00'::timestamp` when `cast` (PostgreSQL), else the bare literal
/// (integers and numerics unquoted: SQLite compares a quoted number as text).
std::string literal(value_class c, const std::string& value, const std::string& type, bool cast);

/// The WHERE condition of `q` ("true" when it selects everything); `types` gives the source type
/// of the watermark and the chunk column for the casts (empty: no casts). `c_order`
/// (PostgreSQL): a text-class chunk range compares chunk_order_expr(), byte order whatever the
/// database's collation, as the boundaries were picked.
std::string where_of(const row_query& q, const std::string& watermark_type,
                     const std::string& chunk_type, bool cast, bool c_order = false);

/// PostgreSQL: `("c")::text COLLATE "C"`, the order grouped-value chunks of a text-class column
/// (text, varchar, uuid) are cut and read in.
std::string chunk_order_expr(const std::string& column);

/// "a", "b", "c": the quoted column list.
std::string column_list(const std::vector<std::string>& columns, const std::string& prefix = {});

}  // namespace uringmig::engine::incremental
