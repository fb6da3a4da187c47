#include "codecs/sql_text.hpp"

#include <gtest/gtest.h>

using namespace uringmig::codecs;

TEST(sql_text, quoting_doubles_embedded_quotes) {
  EXPECT_EQ(quote_ident("Order \"Items\""), "\"Order \"\"Items\"\"\"");
  EXPECT_EQ(quote_literal("it's"), "'it''s'");
  EXPECT_EQ(qualified_name("Sales", "order"), "\"Sales\".\"order\"");
}

TEST(sql_text, glob_matches_schema_table_patterns) {
  EXPECT_TRUE(glob_match("public.*", "public.orders"));
  EXPECT_FALSE(glob_match("public.*", "sales.orders"));
  EXPECT_TRUE(glob_match("sales.order_*", "sales.order_2024"));
  EXPECT_FALSE(glob_match("sales.order_*", "sales.orders"));
  EXPECT_TRUE(glob_match("*.t?", "x.t1"));
  EXPECT_FALSE(glob_match("*.t?", "x.t12"));
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("a*b*c", "aXXbYYc"));
  EXPECT_FALSE(glob_match("a*b*c", "aXXbYY"));
  EXPECT_TRUE(glob_match("lit\\*", "lit*"));
  EXPECT_FALSE(glob_match("lit\\*", "litx"));
  EXPECT_TRUE(glob_match("public.exact", "public.exact"));
}

TEST(sql_text, printable_escapes_control_characters) {
  EXPECT_EQ(printable("plain.name ünï"), "plain.name ünï");
  EXPECT_EQ(printable("a\nb\tc\rd"), "a\\nb\\tc\\rd");
  EXPECT_EQ(printable(std::string("x\x01\x7fy\0z", 6)), "x\\x01\\x7fy\\x00z");
}
