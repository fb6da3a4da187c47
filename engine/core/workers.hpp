// Several uringmig processes on one job through a shared (PostgreSQL) state, whatever the path:
// who coordinates (plans) a round, the job definition every worker must share, the named locks
// under which one worker finishes a table and one finishes the job. Chunks themselves come from
// the state's leases (chunk_runner's chunk_leases); what a path publishes besides its plan (the
// bulk clone's snapshot) stays with the path.
#pragma once

#include "codecs/url.hpp"
#include "connectors/postgres/connection.hpp"
#include "engine/core/job_spec.hpp"
#include "engine/core/state_store.hpp"
#include "io/runtime.hpp"

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace uringmig::engine {

/// What makes two workers' copies the same job: (name, value) pairs in a fixed order.
using job_definition = std::vector<std::pair<std::string, std::string>>;

/// The data a job moves and where to: --source, --target (redacted), --tables, --exclude and
/// the settings that shape the plan or the data (not one process's own: its state, jobs, logs,
/// retries, debug hooks).
job_definition definition_of(const job_spec& opts, const codecs::endpoint& source,
                             const codecs::endpoint& target);

/// This process's name in a shared state: "r<run id>@host:pid", then " #N/M" of --worker.
std::string worker_name(const job_spec& opts, std::int64_t run_id);
/// Its first part, "r<run id>@host:pid".
std::string worker_name(std::int64_t run_id, std::string_view host, std::int64_t pid);
/// This host's name ("unknown" if it has none): in worker names and on a shared state's runs.
std::string host_name();
/// usage_error for a --worker N/M that is not one, or without a shared state (`workers`).
void check_worker_flag(const job_spec& opts, bool workers);
/// Whether the job's workers run now (its coordinator is alive).
bool live_coordinator(state_store& state);

/// This worker's place in the round of workers it joined.
struct worker_round {
  bool coordinator = false;          // it plans the round
  std::int64_t coordinator_run = 0;  // the run id of the round's coordinator
};

/// The first worker to arrive coordinates: it records `def` as the job's definition (the
/// others are checked against it: usage_error naming the first difference) and reopens the
/// chunks of dead or failed workers; it calls publish_plan() once its plan is in the state.
/// The others wait until the coordinator published. A coordinator that dies before it published
/// is replaced. A stop while waiting is a job_error with the runtime's stop reason.
/// `published_round_outlives_coordinator` (a path that reads under no snapshot of the
/// coordinator's: incremental loads): a round whose plan was published and still has chunks
/// left is joined even when its coordinator died — a new coordinator would plan again under the
/// round's live workers.
boost::asio::awaitable<worker_round> join_workers(
    state_store& state, io::runtime& rt, std::int64_t run_id, const std::string& worker,
    const job_definition& def, bool published_round_outlives_coordinator = false);
/// The coordinator: its plan (and with `extra`, what else the path shares) is in the state.
void publish_plan(state_store& state, std::int64_t run_id,
                  std::vector<std::pair<std::string, std::string>> extra = {});
/// Tests (copy.debug.wait_workers): the coordinator, its plan published, waits until that many
/// workers of the job are live (or a stop), so that the chunks are shared whoever is fastest.
boost::asio::awaitable<void> wait_for_workers(state_store& state, io::runtime& rt,
                                              const job_spec& opts);
/// The key under which a coordinator publishes its exported snapshot (publish_plan's `extra`).
inline constexpr const char* published_snapshot_key = "workers.snapshot";
/// A key the coordinator published with publish_plan (its `extra`).
std::string published(const state_store& state, const std::string& key);

/// A worker's watch on the coordinator whose exported snapshot its source sessions read under
/// (the bulk clone's, a shard job's PostgreSQL source's). The heartbeat (the state's thread)
/// and the source sessions share it.
class coordinator_watch {
 public:
  /// `round`: this worker's; `snapshot`: the coordinator's, as published; `allow_inconsistent`:
  /// go on under fresh snapshots once the coordinator ended (--allow-inconsistent).
  void start(const worker_round& round, std::string worker, std::string snapshot,
             bool allow_inconsistent);
  /// The snapshot a new source session joins: the coordinator's, or empty (a fresh one) once it
  /// ended under --allow-inconsistent or when no chunk is left to read under it.
  std::string snapshot() const;
  /// The coordinator ended and this worker went on under fresh snapshots.
  bool inconsistent() const { return inconsistent_.load(); }
  /// The line the worker stops with once the coordinator ended (empty while it did not).
  std::string lost() const;
  /// The round start() was given: whether this worker coordinates it, and who does.
  bool coordinator() const { return round_.coordinator; }
  std::int64_t coordinator_run() const { return round_.coordinator_run; }

 private:
  friend void watch_coordinator(state_store& state, io::runtime& rt, coordinator_watch& w);
  friend boost::asio::awaitable<bool> join_coordinator_snapshot(
      state_store& state, io::runtime& rt, coordinator_watch& w,
      connectors::postgres::connection& session);

  mutable std::mutex m_;
  worker_round round_;
  std::string worker_;
  std::string snapshot_;  // (m_)
  bool allow_inconsistent_ = false;
  std::atomic<bool> inconsistent_{false};
  std::string lost_;  // (m_)
};

/// The heartbeat's check: a worker whose coordinator ended while chunks are left stops the run
/// (rt.request_stop; w.lost() says why), or with --allow-inconsistent goes on under fresh
/// snapshots (said once, at warn). Nothing for the coordinator itself.
void watch_coordinator(state_store& state, io::runtime& rt, coordinator_watch& w);

/// `session` enters w.snapshot() in a new REPEATABLE READ READ ONLY transaction. When that
/// snapshot is gone (the coordinator ended meanwhile): false if the job's other workers finished
/// it (nothing left to do); a fresh snapshot when no chunk is left or under
/// --allow-inconsistent; else a job_error (w.lost(), or "run the same command again").
boost::asio::awaitable<bool> join_coordinator_snapshot(state_store& state, io::runtime& rt,
                                                       coordinator_watch& w,
                                                       connectors::postgres::connection& session);

/// The named lock under which one worker finishes a table: whether this process took it and
/// nobody finished (or failed) the table yet. Held until release_table_finish or the process's
/// end (kill -9 included).
bool claim_table_finish(state_store& state, const std::string& schema, const std::string& name);
/// Gives the lock back (a failure is logged: the lock ends with the process anyway).
void release_table_finish(state_store& state, const std::string& schema, const std::string& name);

/// Workers, once no chunk is left: while a table has every chunk done but is neither done nor
/// failed, calls `take` with its row (take tries to finish it: claim_table_finish, then the
/// path's finish) and waits for it; `take` returns false for a table that is not this
/// worker's business. Returns when none is left or on a stop.
boost::asio::awaitable<void> finish_others(
    state_store& state, io::runtime& rt,
    const std::function<boost::asio::awaitable<bool>(const table_row&)>& take);

/// The job's last steps run once: false when another worker did them (or a stop came first).
boost::asio::awaitable<bool> lock_job_finish(state_store& state, io::runtime& rt,
                                             std::int64_t coordinator_run);
/// `finished`: the job's last steps are done (the others that come later leave).
void unlock_job_finish(state_store& state, std::int64_t coordinator_run, bool finished);
/// Whether the job's last steps of this round were done.
bool job_finished(const state_store& state, std::int64_t coordinator_run);

}  // namespace uringmig::engine
