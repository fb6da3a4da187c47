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

/// Columns of every kind, repeated: text, integer, boolean, timestamptz, bytea, json, number.
std::vector<doris_column> mixed_columns(std::size_t n) {
  const doris_value_kind kinds[] = {doris_value_kind::text,    doris_value_kind::integer,
                                    doris_value_kind::boolean, doris_value_kind::timestamptz,
                                    doris_value_kind::bytea,   doris_value_kind::json,
                                    doris_value_kind::number};
  std::vector<doris_column> c;
  for (std::size_t i = 0; i < n; ++i)
    c.push_back({"c" + std::to_string(i), kinds[i % 7]});
  return c;
}

/// What the general path writes for the same COPY text.
std::string reference(const std::string& copy, const std::vector<doris_column>& cols) {
  copy_text_parser p;
  p.expect_fields(cols.size());
  doris_row_writer w(doris_format::csv, cols);
  std::string out;
  EXPECT_TRUE(p.feed(copy, [&](const std::vector<std::optional<std::string_view>>& f) {
    EXPECT_TRUE(w.append_row(out, f));
  }));
  return out;
}

std::string transcode(const std::string& copy, const std::vector<doris_column>& cols,
                      std::size_t piece, std::int64_t* slow = nullptr) {
  doris_csv_transcoder t(cols);
  byte_buffer out;
  for (std::size_t at = 0; at < copy.size(); at += piece)
    EXPECT_TRUE(t.feed(std::string_view(copy).substr(at, piece), out)) << t.error();
  EXPECT_TRUE(t.finish());
  if (slow) *slow = t.slow_rows();
  return std::string(out.view());
}

TEST(doris_csv_transcoder, plain_rows_take_the_fast_path_and_match_the_general_one) {
  const std::string copy = "1\tabc\t\\N\n2\tx y z\t2024-05-01 08:00:00\n3\t\\N\t\\N\n";
  std::int64_t slow = -1;
  const std::string out = transcode(copy, text_columns(3), 1 << 20, &slow);
  EXPECT_EQ(out,
            "1\x01"
            "abc\x01\\N\n2\x01x y z\x01"
            "2024-05-01 08:00:00\n3\x01\\N\x01\\N\n");
  EXPECT_EQ(out, reference(copy, text_columns(3)));
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
    EXPECT_EQ(transcode(copy, text_columns(3), 1 << 20, &slow), reference(copy, text_columns(3)))
        << r;
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
        } else if (pick == 2) {
          static const char* const typed[] = {"t",
                                              "f",
                                              "2024-05-01 08:00:00+00",
                                              "2024-01-01 00:00:00.123+00",
                                              "\\\\x0a0b",
                                              "\\\\x",
                                              "123",
                                              "1.5",
                                              "infinity"};
          copy += typed[rng() % 9];
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
    const auto cols = round % 2 ? mixed_columns(columns) : text_columns(columns);
    const std::string want = reference(copy, cols);
    for (std::size_t piece : {1u, 7u, 64u, 1u << 20})
      ASSERT_EQ(transcode(copy, cols, piece), want) << "round " << round << " piece " << piece;
  }
}

TEST(doris_csv_transcoder, booleans_zoned_timestamps_and_bytea_convert_on_the_fast_path) {
  const auto cols = mixed_columns(7);  // text, integer, boolean, timestamptz, bytea, json, number
  const std::vector<std::pair<std::string, bool>> rows = {
      // row, expected to take the general path
      {"a\t1\tt\t2024-05-01 08:00:00.5+00\t\\\\x0a0b\t{\"k\": 1}\t1.5", true},  // json quote
      {"a\t1\tt\t2024-05-01 08:00:00.5+00\t\\\\x0a0b\t[1]\t1.5", false},
      {"a\t-7\tf\t1999-12-31 23:59:59+00\t\\N\t\\N\tNaN", false},
      {"a\t1\t\\N\tinfinity\t\\\\x\tnull\t0", true},                    // infinity, empty bytea
      {"a\t1\tx\t2024-05-01 08:00:00+00\t\\\\x00\tnull\t0", true},      // not a boolean
      {"a\t1\tt\t2024-05-01 08:00:00+02\t\\\\x00\tnull\t0", true},      // not UTC
      {"a\t1\tt\t2024-05-01 08:00:00+00\t\\\\x00\\\\\tnull\t0", true},  // stray backslash
  };
  for (const auto& [row, slow_expected] : rows) {
    const std::string copy = row + "\n";
    std::int64_t slow = -1;
    EXPECT_EQ(transcode(copy, cols, 1 << 20, &slow), reference(copy, cols)) << row;
    EXPECT_EQ(slow, slow_expected ? 1 : 0) << row;
  }
  EXPECT_EQ(transcode("a\t1\tt\t2024-05-01 08:00:00.5+00\t\\\\x0a0b\t[1]\t1.5\n", cols, 64),
            "a\x01"
            "1\x01true\x01"
            "2024-05-01 08:00:00.5\x01"
            "0a0b\x01[1]\x01"
            "1.5\n");
}

TEST(doris_csv_transcoder, a_wrong_field_count_is_an_error) {
  doris_csv_transcoder t(text_columns(3));
  byte_buffer out;
  EXPECT_FALSE(t.feed("1\t2\n", out));
  EXPECT_FALSE(t.error().empty());
  EXPECT_TRUE(out.empty());
  doris_csv_transcoder u(text_columns(2));
  EXPECT_TRUE(u.feed("1\t2\n3", out));
  EXPECT_FALSE(u.finish());  // a partial row is left
}

}  // namespace
