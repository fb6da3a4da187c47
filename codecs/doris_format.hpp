#pragma once

#include "codecs/json_text.hpp"
#include "codecs/url.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// Rows of PostgreSQL text values (as codecs::copy_text_parser yields them) rewritten as an
// Apache Doris Stream Load body, appended to a caller's buffer one row at a time.
//
// CSV dialect (headers from doris_row_writer::headers()):
//   column_separator \x01, line_delimiter \n (sent as \x0a), enclose ", escape \.
//   - NULL is \N, never enclosed.
//   - A value is written bare unless it is empty or holds one of \x01 \n \r " \ ; then it is
//     enclosed in "..." with every " and \ preceded by \ (nothing else changes inside).
//   Why this round-trips in Doris 2.x/3.x (be/src/vec/exec/format/csv/csv_reader.cpp,
//   new_plain_text_line_reader.cpp, data_type_string_serde.h): with `enclose` set the line
//   reader treats separators and line delimiters inside an enclosed field as data and skips the
//   byte after an escape; the field splitter strips one enclose byte from each end; the NULL test
//   compares that slice with \N *before* unescaping, so the value \N (written "\\N") stays text;
//   a load reads every field as a string and unescapes it (escape_string_for_csv: drops each
//   escape, keeps the byte after it) before casting to the column type. Bare values never hold
//   " or \, so that unescape is the identity for them, and a bare value never ends in \r (the
//   line reader drops a \r before \n unless keep_carriage_return). \x01 is the separator because
//   it practically never occurs in text, so almost every value is written bare; the empty string
//   is "" so it stays distinct from NULL whatever empty_field_as_null says.
//
// JSON lines (format json, read_json_by_line true, num_as_string true): one object per line,
// the column names as keys in column order. NULL is null. Strings are escaped by
// codecs/json_text.hpp (bytes that are not well-formed UTF-8 become \ufffd, so the line always
// parses; a UTF8 PostgreSQL database never produces them). num_as_string makes Doris take numbers
// as their exact text (no trip through double) before casting to the column type.
//
// Per kind (both formats):
//   integer, number  JSON: bare when the text is a JSON number, else a string (NaN, Infinity).
//   boolean          t/f -> true/false (Doris casts "true"/"false"); other text as a string.
//   bytea            "\x0a0b" -> 0a0b (lowercase hex, no prefix: Doris STRING, unhex() to get
//                    the bytes back); text without the \x prefix (bytea_output=escape) as is.
//   json             the document's text as a string (Doris parses it for a JSON column;
//                    embedding it raw would break lines on json's preserved newlines).
//   timestamptz      converted to UTC without an offset (Doris DATETIME has no zone):
//                    "2024-05-01 10:00:00.5+02" -> "2024-05-01 08:00:00.5". Text it cannot
//                    read (infinity, BC, non-ISO DateStyle) is passed on unchanged.
//   text             as is.
// The reader's session should use DateStyle=ISO, bytea_output=hex and client_encoding=UTF8.

namespace uringmig::codecs {

/// How the writer treats a column's values (from doris_type_of(), codecs/doris_types.hpp).
enum class doris_value_kind : std::uint8_t {
  text,
  integer,
  number,
  boolean,
  bytea,
  json,
  timestamptz
};

// doris_format (csv | json) is the one of codecs/url.hpp: the target URL's `format=`.

struct doris_column {
  std::string name;
  doris_value_kind kind = doris_value_kind::text;
};

using http_header_list = std::vector<std::pair<std::string, std::string>>;

inline constexpr char doris_csv_separator = '\x01';
inline constexpr char doris_csv_line_delimiter = '\n';
inline constexpr char doris_csv_enclose = '"';
inline constexpr char doris_csv_escape = '\\';

class doris_row_writer {
 public:
  doris_row_writer(doris_format format, std::vector<doris_column> columns);

  /// Appends one row and its line delimiter to `out`. `fields` are in column order (nullopt:
  /// NULL). Returns false and appends nothing when the field count differs from the columns'.
  [[nodiscard]] bool append_row(std::string& out,
                                const std::vector<std::optional<std::string_view>>& fields) const;

  /// The Stream Load headers that make Doris read what append_row writes (format, separators,
  /// enclose/escape or the JSON switches, and `columns`: the file's column names in file order,
  /// so Doris maps them by name whatever the table's column order is).
  http_header_list headers() const;

  doris_format format() const { return format_; }
  const std::vector<doris_column>& columns() const { return columns_; }

 private:
  void append_csv(std::string& out, const std::vector<std::optional<std::string_view>>& f) const;
  void append_json(std::string& out, const std::vector<std::optional<std::string_view>>& f) const;

  doris_format format_;
  std::vector<doris_column> columns_;
  std::string json_keys_;                   // `{"a":` then `,"b":` ... back to back
  std::vector<std::size_t> json_key_ends_;  // end of each column's key in json_keys_
};

using timestamp_buffer = std::array<char, 48>;

/// A timestamptz text (DateStyle ISO) shifted to UTC without its offset; `text` unchanged when it
/// cannot be read. The result views `text` or `buf`.
std::string_view timestamptz_to_utc(std::string_view text, timestamp_buffer& buf);

}  // namespace uringmig::codecs
