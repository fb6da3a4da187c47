// engine::job_spec: the command, the URLs and the settings of a job, parsed once.

#include "engine/core/job_spec.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <variant>

namespace {

using namespace uringmig::engine;
using ::testing::HasSubstr;

job_options pg_to_shards() {
  job_options o;
  o.command = "run";
  o.source_url = "postgresql://app@db1/app";
  o.target_url = "sqlite:///data/shards?shards=4&shard_key=id";
  return o;
}

std::string error_of(const job_options& o) {
  try {
    const job_spec spec(o);
  } catch (const usage_error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no usage_error";
  return {};
}

TEST(job_spec, command_and_endpoints_parsed_once) {
  const job_spec spec(pg_to_shards());
  EXPECT_EQ(spec.kind, job_command::run);
  ASSERT_TRUE(spec.source);
  ASSERT_TRUE(spec.target);
  EXPECT_EQ(spec.source->kind(), uringmig::codecs::endpoint_kind::postgres);
  const auto& shards = std::get<uringmig::codecs::sqlite_shards_endpoint>(spec.target->spec);
  EXPECT_EQ(shards.shards, 4);
  EXPECT_EQ(shards.shard_key, "id");
  EXPECT_EQ(&spec.source_endpoint(), &*spec.source);
  EXPECT_FALSE(spec.plan_only());

  job_options plan = pg_to_shards();
  plan.command = "plan";
  EXPECT_TRUE(job_spec(plan).plan_only());
  job_options dry = pg_to_shards();
  dry.dry_run = true;
  EXPECT_TRUE(job_spec(dry).plan_only());
}

TEST(job_spec, command_names_round_trip) {
  for (const auto c : {job_command::run, job_command::plan, job_command::follow,
                       job_command::switchover, job_command::status, job_command::verify})
    EXPECT_EQ(parse_job_command(to_string(c)), c);
  EXPECT_EQ(parse_job_command(""), job_command::none);
  EXPECT_EQ(parse_job_command("migrate"), std::nullopt);
}

TEST(job_spec, missing_endpoints_are_named_when_asked_for) {
  job_options o;
  o.command = "status";
  const job_spec spec(o);
  EXPECT_FALSE(spec.source);
  EXPECT_THROW((void)spec.source_endpoint(), usage_error);
}

TEST(job_spec, bad_input_is_a_usage_error_naming_it) {
  job_options o = pg_to_shards();
  o.target_url = "sqlite:///data/shards?shards=0&shard_key=id";
  EXPECT_THAT(error_of(o), HasSubstr("invalid --target URL"));

  o = pg_to_shards();
  o.command = "migrate";
  EXPECT_EQ(error_of(o), "uringmig migrate: not yet implemented");

  o = pg_to_shards();
  o.settings["sqlite.comit_rows"] = "10";
  EXPECT_EQ(error_of(o), "unknown key 'comit_rows' in [sqlite] (did you mean 'commit_rows'?)");

  o = pg_to_shards();
  o.settings["sqlite.page_size"] = "3000";
  EXPECT_EQ(error_of(o), "sqlite.page_size must be a power of two from 512 to 65536");
}

TEST(job_spec, typed_settings_take_registered_defaults) {
  const job_spec spec(pg_to_shards());
  EXPECT_EQ(spec.config.sqlite.page_size, 16384);
  EXPECT_EQ(spec.config.sqlite.commit_rows, 500000);
  EXPECT_EQ(spec.config.sqlite.chunk_bytes, 64 << 20);
  EXPECT_FALSE(spec.config.sqlite.writer_threads);
  EXPECT_TRUE(spec.config.sqlite.raw_scan);
  EXPECT_EQ(spec.config.doris.retries, 5);
  EXPECT_EQ(spec.config.doris.backoff_max_ms, 30000);
  EXPECT_EQ(spec.config.online.apply_workers, 2);
  EXPECT_TRUE(spec.config.online.coalesce);
  EXPECT_EQ(spec.config.bulk.retries, 5);
  EXPECT_EQ(spec.config.bulk.lock_timeout, "1min");
  EXPECT_FALSE(spec.config.bulk.maintenance_work_mem);
  EXPECT_FALSE(spec.config.verify.md5);
}

TEST(job_spec, typed_settings_read_what_is_set) {
  job_options o = pg_to_shards();
  o.settings = {{"sqlite.index", "INN,SNILS"},
                {"sqlite.writer_threads", "3"},
                {"sqlite.segment_insert", "false"},
                {"doris.compress", "gzip"},
                {"index.maintenance_work_mem", "1GB"},
                {"schema.no_owner", "true"},
                {"verify.hash", "md5"},
                {"online.publication", "pub1"}};
  const job_spec spec(o);
  EXPECT_EQ(spec.config.sqlite.index, (std::vector<std::string>{"INN", "SNILS"}));
  EXPECT_EQ(spec.config.sqlite.writer_threads, 3);
  EXPECT_FALSE(spec.config.sqlite.segment_insert);
  EXPECT_EQ(spec.config.doris.compress, "gz");
  EXPECT_EQ(spec.config.bulk.maintenance_work_mem, "1GB");
  EXPECT_TRUE(spec.config.bulk.no_owner);
  EXPECT_TRUE(spec.config.verify.md5);
  EXPECT_EQ(spec.config.online.publication, "pub1");
  EXPECT_EQ(spec.settings.at("sqlite.index"), "INN,SNILS");  // the options stay as given
}

}  // namespace
