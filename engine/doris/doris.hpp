#pragma once

#include "engine/core/job.hpp"
#include "engine/core/job_spec.hpp"

namespace uringmig::engine::doris {

/// `uringmig plan` (and `run --dry-run`) with a Doris target: connects to the PostgreSQL source,
/// selects tables as the bulk clone does, prints the chunk plan and, per table, a suggested Doris
/// CREATE TABLE from the type mapping of codecs/doris_types.hpp (printed, never run; Doris is
/// not contacted). Returns 0; usage_error for bad input.
int plan(const job_spec& opts);

/// `run` into Doris over Stream Load (README: "PostgreSQL to Apache Doris"): every chunk of
/// every selected table exactly once, under one snapshot, resumable. Returns 0; throws
/// usage_error (nothing touched) or job_error (exit 1, naming the tables that failed).
int run(const job_spec& opts);

}  // namespace uringmig::engine::doris
