#include "tests/snowflake_double/sql.hpp"

#include "codecs/civil_date.hpp"
#include "codecs/json_text.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <stdexcept>

namespace uringmig::test::snowflake_double {

namespace {

struct parse_error {
  std::string message;
};

std::string upper(std::string_view s) {
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
  std::string_view s_;
  std::size_t i_ = 0;
};

/// Seconds since the epoch of 'YYYY-MM-DD[ HH:MM:SS[.f]]'; nullopt when not in that form.
std::optional<sf::epoch_time> parse_iso(const std::string& s) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0, n = 0;
  if (std::sscanf(s.c_str(), "%d-%d-%d%n", &y, &mo, &d, &n) != 3) return std::nullopt;
  sf::epoch_time t;
  std::string_view rest = std::string_view(s).substr(static_cast<std::size_t>(n));
  // A trailing UTC offset (" +05:30", "-08", "Z"): the instant is the wall time minus it.
  int offset_s = 0;
  if (!rest.empty() && rest.back() == 'Z') rest.remove_suffix(1);
  if (const auto at = rest.find_last_of("+-"); at != std::string_view::npos) {
    int oh = 0, om = 0;
    const std::string off(rest.substr(at + 1));
    if (std::sscanf(off.c_str(), "%d:%d", &oh, &om) < 1 &&
        std::sscanf(off.c_str(), "%2d%2d", &oh, &om) < 1)
      return std::nullopt;
    offset_s = (rest[at] == '-' ? -1 : 1) * (oh * 3600 + om * 60);
    rest = rest.substr(0, at);
  }
  while (!rest.empty() && rest.back() == ' ')
    rest.remove_suffix(1);
  if (!rest.empty()) {
    int m = 0;
    if (std::sscanf(rest.data(), " %d:%d:%d%n", &h, &mi, &se, &m) != 3) return std::nullopt;
    rest.remove_prefix(static_cast<std::size_t>(m));
    if (!rest.empty()) {
      auto frac = sf::parse_epoch("0" + std::string(rest));
      if (!frac || rest.front() != '.') return std::nullopt;
      t.nanos = frac->nanos;
      t.scale = frac->scale;
    }
  }
  t.seconds =
      codecs::days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 +
      h * 3600 + mi * 60 + se - offset_s;
  return t;
}

/// -1, 0, 1 comparing a stored value with a literal, by the column's type.
int compare(const sf::column& c, const std::string& value, const std::string& literal) {
  if (c.type == sf::sf_type::fixed || c.type == sf::sf_type::real) {
    const long double a = std::strtold(value.c_str(), nullptr);
    const long double b = std::strtold(literal.c_str(), nullptr);
    return a < b ? -1 : (a > b ? 1 : 0);
  }
  if (const auto a = sf::instant_of(c, value)) {
    std::optional<sf::epoch_time> b = parse_iso(literal);
    if (!b) b = sf::parse_epoch(literal);
    if (!b) throw parse_error{"cannot compare " + c.name + " with '" + literal + "'"};
    return *a < *b ? -1 : (*b < *a ? 1 : 0);
  }
  return value < literal ? -1 : (literal < value ? 1 : 0);
}

std::size_t column_index(const table& t, const std::string& name) {
  for (std::size_t i = 0; i < t.columns.size(); ++i)
    if (t.columns[i].name == name) return i;
  throw parse_error{"invalid identifier '" + name + "'"};
}

bool matches(const std::string& op, int cmp) {
  if (op == "=") return cmp == 0;
  if (op == "<>" || op == "!=") return cmp != 0;
  if (op == "<") return cmp < 0;
  if (op == "<=") return cmp <= 0;
  if (op == ">") return cmp > 0;
  if (op == ">=") return cmp >= 0;
  throw parse_error{"syntax error: unknown operator " + op};
}

/// A WHERE condition: AND / OR / NOT of comparisons, IS [NOT] NULL and TRUE / FALSE.
struct condition {
  enum class kind { all, any, negate, compare, is_null, constant } k = kind::constant;
  std::vector<condition> parts;
  std::size_t column = 0;
  std::string op;
  std::string literal;
  bool value = true;  // constant; is_null: true for IS NULL, false for IS NOT NULL
};

/// A literal: 'text', a number, TRUE or FALSE, optionally cast (`'...'::TIMESTAMP_NTZ(9)`: the
/// type is accepted and the text compared by the column's type).
std::string read_literal(lexer& lx) {
  const auto lit = lx.next();
  std::string text = lit.text;
  if (lit.k == lexer::kind::word && (lit.text == "TRUE" || lit.text == "FALSE")) {
    text = lit.text == "TRUE" ? "true" : "false";
  } else if (lit.k != lexer::kind::string && lit.k != lexer::kind::number) {
    throw parse_error{"syntax error: expected a literal"};
  }
  if (lx.peek().text == ":") {
    lx.next();
    if (lx.next().text != ":") throw parse_error{"syntax error: expected ::"};
    if (lx.next().k != lexer::kind::word) throw parse_error{"syntax error: expected a type"};
    if (lx.peek().text == "(") {
      while (lx.peek().k != lexer::kind::end && lx.next().text != ")") {
      }
    }
  }
  return text;
}

condition parse_or(lexer& lx, const table& t);

condition parse_factor(lexer& lx, const table& t) {
  condition c;
  if (lx.accept_word("NOT")) {
    c.k = condition::kind::negate;
    c.parts.push_back(parse_factor(lx, t));
    return c;
  }
  if (lx.peek().text == "(") {
    lx.next();
    c = parse_or(lx, t);
    if (lx.next().text != ")") throw parse_error{"syntax error: expected )"};
    return c;
  }
  if (lx.peek().k == lexer::kind::word && (lx.peek().text == "TRUE" || lx.peek().text == "FALSE")) {
    c.value = lx.next().text == "TRUE";
    return c;
  }
  c.column = column_index(t, lx.ident());
  if (lx.accept_word("IS")) {
    c.k = condition::kind::is_null;
    c.value = !lx.accept_word("NOT");
    lx.expect_word("NULL");
    return c;
  }
  c.k = condition::kind::compare;
  c.op = lx.next().text;
  c.literal = read_literal(lx);
  (void)matches(c.op, 0);  // an unknown operator is a syntax error now, not per row
  return c;
}

condition parse_and(lexer& lx, const table& t) {
  condition c = parse_factor(lx, t);
  if (lx.peek().text != "AND") return c;
  condition all;
  all.k = condition::kind::all;
  all.parts.push_back(std::move(c));
  while (lx.accept_word("AND"))
    all.parts.push_back(parse_factor(lx, t));
  return all;
}

condition parse_or(lexer& lx, const table& t) {
  condition c = parse_and(lx, t);
  if (lx.peek().text != "OR") return c;
  condition any;
  any.k = condition::kind::any;
  any.parts.push_back(std::move(c));
  while (lx.accept_word("OR"))
    any.parts.push_back(parse_and(lx, t));
  return any;
}

/// SQL's three values: 0 false, 1 true, 2 unknown (a comparison with NULL).
int eval(const condition& c, const table& t, const row& r) {
  switch (c.k) {
    case condition::kind::constant:
      return c.value ? 1 : 0;
    case condition::kind::is_null:
      return r[c.column].has_value() != c.value ? 1 : 0;
    case condition::kind::compare:
      if (!r[c.column]) return 2;
      return matches(c.op, compare(t.columns[c.column], *r[c.column], c.literal)) ? 1 : 0;
    case condition::kind::negate: {
      const int v = eval(c.parts[0], t, r);
      return v == 2 ? 2 : 1 - v;
    }
    case condition::kind::all: {
      int out = 1;
      for (const auto& p : c.parts)
        if (const int v = eval(p, t, r); v == 0)
          return 0;
        else if (v == 2)
          out = 2;
      return out;
    }
    case condition::kind::any: {
      int out = 0;
      for (const auto& p : c.parts)
        if (const int v = eval(p, t, r); v == 1)
          return 1;
        else if (v == 2)
          out = 2;
      return out;
    }
  }
  return 0;
}

/// A select item: a column, or COUNT(*) / MIN(name) / MAX(name).
struct item {
  std::string aggregate;  // "" for a plain column
  std::size_t column = 0;
};

/// -1, 0, 1 comparing two stored values of column `c` (times by instant, TIMESTAMP_TZ too).
int compare_stored(const sf::column& c, const std::string& a, const std::string& b) {
  const auto x = sf::instant_of(c, a);
  const auto y = sf::instant_of(c, b);
  if (x && y) return *x < *y ? -1 : (*y < *x ? 1 : 0);
  return compare(c, a, b);
}

/// One row of aggregates over the rows `keep`, with its columns.
void aggregate(const table& t, const std::vector<item>& items, const std::vector<std::size_t>& keep,
               select_result& out) {
  row r;
  for (const item& it : items) {
    if (it.aggregate == "COUNT") {
      sf::column c{"COUNT(*)", "fixed", sf::sf_type::fixed, std::nullopt, 18, 0, false};
      out.columns.push_back(c);
      r.push_back(std::to_string(keep.size()));
      continue;
    }
    sf::column c = t.columns[it.column];
    c.name = it.aggregate + "(" + c.name + ")";
    out.columns.push_back(c);
    std::optional<std::string> best;
    for (std::size_t i : keep) {
      const auto& v = t.rows[i][it.column];
      if (!v) continue;
      const int cmp = best ? compare_stored(t.columns[it.column], *v, *best) : 0;
      if (!best || (it.aggregate == "MIN" ? cmp < 0 : cmp > 0)) best = v;
    }
    r.push_back(best);
  }
  out.rows.push_back(std::move(r));
}

/// The select list: (aggregate, name) per item; aggregate "" for a column, "#" for a number,
/// else COUNT / MIN / MAX. Empty for `*`.
std::vector<std::pair<std::string, std::string>> select_items(lexer& lx) {
  std::vector<std::pair<std::string, std::string>> names;
  if (lx.peek().text == "*") {
    lx.next();
  } else {
    do {
      const auto t = lx.next();
      if (t.k == lexer::kind::word && (t.text == "COUNT" || t.text == "MIN" || t.text == "MAX") &&
          lx.peek().text == "(") {
        lx.next();
        std::string arg = lx.peek().text == "*" ? lx.next().text : lx.ident();
        if (lx.next().text != ")") throw parse_error{"syntax error: expected )"};
        names.emplace_back(t.text, arg);
      } else if (t.k == lexer::kind::word || t.k == lexer::kind::quoted) {
        names.emplace_back("", t.text);
      } else if (t.k == lexer::kind::number) {
        names.emplace_back("#", t.text);  // SELECT 1: a constant
      } else {
        throw parse_error{"syntax error: expected a name"};
      }
    } while (lx.peek().text == "," && (lx.next(), true));
  }
  return names;
}

}  // namespace

select_result run_select(std::string_view sql, const catalog& tables) {
  select_result out;
  try {
    lexer lx(sql);
    lx.expect_word("SELECT");
    const auto names = select_items(lx);
    lx.expect_word("FROM");
    std::string name = lx.ident();
    while (lx.peek().text == ".") {
      lx.next();
      name = lx.ident();  // database.schema.table: the table decides
    }
    const auto t = tables.find(name);
    if (t == tables.end()) {
      out.sql_state = "42S02";
      out.code = "002003";
      out.message =
          "SQL compilation error:\nObject '" + name + "' does not exist or not authorized.";
      return out;
    }
    const table& tab = t->second;
    out.table = name;
    std::vector<std::size_t> proj;
    std::vector<item> aggregates;
    for (const auto& [agg, n] : names) {
      if (agg == "COUNT" && n == "*") {
        aggregates.push_back({agg, 0});
      } else if (!agg.empty() && agg != "#") {
        aggregates.push_back({agg, column_index(tab, n)});
      } else if (agg == "#") {
        proj.push_back(0);  // the constant's rows are never sent (LIMIT 0 checks)
      } else {
        proj.push_back(column_index(tab, n));
      }
    }
    if (!aggregates.empty() && !proj.empty())
      throw parse_error{"syntax error: columns beside aggregates need GROUP BY"};
    if (names.empty())
      for (std::size_t i = 0; i < tab.columns.size(); ++i)
        proj.push_back(i);
    std::vector<std::size_t> keep;
    for (std::size_t i = 0; i < tab.rows.size(); ++i)
      keep.push_back(i);
    if (lx.accept_word("WHERE")) {
      const condition where = parse_or(lx, tab);
      std::vector<std::size_t> hit;
      for (std::size_t i : keep)
        if (eval(where, tab, tab.rows[i]) == 1) hit.push_back(i);
      keep = std::move(hit);
    }
    if (lx.accept_word("ORDER")) {
      lx.expect_word("BY");
      const std::size_t c = column_index(tab, lx.ident());
      const bool desc = lx.accept_word("DESC");
      if (!desc) lx.accept_word("ASC");
      std::stable_sort(keep.begin(), keep.end(), [&](std::size_t a, std::size_t b) {
        const auto& va = tab.rows[a][c];
        const auto& vb = tab.rows[b][c];
        if (!va || !vb) return va.has_value() && !vb.has_value();  // NULLs last
        const int cmp = compare_stored(tab.columns[c], *va, *vb);
        return desc ? cmp > 0 : cmp < 0;
      });
    }
    if (lx.accept_word("LIMIT")) {
      const auto n = lx.next();
      if (n.k != lexer::kind::number) throw parse_error{"syntax error: LIMIT needs a number"};
      keep.resize(std::min<std::size_t>(keep.size(), std::strtoull(n.text.c_str(), nullptr, 10)));
    }
    if (lx.peek().text == ";") lx.next();
    if (lx.peek().k != lexer::kind::end) throw parse_error{"syntax error: unexpected text"};
    if (!aggregates.empty()) {
      aggregate(tab, aggregates, keep, out);
      return out;
    }
    for (std::size_t p : proj)
      out.columns.push_back(tab.columns[p]);
    out.rows.reserve(keep.size());
    for (std::size_t i : keep) {
      row r;
      for (std::size_t p : proj)
        r.push_back(tab.rows[i][p]);
      out.rows.push_back(std::move(r));
    }
  } catch (const parse_error& e) {
    out.sql_state = "42000";
    out.code = "001003";
    out.message = "SQL compilation error:\n" + e.message;
  }
  return out;
}

std::string data_json(const std::vector<row>& rows, std::size_t from, std::size_t to) {
  std::string out = "[";
  for (std::size_t i = from; i < to; ++i) {
    out += i == from ? "[" : ",\n[";
    for (std::size_t c = 0; c < rows[i].size(); ++c) {
      if (c > 0) out += ',';
      if (rows[i][c]) {
        codecs::append_json_string(out, *rows[i][c]);
      } else {
        out += "null";
      }
    }
    out += ']';
  }
  out += ']';
  return out;
}

std::string row_type_json(const sf::column& c, std::string_view table) {
  auto opt = [](const std::optional<std::int64_t>& v) {
    return v ? std::to_string(*v) : std::string("null");
  };
  std::string out =
      "{\"name\":" + codecs::json_string(c.name) +
      ",\"database\":\"DB\",\"schema\":\"PUBLIC\",\"table\":" + codecs::json_string(table) +
      ",\"type\":" + codecs::json_string(c.type_name) +
      ",\"byteLength\":null,\"length\":" + opt(c.length) + ",\"scale\":" + opt(c.scale) +
      ",\"precision\":" + opt(c.precision) + ",\"nullable\":" + (c.nullable ? "true" : "false") +
      ",\"collation\":null}";
  return out;
}

table generated_table(std::size_t n) {
  auto col = [](std::string name, std::string type, std::optional<std::int64_t> p,
                std::optional<std::int64_t> s, std::optional<std::int64_t> len) {
    sf::column c;
    c.name = std::move(name);
    c.type = sf::parse_type(type);
    c.type_name = std::move(type);
    c.precision = p;
    c.scale = s;
    c.length = len;
    return c;
  };
  table t;
  t.columns = {col("ID", "fixed", 18, 0, {}),
               col("NAME", "text", {}, {}, 64),
               col("AMOUNT", "fixed", 12, 2, {}),
               col("RATIO", "real", {}, {}, {}),
               col("ACTIVE", "boolean", {}, {}, {}),
               col("BORN", "date", {}, {}, {}),
               col("Updated At", "timestamp_ntz", {}, 9, {}),
               col("SEEN_TZ", "timestamp_tz", {}, 9, {}),
               col("PAYLOAD", "binary", {}, {}, 8),
               col("ATTRS", "variant", {}, {}, {})};
  t.rows.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::string id = std::to_string(i + 1);
    char ts[40];
    std::snprintf(ts, sizeof ts, "%llu.%09llu", 1700000000ULL + i,
                  static_cast<unsigned long long>(i % 1000000000));
    row r{id,
          i % 17 == 0 ? std::nullopt : std::optional<std::string>("name \"" + id + "\"\tx"),
          std::to_string(i % 100000) + ".25",
          "0.5",
          i % 2 == 0 ? "true" : "false",
          std::to_string(10000 + i % 5000),
          std::string(ts),
          std::string(ts) + " 1500",
          "0a0b0c0d",
          "{\"k\": " + id + "}"};
    t.rows.push_back(std::move(r));
  }
  return t;
}

}  // namespace uringmig::test::snowflake_double
