#include "engine/run_job.hpp"

#include "codecs/url.hpp"
#include "engine/bulk/bulk.hpp"
#include "engine/cdc/online.hpp"
#include "engine/core/job_spec.hpp"
#include "engine/core/status.hpp"
#include "engine/doris/doris.hpp"
#include "engine/incremental/incremental.hpp"
#include "engine/shards/shards.hpp"
#include "engine/verify/verify.hpp"
#include "io/runtime.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <exception>
#include <thread>

namespace uringmig::engine {

namespace {

bool is(const std::optional<codecs::endpoint>& e, codecs::endpoint_kind kind) {
  return e && e->kind() == kind;
}

bool pg_to_pg(const job_spec& spec) {
  return is(spec.source, codecs::endpoint_kind::postgres) &&
         is(spec.target, codecs::endpoint_kind::postgres);
}

bool sqlite_target(const job_spec& spec) {
  return is(spec.target, codecs::endpoint_kind::sqlite) ||
         is(spec.target, codecs::endpoint_kind::sqlite_shards);
}

int run_or_plan(const job_spec& spec) {
  if (incremental::is_job(spec)) {
    if (spec.follow) throw usage_error("incremental loads run once per command; drop --follow");
    if (!is(spec.target, codecs::endpoint_kind::postgres) &&
        !is(spec.target, codecs::endpoint_kind::doris))
      throw usage_error("--target: incremental loads write to PostgreSQL or Doris");
    return spec.plan_only() ? incremental::plan(spec) : incremental::run(spec);
  }
  if (is(spec.source, codecs::endpoint_kind::snowflake))
    throw usage_error(
        "--source: a snowflake:// source is read by incremental loads: add "
        "--preset incremental and [[tables]] entries");
  if (is(spec.target, codecs::endpoint_kind::doris)) {
    if (spec.follow)
      throw usage_error("Doris targets are loaded in bulk; --follow needs a PostgreSQL target");
    return spec.plan_only() ? doris::plan(spec) : doris::run(spec);
  }
  if (sqlite_target(spec)) {
    if (spec.follow)
      throw usage_error("SQLite targets are loaded in bulk; --follow needs a PostgreSQL target");
    return spec.plan_only() ? shards::plan(spec) : shards::run(spec);
  }
  if (!pg_to_pg(spec))
    throw usage_error("uringmig " + std::string(to_string(spec.kind)) +
                      ": only PostgreSQL -> PostgreSQL works yet; SQLite and Doris targets are "
                      "not yet implemented");
  if (spec.plan_only()) return bulk::plan(spec);
  if (spec.follow) return cdc::run_online(spec);
  return bulk::run(spec);
}

/// A switchover over HTTP: `uringmig switchover` run on a thread of its own, one at a time.
class switchover_runner {
 public:
  explicit switchover_runner(const job_spec& spec) : spec_(spec) {}
  ~switchover_runner() {
    if (thread_.joinable()) thread_.join();
  }
  switchover_runner(const switchover_runner&) = delete;
  switchover_runner& operator=(const switchover_runner&) = delete;

  std::string start() {
    if (running_.exchange(true)) return "a switchover is running already";
    if (thread_.joinable()) thread_.join();
    thread_ = std::thread([this] {
      try {
        job_options o = spec_;
        o.command = "switchover";
        o.dry_run = false;
        const int rc = cdc::run_switchover(job_spec(o));
        spdlog::info("switchover over HTTP finished (exit code {})", rc);
      } catch (const std::exception& e) {
        spdlog::error("switchover over HTTP failed: {}", e.what());
      }
      running_.store(false);
    });
    return {};
  }

 private:
  job_spec spec_;
  std::atomic<bool> running_{false};
  std::thread thread_;
};

}  // namespace

std::unique_ptr<observe::service> start_http(const job_spec& spec) {
  observe::actions a;
  a.stop = [] { io::request_stop_all("stopped over HTTP (POST /api/v1/stop)"); };
  const bool follows = spec.kind == job_command::follow ||
                       (spec.kind == job_command::run && spec.follow && !spec.plan_only());
  if (follows) {
    auto runner = std::make_shared<switchover_runner>(spec);
    a.switchover = [runner] { return runner->start(); };
  }
  return observe::service::start(spec, std::move(a));
}

int run_job(const job_spec& spec) {
  const bool online =
      spec.follow || spec.kind == job_command::follow || spec.kind == job_command::switchover;
  if (online && spec.settings.count("state.url") != 0)
    throw usage_error(
        "the online preset (--follow, follow, switchover) keeps its state in --state-dir: drop "
        "--state-url");
  switch (spec.kind) {
    case job_command::run:
    case job_command::plan:
      return run_or_plan(spec);
    case job_command::status:
      return run_status(spec);
    case job_command::verify:
      if (sqlite_target(spec)) return verify::run_verify_sqlite(spec);
      if (!pg_to_pg(spec)) throw usage_error("uringmig verify: compares PostgreSQL to PostgreSQL");
      return verify::run_verify(spec);
    case job_command::follow:
      return cdc::run_follow(spec);
    case job_command::switchover:
      return cdc::run_switchover(spec);
    case job_command::none:
      break;
  }
  throw usage_error("uringmig " + spec.command + ": not yet implemented");
}

}  // namespace uringmig::engine
