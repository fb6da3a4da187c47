#include "engine/bulk/pg_tools.hpp"

#include <gtest/gtest.h>

namespace uringmig::engine {
namespace {

TEST(pg_tools, error_line_is_the_servers_error_not_the_command_echo) {
  const std::string err =
      "pg_restore: while PROCESSING TOC:\n"
      "pg_restore: from TOC entry 215; 1255 16390 FUNCTION public.f() postgres\n"
      "pg_restore: error: could not execute query: ERROR:  type \"mood\" already exists\n"
      "Command was: CREATE FUNCTION public.f() RETURNS integer\n"
      "    LANGUAGE plpgsql\n"
      "    AS $$ begin\n"
      "  return 1;\n"
      "end $$;\n";
  EXPECT_EQ(error_line(err), "ERROR: type \"mood\" already exists");
}

TEST(pg_tools, error_line_without_a_server_error_is_the_last_line) {
  EXPECT_EQ(error_line("pg_dump: error: connection failed\n\n"),
            "pg_dump: error: connection failed");
  EXPECT_EQ(error_line(""), "");
}

TEST(pg_tools, toc_entries_carry_their_catalog_and_oid) {
  const auto toc = parse_toc(
      ";\n; Archive created\n"
      "3202; 2606 16411 FK CONSTRAINT public child child_fk postgres\n"
      "3200; 2620 16420 TRIGGER public parent parent_touch postgres\n");
  ASSERT_EQ(toc.size(), 2u);
  EXPECT_EQ(toc[0].desc, "FK CONSTRAINT");
  EXPECT_EQ(toc[0].class_oid, 2606u);
  EXPECT_EQ(toc[0].object_oid, 16411u);
  EXPECT_EQ(toc[1].desc, "TRIGGER");
  EXPECT_EQ(toc[1].class_oid, 2620u);
}

}  // namespace
}  // namespace uringmig::engine
