#include "tests/doris_double/query.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace uringmig::test::doris_double {

namespace {

struct token {
  enum kind { word, ident, number, string, symbol, end } k = end;
  std::string text;
};

std::vector<token> tokenize(std::string_view s, std::string& error) {
  std::vector<token> out;
  std::size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c)) != 0) {
      ++i;
    } else if (c == '`' || c == '\'') {
      token t{c == '`' ? token::ident : token::string, ""};
      for (++i;; ++i) {
        if (i >= s.size()) {
          error = "unterminated quote";
          return out;
        }
        if (s[i] == c && i + 1 < s.size() && s[i + 1] == c) {
          t.text.push_back(c);
          ++i;
        } else if (s[i] == c) {
          break;
        } else {
          t.text.push_back(s[i]);
        }
      }
      ++i;
      out.push_back(std::move(t));
    } else if (c == '-' || std::isdigit(static_cast<unsigned char>(c)) != 0) {
      std::size_t j = i + 1;
      while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j])) != 0)
        ++j;
      out.push_back({token::number, std::string(s.substr(i, j - i))});
      i = j;
    } else if (std::isalpha(static_cast<unsigned char>(c)) != 0 || c == '_') {
      std::size_t j = i;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) != 0 || s[j] == '_'))
        ++j;
      out.push_back({token::word, std::string(s.substr(i, j - i))});
      i = j;
    } else if ((c == '>' || c == '<') && i + 1 < s.size() && s[i + 1] == '=') {
      out.push_back({token::symbol, std::string(s.substr(i, 2))});
      i += 2;
    } else if (c == ',' || c == '.' || c == '<' || c == '>' || c == '=' || c == ';') {
      out.push_back({token::symbol, std::string(1, c)});
      ++i;
    } else {
      error = std::string("unexpected character '") + c + "'";
      return out;
    }
  }
  out.push_back({});
  return out;
}

bool keyword(const token& t, std::string_view w) {
  if (t.k != token::word || t.text.size() != w.size()) return false;
  for (std::size_t i = 0; i < w.size(); ++i)
    if (std::toupper(static_cast<unsigned char>(t.text[i])) != w[i]) return false;
  return true;
}

bool is_integer(std::string_view v) {
  if (v.empty()) return false;
  std::size_t i = v[0] == '-' ? 1 : 0;
  if (i == v.size()) return false;
  return std::all_of(v.begin() + static_cast<std::ptrdiff_t>(i), v.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; });
}

/// -1, 0, 1: numbers as numbers when both are integers, else bytes.
int compare(std::string_view a, std::string_view b) {
  if (is_integer(a) && is_integer(b)) {
    const long long x = std::strtoll(std::string(a).c_str(), nullptr, 10);
    const long long y = std::strtoll(std::string(b).c_str(), nullptr, 10);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  const int r = a.compare(b);
  return r < 0 ? -1 : r > 0 ? 1 : 0;
}

struct condition {
  std::size_t column = 0;
  std::string op;
  std::string value;
};

}  // namespace

query_result run_select(const store& st, const std::string& db, std::string_view stmt,
                        std::uint64_t limit) {
  query_result r;
  std::string error;
  const std::vector<token> t = tokenize(stmt, error);
  auto fail = [&](const std::string& why) {
    r.error = "errCode = 2, detailMessage = " + why;
    return r;
  };
  if (!error.empty()) return fail(error);
  std::size_t i = 0;
  auto name = [&](std::string& out) {
    if (t[i].k != token::ident && t[i].k != token::word) return false;
    out = t[i++].text;
    return true;
  };
  if (!keyword(t[i++], "SELECT")) return fail("the test double answers SELECT statements only");
  std::vector<std::string> cols;
  for (;;) {
    std::string c;
    if (!name(c)) return fail("a column name expected");
    cols.push_back(c);
    if (t[i].k == token::symbol && t[i].text == ",") {
      ++i;
      continue;
    }
    break;
  }
  if (!keyword(t[i++], "FROM")) return fail("FROM expected");
  std::string table;
  std::string in_db = db;
  if (!name(table)) return fail("a table name expected");
  if (t[i].k == token::symbol && t[i].text == ".") {
    ++i;
    in_db = table;
    if (!name(table)) return fail("a table name expected");
  }
  const std::optional<table_schema> schema = st.schema(in_db, table);
  if (!schema) return fail("Unknown table '" + table + "'");
  auto column_at = [&](const std::string& c) -> std::optional<std::size_t> {
    for (std::size_t k = 0; k < schema->names.size(); ++k)
      if (schema->names[k] == c) return k;
    return std::nullopt;
  };
  std::vector<std::size_t> picked;
  for (const auto& c : cols) {
    const auto at = column_at(c);
    if (!at) return fail("Unknown column '" + c + "' in 'table list'");
    picked.push_back(*at);
    r.names.push_back(c);
    r.types.push_back(*at < schema->types.size() ? schema->types[*at] : "VARCHAR");
  }
  std::vector<condition> where;
  if (keyword(t[i], "WHERE")) {
    do {
      ++i;
      condition c;
      std::string col;
      if (!name(col)) return fail("a column name expected in WHERE");
      const auto at = column_at(col);
      if (!at) return fail("Unknown column '" + col + "' in 'where clause'");
      c.column = *at;
      if (t[i].k != token::symbol || (t[i].text != ">=" && t[i].text != "<" && t[i].text != "="))
        return fail("the test double compares with >=, < or = only");
      c.op = t[i++].text;
      if (t[i].k != token::number && t[i].k != token::string) return fail("a literal expected");
      c.value = t[i++].text;
      where.push_back(std::move(c));
    } while (keyword(t[i], "AND"));
  }
  if (t[i].k == token::symbol && t[i].text == ";") ++i;
  if (t[i].k != token::end) return fail("unexpected '" + t[i].text + "'");
  for (const row& rw : st.rows(in_db, table)) {
    const bool keep = std::all_of(where.begin(), where.end(), [&](const condition& c) {
      if (c.column >= rw.size() || !rw[c.column]) return false;  // NULL compares to nothing
      const int cmp = compare(*rw[c.column], c.value);
      return c.op == ">=" ? cmp >= 0 : c.op == "<" ? cmp < 0 : cmp == 0;
    });
    if (!keep) continue;
    if (r.rows.size() >= limit) break;
    row out;
    for (const std::size_t k : picked)
      out.push_back(k < rw.size() ? rw[k] : field());
    r.rows.push_back(std::move(out));
  }
  return r;
}

std::string result_set_json(const query_result& r) {
  std::string meta;
  for (std::size_t k = 0; k < r.names.size(); ++k)
    meta += (k == 0 ? "" : ",") + std::string("{\"name\":") + json_quote(r.names[k]) +
            ",\"type\":" + json_quote(r.types[k]) + "}";
  auto integer_type = [](const std::string& type) {
    return type == "TINYINT" || type == "SMALLINT" || type == "INT" || type == "BIGINT" ||
           type == "LARGEINT";
  };
  std::string data;
  for (std::size_t n = 0; n < r.rows.size(); ++n) {
    data += n == 0 ? "[" : ",[";
    for (std::size_t k = 0; k < r.rows[n].size(); ++k) {
      if (k > 0) data += ",";
      const field& f = r.rows[n][k];
      if (!f)
        data += "null";
      else if (integer_type(r.types[k]) && is_integer(*f))
        data += *f;
      else
        data += json_quote(*f);
    }
    data += "]";
  }
  return "{\"type\":\"result_set\",\"meta\":[" + meta + "],\"data\":[" + data +
         "],\"status\":{},\"time\":1}";
}

}  // namespace uringmig::test::doris_double
