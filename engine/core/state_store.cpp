// The state store's face: which implementation a location opens, the state directory's
// permissions, and the calls every caller makes (forwarded to core/state_backend.hpp).
#include "engine/core/state_store.hpp"

#include "codecs/url.hpp"
#include "engine/core/config_keys.hpp"
#include "engine/core/job.hpp"
#include "engine/core/state_backend.hpp"
#include "engine/core/state_db.hpp"
#include "engine/core/state_pg.hpp"
#include "io/blocking.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>
#include <utility>

namespace uringmig::engine {

namespace fs = std::filesystem;

std::string_view to_string(chunk_kind kind) noexcept {
  switch (kind) {
    case chunk_kind::whole:
      return "whole";
    case chunk_kind::int_range:
      return "int_range";
    case chunk_kind::ctid_range:
      return "ctid_range";
    case chunk_kind::explicit_range:
      return "explicit";
  }
  return "whole";
}

std::optional<chunk_kind> parse_chunk_kind(std::string_view text) noexcept {
  for (auto k : {chunk_kind::whole, chunk_kind::int_range, chunk_kind::ctid_range,
                 chunk_kind::explicit_range}) {
    if (to_string(k) == text) return k;
  }
  return std::nullopt;
}

std::string_view to_string(run_status s) noexcept {
  constexpr std::array<std::string_view, 4> names{"running", "done", "failed", "interrupted"};
  return names.at(static_cast<std::size_t>(s));
}
std::string_view to_string(table_status s) noexcept {
  constexpr std::array<std::string_view, 6> names{"pending",  "copying", "copied",
                                                  "indexing", "done",    "failed"};
  return names.at(static_cast<std::size_t>(s));
}
std::string_view to_string(chunk_status s) noexcept {
  constexpr std::array<std::string_view, 3> names{"pending", "done", "failed"};
  return names.at(static_cast<std::size_t>(s));
}
std::string_view to_string(index_kind k) noexcept {
  constexpr std::array<std::string_view, 3> names{"index", "primary_key", "unique_constraint"};
  return names.at(static_cast<std::size_t>(k));
}
std::string_view to_string(index_status s) noexcept {
  constexpr std::array<std::string_view, 3> names{"pending", "done", "failed"};
  return names.at(static_cast<std::size_t>(s));
}

state_store::state_store(std::unique_ptr<detail::state_backend> p)
    : impl_(std::move(p)), writer_(std::make_unique<io::serial_worker>()) {}
state_store::state_store(state_store&&) noexcept = default;
state_store& state_store::operator=(state_store&&) noexcept = default;
state_store::~state_store() = default;

void ensure_private_dir(const fs::path& dir) {
  const auto shown = "state directory '" + dir.string() + "'";
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    std::error_code ec;
    if (errno == ENOENT) {
      if (dir.has_parent_path()) fs::create_directories(dir.parent_path(), ec);
      if (!ec && ::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
        ec = std::error_code(errno, std::generic_category());
      if (!ec) return ensure_private_dir(dir);  // created now, or by a racing job: check it
    } else {
      ec = std::error_code(errno, std::generic_category());
    }
    throw job_error("cannot create " + shown + ": " + ec.message() +
                    " (pass --state-dir with a writable directory)");
  }
  if (!S_ISDIR(st.st_mode)) {
    throw usage_error(shown + " is not a directory (pass --state-dir with a directory)");
  }
  if (st.st_uid != ::geteuid()) {
    throw usage_error(shown + " belongs to another user (uid " + std::to_string(st.st_uid) +
                      "); pass a --state-dir of your own");
  }
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    throw usage_error(shown + " is writable by other users (mode " + mode + "): run chmod 700 '" +
                      dir.string() + "' or pass another --state-dir");
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) == 0) return;
  // Ours, readable by others (made by an older uringmig, or by hand): it holds a schema dump,
  // logs and the job's settings.
  if (::chmod(dir.c_str(), 0700) != 0) {
    throw job_error("cannot make " + shown + " private: " + std::strerror(errno));
  }
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    struct stat fst {};
    if (::lstat(entry.path().c_str(), &fst) == 0 && S_ISREG(fst.st_mode) &&
        fst.st_uid == ::geteuid() && (fst.st_mode & 077) != 0) {
      static_cast<void>(::chmod(entry.path().c_str(), fst.st_mode & 0700));
    }
  }
  spdlog::warn("{} was readable by other users (mode {}): made it and its files private", shown,
               mode);
}

state_store state_store::open(const fs::path& dir) {
  state_store s(detail::open_sqlite(dir));
  // We hold the lock: a pause mark here was left by a process that was killed while paused.
  if (s.get(http_paused_mark)) {
    spdlog::info("the previous run was killed while paused; this run is not paused");
    s.erase(http_paused_mark);
  }
  return s;
}

std::optional<state_store> state_store::open_existing(const fs::path& dir) {
  auto p = detail::open_sqlite_existing(dir, true);
  if (!p) return std::nullopt;
  return state_store(std::move(p));
}

std::optional<state_store> state_store::open_shared(const fs::path& dir) {
  auto p = detail::open_sqlite_existing(dir, false);
  if (!p) return std::nullopt;
  return state_store(std::move(p));
}

bool state_store::in_use(const fs::path& dir) {
  return detail::sqlite_in_use(dir);
}

state_store state_store::open(const state_location& at) {
  if (at.url.empty()) return open(at.dir);
  return state_store(detail::open_pg_state(at.url, at.job, true, at.reconnect_s));
}

std::optional<state_store> state_store::open_existing(const state_location& at) {
  if (at.url.empty()) return open_existing(at.dir);
  auto p = detail::open_pg_state(at.url, at.job, false, at.reconnect_s);
  if (!p) return std::nullopt;
  return state_store(std::move(p));
}

state_location state_location_of(const job_options& o) {
  state_location at;
  at.dir = o.state_dir;
  if (auto it = o.settings.find("state.url"); it != o.settings.end()) at.url = it->second;
  if (at.url == "target") at.url = o.target_url;
  if (auto it = o.settings.find("state.job"); it != o.settings.end()) at.job = it->second;
  if (o.settings.count("state.reconnect_s") != 0)
    at.reconnect_s = static_cast<int>(integer_setting(o.settings, "state.reconnect_s"));
  if (at.job.empty() && !(o.source_url.empty() && o.target_url.empty())) {
    std::string tables, exclude;
    for (const auto& t : o.tables)
      tables += t + ",";
    for (const auto& t : o.exclude)
      exclude += t + ",";
    // Redacted: a password changed between two workers' URLs is the same job.
    at.job = "job-" + fingerprint({codecs::redact(o.source_url), codecs::redact(o.target_url),
                                   tables, exclude});
  }
  return at;
}

std::string state_store::where() const {
  return impl_->where();
}

void state_store::reset() {
  impl_->reset();
}
std::int64_t state_store::begin_run(const run_start& r) {
  return impl_->begin_run(r);
}
void state_store::set_run_snapshot(std::int64_t run_id, std::string_view snapshot) {
  impl_->set_run_snapshot(run_id, snapshot);
}
void state_store::end_run(std::int64_t run_id, run_status status, std::string_view message) {
  impl_->end_run(run_id, status, message);
}
void state_store::save_plan(const std::vector<planned_table>& plan) {
  impl_->save_plan(plan);
}
bool state_store::has_plan() const {
  return impl_->has_plan();
}
std::vector<planned_table> state_store::load_plan() const {
  return impl_->load_plan();
}
void state_store::mark_chunk_done(std::string_view schema, std::string_view name, int chunk_no,
                                  std::int64_t rows, std::int64_t bytes, double seconds) {
  impl_->mark_chunk_done(schema, name, chunk_no, rows, bytes, seconds);
}
void state_store::mark_chunk_failed(std::string_view schema, std::string_view name, int chunk_no,
                                    int attempts, std::string_view error) {
  impl_->mark_chunk_failed(schema, name, chunk_no, attempts, error);
}
std::set<int> state_store::done_chunks(std::string_view schema, std::string_view name) const {
  return impl_->done_chunks(schema, name);
}
void state_store::set_table_status(std::string_view schema, std::string_view name,
                                   table_status status, std::string_view error) {
  impl_->set_table_status(schema, name, status, error);
}
std::optional<table_status> state_store::get_table_status(std::string_view schema,
                                                          std::string_view name) const {
  return impl_->get_table_status(schema, name);
}
void state_store::set_copy_seconds(std::string_view schema, std::string_view name, double seconds) {
  impl_->set_copy_seconds(schema, name, seconds);
}
void state_store::set_index_seconds(std::string_view schema, std::string_view name,
                                    double seconds) {
  impl_->set_index_seconds(schema, name, seconds);
}
void state_store::add_index(std::string_view schema, std::string_view table, std::string_view index,
                            index_kind kind) {
  impl_->add_index(schema, table, index, kind);
}
void state_store::mark_index_done(std::string_view schema, std::string_view table,
                                  std::string_view index, double seconds) {
  impl_->mark_index_done(schema, table, index, seconds);
}
void state_store::mark_index_failed(std::string_view schema, std::string_view table,
                                    std::string_view index, std::string_view error) {
  impl_->mark_index_failed(schema, table, index, error);
}
std::set<std::string> state_store::done_indexes(std::string_view schema,
                                                std::string_view table) const {
  return impl_->done_indexes(schema, table);
}
std::optional<std::string> state_store::get(std::string_view key) const {
  return impl_->get(key);
}
void state_store::put(std::string_view key, std::string_view value) {
  impl_->put_many({{std::string(key), std::string(value)}});
}
void state_store::put_many(const std::vector<std::pair<std::string, std::string>>& entries) {
  impl_->put_many(entries);
}
void state_store::erase(std::string_view key) {
  impl_->erase(key);
}
bool state_store::compare_and_put(std::string_view key, std::string_view expected,
                                  std::string_view value) {
  return impl_->compare_and_put(key, expected, value);
}
job_status state_store::status_snapshot() const {
  return impl_->status_snapshot();
}

std::optional<chunk_claim> state_store::claim_chunk(std::string_view worker,
                                                    std::chrono::milliseconds lease,
                                                    const std::optional<table_key>& only) {
  return impl_->claim_chunk(worker, lease, only);
}
int state_store::renew_leases(std::string_view worker, std::chrono::milliseconds lease) {
  return impl_->renew_leases(worker, lease);
}
void state_store::release_chunk(const chunk_claim& c, std::string_view worker) {
  impl_->release_chunk(c, worker);
}

bool state_store::try_lock(std::string_view what) {
  return impl_->try_lock(what);
}
void state_store::unlock(std::string_view what) {
  impl_->unlock(what);
}
bool state_store::run_alive(std::int64_t run_id, bool through_restart) const {
  return impl_->run_alive(run_id, through_restart);
}
std::int64_t state_store::chunks_pending(const std::optional<table_key>& only) const {
  return impl_->chunks_pending(only);
}
int state_store::reopen_chunks() {
  return impl_->reopen_chunks();
}

namespace detail {

namespace {
[[noreturn]] void no_leases() {
  throw usage_error(
      "several workers on one job need a shared state: pass --state-url (a PostgreSQL database "
      "every worker reaches)");
}
}  // namespace

std::optional<chunk_claim> state_backend::claim_chunk(std::string_view, std::chrono::milliseconds,
                                                      const std::optional<table_key>&) {
  no_leases();
}
int state_backend::renew_leases(std::string_view, std::chrono::milliseconds) {
  no_leases();
}
void state_backend::release_chunk(const chunk_claim&, std::string_view) {
  no_leases();
}
bool state_backend::try_lock(std::string_view) {
  no_leases();
}
void state_backend::unlock(std::string_view) {
  no_leases();
}
bool state_backend::run_alive(std::int64_t, bool) const {
  no_leases();
}
std::int64_t state_backend::chunks_pending(const std::optional<table_key>&) const {
  no_leases();
}
int state_backend::reopen_chunks() {
  no_leases();
}

}  // namespace detail

boost::asio::awaitable<void> state_store::write_off_context(std::function<void()> fn) {
  co_await writer_->run(std::move(fn));
}

}  // namespace uringmig::engine
