// The SQLite implementation of the state store: `<state-dir>/state.db`.
#include "engine/core/state_store.hpp"

#include "codecs/url.hpp"
#include "engine/core/job.hpp"
#include "engine/core/state_db.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <system_error>
#include <utility>

namespace uringmig::engine {

namespace {

namespace fs = std::filesystem;
namespace sqlite = connectors::sqlite;
using connectors::sqlite::transaction;
using detail::fail_not_state_db;

// Version 1. A change to the schema bumps it; open() refuses versions it does not know.
constexpr int schema_version = 1;

constexpr const char* schema_sql = R"sql(
CREATE TABLE run (
  id INTEGER PRIMARY KEY,
  started_at TEXT NOT NULL,
  finished_at TEXT,
  command TEXT NOT NULL,
  preset TEXT NOT NULL DEFAULT '',
  source_redacted TEXT NOT NULL DEFAULT '',
  target_redacted TEXT NOT NULL DEFAULT '',
  snapshot TEXT,
  status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'interrupted')),
  message TEXT NOT NULL DEFAULT '');
CREATE TABLE job_table (
  schema TEXT NOT NULL,
  name TEXT NOT NULL,
  plan_order INTEGER NOT NULL,
  bytes INTEGER NOT NULL DEFAULT 0,
  rows_estimate INTEGER NOT NULL DEFAULT 0,
  chunk_count INTEGER NOT NULL DEFAULT 0,
  status TEXT NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'copying', 'copied', 'indexing', 'done', 'failed')),
  rows_copied INTEGER NOT NULL DEFAULT 0,
  bytes_copied INTEGER NOT NULL DEFAULT 0,
  copy_seconds REAL NOT NULL DEFAULT 0,
  index_seconds REAL NOT NULL DEFAULT 0,
  error TEXT,
  PRIMARY KEY (schema, name)) WITHOUT ROWID;
CREATE TABLE chunk (
  schema TEXT NOT NULL,
  name TEXT NOT NULL,
  chunk_no INTEGER NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('whole', 'int_range', 'ctid_range', 'explicit')),
  lower TEXT,
  upper TEXT,
  where_sql TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
  rows INTEGER NOT NULL DEFAULT 0,
  bytes INTEGER NOT NULL DEFAULT 0,
  seconds REAL NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  error TEXT,
  PRIMARY KEY (schema, name, chunk_no)) WITHOUT ROWID;
CREATE TABLE job_index (
  schema TEXT NOT NULL,
  table_name TEXT NOT NULL,
  index_name TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('index', 'primary_key', 'unique_constraint')),
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
  seconds REAL NOT NULL DEFAULT 0,
  error TEXT,
  PRIMARY KEY (schema, table_name, index_name)) WITHOUT ROWID;
CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
)sql";

fs::path db_file(const fs::path& dir) {
  return dir / "state.db";
}
fs::path lock_file(const fs::path& dir) {
  return dir / "state.lock";
}

std::unique_ptr<detail::sqlite_state> open_db(const fs::path& dir, bool read_only) {
  try {
    return std::make_unique<detail::sqlite_state>(
        sqlite::database::open(db_file(dir), read_only ? sqlite::open_mode::read_only
                                                       : sqlite::open_mode::read_write_create));
  } catch (const sqlite::error& e) {
    throw job_error(std::string(e.what()) + " (pass --state-dir with a writable directory)");
  }
}

int count_state_tables(const sqlite::database& db, int* other) {
  auto q = db.prepare(
      "SELECT count(*) FILTER (WHERE name IN ('run', 'job_table', 'chunk', 'job_index', 'kv')), "
      "count(*) FROM sqlite_master WHERE type = 'table'");
  q.step();
  *other = static_cast<int>(q.column_int64(1) - q.column_int64(0));
  return static_cast<int>(q.column_int64(0));
}

/// Checks (and for a writer, creates) the schema. Returns false for an empty read-only file.
bool check_schema(sqlite::database& db, bool read_only) {
  const auto version = db.scalar_int("PRAGMA user_version");
  int other = 0;
  const int ours = count_state_tables(db, &other);
  if (version > schema_version) {
    throw job_error("state database '" + db.path().string() + "' has schema version " +
                    std::to_string(version) + ", newer than this uringmig knows (" +
                    std::to_string(schema_version) +
                    "); use the uringmig that wrote it or another --state-dir");
  }
  if (version == 0) {
    if (ours + other > 0) fail_not_state_db(db.path(), "it holds other tables");
    if (read_only) return false;
    transaction t(db, transaction::kind::write);
    db.exec(schema_sql);
    db.exec("PRAGMA user_version = " + std::to_string(schema_version));
    t.commit();
    return true;
  }
  if (ours != 5) fail_not_state_db(db.path(), "tables are missing");
  return true;
}

/// check_schema of an existing file, without creating anything; SQLite errors as job_error.
bool checked_schema(detail::sqlite_state& s) {
  try {
    return check_schema(s.db, true);
  } catch (const sqlite::error& e) {
    s.fail(e);
  }
}

}  // namespace

namespace detail {

std::unique_ptr<sqlite_state> open_sqlite(const fs::path& dir) {
  ensure_private_dir(dir);
  detail::lock_fd lock;
  lock.fd = ::open(lock_file(dir).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock.fd < 0) {
    throw job_error("cannot write in state directory '" + dir.string() +
                    "': " + std::strerror(errno) + " (pass --state-dir with a writable directory)");
  }
  if (::flock(lock.fd, LOCK_EX | LOCK_NB) != 0) {
    throw job_error(
        "state directory '" + dir.string() +
        "' is in use by another uringmig job (wait for it or pass another --state-dir)");
  }
  auto p = open_db(dir, false);
  p->dir_lock.fd = std::exchange(lock.fd, -1);
  try {
    // journal_mode is the first statement that reads the file: it reports a non-database.
    p->db.exec("PRAGMA journal_mode = WAL");
    p->db.exec("PRAGMA synchronous = NORMAL");
    check_schema(p->db, false);
  } catch (const sqlite::error& e) {
    p->fail(e);
  }
  return p;
}

std::unique_ptr<sqlite_state> open_sqlite_existing(const fs::path& dir, bool read_only) {
  std::error_code ec;
  if (!fs::is_regular_file(db_file(dir), ec)) return nullptr;
  auto p = open_db(dir, read_only);
  if (!checked_schema(*p)) return nullptr;
  return p;
}

bool sqlite_in_use(const fs::path& dir) {
  const int fd = ::open(lock_file(dir).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool busy = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);  // also drops the shared lock if we got it
  return busy;
}

// Every member that runs statements is a function-try-block: a SQLite error leaves it as a
// job_error naming the state database (fail), which is what callers catch.

void sqlite_state::reset() try {
  std::lock_guard lock(mu);
  transaction t(db, transaction::kind::write);
  db.exec(
      "DELETE FROM chunk; DELETE FROM job_index; DELETE FROM job_table; DELETE FROM kv; "
      "DELETE FROM run;");
  t.commit();
} catch (const sqlite::error& e) {
  fail(e);
}

// Timestamps are ISO 8601 UTC text ("2024-05-01T12:00:00.123Z"): readable in the sqlite3 CLI
// and understood by julianday().
std::int64_t sqlite_state::begin_run(const run_start& r) try {
  std::lock_guard lock(mu);
  transaction t(db, transaction::kind::write);
  db.run(
      "UPDATE run SET status = 'interrupted', "
      "finished_at = coalesce(finished_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')), "
      "message = CASE WHEN message = '' THEN 'the process ended without recording an outcome' "
      "ELSE message END WHERE status = 'running'");
  db.run(
      "INSERT INTO run (started_at, command, preset, source_redacted, target_redacted, snapshot, "
      "status) VALUES (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ?, ?, ?, ?, ?, 'running')",
      r.command, r.preset, codecs::redact(r.source_redacted), codecs::redact(r.target_redacted),
      r.snapshot);
  const auto id = db.last_insert_rowid();
  t.commit();
  return id;
} catch (const sqlite::error& e) {
  fail(e);
}

void sqlite_state::set_run_snapshot(std::int64_t run_id, std::string_view snapshot) try {
  std::lock_guard lock(mu);
  db.run("UPDATE run SET snapshot = ? WHERE id = ?", snapshot, run_id);
} catch (const sqlite::error& e) {
  fail(e);
}

void sqlite_state::end_run(std::int64_t run_id, run_status status, std::string_view message) try {
  std::lock_guard lock(mu);
  db.run(
      "UPDATE run SET status = ?, message = ?, finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', "
      "'now') WHERE id = ?",
      to_string(status), codecs::redact(message), run_id);
} catch (const sqlite::error& e) {
  fail(e);
}

void sqlite_state::save_plan(const std::vector<planned_table>& plan) try {
  std::lock_guard lock(mu);
  transaction t(db, transaction::kind::write);
  db.exec("DELETE FROM chunk; DELETE FROM job_index; DELETE FROM job_table;");
  auto tab = db.prepare(
      "INSERT INTO job_table (schema, name, plan_order, bytes, rows_estimate, chunk_count) "
      "VALUES (?, ?, ?, ?, ?, ?)");
  auto chk = db.prepare(
      "INSERT INTO chunk (schema, name, chunk_no, kind, lower, upper, where_sql) "
      "VALUES (?, ?, ?, ?, ?, ?, ?)");
  std::int64_t order = 0;
  for (const auto& pt : plan) {
    tab.bind_all(pt.schema, pt.name, order++, pt.bytes, pt.rows_estimate,
                 static_cast<std::int64_t>(pt.chunks.size()))
        .run();
    for (const auto& c : pt.chunks) {
      chk.bind_all(pt.schema, pt.name, c.chunk_no, to_string(c.kind), c.lower, c.upper, c.where_sql)
          .run();
    }
  }
  t.commit();
} catch (const sqlite::error& e) {
  fail(e);
}

bool sqlite_state::has_plan() const try {
  std::lock_guard lock(mu);
  auto q = db.prepare("SELECT EXISTS (SELECT 1 FROM job_table)");
  q.step();
  return q.column_int64(0) != 0;
} catch (const sqlite::error& e) {
  fail(e);
}

std::vector<planned_table> sqlite_state::load_plan() const try {
  std::lock_guard lock(mu);
  transaction t(db, transaction::kind::read);
  std::vector<planned_table> out;
  auto tabs =
      db.prepare("SELECT schema, name, bytes, rows_estimate FROM job_table ORDER BY plan_order");
  auto chunks = db.prepare(
      "SELECT chunk_no, kind, lower, upper, where_sql FROM chunk WHERE schema = ? AND name = ? "
      "ORDER BY chunk_no");
  while (tabs.step()) {
    planned_table pt;
    pt.schema = std::string(tabs.column_text(0));
    pt.name = std::string(tabs.column_text(1));
    pt.bytes = tabs.column_int64(2);
    pt.rows_estimate = tabs.column_int64(3);
    chunks.reset();
    chunks.bind_all(pt.schema, pt.name);
    while (chunks.step()) {
      planned_chunk c;
      c.chunk_no = static_cast<int>(chunks.column_int64(0));
      c.kind = parse_chunk_kind(std::string(chunks.column_text(1))).value_or(chunk_kind::whole);
      c.lower = chunks.column_opt_text(2);
      c.upper = chunks.column_opt_text(3);
      c.where_sql = std::string(chunks.column_text(4));
      pt.chunks.push_back(std::move(c));
    }
    out.push_back(std::move(pt));
  }
  t.commit();
  return out;
} catch (const sqlite::error& e) {
  fail(e);
}

void sqlite_state::mark_chunk_done(std::string_view schema, std::string_view name, int chunk_no,
                                   std::int64_t rows, std::int64_t bytes, double seconds) try {
  std::lock_guard lock(mu);
  transaction t(db, transaction::kind::write);
  db.run(
      "UPDATE chunk SET status = 'done', rows = ?, bytes = ?, seconds = ?, "
      "attempts = attempts + 1, error = NULL WHERE schema = ? AND name = ? AND chunk_no = ?",
      rows, bytes, seconds, schema, name, chunk_no);
  if (db.changes() == 0) {
    throw job_error("state database: chunk " + std::to_string(chunk_no) + " of " +
                    std::string(schema) + "." + std::string(name) + " is not in the saved plan");
  }
  db.run(
      "UPDATE job_table SET (rows_copied, bytes_copied) = (SELECT coalesce(sum(rows), 0), "
      "coalesce(sum(bytes), 0) FROM chunk c WHERE c.schema = job_table.schema "
      "AND c.name = job_table.name AND c.status = 'done') WHERE schema = ? AND name = ?",
      schema, name);
  t.commit();
} catch (const sqlite::error& e) {
  fail(e);
}

void sqlite_state::mark_chunk_failed(std::string_view schema, std::string_view name, int chunk_no,
                                     int attempts, std::string_view error) try {
  std::lock_guard lock(mu);
  db.run(
      "UPDATE chunk SET status = 'failed', attempts = ?, error = ? "
      "WHERE schema = ? AND name = ? AND chunk_no = ?",
      attempts, codecs::redact(error), schema, name, chunk_no);
} catch (const sqlite::error& e) {
  fail(e);
}

std::set<int> sqlite_state::done_chunks(std::string_view schema, std::string_view name) const try {
  std::lock_guard lock(mu);
  auto q =
      db.prepare("SELECT chunk_no FROM chunk WHERE schema = ? AND name = ? AND status = 'done'");
  q.bind_all(schema, name);
  std::set<int> out;
  while (q.step())
    out.insert(static_cast<int>(q.column_int64(0)));
  return out;
} catch (const sqlite::error& e) {
  fail(e);
}

void sqlite_state::set_table_status(std::string_view schema, std::string_view name,
                                    table_status status, std::string_view error) try {
  std::lock_guard lock(mu);
  std::optional<std::string> err;
  if (status == table_status::failed) err = codecs::redact(error);
  db.run("UPDATE job_table SET status = ?, error = ? WHERE schema = ? AND name = ?",
         to_string(status), err, schema, name);
} catch (const sqlite::error& e) {
  fail(e);
}

std::optional<table_status> sqlite_state::get_table_status(std::string_view schema,
                                                           std::string_view name) const try {
  std::lock_guard lock(mu);
  auto q = db.prepare("SELECT status FROM job_table WHERE schema = ? AND name = ?");
  q.bind_all(schema, name);
  if (!q.step()) return std::nullopt;
  const auto text = std::string(q.column_text(0));
  for (int i = 0; i <= static_cast<int>(table_status::failed); ++i) {
    if (to_string(static_cast<table_status>(i)) == text) return static_cast<table_status>(i);
  }
  return std::nullopt;
} catch (const sqlite::error& e) {
  fail(e);
}

void sqlite_state::set_copy_seconds(std::string_view schema, std::string_view name,
                                    double seconds) try {
  std::lock_guard lock(mu);
  db.run("UPDATE job_table SET copy_seconds = ? WHERE schema = ? AND name = ?", seconds, schema,
         name);
} catch (const sqlite::error& e) {
  fail(e);
}

void sqlite_state::set_index_seconds(std::string_view schema, std::string_view name,
                                     double seconds) try {
  std::lock_guard lock(mu);
  db.run("UPDATE job_table SET index_seconds = ? WHERE schema = ? AND name = ?", seconds, schema,
         name);
} catch (const sqlite::error& e) {
  fail(e);
}

void sqlite_state::add_index(std::string_view schema, std::string_view table,
                             std::string_view index, index_kind kind) try {
  std::lock_guard lock(mu);
  db.run(
      "INSERT INTO job_index (schema, table_name, index_name, kind) VALUES (?, ?, ?, ?) "
      "ON CONFLICT DO NOTHING",
      schema, table, index, to_string(kind));
} catch (const sqlite::error& e) {
  fail(e);
}

void sqlite_state::mark_index_done(std::string_view schema, std::string_view table,
                                   std::string_view index, double seconds) try {
  std::lock_guard lock(mu);
  db.run(
      "UPDATE job_index SET status = 'done', seconds = ?, error = NULL "
      "WHERE schema = ? AND table_name = ? AND index_name = ?",
      seconds, schema, table, index);
} catch (const sqlite::error& e) {
  fail(e);
}

void sqlite_state::mark_index_failed(std::string_view schema, std::string_view table,
                                     std::string_view index, std::string_view error) try {
  std::lock_guard lock(mu);
  db.run(
      "UPDATE job_index SET status = 'failed', error = ? "
      "WHERE schema = ? AND table_name = ? AND index_name = ?",
      codecs::redact(error), schema, table, index);
} catch (const sqlite::error& e) {
  fail(e);
}

std::set<std::string> sqlite_state::done_indexes(std::string_view schema,
                                                 std::string_view table) const try {
  std::lock_guard lock(mu);
  auto q = db.prepare(
      "SELECT index_name FROM job_index WHERE schema = ? AND table_name = ? AND status = 'done'");
  q.bind_all(schema, table);
  std::set<std::string> out;
  while (q.step())
    out.insert(std::string(q.column_text(0)));
  return out;
} catch (const sqlite::error& e) {
  fail(e);
}

std::optional<std::string> sqlite_state::get(std::string_view key) const try {
  std::lock_guard lock(mu);
  auto q = db.prepare("SELECT value FROM kv WHERE key = ?");
  q.bind_all(key);
  if (!q.step()) return std::nullopt;
  return std::string(q.column_text(0));
} catch (const sqlite::error& e) {
  fail(e);
}

void sqlite_state::put_many(const std::vector<std::pair<std::string, std::string>>& entries) try {
  std::lock_guard lock(mu);
  transaction t(db, transaction::kind::write);
  for (const auto& [key, value] : entries)
    db.run(
        "INSERT INTO kv (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        key, value);
  t.commit();
} catch (const sqlite::error& e) {
  fail(e);
}

bool sqlite_state::compare_and_put(std::string_view key, std::string_view expected,
                                   std::string_view value) try {
  std::lock_guard lock(mu);
  db.run("UPDATE kv SET value = ? WHERE key = ? AND value = ?", value, key, expected);
  return db.changes() == 1;
} catch (const sqlite::error& e) {
  fail(e);
}

void sqlite_state::erase(std::string_view key) try {
  std::lock_guard lock(mu);
  db.run("DELETE FROM kv WHERE key = ?", key);
} catch (const sqlite::error& e) {
  fail(e);
}

}  // namespace detail

}  // namespace uringmig::engine
