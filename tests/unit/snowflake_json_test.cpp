#include "codecs/snowflake_json.hpp"
#include "codecs/copy_text.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sf = uringmig::codecs::snowflake;
namespace uc = uringmig::codecs;

namespace {

sf::column col(std::string name, sf::sf_type t, std::optional<std::int64_t> precision = {},
               std::optional<std::int64_t> scale = {}, std::optional<std::int64_t> length = {}) {
  sf::column c;
  c.name = std::move(name);
  c.type = t;
  c.type_name = "t";
  c.precision = precision;
  c.scale = scale;
  c.length = length;
  return c;
}

/// One value through the COPY writer; nullopt when refused.
std::optional<std::string> copy_of(const sf::column& c, std::string_view v) {
  std::string out = "x";
  std::string why;
  if (!sf::append_copy_value(out, c, v, why)) {
    EXPECT_EQ(out, "x") << "a refused value left output behind";
    EXPECT_FALSE(why.empty());
    return std::nullopt;
  }
  return out.substr(1);
}

const std::string row_type = R"([
  {"name":"ID","database":"DB","schema":"S","table":"T","type":"fixed","precision":18,"scale":0,"nullable":false},
  {"name":"Amount","type":"fixed","precision":38,"scale":2,"nullable":true},
  {"name":"ratio","type":"real","nullable":true},
  {"name":"Name","type":"text","length":40,"nullable":true},
  {"name":"ok","type":"boolean","nullable":true},
  {"name":"d","type":"date","nullable":true},
  {"name":"t","type":"time","scale":9,"nullable":true},
  {"name":"Updated Datatimestamp","type":"timestamp_ntz","scale":9,"nullable":true},
  {"name":"ltz","type":"timestamp_ltz","scale":3,"nullable":true},
  {"name":"tz","type":"timestamp_tz","scale":9,"nullable":true},
  {"name":"bin","type":"binary","length":8,"nullable":true},
  {"name":"v","type":"variant","nullable":true},
  {"name":"o","type":"object","nullable":true},
  {"name":"a","type":"array","nullable":true},
  {"name":"big","type":"fixed","precision":38,"scale":0,"nullable":true},
  {"name":"long text","type":"TEXT","length":16777216,"nullable":true}
])";

std::string body_with(std::string_view data) {
  return R"({"resultSetMetaData":{"numRows":2,"format":"jsonv2","partitionInfo":[{"rowCount":2,"uncompressedSize":300}],"rowType":)" +
         row_type + R"(},"data":)" + std::string(data) +
         R"(,"code":"090001","statementStatusUrl":"/api/v2/statements/h?requestId=r","requestId":"r","sqlState":"00000","statementHandle":"01b2-h","message":"Statement executed successfully.","createdOn":1700000000000})";
}

const std::string two_rows = R"([
 ["42","-12.50","1.5e-3","caf\u00e9 \"q\"\ttab\\back","true","19723","45296.123456789",
  "1700000000.123456789","-1.500","1700000000.000000001 1500","0aFF","{\n  \"k\": [1, 2]\n}",
  "{\"a\":1}","[1,2]","123456789012345678901234567890","x\ny\r"],
 [ "7", null, "NaN", "", "false", "-719528", "0.000000000", "-0.000000001", "0.000", "0.5 0",
   "", "null", null, null, "-5", "\u65e5\u672c"]
])";

}  // namespace

TEST(SnowflakeTypes, PostgresTypesFollowTheDocumentedMapping) {
  std::string err;
  const auto cols = sf::parse_row_type(row_type, err);
  ASSERT_TRUE(cols) << err;
  const std::vector<std::string> want = {R"("ID" bigint)",
                                         R"("Amount" numeric(38,2))",
                                         R"("ratio" double precision)",
                                         R"("Name" varchar(40))",
                                         R"("ok" boolean)",
                                         R"("d" date)",
                                         R"("t" time)",
                                         R"("Updated Datatimestamp" timestamp)",
                                         R"("ltz" timestamptz)",
                                         R"("tz" timestamptz)",
                                         R"("bin" bytea)",
                                         R"("v" jsonb)",
                                         R"("o" jsonb)",
                                         R"("a" jsonb)",
                                         R"("big" numeric(38,0))",
                                         R"("long text" text)"};
  EXPECT_EQ(sf::pg_column_ddl(*cols), want);
  EXPECT_EQ((*cols)[0].name, "ID");
  EXPECT_FALSE((*cols)[0].nullable);
  EXPECT_EQ((*cols)[15].type_name, "text");
  EXPECT_EQ(sf::pg_type(col("g", sf::parse_type("GEOGRAPHY"))), "text");
  EXPECT_EQ(sf::pg_type(col("n", sf::sf_type::fixed, 19, 0)), "numeric(19,0)");
  EXPECT_EQ(sf::pg_type(col("n", sf::sf_type::fixed)), "numeric");
}

TEST(SnowflakeJson, DecodesEveryTypeToCopyText) {
  const sf::decoded_result r = sf::decode_jsonv2(body_with(two_rows));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.rows, 2);
  EXPECT_EQ(r.meta.statement_handle, "01b2-h");
  EXPECT_EQ(r.meta.sql_state, "00000");
  EXPECT_EQ(r.meta.num_rows, 2);
  ASSERT_EQ(r.meta.partitions.size(), 1U);
  EXPECT_EQ(r.meta.partitions[0].row_count, 2);
  EXPECT_EQ(r.meta.partitions[0].uncompressed_size, 300);
  const std::string want =
      "42\t-12.50\t1.5e-3\tcaf\xc3\xa9 \"q\"\\ttab\\\\back\tt\t2024-01-01\t12:34:56.123456789\t"
      "2023-11-14 22:13:20.123456789\t1969-12-31 23:59:58.500+00\t"
      "2023-11-14 22:13:20.000000001+00\t\\\\x0aff\t{\\n  \"k\": [1, 2]\\n}\t{\"a\":1}\t[1,2]\t"
      "123456789012345678901234567890\tx\\ny\\r\n"
      "7\t\\N\tNaN\t\tf\t0001-01-01 BC\t00:00:00.000000000\t1969-12-31 23:59:59.999999999\t"
      "1970-01-01 00:00:00.000+00\t1970-01-01 00:00:00.5+00\t\\\\x\tnull\t\\N\t\\N\t-5\t"
      "\xe6\x97\xa5\xe6\x9c\xac\n";
  EXPECT_EQ(r.copy_text, want);
  // The COPY text parses back into the values.
  uc::copy_text_parser p;
  p.expect_fields(16);
  std::vector<std::vector<std::optional<std::string>>> rows;
  ASSERT_TRUE(p.feed(r.copy_text, [&](const auto& f) {
    std::vector<std::optional<std::string>> row;
    for (const auto& v : f)
      row.push_back(v ? std::optional<std::string>(std::string(*v)) : std::nullopt);
    rows.push_back(row);
  })) << p.error();
  ASSERT_EQ(rows.size(), 2U);
  EXPECT_EQ(rows[0][3], "caf\xc3\xa9 \"q\"\ttab\\back");
  EXPECT_EQ(rows[0][10], "\\x0aff");
  EXPECT_EQ(rows[1][1], std::nullopt);
  EXPECT_EQ(rows[1][3], "");
}

TEST(SnowflakeJson, SplitAnywhereGivesTheSameRows) {
  const std::string body = body_with(two_rows);
  const std::string whole = sf::decode_jsonv2(body).copy_text;
  for (std::size_t piece : {1UL, 2UL, 3UL, 7UL, 64UL, 1000UL}) {
    sf::jsonv2_decoder d;
    std::string out;
    for (std::size_t i = 0; i < body.size(); i += piece)
      ASSERT_TRUE(d.feed(std::string_view(body).substr(i, piece), out)) << d.error();
    ASSERT_TRUE(d.finish(out)) << d.error();
    EXPECT_EQ(out, whole) << "pieces of " << piece;
    EXPECT_EQ(d.rows(), 2);
  }
}

TEST(SnowflakeJson, LaterPartitionsUseTheFirstPartitionsColumns) {
  std::string err;
  const auto cols = sf::parse_row_type(R"([{"name":"a","type":"fixed","precision":10,"scale":0},
                                           {"name":"b","type":"text","length":5}])",
                                       err);
  ASSERT_TRUE(cols) << err;
  const auto r = sf::decode_jsonv2(R"({"data":[["1","x"],["2",null]]})", &*cols);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.copy_text, "1\tx\n2\t\\N\n");
  // Without the columns the same body is refused, not guessed at.
  const auto bad = sf::decode_jsonv2(R"({"data":[["1","x"]]})");
  EXPECT_NE(bad.error.find("data before resultSetMetaData.rowType"), std::string::npos);
  // An empty result and a DML answer without data.
  EXPECT_TRUE(sf::decode_jsonv2(R"({"data":[]})", &*cols).ok());
  EXPECT_TRUE(sf::decode_jsonv2(R"({"code":"090001","data":null})", &*cols).ok());
}

TEST(SnowflakeJson, ValuesOfEveryTypeAndTheirRefusals) {
  using sf::sf_type;
  EXPECT_EQ(copy_of(col("i", sf_type::fixed, 18, 0), "-9223372036854775808"),
            "-9223372036854775808");
  EXPECT_EQ(copy_of(col("i", sf_type::fixed, 18, 0), "9223372036854775808"), std::nullopt);
  EXPECT_EQ(copy_of(col("i", sf_type::fixed, 18, 0), "1.5"), std::nullopt);
  EXPECT_EQ(copy_of(col("n", sf_type::fixed, 38, 3), "-0.125"), "-0.125");
  EXPECT_EQ(copy_of(col("n", sf_type::fixed, 38, 3), "1e5"), std::nullopt);
  EXPECT_EQ(copy_of(col("n", sf_type::fixed, 38, 3), ""), std::nullopt);
  EXPECT_EQ(copy_of(col("n", sf_type::fixed, 38, 3), "1."), std::nullopt);
  EXPECT_EQ(copy_of(col("f", sf_type::real), "-inf"), "-Infinity");
  EXPECT_EQ(copy_of(col("f", sf_type::real), "inf"), "Infinity");
  EXPECT_EQ(copy_of(col("f", sf_type::real), "1.7976931348623157e308"), "1.7976931348623157e308");
  EXPECT_EQ(copy_of(col("f", sf_type::real), "1,5"), std::nullopt);
  EXPECT_EQ(copy_of(col("b", sf_type::boolean), "1"), "t");
  EXPECT_EQ(copy_of(col("b", sf_type::boolean), "yes"), std::nullopt);
  EXPECT_EQ(copy_of(col("d", sf_type::date), "2932896"), "9999-12-31");
  EXPECT_EQ(copy_of(col("d", sf_type::date), "-1"), "1969-12-31");
  EXPECT_EQ(copy_of(col("d", sf_type::date), "1.5"), std::nullopt);
  EXPECT_EQ(copy_of(col("t", sf_type::time), "86399.999"), "23:59:59.999");
  EXPECT_EQ(copy_of(col("t", sf_type::time), "86400"), std::nullopt);
  EXPECT_EQ(copy_of(col("ts", sf_type::timestamp_ntz), "253402300799.999999999"),
            "9999-12-31 23:59:59.999999999");
  EXPECT_EQ(copy_of(col("ts", sf_type::timestamp_ntz), "-62135596800"), "0001-01-01 00:00:00");
  EXPECT_EQ(copy_of(col("ts", sf_type::timestamp_ntz), "1.1234567891"), std::nullopt);
  EXPECT_EQ(copy_of(col("ts", sf_type::timestamp_ntz), "--1"), std::nullopt);
  EXPECT_EQ(copy_of(col("tz", sf_type::timestamp_tz), "0 1440"), "1970-01-01 00:00:00+00");
  EXPECT_EQ(copy_of(col("tz", sf_type::timestamp_tz), "0 2881"), std::nullopt);
  EXPECT_EQ(copy_of(col("tz", sf_type::timestamp_tz), "0"), std::nullopt);
  EXPECT_EQ(copy_of(col("x", sf_type::binary), "abc"), std::nullopt);
  EXPECT_EQ(copy_of(col("x", sf_type::binary), "zz"), std::nullopt);
  EXPECT_EQ(copy_of(col("s", sf_type::text), std::string_view("a\0b", 3)), std::nullopt);
  EXPECT_EQ(copy_of(col("s", sf_type::text), "\b\f\v\x01"), "\\b\\f\\v\x01");
}

TEST(SnowflakeJson, WatermarksKeepNanoseconds) {
  const auto ntz = col("w", sf::sf_type::timestamp_ntz, {}, 9);
  const auto a = sf::instant_of(ntz, "1700000000.123456789");
  const auto b = sf::instant_of(ntz, "1700000000.123456790");
  ASSERT_TRUE(a && b);
  EXPECT_LT(*a, *b);  // one nanosecond apart: PostgreSQL's microseconds would call them equal
  EXPECT_EQ(sf::epoch_text(*a), "1700000000.123456789");
  EXPECT_EQ(sf::epoch_nanoseconds_text(*a), "1700000000123456789");
  EXPECT_EQ(sf::iso_timestamp(*a), "2023-11-14 22:13:20.123456789");
  EXPECT_EQ(sf::parse_epoch(sf::epoch_text(*a)), a);
  const auto neg = sf::parse_epoch("-1.250");
  ASSERT_TRUE(neg);
  EXPECT_EQ(neg->seconds, -2);
  EXPECT_EQ(neg->nanos, 750'000'000U);
  EXPECT_EQ(sf::epoch_text(*neg), "-1.250");
  EXPECT_EQ(sf::epoch_nanoseconds_text(*neg), "-1250000000");
  // Year 9999 does not fit int64 nanoseconds; the text stays exact.
  const auto far = sf::parse_epoch("253402300799.999999999");
  ASSERT_TRUE(far);
  EXPECT_EQ(sf::epoch_nanoseconds_text(*far), "253402300799999999999");
  // TIMESTAMP_TZ compares by instant, whatever the offset.
  const auto tz = col("w", sf::sf_type::timestamp_tz);
  EXPECT_EQ(sf::instant_of(tz, "100.5 1500"), sf::instant_of(tz, "100.5 0"));
  EXPECT_EQ(sf::instant_of(tz, "100.5 1500")->offset_minutes, 60);
  EXPECT_EQ(sf::instant_of(col("d", sf::sf_type::date), "1")->seconds, 86400);
  EXPECT_FALSE(sf::instant_of(col("s", sf::sf_type::text), "1"));
}

TEST(SnowflakeJson, MalformedBodiesAreErrorsNeverCrashes) {
  const std::vector<std::string> bad = {
      "",
      "[",
      "{",
      "{\"data\":[[\"1\"]]}",  // no rowType
      body_with("[[\"1\"]]"),  // too few values
      body_with("[[1,2]]"),    // numbers are not jsonv2 values
      body_with("[\"x\"]"),
      body_with("[[\"\\u12\"]]"),
      body_with("[[\"\\ud800\"]]"),
      body_with("[[\"a\nb\"]]"),
      body_with("{}"),
      body_with(two_rows) + "x",
      body_with(two_rows).substr(0, 900),
      R"({"resultSetMetaData":{"format":"arrowv1","rowType":[]},"data":[]})",
      R"({"resultSetMetaData":{"rowType":[{"type":"text"}]},"data":[]})",
      R"({"resultSetMetaData":{"rowType":"x"},"data":[]})",
      R"({"a":1,})",
      R"({"a" 1})",
      R"({"data":[]]})",
  };
  for (const std::string& b : bad) {
    const auto r = sf::decode_jsonv2(b);
    EXPECT_FALSE(r.ok()) << b;
    EXPECT_EQ(r.error.rfind("jsonv2 result: ", 0), 0U) << r.error;
    EXPECT_TRUE(r.copy_text.empty());
  }
  const auto r = sf::decode_jsonv2(
      body_with(R"([["1","1","1","a","true","1","1","1","1","1 1440","","","","","1","",""]])"));
  EXPECT_NE(r.error.find("row 1: more values than the 16 columns"), std::string::npos) << r.error;
  const auto t = sf::decode_jsonv2(
      body_with(R"([["1","x","1","a","true","1","1","1","1","1 1440","","","","","1",""]])"));
  EXPECT_NE(t.error.find("column \"Amount\" (fixed): not a decimal number"), std::string::npos)
      << t.error;
}

TEST(SnowflakeJson, AHugeValueInTinyPiecesCostsLinearTime) {
  // 4 MiB in one value, fed 16 bytes at a time: re-parsing the carried row on every piece
  // would scan 500 GiB; the doubling rule keeps it to a few passes.
  std::string big(4 << 20, 'z');
  const std::string body = R"({"data":[[")" + big + R"("]]})";
  sf::column c = col("s", sf::sf_type::text);
  sf::jsonv2_decoder d({c});
  std::string out;
  for (std::size_t i = 0; i < body.size(); i += 16)
    ASSERT_TRUE(d.feed(std::string_view(body).substr(i, 16), out));
  ASSERT_TRUE(d.finish(out)) << d.error();
  EXPECT_EQ(out, big + "\n");
}

TEST(SnowflakeJson, AWatchedColumnKeepsItsGreatestInstantAndNulls) {
  sf::jsonv2_decoder d;
  d.watch("Updated Datatimestamp");
  std::string out;
  ASSERT_TRUE(d.feed(body_with(two_rows), out) && d.finish(out)) << d.error();
  // Row 1: 1700000000.123456789, row 2: -0.000000001.
  ASSERT_TRUE(d.watched_max());
  EXPECT_EQ(sf::epoch_text(*d.watched_max()), "1700000000.123456789");
  EXPECT_EQ(d.watched_nulls(), 0);
  sf::jsonv2_decoder n(*sf::parse_row_type(R"([{"name":"w","type":"timestamp_ntz","scale":9}])",
                                           *std::make_unique<std::string>()));
  n.watch("w");
  std::string o2;
  ASSERT_TRUE(n.feed(R"({"data":[[null],["5.000000001"],["5.000000002"],[null],["1"]]})", o2) &&
              n.finish(o2));
  EXPECT_EQ(sf::epoch_text(*n.watched_max()), "5.000000002");
  EXPECT_EQ(n.watched_nulls(), 2);
}
