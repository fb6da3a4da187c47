#include "engine/core/status.hpp"
#include "cli/app.hpp"
#include "engine/core/job.hpp"
#include "engine/core/state_store.hpp"

#include "tests/support/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cctype>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace uringmig;
using namespace uringmig::engine;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;
namespace fs = std::filesystem;

using uringmig::test::temp_dir;

/// A strict-enough JSON checker: true when `s` is exactly one JSON value.
class json_checker {
 public:
  explicit json_checker(std::string_view s) : s_(s) {}
  bool valid() {
    ws();
    if (!value()) return false;
    ws();
    return i_ == s_.size();
  }

 private:
  void ws() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_])) != 0)
      ++i_;
  }
  bool lit(std::string_view w) {
    if (s_.substr(i_, w.size()) != w) return false;
    i_ += w.size();
    return true;
  }
  bool string() {
    if (!lit("\"")) return false;
    while (i_ < s_.size() && s_[i_] != '"') {
      if (static_cast<unsigned char>(s_[i_]) < 0x20) return false;
      if (s_[i_] == '\\') ++i_;
      ++i_;
    }
    return lit("\"");
  }
  bool number() {
    const auto start = i_;
    if (i_ < s_.size() && s_[i_] == '-') ++i_;
    while (i_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[i_])) != 0 ||
                              s_[i_] == '.' || s_[i_] == 'e' || s_[i_] == 'E' || s_[i_] == '+'))
      ++i_;
    return i_ > start;
  }
  template <class F>
  bool list(char close, F item) {
    ws();
    if (lit(std::string_view(&close, 1))) return true;
    while (true) {
      ws();
      if (!item()) return false;
      ws();
      if (lit(std::string_view(&close, 1))) return true;
      if (!lit(",")) return false;
    }
  }
  bool value() {
    if (i_ >= s_.size()) return false;
    switch (s_[i_]) {
      case '{':
        ++i_;
        return list('}', [this] {
          if (!string()) return false;
          ws();
          if (!lit(":")) return false;
          ws();
          return value();
        });
      case '[':
        ++i_;
        return list(']', [this] { return value(); });
      case '"':
        return string();
      case 't':
        return lit("true");
      case 'f':
        return lit("false");
      case 'n':
        return lit("null");
      default:
        return number();
    }
  }
  std::string_view s_;
  std::size_t i_ = 0;
};

/// A state dir with one run, a plan of two tables half done, an index and a failure.
void make_state(const fs::path& dir) {
  auto s = state_store::open(dir);
  const auto run = s.begin_run(
      {"run", "bulk", "postgresql://u:hunter2@src:5432/db", "postgresql://u@dst/db", std::nullopt});
  s.set_run_snapshot(run, "00000003-0000001B-1");
  planned_table big{"public", "big", 300'000'000, 3000, {}};
  for (int i = 0; i < 3; ++i) {
    big.chunks.push_back({i, chunk_kind::int_range, std::to_string(i * 1000),
                          std::to_string((i + 1) * 1000), "id >= x"});
  }
  planned_table small{"sales", "Order \"x\"", 10, 3, {{0, chunk_kind::whole, {}, {}, ""}}};
  s.save_plan({big, small});
  s.set_table_status("public", "big", table_status::copying);
  s.mark_chunk_done("public", "big", 0, 1000, 50'000'000, 1.0);
  s.mark_chunk_done("public", "big", 1, 1000, 50'000'000, 1.0);
  s.mark_chunk_failed("public", "big", 2, 5, "server closed the connection");
  s.add_index("public", "big", "big_pkey", index_kind::primary_key);
  s.add_index("public", "big", "big_k_idx", index_kind::index);
  s.mark_index_done("public", "big", "big_pkey", 0.5);
  s.mark_chunk_done("sales", "Order \"x\"", 0, 3, 300, 0.01);
  s.set_table_status("sales", "Order \"x\"", table_status::done);
  s.set_copy_seconds("sales", "Order \"x\"", 0.01);
  s.put("schema.pre_data", "done");
  s.end_run(run, run_status::interrupted, "interrupted, resume with the same command");
}

TEST(status_command, no_state_is_a_usage_error_naming_the_dir) {
  temp_dir d;
  job_options o;
  o.command = "status";
  o.state_dir = d.path / "nothing";
  try {
    run_status(o);
    FAIL() << "no exception";
  } catch (const usage_error& e) {
    const auto dir = (d.path / "nothing").string();
    EXPECT_EQ(std::string(e.what()),
              "no job state in " + dir + " (run a job with --state-dir " + dir + " first)");
  }
}

TEST(status_command, prints_run_tables_chunks_indexes_and_totals) {
  temp_dir d;
  make_state(d.path);
  job_options o;
  o.command = "status";
  o.state_dir = d.path;
  std::ostringstream out;
  EXPECT_EQ(run_status(o, out), 0);
  const auto text = out.str();
  EXPECT_THAT(text, HasSubstr("run       #1 run --preset bulk: interrupted\n"));
  EXPECT_THAT(text, HasSubstr("snapshot  00000003-0000001B-1\n"));
  EXPECT_THAT(text, HasSubstr("message   interrupted, resume with the same command\n"));
  EXPECT_THAT(text, HasSubstr("mark      schema.pre_data = done\n"));
  EXPECT_EQ(text.find("hunter2"), std::string::npos);
  EXPECT_THAT(text, MatchesRegex("(.|\n)*\npublic.big +copying +2/3 +2000 +100.0 +1/2 (.|\n)*"));
  EXPECT_THAT(text,
              MatchesRegex("(.|\n)*\nsales.Order \"x\" +done +1/1 +3 +0.0 +0/0 +0.0s (.|\n)*"));
  EXPECT_THAT(text, MatchesRegex("(.|\n)*\ntotal \\(2 tables, 1 done\\) +3/4 +2003 +100.0 +1/2"
                                 "(.|\n)*"));
  EXPECT_THAT(text, HasSubstr("chunk 2 of public.big (5 attempts): server closed the connection"));
}

TEST(status_command, json_is_one_valid_object) {
  temp_dir d;
  make_state(d.path);
  job_options o;
  o.command = "status";
  o.state_dir = d.path;
  o.json = true;
  std::ostringstream out;
  run_status(o, out);
  const auto text = out.str();
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(text.find('\n'), text.size() - 1);  // one line
  EXPECT_TRUE(json_checker(text).valid()) << text;
  EXPECT_THAT(text, HasSubstr("\"name\":\"Order \\\"x\\\"\""));
  EXPECT_THAT(text, HasSubstr("\"chunks_done\":2"));
  EXPECT_THAT(text, HasSubstr("\"live\":false"));
  EXPECT_THAT(text, HasSubstr("\"snapshot\":\"00000003-0000001B-1\""));
  EXPECT_THAT(text, HasSubstr("\"totals\":{\"tables\":2,"));
  EXPECT_FALSE(json_checker("{\"a\":1,}").valid());
  EXPECT_FALSE(json_checker("{\"a\":1}{").valid());
}

TEST(status_command, a_shared_state_shows_its_workers_alive_or_dead_with_their_leases) {
  job_status s;
  s.location = "postgresql://u@h/db (schema uringmig_state, job j)";
  s.tables.push_back(
      {"public", "big", 1000, 10, 4, 3, 0, "copying", 3000, 3000000, 0, 0, 0, 0, 0, ""});
  worker_row a;
  a.name = "r7@hosta:101 #1";
  a.run_id = 7;
  a.host = "hosta";
  a.pid = 101;
  a.alive = true;
  a.state = "alive";
  a.started_at = "2026-12-07T12:00:00.000Z";
  a.last_heartbeat = "2026-12-07T12:00:09.000Z";
  a.chunks_done = 2;
  a.rows = 2000;
  a.bytes = 2000000;
  a.seconds = 4;
  worker_row b = a;
  b.name = "r8@hostb:202";
  b.run_id = 8;
  b.alive = false;
  b.state = "dead";
  b.last_heartbeat.reset();
  b.chunks_done = 1;
  b.rows = 1000;
  b.bytes = 1000000;
  b.seconds = 0;
  b.leases.push_back({"public", "big", 3, "2026-12-07T12:00:11.000Z", true});
  s.workers = {a, b};
  std::ostringstream out;
  print_status(out, s, "/tmp/state", true);
  const auto text = out.str();
  EXPECT_THAT(text, HasSubstr("\nworkers (1 alive of 2)\n"));
  EXPECT_THAT(text,
              MatchesRegex("(.|\n)*\nr7@hosta:101 #1 +alive +2026-12-07T12:00:09.000Z +2 +2000 "
                           "+2.0 +500\n(.|\n)*"));
  EXPECT_THAT(text, MatchesRegex("(.|\n)*\nr8@hostb:202 +dead +- +1 +1000 +1.0 +0\n(.|\n)*"));
  EXPECT_THAT(text, HasSubstr("  holds public.big #3 (lease ran out at 12:00:11.000Z): its worker "
                              "is dead, the chunk is taken again once the lease runs out\n"));

  const auto json = status_json(s, "/tmp/state", true);
  EXPECT_TRUE(json_checker(json).valid()) << json;
  EXPECT_THAT(json,
              HasSubstr("\"workers\":[{\"name\":\"r7@hosta:101 #1\",\"run_id\":7,"
                        "\"host\":\"hosta\",\"pid\":101,\"alive\":true,\"state\":\"alive\","));
  EXPECT_THAT(json, HasSubstr("\"rows_per_second\":500.000,\"leases\":[]}"));
  EXPECT_THAT(json, HasSubstr("\"last_heartbeat\":null"));
  EXPECT_THAT(json, HasSubstr("\"leases\":[{\"schema\":\"public\",\"name\":\"big\",\"chunk_no\":3,"
                              "\"lease_until\":\"2026-12-07T12:00:11.000Z\",\"expired\":true}]"));
  // The embedded store (no location) has no workers section.
  s.location.clear();
  EXPECT_THAT(status_json(s, "/tmp/state", true), Not(HasSubstr("\"workers\"")));
}

TEST(status_command, a_shared_job_runs_while_any_worker_lives_whatever_its_newest_run_says) {
  job_status s;
  s.location = "postgresql://u@h/db (schema uringmig_state, job j)";
  run_row newest;
  newest.id = 9;
  newest.command = "run";
  newest.preset = "bulk";
  newest.status = "running";  // killed with -9: its row still says running
  s.last_run = newest;
  s.run_count = 2;
  s.live_runs = 1;  // run 8 lives
  worker_row older;
  older.run_id = 8;
  older.alive = true;
  older.state = "alive";
  worker_row killed = older;
  killed.run_id = 9;
  killed.alive = false;
  killed.state = "dead";
  s.workers = {older, killed};
  std::ostringstream out;
  print_status(out, s, "/tmp/state", true);
  EXPECT_THAT(out.str(), HasSubstr("run       #9 run --preset bulk: stopped without an outcome"));
  EXPECT_THAT(out.str(), HasSubstr("\njob       running (1 of its processes alive)\n"));
  EXPECT_THAT(status_json(s, "/tmp/state", true), HasSubstr("\"job_state\":\"running\""));
  // The newest worker left (or failed) while another goes on: still running.
  s.last_run->status = "interrupted";
  EXPECT_EQ(job_state(s, true), "running");
  // None lives: the newest run's outcome.
  s.live_runs = 0;
  EXPECT_EQ(job_state(s, false), "interrupted");
  s.last_run->status = "running";
  EXPECT_EQ(job_state(s, false), "stopped");
  // One process on a state directory: its last run says it.
  s.location.clear();
  EXPECT_EQ(job_state(s, true), "running");
  s.last_run->status = "done";
  EXPECT_EQ(job_state(s, true), "done");
  s.last_run.reset();
  EXPECT_EQ(job_state(s, false), "none");
}

TEST(status_command, json_stays_valid_for_text_that_is_not_utf8) {
  // A server message in Latin-1 (a non-UTF8 source database) reaches the state as is.
  temp_dir d;
  make_state(d.path);
  {
    auto s = state_store::open(d.path);
    s.mark_chunk_failed("public", "big", 2, 5, "caf\xe9 \x01 closed");
  }
  job_options o;
  o.command = "status";
  o.state_dir = d.path;
  o.json = true;
  std::ostringstream out;
  run_status(o, out);
  const auto text = out.str();
  EXPECT_THAT(text, HasSubstr(R"("caf\ufffd \u0001 closed")"));
  EXPECT_EQ(text.find('\xe9'), std::string::npos);
}

TEST(status_command, works_while_a_job_holds_the_state) {
  temp_dir d;
  make_state(d.path);
  auto writer = state_store::open(d.path);
  const auto run = writer.begin_run({"run", "bulk", "", "", std::nullopt});
  job_options o;
  o.state_dir = d.path;
  std::ostringstream out;
  run_status(o, out);
  EXPECT_THAT(out.str(),
              HasSubstr("run       #" + std::to_string(run) + " run --preset bulk: running\n"));
  o.json = true;
  std::ostringstream json;
  run_status(o, json);
  EXPECT_THAT(json.str(), HasSubstr("\"live\":true"));
}

TEST(status_command, stale_running_run_is_reported) {
  temp_dir d;
  {
    auto s = state_store::open(d.path);
    s.begin_run({"run", "", "", "", std::nullopt});  // the process "dies" here
  }
  job_options o;
  o.state_dir = d.path;
  std::ostringstream out;
  run_status(o, out);
  EXPECT_THAT(out.str(), HasSubstr("stopped without an outcome"));
  EXPECT_THAT(out.str(), HasSubstr("no plan saved yet"));
}

TEST(status_command, through_the_cli_no_state_exits_2_with_one_line) {
  temp_dir d;
  std::ostringstream out;
  std::ostringstream err;
  cli::run_context ctx;
  ctx.out = &out;
  ctx.err = &err;
  ctx.probe_uring = [] { return io::uring_probe_result{true, 0, "", ""}; };
  ctx.run_job = [](const job_options& o) { return run_status(o); };  // what run_job does
  const auto dir = (d.path / "none").string();
  const std::vector<std::string> args{"uringmig", "status", "--state-dir", dir};
  EXPECT_EQ(cli::run(args, ctx), 2);
  EXPECT_EQ(err.str(), "uringmig: no job state in " + dir + " (run a job with --state-dir " + dir +
                           " first)\n");
}

TEST(status_command, summary_rows_from_state) {
  temp_dir d;
  make_state(d.path);
  const auto rows = summarize(state_store::open_existing(d.path)->status_snapshot());
  ASSERT_EQ(rows.size(), 2U);
  EXPECT_EQ(rows[0].table, "public.big");
  EXPECT_EQ(rows[0].rows, 2000);
  EXPECT_EQ(rows[0].bytes, 100'000'000);
  EXPECT_EQ(rows[1].status, "done");
}

}  // namespace
