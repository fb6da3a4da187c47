#include "engine/core/chunk_runner.hpp"

#include "engine/core/observe/hub.hpp"
#include "io/sleep.hpp"
#include "io/wait_all.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>

#include <algorithm>

namespace uringmig::engine {

namespace asio = boost::asio;

struct chunk_runner::table_state {
  chunk_table t;
  int left = 0;     // chunks neither in nor failed; guarded by m_
  int running = 0;  // workers on it; guarded by m_
  bool failed = false;
  bool started = false;
  std::chrono::steady_clock::time_point first;  // its first chunk was handed out
};

chunk_runner::chunk_runner(chunk_path& path, state_store& state, progress& prog,
                           std::vector<chunk_table> tables, chunk_runner_options o)
    : path_(path), state_(state), prog_(prog), o_(std::move(o)) {
  // Largest first: the table that ends last bounds the run, so the biggest starts first.
  std::stable_sort(tables.begin(), tables.end(),
                   [](const chunk_table& a, const chunk_table& b) { return a.bytes > b.bytes; });
  for (auto& t : tables) {
    auto ts = std::make_unique<table_state>();
    ts->t = std::move(t);
    by_name_[{ts->t.schema, ts->t.name}] = ts.get();
    for (const planned_chunk* c : ts->t.chunks) {
      if (o_.leases) break;  // the state's leases hand the chunks out
      if (ts->t.done.count(c->chunk_no)) continue;
      queue_.push_back({ts.get(), c, false});
      ++ts->left;
    }
    tables_.push_back(std::move(ts));
  }
}

chunk_runner::~chunk_runner() = default;

bool chunk_runner::busy() const {
  std::lock_guard lk(m_);
  return !queue_.empty() || in_flight_ > 0;
}

bool chunk_runner::complete() const {
  if (o_.leases) return state_.chunks_pending(o_.leases->only) == 0;
  std::lock_guard lk(m_);
  return std::all_of(tables_.begin(), tables_.end(),
                     [](const auto& t) { return t->left == 0 || t->failed; });
}

std::size_t chunk_runner::chunks_queued() const {
  std::lock_guard lk(m_);
  return queue_.size();
}

std::optional<chunk_runner::task> chunk_runner::hand_out(table_state& ts, const planned_chunk& c,
                                                         bool leased) {
  std::lock_guard lk(m_);
  return start(task{&ts, &c, false, leased});
}

chunk_runner::task chunk_runner::start(task k) {
  table_state& ts = *k.table;
  ++ts.running;
  ++in_flight_;
  if (!ts.started) {
    ts.started = true;
    ts.first = std::chrono::steady_clock::now();
    k.first = true;
  }
  return k;
}

asio::awaitable<std::optional<chunk_runner::task>> chunk_runner::next_leased() {
  const chunk_leases& l = *o_.leases;
  while (!o_.stop.stop_requested()) {
    std::optional<chunk_claim> c;
    co_await state_.write_off_context([&] { c = state_.claim_chunk(l.worker, l.lease, l.only); });
    if (c) {
      auto it = by_name_.find({c->schema, c->name});
      const planned_chunk* chunk = nullptr;
      if (it != by_name_.end())
        for (const planned_chunk* p : it->second->t.chunks)
          if (p->chunk_no == c->chunk_no) chunk = p;
      if (chunk == nullptr) {
        // The saved plan has it, this worker's tables do not (a filter changed meanwhile).
        co_await state_.write_off_context([&] {
          state_.mark_chunk_failed(c->schema, c->name, c->chunk_no, 0,
                                   "not in the tables of worker " + l.worker);
        });
        continue;
      }
      if (c->reclaimed)
        spdlog::warn("{} chunk {}: taken again (the lease of the worker that held it ran out)",
                     it->second->t.display, c->chunk_no);
      co_return hand_out(*it->second, *chunk, true);
    }
    std::int64_t pending = 0;
    co_await state_.write_off_context([&] { pending = state_.chunks_pending(l.only); });
    if (pending == 0) break;
    // Other workers hold them: one may die and its chunk come free.
    if (!co_await io::sleep_unless_stopped(l.poll, o_.stop)) break;
  }
  co_return std::nullopt;
}

std::optional<chunk_runner::task> chunk_runner::next() {
  std::lock_guard lk(m_);
  for (auto it = queue_.begin(); it != queue_.end();) {
    table_state& ts = *it->table;
    if (ts.failed) {
      it = queue_.erase(it);  // a failed table's other chunks are not tried
      continue;
    }
    if (o_.table_workers > 0 && ts.running >= o_.table_workers) {
      ++it;
      continue;
    }
    task k = *it;
    queue_.erase(it);
    return start(k);
  }
  return std::nullopt;
}

void chunk_runner::chunk_left(const task& k) {
  {
    std::lock_guard lk(m_);
    --in_flight_;
    --k.table->running;
  }
  if (!k.leased) return;
  try {
    // Undone: another worker may take it at once.
    state_.release_chunk({k.table->t.schema, k.table->t.name, k.chunk->chunk_no, false},
                         o_.leases->worker);
  } catch (const std::exception& e) {
    spdlog::warn("{} chunk {}: lease not given back ({}); it comes free when it runs out",
                 k.table->t.display, k.chunk->chunk_no, e.what());
  }
}

asio::awaitable<void> chunk_runner::chunk_in(const task& k, const chunk_attempt& a) {
  const chunk_table& t = k.table->t;
  if (o_.record) {
    // State writes run on a thread of their own: a SQLite commit (or the WAL checkpoint that
    // one commit in a thousand pays for) never stalls the sockets this context serves.
    co_await state_.write_off_context([&] {
      state_.mark_chunk_done(t.schema, t.name, k.chunk->chunk_no, a.rows, a.bytes, a.seconds);
    });
    if (t.progress) {
      t.progress->add(a.rows, a.progress_bytes);
      t.progress->chunk_done();
    }
  }
  path_.chunk_done(t, *k.chunk, a);
  bool all_in = false;  // leases: the state has every chunk of the table done, by any worker
  if (k.leased)
    co_await state_.write_off_context(
        [&] { all_in = state_.done_chunks(t.schema, t.name).size() == t.chunks.size(); });
  bool finished = false;
  double seconds = 0;
  {
    std::lock_guard lk(m_);
    --in_flight_;
    --k.table->running;
    finished = (k.leased ? all_in : --k.table->left == 0) && !k.table->failed;
    seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - k.table->first).count();
  }
  if (!finished) co_return;
  if (o_.record)
    co_await state_.write_off_context([&] { state_.set_copy_seconds(t.schema, t.name, seconds); });
  path_.table_finished(t, seconds);
}

asio::awaitable<void> chunk_runner::chunk_failed(const task& k, const chunk_attempt& a) {
  const chunk_table& t = k.table->t;
  const std::string why =
      o_.prefix_chunk ? fmt::format("chunk {}: {}", k.chunk->chunk_no, a.error) : a.error;
  bool first = false;
  {
    std::lock_guard lk(m_);
    --in_flight_;
    --k.table->running;
    --k.table->left;
    first = !k.table->failed;
    k.table->failed = true;
  }
  if (!first) {
    spdlog::error("table {}: {}", t.display, why);
    co_return;
  }
  spdlog::error("table {} failed: {}", t.display, why);
  if (t.progress) t.progress->set_phase(table_phase::failed);
  co_await state_.write_off_context(
      [&] { state_.set_table_status(t.schema, t.name, table_status::failed, why); });
  path_.table_failed(t, why);
}

asio::awaitable<void> chunk_runner::run_chunk(chunk_worker& w, const task& k) {
  const chunk_table& t = k.table->t;
  const planned_chunk& c = *k.chunk;
  for (int attempt = 1;; ++attempt) {
    const chunk_attempt a = co_await w.load(t, c);
    if (a.interrupted) {
      chunk_left(k);  // stays to do: the run ends interrupted
      co_return;
    }
    if (a.ok) {
      co_await chunk_in(k, a);
      co_return;
    }
    co_await state_.write_off_context([&] {
      state_.mark_chunk_failed(t.schema, t.name, c.chunk_no, a.attempts > 0 ? a.attempts : attempt,
                               a.error);
    });
    if (!a.retryable || attempt >= o_.attempts) {
      co_await chunk_failed(k, a);
      // The failed attempt may have left the worker's sessions mid-transaction: without a reset
      // every later chunk of this worker would fail too.
      co_await w.recover(t);
      co_return;
    }
    const std::chrono::milliseconds wait = o_.backoff(attempt);
    spdlog::warn("{} chunk {}: {} (attempt {}/{}, retrying in {} ms)", t.display, c.chunk_no,
                 a.error, attempt, o_.attempts, wait.count());
    observe::the_hub().retried("chunk");
    if (!co_await io::sleep_unless_stopped(wait, o_.stop)) {
      // Stopping: the attempt rolled back and the chunk stays to do (not failed).
      spdlog::info("{} chunk {}: not retried: stopping", t.display, c.chunk_no);
      chunk_left(k);
      co_return;
    }
    co_await w.recover(t);
  }
}

asio::awaitable<void> chunk_runner::worker_loop(std::size_t index) {
  std::unique_ptr<chunk_worker> w = co_await path_.open_worker(index);
  std::exception_ptr error;
  try {
    while (!o_.stop.stop_requested()) {
      // Paused over --http: the chunk in hand is finished, the next waits.
      co_await observe::wait_while_paused(o_.stop);
      if (o_.stop.stop_requested()) break;
      std::optional<task> k = o_.leases ? co_await next_leased() : next();
      if (!k) break;
      const chunk_table& t = k->table->t;
      if (k->first) {
        bool failed = false;
        {
          // A table another worker has just failed stays failed.
          std::lock_guard lk(m_);
          failed = k->table->failed;
        }
        if (!failed) {
          co_await state_.write_off_context(
              [&] { state_.set_table_status(t.schema, t.name, table_status::copying); });
          if (t.progress) t.progress->set_phase(table_phase::copying);
        }
      }
      prog_.chunk_started();
      const auto started = std::chrono::steady_clock::now();
      try {
        co_await run_chunk(*w, *k);
      } catch (...) {
        prog_.chunk_finished();
        chunk_left(*k);
        throw;
      }
      prog_.chunk_finished();
      observe::the_hub().chunk_finished(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    }
  } catch (...) {
    error = std::current_exception();
  }
  try {
    co_await w->close();
  } catch (...) {
    if (!error) error = std::current_exception();
  }
  w.reset();
  if (error) std::rethrow_exception(error);
}

asio::awaitable<void> chunk_runner::workers_then(std::stop_source& done) {
  std::vector<io::spawned> ops;
  for (std::size_t i = 0; i < o_.workers; ++i)
    ops.push_back(asio::co_spawn(path_.executor(i), worker_loop(i), asio::deferred));
  std::exception_ptr error;
  try {
    co_await io::wait_all(std::move(ops));
  } catch (...) {
    error = std::current_exception();
  }
  done.request_stop();
  if (error) std::rethrow_exception(error);
}

asio::awaitable<void> chunk_runner::heartbeat(std::stop_token done) {
  const chunk_leases& l = *o_.leases;
  const auto every = std::max(l.lease / 3, std::chrono::milliseconds(1));
  while (co_await io::sleep_unless_stopped(every, done)) {
    co_await state_.write_off_context([&] {
      state_.renew_leases(l.worker, l.lease);
      if (l.heartbeat) l.heartbeat();
    });
  }
}

asio::awaitable<void> chunk_runner::run() {
  std::stop_source done;  // the workers ended: so does the heartbeat
  std::vector<io::spawned> ops;
  ops.push_back(asio::co_spawn(path_.executor(0), workers_then(done), asio::deferred));
  // Leases live while the workers run (also while they finish their chunks after a stop).
  if (o_.leases)
    ops.push_back(asio::co_spawn(path_.executor(0), heartbeat(done.get_token()), asio::deferred));
  co_await io::wait_all(std::move(ops));
}

}  // namespace uringmig::engine
