// Internal to the state store: its PostgreSQL implementation (state_pg.cpp, state_pg_read.cpp).
// The state lives in schema `uringmig_state` of any PostgreSQL database, every row keyed by the
// job's name, so that several jobs (and several workers of one job) share one database. Calls
// block their caller as a SQLite call does; the connection itself is awaited on io_uring on a
// context of its own (io::context_thread).
#pragma once

#include "connectors/postgres/connection.hpp"
#include "engine/core/state_backend.hpp"
#include "io/context_thread.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace uringmig::engine::detail {

namespace pg = connectors::postgres;

/// How long a lost connection to the state is tried again, unless state.reconnect_s says.
inline constexpr int default_reconnect_s = 60;

/// The schema's version (its `version` table). A change bumps it; older ones are refused.
inline constexpr int pg_state_version = 3;
inline constexpr const char* pg_state_schema = "uringmig_state";
/// The DDL that brings the schema from version `from` (0: no schema yet) to pg_state_version,
/// in order (state_pg_schema.cpp).
std::vector<const char*> pg_state_ddl(int from);

class pg_state final : public state_backend {
 public:
  /// `reconnect_s`: how long a lost connection is tried again before a call fails.
  pg_state(std::string shown_url, std::string job, int reconnect_s = default_reconnect_s);
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
  bool run_alive(std::int64_t run_id, bool through_restart) const override;
  std::int64_t chunks_pending(const std::optional<table_key>& only) const override;
  int reopen_chunks() override;

  /// One statement (its own transaction); a failure is a job_error naming the state database.
  /// A lost connection (a restart of the state's server, a network cut) is made again for up
  /// to reconnect_s seconds, with the session's advisory locks, and the statement sent again:
  /// every statement of the store may run twice (a claim whose answer was lost leaves a lease
  /// that runs out).
  pg::result query(std::string sql, pg::params p) const;
  /// Statements in one transaction; all results, or a job_error for the first that failed.
  /// A lost connection as for query: the whole transaction again.
  std::vector<pg::result> batch(std::vector<pg::statement> b) const;
  const std::string& job() const { return job_; }

 private:
  /// A server session of the state's connection.
  struct session {
    int pid = 0;          // its server process
    std::string started;  // backend_start: with pid, names the session
  };
  [[noreturn]] void fail(const pg::diagnostics& d) const;
  /// After a lost connection (`why`): connects again and takes back the session's advisory
  /// locks, trying for up to reconnect_s_ seconds; a job_error when it cannot, or when another
  /// process took one of the locks meanwhile. Called with mu_ held.
  void recover(const pg::diagnostics& why) const;
  /// Before a call: recover's last word if it gave up, or a closed connection made again.
  void ensure_connection() const;
  /// Takes back the locks this session held (state_pg_lease.cpp); the name of the first one
  /// another session holds now, or empty. A lock still held by this process's lost session
  /// (the server has not noticed a cut connection yet) is freed by ending that session.
  std::string relock(const session& lost) const;
  /// Records the connection's server session in session_.
  void note_session() const;
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
  std::string conninfo_;     // connect's, for recover
  mutable session session_;  // the connection's (a lost one may linger: relock ends it)
  int reconnect_s_ = default_reconnect_s;
  mutable std::string given_up_;            // recover's last word: every later call fails with it
  bool job_locked_ = false;                 // begin_run's job lock (shared for a worker)
  bool run_locked_ = false;                 // begin_run's lock on its run id
  std::map<std::string, int> named_locks_;  // try_lock's names held (advisory locks stack)
};

/// The advisory lock classes of the schema's sessions ("urmh", "urmi", "urmj" in ASCII): a run
/// (its id), the job (its name: exclusive for a lone process, shared by workers), a named lock
/// of a job (try_lock).
inline constexpr const char* run_lock_class = "1970433384";
inline constexpr const char* job_lock_class = "1970433385";
inline constexpr const char* named_lock_class = "1970433386";

/// SQL: whether the run whose id is the bigint expression `id` is alive: it holds its lock, or
/// (grace_s > 0) the state's server restarted less than grace_s seconds ago while the run was
/// running (a restart ends every session: a live worker takes its locks back when it connects
/// again).
std::string run_alive_sql(const std::string& id, int grace_s = 0);

/// The state connection's calls, awaited on its context (state_pg_conn.cpp).
boost::asio::awaitable<pg::connection> connect_on(boost::asio::any_io_executor ex,
                                                  std::string conninfo);
boost::asio::awaitable<pg::result> query_on(pg::connection& c, std::string sql, pg::params p);
boost::asio::awaitable<std::vector<pg::result>> batch_on(pg::connection& c,
                                                         std::vector<pg::statement> b);
boost::asio::awaitable<void> close_on(pg::connection c);
pg::statement make_stmt(std::string sql, pg::params p);
/// SQL: `fn` (pg_try_advisory_lock, pg_advisory_unlock) on a job's named lock ($1 job, $2 name).
std::string named_lock_sql(const char* fn);

/// The PostgreSQL state at `url` (a postgresql:// URL) for `job`. Without `create`: nullptr
/// when the schema or the job is not there; an empty `job` takes the only job there is.
std::unique_ptr<state_backend> open_pg_state(const std::string& url, const std::string& job,
                                             bool create, int reconnect_s = default_reconnect_s);

}  // namespace uringmig::engine::detail
