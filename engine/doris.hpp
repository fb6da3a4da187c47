#pragma once

#include "engine/job.hpp"

namespace uringmig::engine {

/// `uringmig plan` (and `run --dry-run`) with a Doris target: connects to the PostgreSQL source,
/// selects tables as the bulk clone does, prints the chunk plan and, per table, a suggested Doris
/// CREATE TABLE from the type mapping of codecs/doris_types.hpp (printed, never run; Doris is
/// not contacted). Returns 0; usage_error for bad input.
int plan_doris(const job_options& opts);

}  // namespace uringmig::engine
