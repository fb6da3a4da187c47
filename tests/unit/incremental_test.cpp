// Incremental loads without a server: watermark comparison and lookback at the source's
// precision, the chunk strategies, table names, and the [[tables]] entries of a config file.

#include "cli/config.hpp"
#include "engine/core/config_keys.hpp"
#include "engine/core/job.hpp"
#include "engine/incremental/entry.hpp"
#include "engine/incremental/watermark.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace {

using namespace uringmig;
using namespace uringmig::engine::incremental;
using ::testing::HasSubstr;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const engine::usage_error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no usage_error";
  return {};
}

cli::option_layer checked(const std::string& toml) {
  return cli::parse_config(toml, "job.toml", cli::env_lookup{}, cli::key_check::registered);
}

// ---- comparison at the source's precision ----------------------------------------------------

TEST(incremental_watermark, nanoseconds_are_compared_not_rounded) {
  // A TIMESTAMP(9) mark keeps its last digit: rounding to microseconds (or a double) would make
  // these equal and load the same rows every run, or skip one.
  EXPECT_EQ(compare_values(value_class::timestamp, "2024-05-01 12:00:00.123456789",
                           "2024-05-01 12:00:00.123456788"),
            1);
  EXPECT_EQ(compare_values(value_class::timestamp, "2024-05-01 12:00:00.1",
                           "2024-05-01 12:00:00.100000000"),
            0);
  EXPECT_EQ(compare_values(value_class::timestamp, "2024-05-01T12:00:00",
                           "2024-05-01 12:00:00.000000001"),
            -1);
  // Offsets: the same instant.
  EXPECT_EQ(
      compare_values(value_class::timestamptz, "2024-05-01 12:00:00+02", "2024-05-01 10:00:00Z"),
      0);
  EXPECT_EQ(compare_values(value_class::timestamptz, "2024-05-01 00:30:00+05:30",
                           "2024-04-30 19:00:00.000000001+00"),
            -1);
  EXPECT_EQ(compare_values(value_class::timestamp, "infinity", "9999-12-31 23:59:59"), 1);
  EXPECT_FALSE(compare_values(value_class::timestamp, "yesterday", "2024-01-01"));
}

TEST(incremental_watermark, numbers_compare_exactly_at_any_length) {
  EXPECT_EQ(compare_values(value_class::integer, "9223372036854775807", "9223372036854775806"), 1);
  EXPECT_EQ(compare_values(value_class::numeric, "12345678901234567890.000000000000000001",
                           "12345678901234567890"),
            1);
  EXPECT_EQ(compare_values(value_class::numeric, "-1.50", "-1.5"), 0);
  EXPECT_EQ(compare_values(value_class::numeric, "-2", "1"), -1);
  EXPECT_EQ(compare_values(value_class::numeric, "1e+20", "9.9e+19"), 1);
  EXPECT_FALSE(compare_values(value_class::integer, "12a", "1"));
}

TEST(incremental_watermark, lookback_moves_the_mark_at_its_own_precision) {
  const auto back = parse_lookback(value_class::timestamp, "10m");
  ASSERT_TRUE(back);
  EXPECT_EQ(subtract_lookback(value_class::timestamp, "2024-05-01 00:05:00.123456789", *back),
            "2024-04-30 23:55:00.123456789");
  EXPECT_EQ(subtract_lookback(value_class::timestamptz, "2024-05-01 00:05:00+02", *back),
            "2024-04-30 23:55:00+02");
  EXPECT_EQ(subtract_lookback(value_class::timestamp, "2024-03-01T00:00:00.5",
                              *parse_lookback(value_class::timestamp, "1h30m")),
            "2024-02-29T22:30:00.5");
  // A date mark goes back whole days, rounded up.
  EXPECT_EQ(subtract_lookback(value_class::date, "2024-03-01", *back), "2024-02-29");
  EXPECT_EQ(
      subtract_lookback(value_class::integer, "1000", *parse_lookback(value_class::integer, "250")),
      "750");
  EXPECT_EQ(
      subtract_lookback(value_class::numeric, "1.25", *parse_lookback(value_class::numeric, "2.5")),
      "-1.25");
  EXPECT_EQ(subtract_lookback(value_class::numeric, "10.000000000000000001",
                              *parse_lookback(value_class::numeric, "0")),
            "10.000000000000000001");
  EXPECT_FALSE(parse_lookback(value_class::timestamp, "10 minutes"));
  EXPECT_FALSE(parse_lookback(value_class::integer, "10m"));
  EXPECT_FALSE(parse_lookback(value_class::integer, "-5"));
}

TEST(incremental_watermark, only_ordered_types_are_watermarks) {
  EXPECT_TRUE(orderable_watermark(value_class::timestamptz));
  EXPECT_TRUE(orderable_watermark(value_class::integer));
  EXPECT_FALSE(orderable_watermark(value_class::other));
  EXPECT_FALSE(orderable_watermark(value_class::text));
}

// ---- chunk strategies ------------------------------------------------------------------------

TEST(incremental_chunks, integer_ranges_cover_every_value_and_null) {
  const auto r = split_range(value_class::integer, "1", "100", 4);
  ASSERT_EQ(r.size(), 4u);
  EXPECT_FALSE(r[0].lower);
  EXPECT_TRUE(r[0].nulls);
  EXPECT_EQ(r[0].upper, "26");
  EXPECT_EQ(r[1].lower, "26");
  EXPECT_EQ(r[1].upper, "51");
  EXPECT_EQ(r[3].lower, "76");
  EXPECT_FALSE(r[3].upper);
  EXPECT_FALSE(r[3].nulls);
  // Never more ranges than values.
  EXPECT_EQ(split_range(value_class::integer, "5", "6", 10).size(), 2u);
  EXPECT_EQ(
      split_range(value_class::integer, "-9223372036854775808", "9223372036854775807", 2)[0].upper,
      "0");
}

TEST(incremental_chunks, strategy_follows_the_chunk_column_type) {
  using cs = chunk_strategy;
  EXPECT_EQ(choose_strategy(value_class::text, true, 1000, 1000), cs::one_small);
  EXPECT_EQ(choose_strategy(value_class::integer, false, 5000, 1000), cs::one_no_chunk_by);
  EXPECT_EQ(choose_strategy(value_class::integer, true, 5000, 1000), cs::ranges);
  EXPECT_EQ(choose_strategy(value_class::date, true, 5000, 1000), cs::ranges);
  EXPECT_EQ(choose_strategy(value_class::timestamptz, true, 5000, 1000), cs::ranges);
  EXPECT_EQ(choose_strategy(value_class::text, true, 5000, 1000), cs::grouped);  // text, uuid
  EXPECT_EQ(choose_strategy(value_class::numeric, true, 5000, 1000), cs::one_unsplittable);
  EXPECT_EQ(choose_strategy(value_class::other, true, 5000, 1000), cs::one_unsplittable);
}

TEST(incremental_chunks, grouped_values_cut_at_each_groups_first_value) {
  const auto r = grouped_ranges({"apple", "kiwi", "kiwi", "pear"});
  ASSERT_EQ(r.size(), 3u);  // a repeated first value (a value spanning groups) is one cut
  EXPECT_FALSE(r[0].lower);
  EXPECT_EQ(r[0].upper, "kiwi");
  EXPECT_TRUE(r[0].nulls);  // NULL keys go with the first chunk
  EXPECT_EQ(r[1].lower, "kiwi");
  EXPECT_EQ(r[1].upper, "pear");
  EXPECT_EQ(r[2].lower, "pear");
  EXPECT_FALSE(r[2].upper);
  EXPECT_FALSE(r[2].nulls);
  // Fewer than two groups (or a source that cannot group): one open range.
  EXPECT_EQ(grouped_ranges({}).size(), 1u);
  EXPECT_EQ(grouped_ranges({"only"}).size(), 1u);
  EXPECT_EQ(grouped_ranges({"a", "a"}).size(), 1u);
}

TEST(incremental_chunks, time_ranges_split_the_span) {
  const auto r =
      split_range(value_class::timestamp, "2024-01-01 00:00:00", "2024-01-01 04:00:00", 4);
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0].upper, "2024-01-01 01:00:00");
  EXPECT_EQ(r[2].upper, "2024-01-01 03:00:00");
  const auto d = split_range(value_class::date, "2024-01-01", "2024-01-03", 8);
  ASSERT_EQ(d.size(), 2u);  // whole days only: one cut inside the span
  EXPECT_EQ(d[0].upper, "2024-01-02");
  EXPECT_FALSE(d[1].upper);
}

TEST(incremental_chunks, one_chunk_without_arithmetic) {
  EXPECT_EQ(split_range(value_class::text, "a", "z", 5).size(), 1u);
  EXPECT_EQ(split_range(value_class::integer, "1", "1000", 1).size(), 1u);
  EXPECT_EQ(split_range(value_class::integer, "x", "1000", 4).size(), 1u);
}

// ---- names and entries -----------------------------------------------------------------------

TEST(incremental_entries, table_names_keep_their_case) {
  const auto n = parse_table_name("ANALYTICS.BI.DIMPAYER");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->parts, (std::vector<std::string>{"ANALYTICS", "BI", "DIMPAYER"}));
  const auto q = parse_table_name("\"My Schema\".\"Odd \"\"Name\"\".x\"");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->parts, (std::vector<std::string>{"My Schema", "Odd \"Name\".x"}));
  EXPECT_EQ(q->schema_or("public"), "My Schema");
  EXPECT_EQ(parse_table_name("orders")->schema_or("public"), "public");
  EXPECT_FALSE(parse_table_name("a..b"));
  EXPECT_FALSE(parse_table_name("\"open"));
  EXPECT_FALSE(parse_table_name("a.b.c.d"));
}

TEST(incremental_entries, tables_array_is_read_through_the_registry) {
  const auto l = checked(R"(
preset = "incremental"
[[tables]]
source = "ANALYTICS.BI.DIMPAYER"
target = "analytics_dev.dimpayer"
filter = "\"Is Active\" = TRUE"
key = ["Payer Id"]
watermark = "Updated Datatimestamp"
lookback = "10m"
chunk_by = "Payer Id"
mode = "incremental"
disable_indexes = true
deletes = "reconcile"
on_error = "reject"
[[tables]]
source = "public.events"
key = ["id", "kind"]
mode = "full"
)");
  engine::check_settings(l.settings);
  const auto entries = read_entries(l.settings);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].source.parts.back(), "DIMPAYER");
  EXPECT_EQ(entries[0].filter, "\"Is Active\" = TRUE");
  EXPECT_EQ(entries[0].key, (std::vector<std::string>{"Payer Id"}));
  EXPECT_EQ(entries[0].deletes, delete_mode::reconcile);
  EXPECT_EQ(entries[0].on_error, error_mode::reject);
  EXPECT_TRUE(entries[0].disable_indexes);
  EXPECT_EQ(entries[1].target.written, "public.events");  // target defaults to the source
  EXPECT_EQ(entries[1].mode, load_mode::full);
  EXPECT_EQ(entries[1].key, (std::vector<std::string>{"id", "kind"}));
  EXPECT_EQ(pick_entries(entries, {"public.*"}).size(), 1u);
  EXPECT_THAT(error_of([&] { (void)pick_entries(entries, {"nope.*"}); }), HasSubstr("--tables"));
}

TEST(incremental_entries, unknown_key_names_the_nearest) {
  EXPECT_THAT(error_of([] { checked("[[tables]]\nsource = \"a\"\nwatermrk = \"x\"\n"); }),
              HasSubstr("unknown key 'watermrk' in [[tables]] (did you mean 'watermark'?)"));
  EXPECT_THAT(error_of([] { checked("[[tables]]\nsource = \"a\"\nmode = \"merge\"\n"); }),
              HasSubstr("tables[0].mode = 'merge': expected incremental or full"));
  EXPECT_THAT(error_of([] {
                engine::check_settings({{"tables[0].chunkby", "x"}});
              }),
              HasSubstr("did you mean 'chunk_by'?"));
}

TEST(incremental_entries, incomplete_entries_are_usage_errors) {
  EXPECT_THAT(error_of([] {
                (void)read_entries({{"tables[0].source", "a.b"}});
              }),
              HasSubstr("'key' is missing"));
  EXPECT_THAT(error_of([] {
                (void)read_entries({{"tables[0].source", "a.b"}, {"tables[0].key", "id"}});
              }),
              HasSubstr("needs a 'watermark'"));
  EXPECT_THAT(error_of([] {
                (void)read_entries({{"tables[0].target", "a.b"}, {"tables[0].key", "id"}});
              }),
              HasSubstr("'source' is missing"));
}

}  // namespace
