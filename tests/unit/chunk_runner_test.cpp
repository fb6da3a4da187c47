// The chunk runner with fake workers: no database, a real state store (SQLite in a temp dir)
// and a real runtime, one context so the interleaving of the workers is deterministic.
#include "engine/core/chunk_runner.hpp"

#include "engine/core/observe/hub.hpp"
#include "io/runtime.hpp"
#include "io/sleep.hpp"
#include "tests/support/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <map>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <vector>

namespace {

using namespace uringmig;
using namespace uringmig::engine;
namespace asio = boost::asio;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

/// What one attempt at a chunk does.
struct step {
  bool ok = true;
  bool retryable = false;
  bool interrupted = false;
  bool throws = false;  // an exception: ends the worker
  std::string error = "boom";
};

step fails(bool retryable, std::string error = "boom") {
  return {false, retryable, false, false, std::move(error)};
}

class fake_path final : public chunk_path {
 public:
  explicit fake_path(io::runtime& rt) : rt_(rt) {}

  std::map<std::string, std::vector<step>> script;  // "table#chunk" -> attempts (then: ok)
  std::function<void()> on_failure;                 // after an attempt that failed
  std::function<void(const std::string&)> on_load;  // as a load starts ("table#chunk")
  int yields = 3;                                   // a load gives the context away this often
  /// A load of a table keeps yielding until this many loads of it run at once (bounded): the
  /// runner's state writes run on threads, so plain yields do not make loads overlap for sure.
  int hold_until_running = 0;
  int hold_until_total = 0;  // the same for loads of any table

  std::vector<std::string> loads;  // in start order
  std::map<std::string, int> running, max_running;
  int total = 0, max_total = 0;
  int recovers = 0, opened = 0, closed = 0;
  std::vector<std::string> finished, failed;
  std::vector<std::string> failed_why;

  asio::any_io_executor executor(std::size_t) override { return rt_.executor(0); }
  asio::awaitable<std::unique_ptr<chunk_worker>> open_worker(std::size_t) override;
  void table_finished(const chunk_table& t, double) override { finished.push_back(t.name); }
  void table_failed(const chunk_table& t, const std::string& why) override {
    failed.push_back(t.name);
    failed_why.push_back(why);
  }

  asio::awaitable<chunk_attempt> load(const chunk_table& t, const planned_chunk& c) {
    const std::string key = t.name + "#" + std::to_string(c.chunk_no);
    loads.push_back(key);
    if (on_load) on_load(key);
    max_running[t.name] = std::max(max_running[t.name], ++running[t.name]);
    max_total = std::max(max_total, ++total);
    auto ex = co_await asio::this_coro::executor;
    for (int i = 0; i < yields; ++i)
      co_await asio::post(ex, asio::use_awaitable);
    for (int i = 0;
         (running[t.name] < hold_until_running || total < hold_until_total) && i < 100'000; ++i)
      co_await asio::post(ex, asio::use_awaitable);
    --running[t.name];
    --total;
    step s;
    auto& steps = script[key];
    if (!steps.empty()) {
      s = steps.front();
      steps.erase(steps.begin());
    }
    if (s.throws) throw std::runtime_error("worker lost: " + key);
    chunk_attempt a;
    a.ok = s.ok;
    a.interrupted = s.interrupted;
    a.retryable = s.retryable;
    if (a.ok) {
      a.rows = 10;
      a.bytes = 100;
      a.progress_bytes = 100;
    } else {
      a.error = s.error;
      if (on_failure) on_failure();
    }
    co_return a;
  }

 private:
  io::runtime& rt_;
};

class fake_worker final : public chunk_worker {
 public:
  explicit fake_worker(fake_path& p) : p_(p) {}
  asio::awaitable<chunk_attempt> load(const chunk_table& t, const planned_chunk& c) override {
    co_return co_await p_.load(t, c);
  }
  asio::awaitable<void> recover(const chunk_table&) override {
    ++p_.recovers;
    co_return;
  }
  asio::awaitable<void> close() override {
    ++p_.closed;
    co_return;
  }

 private:
  fake_path& p_;
};

asio::awaitable<std::unique_ptr<chunk_worker>> fake_path::open_worker(std::size_t) {
  ++opened;
  co_return std::make_unique<fake_worker>(*this);
}

/// A plan, a state store holding it, progress, a runtime and the fake path.
struct harness {
  test::temp_dir dir{"chunk-runner"};
  state_store state = state_store::open(dir.path);
  progress prog;
  io::runtime rt{1};
  fake_path path{rt};
  std::vector<planned_table> plan;

  /// Tables (name, bytes, chunks), in this order.
  explicit harness(std::vector<std::tuple<std::string, std::int64_t, int>> tables) {
    for (const auto& [name, bytes, n] : tables) {
      planned_table p{"public", name, bytes, 0, {}};
      for (int i = 0; i < n; ++i)
        p.chunks.push_back({i, chunk_kind::int_range, std::nullopt, std::nullopt, ""});
      plan.push_back(std::move(p));
    }
    state.save_plan(plan);
  }

  std::vector<chunk_table> tables(const std::map<std::string, std::set<int>>& done = {}) {
    std::vector<chunk_table> out;
    for (std::size_t i = 0; i < plan.size(); ++i) {
      chunk_table t;
      t.id = i;
      t.schema = plan[i].schema;
      t.name = plan[i].name;
      t.display = "public." + plan[i].name;
      t.bytes = plan[i].bytes;
      for (const auto& c : plan[i].chunks)
        t.chunks.push_back(&c);
      if (auto it = done.find(t.name); it != done.end()) t.done = it->second;
      t.progress = &prog.add_table("public", t.name, t.bytes, 0, static_cast<int>(t.chunks.size()));
      out.push_back(std::move(t));
    }
    return out;
  }

  /// Runs to the end; the runner's complete() afterwards.
  bool run(chunk_runner_options o, const std::map<std::string, std::set<int>>& done = {}) {
    chunk_runner runner(path, state, prog, tables(done), std::move(o));
    rt.run(runner.run());
    // After a stop, chunks stay queued; else nothing is left.
    EXPECT_EQ(runner.busy(), runner.chunks_queued() > 0);
    return runner.complete();
  }

  std::string status(const std::string& name) {
    const auto s = state.get_table_status("public", name);
    return s ? std::string(to_string(*s)) : "none";
  }
};

chunk_runner_options quick(std::size_t workers, int attempts = 1) {
  chunk_runner_options o;
  o.workers = workers;
  o.attempts = attempts;
  o.backoff = [](int) { return std::chrono::milliseconds(1); };
  return o;
}

TEST(chunk_runner, retries_a_retryable_failure_until_it_succeeds) {
  harness h({{"t", 100, 1}});
  h.path.script["t#0"] = {fails(true, "connection lost"), fails(true, "connection lost")};
  EXPECT_TRUE(h.run(quick(1, 5)));
  EXPECT_THAT(h.path.loads, ElementsAre("t#0", "t#0", "t#0"));
  EXPECT_EQ(h.path.recovers, 2);  // before each new attempt
  EXPECT_THAT(h.path.finished, ElementsAre("t"));
  EXPECT_THAT(h.path.failed, IsEmpty());
  EXPECT_EQ(h.state.done_chunks("public", "t"), std::set<int>{0});
  EXPECT_EQ(h.path.opened, 1);
  EXPECT_EQ(h.path.closed, 1);
}

TEST(chunk_runner, a_failure_that_is_not_retryable_fails_the_table_at_once) {
  harness h({{"t", 100, 2}});
  h.path.script["t#0"] = {fails(false, "invalid input syntax")};
  EXPECT_TRUE(h.run(quick(1, 5)));
  EXPECT_THAT(h.path.loads, ElementsAre("t#0"));  // not retried; the table's next chunk skipped
  EXPECT_THAT(h.path.failed_why, ElementsAre("chunk 0: invalid input syntax"));
  EXPECT_EQ(h.path.recovers, 1);  // the worker is reset for whatever comes next
  EXPECT_EQ(h.status("t"), "failed");
  const job_status st = h.state.status_snapshot();
  ASSERT_EQ(st.failed_chunks.size(), 1u);
  EXPECT_EQ(st.failed_chunks[0].attempts, 1);
}

TEST(chunk_runner, retries_are_bounded_by_the_attempts) {
  harness h({{"t", 100, 1}});
  h.path.script["t#0"] = {fails(true), fails(true), fails(true), fails(true)};
  EXPECT_TRUE(h.run(quick(1, 3)));
  EXPECT_THAT(h.path.loads, ElementsAre("t#0", "t#0", "t#0"));
  EXPECT_THAT(h.path.failed, ElementsAre("t"));
  const job_status st = h.state.status_snapshot();
  ASSERT_EQ(st.failed_chunks.size(), 1u);
  EXPECT_EQ(st.failed_chunks[0].attempts, 3);
}

TEST(chunk_runner, a_stop_during_the_backoff_ends_the_wait_at_once) {
  harness h({{"t", 100, 2}});
  h.path.script["t#0"] = {fails(true, "connection lost")};
  std::stop_source stop;
  // Requested once the runner waits: it has logged the failure and started its backoff.
  h.path.on_failure = [&] {
    asio::co_spawn(
        h.rt.executor(0),
        [&]() -> asio::awaitable<void> {
          auto ex = co_await asio::this_coro::executor;
          co_await asio::post(ex, asio::use_awaitable);
          stop.request_stop();
        },
        asio::detached);
  };
  chunk_runner_options o = quick(1, 5);
  o.backoff = [](int) { return std::chrono::hours(1); };
  o.stop = stop.get_token();
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(h.run(std::move(o)));  // work is left
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::minutes(1));
  EXPECT_THAT(h.path.loads, ElementsAre("t#0"));  // not retried, and no chunk after the stop
  EXPECT_THAT(h.path.failed, IsEmpty());          // the chunk stays to do: neither failed...
  EXPECT_TRUE(h.state.done_chunks("public", "t").empty());  // ...nor done
  EXPECT_NE(h.status("t"), "failed");
  EXPECT_EQ(h.path.closed, 1);
}

TEST(chunk_runner, an_interrupted_attempt_stays_to_do) {
  harness h({{"t", 100, 2}});
  h.path.script["t#0"] = {step{false, false, true, false, ""}};
  EXPECT_FALSE(h.run(quick(1, 5)));
  EXPECT_THAT(h.path.loads, ElementsAre("t#0", "t#1"));
  EXPECT_THAT(h.path.failed, IsEmpty());
  EXPECT_THAT(h.path.finished, IsEmpty());
  EXPECT_EQ(h.state.done_chunks("public", "t"), std::set<int>{1});
}

TEST(chunk_runner, one_table_fails_alone_while_the_others_finish) {
  harness h({{"a", 300, 3}, {"b", 200, 3}, {"c", 100, 3}});
  h.path.script["b#1"] = {fails(false, "duplicate key")};
  EXPECT_TRUE(h.run(quick(1, 5)));
  EXPECT_THAT(h.path.loads, ElementsAre("a#0", "a#1", "a#2", "b#0", "b#1", "c#0", "c#1", "c#2"));
  EXPECT_THAT(h.path.finished, ElementsAre("a", "c"));
  EXPECT_THAT(h.path.failed, ElementsAre("b"));
  EXPECT_EQ(h.status("b"), "failed");
  EXPECT_EQ(h.state.done_chunks("public", "a").size(), 3u);
  EXPECT_EQ(h.state.done_chunks("public", "c").size(), 3u);
  EXPECT_EQ(h.state.done_chunks("public", "b"), std::set<int>{0});
}

TEST(chunk_runner, one_table_fails_alone_with_parallel_workers) {
  harness h({{"a", 300, 4}, {"b", 200, 4}, {"c", 100, 4}});
  h.path.script["b#0"] = {fails(false)};
  EXPECT_TRUE(h.run(quick(3, 5)));
  EXPECT_THAT(h.path.failed, ElementsAre("b"));
  EXPECT_EQ(h.state.done_chunks("public", "a").size(), 4u);
  EXPECT_EQ(h.state.done_chunks("public", "c").size(), 4u);
  EXPECT_EQ(h.path.finished.size(), 2u);
}

TEST(chunk_runner, resume_skips_the_chunks_already_done) {
  harness h({{"t", 100, 5}, {"whole", 50, 2}});
  EXPECT_TRUE(h.run(quick(1), {{"t", {0, 2}}, {"whole", {0, 1}}}));
  EXPECT_THAT(h.path.loads, ElementsAre("t#1", "t#3", "t#4"));
  // A table with nothing left is the path's to settle; the runner only finishes what it ran.
  EXPECT_THAT(h.path.finished, ElementsAre("t"));
  const job_status st = h.state.status_snapshot();
  ASSERT_EQ(st.tables.size(), 2u);
  EXPECT_EQ(st.tables[0].rows_copied, 30);
}

TEST(chunk_runner, largest_tables_first_ties_in_the_given_order) {
  harness h({{"small", 10, 1}, {"big", 1000, 2}, {"mid", 100, 1}, {"mid2", 100, 1}});
  EXPECT_TRUE(h.run(quick(1)));
  EXPECT_THAT(h.path.loads, ElementsAre("big#0", "big#1", "mid#0", "mid2#0", "small#0"));
}

TEST(chunk_runner, same_table_concurrency_is_bounded) {
  harness h({{"a", 200, 4}, {"b", 100, 4}});
  chunk_runner_options o = quick(2);
  o.table_workers = 1;
  h.path.hold_until_total = 2;
  EXPECT_TRUE(h.run(std::move(o)));
  EXPECT_EQ(h.path.max_running["a"], 1);
  EXPECT_EQ(h.path.max_running["b"], 1);
  EXPECT_EQ(h.path.max_total, 2);  // the second worker took the other table meanwhile
  EXPECT_EQ(h.path.loads.size(), 8u);
  EXPECT_THAT(h.path.finished, ::testing::UnorderedElementsAre("a", "b"));
}

TEST(chunk_runner, without_a_limit_workers_share_a_table) {
  harness h({{"a", 200, 4}, {"b", 100, 4}});
  h.path.hold_until_running = 2;
  EXPECT_TRUE(h.run(quick(2)));
  EXPECT_EQ(h.path.max_running["a"], 2);
  EXPECT_EQ(h.path.loads.size(), 8u);
}

TEST(chunk_runner, an_exception_ends_its_worker_the_others_finish_then_it_is_rethrown) {
  harness h({{"a", 200, 6}});
  h.path.script["a#0"] = {step{false, false, false, true, ""}};
  chunk_runner runner(h.path, h.state, h.prog, h.tables(), quick(2));
  EXPECT_THROW(h.rt.run(runner.run()), std::runtime_error);
  EXPECT_EQ(h.path.loads.size(), 6u);  // the other worker took every other chunk
  EXPECT_EQ(h.state.done_chunks("public", "a").size(), 5u);
  EXPECT_FALSE(runner.busy());
  EXPECT_FALSE(runner.complete());
  EXPECT_EQ(h.path.closed, 2);  // the failed worker is closed too
}

}  // namespace

TEST(chunk_runner, a_pause_lets_the_chunk_in_hand_finish_and_holds_the_next_until_resumed) {
  harness h({{"t", 100, 3}});
  auto& hub = observe::the_hub();
  std::vector<std::string> loads_while_paused;
  // Paused as the first chunk starts: it finishes; the next one waits for the resume.
  h.path.on_load = [&](const std::string& key) {
    if (key != "t#0") return;
    hub.pause();
    asio::co_spawn(
        h.rt.executor(0),
        [&]() -> asio::awaitable<void> {
          // Several of the gate's polls (50 ms): a worker that ignored the pause would load.
          (void)co_await io::sleep_unless_stopped(std::chrono::milliseconds(300), {});
          loads_while_paused = h.path.loads;
          hub.resume();
        },
        asio::detached);
  };
  EXPECT_TRUE(h.run(quick(1)));
  EXPECT_THAT(loads_while_paused, ElementsAre("t#0"));
  EXPECT_THAT(h.path.loads, ElementsAre("t#0", "t#1", "t#2"));
  EXPECT_EQ(h.state.done_chunks("public", "t"), (std::set<int>{0, 1, 2}));
  EXPECT_FALSE(hub.paused());
}

TEST(chunk_runner, a_stop_ends_a_pause) {
  harness h({{"t", 100, 2}});
  auto& hub = observe::the_hub();
  hub.pause();
  std::stop_source stop;
  asio::co_spawn(
      h.rt.executor(0),
      [&]() -> asio::awaitable<void> {
        (void)co_await io::sleep_unless_stopped(std::chrono::milliseconds(100), {});
        stop.request_stop();
      },
      asio::detached);
  auto o = quick(1);
  o.stop = stop.get_token();
  EXPECT_FALSE(h.run(o));  // stopped with work left, nothing loaded
  EXPECT_THAT(h.path.loads, IsEmpty());
  hub.resume();
}
