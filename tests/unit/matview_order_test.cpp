#include "engine/bulk/matview_order.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace {

using uringmig::engine::matview_node;
using uringmig::engine::order_matviews;

matview_node node(std::string name, bool populated, std::vector<std::uint32_t> deps) {
  matview_node n;
  n.name = std::move(name);
  n.populated = populated;
  n.deps = std::move(deps);
  return n;
}

TEST(matview_order, dependencies_come_first_and_independent_ones_share_a_level) {
  // 30 reads 20 reads 10; 40 reads 10 and 30; 50 reads nothing. OIDs out of dependency order.
  std::map<std::uint32_t, matview_node> all;
  all[30] = node("c", true, {20});
  all[10] = node("a", true, {});
  all[40] = node("d", true, {10, 30});
  all[20] = node("b", true, {10, 999});  // 999: not a materialized view of the set
  all[50] = node("e", true, {});
  EXPECT_TRUE(order_matviews(all).empty());
  EXPECT_EQ(all[10].level, 0);
  EXPECT_EQ(all[50].level, 0);
  EXPECT_EQ(all[20].level, 1);
  EXPECT_EQ(all[30].level, 2);
  EXPECT_EQ(all[40].level, 3);
}

TEST(matview_order, a_view_reading_an_unpopulated_one_stays_unpopulated_down_the_chain) {
  std::map<std::uint32_t, matview_node> all;
  all[1] = node("empty", false, {});
  all[2] = node("reads_empty", true, {1});
  all[3] = node("reads_that", true, {2});
  all[4] = node("fine", true, {});
  EXPECT_EQ(order_matviews(all), (std::vector<std::string>{"reads_empty", "reads_that"}));
  EXPECT_FALSE(all[2].populated);
  EXPECT_FALSE(all[3].populated);
  EXPECT_TRUE(all[4].populated);
  EXPECT_EQ(all[3].level, 2);
}

}  // namespace
