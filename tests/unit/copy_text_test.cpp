#include "codecs/copy_text.hpp"
#include "codecs/row_batch.hpp"
#include "codecs/sqlite_types.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace uc = uringmig::codecs;

namespace {

using row = std::vector<std::optional<std::string>>;

std::vector<row> parse_in_pieces(std::string_view input, std::size_t piece) {
  uc::copy_text_parser p;
  std::vector<row> rows;
  auto on_row = [&](const std::vector<std::optional<std::string_view>>& f) {
    row r;
    for (const auto& v : f)
      r.push_back(v ? std::optional<std::string>(std::string(*v)) : std::nullopt);
    rows.push_back(r);
  };
  for (std::size_t i = 0; i < input.size(); i += piece)
    EXPECT_TRUE(p.feed(input.substr(i, piece), on_row));
  EXPECT_TRUE(p.finish());
  return rows;
}

}  // namespace

TEST(CopyText, EscapesNullsAndEmptyFieldsAtEverySplit) {
  // What PostgreSQL's COPY TO writes for: ('a\tb', NULL, ''), ('\N as text', 'x\\y', 'é\n').
  const std::string input =
      "a\\tb\t\\N\t\n"
      "\\\\N\tx\\\\y\t\xc3\xa9\\n\n"
      "\\101\\x41\\b\\f\\r\\v\\q\t\t\\N\n";
  const std::vector<row> want = {
      {"a\tb", std::nullopt, ""},
      {"\\N", "x\\y", "\xc3\xa9\n"},
      {"AA\b\f\r\vq", "", std::nullopt},
  };
  for (std::size_t piece = 1; piece <= input.size(); ++piece)
    EXPECT_EQ(parse_in_pieces(input, piece), want) << "pieces of " << piece;
}

TEST(CopyText, FieldCountMismatchIsAnError) {
  uc::copy_text_parser p;
  p.expect_fields(2);
  int rows = 0;
  auto on_row = [&](const auto&) { ++rows; };
  EXPECT_TRUE(p.feed("a\tb\n", on_row));
  EXPECT_FALSE(p.feed("a\tb\tc\n", on_row));
  EXPECT_NE(p.error().find("3 fields, expected 2"), std::string::npos) << p.error();
  EXPECT_EQ(rows, 1);
}

TEST(CopyText, AnUnfinishedRowIsReported) {
  uc::copy_text_parser p;
  EXPECT_TRUE(p.feed("a\tb", [](const auto&) {}));
  EXPECT_FALSE(p.finish());
}

TEST(CopyText, ByteaHex) {
  EXPECT_EQ(uc::decode_bytea_hex("\\x00ff10"), std::string("\x00\xff\x10", 3));
  EXPECT_EQ(uc::decode_bytea_hex("\\x"), std::string());
  EXPECT_FALSE(uc::decode_bytea_hex("\\x0"));
  EXPECT_FALSE(uc::decode_bytea_hex("\\xzz"));
  EXPECT_FALSE(uc::decode_bytea_hex("abc"));
}

TEST(SqliteTypes, Mapping) {
  using a = uc::sqlite_affinity;
  EXPECT_EQ(uc::sqlite_affinity_of("bigint"), a::integer);
  EXPECT_EQ(uc::sqlite_affinity_of("smallint"), a::integer);
  EXPECT_EQ(uc::sqlite_affinity_of("integer"), a::integer);
  EXPECT_EQ(uc::sqlite_affinity_of("double precision"), a::real);
  EXPECT_EQ(uc::sqlite_affinity_of("real"), a::real);
  EXPECT_EQ(uc::sqlite_affinity_of("numeric(12,2)"), a::text);
  EXPECT_EQ(uc::sqlite_affinity_of("bytea"), a::blob);
  EXPECT_EQ(uc::sqlite_affinity_of("integer[]"), a::text);
  EXPECT_EQ(uc::sqlite_affinity_of("boolean"), a::text);
  EXPECT_EQ(uc::declared_type(a::integer), "INTEGER");
  EXPECT_EQ(uc::declared_type(a::blob), "BLOB");
}

TEST(SqliteTypes, ARowIsItsFieldsConvertedOneByOne) {
  using a = uc::sqlite_affinity;
  const std::vector<a> types{a::integer, a::text, a::blob, a::real};
  const std::vector<std::optional<std::string_view>> fields{"7", std::nullopt, "\\x00ff", "2.5"};
  std::string row;
  uc::row_batch_writer w(row);
  uc::append_pg_row(w, types, fields);
  std::string by_hand;
  uc::row_batch_writer h(by_hand);
  uc::append_pg_value(h, a::integer, "7");
  h.null();
  uc::append_pg_value(h, a::blob, "\\x00ff");
  uc::append_pg_value(h, a::real, "2.5");
  EXPECT_EQ(row, by_hand);
  uc::row_batch_reader r(row);
  EXPECT_EQ(r.value().kind, uc::value_kind::integer);
  EXPECT_EQ(r.value().kind, uc::value_kind::null);
  const auto b = r.value();
  EXPECT_EQ(b.kind, uc::value_kind::blob);
  EXPECT_EQ(b.bytes, std::string_view("\0\xff", 2));
}

TEST(SqliteTypes, ValuesKeepTheirMeaning) {
  using a = uc::sqlite_affinity;
  std::string batch;
  uc::row_batch_writer w(batch);
  w.begin_row(42);
  uc::append_pg_value(w, a::integer, "-9223372036854775808");
  uc::append_pg_value(w, a::real, "NaN");
  uc::append_pg_value(w, a::real, "-Infinity");
  uc::append_pg_value(w, a::real, "0.1");
  uc::append_pg_value(w, a::text, "1234.5000");
  uc::append_pg_value(w, a::blob, "\\x0001");
  uc::append_pg_value(w, a::integer, "12x");  // never from COPY; kept as text
  w.null();

  uc::row_batch_reader r(batch);
  EXPECT_EQ(r.rowid(), 42);
  auto v = r.value();
  EXPECT_EQ(v.kind, uc::value_kind::integer);
  EXPECT_EQ(v.i, std::numeric_limits<std::int64_t>::min());
  v = r.value();
  EXPECT_EQ(v.kind, uc::value_kind::text);
  EXPECT_EQ(v.bytes, "NaN");
  v = r.value();
  EXPECT_EQ(v.kind, uc::value_kind::real);
  EXPECT_EQ(v.r, -std::numeric_limits<double>::infinity());
  v = r.value();
  EXPECT_EQ(v.kind, uc::value_kind::real);
  EXPECT_EQ(v.r, 0.1);
  v = r.value();
  EXPECT_EQ(v.kind, uc::value_kind::text);
  EXPECT_EQ(v.bytes, "1234.5000");
  v = r.value();
  EXPECT_EQ(v.kind, uc::value_kind::blob);
  EXPECT_EQ(v.bytes, std::string("\x00\x01", 2));
  v = r.value();
  EXPECT_EQ(v.kind, uc::value_kind::text);
  EXPECT_EQ(v.bytes, "12x");
  EXPECT_EQ(r.value().kind, uc::value_kind::null);
  EXPECT_TRUE(r.at_end());
}

TEST(copy_text_writer, fields_round_trip_through_the_parser) {
  const std::string odd = "tab\there\\back\nnew\rret \\N";
  std::string row;
  uc::append_copy_text_escaped(row, odd);
  row += '\t';
  uc::append_copy_bytea(row, std::string("\x00\xff\x10", 3));
  row += '\n';
  uc::copy_text_parser p;
  int rows = 0;
  ASSERT_TRUE(p.feed(row, [&](const std::vector<std::optional<std::string_view>>& f) {
    ASSERT_EQ(f.size(), 2u);
    EXPECT_EQ(f[0], odd);
    EXPECT_EQ(f[1], "\\x00ff10");  // bytea's hex input form, after COPY's unescape
    ++rows;
  }));
  EXPECT_EQ(rows, 1);
}

TEST(copy_text_writer, escapes_every_special_byte_at_every_place_in_a_long_value) {
  // The escaper skips plain bytes 8 at a time: a special byte at each offset of a word, next to
  // UTF-8 and high bytes, must be escaped exactly as byte by byte.
  const auto reference = [](std::string_view raw) {
    std::string out;
    for (char c : raw) {
      const char* esc = nullptr;
      switch (c) {
        case '\\':
          esc = "\\\\";
          break;
        case '\b':
          esc = "\\b";
          break;
        case '\f':
          esc = "\\f";
          break;
        case '\n':
          esc = "\\n";
          break;
        case '\r':
          esc = "\\r";
          break;
        case '\t':
          esc = "\\t";
          break;
        case '\v':
          esc = "\\v";
          break;
        default:
          break;
      }
      if (esc != nullptr) {
        out += esc;
      } else {
        out += c;
      }
    }
    return out;
  };
  const std::string plain = "abcdefgh\xc3\xa9\xe2\x82\xac\x7f\x80\xff \x1f\x01";
  for (char special : {'\\', '\b', '\f', '\n', '\r', '\t', '\v', '\x1f', ' '}) {
    for (std::size_t at = 0; at < 24; ++at) {
      std::string raw = plain + plain + plain;
      raw.insert(at, 1, special);
      std::string got;
      uc::append_copy_text_escaped(got, raw);
      EXPECT_EQ(got, reference(raw)) << "byte " << static_cast<int>(special) << " at " << at;
    }
  }
}
