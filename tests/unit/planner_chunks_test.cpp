// The planner's chunk math without a connection: integer ranges, ctid block ranges, explicit
// ranges and their checks.
#include "engine/core/job.hpp"
#include "engine/core/planner.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace {

using namespace uringmig::engine;
using ::testing::HasSubstr;

std::string usage_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const usage_error& e) {
    return e.what();
  }
  return "";
}

TEST(planner_chunks, int_chunks_cover_the_key_range_open_at_both_ends) {
  const auto c = int_chunks(1, 100, 4, "id", "");
  ASSERT_EQ(c.size(), 4u);
  EXPECT_FALSE(c.front().lower);
  EXPECT_FALSE(c.back().upper);
  for (std::size_t i = 0; i < c.size(); ++i) {
    EXPECT_EQ(c[i].chunk_no, static_cast<int>(i));
    EXPECT_EQ(c[i].kind, chunk_kind::int_range);
    if (i + 1 < c.size()) {
      EXPECT_EQ(c[i].upper, c[i + 1].lower);  // no gap, no overlap
    }
  }
  EXPECT_EQ(*c[0].upper, "26");
  EXPECT_EQ(*c[1].upper, "51");
  EXPECT_EQ(*c[2].upper, "76");
  // NULL keys go to the first chunk only.
  EXPECT_EQ(c[0].where_sql, "(id < 26) OR id IS NULL");
  EXPECT_EQ(c[1].where_sql, "(id >= 26) AND (id < 51)");
  EXPECT_EQ(c[3].where_sql, "id >= 76");
}

TEST(planner_chunks, int_chunks_merge_bounds_that_coincide) {
  // Two keys cannot make five chunks: equal bounds are dropped, the rest stays contiguous.
  const auto c = int_chunks(7, 8, 5, "k", "");
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(*c[0].upper, "7");
  EXPECT_EQ(*c[1].lower, "7");
  EXPECT_EQ(*c[1].upper, "8");
  EXPECT_EQ(*c[2].lower, "8");
  EXPECT_EQ(c[2].chunk_no, 2);
  EXPECT_EQ(int_chunks(5, 5, 3, "k", "").size(), 2u);
}

TEST(planner_chunks, int_chunks_over_keys_on_both_sides_of_zero) {
  // The span of a bigint key with values near both ends is 2^64: the offsets pass INT64_MAX.
  const auto c = int_chunks(INT64_MIN, INT64_MAX, 4, "k", "");
  ASSERT_EQ(c.size(), 4u);
  EXPECT_EQ(*c[0].upper, "-4611686018427387904");
  EXPECT_EQ(*c[1].upper, "0");
  EXPECT_EQ(*c[2].upper, "4611686018427387904");
  const auto three = int_chunks(-9'000'000'000'000'000'000, 9'000'000'000'000'000'000, 3, "k", "");
  ASSERT_EQ(three.size(), 3u);
  // Within the rounding of a long double: a third of the span each.
  EXPECT_NEAR(std::stod(*three[0].upper), -3e18, 1e3);
  EXPECT_NEAR(std::stod(*three[1].upper), 3e18, 1e3);
  EXPECT_EQ(three[0].upper, three[1].lower);
}

TEST(planner_chunks, filters_are_anded_to_every_chunk) {
  const auto c = int_chunks(0, 9, 2, "id", "x > 1");
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].where_sql, "((id < 5) OR id IS NULL) AND (x > 1)");
  EXPECT_EQ(c[1].where_sql, "(id >= 5) AND (x > 1)");
}

TEST(planner_chunks, ctid_chunks_are_block_ranges_the_last_open_ended) {
  const auto c = ctid_chunks(10, 3, "");
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].kind, chunk_kind::ctid_range);
  EXPECT_EQ(c[0].where_sql, "ctid < '(3,0)'::tid");
  EXPECT_EQ(c[1].where_sql, "(ctid >= '(3,0)'::tid) AND (ctid < '(6,0)'::tid)");
  EXPECT_EQ(c[2].where_sql, "ctid >= '(6,0)'::tid");  // rows in pages added later too
  EXPECT_FALSE(c[2].upper);
  // More chunks than pages: one per page, none before the first page.
  const auto few = ctid_chunks(2, 8, "");
  ASSERT_EQ(few.size(), 2u);
  EXPECT_EQ(few[0].where_sql, "ctid < '(1,0)'::tid");
}

TEST(planner_chunks, parse_range_takes_dots_dashes_and_open_ends) {
  EXPECT_EQ(parse_range("1..10", "w"), std::make_pair(std::string("1"), std::string("10")));
  EXPECT_EQ(parse_range("..10", "w"), std::make_pair(std::string(), std::string("10")));
  EXPECT_EQ(parse_range(" 5 .. ", "w"), std::make_pair(std::string("5"), std::string()));
  EXPECT_EQ(parse_range("3-7", "w"), std::make_pair(std::string("3"), std::string("7")));
  EXPECT_THAT(usage_error_of([] { parse_range("a..b", "t.ranges"); }),
              HasSubstr("t.ranges: range 'a..b' is not lo..hi with integer bounds"));
  EXPECT_THAT(usage_error_of([] { parse_range("9..3", "t.ranges"); }), HasSubstr("is empty"));
  EXPECT_THAT(usage_error_of([] { parse_range("42", "t.ranges"); }), HasSubstr("not lo..hi"));
}

std::vector<std::pair<std::string, std::string>> ranges(
    std::initializer_list<std::pair<const char*, const char*>> r) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [lo, hi] : r)
    out.emplace_back(lo, hi);
  return out;
}

TEST(planner_chunks, explicit_ranges_in_key_order_nulls_in_the_first) {
  const auto c = explicit_chunks(ranges({{"100", ""}, {"", "10"}, {"10", "100"}}), "k", "", false,
                                 "tables.s.t.ranges");
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].kind, chunk_kind::explicit_range);
  EXPECT_EQ(c[0].where_sql, "(k < 10) OR k IS NULL");
  EXPECT_EQ(c[1].where_sql, "(k >= 10) AND (k < 100)");
  EXPECT_EQ(c[2].where_sql, "k >= 100");
  EXPECT_EQ(c[2].chunk_no, 2);
}

TEST(planner_chunks, explicit_ranges_refuse_gaps_overlaps_and_closed_ends) {
  EXPECT_THAT(usage_error_of([] {
                explicit_chunks(ranges({{"", "10"}, {"20", ""}}), "k", "", false, "w");
              }),
              HasSubstr("w: no range takes the keys from 10 to 20"));
  EXPECT_THAT(usage_error_of([] {
                explicit_chunks(ranges({{"", "10"}, {"5", ""}}), "k", "", false, "w");
              }),
              HasSubstr("overlap"));
  EXPECT_THAT(usage_error_of([] {
                explicit_chunks(ranges({{"", "10"}}), "k", "", false, "w");
              }),
              HasSubstr("no range takes the keys from 10"));
  EXPECT_THAT(usage_error_of([] {
                explicit_chunks(ranges({{"0", ""}}), "k", "", false, "w");
              }),
              HasSubstr("no range takes the keys below 0"));
}

TEST(planner_chunks, explicit_ranges_with_rest_take_the_keys_outside_them) {
  const auto c = explicit_chunks(ranges({{"0", "10"}, {"20", "30"}}), "k", "f", true, "w");
  ASSERT_EQ(c.size(), 3u);
  // With a rest chunk, NULL keys go there, not to the first range.
  EXPECT_EQ(c[0].where_sql, "((k >= 0) AND (k < 10)) AND (f)");
  EXPECT_EQ(c[2].chunk_no, 2);
  EXPECT_EQ(c[2].where_sql,
            "(NOT (((k >= 0) AND (k < 10)) OR ((k >= 20) AND (k < 30))) OR k IS NULL) AND (f)");
}

}  // namespace
