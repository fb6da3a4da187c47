// Internal to the state store: its SQLite implementation (state_sqlite.cpp, status_read.cpp) —
// the connection (connectors/sqlite), the mutex that serialises its users and the directory
// lock, and how a SQLite error becomes the job_error callers expect.
#pragma once

#include "connectors/sqlite/database.hpp"
#include "engine/core/job.hpp"
#include "engine/core/state_backend.hpp"

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace uringmig::engine::detail {

namespace sqlite = connectors::sqlite;

[[noreturn]] inline void fail_not_state_db(const std::filesystem::path& file,
                                           std::string_view why) {
  throw job_error("'" + file.string() + "' is not a uringmig state database (" + std::string(why) +
                  "); delete it or pass another --state-dir");
}

/// A failed statement of the state database as one line naming it (callers tell a failed chunk
/// from a failed job by job_error).
[[noreturn]] inline void fail_state_db(const std::filesystem::path& file, const sqlite::error& e) {
  if (e.not_a_database()) fail_not_state_db(file, sqlite3_errstr(e.code()));
  throw job_error("state database: " + std::string(e.what()));
}

/// `<dir>/state.lock`, held (flock) for the store's lifetime by a job that writes.
struct lock_fd {
  int fd = -1;
  lock_fd() = default;
  lock_fd(const lock_fd&) = delete;
  lock_fd& operator=(const lock_fd&) = delete;
  ~lock_fd() {
    if (fd >= 0) ::close(fd);
  }
};

/// The SQLite implementation: `<dir>/state.db` (WAL), one job per directory.
class sqlite_state final : public state_backend {
 public:
  explicit sqlite_state(sqlite::database d) : db(std::move(d)) {}
  [[noreturn]] void fail(const sqlite::error& e) const { fail_state_db(db.path(), e); }

  std::string where() const override { return db.path().string(); }
  void reset() override;
  std::int64_t begin_run(const run_start& r) override;
  void set_run_snapshot(std::int64_t run_id, std::string_view snapshot) override;
  void end_run(std::int64_t run_id, run_status status, std::string_view message) override;
  void save_plan(const std::vector<planned_table>& plan) override;
  bool has_plan() const override;
  std::vector<planned_table> load_plan() const override;
  void mark_chunk_done(std::string_view schema, std::string_view name, int chunk_no,
                       std::int64_t rows, std::int64_t bytes, double seconds) override;
  void mark_chunk_failed(std::string_view schema, std::string_view name, int chunk_no, int attempts,
                         std::string_view error) override;
  std::set<int> done_chunks(std::string_view schema, std::string_view name) const override;
  void set_table_status(std::string_view schema, std::string_view name, table_status status,
                        std::string_view error) override;
  std::optional<table_status> get_table_status(std::string_view schema,
                                               std::string_view name) const override;
  void set_copy_seconds(std::string_view schema, std::string_view name, double seconds) override;
  void set_index_seconds(std::string_view schema, std::string_view name, double seconds) override;
  void add_index(std::string_view schema, std::string_view table, std::string_view index,
                 index_kind kind) override;
  void mark_index_done(std::string_view schema, std::string_view table, std::string_view index,
                       double seconds) override;
  void mark_index_failed(std::string_view schema, std::string_view table, std::string_view index,
                         std::string_view error) override;
  std::set<std::string> done_indexes(std::string_view schema,
                                     std::string_view table) const override;
  std::optional<std::string> get(std::string_view key) const override;
  void put_many(const std::vector<std::pair<std::string, std::string>>& entries) override;
  void erase(std::string_view key) override;
  bool compare_and_put(std::string_view key, std::string_view expected,
                       std::string_view value) override;
  job_status status_snapshot() const override;  // status_read.cpp

  mutable std::mutex mu;
  lock_fd dir_lock;  // released after the connection is closed (declared first)
  mutable sqlite::database db;
};

/// state_store::open(dir): the directory made private and locked, the schema created.
std::unique_ptr<sqlite_state> open_sqlite(const std::filesystem::path& dir);
/// An existing `<dir>/state.db` (no lock); nullptr when there is none.
std::unique_ptr<sqlite_state> open_sqlite_existing(const std::filesystem::path& dir,
                                                   bool read_only);
bool sqlite_in_use(const std::filesystem::path& dir);

}  // namespace uringmig::engine::detail
