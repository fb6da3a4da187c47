// The state store's behaviour every implementation shares: one suite, instantiated over the
// SQLite store in the unit tests (state_store_test.cpp) and over the PostgreSQL store in the
// integration tests (state_store_pg_test.cpp). Include it in one file per test binary.
#pragma once

#include "engine/core/job.hpp"
#include "engine/core/state_store.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

namespace uringmig::test {

/// Where one test's state lives, and how to open it (twice: the job and another process).
class state_place {
 public:
  virtual ~state_place() = default;
  virtual engine::state_store open() = 0;
  /// A second handle on the same state, as another process has it (SQLite: open_shared).
  virtual std::optional<engine::state_store> open_other() = 0;
};

struct state_backend_case {
  std::string name;
  std::function<std::unique_ptr<state_place>()> make;
};

inline void PrintTo(const state_backend_case& c, std::ostream* os) {
  *os << c.name;
}

inline std::string case_name(const ::testing::TestParamInfo<state_backend_case>& info) {
  return info.param.name;
}

class state_backend_test : public ::testing::TestWithParam<state_backend_case> {
 protected:
  void SetUp() override { place_ = GetParam().make(); }
  engine::state_store open() { return place_->open(); }
  std::optional<engine::state_store> open_other() { return place_->open_other(); }

  static std::vector<engine::planned_table> sample_plan() {
    using engine::chunk_kind;
    engine::planned_table big{"public", "big", 1'000'000, 50'000, {}};
    big.chunks.push_back({0, chunk_kind::int_range, std::nullopt, "1000", "id < 1000"});
    big.chunks.push_back({1, chunk_kind::int_range, "1000", "2000", "id >= 1000 AND id < 2000"});
    big.chunks.push_back({2, chunk_kind::int_range, "2000", std::nullopt, "id >= 2000"});
    engine::planned_table odd{"Mixed Case", "t\"q", 4096, -1, {}};
    odd.chunks.push_back({0, chunk_kind::ctid_range, "(0,0)", "(10,0)", "ctid < '(10,0)'"});
    odd.chunks.push_back({1, chunk_kind::explicit_range, "a", "b", "k BETWEEN 'a' AND 'b'"});
    engine::planned_table small{"public", "small", 10, 3, {{0, chunk_kind::whole, {}, {}, ""}}};
    return {big, odd, small};
  }

  /// The job_error message `f` throws, or "" when it does not throw one.
  template <class F>
  static std::string job_error_of(F&& f) {
    try {
      f();
    } catch (const engine::job_error& e) {
      return e.what();
    }
    return "";
  }

 private:
  std::unique_ptr<state_place> place_;
};

namespace state_cases {

using namespace uringmig::engine;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST_P(state_backend_test, plan_round_trip_keeps_order_and_bounds) {
  auto s = open();
  EXPECT_FALSE(s.has_plan());
  const auto plan = sample_plan();
  s.save_plan(plan);
  EXPECT_TRUE(s.has_plan());
  EXPECT_EQ(s.load_plan(), plan);
  EXPECT_EQ(to_string(chunk_kind::explicit_range), "explicit");
  EXPECT_EQ(parse_chunk_kind("explicit"), chunk_kind::explicit_range);
  EXPECT_EQ(parse_chunk_kind("nope"), std::nullopt);

  // A new plan replaces the old one and its progress.
  s.mark_chunk_done("public", "big", 0, 10, 100, 0.5);
  s.save_plan({plan[2]});
  EXPECT_EQ(s.load_plan(), std::vector<planned_table>{plan[2]});
  EXPECT_TRUE(s.done_chunks("public", "big").empty());
}

TEST_P(state_backend_test, chunks_done_and_failed) {
  auto s = open();
  s.save_plan(sample_plan());
  s.mark_chunk_done("public", "big", 2, 300, 3000, 1.5);
  s.mark_chunk_done("public", "big", 0, 100, 1000, 0.5);
  s.mark_chunk_failed("public", "big", 1, 5, "connection lost");
  EXPECT_THAT(s.done_chunks("public", "big"), ElementsAre(0, 2));
  EXPECT_TRUE(s.done_chunks("public", "small").empty());

  const auto st = s.status_snapshot();
  ASSERT_EQ(st.tables.size(), 3U);
  const auto& big = st.tables[0];
  EXPECT_EQ(big.name, "big");
  EXPECT_EQ(big.chunks_total, 3);
  EXPECT_EQ(big.chunks_done, 2);
  EXPECT_EQ(big.chunks_failed, 1);
  EXPECT_EQ(big.rows_copied, 400);
  EXPECT_EQ(big.bytes_copied, 4000);
  ASSERT_EQ(st.failed_chunks.size(), 1U);
  EXPECT_EQ(st.failed_chunks[0].chunk_no, 1);
  EXPECT_EQ(st.failed_chunks[0].attempts, 5);
  EXPECT_EQ(st.failed_chunks[0].error, "connection lost");

  // Redone after a failure: done again, error cleared, counted once.
  s.mark_chunk_done("public", "big", 1, 50, 500, 0.1);
  s.mark_chunk_done("public", "big", 1, 50, 500, 0.1);
  const auto again = s.status_snapshot();
  EXPECT_EQ(again.tables[0].rows_copied, 450);
  EXPECT_TRUE(again.failed_chunks.empty());

  EXPECT_THAT(job_error_of([&] { s.mark_chunk_done("public", "big", 9, 1, 1, 0); }),
              HasSubstr("chunk 9 of public.big is not in the saved plan"));
}

TEST_P(state_backend_test, table_status_and_times) {
  auto s = open();
  s.save_plan(sample_plan());
  EXPECT_EQ(s.get_table_status("public", "big"), table_status::pending);
  EXPECT_EQ(s.get_table_status("public", "nope"), std::nullopt);
  s.set_table_status("public", "big", table_status::copying);
  s.set_copy_seconds("public", "big", 12.5);
  s.set_index_seconds("public", "big", 3.25);
  s.set_table_status("public", "small", table_status::failed, "permission denied");
  s.set_table_status("Mixed Case", "t\"q", table_status::done, "ignored unless failed");
  EXPECT_EQ(s.get_table_status("public", "big"), table_status::copying);
  const auto st = s.status_snapshot();
  EXPECT_EQ(st.tables[0].status, "copying");
  EXPECT_DOUBLE_EQ(st.tables[0].copy_seconds, 12.5);
  EXPECT_DOUBLE_EQ(st.tables[0].index_seconds, 3.25);
  EXPECT_EQ(st.tables[1].status, "done");
  EXPECT_EQ(st.tables[1].error, "");
  EXPECT_EQ(st.tables[2].status, "failed");
  EXPECT_EQ(st.tables[2].error, "permission denied");
}

TEST_P(state_backend_test, indexes) {
  auto s = open();
  s.save_plan(sample_plan());
  s.add_index("public", "big", "big_pkey", index_kind::primary_key);
  s.add_index("public", "big", "big_k_idx", index_kind::index);
  s.add_index("public", "big", "big_u", index_kind::unique_constraint);
  s.mark_index_done("public", "big", "big_pkey", 2.0);
  s.mark_index_failed("public", "big", "big_u", "duplicate key");
  s.add_index("public", "big", "big_pkey", index_kind::primary_key);  // resume: kept done
  EXPECT_THAT(s.done_indexes("public", "big"), ElementsAre("big_pkey"));
  const auto st = s.status_snapshot();
  EXPECT_EQ(st.tables[0].indexes_total, 3);
  EXPECT_EQ(st.tables[0].indexes_done, 1);
  EXPECT_EQ(st.tables[0].indexes_failed, 1);
  ASSERT_EQ(st.indexes.size(), 3U);
  EXPECT_EQ(st.indexes[2].index_name, "big_u");
  EXPECT_EQ(st.indexes[2].kind, "unique_constraint");
  EXPECT_EQ(st.indexes[2].error, "duplicate key");
}

TEST_P(state_backend_test, kv) {
  auto s = open();
  EXPECT_EQ(s.get("schema.pre_data"), std::nullopt);
  s.put("schema.pre_data", "done");
  s.put("plan.fingerprint", "abc");
  s.put("plan.fingerprint", "def");
  EXPECT_EQ(s.get("schema.pre_data"), "done");
  EXPECT_EQ(s.get("plan.fingerprint"), "def");
  s.erase("schema.pre_data");
  EXPECT_EQ(s.get("schema.pre_data"), std::nullopt);
  EXPECT_EQ(s.status_snapshot().kv.size(), 1U);
}

// The switchover's handshake: another process writes marks while the job holds its state, and
// a request changes state only from the state it was seen in.
TEST_P(state_backend_test, shared_writer_and_compare_and_put) {
  auto job = open();
  job.put("online.switchover", "a requested");
  auto other = open_other();
  ASSERT_TRUE(other);
  EXPECT_TRUE(other->compare_and_put("online.switchover", "a requested", "a cancelled"));
  EXPECT_EQ(job.get("online.switchover"), "a cancelled");
  EXPECT_FALSE(job.compare_and_put("online.switchover", "a requested", "a accepted"));
  EXPECT_EQ(other->get("online.switchover"), "a cancelled");
  EXPECT_FALSE(job.compare_and_put("missing", "", "x"));
  EXPECT_FALSE(job.get("missing"));
  other->put("online.switchover_pid", "42");
  EXPECT_EQ(job.get("online.switchover_pid"), "42");
}

TEST_P(state_backend_test, runs_record_outcomes_and_stale_runs_become_interrupted) {
  auto s = open();
  const auto first = s.begin_run(
      {"run", "bulk", "postgresql://u:hunter2@src/db", "postgresql://u@dst/db", std::nullopt});
  s.set_run_snapshot(first, "00000003-0000001B-1");
  auto st = s.status_snapshot();
  ASSERT_TRUE(st.last_run);
  EXPECT_EQ(st.last_run->status, "running");
  EXPECT_EQ(st.last_run->snapshot, "00000003-0000001B-1");
  EXPECT_EQ(st.last_run->source_redacted.find("hunter2"), std::string::npos);
  EXPECT_FALSE(st.last_run->finished_at);
  EXPECT_GE(st.last_run->seconds, 0);

  // The first process "died": the next run marks it interrupted.
  const auto second = s.begin_run({"run", "bulk", "", "", std::nullopt});
  EXPECT_GT(second, first);
  s.end_run(second, run_status::failed, "1 table(s) failed: public.x");
  st = s.status_snapshot();
  EXPECT_EQ(st.run_count, 2);
  EXPECT_EQ(st.last_run->id, second);
  EXPECT_EQ(st.last_run->status, "failed");
  EXPECT_EQ(st.last_run->message, "1 table(s) failed: public.x");
  EXPECT_TRUE(st.last_run->finished_at);
  EXPECT_THAT(st.last_run->started_at, ::testing::MatchesRegex("[0-9-]+T[0-9:.]+Z"));
}

TEST_P(state_backend_test, reset_drops_everything) {
  auto s = open();
  s.begin_run({"run", "", "", "", std::nullopt});
  s.save_plan(sample_plan());
  s.add_index("public", "big", "i", index_kind::index);
  s.put("k", "v");
  s.reset();
  EXPECT_FALSE(s.has_plan());
  const auto st = s.status_snapshot();
  EXPECT_FALSE(st.last_run);
  EXPECT_TRUE(st.tables.empty());
  EXPECT_TRUE(st.indexes.empty());
  EXPECT_TRUE(st.kv.empty());
}

TEST_P(state_backend_test, marks_from_many_threads) {
  auto s = open();
  planned_table t{"public", "t", 0, 0, {}};
  for (int i = 0; i < 200; ++i)
    t.chunks.push_back({i, chunk_kind::int_range, std::to_string(i), std::to_string(i + 1), ""});
  s.save_plan({t});
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&s, k] {
      for (int i = k; i < 200; i += 4)
        s.mark_chunk_done("public", "t", i, 1, 10, 0.001);
    });
  }
  for (auto& th : threads)
    th.join();
  EXPECT_EQ(s.done_chunks("public", "t").size(), 200U);
  EXPECT_EQ(s.status_snapshot().tables[0].rows_copied, 200);
}

}  // namespace state_cases

}  // namespace uringmig::test
