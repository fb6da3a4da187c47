#include "codecs/doris_transcode.hpp"
#include "codecs/copy_text.hpp"
#include "codecs/doris_format.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace {

using namespace uringmig::codecs;

std::vector<doris_column> text_columns(std::size_t n) {
  std::vector<doris_column> c;
  for (std::size_t i = 0; i < n; ++i)
    c.push_back({"c" + std::to_string(i), doris_value_kind::text});
  return c;
}

/// What the general path writes for the same COPY text.
std::string reference(const std::string& copy, std::size_t columns) {
  copy_text_parser p;
  p.expect_fields(columns);
  doris_row_writer w(doris_format::csv, text_columns(columns));
  std::string out;
  EXPECT_TRUE(p.feed(copy, [&](const std::vector<std::optional<std::string_view>>& f) {
    EXPECT_TRUE(w.append_row(out, f));
  }));
  return out;
}

std::string transcode(const std::string& copy, std::size_t columns, std::size_t piece,
                      std::int64_t* slow = nullptr) {
  doris_csv_transcoder t(text_columns(columns));
  std::string out;
  for (std::size_t at = 0; at < copy.size(); at += piece)
    EXPECT_TRUE(t.feed(std::string_view(copy).substr(at, piece), out)) << t.error();
  EXPECT_TRUE(t.finish());
  if (slow) *slow = t.slow_rows();
  return out;
}

TEST(doris_csv_transcoder, plain_rows_take_the_fast_path_and_match_the_general_one) {
  const std::string copy = "1\tabc\t\\N\n2\tx y z\t2024-05-01 08:00:00\n3\t\\N\t\\N\n";
  std::int64_t slow = -1;
  const std::string out = transcode(copy, 3, 1 << 20, &slow);
  EXPECT_EQ(out,
            "1\x01"
            "abc\x01\\N\n2\x01x y z\x01"
            "2024-05-01 08:00:00\n3\x01\\N\x01\\N\n");
  EXPECT_EQ(out, reference(copy, 3));
  EXPECT_EQ(slow, 0);
}

TEST(doris_csv_transcoder, rows_with_escapes_quotes_separators_or_empty_strings_go_the_long_way) {
  const std::vector<std::string> rows = {
      "1\t\tx",           // empty string in the middle
      "\t1\t2",           // ... first
      "1\t2\t",           // ... last
      "1\ta\\tb\tc",      // escaped tab
      "1\ta\\nb\\\\\tc",  // newline, backslash
      "1\t\"q\"\tc",      // quotes
      "1\ta\x01"
      "b\tc",         // the separator byte
      "1\t\\Nx\tc",   // \N not alone: the text "Nx"
      "1\t\\\\N\tc",  // the text \N
  };
  for (const auto& r : rows) {
    const std::string copy = r + "\n";
    std::int64_t slow = 0;
    EXPECT_EQ(transcode(copy, 3, 1 << 20, &slow), reference(copy, 3)) << r;
    EXPECT_EQ(slow, 1) << r;
  }
}

TEST(doris_csv_transcoder, random_rows_in_random_pieces_equal_the_general_path) {
  std::mt19937 rng(42);
  const char alphabet[] = {'a', 'b', ' ', '"', '\x01', 'N', '\xd0', '\x98'};
  const std::vector<std::string> escapes = {"\\t", "\\n", "\\r", "\\\\", "\\N"};
  for (int round = 0; round < 50; ++round) {
    const std::size_t columns = 1 + rng() % 5;
    std::string copy;
    for (int r = 0; r < 200; ++r) {
      for (std::size_t c = 0; c < columns; ++c) {
        if (c) copy += '\t';
        const unsigned pick = rng() % 10;
        if (pick == 0) {
          copy += "\\N";
        } else if (pick == 1) {
          // empty string
        } else {
          const std::size_t len = 1 + rng() % 8;
          for (std::size_t k = 0; k < len; ++k) {
            if (rng() % 8 == 0)
              copy += escapes[rng() % escapes.size()];
            else
              copy += alphabet[rng() % (rng() % 4 == 0 ? sizeof alphabet : 3)];
          }
        }
      }
      copy += '\n';
    }
    const std::string want = reference(copy, columns);
    for (std::size_t piece : {1u, 7u, 64u, 1u << 20})
      ASSERT_EQ(transcode(copy, columns, piece), want) << "round " << round << " piece " << piece;
  }
}

TEST(doris_csv_transcoder, a_wrong_field_count_is_an_error) {
  doris_csv_transcoder t(text_columns(3));
  std::string out;
  EXPECT_FALSE(t.feed("1\t2\n", out));
  EXPECT_FALSE(t.error().empty());
  EXPECT_TRUE(out.empty());
  doris_csv_transcoder u(text_columns(2));
  EXPECT_TRUE(u.feed("1\t2\n3", out));
  EXPECT_FALSE(u.finish());  // a partial row is left
}

}  // namespace
