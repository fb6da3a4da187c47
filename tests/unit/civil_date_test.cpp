#include "codecs/civil_date.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace {

using uringmig::codecs::civil_from_days;
using uringmig::codecs::days_from_civil;

static_assert(days_from_civil(1970, 1, 1) == 0);
static_assert(days_from_civil(2000, 1, 1) == 10957);
static_assert(civil_from_days(-1).year == 1969 && civil_from_days(-1).month == 12 &&
              civil_from_days(-1).day == 31);

TEST(civil_date, known_dates) {
  EXPECT_EQ(days_from_civil(2000, 3, 1), 11017);  // after a leap day of a year divisible by 400
  EXPECT_EQ(days_from_civil(1900, 3, 1) - days_from_civil(1900, 2, 28), 1);  // 1900: no leap day
  EXPECT_EQ(days_from_civil(0, 1, 1), -719528);                     // 1 BC, PostgreSQL's year 0
  const auto bc = civil_from_days(days_from_civil(-4713, 11, 24));  // Julian day 0 (4714 BC)
  EXPECT_EQ(bc.year, -4713);
  EXPECT_EQ(bc.month, 11u);
  EXPECT_EQ(bc.day, 24u);
}

TEST(civil_date, agrees_with_std_chrono_both_ways) {
  using namespace std::chrono;
  // Every day from 10000 BC to AD 10000.
  for (std::int64_t z = days_from_civil(-9999, 1, 1); z <= days_from_civil(9999, 12, 31); ++z) {
    const year_month_day want{sys_days{days{z}}};
    const auto got = civil_from_days(z);
    ASSERT_EQ(got.year, static_cast<int>(want.year())) << z;
    ASSERT_EQ(got.month, static_cast<unsigned>(want.month())) << z;
    ASSERT_EQ(got.day, static_cast<unsigned>(want.day())) << z;
    ASSERT_EQ(days_from_civil(got.year, got.month, got.day), z);
  }
}

TEST(civil_date, far_dates_round_trip) {
  for (const std::int64_t y : {-4713LL, 294276LL, 5874897LL, -1000000LL}) {
    for (unsigned m = 1; m <= 12; ++m) {
      const auto d = civil_from_days(days_from_civil(y, m, 28));
      EXPECT_EQ(d.year, y);
      EXPECT_EQ(d.month, m);
      EXPECT_EQ(d.day, 28u);
    }
  }
}

}  // namespace
