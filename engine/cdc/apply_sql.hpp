#pragma once

// Internal to engine/cdc/apply*: small pieces the applier's SQL builders share.

#include "engine/cdc/apply.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
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

/// True when rows of `qualified` with different values of `key` (column names) cannot interact
/// on the target: every unique index contains the key, no exclusion constraint, no rule, no
/// trigger that fires under session_replication_role = replica (over its partitions too). Then
/// their changes may be reordered or merged (net apply) and run on different connections.
boost::asio::awaitable<bool> rows_independent(connectors::postgres::connection& c,
                                              const std::string& qualified,
                                              const std::vector<std::string>& key);

/// The columns of `qualified` on the target, one row each: name, generated ('t'/'f'), the cast
/// a parameter takes ("integer"), the type with its modifier ("numeric(12,2)"). No rows: no table.
boost::asio::awaitable<connectors::postgres::result> target_columns(
    connectors::postgres::connection& c, const std::string& qualified);
/// Whether the target table lacks one of `names` (a column added on the source).
boost::asio::awaitable<bool> columns_missing(connectors::postgres::connection& c,
                                             const std::string& qualified,
                                             const std::vector<std::string>& names);

/// Appends one element to a PostgreSQL array literal being built in `out` (after "{" or ","):
/// NULL unquoted, anything else double-quoted with '"' and '\\' escaped.
inline void append_array_item(std::string& out, const std::optional<std::string>& v) {
  if (!v) {
    out += "NULL";
    return;
  }
  out += '"';
  for (char c : *v) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
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
