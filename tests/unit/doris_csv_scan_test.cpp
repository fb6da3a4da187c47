#include "codecs/doris_csv_scan.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using namespace uringmig::codecs;

const auto* bytes(const std::string& s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

TEST(doris_csv_scan, the_special_bytes_are_the_dialects) {
  for (int c = 0; c < 256; ++c) {
    const bool want = c == doris_csv_separator || c == '\n' || c == '\r' ||
                      c == doris_csv_enclose || c == doris_csv_escape;
    EXPECT_EQ(doris_csv_special[static_cast<std::size_t>(c)], want) << c;
  }
}

TEST(doris_csv_scan, finds_the_first_special_byte_at_any_offset) {
  // Past the 16-byte vector steps and in the scalar tail, for each special byte.
  for (std::size_t n : {1u, 15u, 16u, 17u, 40u}) {
    const std::string plain(n, 'x');
    EXPECT_EQ(doris_csv_plain_prefix(bytes(plain), n), n);
    for (std::size_t at = 0; at < n; ++at) {
      for (const char c : {doris_csv_separator, '\n', '\r', doris_csv_enclose, doris_csv_escape}) {
        std::string s = plain;
        s[at] = c;
        if (at + 1 < n) s[n - 1] = doris_csv_enclose;  // a later hit does not matter
        EXPECT_EQ(doris_csv_plain_prefix(bytes(s), n), at) << "n " << n << " at " << at;
      }
    }
  }
  EXPECT_EQ(doris_csv_plain_prefix(nullptr, 0), 0u);
}

}  // namespace
