#include "connectors/sqlite/database.hpp"

#include <fmt/format.h>

namespace uringmig::connectors::sqlite {

error::error(std::string what, int code, int extended_code)
    : std::runtime_error(std::move(what)), code_(code), extended_(extended_code) {}

bool error::disk_full() const noexcept {
  return code_ == SQLITE_FULL || extended_ == SQLITE_IOERR_WRITE ||
         extended_ == SQLITE_IOERR_FSYNC || extended_ == SQLITE_IOERR_TRUNCATE;
}

statement& statement::operator=(statement&& o) noexcept {
  if (this != &o) {
    if (s_) sqlite3_finalize(s_);
    s_ = std::exchange(o.s_, nullptr);
  }
  return *this;
}

statement::~statement() {
  if (s_) sqlite3_finalize(s_);
}

void statement::bind_text(int i, std::string_view v, bool copy) {
  check_bind(sqlite3_bind_text64(s_, i, v.data(), v.size(), copy ? SQLITE_TRANSIENT : SQLITE_STATIC,
                                 SQLITE_UTF8));
}

void statement::bind_blob(int i, std::string_view v, bool copy) {
  check_bind(
      sqlite3_bind_blob64(s_, i, v.data(), v.size(), copy ? SQLITE_TRANSIENT : SQLITE_STATIC));
}

bool statement::step() {
  const int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  fail(rc, "running a statement");
}

void statement::run() {
  while (step()) {
  }
  reset();
}

std::string_view statement::column_text(int i) const noexcept {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, i));
  const int n = sqlite3_column_bytes(s_, i);
  return p ? std::string_view(p, static_cast<std::size_t>(n)) : std::string_view();
}

std::optional<std::string> statement::column_opt_text(int i) const {
  if (sqlite3_column_type(s_, i) == SQLITE_NULL) return std::nullopt;
  return std::string(column_text(i));
}

std::string_view statement::column_blob(int i) const noexcept {
  const auto* p = static_cast<const char*>(sqlite3_column_blob(s_, i));
  const int n = sqlite3_column_bytes(s_, i);
  return p ? std::string_view(p, static_cast<std::size_t>(n)) : std::string_view();
}

codecs::value_view statement::column_value(int i, int type) const noexcept {
  codecs::value_view v;
  switch (type) {
    case SQLITE_INTEGER:
      v.kind = codecs::value_kind::integer;
      v.i = column_int64(i);
      break;
    case SQLITE_FLOAT:
      v.kind = codecs::value_kind::real;
      v.r = column_double(i);
      break;
    case SQLITE_TEXT:
      v.kind = codecs::value_kind::text;
      v.bytes = column_text(i);
      break;
    case SQLITE_BLOB:
      v.kind = codecs::value_kind::blob;
      v.bytes = column_blob(i);
      break;
    default:
      break;
  }
  return v;
}

void statement::check_bind(int rc) const {
  if (rc != SQLITE_OK) fail(rc, "binding a parameter");
}

void statement::fail(int rc, const char* doing) const {
  // sqlite3_step's rc is the primary code; the extended one lives on the connection.
  sqlite3* db = sqlite3_db_handle(s_);
  const int ext = sqlite3_extended_errcode(db);
  sqlite3_reset(s_);
  const char* file = sqlite3_db_filename(db, "main");
  throw error(fmt::format("{}: {} ({})", doing, sqlite3_errmsg(db), file ? file : ""), rc & 0xff,
              ext);
}

database database::open(const std::filesystem::path& path, open_mode mode) {
  if (mode == open_mode::inspect) {
    // SQLite opens a write-protected file read-only by itself.
    database db = open_with(path, SQLITE_OPEN_READWRITE);
    db.exec("pragma query_only = 1");
    return db;
  }
  return open_with(path, mode == open_mode::read_only ? SQLITE_OPEN_READONLY
                                                      : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
}

database database::open_with(const std::filesystem::path& path, int open_flags) {
  sqlite3* db = nullptr;
  const int flags = open_flags | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    const int ext = db ? sqlite3_extended_errcode(db) : rc;
    sqlite3_close_v2(db);
    throw error(fmt::format("cannot open {}: {}", path.string(), msg), rc & 0xff, ext);
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, 10000);
  return database(db, path);
}

database& database::operator=(database&& o) noexcept {
  if (this != &o) {
    if (db_) sqlite3_close_v2(db_);
    db_ = std::exchange(o.db_, nullptr);
    path_ = std::move(o.path_);
  }
  return *this;
}

database::~database() {
  if (db_) sqlite3_close_v2(db_);
}

void database::check_readable() {
  (void)scalar_int("select count(*) from sqlite_schema");
}

void database::exec(std::string_view sql) {
  const std::string text(sql);
  char* err = nullptr;
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    const std::string head = text.substr(0, text.find_first_of("(\n"));
    throw error(fmt::format("{}: {} ({})", head, msg, path_.string()), rc & 0xff,
                sqlite3_extended_errcode(db_));
  }
}

statement database::prepare(std::string_view sql) const {
  sqlite3_stmt* s = nullptr;
  const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &s, nullptr);
  if (rc != SQLITE_OK) {
    throw error(message("preparing a statement", rc), rc & 0xff, sqlite3_extended_errcode(db_));
  }
  return statement(s);
}

std::int64_t database::scalar_int(std::string_view sql) const {
  statement s = prepare(sql);
  return s.step() ? s.column_int64(0) : 0;
}

std::string database::scalar_text(std::string_view sql) const {
  statement s = prepare(sql);
  return s.step() ? std::string(s.column_text(0)) : std::string();
}

std::string database::message(const char* doing, int rc) const {
  const char* msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  return fmt::format("{}: {} ({})", doing, msg, path_.string());
}

bool configure_process() noexcept {
  const bool a = sqlite3_config(SQLITE_CONFIG_MULTITHREAD) == SQLITE_OK;
  const bool b = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK;
  return a && b;
}

std::string quote_ident(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace uringmig::connectors::sqlite
