// Several uringmig processes on one job through a shared (PostgreSQL) state, whatever the path:
// who coordinates (plans) a round, the job definition every worker must share, the named locks
// under which one worker finishes a table and one finishes the job. Chunks themselves come from
// the state's leases (chunk_runner's chunk_leases); the snapshot the bulk clone's and the Doris
// load's workers share, with the watch on its coordinator, in coordinator_snapshot.hpp.
#pragma once

#include "codecs/url.hpp"
#include "engine/core/job_spec.hpp"
#include "engine/core/state_store.hpp"
#include "io/runtime.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <functional>
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
/// Its first part, "r<run id>@host:pid" (state_pg's worker_run_sql reads the run id back).
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
boost::asio::awaitable<worker_round> join_workers(state_store& state, io::runtime& rt,
                                                  std::int64_t run_id, const std::string& worker,
                                                  const job_definition& def);
/// The coordinator: its plan (and with `extra`, what else the path shares) is in the state.
void publish_plan(state_store& state, std::int64_t run_id,
                  std::vector<std::pair<std::string, std::string>> extra = {});
/// A key the coordinator published with publish_plan (its `extra`).
std::string published(const state_store& state, const std::string& key);

/// Tests (copy.debug.wait_workers): the coordinator, once it published, goes on when that many
/// of the job's workers are live (or on a stop).
boost::asio::awaitable<void> debug_wait_workers(state_store& state, io::runtime& rt,
                                                const job_spec& opts);

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
