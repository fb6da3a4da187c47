#include "engine/run_job.hpp"

#include "codecs/url.hpp"
#include "engine/bulk/bulk.hpp"
#include "engine/cdc/online.hpp"
#include "engine/core/status.hpp"
#include "engine/doris/doris.hpp"
#include "engine/shards/shards.hpp"
#include "engine/verify/verify.hpp"

namespace uringmig::engine {

namespace {

bool pg_to_pg(const job_options& opts) {
  auto s = codecs::parse_endpoint(opts.source_url);
  auto t = codecs::parse_endpoint(opts.target_url);
  return s && t && s.value->kind() == codecs::endpoint_kind::postgres &&
         t.value->kind() == codecs::endpoint_kind::postgres;
}

bool sqlite_target(const job_options& opts) {
  auto t = codecs::parse_endpoint(opts.target_url);
  return t && (t.value->kind() == codecs::endpoint_kind::sqlite ||
               t.value->kind() == codecs::endpoint_kind::sqlite_shards);
}

bool doris_target(const job_options& opts) {
  auto t = codecs::parse_endpoint(opts.target_url);
  return t && t.value->kind() == codecs::endpoint_kind::doris;
}

}  // namespace

int run_job(const job_options& opts) {
  if (opts.command == "run" || opts.command == "plan") {
    if (doris_target(opts)) {
      if (opts.follow)
        throw usage_error("Doris targets are loaded in bulk; --follow needs a PostgreSQL target");
      if (opts.command == "plan" || opts.dry_run) return plan_doris(opts);
      return run_doris(opts);
    }
    if (sqlite_target(opts)) {
      if (opts.follow)
        throw usage_error("SQLite targets are loaded in bulk; --follow needs a PostgreSQL target");
      if (opts.command == "plan" || opts.dry_run) return plan_shards(opts);
      return run_shards(opts);
    }
    if (!pg_to_pg(opts))
      throw usage_error("uringmig " + opts.command +
                        ": only PostgreSQL -> PostgreSQL works yet; SQLite and Doris targets are "
                        "not yet implemented");
    if (opts.command == "plan" || opts.dry_run) return run_plan(opts);
    if (opts.follow) return run_online(opts);
    return run_bulk(opts);
  }
  if (opts.command == "status") return run_status(opts);
  if (opts.command == "verify") {
    if (sqlite_target(opts)) return run_verify_sqlite(opts);
    if (!pg_to_pg(opts)) throw usage_error("uringmig verify: compares PostgreSQL to PostgreSQL");
    return run_verify(opts);
  }
  if (opts.command == "follow") return run_follow(opts);
  if (opts.command == "switchover") return run_switchover(opts);
  throw usage_error("uringmig " + opts.command + ": not yet implemented");
}

}  // namespace uringmig::engine
