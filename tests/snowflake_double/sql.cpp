#include "tests/snowflake_double/sql.hpp"

#include "codecs/civil_date.hpp"
#include "codecs/json_text.hpp"
#include "tests/snowflake_double/sql_lexer.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>
#include <stdexcept>

namespace uringmig::test::snowflake_double {

namespace {

using detail::lexer;
using detail::parse_error;

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

/// Seconds since midnight of a TIME literal 'HH:MM:SS[.f]'; nullopt when not in that form.
std::optional<sf::epoch_time> parse_clock(const std::string& s) {
  int h = 0, mi = 0, se = 0, n = 0;
  if (std::sscanf(s.c_str(), "%d:%d:%d%n", &h, &mi, &se, &n) != 3) return std::nullopt;
  sf::epoch_time t;
  const std::string_view rest = std::string_view(s).substr(static_cast<std::size_t>(n));
  if (!rest.empty()) {
    const auto frac = sf::parse_epoch("0" + std::string(rest));
    if (!frac || rest.front() != '.') return std::nullopt;
    t.nanos = frac->nanos;
    t.scale = frac->scale;
  }
  t.seconds = h * 3600 + mi * 60 + se;
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
    if (!b && c.type == sf::sf_type::time) b = parse_clock(literal);
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

/// A select item: a column, a number, COUNT(*) / MIN(name) / MAX(name), or
/// NTILE(n) OVER (ORDER BY name [ASC | DESC]); `AS alias` names its result column.
struct item {
  std::string kind;  // "" a column, "#" a number, COUNT, MIN, MAX, NTILE
  std::string name;  // the column (NTILE: its ORDER BY column; COUNT: "*"; "#": the number)
  std::string alias;
  std::size_t column = 0;  // `name` in the FROM table
  std::int64_t buckets = 0;
  bool desc = false;
  bool aggregate() const { return kind == "COUNT" || kind == "MIN" || kind == "MAX"; }
};

/// -1, 0, 1 comparing two stored values of column `c` (times by instant, TIMESTAMP_TZ too).
int compare_stored(const sf::column& c, const std::string& a, const std::string& b) {
  const auto x = sf::instant_of(c, a);
  const auto y = sf::instant_of(c, b);
  if (x && y) return *x < *y ? -1 : (*y < *x ? 1 : 0);
  return compare(c, a, b);
}

/// `keep` ordered by column `c` of `t`, NULLs last, stable.
void sort_rows(const table& t, std::size_t c, bool desc, std::vector<std::size_t>& keep) {
  std::stable_sort(keep.begin(), keep.end(), [&](std::size_t a, std::size_t b) {
    const auto& va = t.rows[a][c];
    const auto& vb = t.rows[b][c];
    if (!va || !vb) return va.has_value() && !vb.has_value();
    const int cmp = compare_stored(t.columns[c], *va, *vb);
    return desc ? cmp > 0 : cmp < 0;
  });
}

/// NTILE over the rows `keep` in the item's order: numbered buckets 1..n as equal as can be,
/// the first (rows % n) one row larger; by row index of `t`.
std::vector<std::string> ntile(const table& t, const item& it, std::vector<std::size_t> keep) {
  sort_rows(t, it.column, it.desc, keep);
  const auto n = static_cast<std::size_t>(it.buckets);
  const std::size_t size = keep.size() / n;
  const std::size_t big = (keep.size() % n) * (size + 1);  // rows in the larger buckets
  std::vector<std::string> out(t.rows.size());
  for (std::size_t r = 0; r < keep.size(); ++r)
    out[keep[r]] = std::to_string(
        (r < big ? r / (size + 1) : keep.size() % n + (r - big) / std::max<std::size_t>(size, 1)) +
        1);
  return out;
}

/// COUNT(*), MIN or MAX of an item over `rows`.
std::optional<std::string> aggregate_value(const table& t, const item& it,
                                           const std::vector<std::size_t>& rows) {
  if (it.kind == "COUNT") return std::to_string(rows.size());
  std::optional<std::string> best;
  for (std::size_t i : rows) {
    const auto& v = t.rows[i][it.column];
    if (!v) continue;
    const int cmp = best ? compare_stored(t.columns[it.column], *v, *best) : 0;
    if (!best || (it.kind == "MIN" ? cmp < 0 : cmp > 0)) best = v;
  }
  return best;
}

/// The rowType entry of an item's result column.
sf::column result_column(const table& t, const item& it) {
  sf::column c;
  if (it.kind == "COUNT" || it.kind == "NTILE" || it.kind == "#") {
    c = sf::column{it.kind == "COUNT" ? "COUNT(*)" : (it.kind == "#" ? it.name : "NTILE"),
                   "fixed",
                   sf::sf_type::fixed,
                   std::nullopt,
                   it.kind == "COUNT" ? 18 : 38,
                   0,
                   false};
  } else {
    c = t.columns[it.column];
    if (!it.kind.empty()) c.name = it.kind + "(" + c.name + ")";
  }
  if (!it.alias.empty()) c.name = it.alias;
  return c;
}

/// NTILE(n) OVER (ORDER BY name [ASC | DESC]), after the word NTILE.
void parse_ntile(lexer& lx, item& it) {
  lx.next();  // (
  const auto n = lx.next();
  if (n.k != lexer::kind::number || lx.next().text != ")")
    throw parse_error{"syntax error: NTILE takes a number of buckets"};
  it.kind = "NTILE";
  it.buckets = std::strtoll(n.text.c_str(), nullptr, 10);
  if (it.buckets <= 0) throw parse_error{"NTILE's number of buckets must be positive"};
  lx.expect_word("OVER");
  if (lx.next().text != "(") throw parse_error{"syntax error: expected ( after OVER"};
  lx.expect_word("ORDER");
  lx.expect_word("BY");
  it.name = lx.ident();
  it.desc = lx.accept_word("DESC");
  if (!it.desc) lx.accept_word("ASC");
  if (lx.next().text != ")") throw parse_error{"syntax error: expected )"};
}

/// The select list; empty for `*`.
std::vector<item> select_items(lexer& lx) {
  std::vector<item> items;
  if (lx.peek().text == "*") {
    lx.next();
    return items;
  }
  do {
    item it;
    const auto t = lx.next();
    const bool call = t.k == lexer::kind::word && lx.peek().text == "(";
    if (call && (t.text == "COUNT" || t.text == "MIN" || t.text == "MAX")) {
      lx.next();
      it.kind = t.text;
      it.name = lx.peek().text == "*" ? lx.next().text : lx.ident();
      if (lx.next().text != ")") throw parse_error{"syntax error: expected )"};
      if (it.name == "*" && it.kind != "COUNT") throw parse_error{"syntax error: expected a name"};
    } else if (call && t.text == "NTILE") {
      parse_ntile(lx, it);
    } else if (t.k == lexer::kind::word || t.k == lexer::kind::quoted) {
      it.name = t.text;
    } else if (t.k == lexer::kind::number) {
      it.kind = "#";  // SELECT 1: a constant
      it.name = t.text;
    } else {
      throw parse_error{"syntax error: expected a name"};
    }
    if (lx.accept_word("AS")) it.alias = lx.ident();
    items.push_back(std::move(it));
  } while (lx.peek().text == "," && (lx.next(), true));
  return items;
}

/// The clauses after WHERE.
struct tail {
  std::optional<std::size_t> group;
  std::optional<std::size_t> order;
  bool desc = false;
  std::optional<std::size_t> limit;
};

tail parse_tail(lexer& lx, const table& tab) {
  tail out;
  if (lx.accept_word("GROUP")) {
    lx.expect_word("BY");
    out.group = column_index(tab, lx.ident());
  }
  if (lx.accept_word("ORDER")) {
    lx.expect_word("BY");
    out.order = column_index(tab, lx.ident());
    out.desc = lx.accept_word("DESC");
    if (!out.desc) lx.accept_word("ASC");
  }
  if (lx.accept_word("LIMIT")) {
    const auto n = lx.next();
    if (n.k != lexer::kind::number) throw parse_error{"syntax error: LIMIT needs a number"};
    out.limit = std::strtoull(n.text.c_str(), nullptr, 10);
  }
  if (lx.peek().text == ";") lx.next();
  if (lx.peek().k != lexer::kind::end) throw parse_error{"syntax error: unexpected text"};
  return out;
}

/// One row per group of `keep` (one group without GROUP BY): group keys and aggregates.
void grouped(const table& tab, const std::vector<item>& items, const tail& tl,
             std::vector<std::size_t> keep, select_result& out) {
  for (const item& it : items)
    if (!it.aggregate() && it.kind != "#" &&
        !(tl.group && it.kind.empty() && it.column == *tl.group))
      throw parse_error{tl.group ? "'" + it.name + "' is not a valid group by expression"
                                 : "syntax error: columns beside aggregates need GROUP BY"};
  if (tl.group && tl.order && *tl.order != *tl.group)
    throw parse_error{"ORDER BY beside GROUP BY names the group column here"};
  if (tl.order) sort_rows(tab, *tl.order, tl.desc, keep);
  std::vector<std::vector<std::size_t>> groups;
  if (tl.group) {
    std::map<std::optional<std::string>, std::size_t> at;  // groups in order of first row
    for (std::size_t i : keep) {
      const auto [g, fresh] = at.try_emplace(tab.rows[i][*tl.group], groups.size());
      if (fresh) groups.emplace_back();
      groups[g->second].push_back(i);
    }
  } else {
    groups.push_back(std::move(keep));
  }
  for (const item& it : items)
    out.columns.push_back(result_column(tab, it));
  for (const auto& g : groups) {
    row r;
    for (const item& it : items)
      r.push_back(it.aggregate() ? aggregate_value(tab, it, g)
                                 : (it.kind == "#" ? it.name : tab.rows[g.front()][it.column]));
    out.rows.push_back(std::move(r));
  }
}

}  // namespace

select_result run_select(std::string_view sql, const catalog& tables) {
  select_result out;
  try {
    lexer lx(sql);
    lx.expect_word("SELECT");
    std::vector<item> items = select_items(lx);
    lx.expect_word("FROM");
    table derived;  // FROM (SELECT ...): its result
    const table* from = &derived;
    if (lx.peek().text == "(") {
      lx.next();
      select_result inner = run_select(lx.parenthesized(), tables);
      if (inner.failed()) return inner;
      derived.columns = std::move(inner.columns);
      derived.rows = std::move(inner.rows);
      if (lx.accept_word("AS")) (void)lx.ident();
    } else {
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
      from = &t->second;
      out.table = name;
    }
    const table& tab = *from;
    if (items.empty())
      for (std::size_t i = 0; i < tab.columns.size(); ++i)
        items.push_back({"", tab.columns[i].name, "", i});
    bool aggregates = false;
    for (item& it : items) {
      if (it.kind != "#" && it.name != "*") it.column = column_index(tab, it.name);
      aggregates = aggregates || it.aggregate();
    }
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
    const tail tl = parse_tail(lx, tab);
    if (tl.group || aggregates) {
      grouped(tab, items, tl, std::move(keep), out);
    } else {
      // Window functions see the rows WHERE kept, before ORDER BY and LIMIT.
      std::vector<std::vector<std::string>> tiles(items.size());
      for (std::size_t k = 0; k < items.size(); ++k)
        if (items[k].kind == "NTILE") tiles[k] = ntile(tab, items[k], keep);
      if (tl.order) sort_rows(tab, *tl.order, tl.desc, keep);
      for (const item& it : items)
        out.columns.push_back(result_column(tab, it));
      out.rows.reserve(keep.size());
      for (std::size_t i : keep) {
        row r;
        for (std::size_t k = 0; k < items.size(); ++k)
          r.push_back(items[k].kind == "NTILE" ? std::optional<std::string>(tiles[k][i])
                      : items[k].kind == "#"   ? std::optional<std::string>(items[k].name)
                                               : tab.rows[i][items[k].column]);
        out.rows.push_back(std::move(r));
      }
    }
    if (tl.limit && *tl.limit < out.rows.size()) out.rows.resize(*tl.limit);
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

}  // namespace uringmig::test::snowflake_double
