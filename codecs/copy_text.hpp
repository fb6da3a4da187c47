#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// PostgreSQL COPY text format (the default of COPY ... TO STDOUT), parsed incrementally:
// rows end with '\n', fields are separated by '\t', "\N" is NULL, and a backslash escapes
// \b \f \n \r \t \v \\, octal \ooo (1-3 digits) and hex \xhh (1-2 digits); any other escaped
// character stands for itself. Input arrives in arbitrary pieces (a row may span pieces).

namespace uringmig::codecs {

class copy_text_parser {
 public:
  /// Fields of one row: nullopt for NULL, else the unescaped bytes (valid during the call).
  using row_fn = std::function<void(const std::vector<std::optional<std::string_view>>&)>;

  /// Feeds a piece; calls `on_row` for every row it completes. Returns false with error()
  /// set when a row has a different field count than `expected_fields` (when > 0).
  bool feed(std::string_view piece, const row_fn& on_row);
  /// The input ended: true when no partial row is left.
  bool finish() const { return carry_.empty(); }

  void expect_fields(std::size_t n) { expected_ = n; }
  const std::string& error() const { return error_; }
  std::int64_t rows() const { return rows_; }

 private:
  bool parse_row(std::string_view line, const row_fn& on_row);

  std::string carry_;  // an incomplete row from the previous piece
  std::string scratch_;
  std::vector<std::size_t> offsets_;  // field starts in scratch_ (or npos for NULL)
  std::vector<std::size_t> lengths_;
  std::vector<std::optional<std::string_view>> fields_;
  std::size_t expected_ = 0;
  std::int64_t rows_ = 0;
  std::string error_;
};

/// NULL in COPY text.
inline constexpr std::string_view copy_text_null = "\\N";

/// Appends `raw` as one COPY text field, escaped as COPY TO writes it: backslash, \b \f \n \r
/// \t \v as two-byte escapes; every other byte (UTF-8 included) as is. The project's one COPY
/// text escaper: whatever writes COPY text goes through it.
void append_copy_text_escaped(std::string& out, std::string_view raw);

/// Decodes bytea's hex output ("\x0a0b..."); nullopt when malformed.
std::optional<std::string> decode_bytea_hex(std::string_view text);

}  // namespace uringmig::codecs

namespace uringmig::codecs {

/// Appends `bytes` as a bytea field of COPY text in hex form (`\\x0a0b`: the backslash escaped).
void append_copy_bytea(std::string& out, std::string_view bytes);

}  // namespace uringmig::codecs
