#include "codecs/sql_text.hpp"
#include "engine/bulk/bulk.hpp"
#include "engine/bulk/internal.hpp"
#include "engine/bulk/pg_tools.hpp"
#include "engine/bulk/table_copy.hpp"
#include "engine/core/config_keys.hpp"
#include "engine/core/planner.hpp"
#include "engine/core/settings.hpp"
#include "engine/core/status.hpp"
#include "engine/core/workers.hpp"
#include "io/deadline.hpp"
#include "io/sleep.hpp"
#include "io/wait_all.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <unistd.h>
#include <cstdio>
#include <iostream>
#include <random>

namespace uringmig::engine {

namespace asio = boost::asio;
namespace pg = connectors::postgres;
using bulk::job;

namespace {

constexpr std::string_view not_postgres = "the bulk preset copies PostgreSQL to PostgreSQL";

std::string version_text(int v) {
  return std::to_string(v / 10000) + "." + std::to_string(v % 10000);
}

std::string mb(std::int64_t bytes) {
  return fmt::format("{:.1f}", bytes / 1e6);
}

std::string split_text(const planned_table& p) {
  if (p.chunks.size() == 1) return "whole table";
  return fmt::format("{} chunks, {}", p.chunks.size(), to_string(p.chunks.front().kind));
}

/// What `plan` and every run check before touching anything.
struct preflight {
  int source_version = 0;
  int target_version = 0;
  std::filesystem::path bin_dir;
  std::vector<std::string> target_tables;  // non-empty: the target has user tables
  bool can_create = false;
};

asio::awaitable<preflight> check(const job_spec& opts, const codecs::endpoint& target,
                                 pg::connection& src, pg::connection& dst) {
  preflight p;
  p.source_version = src.server_version();
  p.target_version = dst.server_version();
  p.bin_dir = pg_bin_dir(opts.config.bulk.pg_bin_dir, p.source_version);
  if (::access((p.bin_dir / "pg_dump").c_str(), X_OK) != 0 ||
      ::access((p.bin_dir / "pg_restore").c_str(), X_OK) != 0)
    throw usage_error(fmt::format(
        "pg_dump/pg_restore for PostgreSQL {} not found in {}: install postgresql-client-{} or "
        "set pg.bin_dir in the config",
        p.source_version / 10000, p.bin_dir.string(), p.source_version / 10000));
  if (p.target_version / 10000 < p.source_version / 10000)
    throw usage_error(
        fmt::format("the target runs PostgreSQL {} and the source {}: the target must "
                    "be the same major version or newer",
                    version_text(p.target_version), version_text(p.source_version)));
  co_await bulk::check_server_settings(opts, src, dst);
  p.target_tables = co_await bulk::user_tables(dst, 5);
  pg::result priv =
      co_await dst.query("select has_database_privilege(current_database(), 'CREATE')");
  priv.check("checking privileges on the target");
  p.can_create = priv.value(0, 0) == "t";
  if (!p.can_create)
    throw usage_error("the target user cannot CREATE in " + codecs::redacted_url(target) +
                      ": grant it CREATE on the database (or use the database owner)");
  co_return p;
}

void print_plan(const std::vector<planned_table>& plan, const std::set<std::string>& done) {
  std::printf("%-5s %-44s %10s %12s  %s\n", "order", "table", "MB", "rows (est.)", "split");
  std::int64_t bytes = 0;
  std::size_t chunks = 0;
  int order = 0;
  for (const auto& p : plan) {
    bytes += p.bytes;
    chunks += p.chunks.size();
    const std::string name = p.schema + "." + p.name;
    std::printf("%-5d %-44s %10s %12lld  %s%s\n", ++order, name.c_str(), mb(p.bytes).c_str(),
                static_cast<long long>(p.rows_estimate), split_text(p).c_str(),
                done.count(name) ? "  (data already copied)" : "");
  }
  std::printf("total: %zu tables, %s MB, %zu chunks\n", plan.size(), mb(bytes).c_str(), chunks);
}

/// Runs every copy worker and index worker to the end.
asio::awaitable<void> run_workers(job& j, std::size_t jobs, std::size_t index_jobs) {
  auto ex = co_await asio::this_coro::executor;
  std::vector<io::spawned> ops;
  j.data_copying = true;
  ops.push_back(asio::co_spawn(ex, bulk::copy_data(j, jobs), asio::deferred));
  for (std::size_t i = 0; i < index_jobs; ++i)
    ops.push_back(
        asio::co_spawn(j.rt.executor(i % j.rt.size()), bulk::index_worker(j, i), asio::deferred));
  co_await io::wait_all(std::move(ops));
}

/// Workers: the tables that failed, whichever worker failed them.
std::vector<std::string> failed_in_state(const job& j) {
  std::vector<std::string> out;
  for (const auto& r : j.state.status_snapshot().tables)
    if (r.status == "failed") out.push_back(r.schema + "." + r.name + ": " + r.error);
  return out;
}

/// The job's last steps after the copy: post-data, sequences, materialized views (not while a
/// table failed: views over it would be populated without its rows; a later run does them).
asio::awaitable<void> finish_schema(
    job& j, pg::connection& holder, pg::connection& dst,
    const std::map<std::uint32_t, std::vector<bulk::index_def>>& indexes,
    const std::vector<std::string>& failed_tables) {
  if (j.state.get("phase.post_data") != "done")
    co_await bulk::restore_post_data(j, holder, indexes);
  spdlog::debug("post-data restored");
  const int seqs = co_await bulk::copy_sequences(holder, dst);
  j.state.put("phase.sequences", "done");
  spdlog::info("{} sequence(s) set to the source's values", seqs);
  if (failed_tables.empty() && j.state.get("phase.matviews") != "done") {
    co_await bulk::refresh_matviews(j, holder);
    if (!j.rt.stop_token().stop_requested()) j.state.put("phase.matviews", "done");
  }
}

/// Workers: the job's last steps, by the one worker that takes them (the others leave).
asio::awaitable<void> finish_job(
    job& j, pg::connection& holder, pg::connection& dst, const std::vector<table_info>& tables,
    const std::map<std::uint32_t, std::vector<bulk::index_def>>& indexes,
    std::vector<std::string>& failed_tables) {
  // Not in one expression with the &&: GCC 12 fails on a co_await there.
  bool mine = false;
  if (!j.rt.stop_token().stop_requested()) mine = co_await bulk::lock_job_finish(j);
  if (mine) {
    // Under the snapshot still: the coordinator holds it until the job is finished. One that
    // died after the last chunk took it along: what is left reads under a fresh one.
    if (!j.coord.coordinator() && !j.state.run_alive(j.coord.coordinator_run())) {
      spdlog::warn(
          "worker {}: the coordinator ended after the last chunk: the schema dump and "
          "the large objects are read under a fresh snapshot",
          j.worker);
      j.snapshot.clear();
    }
    if (!std::filesystem::exists(j.dump_file)) co_await bulk::dump_schema(j, tables, holder);
    co_await bulk::copy_large_objects(j, holder);
  }
  (void)co_await holder.query("COMMIT");  // the coordinator: releases the snapshot
  failed_tables = failed_in_state(j);
  if (!mine || j.rt.stop_token().stop_requested()) {
    if (mine) unlock_job_finish(j, false);
    co_return;
  }
  co_await finish_schema(j, holder, dst, indexes, failed_tables);
  unlock_job_finish(j, !j.rt.stop_token().stop_requested());
}

asio::awaitable<void> bulk_main(job& j, bool resuming, const reporter_options& reporter_opts,
                                std::vector<std::string>& failed_tables) {
  auto& opts = j.opts;
  auto ex = co_await asio::this_coro::executor;
  if (j.leased) {
    co_await join_workers(j);
    if (j.coord.coordinator()) {
      resuming = j.state.has_plan();
      if (!resuming) j.state.put("bulk.job_id", j.app_name.substr(std::string("uringmig-").size()));
    } else if (auto id = j.state.get("bulk.job_id")) {
      j.app_name = "uringmig-" + *id;  // the coordinator's tag
    }
  }
  // A worker that joined a coordinator's round: its plan, schema and snapshot are there.
  const bool follower = j.leased && !j.coord.coordinator();
  auto holder = co_await connect_endpoint(ex, j.source, "source", j.app_name);
  // The control connections both live on this context; workers have their own.
  auto dst = co_await connect_endpoint(ex, j.target, "target", j.app_name);
  const preflight pf = co_await check(opts, j.target, holder, dst);
  j.bin_dir = pf.bin_dir;
  if ((resuming || opts.restart) && !follower) {
    // A killed run may have left an index build or a schema restore running on the target.
    co_await bulk::end_leftover_sessions(j, dst);
    co_await bulk::drop_invalid_indexes(dst);
  }
  if (!resuming && !opts.restart && !follower && !pf.target_tables.empty()) {
    std::string list;
    for (const auto& t : pf.target_tables)
      list += (list.empty() ? "" : ", ") + t;
    throw usage_error("the target database is not empty (it has " + list +
                      "): use an empty database, or --restart to replace what is there");
  }
  if (!resuming && !opts.restart && !follower) co_await bulk::check_large_objects(j, holder, dst);

  // One snapshot for everything: held open by this session until the data is in. The online
  // preset imports its replication slot's snapshot instead (no gap, no overlap with the stream).
  // Workers import the coordinator's, which it holds open until the job is finished.
  if (follower) {
    if (!co_await j.coord.join(holder, j.snapshot)) {
      co_await holder.close();
      co_await dst.close();
      co_return;  // the job's other workers finished it
    }
  } else if (!j.imported_snapshot.empty()) {
    co_await join_snapshot(holder, j.imported_snapshot);
    j.snapshot = j.imported_snapshot;
  } else {
    j.snapshot = co_await export_snapshot(holder);
  }
  j.state.set_run_snapshot(j.run_id, j.snapshot);
  if (follower)
    spdlog::info("worker {}: reading under the coordinator's snapshot {}", j.worker, j.snapshot);
  else if (resuming)
    spdlog::info(
        "resuming the job in {}: copied chunks are skipped; the previous snapshot ended "
        "with its process, so this run reads under a fresh snapshot ({})",
        opts.state_dir.string(), j.snapshot);
  else
    spdlog::info("source snapshot {}", j.snapshot);

  co_await bulk::set_lock_timeout(opts, holder);
  std::vector<table_info> tables;
  bool locked = false;
  try {
    tables = co_await discover_tables(holder, make_filter(opts));
  } catch (const pg::error& e) {
    // Table sizes take a lock for an instant: a table locked elsewhere stops the discovery.
    if (e.diag().sqlstate != "55P03") throw;
    locked = true;
  }
  if (locked) {
    // Not in one expression with the co_await: GCC 12 mishandles temporaries there.
    const std::string names = co_await bulk::locked_tables(holder);
    throw bulk::locked_error(names, bulk::lock_timeout(opts));
  }
  if (tables.empty())
    throw usage_error("no source table matches --tables/--exclude: nothing to copy");
  co_await check_source_tables(holder, tables);
  co_await bulk::lock_source_tables(opts, holder, tables);
  std::vector<planned_table> plan;
  if (resuming || follower) {
    plan = j.state.load_plan();
  } else {
    plan = co_await make_plan(holder, tables, opts);
    j.state.save_plan(plan);
  }
  auto indexes = co_await bulk::list_indexes(holder, tables);
  const auto text_tables = co_await bulk::text_copy_tables(holder, tables);
  if (resuming && !opts.restart && !follower)
    co_await bulk::check_target_matches_state(j, dst, pf.target_tables.empty(), plan);

  // Schema before data (pg_restore --single-transaction: all or nothing, when it fits).
  {
    pg::result locks = co_await dst.query(
        "select current_setting('max_locks_per_transaction')::bigint * "
        "(current_setting('max_connections')::bigint + "
        "current_setting('max_prepared_transactions')::bigint)");
    if (locks.ok()) j.lock_budget = std::stoll(std::string(locks.value(0, 0)));
  }
  if (!follower &&
      (j.state.get("phase.pre_data") != "done" || !std::filesystem::exists(j.dump_file))) {
    spdlog::debug("pg_dump of the schema: starting");
    co_await bulk::dump_schema(j, tables, holder);
    spdlog::debug("pg_dump of the schema: done");
  }
  if (j.state.get("phase.pre_data") != "done") {
    if (resuming && !opts.restart && !pf.target_tables.empty())
      throw usage_error(fmt::format(
          "the schema restore of the job in {} did not finish (was the process killed?), yet the "
          "target has tables ({}...): run the same command with --restart to restore the "
          "schema from scratch",
          opts.state_dir.string(), pf.target_tables.front()));
    spdlog::info("restoring the schema (pre-data) on the target");
    co_await bulk::restore_section(j, "pre-data", opts.restart, {});
    j.state.put("phase.pre_data", "done");
  }
  spdlog::debug("pre-data restored");
  co_await bulk::prepare_target(dst, opts.restart && !follower);
  if (j.leased && j.coord.coordinator()) {
    publish_plan(j);
    // Tests: a coordinator that dies mid-copy (copy.debug.exit_mid_chunk) once its workers are in.
    co_await debug_wait_workers(j.state, j.rt, opts);
  }
  auto marks = co_await bulk::target_done_marks(dst);

  // Work lists: chunks not marked done on the target, in plan order.
  std::map<std::pair<std::string, std::string>, const table_info*> by_name;
  for (const auto& t : tables)
    by_name[{t.schema, t.name}] = &t;
  for (const auto& p : plan) {
    auto it = by_name.find({p.schema, p.name});
    if (it == by_name.end()) {
      co_await bulk::leave_out(j, holder, p);
      continue;
    }
    auto w = std::make_unique<bulk::table_work>();
    w->info = *it->second;
    w->plan = p;
    if (auto ix = indexes.find(w->info.oid); ix != indexes.end()) w->indexes = ix->second;
    if (auto tt = text_tables.find(w->info.oid); tt != text_tables.end()) {
      w->text_copy = true;
      spdlog::info(
          "table {}: copied in text format (type {} has no binary form another server reads back "
          "the same)",
          w->info.display(), tt->second);
    }
    for (const auto& ix : w->indexes)
      j.state.add_index(p.schema, p.name, ix.name, ix.kind);
    j.tables.push_back(std::move(w));
  }
  std::size_t to_copy = 0;
  for (auto& w : j.tables) {
    for (const auto& c : w->plan.chunks) {
      if (marks.count({w->info.schema, w->info.name, c.chunk_no})) {
        w->done_chunks.insert(c.chunk_no);
        continue;
      }
      ++w->chunks_left;
    }
    to_copy += static_cast<std::size_t>(w->chunks_left);
    // Workers: their tails finish such a table (one of them, under its finish lock).
    if (w->chunks_left == 0 && !j.leased &&
        j.state.get_table_status(w->info.schema, w->info.name) != table_status::done) {
      std::lock_guard lk(j.m);
      bulk::table_data_done(j, *w, j.elapsed());
    }
  }
  spdlog::info("{} tables, {} chunks to copy", j.tables.size(), to_copy);
  {
    const job_status st = j.state.status_snapshot();
    // By name: a scan of every row per table took minutes at 10 000 tables.
    std::map<std::pair<std::string_view, std::string_view>, const table_row*> rows;
    for (const auto& row : st.tables)
      rows.emplace(std::pair<std::string_view, std::string_view>(row.schema, row.name), &row);
    for (auto& w : j.tables) {
      w->progress =
          &j.prog.add_table(w->info.schema, w->info.name, w->info.bytes, w->info.rows_estimate,
                            static_cast<int>(w->plan.chunks.size()));
      auto it = rows.find({w->info.schema, w->info.name});
      if (it == rows.end()) continue;
      const table_row& row = *it->second;
      const int done = static_cast<int>(w->plan.chunks.size()) - w->chunks_left;
      w->progress->resume_from(done, row.rows_copied, row.bytes_copied);
      w->rows += row.rows_copied;
      w->bytes += row.bytes_copied;
    }
  }
  progress_reporter reporter(j.prog, reporter_opts);

  const std::size_t jobs = static_cast<std::size_t>(opts.jobs > 0 ? opts.jobs : 4);
  const std::size_t index_jobs =
      static_cast<std::size_t>(opts.index_jobs > 0 ? opts.index_jobs : 2);
  co_await run_workers(j, jobs, index_jobs);
  spdlog::debug("copies and index builds done");
  reporter.stop();
  if (j.leased) {
    co_await finish_job(j, holder, dst, tables, indexes, failed_tables);
    co_await holder.close();
    co_await dst.close();
    co_return;
  }
  if (!j.rt.stop_token().stop_requested()) co_await bulk::copy_large_objects(j, holder);
  (void)co_await holder.query("COMMIT");  // releases the snapshot

  for (auto& w : j.tables)
    if (w->failed) failed_tables.push_back(w->info.display() + ": " + w->error);
  if (j.rt.stop_token().stop_requested()) co_return;

  co_await finish_schema(j, holder, dst, indexes, failed_tables);
  co_await holder.close();
  co_await dst.close();
}

void print_totals(const job& j, double secs) {
  std::int64_t rows = 0, bytes = 0;
  for (const auto& w : j.tables) {
    rows += w->rows;
    bytes += w->bytes;
  }
  std::printf("wall time %.2fs: %lld rows, %s MB (%.0f rows/s, %.1f MB/s)\n", secs,
              static_cast<long long>(rows), mb(bytes).c_str(), rows / std::max(secs, 1e-9),
              bytes / 1e6 / std::max(secs, 1e-9));
}

/// The objects that are not table rows: one line each, when there are any.
void print_objects(const job& j) {
  const auto& o = j.objects;
  if (o.large_objects_skipped)
    std::printf("large objects: %lld on the source, not copied (large objects skipped)\n",
                static_cast<long long>(o.large_objects));
  else if (o.large_objects > 0)
    std::printf("large objects: %lld on the source, %lld copied by this run (%s MB)\n",
                static_cast<long long>(o.large_objects),
                static_cast<long long>(o.large_objects_copied), mb(o.large_object_bytes).c_str());
  if (o.matviews_refreshed + o.matviews_unpopulated > 0)
    std::printf("materialized views: %d refreshed, %d left unpopulated (as on the source)\n",
                o.matviews_refreshed, o.matviews_unpopulated);
  std::fflush(stdout);
}

}  // namespace

int bulk::run(const job_spec& opts) {
  // Bad URLs: usage errors before anything is created.
  (void)pg_endpoints(opts, not_postgres);
  const state_location at = state_location_of(opts);
  const bool workers = !at.url.empty();
  check_worker_flag(opts, workers);
  state_store state = state_store::open(at);
  if (opts.restart && workers && live_coordinator(state)) {
    spdlog::info("--restart: not applied, the job's workers are running (this one joins them)");
  } else if (opts.restart) {
    const auto id = state.get("bulk.job_id");  // still the tag of what a killed run left
    state.reset();
    if (id) state.put("bulk.job_id", *id);
  }
  io::runtime rt(0);
  return run_phase(opts, state, rt, {}, workers);
}

int bulk::run_phase(const job_spec& opts, state_store& state, io::runtime& rt,
                    const std::string& imported_snapshot, bool workers) {
  const auto endpoints = pg_endpoints(opts, not_postgres);
  const codecs::endpoint& source = endpoints.first;
  const codecs::endpoint& target = endpoints.second;
  const reporter_options reporter_opts = make_reporter_options(opts);
  const bool resuming = state.has_plan();
  job j(opts, source, target, rt, state);
  j.imported_snapshot = imported_snapshot;
  j.dump_file = opts.state_dir / "schema.dump";
  // The job's tag on its sessions: kept across resumes, so a resume finds what a killed run left.
  if (auto id = state.get("bulk.job_id"); id) {
    j.app_name = "uringmig-" + *id;
  } else {
    const std::string fresh = fmt::format("{:08x}", std::random_device{}());
    state.put("bulk.job_id", fresh);
    j.app_name = "uringmig-" + fresh;
  }
  j.retries = std::max(1, opts.config.bulk.retries);
  const std::int64_t run_id = state.begin_run({opts.command,
                                               opts.preset,
                                               codecs::redacted_url(source),
                                               codecs::redacted_url(target),
                                               {},
                                               workers});
  j.run_id = run_id;
  j.leased = workers;
  if (workers) j.worker = worker_name(opts, run_id);

  std::vector<std::string> failed;
  std::string error;
  bool usage = false;
  try {
    rt.run([&]() -> asio::awaitable<void> {
      io::deadline deadline(rt, opts.max_runtime);
      co_await bulk_main(j, resuming, reporter_opts, failed);
    }());
  } catch (const usage_error& e) {
    error = e.what();
    usage = true;
  } catch (const job_error& e) {
    error = e.what();
  } catch (const pg::error& e) {
    error = e.diag().to_string();
  }
  if (!error.empty()) {
    // The run ended on an error: a table it was copying or indexing did not finish either.
    for (const auto& w : j.tables) {
      const auto st = state.get_table_status(w->info.schema, w->info.name);
      if (st == table_status::copying || st == table_status::indexing)
        state.set_table_status(w->info.schema, w->info.name, table_status::failed,
                               "the run stopped: " + error);
    }
  }
  if (!j.tables.empty()) {
    std::cout.flush();
    auto rows = summarize(state.status_snapshot());
    for (auto& r : rows)
      if (j.excluded.count(r.table)) r.status = "excluded";
    print_summary(std::cout, rows);
    std::cout.flush();
    print_totals(j, j.elapsed());
    print_objects(j);
    if (j.coord.inconsistent())
      std::printf(
          "snapshot: not consistent (the coordinator ended; this worker went on under fresh "
          "snapshots: --allow-inconsistent)\n");
    if (!j.post_data_skipped.empty())
      std::printf("not restored yet (depends on a failed table): %s\n",
                  bulk::join_names(j.post_data_skipped).c_str());
  }
  if (!error.empty()) {
    state.end_run(run_id, run_status::failed, error);
    if (usage) throw usage_error(error);
    throw job_error(error);
  }
  if (const std::string lost = j.coord.lost(); !lost.empty()) {
    state.end_run(run_id, run_status::interrupted, lost);
    throw job_error(lost);
  }
  if (rt.stop_token().stop_requested()) {
    const std::string msg = rt.stop_reason() +
                            ": in-flight chunks finished or rolled back, state saved; resume with "
                            "the same command";
    state.end_run(run_id, run_status::interrupted, msg);
    throw job_error(msg);
  }
  if (!failed.empty()) {
    std::string names;
    for (const auto& f : failed)
      names += (names.empty() ? "" : "; ") + f;
    const std::string waiting =
        j.post_data_skipped.empty()
            ? std::string()
            : fmt::format("; {} post-data object(s) that depend on them wait for them ({})",
                          j.post_data_skipped.size(), bulk::join_names(j.post_data_skipped));
    const std::string msg = fmt::format(
        "{} table(s) failed ({}); the others are copied{}; fix the "
        "cause and run the same command to retry them",
        failed.size(), names, waiting);
    state.end_run(run_id, run_status::failed, msg);
    throw job_error(msg);
  }
  state.end_run(run_id, run_status::done, "");
  return 0;
}

int bulk::plan(const job_spec& opts) {
  // Not a structured binding: the coroutine below captures them (clang 14, which clang-tidy
  // uses, cannot capture a structured binding).
  const auto endpoints = pg_endpoints(opts, not_postgres);
  const codecs::endpoint& source = endpoints.first;
  const codecs::endpoint& target = endpoints.second;
  auto existing = state_store::open_existing(state_location_of(opts));
  const bool resuming = existing && existing->has_plan() && !opts.restart;
  io::runtime rt(0);
  rt.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto src = co_await connect_endpoint(ex, source, "source");
    auto dst = co_await connect_endpoint(ex, target, "target");
    const preflight pf = co_await check(opts, target, src, dst);
    std::printf("source: %s (PostgreSQL %s)\n", codecs::redacted_url(source).c_str(),
                version_text(pf.source_version).c_str());
    std::printf("target: %s (PostgreSQL %s)\n", codecs::redacted_url(target).c_str(),
                version_text(pf.target_version).c_str());
    std::printf("pg_dump/pg_restore: %s\n", pf.bin_dir.c_str());
    std::printf("%s", settings_summary(opts.settings).c_str());
    if (!resuming && !opts.restart && !pf.target_tables.empty())
      throw usage_error("the target database is not empty (it has " + pf.target_tables.front() +
                        "...): use an empty database, or --restart to replace what is there");
    auto tables = co_await discover_tables(src, make_filter(opts));
    if (tables.empty())
      throw usage_error("no source table matches --tables/--exclude: nothing to copy");
    co_await check_source_tables(src, tables);
    std::set<std::string> done;
    std::vector<planned_table> plan;
    if (resuming) {
      plan = existing->load_plan();
      for (const auto& p : plan)
        if (existing->done_chunks(p.schema, p.name).size() == p.chunks.size())
          done.insert(p.schema + "." + p.name);
      std::printf(
          "state: resuming the job in %s; copied chunks are skipped and the data is read "
          "under a fresh snapshot (snapshots do not survive a restart)\n",
          opts.state_dir.c_str());
    } else {
      plan = co_await make_plan(src, tables, opts);
      std::printf("state: a new job%s; data is read under one snapshot exported at the start\n",
                  opts.restart ? " (--restart: the target's copies are replaced)" : "");
    }
    print_plan(plan, done);
    std::printf("%s", (co_await bulk::plan_objects(opts, src)).c_str());
    co_await src.close();
    co_await dst.close();
  }());
  return 0;
}

}  // namespace uringmig::engine
