#pragma once

// What a Stream Load body holds, read the way a Doris 2.x BE reads it: CSV with
// multi-byte separators, enclose/escape and `\N`, JSON objects one per line or
// in an outer array. Pure functions over bytes.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace uringmig::test::doris_double {

using field = std::optional<std::string>;  // nullopt: SQL NULL
using row = std::vector<field>;

/// A separator header as Doris reads it: `\xNN..` is hex bytes, `\t` `\n` `\r`
/// `\\` are escapes, anything else is taken literally. Empty stays empty.
std::string decode_separator(std::string_view header_value);

struct csv_options {
  std::string column_separator = "\t";
  std::string line_delimiter = "\n";
  char enclose = 0;  // 0: none
  char escape = 0;   // 0: none; inside an enclosed field it makes the next enclose/escape literal
  std::size_t skip_lines = 0;  // csv_with_names: 1, csv_with_names_and_types: 2
};

/// One line of input: its fields and its raw bytes (for the error log).
using row_callback = std::function<void(std::string_view raw, row&& fields)>;

/// Calls `on_row` for every non-empty line. An unenclosed field `\N` is NULL.
void parse_csv(std::string_view body, const csv_options& opts, const row_callback& on_row);

/// A JSON object's members in document order. Values are text: strings
/// unescaped, numbers/true/false as written, null as nullopt, objects and
/// arrays as their raw JSON text.
using json_members = std::vector<std::pair<std::string, field>>;

/// Parses one JSON object (surrounding whitespace allowed). nullopt when malformed.
std::optional<json_members> parse_json_object(std::string_view text);

struct json_options {
  bool read_json_by_line = false;
  bool strip_outer_array = false;
};

/// One JSON record: members, or nullopt with the raw text when it does not parse.
using json_callback = std::function<void(std::string_view raw, std::optional<json_members>&&)>;

/// Splits a JSON body into records. Returns an error message in Doris's words
/// when the body as a whole cannot be read (e.g. an array without strip_outer_array).
std::optional<std::string> parse_json_records(std::string_view body, const json_options& opts,
                                              const json_callback& on_record);

/// Number of `byte` in [data, data + size): the discard mode's row counter.
std::uint64_t count_byte(const char* data, std::size_t size, char byte);

/// One row in the record files' text format: fields joined by TAB, NULL as `\N`,
/// and `\` TAB LF CR inside values written as `\\` `\t` `\n` `\r`; ends with LF.
std::string record_line(const row& r);
/// The reverse of record_line for one line without its LF.
row parse_record_line(std::string_view line);

}  // namespace uringmig::test::doris_double
