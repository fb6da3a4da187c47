#include "engine/job.hpp"

namespace uringmig::engine {

int run_job(const job_options& opts) {
  throw usage_error("uringmig " + opts.command + ": not yet implemented");
}

}  // namespace uringmig::engine
