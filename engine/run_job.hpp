// The one entry point cli/ calls: a job described by its options, dispatched to its wing.
#pragma once

#include "engine/core/job.hpp"

namespace uringmig::engine {

struct job_spec;  // core/job_spec.hpp: job_options parsed

/// Runs the job described by `spec` to completion; returns the process exit code.
/// Throws usage_error / job_error with a one-line, secret-free message.
int run_job(const job_spec& spec);

}  // namespace uringmig::engine
