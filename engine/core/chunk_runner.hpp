// The one scheduler of the chunked paths (bulk PG -> PG, Doris, SQLite shards): the chunk queue,
// tables largest first, same-table concurrency, retries with backoff, stop handling, done/failed
// accounting in the state store and the progress. A path supplies its workers (what loads a
// chunk) and what happens when a table's data is in; the runner decides the rest.
#pragma once

#include "engine/core/plan_types.hpp"
#include "engine/core/progress.hpp"
#include "engine/core/state_store.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

namespace uringmig::engine {

/// What one attempt at a chunk came to.
struct chunk_attempt {
  bool ok = false;
  /// Stopped (SIGINT, --max-runtime) while the path waited: neither done nor failed; the chunk
  /// stays to do and the next run takes it.
  bool interrupted = false;
  std::int64_t rows = 0;
  std::int64_t bytes = 0;           // for the state store
  std::int64_t progress_bytes = 0;  // not yet counted in the table's progress (the path may count
                                    // bytes as they stream)
  double seconds = 0;
  std::string error;       // not ok: one line
  bool retryable = false;  // not ok: another attempt may succeed (is_retryable)
  int attempts = 0;        // the path's own attempts, for the state store; 0: the runner's count
};

/// A table as the runner sees it.
struct chunk_table {
  std::size_t id = 0;  // the path's own index of the table
  std::string schema;  // state store keys
  std::string name;
  std::string display;                       // for the log
  std::int64_t bytes = 0;                    // largest first
  std::vector<const planned_chunk*> chunks;  // plan order; outlive the runner
  std::set<int> done;                        // chunk numbers already in (resume): skipped
  table_progress* progress = nullptr;
};

/// One worker's connections. The runner uses it from one coroutine, on the executor the path
/// named for the worker, and destroys it there.
class chunk_worker {
 public:
  virtual ~chunk_worker() = default;
  /// One attempt at chunk `c` of `t`. An exception ends this worker (the run fails with it once
  /// the other workers are done); a chunk failure is a result, not an exception.
  virtual boost::asio::awaitable<chunk_attempt> load(const chunk_table& t,
                                                     const planned_chunk& c) = 0;
  /// After a failed attempt (retried or not), before the next chunk: back to a clean state.
  virtual boost::asio::awaitable<void> recover(const chunk_table&) { co_return; }
  /// The worker ends (also after an exception; then an exception of close() is dropped).
  virtual boost::asio::awaitable<void> close() { co_return; }
};

/// What a path's open_worker returns: `w` after `open(*w)` (an awaitable), or — when opening
/// throws — `w` closed first (the connections it did open), then the exception.
template <class Worker, class Open>
boost::asio::awaitable<std::unique_ptr<chunk_worker>> opened_worker(std::unique_ptr<Worker> w,
                                                                    Open open) {
  std::exception_ptr error;
  try {
    co_await open(*w);
  } catch (...) {
    error = std::current_exception();
  }
  if (error) {
    co_await w->close();
    std::rethrow_exception(error);
  }
  co_return w;
}

/// What a path supplies. The hooks run outside the runner's lock, on the worker's executor.
class chunk_path {
 public:
  virtual ~chunk_path() = default;
  /// Where worker `index` runs its loop (its connections may live elsewhere).
  virtual boost::asio::any_io_executor executor(std::size_t index) = 0;
  virtual boost::asio::awaitable<std::unique_ptr<chunk_worker>> open_worker(std::size_t index) = 0;
  /// A chunk is in (after the runner's own marks).
  virtual void chunk_done(const chunk_table&, const planned_chunk&, const chunk_attempt&) {}
  /// The last chunk of a table that did not fail is in; `copy_seconds` since its first chunk.
  virtual void table_finished(const chunk_table&, double /*copy_seconds*/) {}
  /// A chunk failed for good: the table failed (once per table; the runner has logged it and
  /// marked it failed in the state store and the progress).
  virtual void table_failed(const chunk_table&, const std::string& /*why*/) {}
};

/// Several processes on one job (a shared state, --state-url): each chunk comes from a lease in
/// the state instead of the runner's own queue, so whichever worker is free takes the next one
/// and a dead worker's chunk is taken again once its lease runs out.
struct chunk_leases {
  std::string worker;  // this process's name in the state: "r<run id>@host:pid"
  std::chrono::milliseconds lease{30000};
  /// Also called at every renewal (a third of the lease), on the state's writer thread: the
  /// path's own watch (the bulk clone's: is the snapshot's coordinator alive).
  std::function<void()> heartbeat;
  /// While other workers hold every pending chunk, a free worker asks again after this long
  /// (one of them may die, and its chunk come free).
  std::chrono::milliseconds poll{200};
  /// Set: only this table's chunks (a path that loads one table at a time); the workers end
  /// once none of its chunks is pending.
  std::optional<table_key> only;
};

struct chunk_runner_options {
  std::size_t workers = 1;
  /// Attempts per chunk, the first included; a retryable failure is tried again until then.
  int attempts = 1;
  /// The wait after failed attempt `n` (1-based) before the next one.
  std::function<std::chrono::milliseconds(int n)> backoff = [](int n) {
    return std::chrono::milliseconds(500) * (1 << std::min(n - 1, 6));
  };
  /// Workers on one table at a time; 0: no limit.
  int table_workers = 0;
  /// The runner marks done chunks in the state store and the progress, and the copy time of a
  /// finished table. false: the path does (the shard writers, once every file committed).
  bool record = true;
  /// A table's failure reads "chunk N: <error>"; false: the error names the chunk already.
  bool prefix_chunk = true;
  std::stop_token stop;  // SIGINT, --max-runtime: no chunk starts, a backoff ends at once
  /// Set: chunks come from the state's leases; a worker ends once no chunk of the job is pending
  /// (or a stop); a table is finished when the state has all its chunks done, whoever did them.
  std::optional<chunk_leases> leases;
};

class chunk_runner {
 public:
  /// `tables` in any order: the queue takes the largest first (ties: the given order), each
  /// table's chunks in plan order, without the ones in `done`.
  chunk_runner(chunk_path& path, state_store& state, progress& prog,
               std::vector<chunk_table> tables, chunk_runner_options o);
  ~chunk_runner();
  chunk_runner(const chunk_runner&) = delete;
  chunk_runner& operator=(const chunk_runner&) = delete;

  /// Runs every worker until no chunk is left for it or a stop is requested; then rethrows the
  /// first exception that ended a worker (in worker order).
  boost::asio::awaitable<void> run();

  /// Chunks queued or in flight (thread-safe).
  bool busy() const;
  /// Every chunk is in or its table failed (thread-safe): false after a stop with work left.
  bool complete() const;
  std::size_t chunks_queued() const;

 private:
  struct table_state;
  struct task {
    table_state* table = nullptr;
    const planned_chunk* chunk = nullptr;
    bool first = false;   // the table's first chunk handed out by this run
    bool leased = false;  // taken from the state's leases (chunk_leases)
  };
  boost::asio::awaitable<void> worker_loop(std::size_t index);
  boost::asio::awaitable<void> run_chunk(chunk_worker& w, const task& k);
  std::optional<task> next();
  boost::asio::awaitable<std::optional<task>> next_leased();
  std::optional<task> hand_out(table_state& ts, const planned_chunk& c, bool leased);
  task start(task k);  // counts it running, marks a table's first chunk; m_ held
  boost::asio::awaitable<void> workers_then(std::stop_source& done);
  boost::asio::awaitable<void> heartbeat(std::stop_token done);
  boost::asio::awaitable<void> chunk_in(const task& k, const chunk_attempt& a);
  boost::asio::awaitable<void> chunk_failed(const task& k, const chunk_attempt& a);
  void chunk_left(const task& k);

  chunk_path& path_;
  state_store& state_;
  progress& prog_;
  chunk_runner_options o_;
  std::vector<std::unique_ptr<table_state>> tables_;
  mutable std::mutex m_;
  std::deque<task> queue_;  // guarded by m_
  std::size_t in_flight_ = 0;
  std::map<std::pair<std::string, std::string>, table_state*> by_name_;  // leases: claim -> table
};

}  // namespace uringmig::engine
