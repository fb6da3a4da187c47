// Known vectors computed independently with Python:
//   h = int.from_bytes(hashlib.sha256(key.encode()).digest(), 'big'); h % n
#include "codecs/shard_route.hpp"

#include <gtest/gtest.h>

#include <string>

namespace uc = uringmig::codecs;

namespace {

struct vector_case {
  const char* key;
  bool top_bit;  // hash >= 2^255
  std::uint64_t mod10, mod11, mod7, mod1000003, mod_m61;
  const char* hex_prefix;  // first 8 bytes of the digest
};

const vector_case kVectors[] = {
    {"79161234567", false, 0, 1, 5, 696709, 980906098619457717ull, "1210f4f193f6032e"},
    {"79031112233", true, 6, 0, 4, 763584, 1573171905458071784ull, "c87592fe2bdafaba"},
    {"7", false, 9, 1, 4, 279502, 919290114470742554ull, "7902699be42c8a8e"},
    {"ИНН 7707083893", true, 7, 2, 3, 859787, 1366867347642738386ull, "e07cad5aeeb73b14"},
    {"hello world", true, 9, 3, 5, 679936, 1915331551452917997ull, "b94d27b9934d3e08"},
    {"abc", true, 5, 7, 5, 127342, 1488935780228551592ull, "ba7816bf8f01cfea"},
    {"x", false, 5, 3, 6, 900901, 2272546023130642340ull, "2d711642b726b044"},
    {"123456789012", false, 6, 0, 1, 78756, 1873186190423556527ull, "2a33349e7e606a8a"},
    {" 79161234567", false, 4, 2, 1, 705738, 170528772616306147ull, "1c757985e565fea7"},
};

std::string hex8(const uc::sha256_digest& d) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 8; ++i) {
    s += digits[d[static_cast<std::size_t>(i)] >> 4];
    s += digits[d[static_cast<std::size_t>(i)] & 15];
  }
  return s;
}

}  // namespace

TEST(ShardRoute, DigestsMatchHashlib) {
  for (const auto& v : kVectors) {
    const auto d = uc::sha256(v.key);
    EXPECT_EQ(hex8(d), v.hex_prefix) << v.key;
    EXPECT_EQ(d[0] >= 0x80, v.top_bit) << v.key;
  }
}

TEST(ShardRoute, ModuloOfTheWholeBigEndianInteger) {
  for (const auto& v : kVectors) {
    const auto d = uc::sha256(v.key);
    EXPECT_EQ(uc::mod_big_endian(d, 10), v.mod10) << v.key;
    EXPECT_EQ(uc::mod_big_endian(d, 11), v.mod11) << v.key;
    EXPECT_EQ(uc::mod_big_endian(d, 7), v.mod7) << v.key;
    EXPECT_EQ(uc::mod_big_endian(d, 1000003), v.mod1000003) << v.key;
    EXPECT_EQ(uc::mod_big_endian(d, (1ull << 61) - 1), v.mod_m61) << v.key;
    EXPECT_EQ(uc::mod_big_endian(d, 1), 0u);
  }
}

TEST(ShardRoute, RoutersShortcutEqualsTheBigIntegerModulo) {
  std::uint64_t seed = 12345;
  auto next = [&] {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return seed;
  };
  for (int n : {1, 2, 3, 7, 10, 11, 100, 255, 256, 1000, 65535, 65536, 1000003, 2147483647}) {
    const uc::shard_router r(n, n);
    for (int i = 0; i < 2000; ++i) {
      uc::sha256_digest d;
      for (auto& b : d)
        b = static_cast<std::uint8_t>(next() >> 56);
      if (i == 0) d.fill(0xff);  // the largest 256-bit value
      if (i == 1) d.fill(0);
      ASSERT_EQ(r.mod(d), uc::mod_big_endian(d, static_cast<std::uint64_t>(n))) << n << " " << i;
    }
  }
}

TEST(ShardRoute, RouterSendsBlankAndNullKeysToTheReservedShard) {
  const uc::shard_router r(10, 10);
  EXPECT_EQ(r.files(), 11);
  EXPECT_EQ(r.route("79161234567"), 0);
  EXPECT_EQ(r.route("79031112233"), 6);
  EXPECT_EQ(r.route(" 79161234567"), 4);  // no trimming of real keys
  EXPECT_EQ(r.route(""), 10);
  EXPECT_EQ(r.route("   "), 10);
  EXPECT_EQ(r.route("\t\r\n\v\f"), 10);
  EXPECT_EQ(r.route("\u00a0\u3000\u2007"), 10);
  EXPECT_EQ(r.route_null(), 10);

  const uc::shard_router inside(10, 3);
  EXPECT_EQ(inside.files(), 10);
  EXPECT_EQ(inside.route(" "), 3);
  EXPECT_EQ(inside.route("abc"), 5);
}

TEST(ShardRoute, BlankMeansGoWhiteSpaceOnly) {
  EXPECT_TRUE(uc::is_blank_key(""));
  EXPECT_TRUE(uc::is_blank_key(" \u0085 \u1680\u2028\u2029\u202f\u205f"));
  EXPECT_FALSE(uc::is_blank_key(" a "));
  EXPECT_FALSE(uc::is_blank_key("\u200b"));    // zero width space is not White_Space
  EXPECT_FALSE(uc::is_blank_key("\x1c"));      // Python's isspace says yes; Go says no
  EXPECT_FALSE(uc::is_blank_key("\xc2"));      // truncated sequence
  EXPECT_FALSE(uc::is_blank_key("\xc0\xa0"));  // overlong encoding of a space
  EXPECT_FALSE(uc::is_blank_key("\xff"));
}

TEST(ShardRoute, FileNames) {
  EXPECT_EQ(uc::shard_file_name("clients", 0), "clients_shard_00.db");
  EXPECT_EQ(uc::shard_file_name("clients", 10), "clients_shard_10.db");
  EXPECT_EQ(uc::shard_file_name("big", 123), "big_shard_123.db");
}
