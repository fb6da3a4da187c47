#pragma once

#include "engine/job.hpp"

namespace uringmig::engine {

/// PostgreSQL -> PostgreSQL data copy of the tables matching --tables /
/// --exclude into tables that already exist on the target (same names and
/// columns), up to --jobs tables at a time, each in one target transaction.
/// The schema copy, chunking, snapshot and resume of the bulk preset build on this.
int run_data_copy(const job_options& opts);

}  // namespace uringmig::engine
