// The bulk clone's part of several processes on one job (engine/core/workers.hpp does the
// rest): the coordinator's snapshot, the watch on it, and the bulk tables' finish.
#include "engine/core/workers.hpp"
#include "engine/bulk/internal.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace uringmig::engine::bulk {

namespace asio = boost::asio;

std::string job::current_snapshot() const {
  return watch.inconsistent() ? std::string() : snapshot;
}

asio::awaitable<void> join_workers(job& j) {
  const worker_round r = co_await engine::join_workers(j.state, j.rt, j.run_id, j.worker,
                                                       definition_of(j.opts, j.source, j.target));
  j.coordinator = r.coordinator;
  j.coordinator_run = r.coordinator_run;
  if (j.coordinator)
    j.state.erase(published_snapshot_key);
  else
    j.snapshot = published(j.state, published_snapshot_key);
  j.watch.start(r, j.worker, j.snapshot, j.opts.config.bulk.allow_inconsistent);
}

asio::awaitable<bool> join_coordinator_snapshot(job& j, pg::connection& holder) {
  const bool go_on = co_await engine::join_coordinator_snapshot(j.state, j.rt, j.watch, holder);
  j.snapshot = j.watch.snapshot();
  co_return go_on;
}

void publish_plan(job& j) {
  engine::publish_plan(j.state, j.run_id, {{published_snapshot_key, j.snapshot}});
}

void watch_coordinator(job& j) {
  engine::watch_coordinator(j.state, j.rt, j.watch);
}

bool claim_finish(job& j, table_work& t) {
  if (!j.leased) return true;
  {
    std::lock_guard lk(j.m);
    if (t.finish_claimed) return false;  // this worker is on it already
  }
  if (!claim_table_finish(j.state, t.info.schema, t.info.name)) return false;
  std::lock_guard lk(j.m);
  t.finish_claimed = true;
  return true;
}

void release_finish(job& j, table_work& t) {
  {
    std::lock_guard lk(j.m);
    if (!t.finish_claimed) return;
    t.finish_claimed = false;
  }
  release_table_finish(j.state, t.info.schema, t.info.name);
}

asio::awaitable<void> finish_others(job& j) {
  std::map<std::pair<std::string_view, std::string_view>, table_work*> mine;
  for (auto& w : j.tables)
    mine.emplace(std::pair<std::string_view, std::string_view>(w->info.schema, w->info.name),
                 w.get());
  co_await engine::finish_others(j.state, j.rt, [&](const table_row& r) -> asio::awaitable<bool> {
    auto it = mine.find({r.schema, r.name});
    if (it == mine.end()) co_return false;
    table_work& w = *it->second;
    if (!claim_finish(j, w)) co_return true;
    spdlog::info("table {}: finishing it (its data is in; no live worker was on it)",
                 w.info.display());
    std::lock_guard lk(j.m);
    table_data_done(j, w, r.copy_seconds);
    co_return true;
  });
}

asio::awaitable<bool> lock_job_finish(job& j) {
  // Not in one expression with the `if`: GCC 12 mishandles a co_await there.
  const bool mine = co_await engine::lock_job_finish(j.state, j.rt, j.coordinator_run);
  if (!mine) co_return false;
  // Tables other workers failed: post-data leaves out what depends on them.
  const job_status st = j.state.status_snapshot();
  std::lock_guard lk(j.m);
  for (auto& w : j.tables)
    for (const auto& r : st.tables)
      if (r.schema == w->info.schema && r.name == w->info.name && r.status == "failed" &&
          !w->failed) {
        w->failed = true;
        w->error = r.error;
      }
  co_return true;
}

void unlock_job_finish(job& j, bool finished) {
  engine::unlock_job_finish(j.state, j.coordinator_run, finished);
}

}  // namespace uringmig::engine::bulk
