// codecs/doris_binary_transcode and codecs/pg_binary on scripted COPY binary bytes: the values
// rendered as PostgreSQL 15 prints them (ISO, UTC, extra_float_digits 1), the Doris CSV rules,
// pieces split at every offset, malformed input refused.

#include "codecs/doris_binary_transcode.hpp"
#include "codecs/pg_binary.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace {

using namespace uringmig::codecs;
using t = pg_binary_type;

// ---- building a COPY binary stream -----------------------------------------------------------

void put16(std::string& s, std::uint16_t v) {
  s.push_back(static_cast<char>(v >> 8));
  s.push_back(static_cast<char>(v & 0xFF));
}
void put32(std::string& s, std::uint32_t v) {
  put16(s, static_cast<std::uint16_t>(v >> 16));
  put16(s, static_cast<std::uint16_t>(v & 0xFFFF));
}
void put64(std::string& s, std::uint64_t v) {
  put32(s, static_cast<std::uint32_t>(v >> 32));
  put32(s, static_cast<std::uint32_t>(v & 0xFFFFFFFF));
}

std::string header(std::string_view extension = {}) {
  std::string s("PGCOPY\n\xff\r\n", 10);
  s.push_back('\0');
  put32(s, 0);
  put32(s, static_cast<std::uint32_t>(extension.size()));
  s.append(extension);
  return s;
}

std::string trailer() {
  std::string s;
  put16(s, 0xFFFF);
  return s;
}

using field = std::optional<std::string>;  // a value's send form; nullopt: NULL

std::string tuple(const std::vector<field>& fields) {
  std::string s;
  put16(s, static_cast<std::uint16_t>(fields.size()));
  for (const auto& f : fields) {
    if (!f) {
      put32(s, 0xFFFFFFFF);
      continue;
    }
    put32(s, static_cast<std::uint32_t>(f->size()));
    s.append(*f);
  }
  return s;
}

std::string i16(std::int16_t v) {
  std::string s;
  put16(s, static_cast<std::uint16_t>(v));
  return s;
}
std::string i32(std::int32_t v) {
  std::string s;
  put32(s, static_cast<std::uint32_t>(v));
  return s;
}
std::string i64(std::int64_t v) {
  std::string s;
  put64(s, static_cast<std::uint64_t>(v));
  return s;
}
std::string f4(float v) {
  return i32(std::bit_cast<std::int32_t>(v));
}
std::string f8(double v) {
  return i64(std::bit_cast<std::int64_t>(v));
}
std::string numeric(std::int16_t weight, std::uint16_t sign, std::uint16_t dscale,
                    const std::vector<std::uint16_t>& digits) {
  std::string s;
  put16(s, static_cast<std::uint16_t>(digits.size()));
  put16(s, static_cast<std::uint16_t>(weight));
  put16(s, sign);
  put16(s, dscale);
  for (auto d : digits)
    put16(s, d);
  return s;
}

std::string run(const std::vector<pg_binary_type>& types, const std::string& stream,
                std::size_t piece) {
  doris_binary_transcoder tr(types);
  byte_buffer out;
  for (std::size_t at = 0; at < stream.size(); at += piece)
    EXPECT_TRUE(tr.feed(std::string_view(stream).substr(at, piece), out)) << tr.error();
  EXPECT_TRUE(tr.finish());
  return std::string(out.view());
}

// ---- value renderers -------------------------------------------------------------------------

std::string float8_text(double v) {
  char buf[64];
  return {buf, pg_binary::put_float8(buf, v)};
}
std::string float4_text(float v) {
  char buf[64];
  return {buf, pg_binary::put_float4(buf, v)};
}
std::string numeric_text(const std::string& send) {
  const auto* p = reinterpret_cast<const unsigned char*>(send.data());
  std::string buf(pg_binary::numeric_text_bound(p, send.size()), '?');
  char* end = pg_binary::put_numeric(buf.data(), p, send.size());
  if (end == nullptr) return "<bad>";
  buf.resize(static_cast<std::size_t>(end - buf.data()));
  return buf;
}
std::string timestamp_text(std::int64_t micros, std::string_view zone = {}) {
  char buf[64];
  return {buf, pg_binary::put_timestamp(buf, micros, zone)};
}
std::string date_text(std::int32_t days) {
  char buf[64];
  return {buf, pg_binary::put_date(buf, days)};
}

constexpr std::int64_t day_us = 86400LL * 1000000;

TEST(pg_binary, float8_like_float8out_with_extra_float_digits) {
  EXPECT_EQ(float8_text(0.1), "0.1");
  EXPECT_EQ(float8_text(1.5), "1.5");
  EXPECT_EQ(float8_text(-2.25), "-2.25");
  EXPECT_EQ(float8_text(100), "100");
  EXPECT_EQ(float8_text(123456789012345.0), "123456789012345");
  EXPECT_EQ(float8_text(1e15), "1e+15");
  EXPECT_EQ(float8_text(1234567890123456.0), "1.234567890123456e+15");
  EXPECT_EQ(float8_text(0.0001), "0.0001");
  EXPECT_EQ(float8_text(0.00012345), "0.00012345");
  EXPECT_EQ(float8_text(0.00001), "1e-05");
  EXPECT_EQ(float8_text(1.5e300), "1.5e+300");
  EXPECT_EQ(float8_text(5e-324), "5e-324");
  EXPECT_EQ(float8_text(1.7976931348623157e308), "1.7976931348623157e+308");
  EXPECT_EQ(float8_text(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(float8_text(0.0), "0");
  EXPECT_EQ(float8_text(-0.0), "-0");
  EXPECT_EQ(float8_text(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(float8_text(std::numeric_limits<double>::infinity()), "Infinity");
  EXPECT_EQ(float8_text(-std::numeric_limits<double>::infinity()), "-Infinity");
}

TEST(pg_binary, float4_switches_to_exponents_past_six_digits) {
  EXPECT_EQ(float4_text(0.1f), "0.1");
  EXPECT_EQ(float4_text(123456.f), "123456");
  EXPECT_EQ(float4_text(1234567.f), "1.234567e+06");
  EXPECT_EQ(float4_text(1e6f), "1e+06");
  EXPECT_EQ(float4_text(3.4028235e38f), "3.4028235e+38");
  EXPECT_EQ(float4_text(1e-5f), "1e-05");
  EXPECT_EQ(float4_text(-0.f), "-0");
  // The shortest decimal that reads back is 1.1714414e+08, but it is the lower bound of the
  // float's interval: PostgreSQL's Ryu leaves bounds out.
  EXPECT_EQ(float4_text(117144144.f), "1.17144144e+08");
}

TEST(pg_binary, numeric_like_numeric_out) {
  EXPECT_EQ(numeric_text(numeric(0, 0, 2, {12, 3000})), "12.30");
  EXPECT_EQ(numeric_text(numeric(0, 0x4000, 2, {12, 3000})), "-12.30");
  EXPECT_EQ(numeric_text(numeric(-1, 0, 4, {1})), "0.0001");
  EXPECT_EQ(numeric_text(numeric(-2, 0, 8, {1234})), "0.00001234");
  EXPECT_EQ(numeric_text(numeric(1, 0, 0, {1})), "10000");
  EXPECT_EQ(numeric_text(numeric(2, 0, 3, {12, 0, 5})), "1200000005.000");
  EXPECT_EQ(numeric_text(numeric(0, 0, 3, {})), "0.000");
  EXPECT_EQ(numeric_text(numeric(0, 0, 0, {})), "0");
  EXPECT_EQ(numeric_text(numeric(0, 0, 1, {7, 5000})), "7.5");  // digits past dscale dropped
  EXPECT_EQ(numeric_text(numeric(0, 0xC000, 0, {})), "NaN");
  EXPECT_EQ(numeric_text(numeric(0, 0xD000, 0, {})), "Infinity");
  EXPECT_EQ(numeric_text(numeric(0, 0xF000, 0, {})), "-Infinity");
  EXPECT_EQ(numeric_text(numeric(0, 0x1234, 0, {1})), "<bad>");
  EXPECT_EQ(numeric_text(numeric(0, 0, 0, {10000})), "<bad>");
  EXPECT_EQ(numeric_text(numeric(0, 0, 0, {1}).substr(0, 9)), "<bad>");
}

TEST(pg_binary, dates_and_timestamps_in_iso_style) {
  EXPECT_EQ(date_text(0), "2000-01-01");
  EXPECT_EQ(date_text(-1), "1999-12-31");
  EXPECT_EQ(date_text(-730119), "0001-01-01");
  EXPECT_EQ(date_text(-730120), "0001-12-31 BC");
  EXPECT_EQ(date_text(2914000), "9978-04-06");
  EXPECT_EQ(date_text(3000000), "10213-09-21");
  EXPECT_EQ(date_text(INT32_MIN), "-infinity");
  EXPECT_EQ(date_text(INT32_MAX), "infinity");
  EXPECT_EQ(timestamp_text(0), "2000-01-01 00:00:00");
  EXPECT_EQ(timestamp_text(-1), "1999-12-31 23:59:59.999999");
  EXPECT_EQ(timestamp_text(day_us + 3723 * 1000000LL + 500000), "2000-01-02 01:02:03.5");
  EXPECT_EQ(timestamp_text(120000, "+00"), "2000-01-01 00:00:00.12+00");
  EXPECT_EQ(timestamp_text(-730120 * day_us, "+00"), "0001-12-31 00:00:00+00 BC");
  EXPECT_TRUE(pg_binary::timestamp_is_bc(-730119 * day_us - 1));
  EXPECT_FALSE(pg_binary::timestamp_is_bc(-730119 * day_us));
  EXPECT_EQ(timestamp_text(INT64_MIN), "-infinity");
  EXPECT_EQ(timestamp_text(INT64_MAX), "infinity");
}

TEST(pg_binary, type_oids) {
  EXPECT_EQ(pg_binary_type_of(1184), pg_binary_type::timestamptz);
  EXPECT_EQ(pg_binary_type_of(1043), pg_binary_type::text);
  EXPECT_EQ(pg_binary_type_of(1700), pg_binary_type::numeric);
  EXPECT_EQ(pg_binary_type_of(1186), std::nullopt);  // interval
  EXPECT_EQ(pg_binary_type_of(1007), std::nullopt);  // int4[]
  EXPECT_EQ(pg_binary_type_of(0), std::nullopt);
}

// ---- the transcoder --------------------------------------------------------------------------

const std::vector<pg_binary_type> all_types = {
    t::int2, t::int4,  t::int8,    t::oid,  t::float4,    t::float8,      t::numeric, t::text,
    t::json, t::jsonb, t::boolean, t::date, t::timestamp, t::timestamptz, t::uuid,    t::bytea};

std::string uuid_bytes() {
  std::string s;
  for (int i = 0; i < 16; ++i)
    s.push_back(static_cast<char>(i * 17));
  return s;
}

std::string sample_stream() {
  std::string s = header("ext!");
  s += tuple({i16(-32768), i32(2147483647), i64(INT64_MIN), i32(-1), f4(0.5f), f8(1e20),
              numeric(0, 0, 2, {12, 3000}), std::string("plain"), std::string("{\"a\": 1}"),
              std::string("\x01{\"b\": [2]}"), std::string(1, '\1'), i32(-730120),
              i64(day_us + 1500000), i64(-730120 * day_us), uuid_bytes(),
              std::string("\x00\xff", 2)});
  s += tuple({std::nullopt, std::nullopt, std::nullopt, std::nullopt, std::nullopt, std::nullopt,
              std::nullopt, std::string(), std::nullopt, std::nullopt, std::string(1, '\0'),
              i32(INT32_MAX), i64(INT64_MAX), i64(INT64_MIN), std::nullopt, std::string()});
  s += tuple({i16(7), i32(0), i64(42), i32(0), f4(-0.f), f8(-1.5), numeric(0, 0xC000, 0, {}),
              std::string("a\"b\\c\x01\nd\re"), std::string("\\N"), std::string("\x01", 1),
              std::string(1, '\1'), i32(0), i64(0), i64(120000), uuid_bytes(), std::string("z")});
  return s + trailer();
}

const std::string sample_csv =
    "-32768\x01"
    "2147483647\x01-9223372036854775808\x01"
    "4294967295\x01"
    "0.5\x01"
    "1e+20\x01"
    "12.30\x01plain\x01\"{\\\"a\\\": 1}\"\x01\"{\\\"b\\\": [2]}\"\x01true\x01"
    "0001-12-31 BC\x01"
    "2000-01-02 00:00:01.5\x01"
    "0001-12-31 00:00:00+00 BC\x01"
    "00112233-4455-6677-8899-aabbccddeeff\x01"
    "00ff\n"
    "\\N\x01\\N\x01\\N\x01\\N\x01\\N\x01\\N\x01\\N\x01\"\"\x01\\N\x01\\N\x01"
    "false\x01"
    "infinity\x01infinity\x01-infinity\x01\\N\x01\"\"\n"
    "7\x01"
    "0\x01"
    "42\x01"
    "0\x01-0\x01-1.5\x01NaN\x01\"a\\\"b\\\\c\x01\nd\re\"\x01\"\\\\N\"\x01"
    "\"\"\x01true\x01"
    "2000-01-01\x01"
    "2000-01-01 00:00:00\x01"
    "2000-01-01 00:00:00.12\x01"
    "00112233-4455-6677-8899-aabbccddeeff\x01"
    "7a\n";

TEST(doris_binary_transcoder, every_type_and_the_csv_rules) {
  const std::string out = run(all_types, sample_stream(), 1 << 20);
  EXPECT_EQ(out, sample_csv);
  doris_binary_transcoder tr(all_types);
  byte_buffer b;
  ASSERT_TRUE(tr.feed(sample_stream(), b));
  EXPECT_EQ(tr.rows(), 3);
}

TEST(doris_binary_transcoder, pieces_split_at_every_offset) {
  const std::string s = sample_stream();
  for (std::size_t cut = 0; cut <= s.size(); ++cut) {
    doris_binary_transcoder tr(all_types);
    byte_buffer out;
    ASSERT_TRUE(tr.feed(std::string_view(s).substr(0, cut), out)) << cut << ": " << tr.error();
    EXPECT_FALSE(tr.finish() && cut < s.size()) << cut;
    ASSERT_TRUE(tr.feed(std::string_view(s).substr(cut), out)) << cut << ": " << tr.error();
    ASSERT_TRUE(tr.finish()) << cut;
    ASSERT_EQ(out.view(), sample_csv) << "cut at " << cut;
  }
  for (std::size_t piece : {1, 2, 3, 5, 7, 13})
    EXPECT_EQ(run(all_types, s, piece), sample_csv) << piece;
}

TEST(doris_binary_transcoder, truncated_input_does_not_finish) {
  const std::string s = sample_stream();
  for (std::size_t cut : {std::size_t{0}, std::size_t{5}, std::size_t{23}, s.size() - 1}) {
    doris_binary_transcoder tr(all_types);
    byte_buffer out;
    ASSERT_TRUE(tr.feed(s.substr(0, cut), out));
    EXPECT_FALSE(tr.finish()) << cut;
  }
}

bool refused(const std::vector<pg_binary_type>& types, const std::string& stream,
             std::string* error = nullptr) {
  doris_binary_transcoder tr(types);
  byte_buffer out;
  const bool ok = tr.feed(stream, out);
  if (error) *error = tr.error();
  return !ok;
}

TEST(doris_binary_transcoder, malformed_input_is_refused_and_appends_nothing) {
  const std::vector<pg_binary_type> two = {t::int4, t::text};
  std::string e;
  EXPECT_TRUE(refused(two, "PGCOPY\n\xfe\r\n" + std::string(9, '\0'), &e));
  EXPECT_NE(e.find("signature"), std::string::npos);
  EXPECT_TRUE(refused(two, header() + tuple({i32(1)}), &e));
  EXPECT_NE(e.find("1 fields, expected 2"), std::string::npos);
  EXPECT_TRUE(refused(two, header() + tuple({i16(1), std::string("x")}), &e));
  EXPECT_NE(e.find("column 1"), std::string::npos);
  EXPECT_TRUE(refused({t::boolean}, header() + tuple({std::string(1, '\2')})));
  EXPECT_TRUE(refused({t::jsonb}, header() + tuple({std::string("\x02{}")})));
  EXPECT_TRUE(refused({t::uuid}, header() + tuple({std::string(15, 'a')})));
  EXPECT_TRUE(refused({t::numeric}, header() + tuple({numeric(0, 0x8000, 0, {1})})));
  EXPECT_TRUE(refused(two, header() + trailer() + tuple({i32(1), std::string("x")}), &e));
  EXPECT_NE(e.find("after"), std::string::npos);
  std::string negative = header();
  put16(negative, 1);
  put32(negative, 0xFFFFFFFE);
  EXPECT_TRUE(refused({t::text}, negative));

  // A bad row after good ones: the good ones stay, nothing of the bad one is appended.
  doris_binary_transcoder tr(two);
  byte_buffer out;
  EXPECT_FALSE(tr.feed(header() + tuple({i32(5), std::string("ok")}) +
                           tuple({i32(6), std::string("fine")}) + tuple({i64(1), std::nullopt}),
                       out));
  EXPECT_EQ(out.view(),
            "5\x01ok\n6\x01"
            "fine\n");
  EXPECT_EQ(tr.rows(), 2);
}

}  // namespace
