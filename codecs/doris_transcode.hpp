#pragma once

// PostgreSQL COPY text straight into the Doris CSV dialect of codecs/doris_format.hpp, the
// same bytes doris_row_writer writes, faster. The reading session must use TimeZone UTC and
// bytea_output hex (engine/doris/run.cpp sets them).
//
// Most rows take one pass: their special bytes are found 16 at a time, their only backslashes
// start a whole-field \N (NULL, the same in both formats) or a bytea's \\x, and they hold no
// '"', \x01 or empty field; fields are copied as they are, booleans become true/false,
// timestamptz values lose their "+00", bytea values their \x. Any other row goes through
// copy_text_parser and doris_row_writer, which enclose, escape and convert it.

#include "codecs/byte_buffer.hpp"
#include "codecs/copy_text.hpp"
#include "codecs/doris_format.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace uringmig::codecs {

class doris_csv_transcoder {
 public:
  /// `columns`: the writer's columns (names and kinds); the field count rows must have.
  explicit doris_csv_transcoder(std::vector<doris_column> columns);

  /// Appends the rows `piece` completes to `out`. False (error() set) on malformed input or
  /// a row with another field count; nothing of that row is appended.
  [[nodiscard]] bool feed(std::string_view piece, byte_buffer& out);
  /// The input ended: true when no partial row is left.
  bool finish() const { return carry_.empty(); }

  std::int64_t rows() const { return rows_; }
  std::int64_t slow_rows() const { return slow_rows_; }
  const std::string& error() const { return error_; }

 private:
  bool line(std::string_view l, byte_buffer& out);  // without its '\n'
  bool fast_line(std::string_view l, byte_buffer& out);
  bool slow_line(std::string_view l, byte_buffer& out);

  doris_row_writer writer_;
  copy_text_parser parser_;
  std::size_t fields_;
  std::vector<doris_value_kind> kinds_;
  std::vector<std::size_t> ends_;  // field ends of the row being transcoded
  std::string carry_;
  std::string one_;   // a slow row with its '\n'
  std::string slow_;  // ... as the general writer wrote it
  std::int64_t rows_ = 0;
  std::int64_t slow_rows_ = 0;
  std::string error_;
};

}  // namespace uringmig::codecs
