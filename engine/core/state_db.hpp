// Internal to the state store (engine/state_store*.cpp): its connection (connectors/sqlite),
// the mutex that serialises its users and the directory lock, and how a SQLite error becomes
// the job_error callers expect.
#pragma once

#include "connectors/sqlite/database.hpp"
#include "engine/core/job.hpp"
#include "io/blocking.hpp"

#include <unistd.h>

#include <filesystem>
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

struct state_db {
  explicit state_db(sqlite::database d) : db(std::move(d)) {}
  [[noreturn]] void fail(const sqlite::error& e) const { fail_state_db(db.path(), e); }

  std::mutex mu;
  lock_fd lock;  // released after the connection is closed (declared first)
  sqlite::database db;
  io::serial_worker writer;  // state_store::write_off_context; joined first
};

}  // namespace uringmig::engine::detail
