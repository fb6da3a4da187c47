// How an incremental run ends, for both targets: the outcome of its loads, and the one place
// that turns it (or the error that stopped it) into the run's end mark, the exception or the
// exit code (0 clean, 3 with rejected rows).
#pragma once

#include "engine/core/chunk_runner.hpp"
#include "engine/core/job_spec.hpp"
#include "engine/core/progress.hpp"
#include "engine/core/state_store.hpp"
#include "engine/incremental/plan.hpp"
#include "io/runtime.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace uringmig::engine::incremental {

struct outcome {
  bool interrupted = false;
  std::int64_t rejected = 0;
};

/// Runs `todo` on the shared chunk runner as both targets do (workers from --jobs, default 2;
/// 3 attempts; the stop of `rt`), with the progress reporter around it. True when every chunk
/// ran (false: stopped or a table failed). `leases`: one of several workers on the job, its
/// chunks from the state's leases (true once no chunk of the job is pending).
boost::asio::awaitable<bool> run_chunks(chunk_path& path, state_store& state, progress& prog,
                                        std::vector<chunk_table> todo, const job_spec& spec,
                                        io::runtime& rt,
                                        std::optional<chunk_leases> leases = std::nullopt);

/// One of several workers on the job (a shared state, --state-url), for both targets.
struct worker_role {
  bool on = false;
  bool coordinator = true;  // it opens the windows (a process alone always does)
  std::string name;         // its name in the state
  std::int64_t run = 0;     // its run in the state
};

/// Threads of an incremental run's runtime: one for the job, one per worker (--jobs, default 2)
/// up to the cores.
std::size_t runtime_threads(const job_spec& spec);

/// An incremental run's state (`shared`: a --state-url one, this process one of the job's
/// workers; the --worker flag checked) and whether its --restart applies: not while the job's
/// workers run (this one joins them; said at info).
struct run_state {
  state_store state;
  bool shared = false;
  bool restart = false;
};
run_state open_run_state(const job_spec& spec);

/// Workers: records this worker's run in `state` (`run_id`) and joins the job's round
/// (core/workers join_workers: the first coordinates, the others are checked against its
/// definition and wait until it published its plan).
boost::asio::awaitable<worker_role> join_round(state_store& state, io::runtime& rt,
                                               const job_spec& spec, const std::string& source,
                                               std::optional<std::int64_t>& run_id);

/// The chunk runner's leases of a worker; none for a process alone.
std::optional<chunk_leases> leases_of(const worker_role& w, const job_spec& spec);

/// Workers, once no chunk is left: every table of this worker (`mine`) whose chunks are all in,
/// whoever loaded them, is finished once: under its finish lock (claim_table_finish) `finish`
/// runs, then the table is marked done; a finisher that dies leaves it to another worker.
boost::asio::awaitable<void> finish_tables(
    state_store& state, io::runtime& rt, const std::function<bool(const table_row&)>& mine,
    const std::function<boost::asio::awaitable<void>(const table_row&)>& finish);

/// Workers: the tables other workers failed (not failed here: `failed_here`) fail this one's
/// run too; added to `failures`.
void add_others_failures(const state_store& state,
                         const std::function<bool(const table_row&)>& failed_here,
                         std::vector<std::string>& failures);

/// The chunk runner's chunks of a window (explicit ranges, in the window's numbers).
std::vector<planned_chunk> runner_chunks(const table_window& w);

/// Warns when the source's largest watermark is below the stored mark (the mark stays).
void warn_if_backwards(const table_plan& p, const table_window& w);

/// Saves the windows' plan in the state store when it changed (`parts`: what identifies each
/// table's window).
void save_windows_plan(state_store& state, const std::vector<std::string>& parts,
                       const std::vector<planned_table>& plan);

/// `plan`'s output: the source, each table's plan and window, the settings.
boost::asio::awaitable<void> print_plans(source& src, const std::vector<table_plan>& plans,
                                         std::int64_t chunk_rows, int workers,
                                         const std::map<std::string, std::string>& settings);

/// A table's summary line on stdout.
struct table_summary {
  std::string target_name;
  std::int64_t read = 0, upserted = 0, deleted = 0, rejected = 0;
  std::optional<std::string> mark_before, mark_after;
  bool failed = false;
  bool by_worker = false;  // one of several workers: the counts are its own chunks'
};
void print_table_summary(const table_summary& t);

/// Throws the run's job_error when any table failed (`failures`: their errors, first first).
void throw_if_tables_failed(const std::vector<std::string>& failures);

/// Records the run's end in `state` and answers its exit code, or throws: `error` (a usage
/// error when `usage`) → failed; a stop → interrupted, with the resume hint; rejected rows →
/// done, 3, naming `<state_dir>/rejects`.
int end_run(state_store& state, std::optional<std::int64_t> run_id, const std::string& error,
            bool usage, const outcome& out, io::runtime& rt,
            const std::filesystem::path& state_dir);

}  // namespace uringmig::engine::incremental
