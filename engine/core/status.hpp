#pragma once

#include "engine/core/job.hpp"
#include "engine/core/progress.hpp"
#include "engine/core/state_store.hpp"

#include <filesystem>
#include <iosfwd>
#include <string>
#include <vector>

namespace uringmig::engine {

/// `uringmig status --state-dir DIR [--json]`: reads DIR/state.db offline (no database
/// connection; also while a job runs) and prints the last run, per-table chunk and index
/// progress and totals to stdout; one JSON object with `opts.json`. With `--state-url URL
/// [--job NAME]` the same from a shared state, plus its workers (alive or dead, what each did,
/// the chunks each holds). Returns 0. Throws usage_error when there is no such job state,
/// job_error when the state is unreadable.
int run_status(const job_options& opts);
/// Same, printing to `out`.
int run_status(const job_options& opts, std::ostream& out);

/// Prints `s` as `uringmig status` does; `live`: a job holds the state directory now.
void print_status(std::ostream& out, const job_status& s, const std::filesystem::path& state_dir,
                  bool live);
/// One JSON object (and a newline) with everything print_status shows.
void print_status_json(std::ostream& out, const job_status& s,
                       const std::filesystem::path& state_dir, bool live);

/// That JSON object as a string (no newline): also the base of the live API's status document.
std::string status_json(const job_status& s, const std::filesystem::path& state_dir, bool live);

/// The job's state: "running" while it runs — on a shared state while any of its processes
/// lives (the newest run may be a worker that was killed or left while others go on), else
/// while `live` and its last run is running; otherwise its last run's outcome ("done",
/// "failed", "interrupted"), "stopped" for one that ended without recording one, "none" before
/// any run.
std::string job_state(const job_status& s, bool live);

/// The final summary's rows from the state store (resumed chunks included).
std::vector<table_summary> summarize(const job_status& s);

}  // namespace uringmig::engine
