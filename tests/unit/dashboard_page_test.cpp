#include "engine/core/observe/dashboard_page.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>
#include <string>

namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using uringmig::engine::observe::dashboard_page;

TEST(dashboard_page, is_the_whole_html_file_embedded_at_build_time) {
  const auto page = dashboard_page();
  EXPECT_EQ(page.substr(0, 15), "<!doctype html>");
  EXPECT_EQ(page.substr(page.size() - 8), "</html>\n");
  EXPECT_EQ(page.find('\0'), std::string_view::npos);
  EXPECT_LT(page.size(), 32U * 1024);  // a few KB: it is sent on every page load
}

TEST(dashboard_page, loads_nothing_from_the_network) {
  const std::string page(dashboard_page());
  EXPECT_THAT(page, Not(HasSubstr("http://")));
  EXPECT_THAT(page, Not(HasSubstr("https://")));
  EXPECT_THAT(page, Not(HasSubstr("@import")));
  // Every src= / href= is absent or relative to the job's own server.
  const std::regex external(R"re((src|href)\s*=\s*["']?(//|[a-z]+:))re");
  EXPECT_FALSE(std::regex_search(page, external));
}

TEST(dashboard_page, reads_the_api_it_is_served_with) {
  const std::string page(dashboard_page());
  EXPECT_THAT(page, HasSubstr("'/api/v1/status'"));
  EXPECT_THAT(page, HasSubstr("'/api/v1/ws'"));
  EXPECT_THAT(page, HasSubstr("'/api/v1/log?since='"));
  EXPECT_THAT(page, HasSubstr("Authorization: 'Bearer '"));
  EXPECT_THAT(page, HasSubstr("sessionStorage"));
  EXPECT_THAT(page, HasSubstr("name=\"viewport\""));
}

}  // namespace
