// The Snowflake source's SQL: exact-case quoted names, bounds at the source's precision.

#include "engine/core/config_keys.hpp"
#include "engine/incremental/snowflake_source.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using namespace uringmig::engine::incremental;

row_query orders_query() {
  row_query q;
  q.table = *parse_table_name("ANALYTICS.\"Bi\".DimPayer");
  q.columns = {"Payer Id", "Name"};
  q.filter = "\"Is Active\" = TRUE";
  q.watermark = "Updated At";
  q.watermark_class = value_class::timestamp;
  q.window = true;
  q.from = "2024-01-02 03:04:05.123456789";
  q.to = "2024-01-03 00:00:00.000000001";
  q.chunk_by = "Payer Id";
  q.chunk_class = value_class::integer;
  q.range = {"100", "200", true};
  return q;
}

TEST(incremental_snowflake, select_quotes_exact_case_and_keeps_nanoseconds) {
  EXPECT_EQ(snowflake_select(orders_query()),
            "SELECT \"Payer Id\", \"Name\" FROM \"ANALYTICS\".\"Bi\".\"DimPayer\" WHERE "
            "(\"Is Active\" = TRUE) AND ((\"Updated At\" >= "
            "'2024-01-02 03:04:05.123456789'::TIMESTAMP_NTZ(9) AND \"Updated At\" <= "
            "'2024-01-03 00:00:00.000000001'::TIMESTAMP_NTZ(9)) OR \"Updated At\" IS NULL) AND "
            "((\"Payer Id\" >= 100 AND \"Payer Id\" < 200) OR \"Payer Id\" IS NULL)");
}

TEST(incremental_snowflake, instants_get_an_explicit_utc_offset) {
  row_query q = orders_query();
  q.filter.clear();
  q.chunk_by.clear();
  q.watermark_class = value_class::timestamptz;
  q.from = "2024-01-02 03:04:05.000000007+00";
  q.to = "2024-01-02 08:34:05+05:30";
  EXPECT_EQ(snowflake_select(q),
            "SELECT \"Payer Id\", \"Name\" FROM \"ANALYTICS\".\"Bi\".\"DimPayer\" WHERE "
            "((\"Updated At\" >= '2024-01-02 03:04:05.000000007 +00:00'::TIMESTAMP_TZ(9) AND "
            "\"Updated At\" <= '2024-01-02 08:34:05 +05:30'::TIMESTAMP_TZ(9)) OR "
            "\"Updated At\" IS NULL)");
  q.from.reset();
  q.to.reset();
  q.window = false;
  EXPECT_EQ(snowflake_select(q),
            "SELECT \"Payer Id\", \"Name\" FROM \"ANALYTICS\".\"Bi\".\"DimPayer\" WHERE TRUE");
}

TEST(incremental_snowflake, text_ranges_escape_backslashes_and_boundaries_use_ntile) {
  row_query q = orders_query();
  q.filter.clear();
  q.window = false;
  q.chunk_by = "Payer Id";
  q.chunk_class = value_class::text;
  q.range = {"a\\b'c", "d", false};  // a\b'c: Snowflake reads a backslash as an escape
  EXPECT_EQ(snowflake_select(q),
            "SELECT \"Payer Id\", \"Name\" FROM \"ANALYTICS\".\"Bi\".\"DimPayer\" WHERE "
            "(\"Payer Id\" >= 'a\\\\b''c' AND \"Payer Id\" < 'd')");
  q.range = {};
  q.filter = "\"Is Active\" = TRUE";
  EXPECT_EQ(snowflake_boundaries_select(q, "Payer Id", 4),
            "SELECT MIN(V) FROM (SELECT \"Payer Id\" AS V, NTILE(4) OVER (ORDER BY \"Payer Id\") "
            "AS G FROM \"ANALYTICS\".\"Bi\".\"DimPayer\" WHERE ((\"Is Active\" = TRUE)) AND "
            "\"Payer Id\" IS NOT NULL) GROUP BY G ORDER BY G");
}

TEST(incremental_snowflake, settings_summary_never_shows_the_token) {
  const std::string out = uringmig::engine::settings_summary(
      {{"snowflake.oauth_token", "tok-secret-1"}, {"snowflake.private_key_file", "/k.pem"}});
  EXPECT_EQ(out.find("tok-secret-1"), std::string::npos) << out;
  EXPECT_NE(out.find("setting snowflake.oauth_token = (set, not shown)"), std::string::npos);
  EXPECT_NE(out.find("/k.pem"), std::string::npos);
}

}  // namespace
