// Internal to the state store: its PostgreSQL implementation (state_pg.cpp, state_pg_read.cpp).
// The state lives in schema `uringmig_state` of any PostgreSQL database, every row keyed by the
// job's name, so that several jobs (and several workers of one job) share one database. Calls
// block their caller as a SQLite call does; the connection itself is awaited on io_uring on a
// context of its own (io::context_thread).
#pragma once

#include "connectors/postgres/connection.hpp"
#include "engine/core/state_backend.hpp"
#include "io/context_thread.hpp"

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace uringmig::engine::detail {

namespace pg = connectors::postgres;

/// The schema's version (its `version` table). A change bumps it; older ones are refused.
inline constexpr int pg_state_version = 3;
inline constexpr const char* pg_state_schema = "uringmig_state";
/// The DDL that brings the schema from version `from` (0: no schema yet) to pg_state_version,
/// in order (state_pg_schema.cpp).
std::vector<const char*> pg_state_ddl(int from);

class pg_state final : public state_backend {
 public:
  pg_state(std::string shown_url, std::string job);
  ~pg_state() override;
  pg_state(const pg_state&) = delete;
  pg_state& operator=(const pg_state&) = delete;

  /// Connects (a usage_error naming the URL when it cannot) and, with `create`, makes the
  /// schema on first use. Returns false (without `create`) when there is no schema.
  bool connect(const std::string& conninfo, bool create);
  /// The jobs recorded in the schema, by name.
  std::vector<std::string> jobs() const;
  void set_job(std::string job) { job_ = std::move(job); }
  /// status_snapshot reads the job's workers too: a store opened to read (open_existing:
  /// `status`, the HTTP API, `top`); the job's own store skips that scan of every chunk (its
  /// workers poll the status while they wait).
  void with_workers(bool on) { with_workers_ = on; }

  std::string where() const override;
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
  job_status status_snapshot() const override;  // state_pg_read.cpp
  std::optional<chunk_claim> claim_chunk(std::string_view worker, std::chrono::milliseconds lease,
                                         const std::optional<table_key>& only) override;
  int renew_leases(std::string_view worker, std::chrono::milliseconds lease) override;
  void release_chunk(const chunk_claim& c, std::string_view worker) override;
  bool try_lock(std::string_view what) override;  // state_pg_lease.cpp, as the four below
  void unlock(std::string_view what) override;
  bool run_alive(std::int64_t run_id) const override;
  std::int64_t chunks_pending(const std::optional<table_key>& only) const override;
  int reopen_chunks() override;

  /// One statement (its own transaction); a failure is a job_error naming the state database.
  pg::result query(std::string sql, pg::params p) const;
  /// Statements in one transaction; all results, or a job_error for the first that failed.
  std::vector<pg::result> batch(std::vector<pg::statement> b) const;
  const std::string& job() const { return job_; }

 private:
  [[noreturn]] void fail(const pg::diagnostics& d) const;
  /// Brings the schema from version `from` up to pg_state_version (one transaction).
  void migrate(int from);

  mutable io::context_thread ctx_;  // declared first: ends last
  mutable std::mutex mu_;           // one call at a time on the connection
  mutable pg::connection conn_;     // lives on ctx_
  std::string shown_;               // the URL without secrets
  std::string job_;
  bool worker_run_ = false;  // begin_run took the job's lock shared (a worker of several)
  std::int64_t run_id_ = 0;  // begin_run's: claims and renewals record their worker on it
  bool with_workers_ = false;
};

/// The advisory lock classes of the schema's sessions ("urmh", "urmi", "urmj" in ASCII): a run
/// (its id), the job (its name: exclusive for a lone process, shared by workers), a named lock
/// of a job (try_lock).
inline constexpr const char* run_lock_class = "1970433384";
inline constexpr const char* job_lock_class = "1970433385";
inline constexpr const char* named_lock_class = "1970433386";

/// SQL: whether the run whose id is the bigint expression `id` holds its lock (is alive).
std::string run_alive_sql(const std::string& id);

/// The PostgreSQL state at `url` (a postgresql:// URL) for `job`. Without `create`: nullptr
/// when the schema or the job is not there; an empty `job` takes the only job there is.
std::unique_ptr<state_backend> open_pg_state(const std::string& url, const std::string& job,
                                             bool create);

}  // namespace uringmig::engine::detail
