// Chunk leases in the PostgreSQL state store: many claimers (each its own session, as workers on
// other hosts) take every chunk exactly once; a lease that runs out is taken again, a renewed
// one is not; a released chunk is free at once; the embedded store refuses leases.
#include "engine/core/job.hpp"
#include "engine/core/state_store.hpp"

#include "tests/support/shared_cluster.hpp"
#include "tests/support/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace {

using namespace uringmig::engine;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
using uringmig::test::temp_dir;

std::vector<planned_table> plan_of(int tables, int chunks) {
  std::vector<planned_table> plan;
  for (int t = 0; t < tables; ++t) {
    planned_table p{"public", "t" + std::to_string(t), 1000, 100, {}};
    for (int i = 0; i < chunks; ++i)
      p.chunks.push_back({i, chunk_kind::int_range, std::to_string(i), std::to_string(i + 1), ""});
    plan.push_back(p);
  }
  return plan;
}

/// Whether run `id` ends (its lock is free) within 10 s: a closed session's backend releases its
/// locks as it exits, a moment after the client has gone.
bool ends(const state_store& s, std::int64_t id) {
  for (int i = 0; i < 1000 && s.run_alive(id); ++i)
    std::this_thread::sleep_for(10ms);
  return !s.run_alive(id);
}

struct leases_test : ::testing::Test {
  uringmig::test::fresh_database_info db = uringmig::test::fresh_database("leases");
  temp_dir d;
  state_store open() { return state_store::open(state_location{d.path, db.tcp_url, "job"}); }
};

TEST_F(leases_test, sixteen_claimers_take_every_chunk_exactly_once_in_plan_order) {
  auto planner = open();
  planner.save_plan(plan_of(5, 40));
  std::vector<state_store> workers;
  for (int k = 0; k < 16; ++k)
    workers.push_back(open());
  std::mutex m;
  std::map<std::tuple<std::string, int>, int> taken;  // chunk -> times claimed
  std::vector<std::thread> threads;
  for (int k = 0; k < 16; ++k) {
    threads.emplace_back([&, k] {
      auto& s = workers[static_cast<std::size_t>(k)];
      const std::string me = "w" + std::to_string(k);
      while (auto c = s.claim_chunk(me, 60s)) {
        EXPECT_FALSE(c->reclaimed);
        s.mark_chunk_done(c->schema, c->name, c->chunk_no, 1, 10, 0.0);
        std::lock_guard lk(m);
        ++taken[{c->name, c->chunk_no}];
      }
    });
  }
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(taken.size(), 200U);
  for (const auto& [chunk, times] : taken)
    EXPECT_EQ(times, 1) << std::get<0>(chunk) << " chunk " << std::get<1>(chunk);
  const auto st = planner.status_snapshot();
  for (const auto& t : st.tables) {
    EXPECT_EQ(t.chunks_done, 40) << t.name;
    EXPECT_EQ(t.rows_copied, 40) << t.name;
  }
  EXPECT_EQ(
      uringmig::test::query_value(db.conninfo,
                                  "SELECT count(*) FROM uringmig_state.chunk WHERE done_by IS NULL "
                                  "OR leased_by IS NOT NULL"),
      "0");
  // Nothing left: every claimer hears so.
  EXPECT_FALSE(workers[0].claim_chunk("w0", 60s));

  // One claimer alone takes chunks in plan order (the first table's first).
  auto again = open();
  again.save_plan(plan_of(2, 3));
  const auto first = again.claim_chunk("solo", 60s);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->name, "t0");
  EXPECT_EQ(first->chunk_no, 0);
  EXPECT_EQ(again.claim_chunk("solo", 60s)->chunk_no, 1);
}

TEST_F(leases_test, a_lease_that_runs_out_is_claimed_again_a_renewed_one_is_not) {
  auto a = open();
  auto b = open();
  a.save_plan(plan_of(1, 2));
  const auto held = a.claim_chunk("alive", 60s);
  const auto lost = a.claim_chunk("dying", 1ms);
  ASSERT_TRUE(held && lost);
  EXPECT_EQ(a.renew_leases("alive", 60s), 1);
  // "dying" never renews: once the server's clock passes its lease, b takes that chunk.
  std::optional<chunk_claim> retaken;
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (!(retaken = b.claim_chunk("rescuer", 60s))) {
    ASSERT_LT(std::chrono::steady_clock::now(), until) << "the lost lease never ran out";
    std::this_thread::yield();
  }
  EXPECT_EQ(retaken->chunk_no, lost->chunk_no);
  EXPECT_TRUE(retaken->reclaimed);
  // The renewed lease still holds: nothing else to take.
  EXPECT_FALSE(b.claim_chunk("rescuer", 60s));
  // The dead worker's heartbeat (were it to come back) no longer extends what it lost.
  EXPECT_EQ(a.renew_leases("dying", 60s), 0);
}

TEST_F(leases_test, a_released_chunk_is_free_at_once_and_a_done_one_never_comes_back) {
  auto a = open();
  a.save_plan(plan_of(1, 2));
  const auto c0 = a.claim_chunk("w1", 60s);
  const auto c1 = a.claim_chunk("w1", 60s);
  ASSERT_TRUE(c0 && c1);
  a.mark_chunk_done(c0->schema, c0->name, c0->chunk_no, 1, 1, 0);
  a.release_chunk(*c1, "someone-else");  // not the holder: nothing happens
  EXPECT_FALSE(a.claim_chunk("w2", 60s));
  a.release_chunk(*c1, "w1");
  const auto back = a.claim_chunk("w2", 60s);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->chunk_no, c1->chunk_no);
  EXPECT_FALSE(back->reclaimed);
  EXPECT_EQ(uringmig::test::query_value(
                db.conninfo, "SELECT done_by FROM uringmig_state.chunk WHERE chunk_no = 0"),
            "w1");
}

TEST_F(leases_test,
       workers_share_a_job_a_lone_process_excludes_them_and_named_locks_die_with_their_session) {
  auto w1 = open();
  auto w2 = open();
  const std::int64_t r1 = w1.begin_run({"run", "bulk", "", "", {}, true});
  const std::int64_t r2 = w2.begin_run({"run", "bulk", "", "", {}, true});
  EXPECT_TRUE(w2.run_alive(r1));
  EXPECT_TRUE(w1.run_alive(r2));
  {
    auto lone = open();
    EXPECT_THROW(lone.begin_run({"run", "bulk", "", "", {}, false}), job_error);
  }
  EXPECT_TRUE(w1.try_lock("finish public.t0"));
  EXPECT_FALSE(w2.try_lock("finish public.t0"));
  EXPECT_TRUE(w2.try_lock("finish public.t1"));  // another name, another lock
  {
    auto w3 = open();
    const std::int64_t r3 = w3.begin_run({"run", "bulk", "", "", {}, true});
    EXPECT_TRUE(w3.try_lock("plan"));
    EXPECT_TRUE(w1.run_alive(r3));
    // w3 ends as kill -9 ends a process: its session, and with it its locks and its run.
    w3 = open();
    EXPECT_TRUE(ends(w1, r3));
  }
  EXPECT_TRUE(w1.try_lock("plan"));
  w1.unlock("finish public.t0");
  EXPECT_TRUE(w2.try_lock("finish public.t0"));
}

TEST_F(leases_test, a_new_round_reopens_failed_chunks_and_the_dead_workers_leases_only) {
  auto a = open();
  a.save_plan(plan_of(1, 4));
  auto live = open();
  const std::int64_t lr = live.begin_run({"run", "bulk", "", "", {}, true});
  const std::string live_name = "r" + std::to_string(lr) + "@h:1";
  const std::string dead_name = "r999999@h:2";  // a run that holds no lock: dead
  const auto c0 = a.claim_chunk(live_name, 60s);
  const auto c1 = a.claim_chunk(dead_name, 60s);
  const auto c2 = a.claim_chunk(dead_name, 60s);
  ASSERT_TRUE(c0 && c1 && c2);
  a.mark_chunk_failed(c2->schema, c2->name, c2->chunk_no, 1, "boom");
  a.set_table_status(c2->schema, c2->name, table_status::failed, "boom");
  EXPECT_EQ(a.chunks_pending(), 3);  // 0, 1 (leased) and 3; not the failed one
  EXPECT_EQ(a.reopen_chunks(), 2);   // 1 (its worker is dead) and 2 (failed)
  EXPECT_EQ(a.chunks_pending(), 4);
  EXPECT_EQ(a.get_table_status("public", "t0"), table_status::pending);
  std::set<int> free;
  while (auto c = a.claim_chunk("next", 60s))
    free.insert(c->chunk_no);
  EXPECT_EQ(free, (std::set<int>{1, 2, 3}));  // the live worker keeps chunk 0
}

TEST_F(leases_test, status_lists_each_worker_alive_or_dead_with_what_it_did_and_holds) {
  open().save_plan(plan_of(1, 4));
  // As `status` and the HTTP API read (the job's own store does not list its workers).
  auto reader = std::move(*state_store::open_existing(state_location{d.path, db.tcp_url, "job"}));
  auto w1 = open();
  auto w2 = open();
  const std::int64_t r1 = w1.begin_run({"run", "bulk", "", "", {}, true});
  const std::int64_t r2 = w2.begin_run({"run", "bulk", "", "", {}, true});
  const std::string n1 = "r" + std::to_string(r1) + "@h:1 #1";
  const std::string n2 = "r" + std::to_string(r2) + "@h:2";
  EXPECT_TRUE(reader.status_snapshot().workers.size() == 2);  // alive before any claim
  const auto c0 = w1.claim_chunk(n1, 60s);
  ASSERT_TRUE(c0);
  w1.mark_chunk_done(c0->schema, c0->name, c0->chunk_no, 10, 100, 0.5);
  const auto c1 = w1.claim_chunk(n1, 60s);  // held
  const auto c2 = w2.claim_chunk(n2, 60s);
  ASSERT_TRUE(c1 && c2);
  w2.mark_chunk_done(c2->schema, c2->name, c2->chunk_no, 7, 70, 0.5);
  const auto c3 = w2.claim_chunk(n2, 60s);  // held when it dies
  ASSERT_TRUE(c3);
  w2 = open();  // ends as kill -9 ends a process: its session, its run's lock
  ASSERT_TRUE(ends(reader, r2));
  EXPECT_TRUE(w1.status_snapshot().workers.empty());

  const auto st = reader.status_snapshot();
  ASSERT_EQ(st.workers.size(), 2U);
  const worker_row& a = st.workers[0];
  EXPECT_EQ(a.run_id, r1);
  EXPECT_EQ(a.name, n1);
  EXPECT_TRUE(a.alive);
  EXPECT_EQ(a.state, "alive");
  EXPECT_EQ(a.pid, ::getpid());
  EXPECT_FALSE(a.host.empty());
  EXPECT_TRUE(a.last_heartbeat.has_value());
  EXPECT_EQ(a.chunks_done, 1);
  EXPECT_EQ(a.rows, 10);
  EXPECT_EQ(a.bytes, 100);
  EXPECT_GT(a.seconds, 0);
  ASSERT_EQ(a.leases.size(), 1U);
  EXPECT_EQ(a.leases[0].chunk_no, c1->chunk_no);
  EXPECT_FALSE(a.leases[0].expired);
  const worker_row& b = st.workers[1];
  EXPECT_EQ(b.run_id, r2);
  EXPECT_FALSE(b.alive);
  EXPECT_EQ(b.state, "dead");
  EXPECT_EQ(b.chunks_done, 1);
  EXPECT_EQ(b.rows, 7);
  ASSERT_EQ(b.leases.size(), 1U);
  EXPECT_EQ(b.leases[0].chunk_no, c3->chunk_no);
  EXPECT_EQ(b.leases[0].lease_until.size(), 24U);  // 2026-12-07T12:00:00.000Z

  // The dead worker's chunk taken again: the lease moves; a worker that ended says how.
  reader.release_chunk(*c3, n2);
  const auto again = w1.claim_chunk(n1, 60s);
  ASSERT_TRUE(again);
  w1.end_run(r1, run_status::done, "");
  const auto after = reader.status_snapshot();
  ASSERT_EQ(after.workers.size(), 2U);
  EXPECT_EQ(after.workers[0].state, "done");
  EXPECT_EQ(after.workers[0].leases.size(), 2U);
  EXPECT_TRUE(after.workers[1].leases.empty());
  EXPECT_EQ(after.workers[0].chunks_done + after.workers[1].chunks_done, 2);
}

TEST(leases, the_embedded_store_refuses_leases_naming_state_url) {
  temp_dir d;
  auto s = state_store::open(d.path);
  s.save_plan(plan_of(1, 1));
  try {
    s.claim_chunk("w", 60s);
    FAIL() << "no exception";
  } catch (const usage_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("pass --state-url"));
  }
}

}  // namespace
