#pragma once

// The tokenizer of the double's SQL (sql.cpp's only): identifiers (bare: upper-cased;
// "quoted": as written), 'strings' with Snowflake's backslash escapes, numbers, operators.

#include <cctype>
#include <string>
#include <string_view>

namespace uringmig::test::snowflake_double::detail {

struct parse_error {
  std::string message;
};

inline std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

/// A tokenizer over the statement: identifiers (bare: upper-cased; "quoted": as written),
/// 'strings', numbers, operators, punctuation.
class lexer {
 public:
  explicit lexer(std::string_view s) : s_(s) {}

  enum class kind { end, word, quoted, string, number, symbol };
  struct token {
    kind k = kind::end;
    std::string text;
  };

  token peek() {
    const std::size_t save = i_;
    token t = next();
    i_ = save;
    return t;
  }

  token next() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_])))
      ++i_;
    token t;
    if (i_ >= s_.size()) return t;
    const char c = s_[i_];
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      const std::size_t b = i_;
      while (i_ < s_.size() &&
             (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '_' || s_[i_] == '$'))
        ++i_;
      t.k = kind::word;
      t.text = upper(s_.substr(b, i_ - b));
    } else if (c == '"' || c == '\'') {
      t.k = c == '"' ? kind::quoted : kind::string;
      ++i_;
      for (;;) {
        if (i_ >= s_.size()) throw parse_error{"unterminated quoted text"};
        if (s_[i_] == c) {
          if (i_ + 1 < s_.size() && s_[i_ + 1] == c) {
            t.text.push_back(c);
            i_ += 2;
            continue;
          }
          ++i_;
          break;
        }
        if (c == '\'' && s_[i_] == '\\') {
          escape(t.text);
          continue;
        }
        t.text.push_back(s_[i_++]);
      }
    } else if (std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.') {
      const std::size_t b = i_++;
      while (i_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[i_])) || s_[i_] == '.'))
        ++i_;
      t.k = kind::number;
      t.text = std::string(s_.substr(b, i_ - b));
    } else {
      for (std::string_view op : {"<=", ">=", "<>", "!="}) {
        if (s_.substr(i_, 2) == op) {
          i_ += 2;
          return {kind::symbol, std::string(op)};
        }
      }
      t.k = kind::symbol;
      t.text = std::string(1, c);
      ++i_;
    }
    return t;
  }

  /// The text between a `(` just read and its matching `)`, which is consumed.
  std::string_view parenthesized() {
    const std::size_t from = i_;
    int depth = 1;
    for (;;) {
      const std::size_t at = i_;
      const token t = next();
      if (t.k == kind::end) throw parse_error{"syntax error: expected )"};
      if (t.k != kind::symbol) continue;
      if (t.text == "(") ++depth;
      if (t.text == ")" && --depth == 0) return s_.substr(from, at - from);
    }
  }

  bool accept_word(std::string_view w) {
    const token t = peek();
    if (t.k != kind::word || t.text != w) return false;
    next();
    return true;
  }
  void expect_word(std::string_view w) {
    if (!accept_word(w)) throw parse_error{"syntax error: expected " + std::string(w)};
  }
  std::string ident() {
    const token t = next();
    if (t.k != kind::word && t.k != kind::quoted)
      throw parse_error{"syntax error: expected a name"};
    return t.text;
  }

 private:
  /// A backslash escape in a 'string' (Snowflake: \\ \' \" \n \t \r \b \f \0; another
  /// letter stands for itself). Octal, \x and \u escapes are outside the double's grammar.
  void escape(std::string& out) {
    if (++i_ >= s_.size()) throw parse_error{"unterminated quoted text"};
    const char e = s_[i_++];
    switch (e) {
      case 'n':
        out.push_back('\n');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 'b':
        out.push_back('\b');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case '0':
        out.push_back('\0');
        break;
      case 'x':
      case 'u':
        throw parse_error{"syntax error: \\x and \\u escapes are not understood by the double"};
      default:
        if (e >= '1' && e <= '7')
          throw parse_error{"syntax error: octal escapes are not understood"};
        out.push_back(e);
    }
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

}  // namespace uringmig::test::snowflake_double::detail
