// `uringmig run --preset incremental` and its plan: check every entry, open (or resume) each
// table's window on the target, load the chunks on the chunk runner, rebuild dropped indexes,
// report.

#include "codecs/sql_text.hpp"
#include "codecs/url.hpp"
#include "connectors/postgres/error.hpp"
#include "engine/core/chunk_runner.hpp"
#include "engine/core/config_keys.hpp"
#include "engine/core/pg_session.hpp"
#include "engine/core/progress.hpp"
#include "engine/core/state_store.hpp"
#include "engine/core/workers.hpp"
#include "engine/incremental/doris_target.hpp"
#include "engine/incremental/incremental.hpp"
#include "engine/incremental/load.hpp"
#include "engine/incremental/outcome.hpp"
#include "engine/incremental/snowflake_source.hpp"
#include "engine/incremental/windows.hpp"
#include "io/deadline.hpp"
#include "io/runtime.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/this_coro.hpp>

#include <iostream>
#include <thread>

namespace uringmig::engine {

namespace asio = boost::asio;
namespace pg = connectors::postgres;

namespace incremental {

namespace {

struct context {
  context(const job_spec& s, io::runtime& r, std::int64_t rows)
      : spec(s), rt(r), chunk_rows(rows), restart(s.restart) {}
  const job_spec& spec;
  io::runtime& rt;
  std::int64_t chunk_rows = 0;
  bool restart = false;  // --restart, when it applies (not while the job's workers run)
  worker_role w;
  std::unique_ptr<source> src;
  std::optional<pg::connection> target;
  std::vector<table_plan> plans;
};

/// Every entry checked against both sides (again: a worker that joined after its coordinator
/// created missing target tables).
asio::awaitable<void> check_entries(context& cx) {
  cx.plans.clear();
  const auto entries = pick_entries(read_entries(cx.spec.settings), cx.spec.tables);
  for (const auto& e : entries)
    cx.plans.push_back(co_await check_entry(e, *cx.src, *cx.target));
  for (std::size_t i = 0; i < cx.plans.size(); ++i)
    for (std::size_t k = 0; k < i; ++k)
      if (cx.plans[i].target_name == cx.plans[k].target_name)
        throw usage_error(fmt::format("{} and {} load the same target table {}",
                                      cx.plans[k].entry.label(), cx.plans[i].entry.label(),
                                      codecs::printable(cx.plans[i].target_name)));
}

asio::awaitable<void> open_sides(context& cx) {
  auto ex = co_await asio::this_coro::executor;
  cx.src = co_await open_source(cx.spec, cx.rt.stop_token());
  cx.target.emplace(
      co_await connect_endpoint(ex, cx.spec.target_endpoint(), "target", "uringmig incremental"));
  co_await apply_settings(*cx.target, text_profile::portable, "setting up the target session");
  co_await check_entries(cx);
}

asio::awaitable<void> close_sides(context& cx) {
  if (cx.src) co_await cx.src->close();
  if (cx.target) co_await cx.target->close();
}

/// Creates missing target tables, opens or resumes every window.
asio::awaitable<void> prepare_tables(context& cx, load_job& j, std::int64_t run_id) {
  for (std::size_t i = 0; i < cx.plans.size(); ++i) {
    auto t = std::make_unique<run_table>();
    t->plan = std::move(cx.plans[i]);
    table_plan& p = t->plan;
    if (!p.create_sql.empty()) {
      spdlog::info("{}: creating the target table: {}", codecs::printable(p.target_name),
                   codecs::printable(p.create_sql));
      (co_await cx.target->query(p.create_sql)).check("creating target table " + p.target_name);
      p.tgt = co_await describe_target(*cx.target, p.entry.target);
    }
    if (!p.skipped.empty())
      spdlog::warn("{}: source column(s) not on the target, skipped: {}",
                   codecs::printable(p.target_name),
                   codecs::printable(fmt::format("{}", fmt::join(p.skipped, ", "))));
    (void)co_await rebuild_indexes(*cx.target, p.target_name);
    if (!co_await resume_window(*cx.target, *t, run_id, cx.restart)) {
      t->window =
          co_await open_window(p, *cx.src, cx.chunk_rows, cx.spec.jobs > 0 ? cx.spec.jobs : 2);
      warn_if_backwards(p, t->window);
      co_await create_window(*cx.target, *t, run_id);
    } else {
      spdlog::info("{}: resuming its unfinished run ({} of {} chunks done)",
                   codecs::printable(p.target_name), t->done.size(), t->window.chunks.size());
    }
    prepare_sql(*t, i);
    t->planned = runner_chunks(t->window);
    j.tables.push_back(std::move(t));
  }
}

/// A worker that joined a round: the windows its coordinator opened (the table runs it
/// published), never one of its own.
asio::awaitable<void> take_tables(context& cx, load_job& j, const state_store& state) {
  for (std::size_t i = 0; i < cx.plans.size(); ++i) {
    auto t = std::make_unique<run_table>();
    t->plan = std::move(cx.plans[i]);
    const std::string id = published(state, "incremental.table_run." + t->plan.target_name);
    if (id.empty())
      throw usage_error(fmt::format(
          "{}: not a table job {} loads: start every worker of a job with the same --config",
          codecs::printable(t->plan.target_name), state.where()));
    co_await load_window(*cx.target, *t, std::stoll(id));
    prepare_sql(*t, i);
    t->planned = runner_chunks(t->window);
    j.tables.push_back(std::move(t));
  }
}

/// Workers: the first to arrive coordinates (opens the windows on the target, below); the
/// others take its windows once it published them.
asio::awaitable<void> join_job(context& cx, state_store& state, std::optional<std::int64_t>& run_id,
                               std::optional<std::int64_t>& target_run) {
  cx.w = co_await join_round(state, cx.rt, cx.spec, cx.src->description(), run_id);
  cx.restart = cx.restart && cx.w.coordinator;
  bool created = false;
  for (const auto& p : cx.plans)
    created = created || !p.create_sql.empty();
  if (cx.w.coordinator) {
    co_await ensure_state_schema(*cx.target);
  } else if (created) {
    co_await check_entries(cx);  // its coordinator created the missing target tables
  }
  target_run =
      co_await begin_target_run(*cx.target, cx.src->description(), state.where(), cx.w.coordinator);
}

/// Workers: a table whose chunks are all in gets its dropped indexes rebuilt and its done
/// status once, by whichever worker takes its finish lock (also one whose finisher died).
asio::awaitable<void> finish_pg_tables(context& cx, state_store& state, load_job& j) {
  auto find = [&j](const table_row& r) -> run_table* {
    for (const auto& x : j.tables)
      if (x->plan.tgt.schema == r.schema && x->plan.tgt.name == r.name) return x.get();
    return nullptr;
  };
  co_await finish_tables(
      state, cx.rt, [&](const table_row& r) { return find(r) != nullptr; },
      [&](const table_row& r) -> asio::awaitable<void> {
        const run_table& t = *find(r);
        const int rebuilt = co_await rebuild_indexes(*cx.target, t.plan.target_name);
        spdlog::info("{}: finished by worker {} ({} dropped index(es) rebuilt)",
                     codecs::printable(t.plan.target_name), cx.w.name, rebuilt);
      });
}

/// The state store's mirror: the plan (the windows) and the chunks the target has done.
void mirror_state(state_store& state, const load_job& j) {
  std::vector<std::string> parts;
  std::vector<planned_table> plan;
  for (const auto& t : j.tables) {
    parts.push_back(fmt::format("{}#{}", t->plan.target_name, t->table_run_id));
    planned_table pt{t->plan.tgt.schema, t->plan.tgt.name, 0, t->window.rows_estimate, t->planned};
    plan.push_back(std::move(pt));
  }
  save_windows_plan(state, parts, plan);
  for (const auto& t : j.tables) {
    const auto have = state.done_chunks(t->plan.tgt.schema, t->plan.tgt.name);
    for (const int c : t->done)
      if (have.count(c) == 0)
        state.mark_chunk_done(t->plan.tgt.schema, t->plan.tgt.name, c, 0, 0, 0);
    state.put("incremental.mark." + t->plan.target_name, t->plan.mark.value_or(""));
  }
}

asio::awaitable<outcome> load_all(context& cx, state_store& state, progress& prog,
                                  std::int64_t run_id) {
  load_job j;
  j.src = cx.src.get();
  j.target = cx.spec.target_endpoint();
  j.rt = &cx.rt;
  j.rejects_dir = cx.spec.state_dir / "rejects";
  j.exit_after_commit = cx.spec.config.bulk.exit_mid_chunk;
  if (cx.w.coordinator) {
    co_await prepare_tables(cx, j, run_id);
    mirror_state(state, j);
    if (cx.w.on) {
      std::vector<std::pair<std::string, std::string>> runs;
      for (const auto& t : j.tables)
        runs.emplace_back("incremental.table_run." + t->plan.target_name,
                          std::to_string(t->table_run_id));
      // Tests: the workers are in before any can take a chunk (the coordinator takes the first).
      co_await wait_for_workers(state, cx.rt, cx.spec);
      publish_plan(state, cx.w.run, std::move(runs));
    }
  } else {
    co_await take_tables(cx, j, state);
  }
  std::vector<chunk_table> todo;
  for (std::size_t i = 0; i < j.tables.size(); ++i) {
    run_table& t = *j.tables[i];
    const auto& tg = t.plan.tgt;
    t.progress = &prog.add_table(tg.schema, tg.name, 0, t.window.rows_estimate,
                                 static_cast<int>(t.planned.size()));
    chunk_table ct;
    ct.id = i;
    ct.schema = tg.schema;
    ct.name = tg.name;
    ct.display = codecs::printable(t.plan.target_name);
    ct.bytes = t.window.rows_estimate;
    ct.progress = t.progress;
    for (const auto& c : t.planned)
      ct.chunks.push_back(&c);
    ct.done = t.done;
    const bool all_in = ct.done.size() == ct.chunks.size();
    if (all_in && !cx.w.on) {
      state.set_table_status(tg.schema, tg.name, table_status::done);
      t.progress->set_phase(table_phase::done);
      continue;
    }
    // Workers: the claims map onto every table; one whose chunks are all in is finished below.
    if (!all_in && cx.w.coordinator)
      state.set_table_status(tg.schema, tg.name, table_status::copying);
    todo.push_back(std::move(ct));
  }
  const auto path = make_load_path(j);
  outcome out;
  out.interrupted = !co_await run_chunks(*path, state, prog, std::move(todo), cx.spec, cx.rt,
                                         leases_of(cx.w, cx.spec));
  if (cx.w.on && !out.interrupted) co_await finish_pg_tables(cx, state, j);
  for (const auto& t : j.tables) {
    const auto& tg = t->plan.tgt;
    if (t->failed) {
      // The table run stays 'running' (the next run resumes it); the views show why it stopped.
      (void)co_await cx.target->query(
          "UPDATE uringmig.table_runs SET error = $2 WHERE table_run_id = $1",
          pg::make_params(std::to_string(t->table_run_id), t->error));
    }
    if (!cx.w.on && !t->failed && !out.interrupted) {
      (void)co_await rebuild_indexes(*cx.target, t->plan.target_name);
      state.set_table_status(tg.schema, tg.name, table_status::done);
    }
    out.rejected += t->rows_rejected;
    // The mirror of the target's mark, as it stands now (moved only by a finished window).
    const auto mark = co_await stored_mark(*cx.target, t->plan.target_name);
    state.put("incremental.mark." + t->plan.target_name, mark.value_or(""));
    state.put("incremental.rejected." + t->plan.target_name, std::to_string(t->rows_rejected));
    // A worker's mark after is the target's: another worker may finish the window.
    print_table_summary({t->plan.target_name, t->rows_read, t->rows_upserted, t->rows_deleted,
                         t->rows_rejected, t->plan.mark, cx.w.on ? mark : t->window.next_mark,
                         t->failed, cx.w.on});
  }
  std::fflush(stdout);
  if (cx.w.on)
    add_others_failures(
        state,
        [&j](const table_row& r) {
          for (const auto& t : j.tables)
            if (t->failed && t->plan.tgt.schema == r.schema && t->plan.tgt.name == r.name)
              return true;
          return false;
        },
        j.failures);
  if (out.rejected > 0) state.put("incremental.rejected", std::to_string(out.rejected));
  throw_if_tables_failed(j.failures);
  co_return out;
}

}  // namespace

asio::awaitable<std::unique_ptr<source>> open_source(const job_spec& spec, std::stop_token stop) {
  const codecs::endpoint& s = spec.source_endpoint();
  if (s.kind() == codecs::endpoint_kind::postgres) co_return co_await open_pg_source(s);
  if (s.kind() == codecs::endpoint_kind::sqlite)
    co_return open_sqlite_source(std::get<codecs::sqlite_endpoint>(s.spec));
  if (s.kind() == codecs::endpoint_kind::snowflake)
    co_return co_await open_snowflake_source(std::get<codecs::snowflake_endpoint>(s.spec),
                                             spec.settings, std::move(stop));
  throw usage_error(
      "--source: incremental loads read from PostgreSQL, one SQLite file or Snowflake");
}

bool is_job(const job_spec& spec) {
  return spec.preset == "incremental" || has_entries(spec.settings);
}

int plan(const job_spec& spec) {
  if (spec.target_endpoint().kind() == codecs::endpoint_kind::doris) return plan_doris(spec);
  io::runtime rt(1);
  const std::int64_t chunk_rows = integer_setting(spec.settings, "incremental.chunk_rows");
  if (read_entries(spec.settings).empty())
    throw usage_error("an incremental job needs [[tables]] entries in its --config file");
  rt.run([&]() -> asio::awaitable<void> {
    context cx{spec, rt, chunk_rows};
    std::exception_ptr error;
    try {
      co_await open_sides(cx);
      co_await print_plans(*cx.src, cx.plans, chunk_rows, spec.jobs > 0 ? spec.jobs : 2,
                           spec.settings);
    } catch (...) {
      error = std::current_exception();
    }
    co_await close_sides(cx);
    if (error) std::rethrow_exception(error);
  }());
  return 0;
}

std::size_t runtime_threads(const job_spec& spec) {
  const std::size_t workers = static_cast<std::size_t>(spec.jobs > 0 ? spec.jobs : 2);
  return 1 + std::min<std::size_t>(workers, std::max(1u, std::thread::hardware_concurrency()));
}

run_state open_run_state(const job_spec& spec) {
  const state_location at = state_location_of(spec);
  const bool shared = !at.url.empty();  // one of several workers on the job
  check_worker_flag(spec, shared);
  run_state rs{state_store::open(at), shared, false};
  rs.restart = spec.restart && !(shared && live_coordinator(rs.state));
  if (spec.restart && !rs.restart)
    spdlog::info("--restart: not applied, the job's workers are running (this one joins them)");
  return rs;
}

int run(const job_spec& spec) {
  if (spec.target_endpoint().kind() == codecs::endpoint_kind::doris) return run_doris(spec);
  if (read_entries(spec.settings).empty())
    throw usage_error("an incremental job needs [[tables]] entries in its --config file");
  const std::int64_t chunk_rows = integer_setting(spec.settings, "incremental.chunk_rows");
  io::runtime rt(runtime_threads(spec));
  run_state rs = open_run_state(spec);
  state_store& state = rs.state;
  const bool shared = rs.shared;
  const bool restart = rs.restart;
  if (restart) state.reset();
  progress prog;
  std::optional<std::int64_t> run_id;
  std::optional<std::int64_t> target_run;
  outcome out;
  std::string error;
  bool usage = false;
  // Said once, when it happens: the chunks in flight finish, no other starts.
  const std::stop_callback on_stop(rt.stop_token(), [&rt] {
    spdlog::info("stopping ({}): the chunks in flight finish, no other starts", rt.stop_reason());
  });
  rt.run([&]() -> asio::awaitable<void> {
    io::deadline deadline(rt, spec.max_runtime);
    context cx{spec, rt, chunk_rows};
    cx.restart = restart;
    try {
      co_await open_sides(cx);  // every check before anything is written
      if (shared) {
        co_await join_job(cx, state, run_id, target_run);
      } else {
        co_await ensure_state_schema(*cx.target);
        run_id = state.begin_run({spec.command, "incremental", cx.src->description(),
                                  codecs::redacted_url(spec.target_endpoint()), std::nullopt});
        target_run =
            co_await begin_target_run(*cx.target, cx.src->description(), spec.state_dir.string());
      }
      out = co_await load_all(cx, state, prog, *target_run);
    } catch (const usage_error& e) {
      usage = true;
      error = e.what();
    } catch (const pg::error& e) {
      error = e.diag().to_string();
    } catch (const std::exception& e) {
      error = e.what();
    }
    if (target_run && cx.target && cx.target->is_open()) {
      const std::string status = !error.empty()    ? "failed"
                                 : out.interrupted ? "interrupted"
                                                   : "done";
      try {
        co_await end_target_run(*cx.target, *target_run, status, error);
      } catch (const std::exception& e) {
        spdlog::warn("could not record the run's end on the target: {}", e.what());
      }
    }
    co_await close_sides(cx);
  }());
  return end_run(state, run_id, error, usage, out, rt, spec.state_dir);
}

asio::awaitable<bool> run_chunks(chunk_path& path, state_store& state, progress& prog,
                                 std::vector<chunk_table> todo, const job_spec& spec,
                                 io::runtime& rt, std::optional<chunk_leases> leases) {
  chunk_runner_options o;
  o.workers = static_cast<std::size_t>(spec.jobs > 0 ? spec.jobs : 2);
  o.attempts = 3;
  o.prefix_chunk = false;
  o.stop = rt.stop_token();
  o.leases = std::move(leases);
  chunk_runner runner(path, state, prog, std::move(todo), std::move(o));
  progress_reporter reporter(prog, make_reporter_options(spec));
  std::exception_ptr error;
  try {
    co_await runner.run();
  } catch (...) {
    error = std::current_exception();
  }
  reporter.stop();
  if (error) std::rethrow_exception(error);
  co_return runner.complete();
}

asio::awaitable<worker_role> join_round(state_store& state, io::runtime& rt, const job_spec& spec,
                                        const std::string& source,
                                        std::optional<std::int64_t>& run_id) {
  run_id = state.begin_run({spec.command, "incremental", source,
                            codecs::redacted_url(spec.target_endpoint()), std::nullopt, true});
  worker_role w;
  w.on = true;
  w.run = *run_id;
  w.name = worker_name(spec, *run_id);
  const worker_round r =
      co_await join_workers(state, rt, *run_id, w.name,
                            definition_of(spec, spec.source_endpoint(), spec.target_endpoint()),
                            true);  // no snapshot of the coordinator's: its round goes on
  w.coordinator = r.coordinator;
  co_return w;
}

std::optional<chunk_leases> leases_of(const worker_role& w, const job_spec& spec) {
  if (!w.on) return std::nullopt;
  chunk_leases l;
  l.worker = w.name;
  l.lease = std::chrono::seconds(spec.config.bulk.lease_s);
  return l;
}

asio::awaitable<void> finish_tables(
    state_store& state, io::runtime& rt, const std::function<bool(const table_row&)>& mine,
    const std::function<asio::awaitable<void>(const table_row&)>& finish) {
  co_await finish_others(state, rt, [&](const table_row& r) -> asio::awaitable<bool> {
    if (!mine(r)) co_return false;
    if (!claim_table_finish(state, r.schema, r.name)) co_return true;
    std::exception_ptr error;
    try {
      co_await finish(r);
      state.set_table_status(r.schema, r.name, table_status::done);
    } catch (...) {
      error = std::current_exception();
    }
    release_table_finish(state, r.schema, r.name);
    if (error) std::rethrow_exception(error);
    co_return true;
  });
}

void add_others_failures(const state_store& state,
                         const std::function<bool(const table_row&)>& failed_here,
                         std::vector<std::string>& failures) {
  for (const auto& r : state.status_snapshot().tables)
    if (r.status == "failed" && !failed_here(r))
      failures.push_back(fmt::format("{}.{} (another worker): {}", r.schema, r.name, r.error));
}

asio::awaitable<void> print_plans(source& src, const std::vector<table_plan>& plans,
                                  std::int64_t chunk_rows, int workers,
                                  const std::map<std::string, std::string>& settings) {
  std::cout << "source " << src.description() << "\n";
  for (const auto& p : plans) {
    const auto w = co_await open_window(p, src, chunk_rows, workers);
    std::cout << describe_plan(p, w);
  }
  std::cout << settings_summary(settings);
  std::cout.flush();
}

std::vector<planned_chunk> runner_chunks(const table_window& w) {
  std::vector<planned_chunk> out;
  for (const auto& c : w.chunks) {
    planned_chunk pc;
    pc.chunk_no = c.chunk_no;
    pc.kind = chunk_kind::explicit_range;
    pc.lower = c.range.lower;
    pc.upper = c.range.upper;
    pc.where_sql = c.kind;
    out.push_back(std::move(pc));
  }
  return out;
}

void warn_if_backwards(const table_plan& p, const table_window& w) {
  if (!w.backwards) return;
  spdlog::warn(
      "{}: watermark {} moved backwards: the source's largest value {} is below the stored mark "
      "{}; the mark stays (rows rewritten with older values are read only within lookback)",
      codecs::printable(p.target_name), codecs::printable(p.entry.watermark),
      codecs::printable(w.largest.value_or("")), codecs::printable(p.mark.value_or("")));
}

void save_windows_plan(state_store& state, const std::vector<std::string>& parts,
                       const std::vector<planned_table>& plan) {
  const std::string fp = fingerprint(parts);
  if (state.get("incremental.windows") == fp) return;
  state.save_plan(plan);
  state.put("incremental.windows", fp);
}

void print_table_summary(const table_summary& t) {
  std::printf(
      "%s: %lld rows read, %lld upserted, %lld deleted, %lld rejected; watermark %s -> %s%s%s\n",
      codecs::printable(t.target_name).c_str(), static_cast<long long>(t.read),
      static_cast<long long>(t.upserted), static_cast<long long>(t.deleted),
      static_cast<long long>(t.rejected),
      codecs::printable(t.mark_before.value_or("(none)")).c_str(),
      codecs::printable(t.mark_after.value_or("(none)")).c_str(),
      t.by_worker ? " (this worker's chunks)" : "", t.failed ? " FAILED" : "");
}

void throw_if_tables_failed(const std::vector<std::string>& failures) {
  if (failures.empty()) return;
  throw job_error(
      fmt::format("{} table(s) failed (first: {}); fix the cause and run the same "
                  "command: done chunks are kept",
                  failures.size(), failures.front()));
}

int end_run(state_store& state, std::optional<std::int64_t> run_id, const std::string& error,
            bool usage, const outcome& out, io::runtime& rt,
            const std::filesystem::path& state_dir) {
  if (!error.empty()) {
    if (run_id) state.end_run(*run_id, run_status::failed, error);
    if (usage) throw usage_error(error);
    throw job_error(error);
  }
  if (out.interrupted || rt.stop_token().stop_requested()) {
    const std::string msg =
        (rt.stop_reason().empty() ? std::string("stopped") : rt.stop_reason()) +
        ": chunks in flight finished, state saved; resume with the same command";
    state.end_run(*run_id, run_status::interrupted, msg);
    throw job_error(msg);
  }
  if (out.rejected > 0) {
    const std::string msg = fmt::format("{} row(s) rejected by the target: see {}", out.rejected,
                                        (state_dir / "rejects").string());
    state.end_run(*run_id, run_status::done, msg);
    spdlog::warn("{}", msg);
    return 3;
  }
  state.end_run(*run_id, run_status::done, "");
  return 0;
}

}  // namespace incremental

}  // namespace uringmig::engine
