// The one entry point cli/ calls: a job described by its options, dispatched to its wing.
#pragma once

#include "engine/core/job.hpp"
#include "engine/core/observe/service.hpp"

#include <memory>

namespace uringmig::engine {

struct job_spec;  // core/job_spec.hpp: job_options parsed

/// Runs the job described by `spec` to completion; returns the process exit code.
/// Throws usage_error / job_error with a one-line, secret-free message.
int run_job(const job_spec& spec);

/// The job's --http server (`http.listen`), with its actions wired: stop as SIGTERM does, and
/// for a job that follows, switchover as `uringmig switchover` does. nullptr when not asked
/// for. Throws usage_error (port in use, ...): call before anything is touched; keep the
/// result until the job returned.
std::unique_ptr<observe::service> start_http(const job_spec& spec);

}  // namespace uringmig::engine
