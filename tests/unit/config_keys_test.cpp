// The registry of config keys (engine/core/config_keys.hpp) and the config reader that checks a
// file against it: unknown keys and sections, values of the wrong type, the nearest valid key.

#include "engine/core/config_keys.hpp"
#include "cli/config.hpp"
#include "engine/core/job.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace {

using namespace uringmig;
using engine::check_settings;
using engine::usage_error;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const usage_error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no usage_error";
  return {};
}

cli::option_layer checked(const std::string& toml) {
  return cli::parse_config(toml, "job.toml", cli::env_lookup{}, cli::key_check::registered);
}

// ---- the registry ---------------------------------------------------------------------------

TEST(config_keys, every_key_is_unique_and_has_help) {
  std::set<std::string> seen;
  for (const auto& k : engine::config_keys()) {
    EXPECT_TRUE(seen.insert(engine::full_name(k)).second) << engine::full_name(k);
    EXPECT_FALSE(k.help.empty()) << engine::full_name(k);
    if (k.type == engine::key_type::integer) {
      EXPECT_LE(k.lo, k.hi) << engine::full_name(k);
    }
    // A default is a value of the key's own type.
    if (!k.default_value.empty()) {
      EXPECT_EQ(engine::check_value(k, engine::full_name(k), k.default_value), std::nullopt)
          << engine::full_name(k);
    }
  }
}

TEST(config_keys, edit_distance_and_nearest_name) {
  EXPECT_EQ(engine::edit_distance("", "abc"), 3U);
  EXPECT_EQ(engine::edit_distance("chunk_sise", "chunk_size"), 1U);
  EXPECT_EQ(engine::edit_distance("kitten", "sitting"), 3U);
  const std::string_view names[] = {"chunk_size", "chunk_by", "retries"};
  EXPECT_EQ(engine::nearest_name("chunksize", names), "chunk_size");
  EXPECT_EQ(engine::nearest_name("retires", names), "retries");
  EXPECT_EQ(engine::nearest_name("page_size", names), "");  // nothing near: no guess
}

TEST(config_keys, finds_flattened_settings) {
  EXPECT_NE(engine::find_setting("copy.chunk_size"), nullptr);
  EXPECT_NE(engine::find_setting("doris.debug.exit_after_precommit"), nullptr);
  EXPECT_NE(engine::find_setting("tables.public.orders.chunk_column"), nullptr);
  EXPECT_NE(engine::find_setting("tables.sales.order.items.where"), nullptr);  // dots in the name
  EXPECT_NE(engine::find_setting("filters.exclude_regex.public"), nullptr);
  EXPECT_EQ(engine::find_setting("copy.chunk_sise"), nullptr);
  EXPECT_EQ(engine::find_setting("cpy.chunk_size"), nullptr);
  EXPECT_EQ(engine::find_setting("tables.public.orders.chunk_colum"), nullptr);
}

TEST(config_keys, unknown_key_names_the_nearest) {
  EXPECT_EQ(error_of([] {
              check_settings({{"copy.chunk_sise", "1MB"}});
            }),
            "unknown key 'chunk_sise' in [copy] (did you mean 'chunk_size'?)");
  EXPECT_EQ(error_of([] {
              check_settings({{"tables.public.t.chunk_colum", "id"}});
            }),
            "unknown key 'chunk_colum' in [tables.\"SCHEMA.TABLE\"] (did you mean "
            "'chunk_column'?)");
  // The right name in another section.
  EXPECT_EQ(error_of([] {
              check_settings({{"copy.two_phase_commit", "true"}});
            }),
            "unknown key 'two_phase_commit' in [copy] (did you mean 'doris.two_phase_commit'?)");
  // Nothing near: the section's keys.
  EXPECT_THAT(
      error_of([] {
        check_settings({{"copy.zzzzzzzz", "1"}});
      }),
      HasSubstr(
          "(valid: chunk_size, chunk_by, retries, allow_inconsistent, lock_timeout, queue_file)"));
}

TEST(config_keys, unknown_section_names_the_nearest) {
  EXPECT_EQ(error_of([] {
              check_settings({{"cpy.chunk_size", "1MB"}});
            }),
            "unknown section [cpy] (did you mean [copy]?)");
  EXPECT_EQ(error_of([] {
              check_settings({{"dorris.retries", "1"}});
            }),
            "unknown section [dorris] (did you mean [doris]?)");
}

TEST(config_keys, wrong_type_names_key_and_expectation) {
  EXPECT_EQ(error_of([] {
              check_settings({{"copy.retries", "x"}});
            }),
            "copy.retries = 'x': expected an integer from 0 to 1000");
  EXPECT_EQ(error_of([] {
              check_settings({{"sqlite.page_size", "100"}});
            }),
            "sqlite.page_size = '100': expected an integer from 512 to 65536");
  EXPECT_EQ(error_of([] {
              check_settings({{"online.coalesce", "yes"}});
            }),
            "online.coalesce = 'yes': expected true or false");
  EXPECT_EQ(error_of([] {
              check_settings({{"copy.chunk_by", "hash"}});
            }),
            "copy.chunk_by = 'hash': expected key or ctid");
  EXPECT_EQ(error_of([] {
              check_settings({{"doris.max_filter_ratio", "2"}});
            }),
            "doris.max_filter_ratio = '2': expected a number from 0 to 1");
  EXPECT_THAT(error_of([] {
                check_settings({{"copy.chunk_size", "big"}});
              }),
              HasSubstr("'big' is not a size"));
  EXPECT_EQ(error_of([] {
              check_settings({{"stats.interval", "fast"}});
            }),
            "stats.interval = 'fast': expected an interval (examples: 500ms, 1s, 2m)");
  // What fits passes, aliases included.
  check_settings({{"copy.retries", "0"},
                  {"doris.compress", "gzip"},
                  {"doris.max_filter_ratio", "0.25"},
                  {"tables.public.orders.ranges", "..10,10.."},
                  {"filters.exclude_regex.public", "^tmp_"},
                  {"stats.interval", "250ms"}});
}

TEST(config_keys, typed_reads_use_the_registered_default_and_bounds) {
  EXPECT_EQ(engine::integer_setting({}, "doris.retries"), 5);
  EXPECT_EQ(engine::integer_setting({{"doris.retries", "7"}}, "doris.retries"), 7);
  EXPECT_THROW(engine::integer_setting({{"doris.retries", "101"}}, "doris.retries"), usage_error);
  EXPECT_TRUE(engine::boolean_setting({}, "online.coalesce"));
  EXPECT_FALSE(engine::boolean_setting({{"online.coalesce", "0"}}, "online.coalesce"));
}

TEST(config_keys, plan_lists_the_settings_a_job_sets) {
  EXPECT_EQ(engine::settings_summary({}), "");
  EXPECT_EQ(engine::settings_summary({{"copy.chunk_size", "64MB"},
                                      {"tables.public.t.where", "id > 0"},
                                      {"doris.retries", "2"}}),
            "setting copy.chunk_size = 64MB (default 1GB)\n"
            "setting doris.retries = 2 (default 5)\n"
            "setting tables.public.t.where = id > 0\n");
}

// ---- a config file checked against it -------------------------------------------------------

TEST(config_keys, config_file_typo_is_named_with_its_line) {
  const auto msg = error_of([] { checked("jobs = 2\n[copy]\nchunk_sise = \"1MB\"\n"); });
  EXPECT_EQ(msg, "job.toml:3: unknown key 'chunk_sise' in [copy] (did you mean 'chunk_size'?)");
}

TEST(config_keys, config_file_unknown_section_and_subsection) {
  EXPECT_EQ(error_of([] { checked("[cpy]\nchunk_size = \"1MB\"\n"); }),
            "job.toml:1: unknown section [cpy] (did you mean [copy]?)");
  EXPECT_EQ(error_of([] { checked("[doris.debugg]\nexit_after_precommit = 1\n"); }),
            "job.toml:1: unknown section [doris.debugg] (did you mean [doris.debug]?)");
  EXPECT_THAT(error_of([] { checked("[tables.\"public.t\"]\nchunk_colum = \"id\"\n"); }),
              StartsWith("job.toml:2: unknown key 'chunk_colum'"));
}

TEST(config_keys, config_file_wrong_type) {
  EXPECT_EQ(error_of([] { checked("[copy]\nretries = \"x\"\n"); }),
            "copy.retries = 'x': expected an integer from 0 to 1000 (job.toml:2)");
  EXPECT_EQ(error_of([] { checked("[doris]\nretries = [1, 2]\n"); }),
            "job.toml:2: doris.retries: expected integer 0..100, not an array");
}

TEST(config_keys, config_file_of_registered_keys_reads_as_before) {
  const auto l = checked(R"(
source = "sqlite:///a.db"
[copy]
chunk_size = "64MB"
[filters]
exclude_schemas = ["audit"]
[filters.exclude_regex]
public = ["^tmp_"]
[tables]
include = ["public.*"]
[tables."public.orders"]
chunks = 4
ranges = ["..10", "10.."]
[doris.debug]
exit_after_precommit = 3
)");
  EXPECT_EQ(l.settings.at("copy.chunk_size"), "64MB");
  EXPECT_EQ(l.settings.at("filters.exclude_schemas"), "audit");
  EXPECT_EQ(l.settings.at("filters.exclude_regex.public"), "^tmp_");
  EXPECT_EQ(l.settings.at("tables.public.orders.chunks"), "4");
  EXPECT_EQ(l.settings.at("tables.public.orders.ranges"), "..10,10..");
  EXPECT_EQ(l.settings.at("doris.debug.exit_after_precommit"), "3");
}

TEST(config_keys, load_config_checks_the_registry) {
  const auto file = std::filesystem::temp_directory_path() / "uringmig-config-keys-test.toml";
  std::ofstream(file) << "[sqlite]\ncommit_row = 10\n";
  const auto msg = error_of([&] { cli::load_config(file, cli::env_lookup{}); });
  std::filesystem::remove(file);
  EXPECT_THAT(msg, HasSubstr("unknown key 'commit_row' in [sqlite] (did you mean 'commit_rows'?)"));
}

// ---- the README lists them -------------------------------------------------------------------

TEST(config_keys, readme_table_matches_the_registry) {
  std::ifstream in(std::string(URINGMIG_TEST_DATA_DIR) + "/../../README.md");
  ASSERT_TRUE(in) << "README.md not found";
  std::stringstream text;
  text << in.rdbuf();
  const std::string readme = text.str();
  const std::string begin = "<!-- config keys: begin -->\n";
  const std::string end = "<!-- config keys: end -->";
  const auto b = readme.find(begin);
  const auto e = readme.find(end);
  ASSERT_NE(b, std::string::npos);
  ASSERT_NE(e, std::string::npos);
  const std::string table = readme.substr(b + begin.size(), e - b - begin.size());
  // On a mismatch the expected table is written next to the test binary: paste it between the
  // markers.
  const std::string expected = engine::config_keys_markdown();
  if (table != expected) std::ofstream("config_keys.md") << expected;
  EXPECT_EQ(table, expected) << "README.md's table of config keys is stale: paste "
                             << std::filesystem::absolute("config_keys.md").string();
  for (const auto& k : engine::config_keys())
    EXPECT_THAT(table, HasSubstr("`" + engine::full_name(k) + "`"));
}

}  // namespace
