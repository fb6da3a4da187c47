// The PostgreSQL state store (schema uringmig_state): the shared suite of
// tests/unit/state_store_cases.hpp against the fixture's cluster, and what only a shared state
// has — jobs side by side, runs of live and dead workers, bad state URLs, `status --state-url`.
#include "engine/core/job.hpp"
#include "engine/core/state_store.hpp"
#include "engine/core/status.hpp"

#include "tests/support/shared_cluster.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/unit/state_store_cases.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <latch>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace uringmig::engine;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using uringmig::test::temp_dir;

state_location at(const std::string& url, const std::string& job, const temp_dir& d) {
  return state_location{d.path, url, job};
}

class pg_place : public uringmig::test::state_place {
 public:
  pg_place() : db_(uringmig::test::fresh_database("state")) {}
  state_store open() override { return state_store::open(at(db_.tcp_url, "job-a", d_)); }
  std::optional<state_store> open_other() override { return open(); }

 private:
  uringmig::test::fresh_database_info db_;
  temp_dir d_;
};

using uringmig::test::state_backend_test;
INSTANTIATE_TEST_SUITE_P(shared, state_backend_test,
                         ::testing::Values(uringmig::test::state_backend_case{
                             "postgres", [] { return std::make_unique<pg_place>(); }}),
                         uringmig::test::case_name);

std::vector<planned_table> plan_of(const std::string& table, int chunks) {
  planned_table t{"public", table, 1000, 100, {}};
  for (int i = 0; i < chunks; ++i)
    t.chunks.push_back({i, chunk_kind::int_range, std::to_string(i), std::to_string(i + 1), ""});
  return {t};
}

/// The usage_error message `f` throws, or "" when it does not throw one.
template <class F>
std::string usage_error_of(F&& f) {
  try {
    f();
  } catch (const usage_error& e) {
    return e.what();
  }
  return "";
}

TEST(state_store_pg, two_jobs_on_one_database_do_not_see_each_other) {
  const auto db = uringmig::test::fresh_database("state_jobs");
  temp_dir d;
  auto a = state_store::open(at(db.tcp_url, "job-a", d));
  auto b = state_store::open(at(db.tcp_url, "job-b", d));
  a.save_plan(plan_of("orders", 3));
  b.save_plan(plan_of("orders", 2));
  a.mark_chunk_done("public", "orders", 1, 10, 100, 0.1);
  a.put("phase.pre_data", "done");
  b.add_index("public", "orders", "orders_pkey", index_kind::primary_key);
  EXPECT_THAT(a.done_chunks("public", "orders"), ElementsAre(1));
  EXPECT_TRUE(b.done_chunks("public", "orders").empty());
  EXPECT_EQ(b.get("phase.pre_data"), std::nullopt);
  EXPECT_EQ(b.load_plan(), plan_of("orders", 2));
  EXPECT_EQ(a.status_snapshot().tables.at(0).chunks_total, 3);
  EXPECT_TRUE(a.status_snapshot().indexes.empty());
  // A new plan or a reset of one job leaves the other alone.
  b.reset();
  EXPECT_EQ(a.load_plan(), plan_of("orders", 3));
  EXPECT_EQ(a.get("phase.pre_data"), "done");
  EXPECT_FALSE(b.has_plan());
}

TEST(state_store_pg, workers_marking_one_table_at_once_count_every_chunk) {
  // Each worker has its own session: the table's totals must add up under READ COMMITTED.
  const auto db = uringmig::test::fresh_database("state_marks");
  temp_dir d;
  auto first = state_store::open(at(db.tcp_url, "job", d));
  first.save_plan(plan_of("t", 120));
  std::vector<state_store> workers;
  for (int k = 0; k < 4; ++k)
    workers.push_back(state_store::open(at(db.tcp_url, "job", d)));
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&workers, k] {
      for (int i = k; i < 120; i += 4)
        workers[static_cast<std::size_t>(k)].mark_chunk_done("public", "t", i, 2, 20, 0.001);
    });
  }
  for (auto& t : threads)
    t.join();
  const auto st = first.status_snapshot();
  EXPECT_EQ(st.tables.at(0).chunks_done, 120);
  EXPECT_EQ(st.tables.at(0).rows_copied, 240);
  EXPECT_EQ(st.tables.at(0).bytes_copied, 2400);
}

// Workers started together on a database without the schema: one creates it, the others wait
// on its lock, find it made and go on (a CREATE that lost the race once left the session in an
// aborted transaction, and every later call failed with 25P02).
TEST(state_store_pg, workers_arriving_together_on_a_fresh_database_all_use_it) {
  for (int round = 0; round < 3; ++round) {
    const auto db = uringmig::test::fresh_database("state_race");
    temp_dir d;
    std::latch go(8);
    std::vector<std::string> errors(8);
    std::vector<std::thread> threads;
    for (std::size_t k = 0; k < 8; ++k) {
      threads.emplace_back([&, k] {
        go.arrive_and_wait();
        try {
          auto s = state_store::open(at(db.tcp_url, "job", d));
          s.put("seen", "yes");
          EXPECT_EQ(s.get("seen"), "yes");
        } catch (const std::exception& e) {
          errors[k] = e.what();
        }
      });
    }
    for (auto& t : threads)
      t.join();
    for (const auto& e : errors)
      EXPECT_EQ(e, "");
  }
}

TEST(state_store_pg, a_run_of_the_same_id_in_another_state_database_is_not_this_ones) {
  // Two state databases on one server number their runs alike: a live run in one must not make
  // the dead run of the same id in the other look alive (its workers would wait on a dead
  // coordinator, a resume would take it for a live worker).
  const auto live_db = uringmig::test::fresh_database("state_live");
  const auto dead_db = uringmig::test::fresh_database("state_dead");
  temp_dir d;
  auto live = state_store::open(at(live_db.tcp_url, "job", d));
  const auto live_run = live.begin_run({"run", "bulk", "", "", std::nullopt});
  std::int64_t dead_run = 0;
  std::string dead_pid;
  {
    auto gone = state_store::open(at(dead_db.tcp_url, "job", d));
    dead_run = gone.begin_run({"run", "bulk", "", "", std::nullopt});
    dead_pid = uringmig::test::query_value(
        dead_db.conninfo,
        "SELECT backend_pid FROM uringmig_state.run WHERE id = " + std::to_string(dead_run));
  }  // the process "died": its session ended without end_run
  ASSERT_EQ(live_run, dead_run);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (uringmig::test::query_value(
             dead_db.conninfo, "SELECT count(*) FROM pg_stat_activity WHERE pid = " + dead_pid) !=
         "0") {
    ASSERT_LT(std::chrono::steady_clock::now(), until) << "the closed session never ended";
    std::this_thread::yield();
  }
  auto reader = state_store::open(at(dead_db.tcp_url, "job", d));
  EXPECT_TRUE(live.run_alive(live_run));
  EXPECT_FALSE(reader.run_alive(dead_run));
  EXPECT_EQ(reader.status_snapshot().live_runs, 0);
  EXPECT_EQ(live.status_snapshot().live_runs, 1);
}

TEST(state_store_pg, one_process_per_job_and_a_dead_ones_run_becomes_interrupted) {
  // Until several workers share a job through chunk leases, a job runs in one process at a
  // time, as with a state directory: a second process on the same job is refused (two would
  // copy every chunk twice); when the first dies, its run is marked interrupted and the job
  // can run again.
  const auto db = uringmig::test::fresh_database("state_runs");
  temp_dir d;
  std::int64_t dead = 0;
  std::string dead_pid;
  {
    auto gone = state_store::open(at(db.tcp_url, "job", d));
    dead = gone.begin_run({"run", "bulk", "", "", std::nullopt});
    dead_pid = uringmig::test::query_value(
        db.conninfo,
        "SELECT backend_pid FROM uringmig_state.run WHERE id = " + std::to_string(dead));
    auto second = state_store::open(at(db.tcp_url, "job", d));
    std::string refused;
    try {
      second.begin_run({"run", "bulk", "", "", std::nullopt});
    } catch (const uringmig::engine::job_error& e) {
      refused = e.what();
    }
    EXPECT_THAT(refused, HasSubstr("running in another uringmig process"));
    auto other_job = state_store::open(at(db.tcp_url, "other", d));
    EXPECT_NO_THROW(other_job.begin_run({"run", "bulk", "", "", std::nullopt}));
  }  // the process "died": its session ended without end_run
  // The server releases the session's locks when its backend exits: wait for that.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (uringmig::test::query_value(
             db.conninfo, "SELECT count(*) FROM pg_stat_activity WHERE pid = " + dead_pid) != "0") {
    ASSERT_LT(std::chrono::steady_clock::now(), until) << "the closed session never ended";
    std::this_thread::yield();
  }
  auto next = state_store::open(at(db.tcp_url, "job", d));
  const auto next_run = next.begin_run({"run", "bulk", "", "", std::nullopt});
  const auto status_of = [&](std::int64_t id) {
    return uringmig::test::query_value(
        db.conninfo, "SELECT status FROM uringmig_state.run WHERE id = " + std::to_string(id));
  };
  EXPECT_EQ(status_of(dead), "interrupted");
  EXPECT_EQ(status_of(next_run), "running");
  EXPECT_EQ(next.status_snapshot().live_runs, 1);
}

TEST(state_store_pg, unreachable_state_url_is_one_usage_line_without_the_password) {
  temp_dir d;
  const auto msg = usage_error_of([&] {
    state_store::open(at("postgresql://someone:hunter2@127.0.0.1:1/postgres", "job", d));
  });
  EXPECT_THAT(msg, HasSubstr("cannot connect to the state database postgresql://someone"));
  EXPECT_THAT(msg, HasSubstr("(check --state-url)"));
  EXPECT_EQ(msg.find("hunter2"), std::string::npos);
  EXPECT_EQ(msg.find('\n'), std::string::npos);
  EXPECT_THAT(usage_error_of([&] { state_store::open(at("sqlite:///tmp/x.db", "job", d)); }),
              HasSubstr("--state-url must be a postgresql:// URL"));
}

TEST(state_store_pg, a_user_without_create_privilege_is_told_what_to_grant) {
  const auto db = uringmig::test::fresh_database("state_priv");
  const std::string role = "state_nocreate_" + std::to_string(::getpid());
  uringmig::test::exec_sql(db.conninfo, "DROP ROLE IF EXISTS " + role + "; CREATE ROLE " + role +
                                            " LOGIN PASSWORD 'pw-secret'");
  const auto& c = uringmig::test::shared_cluster();
  const std::string url =
      "postgresql://" + role + ":pw-secret@127.0.0.1:" + std::to_string(c.port) + "/" + db.name;
  temp_dir d;
  const auto msg = usage_error_of([&] { state_store::open(at(url, "job", d)); });
  EXPECT_THAT(msg, HasSubstr("may not create schema uringmig_state in postgresql://" + role));
  EXPECT_THAT(msg, HasSubstr("grant it CREATE on the database"));
  EXPECT_EQ(msg.find("pw-secret"), std::string::npos);
  EXPECT_EQ(msg.find('\n'), std::string::npos);
}

TEST(state_store_pg, newer_schema_version_is_refused) {
  const auto db = uringmig::test::fresh_database("state_version");
  temp_dir d;
  { auto s = state_store::open(at(db.tcp_url, "job", d)); }
  uringmig::test::exec_sql(db.conninfo, "UPDATE uringmig_state.version SET version = 99");
  try {
    state_store::open(at(db.tcp_url, "job", d));
    FAIL() << "no exception";
  } catch (const job_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("has version 99, newer than this uringmig knows"));
  }
}

TEST(state_store_pg, a_version_1_schema_is_upgraded_in_place_keeping_its_rows) {
  const auto db = uringmig::test::fresh_database("state_upgrade");
  temp_dir d;
  {
    auto s = state_store::open(at(db.tcp_url, "job", d));
    s.put("kept", "yes");
  }
  // The schema as version 1 made it: without what version 2 added.
  uringmig::test::exec_sql(
      db.conninfo,
      "ALTER TABLE uringmig_state.run DROP COLUMN host, DROP COLUMN pid, DROP COLUMN worker, "
      "DROP COLUMN worker_name, DROP COLUMN heartbeat_at; ALTER TABLE uringmig_state.chunk DROP "
      "COLUMN done_at, DROP COLUMN leased_run, DROP COLUMN done_run; UPDATE "
      "uringmig_state.version SET version = 1");
  auto s = state_store::open(at(db.tcp_url, "job", d));
  EXPECT_EQ(uringmig::test::query_value(db.conninfo, "SELECT version FROM uringmig_state.version"),
            "3");
  EXPECT_EQ(s.get("kept"), "yes");
  const std::int64_t run = s.begin_run({"run", "bulk", "", "", {}, true});
  EXPECT_EQ(uringmig::test::query_value(
                db.conninfo, "SELECT pid || ' ' || worker FROM uringmig_state.run WHERE id = " +
                                 std::to_string(run)),
            std::to_string(::getpid()) + " true");
  EXPECT_EQ(state_store::open_existing(at(db.tcp_url, "job", d))->status_snapshot().workers.size(),
            1U);
}

TEST(state_store_pg, a_version_2_schema_is_upgraded_keeping_who_leased_and_did_each_chunk) {
  const auto db = uringmig::test::fresh_database("state_upgrade2");
  temp_dir d;
  std::int64_t run = 0;
  std::string name;
  {
    auto s = state_store::open(at(db.tcp_url, "job", d));
    s.save_plan(plan_of("orders", 3));
    run = s.begin_run({"run", "bulk", "", "", {}, true});
    name = "r" + std::to_string(run) + "@host:1 #1/2";
    const auto done = s.claim_chunk(name, std::chrono::seconds(60));
    ASSERT_TRUE(done);
    s.mark_chunk_done(done->schema, done->name, done->chunk_no, 5, 50, 0.1);
    ASSERT_TRUE(s.claim_chunk(name, std::chrono::seconds(60)));
    // The schema as version 2 left it: the run ids only in the worker names.
    uringmig::test::exec_sql(db.conninfo,
                             "ALTER TABLE uringmig_state.chunk DROP COLUMN leased_run, DROP COLUMN "
                             "done_run; UPDATE uringmig_state.version SET version = 2");
    auto again = state_store::open(at(db.tcp_url, "job", d));
    EXPECT_EQ(
        uringmig::test::query_value(db.conninfo, "SELECT version FROM uringmig_state.version"),
        "3");
    const std::string id = std::to_string(run);
    EXPECT_EQ(
        uringmig::test::query_value(
            db.conninfo,
            "SELECT string_agg(chunk_no || ':' || coalesce(leased_run::text, '-') || ':' || "
            "coalesce(done_run::text, '-'), ' ' ORDER BY chunk_no) FROM uringmig_state.chunk"),
        "0:-:" + id + " 1:" + id + ":- 2:-:-");
    // What status reads per worker comes from those ids, with the run still alive.
    const auto st = state_store::open_existing(at(db.tcp_url, "job", d))->status_snapshot();
    ASSERT_EQ(st.workers.size(), 1U);
    EXPECT_EQ(st.workers[0].run_id, run);
    EXPECT_EQ(st.workers[0].chunks_done, 1);
    ASSERT_EQ(st.workers[0].leases.size(), 1U);
    EXPECT_EQ(st.workers[0].leases[0].chunk_no, 1);
  }
  // Its process gone, a new round reopens the chunk its run leased.
  auto next = state_store::open(at(db.tcp_url, "job", d));
  EXPECT_EQ(next.reopen_chunks(), 1);
}

TEST(state_store_pg, reading_an_older_schema_changes_nothing_and_says_what_upgrades_it) {
  const auto db = uringmig::test::fresh_database("state_readonly");
  const std::string role = "state_reader_" + std::to_string(::getpid());
  temp_dir d;
  {
    auto s = state_store::open(at(db.tcp_url, "job", d));
    s.save_plan(plan_of("orders", 2));
  }
  uringmig::test::exec_sql(db.conninfo, "DROP ROLE IF EXISTS " + role + "; CREATE ROLE " + role +
                                            " LOGIN PASSWORD 'pw-secret'; GRANT USAGE ON SCHEMA "
                                            "uringmig_state TO " +
                                            role +
                                            "; GRANT SELECT ON ALL TABLES IN SCHEMA "
                                            "uringmig_state TO " +
                                            role);
  const auto& c = uringmig::test::shared_cluster();
  const std::string url =
      "postgresql://" + role + ":pw-secret@127.0.0.1:" + std::to_string(c.port) + "/" + db.name;
  // The current version: a user who may only read reads it.
  auto now = state_store::open_existing(at(url, "job", d));
  ASSERT_TRUE(now);
  EXPECT_EQ(now->status_snapshot().tables.size(), 1U);
  // An older one: one line saying what upgrades it, and the schema as it was.
  uringmig::test::exec_sql(db.conninfo, "UPDATE uringmig_state.version SET version = 2");
  const auto msg = usage_error_of([&] { state_store::open_existing(at(url, "job", d)); });
  EXPECT_THAT(msg, HasSubstr("has version 2, older than this uringmig's (3): run the job's "
                             "workers once with this uringmig"));
  EXPECT_EQ(msg.find("pw-secret"), std::string::npos);
  EXPECT_EQ(msg.find('\n'), std::string::npos);
  // Even a user who may write: reading does not upgrade.
  EXPECT_THAT(usage_error_of([&] { state_store::open_existing(at(db.tcp_url, "job", d)); }),
              HasSubstr("older than this uringmig's"));
  EXPECT_EQ(uringmig::test::query_value(db.conninfo, "SELECT version FROM uringmig_state.version"),
            "2");
}

TEST(state_store_pg, status_reads_the_state_url) {
  const auto db = uringmig::test::fresh_database("state_status");
  temp_dir d;
  job_options o;
  o.command = "status";
  o.state_dir = d.path / "unused";
  o.settings["state.url"] = db.tcp_url;
  EXPECT_THAT(usage_error_of([&] { run_status(o); }), HasSubstr("no job  in the state database"));
  {
    auto s = state_store::open(at(db.tcp_url, "nightly", d));
    s.save_plan(plan_of("orders", 2));
    s.mark_chunk_done("public", "orders", 0, 5, 50, 0.1);
    s.begin_run({"run", "bulk", "", "", std::nullopt});
  }
  // The only job there: no --job needed.
  std::ostringstream out;
  EXPECT_EQ(run_status(o, out), 0);
  EXPECT_THAT(out.str(), HasSubstr("(schema uringmig_state, job nightly)"));
  EXPECT_THAT(out.str(), HasSubstr("public.orders"));
  EXPECT_EQ(out.str().find("uringmig-secret"), std::string::npos);
  {
    auto other = state_store::open(at(db.tcp_url, "weekly", d));
    other.put("k", "v");
  }
  EXPECT_THAT(usage_error_of([&] { run_status(o); }),
              HasSubstr("holds several jobs (nightly, weekly): name one with --job"));
  o.settings["state.job"] = "nightly";
  std::ostringstream again;
  EXPECT_EQ(run_status(o, again), 0);
  EXPECT_THAT(again.str(), HasSubstr("job nightly"));
  o.settings["state.job"] = "monthly";
  EXPECT_THAT(usage_error_of([&] { run_status(o); }), HasSubstr("no job monthly"));
}

TEST(state_store_pg, job_names_come_from_the_job_definition) {
  job_options a;
  a.source_url = "postgresql://u:one@src/db";
  a.target_url = "postgresql://u@dst/db";
  a.settings["state.url"] = "target";
  job_options b = a;
  b.source_url = "postgresql://u:two@src/db";  // another password: the same job
  job_options c = a;
  c.tables = {"public.*"};
  const auto la = state_location_of(a);
  EXPECT_EQ(la.url, a.target_url);
  EXPECT_EQ(la.job, state_location_of(b).job);
  EXPECT_NE(la.job, state_location_of(c).job);
  c.settings["state.job"] = "mine";
  EXPECT_EQ(state_location_of(c).job, "mine");
  EXPECT_TRUE(state_location_of(job_options{}).url.empty());
}

}  // namespace
