#include "engine/core/progress.hpp"
#include "engine/core/job.hpp"

#include "tests/support/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace uringmig::engine;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

using uringmig::test::temp_dir;

std::vector<std::string> lines_of(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);)
    out.push_back(l);
  return out;
}

// Keeps empty fields, the last one too ("a," is two fields).
std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t from = 0;
  for (auto at = s.find(sep); at != std::string::npos; at = s.find(sep, from)) {
    out.push_back(s.substr(from, at - from));
    from = at + 1;
  }
  out.push_back(s.substr(from));
  return out;
}

TEST(progress, counts_from_many_threads_add_up) {
  progress p;
  auto& a = p.add_table("public", "a", 1'000'000, 10'000, 8);
  auto& b = p.add_table("public", "b", 1'000, 10, 1);
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        p.chunk_started();
        a.add(1, 10);
        b.add(2, 3);
        p.chunk_finished();
      }
      a.chunk_done();
    });
  }
  for (auto& t : threads)
    t.join();
  const auto s = p.totals();
  EXPECT_EQ(s.rows, 4 * 1000 * 3);
  EXPECT_EQ(s.bytes, 4 * 1000 * 13);
  EXPECT_EQ(s.chunks_done, 4);
  EXPECT_EQ(s.chunks_total, 9);
  EXPECT_EQ(s.in_flight, 0);
  EXPECT_EQ(s.tables_total, 2);
  EXPECT_EQ(p.find("public", "a"), &a);
  EXPECT_EQ(p.find("public", "zzz"), nullptr);
}

TEST(progress, phases_and_fraction) {
  progress p;
  auto& t = p.add_table("s", "t", 1000, 100, 4);
  EXPECT_EQ(t.phase(), table_phase::pending);
  EXPECT_EQ(t.active_seconds(), 0);
  t.set_phase(table_phase::copying);
  t.add(50, 100);
  t.chunk_done();
  EXPECT_DOUBLE_EQ(t.fraction(), 0.5);  // rows: the best of chunks 1/4, rows 50/100, bytes 0.1
  t.add(500, 0);
  EXPECT_DOUBLE_EQ(t.fraction(), 0.99);  // estimates are only estimates: below 1 until done
  t.set_phase(table_phase::done);
  EXPECT_DOUBLE_EQ(t.fraction(), 1);
  EXPECT_GE(t.active_seconds(), 0);
  EXPECT_EQ(p.totals().tables_done, 1);
  t.resume_from(3, 7, 9);
  EXPECT_EQ(t.chunks_done(), 3);
  EXPECT_EQ(t.rows(), 7);
  EXPECT_EQ(to_string(table_phase::indexing), "indexing");
  EXPECT_GT(rss_bytes(), 0);
}

TEST(progress, stats_csv_has_header_and_increasing_timestamps) {
  temp_dir d;
  progress p;
  auto& t = p.add_table("public", "t", 1'000'000, 1000, 10);
  reporter_options o;
  o.stats_csv = d.path / "stats.csv";
  o.stats_interval = 40ms;
  o.log_interval = 0ms;
  {
    progress_reporter r(p, o);
    for (int i = 0; i < 10; ++i) {
      p.chunk_started();
      t.add(100, 100'000);
      t.chunk_done();
      p.chunk_finished();
      std::this_thread::sleep_for(30ms);
    }
    r.stop();
    r.stop();  // idempotent
  }
  const auto lines = lines_of(o.stats_csv);
  ASSERT_GE(lines.size(), 3U);  // header, lines while running (one at least), the last
  EXPECT_EQ(lines[0],
            "timestamp,elapsed_s,rows,bytes,rows_per_s,mb_per_s,chunks_in_flight,chunks_done,"
            "chunks_total,rss_mb,applied_lsn,lag_bytes,lag_s,apply_per_s,apply_queue");
  std::string prev_ts;
  double prev_elapsed = -1;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const auto f = split(lines[i], ',');
    ASSERT_EQ(f.size(), 15U) << lines[i];  // the follow columns stay empty without CDC
    EXPECT_EQ(f[10], "") << lines[i];
    EXPECT_GE(f[0], prev_ts) << lines[i];
    EXPECT_GE(std::stod(f[1]), prev_elapsed) << lines[i];
    prev_ts = f[0];
    prev_elapsed = std::stod(f[1]);
  }
  EXPECT_LT(split(lines[1], ',')[0], prev_ts);  // time moves on
  const auto last = split(lines.back(), ',');
  EXPECT_EQ(last[2], "1000");  // the line written at stop has the final totals
  EXPECT_EQ(last[3], "1000000");
  EXPECT_EQ(last[7], "10");
  EXPECT_EQ(last[8], "10");

  // A second run appends without a second header.
  { progress_reporter r(p, o); }
  const auto again = lines_of(o.stats_csv);
  EXPECT_GT(again.size(), lines.size());
  for (std::size_t i = 1; i < again.size(); ++i)
    EXPECT_NE(again[i].substr(0, 9), "timestamp");
}

TEST(progress, stats_csv_fills_the_follow_columns_while_following) {
  temp_dir d;
  progress p;
  auto& f = p.follow();
  f.active = true;
  f.applied_lsn = 0x16B374D48ULL;
  f.lag_bytes = 4096;
  f.lag_ms = 1500;
  f.queued_txns = 3;
  reporter_options o;
  o.stats_csv = d.path / "stats.csv";
  o.stats_interval = 1h;  // only the line written at stop
  o.log_interval = 0ms;
  progress_reporter(p, o).stop();
  const auto lines = lines_of(o.stats_csv);
  ASSERT_EQ(lines.size(), 2U);
  const auto last = split(lines[1], ',');
  ASSERT_EQ(last.size(), 15U) << lines[1];
  EXPECT_EQ(last[10], "1/6B374D48");
  EXPECT_EQ(last[11], "4096");
  EXPECT_EQ(last[12], "1.500");
  EXPECT_EQ(last[14], "3");
}

TEST(progress, terminal_frames_stop_cleanly) {
  progress p;
  auto& a = p.add_table("public", "copying_now", 1'000'000, 1000, 4);
  p.add_table("public", "waiting", 10, 1, 1);
  a.set_phase(table_phase::copying);
  a.add(10, 1000);
  std::mutex mu;
  std::vector<std::string> frames;
  reporter_options o;
  o.terminal = true;
  o.redraw_interval = 20ms;
  o.terminal_out = [&](std::string_view f) {
    std::lock_guard lock(mu);
    frames.emplace_back(f);
  };
  progress_reporter r(p, o);
  std::this_thread::sleep_for(150ms);
  r.stop();
  std::size_t n = 0;
  {
    std::lock_guard lock(mu);
    n = frames.size();
    ASSERT_GE(n, 2U);
    EXPECT_THAT(frames[0], HasSubstr("public.copying_now"));
    EXPECT_THAT(frames[0], HasSubstr("total 0/2 tables"));
    EXPECT_THAT(frames[0], HasSubstr("1 pending"));
    EXPECT_THAT(frames[1], HasSubstr("\x1b[3F"));  // back up over the previous frame
    EXPECT_EQ(frames.back(), "\x1b[3F\x1b[J");     // stop erases the bars
  }
  std::this_thread::sleep_for(60ms);
  std::lock_guard lock(mu);
  EXPECT_EQ(frames.size(), n);  // nothing after stop
}

TEST(progress, reporter_options_from_settings) {
  job_options opts;
  opts.state_dir = "/tmp/some-state";
  auto o = make_reporter_options(opts);
  EXPECT_EQ(o.stats_csv, fs::path("/tmp/some-state/stats.csv"));
  EXPECT_EQ(o.stats_interval, 1000ms);
  EXPECT_EQ(o.log_interval, 10000ms);
  opts.settings["stats.interval"] = "250ms";
  opts.settings["progress.interval"] = "2m";
  opts.settings["progress.max_tables"] = "3";
  o = make_reporter_options(opts);
  EXPECT_EQ(o.stats_interval, 250ms);
  EXPECT_EQ(o.log_interval, 120000ms);
  EXPECT_EQ(o.max_table_lines, 3U);
  opts.settings["stats.interval"] = "0";
  EXPECT_TRUE(make_reporter_options(opts).stats_csv.empty());
  opts.settings["stats.interval"] = "fast";
  EXPECT_THROW(make_reporter_options(opts), usage_error);
}

TEST(progress, summary_table) {
  std::ostringstream out;
  print_summary(out, {{"public.pgbench_accounts", "done", 3'000'000, 402'100'000, 12.34, 4.5, ""},
                      {"public.broken", "failed", 0, 0, 0.2, 0, "permission denied"}});
  const auto text = out.str();
  auto lines = split(text, '\n');
  ASSERT_EQ(lines.back(), "");  // the table ends with a newline
  lines.pop_back();
  ASSERT_EQ(lines.size(), 5U) << text;
  EXPECT_THAT(lines[0], ::testing::MatchesRegex("table +status +rows +MB +copy +index"));
  EXPECT_THAT(lines[1], ::testing::MatchesRegex(
                            "public.pgbench_accounts +done +3000000 +402.1 +12.3s +4.5s"));
  EXPECT_THAT(lines[2], HasSubstr("public.broken"));
  EXPECT_EQ(lines[3], "  error: permission denied");
  EXPECT_THAT(lines[4], ::testing::MatchesRegex("total \\(2 tables, 1 failed\\) +3000000 +402.1"));
}

TEST(progress, summary_names_cannot_fake_lines) {
  std::ostringstream out;
  print_summary(out, {{"public.a\nfake  done", "failed", 1, 1, 0, 0, "bad\nvalue in \"x\rq\""}});
  auto lines = split(out.str(), '\n');
  lines.pop_back();
  ASSERT_EQ(lines.size(), 4U) << out.str();
  EXPECT_THAT(lines[1], HasSubstr("public.a\\nfake  done"));
  EXPECT_EQ(lines[2], "  error: bad\\nvalue in \"x\\rq\"");
}

TEST(progress, formatting) {
  EXPECT_EQ(format_bytes(512), "512 B");
  EXPECT_EQ(format_bytes(151'200'000), "151.2 MB");
  EXPECT_EQ(format_bytes(1'240'000'000), "1.24 GB");
  EXPECT_EQ(format_seconds(12.34), "12.3s");
  EXPECT_EQ(format_seconds(245), "4m05s");
  EXPECT_EQ(format_seconds(3720), "1h02m");
  EXPECT_EQ(format_count(999), "999");
  EXPECT_EQ(format_count(1'230'000), "1.23M");
}

}  // namespace
