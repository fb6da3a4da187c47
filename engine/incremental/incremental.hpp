#pragma once

#include "engine/core/job.hpp"
#include "engine/core/job_spec.hpp"

namespace uringmig::engine::incremental {

/// Whether `spec` is an incremental job: `--preset incremental` or `[[tables]]` entries.
bool is_job(const job_spec& spec);

/// `run --preset incremental`: every picked `[[tables]]` entry loaded past its watermark into the
/// PostgreSQL target. Returns 0, or 3 when rows were rejected (on_error = "reject"); throws
/// usage_error (nothing written) or job_error (resumable: run the same command again).
int run(const job_spec& spec);

/// `plan` / `run --dry-run` of an incremental job: checks every entry on both sides and prints
/// each table's mode, strategy, chunk estimate and current mark; writes nothing.
int plan(const job_spec& spec);

}  // namespace uringmig::engine::incremental
