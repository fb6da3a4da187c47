#pragma once

#include "engine/core/job.hpp"
#include "engine/core/job_spec.hpp"

namespace uringmig::engine::shards {

/// `run` with a SQLite target (`sqlite:///file.db` or a shard set
/// `sqlite:///dir?shards=N&shard_key=COL`) from a SQLite or PostgreSQL source. Returns 0; throws
/// usage_error (nothing touched) or job_error (resumable: run the same command again).
int run(const job_spec& opts);

/// `plan` / `run --dry-run` for a SQLite target: validates and prints the plan, writes nothing.
int plan(const job_spec& opts);

}  // namespace uringmig::engine::shards
