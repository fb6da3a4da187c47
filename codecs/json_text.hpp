#pragma once

#include <string>
#include <string_view>

// JSON text, the one escaper of the project (Doris JSON lines, the JSON log, `status --json`).
// A string escapes " \ and U+0000-U+001F (\n \r \t \b \f, else \u00XX); well-formed UTF-8 is
// copied as is; a byte that does not start a well-formed sequence (Unicode table 3-7: no
// overlongs, no surrogates, nothing above U+10FFFF, no truncated sequence) becomes \ufffd, one
// per byte, so the output always parses, whatever the input's encoding.

namespace uringmig::codecs {

/// Appends `bytes` as a JSON string literal, quotes included.
void append_json_string(std::string& out, std::string_view bytes);

/// `bytes` as a JSON string literal, quotes included.
std::string json_string(std::string_view bytes);

/// True when `text` is exactly a JSON number (RFC 8259 grammar).
bool is_json_number(std::string_view text);

}  // namespace uringmig::codecs
