#pragma once

#include "engine/core/job.hpp"
#include "engine/core/job_spec.hpp"

namespace uringmig::engine::cdc {

/// `run --preset online` (or `run --follow`), PostgreSQL -> PostgreSQL: a publication (created
/// for the selected tables, or --publication) and a logical slot whose exported snapshot the
/// bulk clone reads under, then the slot's changes applied until `uringmig switchover`. Returns 0
/// after a switchover; throws usage_error / job_error (an interrupted follow resumes with
/// `uringmig follow` or the same command).
int run_online(const job_spec& opts);

/// `follow`: streams and applies for the online job recorded in --state-dir, from where the
/// target's replication origin says it stopped.
int run_follow(const job_spec& opts);

/// `switchover` (cdc/switchover.cpp): fails at once unless a follower of the job runs; records
/// a request in the job's state, writes a sentinel naming the job and the request into the
/// source's WAL (pg_logical_emit_message), waits until the follower committed everything before
/// it (--timeout, default 60s; then the request is withdrawn), then sets the target's sequences
/// to the source's values. On a job switched over already it only sets the sequences. 0 on
/// success, job_error (exit 1) otherwise.
int run_switchover(const job_spec& opts);

}  // namespace uringmig::engine::cdc
