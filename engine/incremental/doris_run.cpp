// `plan` and `run --preset incremental` into Doris: every entry checked against the source and
// the Doris table first, each table's window opened (or resumed) in the state store, the chunks
// loaded on the chunk runner, the summary and the exit code (0; 3 when Doris filtered rows).

#include "codecs/sql_text.hpp"
#include "connectors/postgres/error.hpp"
#include "engine/core/config_keys.hpp"
#include "engine/core/progress.hpp"
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

std::string random_token() {
  std::random_device rd;
  return fmt::format("{:08x}", rd());
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
    if (open && (open->key != window_key(p) || cx.spec.restart)) {
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

asio::awaitable<outcome> load_all(doris_context& cx, doris_job& j, progress& prog,
                                  std::int64_t chunk_rows) {
  co_await prepare_tables(cx, j, chunk_rows);
  std::vector<std::string> parts;
  std::vector<planned_table> plan;
  for (const auto& t : j.tables) {
    parts.push_back(fmt::format("{}#{}", t->plan.target_name, t->win.id));
    plan.push_back({t->db, t->table, 0, t->win.window.rows_estimate, t->planned});
  }
  save_windows_plan(*j.state, parts, plan);
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
    if (ct.done.size() == ct.chunks.size()) {
      // Every chunk in (a run killed before it moved the mark): move it now.
      finish_window(*j.state, t.plan.target_name, t.win.window.next_mark);
      j.state->set_table_status(t.db, t.table, table_status::done);
      t.progress->set_phase(table_phase::done);
      continue;
    }
    j.state->set_table_status(t.db, t.table, table_status::copying);
    todo.push_back(std::move(ct));
  }
  const auto path = make_doris_path(j);
  outcome out;
  out.interrupted = !co_await run_chunks(*path, *j.state, prog, std::move(todo), cx.spec, cx.rt);
  for (const auto& t : j.tables) {
    if (!t->failed && !out.interrupted)
      j.state->set_table_status(t->db, t->table, table_status::done);
    out.rejected += t->rows_rejected;
    j.state->put("incremental.rejected." + t->plan.target_name, std::to_string(t->rows_rejected));
    print_table_summary({t->plan.target_name, t->rows_read, t->rows_upserted, t->rows_deleted,
                         t->rows_rejected, t->plan.mark, doris_mark(*j.state, t->plan.target_name),
                         t->failed});
  }
  std::fflush(stdout);
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
    doris_context cx{spec, rt, state ? &*state : nullptr, make_doris_side(spec), {}, {}, {}};
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
  const std::size_t workers = static_cast<std::size_t>(spec.jobs > 0 ? spec.jobs : 2);
  io::runtime rt(1 +
                 std::min<std::size_t>(workers, std::max(1u, std::thread::hardware_concurrency())));
  state_store state = state_store::open(state_location_of(spec));
  if (spec.restart) {
    // --restart abandons the open windows; the marks (the data Doris holds) stay.
    std::vector<std::pair<std::string, std::string>> keep;
    for (const auto& [k, v] : state.status_snapshot().kv)
      if (k.rfind("incremental.mark.", 0) == 0 || k.rfind("incremental.doris.windows.", 0) == 0)
        keep.emplace_back(k, v);
    state.reset();
    state.put_many(keep);
  }
  if (state.get("incremental.doris.token").value_or("").empty())
    state.put("incremental.doris.token", random_token());
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
  j.token = *state.get("incremental.doris.token");
  j.rejects_dir = spec.state_dir / "rejects";
  rt.run([&]() -> asio::awaitable<void> {
    io::deadline deadline(rt, spec.max_runtime);
    doris_context cx{spec, rt, &state, j.side, {}, {}, {}};
    try {
      co_await open_and_check(cx);  // every check before anything is written
      j.src = cx.src.get();
      j.side.trusted = cx.side.trusted;
      run_id = state.begin_run({spec.command, "incremental", cx.src->description(),
                                codecs::redacted_url(spec.target_endpoint()), std::nullopt});
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
