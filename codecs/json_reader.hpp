#pragma once

// A small reader for the JSON objects HTTP APIs answer with (Doris Stream Load results, FE
// errors, 2PC; Snowflake SQL API statuses and errors). Pure: no I/O, no dependency.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace uringmig::codecs::json {

enum class kind { string, number, boolean, null, object, array };

struct value {
  json::kind kind = json::kind::null;
  /// string: unescaped UTF-8; number: as written; boolean: "true"/"false";
  /// null: empty; object/array: the raw JSON text, validated.
  std::string text;
};

struct object {
  std::vector<std::pair<std::string, value>> members;  // document order
  /// The first member named `key` (case-sensitive), or nullptr.
  const value* find(std::string_view key) const;
};

/// An object, or one line saying where the text stops being JSON.
struct object_result {
  std::optional<object> value;
  std::string error;
  explicit operator bool() const noexcept { return value.has_value(); }
};

/// Reads one JSON object (whitespace around it allowed, nothing else).
object_result read_object(std::string_view text);

/// Reads one JSON array into its elements; nullopt when it is not one.
std::optional<std::vector<value>> read_array(std::string_view text);

/// One string literal at the start of `text` (on its opening quote).
struct string_read {
  std::size_t end = 0;      // just past the closing quote, when complete
  bool incomplete = false;  // `text` ended inside the literal
  std::string error;        // malformed: why
  std::size_t error_at = 0;
};
/// Appends the literal's unescaped contents (UTF-8; \u escapes and surrogate pairs decoded)
/// to `out`. The project's one JSON string decoder.
string_read read_string(std::string_view text, std::string& out);

}  // namespace uringmig::codecs::json
