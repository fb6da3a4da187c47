#include "engine/core/state_store.hpp"
#include "engine/core/job.hpp"

#include "tests/support/temp_dir.hpp"
#include "tests/unit/state_store_cases.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace uringmig::engine;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

using uringmig::test::temp_dir;

std::vector<planned_table> sample_plan() {
  planned_table big{"public", "big", 1'000'000, 50'000, {}};
  big.chunks.push_back({0, chunk_kind::int_range, std::nullopt, "1000", "id < 1000"});
  big.chunks.push_back({1, chunk_kind::int_range, "1000", "2000", "id >= 1000 AND id < 2000"});
  big.chunks.push_back({2, chunk_kind::int_range, "2000", std::nullopt, "id >= 2000"});
  planned_table odd{"Mixed Case", "t\"q", 4096, -1, {}};
  odd.chunks.push_back({0, chunk_kind::ctid_range, "(0,0)", "(10,0)", "ctid < '(10,0)'"});
  odd.chunks.push_back({1, chunk_kind::explicit_range, "a", "b", "k BETWEEN 'a' AND 'b'"});
  planned_table small{"public", "small", 10, 3, {{0, chunk_kind::whole, {}, {}, ""}}};
  return {big, odd, small};
}

/// The job_error message `f` throws, or "" when it does not throw one.
template <class F>
std::string job_error_of(F&& f) {
  try {
    f();
  } catch (const job_error& e) {
    return e.what();
  }
  return "";
}

// The shared suite (state_store_cases.hpp) over `<dir>/state.db`.
class sqlite_place : public uringmig::test::state_place {
 public:
  state_store open() override { return state_store::open(d_.path / "state"); }
  std::optional<state_store> open_other() override {
    return state_store::open_shared(d_.path / "state");
  }

 private:
  temp_dir d_;
};

using uringmig::test::state_backend_test;
INSTANTIATE_TEST_SUITE_P(embedded, state_backend_test,
                         ::testing::Values(uringmig::test::state_backend_case{
                             "sqlite", [] { return std::make_unique<sqlite_place>(); }}),
                         uringmig::test::case_name);

TEST(state_store, state_db_file_in_the_directory) {
  temp_dir d;
  auto s = state_store::open(d.path / "state");
  EXPECT_TRUE(fs::is_regular_file(d.path / "state" / "state.db"));
  EXPECT_EQ(s.where(), (d.path / "state" / "state.db").string());
}

TEST(state_store, reopen_keeps_data_and_lock_guards_the_directory) {
  temp_dir d;
  {
    auto s = state_store::open(d.path);
    s.save_plan(sample_plan());
    s.mark_chunk_done("public", "small", 0, 3, 30, 0.01);
    s.put("post_data", "done");
    EXPECT_TRUE(state_store::in_use(d.path));
    EXPECT_THAT(job_error_of([&] { state_store::open(d.path); }),
                HasSubstr("is in use by another uringmig job"));
    // A reader works while the job holds the directory.
    auto reader = state_store::open_existing(d.path);
    ASSERT_TRUE(reader);
    EXPECT_EQ(reader->get("post_data"), "done");
    EXPECT_THAT(job_error_of([&] { reader->put("x", "y"); }), HasSubstr("readonly"));
  }
  EXPECT_FALSE(state_store::in_use(d.path));
  auto s = state_store::open(d.path);
  EXPECT_EQ(s.load_plan(), sample_plan());
  EXPECT_THAT(s.done_chunks("public", "small"), ElementsAre(0));
  EXPECT_EQ(s.get("post_data"), "done");
}

TEST(state_store, open_existing_without_state_is_nullopt) {
  temp_dir d;
  EXPECT_FALSE(state_store::open_shared(d.path));
  EXPECT_FALSE(state_store::open_existing(d.path));
  EXPECT_FALSE(state_store::open_existing(d.path / "missing"));
  EXPECT_FALSE(state_store::in_use(d.path));
}

TEST(state_store, directory_that_cannot_be_created_is_a_clear_error) {
  temp_dir d;
  std::ofstream(d.path / "file") << "x";
  const auto msg = job_error_of([&] { state_store::open(d.path / "file" / "dir"); });
  EXPECT_THAT(msg, HasSubstr("cannot create state directory"));
  EXPECT_THAT(msg, HasSubstr("file/dir"));
  EXPECT_THAT(msg, HasSubstr("--state-dir"));
  EXPECT_EQ(msg.find('\n'), std::string::npos);
}

TEST(state_store, file_that_is_not_a_database_is_a_clear_error) {
  temp_dir d;
  std::ofstream(d.path / "state.db") << std::string(4096, 'x');
  auto msg = job_error_of([&] { state_store::open(d.path); });
  EXPECT_THAT(msg, HasSubstr("is not a uringmig state database"));
  EXPECT_THAT(msg, HasSubstr("state.db"));
  EXPECT_EQ(msg.find('\n'), std::string::npos);
  msg = job_error_of([&] { state_store::open_existing(d.path); });
  EXPECT_THAT(msg, HasSubstr("is not a uringmig state database"));
}

TEST(state_store, a_failed_statement_is_a_job_error_naming_the_state_database) {
  // Callers tell a failed chunk from a failed job by job_error: a SQLite error must not leave
  // the store as anything else.
  temp_dir d;
  auto s = state_store::open(d.path);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((d.path / "state.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "DROP TABLE kv", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  const auto msg = job_error_of([&] { s.put("k", "v"); });
  EXPECT_THAT(msg, HasSubstr("state database: "));
  EXPECT_THAT(msg, HasSubstr("no such table: kv"));
  EXPECT_THAT(msg, HasSubstr("state.db"));
  EXPECT_EQ(msg.find('\n'), std::string::npos);
}

TEST(state_store, foreign_sqlite_database_is_refused) {
  temp_dir d;
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((d.path / "state.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE users (id int)", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  EXPECT_THAT(job_error_of([&] { state_store::open(d.path); }),
              HasSubstr("is not a uringmig state database (it holds other tables)"));
}

TEST(state_store, newer_schema_version_is_refused) {
  temp_dir d;
  { auto s = state_store::open(d.path); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((d.path / "state.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  EXPECT_THAT(job_error_of([&] { state_store::open(d.path); }), HasSubstr("schema version 99"));
}

TEST(state_store, fingerprint_is_stable_and_separates_parts) {
  EXPECT_EQ(fingerprint({"a", "b"}), fingerprint({"a", "b"}));
  EXPECT_NE(fingerprint({"ab", "c"}), fingerprint({"a", "bc"}));
  EXPECT_EQ(fingerprint({}).size(), 16U);
}

}  // namespace
