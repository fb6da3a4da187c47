#include "codecs/sql_text.hpp"

#include <vector>

namespace uringmig::codecs {

namespace {

std::string quote_with(std::string_view s, char q) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back(q);
  for (char c : s) {
    if (c == q) out.push_back(q);
    out.push_back(c);
  }
  out.push_back(q);
  return out;
}

}  // namespace

std::string quote_ident(std::string_view name) {
  return quote_with(name, '"');
}

std::string quote_literal(std::string_view text) {
  return quote_with(text, '\'');
}

std::string qualified_name(std::string_view schema, std::string_view table) {
  return quote_ident(schema) + "." + quote_ident(table);
}

bool glob_match(std::string_view p, std::string_view t) {
  // Iterative matcher with one backtrack point per '*': linear in practice.
  std::size_t pi = 0, ti = 0;
  std::size_t star = std::string_view::npos, mark = 0;
  while (ti < t.size()) {
    if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = ti;
      continue;
    }
    if (pi < p.size()) {
      char pc = p[pi];
      std::size_t step = 1;
      if (pc == '\\' && pi + 1 < p.size()) {
        pc = p[pi + 1];
        step = 2;
        if (pc == t[ti]) {
          pi += step;
          ++ti;
          continue;
        }
      } else if (pc == '?' || pc == t[ti]) {
        pi += step;
        ++ti;
        continue;
      }
    }
    if (star == std::string_view::npos) return false;
    pi = star + 1;
    ti = ++mark;
  }
  while (pi < p.size() && p[pi] == '*')
    ++pi;
  return pi == p.size();
}

std::string printable(std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto b = static_cast<unsigned char>(c);
    if (b >= 0x20 && b != 0x7f) {
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      out += "\\x";
      out += hex[b >> 4];
      out += hex[b & 15];
    }
  }
  return out;
}

}  // namespace uringmig::codecs
