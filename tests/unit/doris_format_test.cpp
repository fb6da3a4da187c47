#include "codecs/doris_format.hpp"
#include "codecs/doris_types.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

namespace uc = uringmig::codecs;

namespace {

using field = std::optional<std::string>;
using row = std::vector<field>;
using view_row = std::vector<std::optional<std::string_view>>;

view_row views(const row& r) {
  view_row out;
  for (const field& f : r)
    out.push_back(f ? std::optional<std::string_view>(*f) : std::nullopt);
  return out;
}

std::vector<uc::doris_column> text_columns(std::size_t n) {
  std::vector<uc::doris_column> cols;
  for (std::size_t i = 0; i < n; ++i)
    cols.push_back({"c" + std::to_string(i), uc::doris_value_kind::text});
  return cols;
}

// A reader written from the Doris BE sources, independent of the writer and of the test double:
// EncloseCsvLineReaderCtx (enclosed fields, escape toggling, "" pairs), the splitter's trimming
// of one enclose byte at each end, the \N test on the trimmed slice, the dropped \r before \n,
// then escape_string_for_csv (an escape or a "" pair hides itself, the next byte stays).
std::vector<row> doris_read_csv(std::string_view body) {
  const char sep = uc::doris_csv_separator, eol = uc::doris_csv_line_delimiter;
  const char enc = uc::doris_csv_enclose, esc = uc::doris_csv_escape;
  std::vector<row> rows;
  std::vector<std::string_view> raw;
  std::size_t i = 0;
  const std::size_t n = body.size();
  while (i < n) {
    raw.clear();
    bool line_done = false;
    while (!line_done) {
      const std::size_t start = i;
      if (i < n && body[i] == enc) {
        bool escaped = false, quote = false;
        for (++i; i < n; ++i) {
          const char c = body[i];
          if (c == esc) {
            escaped = !escaped;
          } else if (escaped) {
            escaped = false;
          } else if (quote) {
            if (c != enc) break;
            quote = false;
          } else if (c == enc) {
            quote = true;
          }
        }
      }
      while (i < n && body[i] != sep && body[i] != eol)
        ++i;
      std::string_view f = body.substr(start, i - start);
      line_done = i >= n || body[i] == eol;
      if (line_done && !f.empty() && f.back() == '\r') f.remove_suffix(1);
      raw.push_back(f);
      ++i;
    }
    if (raw.size() == 1 && raw[0].empty()) continue;  // Doris skips empty lines
    row r;
    for (std::string_view f : raw) {
      if (f.size() > 1 && f.front() == enc && f.back() == enc) f = f.substr(1, f.size() - 2);
      if (f == "\\N") {
        r.emplace_back(std::nullopt);
        continue;
      }
      std::string v;
      bool hide = false;
      for (std::size_t k = 0; k < f.size(); ++k) {
        const bool pair = k + 1 < f.size() && f[k] == enc && f[k + 1] == enc;
        hide = (pair || f[k] == esc) ? !hide : false;
        if (!hide) v.push_back(f[k]);
      }
      r.emplace_back(std::move(v));
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

// A small JSON reader for the writer's lines: one flat object, values kept as
// {is_string, text}; numbers/true/false as written, null as nullopt.
struct json_value {
  bool is_string = false;
  std::string text;
  bool operator==(const json_value&) const = default;
};
using json_object = std::vector<std::pair<std::string, std::optional<json_value>>>;

void put_utf8(std::string& out, unsigned cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::optional<std::string> json_string(std::string_view s, std::size_t& i) {
  if (i >= s.size() || s[i] != '"') return std::nullopt;
  std::string out;
  for (++i; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '"') {
      ++i;
      return out;
    }
    if (static_cast<unsigned char>(c) < 0x20) return std::nullopt;  // raw control: invalid
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (++i >= s.size()) return std::nullopt;
    const std::string_view simple = "\"\\/bfnrt", decoded = "\"\\/\b\f\n\r\t";
    if (auto k = simple.find(s[i]); k != std::string_view::npos) {
      out.push_back(decoded[k]);
    } else if (s[i] == 'u' && i + 4 < s.size()) {
      put_utf8(out,
               static_cast<unsigned>(std::stoul(std::string(s.substr(i + 1, 4)), nullptr, 16)));
      i += 4;
    } else {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

std::optional<json_object> parse_json_line(std::string_view s) {
  json_object obj;
  std::size_t i = 0;
  if (s.empty() || s[i++] != '{') return std::nullopt;
  while (i < s.size() && s[i] != '}') {
    if (!obj.empty() && s[i++] != ',') return std::nullopt;
    auto key = json_string(s, i);
    if (!key || i >= s.size() || s[i++] != ':') return std::nullopt;
    if (s.compare(i, 4, "null") == 0) {
      obj.emplace_back(*key, std::nullopt);
      i += 4;
    } else if (s[i] == '"') {
      auto v = json_string(s, i);
      if (!v) return std::nullopt;
      obj.emplace_back(*key, json_value{true, *v});
    } else {
      const std::size_t start = i;
      while (i < s.size() && s[i] != ',' && s[i] != '}')
        ++i;
      const std::string token(s.substr(start, i - start));
      if (token != "true" && token != "false" && !uc::is_json_number(token)) return std::nullopt;
      obj.emplace_back(*key, json_value{false, token});
    }
  }
  if (i + 1 != s.size() || s[i] != '}') return std::nullopt;
  return obj;
}

const std::vector<std::string> tricky = {
    "plain",
    "tab\there",
    "new\nline",
    "cr\rhere",
    "ends with cr\r",
    "\r\n",
    "quote\"in",
    "\"",
    "\"\"",
    "\"quoted\"",
    "back\\slash",
    "\\",
    "\\\\",
    "\\N",
    "\\n",
    "N",
    "\\\"",
    "x\\",
    "\x01",
    "a\x01\x02"
    "b",
    "é漢字😀",
    " lead and trail ",
    "NULL",
    ",;|",
    "\x7f\x1b",
    "",
    std::string(100000, 'v') + "\"\n\x01\\" + std::string(70000, 'w')};

}  // namespace

TEST(DorisCsv, EveryTrickyValueRoundTripsThroughDorisRules) {
  const uc::doris_row_writer w(uc::doris_format::csv, text_columns(3));
  std::string body;
  std::vector<row> want;
  for (std::size_t k = 0; k < tricky.size(); ++k) {
    // Each value in every position: first, middle, last (CR handling differs at line end).
    for (std::size_t pos = 0; pos < 3; ++pos) {
      row r = {field("x"), std::nullopt, field("")};
      r[pos] = tricky[k];
      ASSERT_TRUE(w.append_row(body, views(r)));
      want.push_back(r);
    }
  }
  ASSERT_TRUE(w.append_row(body, views(row{std::nullopt, std::nullopt, std::nullopt})));
  want.push_back(row{std::nullopt, std::nullopt, std::nullopt});
  EXPECT_EQ(doris_read_csv(body), want);
}

TEST(DorisCsv, ExactBytesForNullEmptyAndEscapes) {
  const uc::doris_row_writer w(uc::doris_format::csv, text_columns(7));
  std::string out = "kept:";
  ASSERT_TRUE(w.append_row(out, views(row{"1", std::nullopt, "", "a\"b", "\\N", "x\ny", "\x01"})));
  EXPECT_EQ(out, "kept:1\x01\\N\x01\"\"\x01\"a\\\"b\"\x01\"\\\\N\"\x01\"x\ny\"\x01\"\x01\"\n");
  // A single empty column stays a line Doris does not skip.
  const uc::doris_row_writer one(uc::doris_format::csv, text_columns(1));
  std::string line;
  ASSERT_TRUE(one.append_row(line, views(row{""})));
  EXPECT_EQ(line, "\"\"\n");
  EXPECT_EQ(doris_read_csv(line), (std::vector<row>{row{""}}));
}

TEST(DorisCsv, KindsRewriteBooleansByteaAndTimestamptz) {
  const uc::doris_row_writer w(uc::doris_format::csv, {{"b", uc::doris_value_kind::boolean},
                                                       {"y", uc::doris_value_kind::bytea},
                                                       {"z", uc::doris_value_kind::timestamptz},
                                                       {"n", uc::doris_value_kind::number}});
  std::string out;
  ASSERT_TRUE(w.append_row(out, views(row{"t", "\\x00ff", "2024-01-01 01:30:00.25+02", "NaN"})));
  ASSERT_TRUE(w.append_row(out, views(row{"f", "\\x", "infinity", "-1.5e-07"})));
  EXPECT_EQ(out,
            "true\x01"
            "00ff\x01"
            "2023-12-31 23:30:00.25\x01NaN\n"
            "false\x01\"\"\x01infinity\x01-1.5e-07\n");
}

TEST(DorisCsv, FieldCountMismatchAppendsNothing) {
  const uc::doris_row_writer w(uc::doris_format::csv, text_columns(2));
  std::string out = "x";
  EXPECT_FALSE(w.append_row(out, views(row{"a"})));
  EXPECT_FALSE(w.append_row(out, views(row{"a", "b", "c"})));
  EXPECT_EQ(out, "x");
  EXPECT_THROW((void)uc::doris_row_writer(uc::doris_format::json, {}), std::invalid_argument);
}

TEST(DorisCsv, HeadersDescribeTheDialect) {
  const uc::doris_row_writer w(uc::doris_format::csv, {{"id", {}}, {"we`ird", {}}});
  const uc::http_header_list want = {{"format", "csv"},
                                     {"column_separator", "\\x01"},
                                     {"line_delimiter", "\\x0a"},
                                     {"enclose", "\""},
                                     {"escape", "\\"},
                                     {"columns", "`id`,`we``ird`"}};
  EXPECT_EQ(w.headers(), want);
}

TEST(DorisJson, EveryTrickyValueRoundTripsAsStrings) {
  const uc::doris_row_writer w(uc::doris_format::json, {{"k\"ey", uc::doris_value_kind::text},
                                                        {"n", uc::doris_value_kind::text}});
  std::string body;
  for (const std::string& v : tricky)
    ASSERT_TRUE(w.append_row(body, views(row{v, std::nullopt})));
  std::size_t line = 0, start = 0;
  for (std::size_t nl = body.find('\n'); nl != std::string::npos; nl = body.find('\n', start)) {
    auto obj = parse_json_line(std::string_view(body).substr(start, nl - start));
    ASSERT_TRUE(obj) << "line " << line;
    ASSERT_LT(line, tricky.size());
    const json_object want = {{"k\"ey", json_value{true, tricky[line]}}, {"n", std::nullopt}};
    EXPECT_EQ(*obj, want) << "line " << line;
    ++line;
    start = nl + 1;
  }
  EXPECT_EQ(line, tricky.size());
  EXPECT_EQ(start, body.size());
}

TEST(DorisJson, KindsGiveNumbersBooleansAndStrings) {
  using K = uc::doris_value_kind;
  const uc::doris_row_writer w(uc::doris_format::json, {{"i", K::integer},
                                                        {"f", K::number},
                                                        {"d", K::number},
                                                        {"b", K::boolean},
                                                        {"y", K::bytea},
                                                        {"j", K::json},
                                                        {"z", K::timestamptz}});
  std::string out;
  ASSERT_TRUE(
      w.append_row(out, views(row{"-42", "1e+100", "12.50", "t", "\\x0aff",
                                  "{\"a\": [1, \"x\\ny\"]}", "2024-03-01 00:00:00-01:30"})));
  ASSERT_TRUE(w.append_row(
      out, views(row{"7", "NaN", "-Infinity", "f", "\\x", "null", "2024-03-01 00:00:00+00"})));
  EXPECT_EQ(out,
            "{\"i\":-42,\"f\":1e+100,\"d\":12.50,\"b\":true,\"y\":\"0aff\","
            "\"j\":\"{\\\"a\\\": [1, \\\"x\\\\ny\\\"]}\",\"z\":\"2024-03-01 01:30:00\"}\n"
            "{\"i\":7,\"f\":\"NaN\",\"d\":\"-Infinity\",\"b\":false,\"y\":\"\","
            "\"j\":\"null\",\"z\":\"2024-03-01 00:00:00\"}\n");
  const uc::http_header_list want = {{"format", "json"},
                                     {"read_json_by_line", "true"},
                                     {"num_as_string", "true"},
                                     {"columns", "`i`,`f`,`d`,`b`,`y`,`j`,`z`"}};
  EXPECT_EQ(w.headers(), want);
}

TEST(DorisJson, ControlCharactersAndInvalidUtf8AreEscapedDeterministically) {
  std::string out;
  uc::append_json_string(out, std::string("\x00\x1f\b\f\t\x7f", 6));
  EXPECT_EQ(out, "\"\\u0000\\u001f\\b\\f\\t\x7f\"");
  out.clear();
  // A lone continuation byte, an overlong '/', a surrogate, a truncated 4-byte sequence, a
  // code point above U+10FFFF: one U+FFFD per offending byte; valid neighbours kept.
  uc::append_json_string(out,
                         "a\x80"
                         "b\xc0\xaf"
                         "c\xed\xa0\x80"
                         "d\xf0\x9f\x98"
                         "e\xf4\x90\x80\x80"
                         "\xc3\xa9");
  EXPECT_EQ(out,
            "\"a\\ufffdb\\ufffd\\ufffdc\\ufffd\\ufffd\\ufffdd\\ufffd\\ufffd\\ufffde"
            "\\ufffd\\ufffd\\ufffd\\ufffd\xc3\xa9\"");
}

TEST(DorisJson, NumberGrammar) {
  for (const char* ok :
       {"0", "-0", "12", "-12.50", "1e5", "1E+05", "0.5e-3", "123456789012345678901234567890"})
    EXPECT_TRUE(uc::is_json_number(ok)) << ok;
  for (const char* bad :
       {"", "-", "01", "1.", ".5", "+1", "1e", "1e+", "NaN", "Infinity", "0x10", "1 ", "--1"})
    EXPECT_FALSE(uc::is_json_number(bad)) << bad;
}

TEST(DorisTimestamptz, ConvertsOffsetsToUtc) {
  uc::timestamp_buffer buf;
  auto utc = [&](std::string_view t) { return std::string(uc::timestamptz_to_utc(t, buf)); };
  EXPECT_EQ(utc("2024-05-01 10:00:00.5+02"), "2024-05-01 08:00:00.5");
  EXPECT_EQ(utc("2024-05-01 10:00:00+00"), "2024-05-01 10:00:00");
  EXPECT_EQ(utc("2024-12-31 23:59:59.999999-05:30"), "2025-01-01 05:29:59.999999");
  EXPECT_EQ(utc("2024-03-01 00:10:00+00:20:30"), "2024-02-29 23:49:30");
  EXPECT_EQ(utc("0001-01-01 00:00:00+01"), "0000-12-31 23:00:00");
  EXPECT_EQ(utc("12345-06-07 08:09:10+10"), "12345-06-06 22:09:10");
  for (const char* kept :
       {"infinity", "-infinity", "2024-05-01 10:00:00+02 BC", "2024-05-01", "2024-05-01 10:00:00",
        "2024-05-01 10:00:00.+02", "05/01/2024 10:00 PDT"})
    EXPECT_EQ(utc(kept), kept);
}

TEST(DorisTypes, MappingFollowsTheDocumentedTable) {
  auto sql = [](std::string_view pg) { return uc::doris_type_of(pg).sql; };
  EXPECT_EQ(sql("smallint"), "SMALLINT");
  EXPECT_EQ(sql("integer"), "INT");
  EXPECT_EQ(sql("bigint"), "BIGINT");
  EXPECT_EQ(sql("numeric(12,2)"), "DECIMAL(12,2)");
  EXPECT_EQ(sql("numeric(7)"), "DECIMAL(7,0)");
  EXPECT_EQ(sql("numeric(5,-2)"), "DECIMAL(7,0)");
  EXPECT_EQ(sql("numeric(3,5)"), "DECIMAL(5,5)");
  EXPECT_EQ(sql("numeric(50,2)"), "STRING");
  EXPECT_EQ(sql("numeric"), "DECIMAL(38,9)");
  EXPECT_FALSE(uc::doris_type_of("numeric").note.empty());
  EXPECT_EQ(sql("character varying(20)"), "VARCHAR(80)");
  EXPECT_EQ(sql("character varying(16383)"), "VARCHAR(65532)");
  EXPECT_EQ(sql("character varying(16384)"), "STRING");
  EXPECT_EQ(sql("character varying"), "STRING");
  EXPECT_EQ(sql("character(3)"), "VARCHAR(12)");
  EXPECT_EQ(sql("text"), "STRING");
  EXPECT_EQ(sql("boolean"), "BOOLEAN");
  EXPECT_EQ(sql("date"), "DATE");
  EXPECT_EQ(sql("timestamp without time zone"), "DATETIME(6)");
  EXPECT_EQ(sql("timestamp(3) without time zone"), "DATETIME(3)");
  EXPECT_EQ(sql("timestamp(0) with time zone"), "DATETIME(0)");
  EXPECT_EQ(sql("double precision"), "DOUBLE");
  EXPECT_EQ(sql("real"), "FLOAT");
  EXPECT_EQ(sql("bytea"), "STRING");
  EXPECT_EQ(sql("json"), "JSON");
  EXPECT_EQ(sql("jsonb"), "JSON");
  EXPECT_EQ(sql("uuid"), "VARCHAR(36)");
  EXPECT_EQ(sql("integer[]"), "STRING");
  EXPECT_EQ(sql("mood"), "STRING");
  EXPECT_EQ(sql("interval"), "STRING");
  using K = uc::doris_value_kind;
  EXPECT_EQ(uc::doris_type_of("timestamp with time zone").kind, K::timestamptz);
  EXPECT_EQ(uc::doris_type_of("bytea").kind, K::bytea);
  EXPECT_EQ(uc::doris_type_of("jsonb").kind, K::json);
  EXPECT_EQ(uc::doris_type_of("bigint").kind, K::integer);
  EXPECT_EQ(uc::doris_type_of("numeric(50,2)").kind, K::number);
  EXPECT_EQ(uc::doris_type_of("boolean").kind, K::boolean);
  EXPECT_EQ(uc::doris_type_of("boolean[]").kind, K::text);
  EXPECT_FALSE(uc::doris_type_of("double precision").key_allowed);
  EXPECT_FALSE(uc::doris_type_of("jsonb").key_allowed);
}

TEST(DorisTypes, UniqueKeyColumnsLeadTheTable) {
  uc::doris_table_spec t{"shop",
                         "order items",
                         {{"note", "text", false},
                          {"item", "integer", true},
                          {"order_code", "text", true},
                          {"price", "numeric", false},
                          {"at", "timestamp with time zone", false}},
                         {"order_code", "item"}};
  const uc::doris_table_layout l = uc::doris_layout_of(t);
  EXPECT_TRUE(l.unique);
  EXPECT_EQ(l.order, (std::vector<std::size_t>{2, 1, 0, 3, 4}));
  EXPECT_EQ(uc::render_create_table(t),
            "-- key columns lead the Doris table; loads name their columns, so the order is safe\n"
            "-- `price` numeric: numeric without precision: values past 29 integer or 9 fraction "
            "digits do not fit\n"
            "-- `at` timestamp with time zone: timestamptz: stored as UTC; years outside 0000-9999 "
            "do not fit\n"
            "CREATE TABLE IF NOT EXISTS `shop`.`order items` (\n"
            "  `order_code` VARCHAR(65533) NOT NULL,\n"
            "  `item` INT NOT NULL,\n"
            "  `note` STRING NULL,\n"
            "  `price` DECIMAL(38,9) NULL,\n"
            "  `at` DATETIME(6) NULL\n"
            ")\n"
            "UNIQUE KEY(`order_code`, `item`)\n"
            "DISTRIBUTED BY HASH(`order_code`, `item`) BUCKETS AUTO\n"
            "PROPERTIES (\n"
            "  \"replication_num\" = \"1\",\n"
            "  \"enable_unique_key_merge_on_write\" = \"true\"\n"
            ");\n");
  // The writer keeps the source order; the `columns` header maps it by name.
  const auto cols = uc::doris_columns_of(t.columns);
  ASSERT_EQ(cols.size(), 5u);
  EXPECT_EQ(cols[0].name, "note");
  EXPECT_EQ(cols[4].kind, uc::doris_value_kind::timestamptz);
}

TEST(DorisTypes, WithoutUsableKeyTheTableIsDuplicate) {
  uc::doris_table_spec t{
      "db", "m", {{"v", "double precision", true}, {"id", "bigint", false}}, {"v"}};
  const std::string ddl = uc::render_create_table(t);
  EXPECT_NE(ddl.find("-- primary key column `v` (double precision) cannot be a Doris key"),
            std::string::npos)
      << ddl;
  EXPECT_NE(ddl.find("(\n  `id` BIGINT NULL,\n  `v` DOUBLE NOT NULL\n)\nDUPLICATE KEY(`id`)\n"
                     "DISTRIBUTED BY RANDOM BUCKETS AUTO\n"),
            std::string::npos)
      << ddl;
  EXPECT_EQ(ddl.find("UNIQUE"), std::string::npos);
  t.primary_key = {"missing"};
  EXPECT_THROW(uc::render_create_table(t), std::invalid_argument);
  uc::doris_table_spec plain{"db", "p", {{"a", "text", false}, {"b", "jsonb", false}}, {}};
  EXPECT_NE(uc::render_create_table(plain).find("`a` VARCHAR(65533) NULL,\n  `b` JSON NULL\n)\n"
                                                "DUPLICATE KEY(`a`)\n"),
            std::string::npos);
}

TEST(DorisFormat, ThroughputPrintout) {
  using K = uc::doris_value_kind;
  const std::vector<uc::doris_column> cols = {{"id", K::integer},     {"name", K::text},
                                              {"price", K::number},   {"active", K::boolean},
                                              {"at", K::timestamptz}, {"note", K::text}};
  std::vector<row> rows;
  std::size_t input_bytes = 0;
  for (int i = 0; i < 2000; ++i) {
    row r = {
        std::to_string(i * 7919),
        "customer name " + std::to_string(i),
        std::to_string(i) + ".25",
        i % 2 ? "t" : "f",
        "2024-05-01 10:00:00.123456+00",
        i % 10 == 0 ? field() : field("a longer comment, with \"quotes\" sometimes\tand tabs")};
    for (const field& f : r)
      input_bytes += f ? f->size() + 1 : 3;
    rows.push_back(std::move(r));
  }
  std::vector<view_row> vrows;
  for (const row& r : rows)
    vrows.push_back(views(r));
  // Not asserted: the best of five passes, as COPY text bytes in and Doris body bytes out.
  for (uc::doris_format format : {uc::doris_format::csv, uc::doris_format::json}) {
    const uc::doris_row_writer w(format, cols);
    std::string out;
    constexpr int rounds = 10;
    double best = 1e9;
    std::size_t lines = 0;
    for (int pass = 0; pass < 5; ++pass) {
      const auto t0 = std::chrono::steady_clock::now();
      for (int k = 0; k < rounds; ++k) {
        out.clear();
        for (const view_row& r : vrows)
          lines += w.append_row(out, r) ? 1 : 0;
      }
      best = std::min(best,
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    EXPECT_EQ(lines, rows.size() * rounds * 5);
    EXPECT_EQ(static_cast<std::size_t>(std::count(out.begin(), out.end(), '\n')), rows.size());
    std::printf("[ doris %s ] %.0f MB/s of COPY text in, %.0f MB/s out, %.1f M rows/s\n",
                format == uc::doris_format::csv ? "csv " : "json",
                static_cast<double>(input_bytes) * rounds / best / 1e6,
                static_cast<double>(out.size()) * rounds / best / 1e6,
                static_cast<double>(rows.size()) * rounds / best / 1e6);
  }
}
