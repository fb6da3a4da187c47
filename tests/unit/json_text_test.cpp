#include "codecs/json_text.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using uringmig::codecs::append_json_string;
using uringmig::codecs::json_string;

TEST(json_text, quotes_backslashes_and_controls) {
  EXPECT_EQ(json_string(""), "\"\"");
  EXPECT_EQ(json_string("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(json_string("\n\r\t\b\f"), R"("\n\r\t\b\f")");
  EXPECT_EQ(json_string(std::string("\x00\x01\x1f\x7f", 4)), "\"\\u0000\\u0001\\u001f\x7f\"");
}

TEST(json_text, well_formed_utf8_is_copied) {
  // 2, 3 and 4-byte sequences, at the edges of their ranges.
  const std::string s =
      "\xc2\x80 \xdf\xbf \xe0\xa0\x80 \xed\x9f\xbf \xef\xbf\xbf \xf0\x90\x80\x80 "
      "\xf4\x8f\xbf\xbf é";
  EXPECT_EQ(json_string(s), "\"" + s + "\"");
}

TEST(json_text, each_byte_of_a_malformed_sequence_is_one_replacement) {
  EXPECT_EQ(json_string("\xff"), R"("\ufffd")");
  EXPECT_EQ(json_string("caf\xe9"), R"("caf\ufffd")");                          // Latin-1
  EXPECT_EQ(json_string("\xc0\xaf"), R"("\ufffd\ufffd")");                      // overlong '/'
  EXPECT_EQ(json_string("\xe0\x80\x80"), R"("\ufffd\ufffd\ufffd")");            // overlong NUL
  EXPECT_EQ(json_string("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");            // surrogate
  EXPECT_EQ(json_string("\xf4\x90\x80\x80"), R"("\ufffd\ufffd\ufffd\ufffd")");  // > U+10FFFF
  EXPECT_EQ(json_string("x\xe2\x82"), R"("x\ufffd\ufffd")");  // truncated at the end
}

TEST(json_text, escapes_found_at_every_offset_of_the_word_scan) {
  // The scan reads 8 bytes at a time: an escape at each position of a word, and after it.
  for (std::size_t at = 0; at < 20; ++at) {
    for (const char c : {'"', '\\', '\n', '\x01', '\x80'}) {
      std::string in(20, 'a');
      in[at] = c;
      const std::string out = json_string(in);
      const std::string esc = c == '"'    ? "\\\""
                              : c == '\\' ? "\\\\"
                              : c == '\n' ? "\\n"
                              : c == 1    ? "\\u0001"
                                          : "\\ufffd";
      EXPECT_EQ(out, "\"" + std::string(at, 'a') + esc + std::string(19 - at, 'a') + "\"")
          << "at " << at << " byte " << static_cast<int>(static_cast<unsigned char>(c));
    }
  }
}

TEST(json_text, append_keeps_what_is_there) {
  std::string out = "{\"k\":";
  append_json_string(out, "v");
  EXPECT_EQ(out, R"({"k":"v")");
}

}  // namespace
