#pragma once

#include "engine/job.hpp"

namespace uringmig::engine {

/// `uringmig run --preset bulk` PostgreSQL -> PostgreSQL: schema pre-data,
/// table data in parallel chunks under one exported snapshot, indexes per
/// table as soon as its data is in, post-data, sequences. Resumable.
int run_bulk(const job_options& opts);

/// `uringmig plan` and `run --dry-run`: connect, validate, print the plan; touch nothing.
int run_plan(const job_options& opts);

}  // namespace uringmig::engine
