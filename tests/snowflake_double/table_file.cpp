// The double's tables: the table files (README.md, "Use it") — a header of column specs, then
// one line of tab-separated jsonv2 texts per row — and the generated table.

#include "tests/snowflake_double/sql.hpp"
#include "tests/snowflake_double/sql_lexer.hpp"

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace uringmig::test::snowflake_double {

namespace {

using detail::upper;

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
