// engine/core/observe: the --http address, the log ring, the histogram, and the documents the
// snapshot builder makes from a live progress (no server: the server has its own tests).
#include "engine/core/job.hpp"
#include "engine/core/observe/hub.hpp"
#include "engine/core/observe/log_ring.hpp"
#include "engine/core/observe/service.hpp"
#include "engine/core/observe/snapshot.hpp"
#include "engine/core/progress.hpp"
#include "tests/support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace uringmig::engine;

TEST(observe, listen_addresses) {
  auto a = observe::parse_listen("127.0.0.1:7654", "--http");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 7654);
  EXPECT_TRUE(a.loopback);
  EXPECT_TRUE(observe::parse_listen("localhost:1", "--http").loopback);
  EXPECT_TRUE(observe::parse_listen(":80", "--http").loopback);
  a = observe::parse_listen("[::1]:9000", "--http");
  EXPECT_EQ(a.host, "::1");
  EXPECT_TRUE(a.loopback);
  EXPECT_FALSE(observe::parse_listen("0.0.0.0:7654", "--http").loopback);
  EXPECT_FALSE(observe::parse_listen("[::]:7654", "--http").loopback);
  EXPECT_EQ(observe::parse_listen("127.0.0.1:0", "--http").port, 0);  // the kernel picks one
  for (const char* bad :
       {"7654", "127.0.0.1:", "127.0.0.1:-1", "127.0.0.1:70000", "host:80", "127.0.0.1:12x"})
    EXPECT_THROW(observe::parse_listen(bad, "--http"), usage_error) << bad;
}

TEST(observe, the_log_ring_keeps_the_newest_lines_and_answers_since) {
  observe::log_ring ring(3);
  for (int i = 1; i <= 5; ++i)
    ring.push("info", "line " + std::to_string(i));
  EXPECT_EQ(ring.last(), 5U);
  auto all = ring.since(0, 100);
  ASSERT_EQ(all.size(), 3U);
  EXPECT_EQ(all[0].seq, 3U);
  EXPECT_EQ(all[2].msg, "line 5");
  EXPECT_EQ(ring.since(4, 100).size(), 1U);
  EXPECT_EQ(ring.since(5, 100).size(), 0U);
  EXPECT_EQ(ring.since(0, 2).size(), 2U);
  EXPECT_EQ(all[0].ts.size(), 24U);  // 2026-01-02T03:04:05.678Z
}

TEST(observe, histogram_buckets_are_cumulative) {
  observe::histogram h;
  h.observe(0.001);
  h.observe(0.3);
  h.observe(100);
  const auto s = h.snapshot();
  EXPECT_EQ(s.count, 3U);
  EXPECT_EQ(s.cumulative.front(), 1U);  // le 0.005
  EXPECT_EQ(s.cumulative[6], 2U);       // le 0.5
  EXPECT_EQ(s.cumulative.back(), 2U);   // le 60: the 100 s one only in +Inf
  EXPECT_DOUBLE_EQ(s.sum, 100.301);
}

TEST(observe, documents_follow_the_live_progress_and_counters_never_go_back) {
  uringmig::test::temp_dir dir{"observe"};
  progress p;
  auto& t = p.add_table("public", "orders", 1000, 10, 4);
  t.set_phase(table_phase::copying);
  t.add(10, 500);
  t.chunk_done();
  observe::snapshot_builder b(dir.path);
  const std::string status = b.status();
  EXPECT_NE(status.find("\"phase\":\"copy\""), std::string::npos) << status;
  EXPECT_NE(status.find("\"paused\":false"), std::string::npos) << status;
  EXPECT_NE(status.find("\"table_progress\":[{\"schema\":\"public\",\"name\":\"orders\","
                        "\"state\":\"copying\",\"rows\":10,\"bytes\":500"),
            std::string::npos)
      << status;
  EXPECT_NE(status.find("\"runs\":0"), std::string::npos) << status;  // no state store yet
  observe::the_hub().pause();
  EXPECT_NE(b.status().find("\"paused\":true"), std::string::npos);
  observe::the_hub().resume();

  std::string m = b.metrics();
  EXPECT_NE(m.find("uringmig_rows_total{table=\"public.orders\"} 10\n"), std::string::npos) << m;
  EXPECT_NE(m.find("uringmig_phase{phase=\"copy\"} 1\n"), std::string::npos) << m;
  EXPECT_NE(m.find("# TYPE uringmig_chunk_duration_seconds histogram"), std::string::npos);
  t.add(-10, -500);  // a chunk redone takes its rows back; the counter stays
  m = b.metrics();
  EXPECT_NE(m.find("uringmig_rows_total{table=\"public.orders\"} 10\n"), std::string::npos) << m;
}

TEST(observe, the_job_s_last_picture_stays_after_its_progress_ends) {
  // Between the end of the work (the progress goes) and the server's stop, the documents keep
  // the job's final phase and figures: not "starting" with no tables.
  uringmig::test::temp_dir dir{"observe-end"};
  observe::snapshot_builder b(dir.path);
  {
    progress p;
    auto& t = p.add_table("public", "orders", 1000, 10, 1);
    t.set_phase(table_phase::copying);
    t.add(10, 500);
    t.chunk_done();
    t.set_phase(table_phase::done);
    EXPECT_EQ(b.phase(), "finishing");
  }
  EXPECT_EQ(b.phase(), "finishing");
  const std::string status = b.status();
  EXPECT_NE(status.find("\"phase\":\"finishing\""), std::string::npos) << status;
  EXPECT_NE(status.find("\"table_progress\":[{\"schema\":\"public\",\"name\":\"orders\","
                        "\"state\":\"done\",\"rows\":10,"),
            std::string::npos)
      << status;
  EXPECT_NE(b.metrics().find("uringmig_rows_total{table=\"public.orders\"} 10\n"),
            std::string::npos);
}

TEST(observe, tables_beyond_the_label_cap_go_under_other) {
  uringmig::test::temp_dir dir{"observe-cap"};
  progress p;
  for (std::size_t i = 0; i < observe::max_table_labels + 5; ++i)
    p.add_table("s", "t" + std::to_string(i), 1, 1, 1).add(1, 1);
  observe::snapshot_builder b(dir.path);
  const std::string m = b.metrics();
  EXPECT_NE(m.find("uringmig_rows_total{table=\"_other\"} 5\n"), std::string::npos);
  EXPECT_EQ(m.find("table=\"s.t" + std::to_string(observe::max_table_labels) + "\""),
            std::string::npos);
}
