// The Doris load's chunks on the shared chunk runner: a worker is a source reader and an HTTP
// client on a context of its own; a table is done when its last chunk is in.

#include "codecs/sql_text.hpp"
#include "engine/core/chunk_runner.hpp"
#include "engine/core/pg_session.hpp"
#include "engine/core/workers.hpp"
#include "engine/doris/load.hpp"
#include "io/blocking.hpp"
#include "io/runtime.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/this_coro.hpp>

#include <set>

namespace uringmig::engine::doris {

namespace asio = boost::asio;

namespace {

/// Marks a table done in the state and the progress.
void mark_loaded(job& j, table_target& t, double copy_seconds) {
  j.state.set_copy_seconds(t.info.schema, t.info.name, copy_seconds);
  j.state.set_table_status(t.info.schema, t.info.name, table_status::done);
  if (t.progress) t.progress->set_phase(table_phase::done);
  spdlog::info("doris: table {} is loaded (every chunk is in)",
               codecs::printable(t.info.display()));
}

/// A table whose last chunk is in: done. Workers: by the one that takes its finish lock, once.
void finish_table(job& j, table_target& t, double copy_seconds) {
  if (!j.leased) {
    mark_loaded(j, t, copy_seconds);
    return;
  }
  {
    // Two of this process's workers may both see the last chunk in; the finish lock is the
    // state session's, which this process holds once for all of them.
    std::lock_guard lk(j.m);
    if (t.finishing) return;
    t.finishing = true;
  }
  if (claim_table_finish(j.state, t.info.schema, t.info.name)) {
    mark_loaded(j, t, copy_seconds);
    release_table_finish(j.state, t.info.schema, t.info.name);
  }
  std::lock_guard lk(j.m);
  t.finishing = false;
}

/// A source reader and an HTTP client, on the worker's own context.
class load_worker final : public chunk_worker {
 public:
  load_worker(job& j, run_state& rs) : j_(j), rs_(rs) {}

  asio::awaitable<void> open(std::size_t index) {
    auto ex = co_await asio::this_coro::executor;
    w_.index = index;
    w_.source.emplace(co_await connect_endpoint(ex, j_.source, "source"));
    co_await join_snapshot(j_, *w_.source);
    connectors::doris::http_client_options ho = j_.http_options();
    ho.max_host_connections = 2;
    w_.http.emplace(ex, ho);
  }

  asio::awaitable<chunk_attempt> load(const chunk_table& ct, const planned_chunk& c) override {
    table_target& t = *j_.tables[ct.id];
    const auto t0 = std::chrono::steady_clock::now();
    // Retries happen inside, with the same label (a transient answer may hide a load Doris
    // still runs): the runner sees the verdict.
    const chunk_result r = co_await load_chunk(j_, w_, t, c);
    chunk_attempt a;
    a.ok = r.ok;
    a.interrupted = r.interrupted;
    a.rows = r.rows;
    a.bytes = static_cast<std::int64_t>(r.bytes);
    a.progress_bytes = a.bytes;
    a.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    a.error = r.error;
    a.attempts = r.attempts;
    if (r.ok) {
      t.rows += r.rows;
      std::lock_guard lk(j_.m);
      rs_.rows += r.rows;
      rs_.filtered += r.filtered;
    }
    co_return a;
  }

  asio::awaitable<void> close() override {
    if (w_.source) {
      co_await w_.source->close();
      w_.source.reset();
    }
    w_.http.reset();
  }

 private:
  job& j_;
  run_state& rs_;
  worker w_;
};

class load_path final : public chunk_path {
 public:
  load_path(job& j, io::runtime& rt, run_state& rs) : j_(j), rt_(rt), rs_(rs) {}

  // Context 0 runs the job; the workers spread over the others.
  asio::any_io_executor executor(std::size_t index) override {
    return rt_.executor(1 + index % (rt_.size() - 1));
  }

  asio::awaitable<std::unique_ptr<chunk_worker>> open_worker(std::size_t index) override {
    co_return co_await opened_worker(std::make_unique<load_worker>(j_, rs_),
                                     [index](load_worker& w) { return w.open(index); });
  }

  void table_finished(const chunk_table& ct, double copy_seconds) override {
    finish_table(j_, *j_.tables[ct.id], copy_seconds);
  }

  void table_failed(const chunk_table& ct, const std::string& why) override {
    table_target& t = *j_.tables[ct.id];
    std::lock_guard lk(j_.m);
    t.failed = true;
    t.error = why;
    rs_.failures.push_back(why);
  }

 private:
  job& j_;
  io::runtime& rt_;
  run_state& rs_;
};

/// Workers, once no chunk is left: the tables whose data is in and whose finisher died.
asio::awaitable<void> finish_others(job& j, io::runtime& rt) {
  co_await engine::finish_others(j.state, rt, [&](const table_row& r) -> asio::awaitable<bool> {
    for (auto& t : j.tables)
      if (t->info.schema == r.schema && t->info.name == r.name) {
        finish_table(j, *t, r.copy_seconds);
        co_return true;
      }
    co_return false;
  });
}

}  // namespace

asio::awaitable<void> load_tables(job& j, io::runtime& rt, run_state& rs,
                                  const reporter_options& reporter_opts) {
  state_store& state = j.state;
  std::vector<chunk_table> to_load;
  for (std::size_t i = 0; i < j.tables.size(); ++i) {
    auto& t = j.tables[i];
    // Logged once Doris took the credentials: a refusal stays a short message.
    spdlog::info("doris: {} is read as {}", codecs::printable(t->info.display()),
                 t->copy_format_note);
    const std::set<int> done = state.done_chunks(t->info.schema, t->info.name);
    t->progress = &j.prog.add_table(t->info.schema, t->info.name, t->info.bytes,
                                    std::max<std::int64_t>(t->info.rows_estimate, 0),
                                    static_cast<int>(t->plan.chunks.size()));
    chunk_table ct;
    for (const auto& c : t->plan.chunks) {
      ct.chunks.push_back(&c);
      if (done.count(c.chunk_no)) ct.done.insert(c.chunk_no);
    }
    // Workers: the state's leases decide what is left, and its status is the job's (the runner
    // marks a table copying at its first chunk; the one that finishes it marks it done).
    if (!j.leased && ct.done.size() == ct.chunks.size()) {
      state.set_table_status(t->info.schema, t->info.name, table_status::done);
      t->progress->set_phase(table_phase::done);
      continue;
    }
    if (!j.leased) state.set_table_status(t->info.schema, t->info.name, table_status::copying);
    ct.id = i;
    ct.schema = t->info.schema;
    ct.name = t->info.name;
    ct.display = codecs::printable(t->info.display());
    ct.bytes = t->plan.bytes;
    ct.progress = t->progress;
    to_load.push_back(std::move(ct));
  }
  {
    const job_status st = state.status_snapshot();
    for (const auto& row : st.tables)
      if (auto* tp = j.prog.find(row.schema, row.name))
        tp->resume_from(row.chunks_done, row.rows_copied, row.bytes_copied);
  }
  progress_reporter reporter(j.prog, reporter_opts);
  load_path path(j, rt, rs);
  chunk_runner_options o;
  o.workers = j.cfg.workers;
  o.prefix_chunk = false;  // load_chunk's errors name the table, the chunk and the label
  o.stop = rt.stop_token();
  if (j.leased) {
    chunk_leases l;
    l.worker = j.worker;
    l.lease = std::chrono::seconds(j.opts.config.bulk.lease_s);
    l.heartbeat = [&j] { watch_coordinator(j.state, j.rt, j.coord); };
    o.leases = std::move(l);
  }
  chunk_runner runner(path, state, j.prog, std::move(to_load), std::move(o));
  std::exception_ptr worker_error;
  try {
    co_await runner.run();
    if (j.leased) co_await finish_others(j, rt);
  } catch (...) {
    worker_error = std::current_exception();
  }
  reporter.stop();
  if (worker_error) std::rethrow_exception(worker_error);
  rs.interrupted = !runner.complete();
}

}  // namespace uringmig::engine::doris
