// `plan` and `run --preset incremental` into Doris: every entry checked against the source and
// the Doris table first, each table's window opened (or resumed) in the state store, the chunks
// loaded on the chunk runner, the summary and the exit code (0; 3 when Doris filtered rows).
// With a shared state (--state-url) one of several workers: the coordinator opens the windows,
// the others take the published ones, chunks come from the state's leases and the table's mark
// moves once, under its finish lock, when the state has every chunk of the window done.

#include "codecs/sql_text.hpp"
#include "connectors/postgres/error.hpp"
#include "engine/core/config_keys.hpp"
#include "engine/core/progress.hpp"
#include "engine/core/workers.hpp"
#include "engine/incremental/doris_target.hpp"
#include "engine/incremental/outcome.hpp"
#include "io/deadline.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/this_coro.hpp>

#include <iostream>
#include <random>
#include <thread>

namespace uringmig::engine::incremental {

namespace asio = boost::asio;
namespace dc = connectors::doris;

namespace {

struct doris_context {
  const job_spec& spec;
  io::runtime& rt;
  const state_store* state;
  doris_side side;
  std::unique_ptr<source> src;
  std::optional<dc::http_client> http;
  std::vector<table_plan> plans;
  bool restart = false;  // --restart, when it applies (not while the job's workers run)
  worker_role w;
};

asio::awaitable<void> open_and_check(doris_context& cx) {
  auto ex = co_await asio::this_coro::executor;
  cx.src = co_await open_source(cx.spec, cx.rt.stop_token());
  cx.http.emplace(ex, cx.side.http);
  co_await trust_listed_backends(*cx.http, cx.side);
  const auto entries = pick_entries(read_entries(cx.spec.settings), cx.spec.tables);
  for (const auto& e : entries)
    cx.plans.push_back(co_await check_doris_entry(e, *cx.src, *cx.http, cx.side, cx.state));
  for (std::size_t i = 0; i < cx.plans.size(); ++i)
    for (std::size_t k = 0; k < i; ++k)
      if (cx.plans[i].target_name == cx.plans[k].target_name)
        throw usage_error(fmt::format("{} and {} load the same target table {}",
                                      cx.plans[k].entry.label(), cx.plans[i].entry.label(),
                                      codecs::printable(cx.plans[i].target_name)));
}

/// The token in every label of the job (new after --restart), made once.
std::string label_token(state_store& state) {
  const std::string key = "incremental.doris.token";
  if (state.get(key).value_or("").empty()) {
    std::random_device rd;
    state.put(key, fmt::format("{:08x}", rd()));
  }
  return *state.get(key);
}

std::string window_id_key(const std::string& target) {
  return "incremental.doris.window_id." + target;
}

/// Opens or resumes every table's window (in the state store).
asio::awaitable<void> prepare_tables(doris_context& cx, doris_job& j, std::int64_t chunk_rows) {
  for (std::size_t i = 0; i < cx.plans.size(); ++i) {
    auto t = std::make_unique<doris_table>();
    t->plan = std::move(cx.plans[i]);
    const table_plan& p = t->plan;
    std::tie(t->db, t->table) = doris_table_of(p.entry, j.side);
    if (!p.skipped.empty())
      spdlog::warn("{}: source column(s) not on the target, skipped: {}",
                   codecs::printable(p.target_name),
                   codecs::printable(fmt::format("{}", fmt::join(p.skipped, ", "))));
    auto open = load_window(*j.state, p.target_name);
    if (open && (open->key != window_key(p) || cx.restart)) {
      spdlog::warn(
          "{}: the unfinished run of this table was for other settings; starting a new "
          "one",
          codecs::printable(p.target_name));
      open.reset();
    }
    if (open) {
      t->win = std::move(*open);
      spdlog::info("{}: resuming its unfinished run ({} of {} chunks done)",
                   codecs::printable(p.target_name), t->win.done.size(),
                   t->win.window.chunks.size());
    } else {
      t->win.window = co_await open_window(p, *cx.src, chunk_rows);
      warn_if_backwards(p, t->win.window);
      t->win.key = window_key(p);
      co_await j.state->write_off_context([&] {
        t->win.id = next_window_id(*j.state, p.target_name);
        save_window(*j.state, p.target_name, t->win);
      });
    }
    prepare_doris_table(*t, j.side);
    t->planned = runner_chunks(t->win.window);
    j.tables.push_back(std::move(t));
  }
}

/// A worker that joined a round: the windows its coordinator opened (the ids it published),
/// never one of its own. A window gone from the state was finished by the other workers.
void take_tables(doris_context& cx, doris_job& j) {
  for (std::size_t i = 0; i < cx.plans.size(); ++i) {
    auto t = std::make_unique<doris_table>();
    t->plan = std::move(cx.plans[i]);
    const std::string id = published(*j.state, window_id_key(t->plan.target_name));
    if (id.empty())
      throw usage_error(fmt::format(
          "{}: not a table job {} loads: start every worker of a job with the same --config",
          codecs::printable(t->plan.target_name), j.state->where()));
    auto open = load_window(*j.state, t->plan.target_name);
    if (!open || std::to_string(open->id) != id) {
      spdlog::info("{}: its window was finished by the job's other workers",
                   codecs::printable(t->plan.target_name));
      continue;
    }
    std::tie(t->db, t->table) = doris_table_of(t->plan.entry, j.side);
    t->win = std::move(*open);
    prepare_doris_table(*t, j.side);
    t->planned = runner_chunks(t->win.window);
    j.tables.push_back(std::move(t));
  }
}

/// Workers: the coordinator's windows into the state (the done chunks of a resumed window as
/// the state's chunk marks), then published; every worker's done chunks are the state's.
asio::awaitable<void> share_windows(doris_context& cx, doris_job& j) {
  state_store& state = *j.state;
  if (cx.w.coordinator) {
    std::vector<std::pair<std::string, std::string>> ids;
    for (const auto& t : j.tables) {
      const auto have = state.done_chunks(t->db, t->table);
      for (const int c : t->win.done)
        if (have.count(c) == 0) state.mark_chunk_done(t->db, t->table, c, 0, 0, 0);
      ids.emplace_back(window_id_key(t->plan.target_name), std::to_string(t->win.id));
    }
    // Tests: the workers are in before any can take a chunk (the coordinator takes the first).
    co_await wait_for_workers(state, cx.rt, cx.spec);
    publish_plan(state, cx.w.run, std::move(ids));
  }
  for (const auto& t : j.tables)
    t->win.done = state.done_chunks(t->db, t->table);
}

/// Workers: a table whose chunks are all in (the state's marks, whoever loaded them) moves its
/// mark and closes its window once, under its finish lock.
asio::awaitable<void> finish_doris_tables(doris_context& cx, doris_job& j) {
  auto find = [&j](const table_row& r) -> doris_table* {
    for (const auto& x : j.tables)
      if (x->db == r.schema && x->table == r.name) return x.get();
    return nullptr;
  };
  co_await finish_tables(
      *j.state, cx.rt, [&](const table_row& r) { return find(r) != nullptr; },
      [&](const table_row& r) -> asio::awaitable<void> {
        const doris_table& t = *find(r);
        const auto done = j.state->done_chunks(t.db, t.table);
        if (done.size() != t.win.window.chunks.size())
          throw job_error(fmt::format("{}: {} of {} chunks done in the state at its finish",
                                      t.plan.target_name, done.size(), t.win.window.chunks.size()));
        finish_window(*j.state, t.plan.target_name, t.win.window.next_mark);
        spdlog::info("{}: finished by worker {} (watermark -> {})",
                     codecs::printable(t.plan.target_name), cx.w.name,
                     codecs::printable(t.win.window.next_mark.value_or("(none)")));
        co_return;
      });
}

asio::awaitable<outcome> load_all(doris_context& cx, doris_job& j, progress& prog,
                                  std::int64_t chunk_rows) {
  if (cx.w.coordinator) {
    co_await prepare_tables(cx, j, chunk_rows);
    std::vector<std::string> parts;
    std::vector<planned_table> plan;
    for (const auto& t : j.tables) {
      parts.push_back(fmt::format("{}#{}", t->plan.target_name, t->win.id));
      plan.push_back({t->db, t->table, 0, t->win.window.rows_estimate, t->planned});
    }
    save_windows_plan(*j.state, parts, plan);
  } else {
    take_tables(cx, j);
  }
  if (cx.w.on) co_await share_windows(cx, j);
  std::vector<chunk_table> todo;
  for (std::size_t i = 0; i < j.tables.size(); ++i) {
    doris_table& t = *j.tables[i];
    t.progress = &prog.add_table(t.db, t.table, 0, t.win.window.rows_estimate,
                                 static_cast<int>(t.planned.size()));
    chunk_table ct;
    ct.id = i;
    ct.schema = t.db;
    ct.name = t.table;
    ct.display = codecs::printable(t.plan.target_name);
    ct.bytes = t.win.window.rows_estimate;
    ct.progress = t.progress;
    for (const auto& c : t.planned)
      ct.chunks.push_back(&c);
    ct.done = t.win.done;
    const bool all_in = ct.done.size() == ct.chunks.size();
    if (all_in && !cx.w.on) {
      // Every chunk in (a run killed before it moved the mark): move it now.
      finish_window(*j.state, t.plan.target_name, t.win.window.next_mark);
      j.state->set_table_status(t.db, t.table, table_status::done);
      t.progress->set_phase(table_phase::done);
      continue;
    }
    // Workers: the claims map onto every table; one whose chunks are all in is finished below.
    if (!all_in && cx.w.coordinator)
      j.state->set_table_status(t.db, t.table, table_status::copying);
    todo.push_back(std::move(ct));
  }
  const auto path = make_doris_path(j);
  outcome out;
  out.interrupted = !co_await run_chunks(*path, *j.state, prog, std::move(todo), cx.spec, cx.rt,
                                         leases_of(cx.w, cx.spec));
  if (cx.w.on && !out.interrupted) co_await finish_doris_tables(cx, j);
  for (const auto& t : j.tables) {
    if (!cx.w.on && !t->failed && !out.interrupted)
      j.state->set_table_status(t->db, t->table, table_status::done);
    out.rejected += t->rows_rejected;
    j.state->put("incremental.rejected." + t->plan.target_name, std::to_string(t->rows_rejected));
    print_table_summary({t->plan.target_name, t->rows_read, t->rows_upserted, t->rows_deleted,
                         t->rows_rejected, t->plan.mark, doris_mark(*j.state, t->plan.target_name),
                         t->failed, cx.w.on});
  }
  std::fflush(stdout);
  if (cx.w.on)
    add_others_failures(
        *j.state,
        [&j](const table_row& r) {
          for (const auto& t : j.tables)
            if (t->failed && t->db == r.schema && t->table == r.name) return true;
          return false;
        },
        j.failures);
  if (out.rejected > 0) j.state->put("incremental.rejected", std::to_string(out.rejected));
  throw_if_tables_failed(j.failures);
  co_return out;
}

}  // namespace

int plan_doris(const job_spec& spec) {
  if (read_entries(spec.settings).empty())
    throw usage_error("an incremental job needs [[tables]] entries in its --config file");
  const std::int64_t chunk_rows = integer_setting(spec.settings, "incremental.chunk_rows");
  io::runtime rt(1);
  // The marks a plan prints; nothing is created when there is no state yet.
  std::optional<state_store> state = state_store::open_existing(state_location_of(spec));
  rt.run([&]() -> asio::awaitable<void> {
    doris_context cx{spec,  rt, state ? &*state : nullptr, make_doris_side(spec), {}, {}, {},
                     false, {}};
    std::exception_ptr error;
    try {
      co_await open_and_check(cx);
      co_await print_plans(*cx.src, cx.plans, chunk_rows, 1, spec.settings);
    } catch (...) {
      error = std::current_exception();
    }
    if (cx.src) co_await cx.src->close();
    if (error) std::rethrow_exception(error);
  }());
  return 0;
}

int run_doris(const job_spec& spec) {
  if (read_entries(spec.settings).empty())
    throw usage_error("an incremental job needs [[tables]] entries in its --config file");
  const std::int64_t chunk_rows = integer_setting(spec.settings, "incremental.chunk_rows");
  io::runtime rt(runtime_threads(spec));
  run_state rs = open_run_state(spec);
  state_store& state = rs.state;
  const bool shared = rs.shared;
  const bool restart = rs.restart;
  if (restart) {
    // --restart abandons the open windows; the marks (the data Doris holds) stay.
    std::vector<std::pair<std::string, std::string>> keep;
    for (const auto& [k, v] : state.status_snapshot().kv)
      if (k.rfind("incremental.mark.", 0) == 0 || k.rfind("incremental.doris.windows.", 0) == 0)
        keep.emplace_back(k, v);
    state.reset();
    state.put_many(keep);
  }
  progress prog;
  std::optional<std::int64_t> run_id;
  outcome out;
  std::string error;
  bool usage = false;
  const std::stop_callback on_stop(rt.stop_token(), [&rt] {
    spdlog::info("stopping ({}): the chunks in flight finish, no other starts", rt.stop_reason());
  });
  doris_job j;
  j.side = make_doris_side(spec);
  j.side.policy.stop = rt.stop_token();
  j.rt = &rt;
  j.state = &state;
  j.shared = shared;
  j.rejects_dir = spec.state_dir / "rejects";
  rt.run([&]() -> asio::awaitable<void> {
    io::deadline deadline(rt, spec.max_runtime);
    doris_context cx{spec, rt, &state, j.side, {}, {}, {}, restart, {}};
    try {
      co_await open_and_check(cx);  // every check before anything is written
      j.src = cx.src.get();
      j.side.trusted = cx.side.trusted;
      if (shared) {
        cx.w = co_await join_round(state, rt, spec, cx.src->description(), run_id);
        cx.restart = restart && cx.w.coordinator;
      } else {
        run_id = state.begin_run({spec.command, "incremental", cx.src->description(),
                                  codecs::redacted_url(spec.target_endpoint()), std::nullopt});
      }
      // Workers: the coordinator makes it before it publishes; the others read it after.
      j.token = label_token(state);
      out = co_await load_all(cx, j, prog, chunk_rows);
    } catch (const usage_error& e) {
      usage = true;
      error = e.what();
    } catch (const connectors::postgres::error& e) {
      error = e.diag().to_string();
    } catch (const std::exception& e) {
      error = e.what();
    }
    if (cx.src) co_await cx.src->close();
  }());
  return end_run(state, run_id, error, usage, out, rt, spec.state_dir);
}

}  // namespace uringmig::engine::incremental
