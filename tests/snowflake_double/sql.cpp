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
      h * 3600 + mi * 60 + se;
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

}  // namespace

select_result run_select(std::string_view sql, const catalog& tables) {
  select_result out;
  try {
    lexer lx(sql);
    lx.expect_word("SELECT");
    std::vector<std::string> names;
    if (lx.peek().text == "*") {
      lx.next();
    } else {
      do {
        names.push_back(lx.ident());
      } while (lx.peek().text == "," && (lx.next(), true));
    }
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
    for (const std::string& n : names)
      proj.push_back(column_index(tab, n));
    if (names.empty())
      for (std::size_t i = 0; i < tab.columns.size(); ++i)
        proj.push_back(i);
    std::vector<std::size_t> keep;
    for (std::size_t i = 0; i < tab.rows.size(); ++i)
      keep.push_back(i);
    if (lx.accept_word("WHERE")) {
      const std::size_t c = column_index(tab, lx.ident());
      std::vector<std::size_t> hit;
      if (lx.accept_word("IS")) {
        const bool negated = lx.accept_word("NOT");
        lx.expect_word("NULL");
        for (std::size_t i : keep)
          if (tab.rows[i][c].has_value() == negated) hit.push_back(i);
      } else {
        const std::string op = lx.next().text;
        const auto lit = lx.next();
        if (lit.k != lexer::kind::string && lit.k != lexer::kind::number)
          throw parse_error{"syntax error: expected a literal"};
        for (std::size_t i : keep)
          if (tab.rows[i][c] && matches(op, compare(tab.columns[c], *tab.rows[i][c], lit.text)))
            hit.push_back(i);
      }
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
        const int cmp = compare(tab.columns[c], *va, *vb);
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

namespace {

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t tab = line.find('\t', start);
    out.push_back(line.substr(start, tab - start));
    if (tab == std::string::npos) return out;
    start = tab + 1;
  }
}

sf::column column_spec(const std::string& spec) {
  std::string name;
  std::size_t colon = 0;
  if (!spec.empty() && spec.front() == '"') {
    const std::size_t close = spec.find('"', 1);
    if (close == std::string::npos) throw std::runtime_error("unclosed quote in '" + spec + "'");
    name = spec.substr(1, close - 1);
    colon = close + 1;
  } else {
    colon = spec.find(':');
    name = upper(spec.substr(0, colon));
  }
  if (colon >= spec.size() || spec[colon] != ':')
    throw std::runtime_error("column '" + spec + "' has no :type");
  std::string type = spec.substr(colon + 1);
  std::vector<std::int64_t> args;
  if (const std::size_t open = type.find('('); open != std::string::npos) {
    std::string_view inner = std::string_view(type).substr(open + 1);
    inner = inner.substr(0, inner.find(')'));
    while (!inner.empty()) {
      const std::size_t comma = inner.find(',');
      args.push_back(std::strtoll(std::string(inner.substr(0, comma)).c_str(), nullptr, 10));
      inner = comma == std::string_view::npos ? std::string_view{} : inner.substr(comma + 1);
    }
    type.resize(open);
  }
  sf::column c;
  c.name = name;
  for (char& ch : type)
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  c.type_name = type;
  c.type = sf::parse_type(type);
  if (c.type == sf::sf_type::other && type != "geography")
    throw std::runtime_error("unknown type '" + type + "'");
  if (c.type == sf::sf_type::fixed) {
    c.precision = args.empty() ? 38 : args[0];
    c.scale = args.size() > 1 ? args[1] : 0;
  } else if (c.type == sf::sf_type::text || c.type == sf::sf_type::binary) {
    c.length = args.empty() ? std::int64_t{16777216} : args[0];
  } else if (!args.empty()) {
    c.scale = args[0];
  }
  return c;
}

}  // namespace

table load_table(std::istream& in) {
  table t;
  std::string line;
  std::size_t no = 0;
  bool header = true;
  while (std::getline(in, line)) {
    ++no;
    if (line.empty() || line.front() == '#') continue;
    try {
      const std::vector<std::string> fields = split_tabs(line);
      if (header) {
        for (const std::string& f : fields)
          t.columns.push_back(column_spec(f));
        header = false;
        continue;
      }
      if (fields.size() != t.columns.size())
        throw std::runtime_error(std::to_string(fields.size()) + " values for " +
                                 std::to_string(t.columns.size()) + " columns");
      row r;
      for (const std::string& f : fields)
        r.push_back(f == "\\N" ? std::nullopt : std::optional<std::string>(f));
      t.rows.push_back(std::move(r));
    } catch (const std::runtime_error& e) {
      throw std::runtime_error("line " + std::to_string(no) + ": " + e.what());
    }
  }
  if (header) throw std::runtime_error("no header line of columns");
  return t;
}

}  // namespace uringmig::test::snowflake_double
