#pragma once

// Internal to engine/cdc/apply*: small pieces the applier's SQL builders share.

#include "engine/cdc/apply.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace uringmig::engine::cdc::detail {

/// Bind parameters one statement may carry (the protocol's 16-bit count).
inline constexpr std::size_t max_bind_params = 65535;

[[noreturn]] inline void fail(const std::string& what) {
  throw std::runtime_error("cdc apply: " + what);
}

/// A tuple's value as a text parameter; an unchanged TOAST or binary value where a value is
/// needed is an error naming the table and column.
inline std::optional<std::string> value_of(const codecs::pgoutput::column_value& v,
                                           const relation_info& rel, std::size_t col) {
  namespace pgo = codecs::pgoutput;
  switch (v.kind) {
    case pgo::value_kind::null:
      return std::nullopt;
    case pgo::value_kind::text:
      return std::string(v.data);
    case pgo::value_kind::unchanged_toast:
      fail("table " + rel.qualified + " column " + rel.columns[col].name +
           ": an unchanged TOAST value where a value is needed");
    case pgo::value_kind::binary:
      break;
  }
  fail("table " + rel.qualified + " column " + rel.columns[col].name +
       ": binary values are not supported (stream without binary 'true')");
}

/// As value_of, viewing the tuple's bytes.
inline std::optional<std::string_view> text_of(const codecs::pgoutput::column_value& v,
                                               const relation_info& rel, std::size_t col) {
  if (v.kind == codecs::pgoutput::value_kind::text) return v.data;
  if (v.kind != codecs::pgoutput::value_kind::null) (void)value_of(v, rel, col);  // fails
  return std::nullopt;
}

/// A column of a target table.
struct target_column {
  std::string name;
  bool generated = false;
  std::string cast;       // "integer"
  std::string full_type;  // "numeric(12,2)"
};

/// What the applier knows of a target table (cdc/apply_catalog.cpp): asked for every table at
/// once when the applier opens, or for one table when a Relation message names one the first
/// answer lacks (created since) or changes its definition. A parallel applier's dispatcher
/// holds them; its lanes take them from there.
struct target_table {
  std::vector<target_column> columns;
  /// The plain columns of each unique index over the table and its partitions.
  std::vector<std::vector<std::string>> unique_sets;
  bool exclusion = false;  // an exclusion constraint (over its partitions too)
  /// A rule, or a trigger that fires under session_replication_role = replica (over its
  /// partitions too): it would see the order of rows.
  bool ordered = false;
  /// A valid btree or hash index without a predicate whose first column is a plain column: it
  /// finds a REPLICA IDENTITY FULL row without a scan.
  bool lookup_index = false;
  /// Rows with different values of `key` (column names) cannot interact on the target: every
  /// unique index contains the key, no exclusion constraint, no rule, no trigger that fires in
  /// replica mode. Then their changes may be reordered or merged (net apply) and run on
  /// different connections.
  bool independent(const std::vector<std::string>& key) const;
};
using target_tables = std::unordered_map<std::string, target_table>;  // by "ns"."rel"
/// One round trip: every table of the target database outside the system schemas (`qualified`
/// empty), or the one `qualified` names (none when it does not exist).
boost::asio::awaitable<target_tables> fetch_target_tables(connectors::postgres::connection& c,
                                                          const std::string& qualified = {});
/// fetch_target_tables of one table; nullopt when the target has no such table.
boost::asio::awaitable<std::optional<target_table>> ask_target_table(
    connectors::postgres::connection& c, const std::string& qualified);

/// A column added on the source, as the source's catalog defines it (cdc/apply_columns.cpp).
struct added_column {
  std::string name;
  std::string type;       // with its modifier: "numeric(10,2)"
  std::string collation;  // "pg_catalog.\"C\"" when not the type's default; else empty
  /// The value the rows that existed when it was added got, stored once (a constant default).
  std::optional<std::string> missing;
  std::string default_expr;  // its default for new rows, as the source prints it; or empty
  bool not_null = false;
  std::string identity;          // "a" (ALWAYS), "d" (BY DEFAULT) or empty
  std::string sequence;          // the sequence it owns (serial, identity), qualified; or empty
  std::string sequence_type;     // "integer"
  std::string sequence_options;  // "INCREMENT BY 1 MINVALUE 1 ... NO CYCLE"
  /// The rows that existed got a value each, computed per row (a volatile default, an identity):
  /// the stream does not carry them, copy_values() does.
  bool per_row = false;

  /// On the target, in order: the sequence a serial column uses, the column (with its constant
  /// default's value for the rows there), the sequence's owner.
  std::vector<std::string> statements(const std::string& qualified) const;
  /// Once the rows have their values: NOT NULL when it waited for them, the column's own default
  /// (or identity, BY DEFAULT: the follower writes the values).
  std::vector<std::string> after_values(const std::string& qualified) const;
};

/// The column `c` of the source's table `oid` as the source defines it now. Only `name` and
/// `type` are set when the source has no such column (any more) of that type.
boost::asio::awaitable<added_column> describe_added(connectors::postgres::connection& src,
                                                    std::uint32_t oid, const column_info& c);
/// Gives the target's rows of `rel` (found by its key columns) the source's values of `column`,
/// in the target's open transaction; returns how many rows the source had with a value. Why that
/// is exact while following: cdc/apply_columns.cpp. Throws postgres::error.
boost::asio::awaitable<std::int64_t> copy_values(connectors::postgres::connection& src,
                                                 connectors::postgres::connection& dst,
                                                 const relation_info& rel,
                                                 const std::string& column);

/// Appends one element to a PostgreSQL array literal being built in `out` (after "{" or ","):
/// NULL unquoted, anything else double-quoted with '"' and '\\' escaped.
inline void append_array_item(std::string& out, std::optional<std::string_view> v) {
  if (!v) {
    out += "NULL";
    return;
  }
  out += '"';
  // Most values hold neither '"' nor '\\': found by memchr, appended whole.
  std::string_view rest = *v;
  while (!rest.empty()) {
    const auto* q = static_cast<const char*>(std::memchr(rest.data(), '"', rest.size()));
    const auto* b = static_cast<const char*>(std::memchr(rest.data(), '\\', rest.size()));
    const char* at = q == nullptr ? b : (b == nullptr ? q : std::min(q, b));
    if (at == nullptr) {
      out.append(rest);
      break;
    }
    const auto n = static_cast<std::size_t>(at - rest.data());
    out.append(rest.substr(0, n));
    out += '\\';
    out += *at;
    rest.remove_prefix(n + 1);
  }
  out += '"';
}

/// "$n::type" for column `c`.
/// One column of a row's identity, appended to `key`: a tag, then (for a value) its length and
/// bytes — distinct values, distinct encodings (a NULL cannot equal a length byte).
inline void append_key(std::string& key, const codecs::pgoutput::column_value& v) {
  if (v.is_null()) {
    key += 'n';
    return;
  }
  const auto n = static_cast<std::uint32_t>(v.data.size());
  char len[4];
  std::memcpy(len, &n, sizeof len);
  key += 'v';
  key.append(len, sizeof len);
  key.append(v.data);
}

inline std::string param(std::size_t n, const column_info& c) {
  return "$" + std::to_string(n) + c.cast;
}

}  // namespace uringmig::engine::cdc::detail
