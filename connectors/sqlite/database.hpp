#pragma once

#include "codecs/row_batch.hpp"

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

// A thin, blocking C++ face on the SQLite C API: a connection, prepared statements and one
// error type. SQLite calls block, so callers run them on threads of their own (the shard
// writers, the SQLite readers), never on an io_context that serves sockets.

namespace uringmig::connectors::sqlite {

/// A failed SQLite call: what() is "<what was being done>: <sqlite message> (<path>)".
class error : public std::runtime_error {
 public:
  error(std::string what, int code, int extended_code);
  int code() const noexcept { return code_; }
  int extended_code() const noexcept { return extended_; }
  /// SQLITE_FULL, or an I/O error from a full disk or a file size limit.
  bool disk_full() const noexcept;
  bool not_a_database() const noexcept { return code_ == SQLITE_NOTADB; }
  bool cannot_open() const noexcept { return code_ == SQLITE_CANTOPEN; }

 private:
  int code_;
  int extended_;
};

/// A prepared statement. Move-only; finalized in the destructor.
class statement {
 public:
  statement() = default;
  statement(statement&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  statement& operator=(statement&& o) noexcept;
  ~statement();

  explicit operator bool() const noexcept { return s_ != nullptr; }
  sqlite3_stmt* get() const noexcept { return s_; }

  // Parameters are 1-based, as in SQLite. Text and blobs are copied only when `copy` is true
  // (SQLITE_TRANSIENT); otherwise they must stay valid until the next step/reset.
  void bind_null(int i) { check_bind(sqlite3_bind_null(s_, i)); }
  void bind_int64(int i, std::int64_t v) { check_bind(sqlite3_bind_int64(s_, i, v)); }
  void bind_double(int i, double v) { check_bind(sqlite3_bind_double(s_, i, v)); }
  void bind_text(int i, std::string_view v, bool copy = false);
  void bind_blob(int i, std::string_view v, bool copy = false);
  /// Binds `args` to parameters 1, 2, ...: integers, doubles, text (copied), an empty optional
  /// as NULL. For statements off the hot path; the binds above copy nothing.
  template <class... A>
  statement& bind_all(const A&... args) {
    int i = 0;
    (bind_value(++i, args), ...);
    return *this;
  }

  /// True while a row is available; false when done. Throws error.
  bool step();
  /// Runs a statement that returns no rows to its end, then resets it.
  void run();
  void reset() noexcept { sqlite3_reset(s_); }
  void clear_bindings() noexcept { sqlite3_clear_bindings(s_); }

  int column_count() const noexcept { return sqlite3_column_count(s_); }
  int column_type(int i) const noexcept { return sqlite3_column_type(s_, i); }
  std::int64_t column_int64(int i) const noexcept { return sqlite3_column_int64(s_, i); }
  double column_double(int i) const noexcept { return sqlite3_column_double(s_, i); }
  /// The value as text (SQLite converts numbers with its own formatting).
  std::string_view column_text(int i) const noexcept;
  /// The text of column `i`; nullopt when it is NULL.
  std::optional<std::string> column_opt_text(int i) const;
  std::string_view column_blob(int i) const noexcept;
  /// Column `i` as a typed view, given its column_type() (read before any text conversion).
  codecs::value_view column_value(int i, int type) const noexcept;

 private:
  friend class database;
  explicit statement(sqlite3_stmt* s) : s_(s) {}
  void check_bind(int rc) const;
  void bind_value(int i, std::string_view v) { bind_text(i, v, true); }
  void bind_value(int i, const std::string& v) { bind_text(i, v, true); }
  void bind_value(int i, const char* v) { bind_text(i, v, true); }
  void bind_value(int i, const std::optional<std::string>& v) {
    if (v) {
      bind_text(i, *v, true);
    } else {
      bind_null(i);
    }
  }
  void bind_value(int i, std::int64_t v) { bind_int64(i, v); }
  void bind_value(int i, int v) { bind_int64(i, v); }
  void bind_value(int i, double v) { bind_double(i, v); }
  [[noreturn]] void fail(int rc, const char* doing) const;

  sqlite3_stmt* s_ = nullptr;
};

enum class open_mode {
  read_only,
  read_write_create,
  /// Reading a file of ours: read-write without create and with `query_only` on, so that closing
  /// it removes the -wal and -shm files SQLite makes for a WAL-mode file (a read-only connection
  /// leaves them behind); read-only when the file is write-protected.
  inspect,
};

/// One connection. Move-only; closed in the destructor.
class database {
 public:
  /// Opens `path`; read_only never creates the file. Throws error (cannot_open()) when the file
  /// cannot be opened; a file that is not a database fails at the first statement
  /// (not_a_database()), which check_readable() provokes.
  static database open(const std::filesystem::path& path, open_mode mode);

  database(database&& o) noexcept : db_(std::exchange(o.db_, nullptr)), path_(std::move(o.path_)) {}
  database& operator=(database&& o) noexcept;
  ~database();

  /// Reads the schema: fails with not_a_database() for a file that is not SQLite.
  void check_readable();
  /// Runs one or more statements that return nothing (PRAGMAs, DDL, BEGIN/COMMIT).
  void exec(std::string_view sql);
  statement prepare(std::string_view sql) const;
  /// Prepares, binds `args` (statement::bind_all) and runs one statement that returns no rows.
  template <class... A>
  void run(std::string_view sql, const A&... args) const {
    prepare(sql).bind_all(args...).run();
  }
  /// The first column of the first row as int64 (0 when there is no row).
  std::int64_t scalar_int(std::string_view sql) const;
  /// The first column of the first row as text ("" when there is no row or NULL).
  std::string scalar_text(std::string_view sql) const;
  /// sqlite3_limit(db, id, -1): the run-time limit (e.g. SQLITE_LIMIT_VARIABLE_NUMBER).
  int limit(int id) const noexcept { return sqlite3_limit(db_, id, -1); }
  std::int64_t changes() const noexcept { return sqlite3_changes64(db_); }
  std::int64_t last_insert_rowid() const noexcept { return sqlite3_last_insert_rowid(db_); }

  sqlite3* get() const noexcept { return db_; }
  const std::filesystem::path& path() const noexcept { return path_; }
  /// "<doing>: <errmsg> (<path>)" for the connection's last error.
  std::string message(const char* doing, int rc) const;

 private:
  database(sqlite3* db, std::filesystem::path p) : db_(db), path_(std::move(p)) {}
  static database open_with(const std::filesystem::path& path, int open_flags);
  sqlite3* db_ = nullptr;
  std::filesystem::path path_;
};

/// A transaction: BEGIN IMMEDIATE (a writer: takes the write lock now, so it never fails to
/// upgrade later) or BEGIN (a consistent read); rolled back unless committed.
class transaction {
 public:
  enum class kind { read, write };
  transaction(database& db, kind k) : db_(db) {
    db_.exec(k == kind::write ? "BEGIN IMMEDIATE" : "BEGIN");
  }
  ~transaction() {
    if (!done_) sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
  transaction(const transaction&) = delete;
  transaction& operator=(const transaction&) = delete;
  void commit() {
    db_.exec("COMMIT");
    done_ = true;
  }

 private:
  database& db_;
  bool done_ = false;
};

/// Process-wide SQLite settings for many threads each with connections of their own: no
/// global memory statistics (their mutex is taken on every allocation, and a dozen writer
/// threads contend on it) and multi-thread mode (a connection is never used by two threads
/// at once; the state store serialises its own). Call once, before SQLite is first used;
/// later calls, or calls after SQLite started, change nothing. Returns whether it applied.
bool configure_process() noexcept;

/// `"name"` with embedded quotes doubled: an SQLite identifier.
std::string quote_ident(std::string_view name);

}  // namespace uringmig::connectors::sqlite
