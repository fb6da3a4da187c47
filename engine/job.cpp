#include "engine/job.hpp"

#include "codecs/url.hpp"
#include "engine/data_copy.hpp"

namespace uringmig::engine {

int run_job(const job_options& opts) {
  if (opts.command == "run") {
    auto s = codecs::parse_endpoint(opts.source_url);
    auto t = codecs::parse_endpoint(opts.target_url);
    if (s && t && s.value->kind() == codecs::endpoint_kind::postgres &&
        t.value->kind() == codecs::endpoint_kind::postgres && !opts.dry_run && !opts.follow)
      return run_data_copy(opts);
    throw usage_error(
        "uringmig run: only PostgreSQL -> PostgreSQL data copy into existing tables "
        "works yet; schema copy, SQLite, Doris, --dry-run and --follow are not yet "
        "implemented");
  }
  throw usage_error("uringmig " + opts.command + ": not yet implemented");
}

}  // namespace uringmig::engine
