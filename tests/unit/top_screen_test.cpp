#include "cli/top_screen.hpp"
#include "cli/top_feed.hpp"
#include "cli/top_model.hpp"
#include "engine/core/state_store.hpp"
#include "engine/core/status.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace uringmig;
using namespace uringmig::cli;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

engine::table_row table(std::string name, std::string status, int done, int total,
                        std::int64_t rows) {
  engine::table_row t;
  t.schema = "public";
  t.name = std::move(name);
  t.status = std::move(status);
  t.chunks_done = done;
  t.chunks_total = total;
  t.rows_copied = rows;
  t.bytes_copied = rows * 100;
  return t;
}

/// The document `uringmig status --json` prints for `s`.
std::string document(const engine::job_status& s, bool live) {
  std::ostringstream out;
  engine::print_status_json(out, s, "/tmp/state", live);
  return out.str();
}

engine::job_status running_job(int tables) {
  engine::job_status s;
  engine::run_row r;
  r.id = 3;
  r.command = "run";
  r.preset = "bulk";
  r.status = "running";
  r.seconds = 83;
  s.last_run = r;
  s.run_count = 3;
  for (int i = 0; i < tables; ++i)
    s.tables.push_back(table("t" + std::to_string(i), i == 0 ? "copying" : "pending",
                             i == 0 ? 3 : 0, 10, i == 0 ? 1500 : 0));
  return s;
}

top_snapshot parsed(const std::string& doc) {
  std::string error;
  auto s = parse_status_document(doc, error);
  EXPECT_TRUE(s.has_value()) << error;
  return s.value_or(top_snapshot{});
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines)
    out += l + "\n";
  return out;
}

TEST(top_model, a_pause_over_http_shows_offline_while_the_job_lives) {
  auto job = running_job(1);
  job.kv["http.paused"] = "true";
  EXPECT_TRUE(parsed(document(job, true)).paused);
  // The process is gone: a mark a killed job left behind is not a pause.
  EXPECT_FALSE(parsed(document(job, false)).paused);
  job.kv["http.paused"] = "false";
  EXPECT_FALSE(parsed(document(job, true)).paused);
}

TEST(top_model, reads_the_status_document_of_a_running_bulk_job) {
  const auto s = parsed(document(running_job(2), true));
  EXPECT_EQ(s.run, "#3 run --preset bulk");
  EXPECT_EQ(s.state, "running");
  EXPECT_EQ(s.phase, "copy");
  EXPECT_TRUE(s.live);
  EXPECT_FALSE(s.paused);
  EXPECT_DOUBLE_EQ(s.elapsed_seconds, 83);
  ASSERT_EQ(s.tables.size(), 2U);
  EXPECT_EQ(s.tables[0].name, "public.t0");
  EXPECT_EQ(s.tables[0].chunks_done, 3);
  EXPECT_EQ(s.rows, 1500);
  EXPECT_EQ(s.chunks_total, 20);
  EXPECT_DOUBLE_EQ(s.progress(), 0.15);
}

TEST(top_model, a_running_row_without_a_live_job_is_stopped) {
  const auto s = parsed(document(running_job(1), false));
  EXPECT_EQ(s.state, "stopped");
  EXPECT_EQ(s.phase, "stopped");
}

TEST(top_model, a_shared_job_runs_while_any_worker_lives_after_its_newest_one_stopped) {
  auto job = running_job(1);
  job.location = "postgresql://u@h/db (schema uringmig_state, job j)";
  job.last_run->status = "interrupted";  // the newest worker stopped; another goes on
  job.live_runs = 1;
  auto s = parsed(document(job, true));
  EXPECT_EQ(s.state, "running");
  EXPECT_EQ(s.phase, "copy");
  job.last_run->status = "running";  // killed with -9
  EXPECT_EQ(parsed(document(job, true)).state, "running");
  job.live_runs = 0;  // the last one gone
  EXPECT_EQ(parsed(document(job, false)).state, "stopped");
}

TEST(top_model, phase_follows_the_tables_then_the_online_marks) {
  auto job = running_job(1);
  job.tables[0].status = "indexing";
  EXPECT_EQ(parsed(document(job, true)).phase, "indexes");
  job.kv["online.phase"] = "follow";
  job.kv["online.lag_bytes"] = "4096";
  job.kv["online.lag_seconds"] = "1.5";
  const auto s = parsed(document(job, true));
  EXPECT_EQ(s.phase, "follow");
  EXPECT_EQ(s.lag_bytes.value_or(-1), 4096);
  EXPECT_DOUBLE_EQ(s.lag_seconds.value_or(-1), 1.5);
}

TEST(top_model, live_fields_of_the_api_document_win) {
  auto doc = document(running_job(1), true);
  doc.pop_back();  // newline
  doc.pop_back();  // closing brace
  doc += R"(,"phase":"copy","paused":true,"elapsed_seconds":12.5,)"
         R"("cdc":{"active":true,"lag_bytes":10,"lag_seconds":0.25}})";
  const auto s = parsed(doc);
  EXPECT_TRUE(s.paused);
  EXPECT_DOUBLE_EQ(s.elapsed_seconds, 12.5);
  EXPECT_EQ(s.lag_bytes.value_or(0), 10);
}

TEST(top_model, the_api_live_progress_and_tables_replace_the_stored_ones) {
  auto doc = document(running_job(1), true);
  doc.pop_back();
  doc.pop_back();
  doc +=
      R"(,"phase":"copy","progress":{"rows":2000,"bytes":9000,"rows_per_second":100,)"
      R"("bytes_per_second":450,"fraction":0.4,"chunks_done":4,"chunks_total":10,)"
      R"("tables_done":0},"cdc":{"active":false,"lag_bytes":0,"lag_seconds":0},"table_progress":[{"schema":"public","name":"t0","state":"copying",)"
      R"("rows":2000,"bytes":9000,"chunks_done":4,"chunks_total":10,"fraction":0.45}]})";
  const auto s = parsed(doc);
  EXPECT_EQ(s.rows, 2000);
  EXPECT_DOUBLE_EQ(s.progress(), 0.4);
  EXPECT_DOUBLE_EQ(s.bytes_per_second.value_or(0), 450);
  EXPECT_FALSE(s.lag_bytes);  // no lag while the job does not follow
  ASSERT_EQ(s.tables.size(), 1U);
  EXPECT_EQ(s.tables[0].status, "copying");
  EXPECT_EQ(s.tables[0].rows, 2000);
  EXPECT_THAT(joined(render_top(s, top_view{}, 100, 12)), HasSubstr("  45%"));
}

TEST(top_model, refuses_what_is_not_a_status_document) {
  std::string error;
  EXPECT_FALSE(parse_status_document("<html>", error));
  EXPECT_THAT(error, HasSubstr("not JSON"));
  EXPECT_FALSE(parse_status_document(R"({"error":"not found"})", error));
  EXPECT_THAT(error, HasSubstr("not a uringmig status document"));
}

TEST(top_model, log_lines_of_the_json_log) {
  EXPECT_EQ(format_log_json(R"({"ts":"2026-12-07T13:41:32.123Z","level":"info","msg":"a\nb"})"),
            "13:41:32 info  a\\nb");
  EXPECT_FALSE(format_log_json("not json"));
  EXPECT_FALSE(format_log_json(R"({"ts":"x"})"));
}

TEST(top_model, rate_meter_measures_over_its_window_and_restarts_when_counts_drop) {
  rate_meter m(5.0);
  EXPECT_FALSE(m.rows_per_second());
  m.add(100.0, 0, 0);
  m.add(101.0, 1000, 10);
  EXPECT_DOUBLE_EQ(m.rows_per_second().value_or(0), 1000);
  for (int i = 2; i <= 10; ++i)
    m.add(100.0 + i, 1000 + (i - 1) * 500, 0);  // 500 rows/s from t=101 on
  EXPECT_DOUBLE_EQ(m.rows_per_second().value_or(0), 500);
  m.add(111.0, 10, 0);  // a new run: counts start over
  EXPECT_FALSE(m.rows_per_second());
}

TEST(top_screen, every_line_is_exactly_the_screen_width_and_there_are_height_lines) {
  auto s = parsed(document(running_job(3), true));
  top_view v;
  v.source = "state directory /tmp/state";
  v.log = {"13:41:32 info  started", "13:41:33 info  copying public.t0"};
  for (const int w : {20, 40, 80, 120, 200}) {
    for (const int h : {1, 3, 8, 24, 40}) {
      const auto lines = render_top(s, v, w, h);
      ASSERT_EQ(lines.size(), static_cast<std::size_t>(h)) << w << "x" << h;
      for (const auto& l : lines)
        EXPECT_EQ(l.size(), static_cast<std::size_t>(w)) << w << "x" << h << ": " << l;
    }
  }
}

TEST(top_screen, shows_phase_progress_tables_log_and_keys) {
  auto s = parsed(document(running_job(2), true));
  top_view v;
  v.source = "http://127.0.0.1:7654";
  v.log = {"13:41:33 info  copying public.t0"};
  v.rows_per_second = 1234;
  const auto text = joined(render_top(s, v, 120, 30));
  EXPECT_THAT(text, HasSubstr("#3 run --preset bulk"));
  EXPECT_THAT(text, HasSubstr("phase copy"));
  EXPECT_THAT(text, HasSubstr("elapsed 1m23s"));
  EXPECT_THAT(text, HasSubstr("rows/s 1.2k"));
  EXPECT_THAT(text, HasSubstr(" 15.0%  chunks 3/20"));
  EXPECT_THAT(text, HasSubstr("public.t0"));
  EXPECT_THAT(text, HasSubstr("copying"));
  EXPECT_THAT(text, HasSubstr("public.t1"));
  EXPECT_THAT(text, HasSubstr("copying public.t0"));
  EXPECT_THAT(text, HasSubstr("need --http URL and a token"));
  EXPECT_THAT(text, Not(HasSubstr("PAUSED")));
  s.paused = true;
  v.actions = true;
  const auto paused = joined(render_top(s, v, 120, 30));
  EXPECT_THAT(paused, HasSubstr("PAUSED  phase copy"));
  EXPECT_THAT(paused, HasSubstr("p pause  r resume  s switchover"));
}

/// `running_job(2)` on a shared state: one live worker holding a chunk, one dead holding one.
engine::job_status shared_job() {
  auto st = running_job(2);
  st.location = "postgresql://u@h/db (schema uringmig_state, job j)";
  engine::worker_row a;
  a.name = "r7@hosta:101 #1";
  a.run_id = 7;
  a.alive = true;
  a.state = "alive";
  a.chunks_done = 5;
  a.rows = 5000;
  a.seconds = 10;
  a.leases.push_back({"public", "t0", 4, "2026-12-07T12:00:03.000Z", false});
  engine::worker_row b = a;
  b.name = "r8@hostb:202";
  b.run_id = 8;
  b.alive = false;
  b.state = "dead";
  b.chunks_done = 2;
  b.leases = {{"public", "t1", 9, "2026-12-07T11:59:58.000Z", true}};
  st.workers = {a, b};
  return st;
}

TEST(top_model, reads_the_workers_of_a_shared_state) {
  const auto s = parsed(document(shared_job(), true));
  ASSERT_EQ(s.workers.size(), 2U);
  EXPECT_EQ(s.workers[0].name, "r7@hosta:101 #1");
  EXPECT_TRUE(s.workers[0].alive);
  EXPECT_EQ(s.workers[0].chunks_done, 5);
  EXPECT_EQ(s.workers[0].rows, 5000);
  EXPECT_DOUBLE_EQ(s.workers[0].rows_per_second, 500);
  EXPECT_EQ(s.workers[0].holds, "public.t0 #4");
  EXPECT_EQ(s.workers[1].state, "dead");
  EXPECT_EQ(s.workers[1].holds, "public.t1 #9 (lease ran out)");
  EXPECT_TRUE(parsed(document(running_job(2), true)).workers.empty());
}

TEST(top_screen, shows_a_workers_block_above_the_tables_when_there_are_workers) {
  const auto s = parsed(document(shared_job(), true));
  top_view v;
  const auto lines = render_top(s, v, 120, 30);
  const auto text = joined(lines);
  EXPECT_THAT(text, HasSubstr("workers 1 alive of 2"));
  EXPECT_THAT(text, MatchesRegex("(.|\n)*r7@hosta:101 #1 +alive +5 +5.0k +500/s  holds public.t0 #4"
                                 "(.|\n)*"));
  EXPECT_THAT(text, HasSubstr("dead"));
  EXPECT_THAT(text, HasSubstr("holds public.t1 #9 (lease ran out)"));
  EXPECT_LT(text.find("workers 1 alive"), text.find("public.t0 "));
  for (const int h : {1, 3, 6, 12}) {
    const auto small = render_top(s, v, 60, h);
    ASSERT_EQ(small.size(), static_cast<std::size_t>(h));
    for (const auto& l : small)
      EXPECT_EQ(l.size(), 60U) << h << ": " << l;
  }
  EXPECT_THAT(joined(render_top(parsed(document(running_job(2), true)), v, 120, 30)),
              Not(HasSubstr("workers")));
}

TEST(top_screen, tables_that_do_not_fit_are_cut_and_scroll) {
  const auto s = parsed(document(running_job(30), true));
  top_view v;
  const auto first = render_top(s, v, 100, 15);
  const auto text = joined(first);
  EXPECT_THAT(text, HasSubstr("public.t0 "));
  EXPECT_THAT(text, Not(HasSubstr("public.t29")));
  EXPECT_THAT(text, HasSubstr("more tables (j/k to scroll)"));
  v.scroll = max_top_scroll(s, v, 15);
  const auto end = joined(render_top(s, v, 100, 15));
  EXPECT_THAT(end, HasSubstr("public.t29"));
  EXPECT_THAT(end, Not(HasSubstr("public.t0 ")));
  EXPECT_THAT(end, Not(HasSubstr("more tables")));
}

TEST(top_screen, the_notice_replaces_the_keys_on_the_last_line) {
  const auto s = parsed(document(running_job(1), true));
  top_view v;
  v.notice = "switch over to the target now? y/n";
  const auto lines = render_top(s, v, 60, 10);
  EXPECT_THAT(lines.back(), HasSubstr("switch over to the target now? y/n"));
}

TEST(top_screen, updates_overwrite_changed_rows_in_place_and_never_clear_the_screen) {
  const std::vector<std::string> a{"title   ", "rows 1  ", "log     "};
  const std::vector<std::string> b{"title   ", "rows 22 ", "log     "};
  EXPECT_EQ(screen_update({}, a),
            "\x1b[1;1Htitle\x1b[K\x1b[2;1Hrows 1\x1b[K\x1b[3;1Hlog\x1b[K\x1b[J");
  EXPECT_EQ(screen_update(a, b), "\x1b[2;1Hrows 22\x1b[K");
  EXPECT_EQ(screen_update(b, b), "");
  EXPECT_EQ(screen_update(a, {"title   "}), "\x1b[2;1H\x1b[J");
  for (const auto& bytes : {screen_update({}, a), screen_update(a, b)})
    EXPECT_THAT(bytes, Not(HasSubstr("\x1b[2J")));
}

TEST(top_screen, columns_count_code_points_and_bars_fill_in_proportion) {
  EXPECT_EQ(fit_columns("h\xc3\xa9llo", 3), "h\xc3\xa9l");
  EXPECT_EQ(fit_columns("ab", 4), "ab  ");
  EXPECT_EQ(progress_bar(0.5, 12), "[#####.....]");
  EXPECT_EQ(progress_bar(1.5, 5), "[###]");
  EXPECT_EQ(progress_bar(-1, 4), "[..]");
}

TEST(top_screen, plain_line_for_a_pipe) {
  auto s = parsed(document(running_job(2), true));
  s.paused = true;
  top_view v;
  v.rows_per_second = 50;
  EXPECT_EQ(plain_top_line(s, v),
            "phase copy 15.0% chunks 3/20 tables 0/2 rows 1500 rows/s 50 lag - paused");
}

TEST(top_feed, http_addresses) {
  std::string host;
  std::string port;
  ASSERT_TRUE(split_http_url("127.0.0.1:7654", host, port));
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, "7654");
  ASSERT_TRUE(split_http_url("http://db-host:80/", host, port));
  EXPECT_EQ(host, "db-host");
  ASSERT_TRUE(split_http_url("[::1]:7654", host, port));
  EXPECT_EQ(host, "::1");
  EXPECT_FALSE(split_http_url("db-host", host, port));
  EXPECT_FALSE(split_http_url("db-host:0", host, port));
  EXPECT_FALSE(split_http_url("db-host:99999", host, port));
  EXPECT_FALSE(split_http_url("https://db-host:1/x", host, port));
  bool https = false;
  ASSERT_TRUE(split_http_url("https://db-host:7655/", host, port, &https));
  EXPECT_TRUE(https);
  EXPECT_EQ(host, "db-host");
  EXPECT_EQ(port, "7655");
  ASSERT_TRUE(split_http_url("http://db-host:7655", host, port, &https));
  EXPECT_FALSE(https);
  EXPECT_FALSE(split_http_url("::1:7654", host, port));
}

}  // namespace
