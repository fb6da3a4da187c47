#pragma once

#include "engine/core/job.hpp"
#include "engine/core/plan_types.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// The durable state of a job: the run attempts, the plan (tables and chunks), which chunks and
// indexes are done, and phase marks (`kv`). Resume reads it back; `uringmig status` reads it
// offline, also while a job runs. One interface (core/state_backend.hpp), two implementations:
// - embedded (default): `<state-dir>/state.db`, a SQLite database in WAL mode, one job per
//   directory; versioned with PRAGMA user_version (core/state_sqlite.cpp);
// - shared: schema `uringmig_state` in a PostgreSQL database (`--state-url`), where many jobs
//   live side by side, each under its name (core/state_pg.cpp); versioned by its `version` table.

namespace uringmig::io {
class serial_worker;
}  // namespace uringmig::io

namespace uringmig::engine {

namespace detail {
class state_backend;  // core/state_backend.hpp
}  // namespace detail

enum class run_status { running, done, failed, interrupted };
enum class table_status { pending, copying, copied, indexing, done, failed };
enum class chunk_status { pending, done, failed };
enum class index_kind { index, primary_key, unique_constraint };
enum class index_status { pending, done, failed };

std::string_view to_string(run_status s) noexcept;
std::string_view to_string(table_status s) noexcept;
std::string_view to_string(chunk_status s) noexcept;
std::string_view to_string(index_kind k) noexcept;
std::string_view to_string(index_status s) noexcept;

/// What begin_run records about a run attempt. URLs must already be redacted
/// (codecs::redacted_url); they are passed through codecs::redact again anyway.
struct run_start {
  std::string command;  // run | follow | ...
  std::string preset;
  std::string source_redacted;
  std::string target_redacted;
  std::optional<std::string> snapshot;  // the exported snapshot, when known
  /// A shared state only: one of several workers of the job (--state-url). Workers share
  /// the job; a process that runs it alone (every other command) excludes them and they it.
  bool worker = false;
};

struct run_row {
  std::int64_t id = 0;
  std::string started_at;  // ISO 8601 UTC, "2024-05-01T12:00:00.123Z"
  std::optional<std::string> finished_at;
  double seconds = 0;  // finished_at (or now, while running) - started_at
  std::string command;
  std::string preset;
  std::string source_redacted;
  std::string target_redacted;
  std::optional<std::string> snapshot;
  std::string status;  // running | done | failed | interrupted
  std::string message;
};

struct table_row {
  std::string schema;
  std::string name;
  std::int64_t bytes = 0;
  std::int64_t rows_estimate = 0;
  int chunks_total = 0;
  int chunks_done = 0;
  int chunks_failed = 0;
  std::string status;             // pending | copying | copied | indexing | done | failed
  std::int64_t rows_copied = 0;   // sum over done chunks
  std::int64_t bytes_copied = 0;  // sum over done chunks
  double copy_seconds = 0;
  double index_seconds = 0;
  int indexes_total = 0;
  int indexes_done = 0;
  int indexes_failed = 0;
  std::string error;
};

struct index_row {
  std::string schema;
  std::string table_name;
  std::string index_name;
  std::string kind;    // index | primary_key | unique_constraint
  std::string status;  // pending | done | failed
  double seconds = 0;
  std::string error;
};

struct failed_chunk {
  std::string schema;
  std::string name;
  int chunk_no = 0;
  int attempts = 0;
  std::string error;
};

/// A chunk a worker holds under a lease now (a shared state).
struct worker_lease {
  std::string schema;
  std::string name;
  int chunk_no = 0;
  std::string lease_until;  // ISO 8601 UTC
  bool expired = false;     // ran out: the next claim by any worker takes the chunk again
};

/// One process of a job on a shared state that takes chunks by lease (a worker of bulk
/// --state-url), from its run row, its run's lock, and the chunks it did and holds.
struct worker_row {
  std::string name;  // as the worker calls itself: "r<run id>@<host>:<pid>[ #<--worker>]"
  std::int64_t run_id = 0;
  std::string host;
  std::int64_t pid = 0;
  bool alive = false;  // its process holds its run's lock
  /// alive | dead (ended without recording an outcome: killed) | the outcome it recorded
  std::string state;
  std::string started_at;                     // ISO 8601 UTC
  std::optional<std::string> last_heartbeat;  // its last claim or lease renewal
  int chunks_done = 0;                        // chunks of the current plan it did
  std::int64_t rows = 0;
  std::int64_t bytes = 0;
  /// Its run's length: to its end, to its last sign of life when dead, else to now.
  double seconds = 0;
  std::vector<worker_lease> leases;  // plan order
};

/// Everything `uringmig status` prints, read in one transaction.
struct job_status {
  std::optional<run_row> last_run;
  int run_count = 0;
  std::vector<table_row> tables;  // plan order
  std::vector<index_row> indexes;
  std::vector<failed_chunk> failed_chunks;
  std::map<std::string, std::string> kv;
  /// A shared (PostgreSQL) state only: its database and job, as `status` shows them, and the
  /// runs of the job whose process is alive (they hold their run's lock).
  std::string location;
  int live_runs = 0;
  /// A shared state opened to read (open_existing: status, HTTP, top) only: the job's workers
  /// (live ones, and those that did chunks of the current plan or hold leases), by run id.
  std::vector<worker_row> workers;
};

/// A chunk one worker holds under a lease (a shared state: --state-url).
struct chunk_claim {
  std::string schema;
  std::string name;
  int chunk_no = 0;
  bool reclaimed = false;  // an earlier lease on it ran out (its worker died or stalled)
};

/// One table of the plan: narrows a claim to it (a path that loads one table at a time).
struct table_key {
  std::string schema;
  std::string name;
};

/// Makes `dir` (a state directory) private before anything is written in it: creates it 0700
/// when missing; an existing one of ours that others can read is tightened to 0700 and its
/// files to 0600 (logged). Throws usage_error when it belongs to another user or others can
/// write to it (they could swap its files), job_error when it cannot be created.
void ensure_private_dir(const std::filesystem::path& dir);

/// The kv mark a job sets while it is paused over HTTP (`uringmig status`, `top --state-dir`).
/// It means something only while the process that set it lives: open() drops one left by a
/// process that died, and `status` does not show it when no job is live.
inline constexpr std::string_view http_paused_mark = "http.paused";

/// Where a job keeps its state.
struct state_location {
  /// SQLite: `<dir>/state.db`. Also where the log, stats.csv and the schema dump go (always).
  std::filesystem::path dir;
  /// Not empty: a PostgreSQL URL; the state lives in its schema `uringmig_state`.
  std::string url;
  /// The job's name in a shared state database; empty (status only): the one job there is.
  std::string job;
  /// A shared state database: how long a lost connection to it is tried again (state.reconnect_s).
  int reconnect_s = 60;  // as detail::default_reconnect_s
};

/// The state of `o`: `state.url` (`--state-url`; "target" is the --target URL) or the
/// state directory; `state.job` (`--job`), else a name made from the job definition (source,
/// target, table selection), so two jobs on one state database never share chunks.
state_location state_location_of(const job_options& o);

/// Handle to a job's state (`<dir>/state.db`, or a job in a PostgreSQL state schema). Every member
/// is thread-safe (one mutex; each call is a short statement or transaction). Movable; closing
/// happens in the destructor.
class state_store {
 public:
  /// Opens (creating `dir` and the database when missing) for a job that writes its progress.
  /// Takes an exclusive lock (`<dir>/state.lock`) for the store's lifetime so two jobs never
  /// share a state directory; drops marks of a process that died (http_paused_mark). Throws
  /// job_error with one line when the directory is not writable, the file is not a state
  /// database, or another job holds the lock.
  static state_store open(const std::filesystem::path& dir);

  /// Opens an existing `<dir>/state.db` read-only (no lock; works while a job runs); nullopt
  /// when there is none. Throws job_error when the file is not a state database.
  static std::optional<state_store> open_existing(const std::filesystem::path& dir);

  /// Opens an existing `<dir>/state.db` for writing without taking the lock: for a command that
  /// talks to the job holding it through kv marks (`switchover` and the follower). nullopt
  /// when there is none.
  static std::optional<state_store> open_shared(const std::filesystem::path& dir);

  /// Whether a job currently holds `<dir>`'s lock (i.e. a run is live).
  static bool in_use(const std::filesystem::path& dir);

  /// `at.url` empty: open(at.dir). Else the job `at.job` in schema `uringmig_state` of `at.url`,
  /// created on first use. Throws usage_error with one line when the server cannot be reached
  /// or the user may not create the schema; job_error for a newer schema version.
  static state_store open(const state_location& at);
  /// As open_existing(at.dir), or the job in a PostgreSQL state (nullopt: no schema or no such
  /// job; an empty `at.job` takes the only job there is, and is a usage_error naming them when
  /// there are several).
  static std::optional<state_store> open_existing(const state_location& at);

  state_store(state_store&&) noexcept;
  state_store& operator=(state_store&&) noexcept;
  ~state_store();

  /// --restart: drops every run, plan, chunk, index and kv entry.
  void reset();

  /// Records a new run attempt as running; any earlier run still marked running (a process
  /// that died) becomes interrupted. Returns the run's id.
  std::int64_t begin_run(const run_start& r);
  void set_run_snapshot(std::int64_t run_id, std::string_view snapshot);
  void end_run(std::int64_t run_id, run_status status, std::string_view message);

  /// Replaces the plan and all progress recorded against the previous one (tables, chunks,
  /// indexes; not runs or kv). Tables keep the order given.
  void save_plan(const std::vector<planned_table>& plan);
  bool has_plan() const;
  std::vector<planned_table> load_plan() const;

  void mark_chunk_done(std::string_view schema, std::string_view name, int chunk_no,
                       std::int64_t rows, std::int64_t bytes, double seconds);
  void mark_chunk_failed(std::string_view schema, std::string_view name, int chunk_no, int attempts,
                         std::string_view error);
  std::set<int> done_chunks(std::string_view schema, std::string_view name) const;

  /// `error` is kept for failed, cleared otherwise.
  void set_table_status(std::string_view schema, std::string_view name, table_status status,
                        std::string_view error = {});
  std::optional<table_status> get_table_status(std::string_view schema,
                                               std::string_view name) const;
  /// Wall time of the table's data copy (first chunk started to last chunk done).
  void set_copy_seconds(std::string_view schema, std::string_view name, double seconds);
  /// Wall time of the table's index builds (and ANALYZE).
  void set_index_seconds(std::string_view schema, std::string_view name, double seconds);

  /// Registers an index to build; an existing row (and its status) is kept.
  void add_index(std::string_view schema, std::string_view table, std::string_view index,
                 index_kind kind);
  void mark_index_done(std::string_view schema, std::string_view table, std::string_view index,
                       double seconds);
  void mark_index_failed(std::string_view schema, std::string_view table, std::string_view index,
                         std::string_view error);
  std::set<std::string> done_indexes(std::string_view schema, std::string_view table) const;

  std::optional<std::string> get(std::string_view key) const;
  void put(std::string_view key, std::string_view value);
  /// Several keys in one transaction.
  void put_many(const std::vector<std::pair<std::string, std::string>>& entries);
  void erase(std::string_view key);
  /// Sets `key` to `value` only while it holds `expected`, atomically also against other
  /// processes; whether it did.
  bool compare_and_put(std::string_view key, std::string_view expected, std::string_view value);

  job_status status_snapshot() const;

  /// Chunk leases: a shared state (--state-url) only; the embedded store has one process and
  /// throws usage_error. claim_chunk takes the first chunk in plan order that is pending and
  /// held by no live lease (SELECT ... FOR UPDATE SKIP LOCKED: claimers never wait on each
  /// other) and leases it to `worker` for `lease`; nullopt when none is left to take.
  /// `only`: a chunk of that table.
  std::optional<chunk_claim> claim_chunk(std::string_view worker, std::chrono::milliseconds lease,
                                         const std::optional<table_key>& only = std::nullopt);
  /// The heartbeat: extends every lease `worker` holds on a pending chunk; how many.
  int renew_leases(std::string_view worker, std::chrono::milliseconds lease);
  /// Gives a claimed chunk back undone (a stop): another worker may take it at once.
  void release_chunk(const chunk_claim& c, std::string_view worker);

  /// A named lock of the job (a shared state only), held by this store's session until unlock()
  /// or the process ends (kill -9 included): whether it was free and is now held.
  bool try_lock(std::string_view what);
  void unlock(std::string_view what);
  /// Whether run `run_id`'s process is alive (it holds its run's lock). `through_restart`:
  /// also a run that was running when the state's server restarted, for state.reconnect_s
  /// (its locks ended with the restart; a live worker takes them back when it reconnects) —
  /// for a worker watching its coordinator, not for one choosing a coordinator.
  bool run_alive(std::int64_t run_id, bool through_restart = false) const;
  /// Chunks of the plan neither done nor failed, leased or not.
  /// `only`: of that table.
  std::int64_t chunks_pending(const std::optional<table_key>& only = std::nullopt) const;
  /// A new round of workers begins: failed chunks become pending again (a resume retries them)
  /// and the leases of workers whose run ended are dropped at once. How many chunks it touched.
  int reopen_chunks();

  /// Runs `fn` (calls on this store) on the store's own writer thread, in order, and resumes the
  /// caller when it is done: a SQLite commit, or the WAL checkpoint one commit in ~1 000 pays,
  /// never stalls the sockets the caller's context serves. Rethrows what `fn` throws.
  boost::asio::awaitable<void> write_off_context(std::function<void()> fn);

  /// For messages: the SQLite file, or the state database's redacted URL and the job's name.
  std::string where() const;

 private:
  explicit state_store(std::unique_ptr<detail::state_backend> p);
  std::unique_ptr<detail::state_backend> impl_;
  std::unique_ptr<io::serial_worker> writer_;  // write_off_context; joined first
};

/// A short stable hash (16 hex digits, FNV-1a 64) of `parts`, for kv marks such as the plan's
/// fingerprint: resume only when the options that shaped the plan are unchanged.
std::string fingerprint(const std::vector<std::string>& parts);

}  // namespace uringmig::engine
