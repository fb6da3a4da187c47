#pragma once

#include <string>
#include <string_view>

namespace uringmig::codecs {

/// "name" with embedded quotes doubled: always quoted, so mixed case,
/// reserved words and odd characters survive.
std::string quote_ident(std::string_view name);

/// 'text' with embedded quotes doubled (standard_conforming_strings on).
std::string quote_literal(std::string_view text);

/// schema.table, both quoted.
std::string qualified_name(std::string_view schema, std::string_view table);

/// A name or message for a terminal or a one-line log: control characters become `\n`, `\r`,
/// `\t` or `\xNN`, so a table called "a<newline>b" cannot fake a line of output.
std::string printable(std::string_view text);

/// Shell-style glob over the whole text: '*' any run, '?' one character,
/// '\' escapes the next character. Used for --tables / --exclude over "schema.table".
bool glob_match(std::string_view pattern, std::string_view text);

}  // namespace uringmig::codecs
