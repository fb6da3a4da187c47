#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace uringmig::engine {

/// How a chunk selects its rows. `explicit_range` is spelled "explicit" in the state store.
enum class chunk_kind { whole, int_range, ctid_range, explicit_range };

/// One unit of idempotent work: copied (and marked done) atomically, or redone from scratch.
struct planned_chunk {
  int chunk_no = 0;
  chunk_kind kind = chunk_kind::whole;
  std::optional<std::string> lower;  // bound as text (an integer, a ctid "(block,0)", ...)
  std::optional<std::string> upper;
  std::string where_sql;  // the predicate used, "" for a whole table

  bool operator==(const planned_chunk&) const = default;
};

/// One table of the plan with its chunks in copy order.
struct planned_table {
  std::string schema;
  std::string name;
  std::int64_t bytes = 0;
  std::int64_t rows_estimate = 0;  // -1 when never analysed
  std::vector<planned_chunk> chunks;

  bool operator==(const planned_table&) const = default;
};

std::string_view to_string(chunk_kind kind) noexcept;
/// Inverse of to_string; nullopt for anything else.
std::optional<chunk_kind> parse_chunk_kind(std::string_view text) noexcept;

}  // namespace uringmig::engine
