// The applier's packed row values: many values in one buffer, NULL and unset told apart, a value
// replaced in its old place when it fits (a hot row updated again and again does not grow the
// buffer), what is left unused counted, and the buffer handed to a statement as its parameters.

#include "engine/cdc/packed_values.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace cdc = uringmig::engine::cdc::detail;

TEST(cdc_packed_values, values_null_and_unset_are_told_apart) {
  cdc::packed_values v;
  v.push("abc");
  v.push(std::nullopt);
  v.push_unset();
  v.push("");
  ASSERT_EQ(v.size(), 4U);
  EXPECT_EQ(v.text(0), "abc");
  EXPECT_TRUE(v.is_set(1));
  EXPECT_FALSE(v.is_set(2));
  EXPECT_EQ(v.text(3), "");

  std::string bytes;
  std::vector<std::int64_t> at;
  v.release(bytes, at);
  ASSERT_EQ(at.size(), 4U);
  // What libpq reads: each text ends with a NUL; NULL is negative.
  EXPECT_STREQ(bytes.data() + at[0], "abc");
  EXPECT_LT(at[1], 0);
  EXPECT_STREQ(bytes.data() + at[3], "");
  EXPECT_EQ(v.size(), 0U);
}

TEST(cdc_packed_values, a_value_that_fits_is_replaced_in_place) {
  cdc::packed_values v;
  v.push("0123456789");
  v.push("k");
  const std::size_t bytes = v.bytes();
  // Ten bytes held, one used from now on: nine become unused, once.
  EXPECT_EQ(v.set(0, "0"), 9U);
  for (int i = 1; i < 1000; ++i)
    EXPECT_EQ(v.set(0, std::to_string(i % 10)), 0U);
  EXPECT_EQ(v.bytes(), bytes);
  EXPECT_EQ(v.text(0), "9");
  EXPECT_EQ(v.text(1), "k");

  // Longer than its place: appended, the old place left unused.
  EXPECT_EQ(v.set(0, "a longer value"), 1U);
  EXPECT_EQ(v.text(0), "a longer value");
  EXPECT_GT(v.bytes(), bytes);
  // NULL frees the place; a value after an unset or NULL one is appended.
  EXPECT_EQ(v.set(0, std::nullopt), 14U);
  v.reset(0);
  EXPECT_FALSE(v.is_set(0));
  EXPECT_EQ(v.set(0, "x"), 0U);
  EXPECT_EQ(v.text(0), "x");
}

TEST(cdc_packed_values, push_from_copies_a_value_or_null) {
  cdc::packed_values from;
  from.push("row 1");
  from.push(std::nullopt);
  cdc::packed_values to;
  to.push_from(from, 1);
  to.push_from(from, 0);
  std::string bytes;
  std::vector<std::int64_t> at;
  to.release(bytes, at);
  ASSERT_EQ(at.size(), 2U);
  EXPECT_LT(at[0], 0);
  EXPECT_STREQ(bytes.data() + at[1], "row 1");
}
