// Internal to the state store (engine/state_store*.cpp): a thin RAII layer over sqlite3.
#pragma once

#include "engine/core/job.hpp"

#include <sqlite3.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace uringmig::engine::detail {

[[noreturn]] inline void fail_not_state_db(const std::filesystem::path& file,
                                           std::string_view why) {
  throw job_error("'" + file.string() + "' is not a uringmig state database (" + std::string(why) +
                  "); delete it or pass another --state-dir");
}

/// A prepared statement; errors become job_error naming the state database.
class stmt {
 public:
  stmt(sqlite3* db, const std::filesystem::path& file, std::string_view sql)
      : db_(db), file_(&file) {
    if (sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &s_, nullptr) !=
        SQLITE_OK) {
      fail();
    }
  }
  ~stmt() { sqlite3_finalize(s_); }
  stmt(const stmt&) = delete;
  stmt& operator=(const stmt&) = delete;

  template <class... A>
  stmt& bind(const A&... args) {
    int i = 0;
    (bind_one(++i, args), ...);
    return *this;
  }

  /// true: a row is ready; false: done.
  bool step() {
    const int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail();
  }
  void run() {
    while (step()) {
    }
  }
  /// Ready to bind and run again.
  stmt& reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
    return *this;
  }

  std::int64_t i64(int col) const { return sqlite3_column_int64(s_, col); }
  double f64(int col) const { return sqlite3_column_double(s_, col); }
  std::string text(int col) const {
    const auto* p = sqlite3_column_text(s_, col);
    if (p == nullptr) return {};
    return {reinterpret_cast<const char*>(p),
            static_cast<std::size_t>(sqlite3_column_bytes(s_, col))};
  }
  std::optional<std::string> opt_text(int col) const {
    if (sqlite3_column_type(s_, col) == SQLITE_NULL) return std::nullopt;
    return text(col);
  }

 private:
  void bind_one(int i, std::string_view v) {
    check(sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
  }
  void bind_one(int i, const std::string& v) { bind_one(i, std::string_view(v)); }
  void bind_one(int i, const char* v) { bind_one(i, std::string_view(v)); }
  void bind_one(int i, const std::optional<std::string>& v) {
    if (v) {
      bind_one(i, std::string_view(*v));
    } else {
      check(sqlite3_bind_null(s_, i));
    }
  }
  void bind_one(int i, std::int64_t v) { check(sqlite3_bind_int64(s_, i, v)); }
  void bind_one(int i, int v) { check(sqlite3_bind_int64(s_, i, v)); }
  void bind_one(int i, double v) { check(sqlite3_bind_double(s_, i, v)); }

  void check(int rc) {
    if (rc != SQLITE_OK) fail();
  }
  [[noreturn]] void fail() const {
    const int code = sqlite3_errcode(db_);
    if (code == SQLITE_NOTADB) fail_not_state_db(*file_, sqlite3_errmsg(db_));
    throw job_error("state database '" + file_->string() + "': " + sqlite3_errmsg(db_));
  }

  sqlite3* db_;
  const std::filesystem::path* file_;
  sqlite3_stmt* s_ = nullptr;
};

struct state_db {
  mutable std::mutex mu;
  sqlite3* db = nullptr;
  std::filesystem::path file;
  int lock_fd = -1;

  ~state_db() {
    if (db != nullptr) sqlite3_close_v2(db);
    if (lock_fd >= 0) ::close(lock_fd);
  }

  stmt prepare(std::string_view sql) const { return stmt(db, file, sql); }
  /// Runs one statement with `args` bound to its parameters.
  template <class... A>
  void run(std::string_view sql, const A&... args) const {
    prepare(sql).bind(args...).run();
  }
  void exec(std::string_view sql) const {
    char* err = nullptr;
    if (sqlite3_exec(db, std::string(sql).c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err != nullptr ? err : sqlite3_errmsg(db);
      sqlite3_free(err);
      if (sqlite3_errcode(db) == SQLITE_NOTADB) fail_not_state_db(file, msg);
      throw job_error("state database '" + file.string() + "': " + msg);
    }
  }
};

/// BEGIN IMMEDIATE (writers) or BEGIN (consistent reads); rolls back unless committed.
class transaction {
 public:
  transaction(const state_db& s, bool write) : s_(s) {
    s_.exec(write ? "BEGIN IMMEDIATE" : "BEGIN");
  }
  ~transaction() {
    if (!done_) sqlite3_exec(s_.db, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  transaction(const transaction&) = delete;
  transaction& operator=(const transaction&) = delete;
  void commit() {
    s_.exec("COMMIT");
    done_ = true;
  }

 private:
  const state_db& s_;
  bool done_ = false;
};

}  // namespace uringmig::engine::detail
