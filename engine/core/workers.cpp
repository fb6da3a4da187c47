// Several uringmig processes on one job, through a shared (PostgreSQL) state: see workers.hpp.
#include "engine/core/workers.hpp"

#include "engine/core/config_keys.hpp"
#include "engine/core/pg_session.hpp"
#include "io/sleep.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <unistd.h>
#include <array>
#include <charconv>
#include <map>
#include <set>

namespace uringmig::engine {

namespace asio = boost::asio;

namespace {

constexpr auto poll_every = std::chrono::milliseconds(200);

/// "<run id> <name>" -> the run id (0: none).
std::int64_t coordinator_of(const std::optional<std::string>& v) {
  std::int64_t id = 0;
  if (v) std::from_chars(v->data(), v->data() + v->size(), id);
  return id;
}

/// usage_error naming the first difference between `mine` and the definition the job's
/// coordinator recorded.
void check_definition(const state_store& state, const job_definition& mine) {
  const auto keys = state.get("workers.definition_keys").value_or("");
  std::set<std::string> theirs_keys;
  for (std::size_t start = 0; start < keys.size();) {
    const auto end = std::min(keys.find('\n', start), keys.size());
    theirs_keys.insert(keys.substr(start, end - start));
    start = end + 1;
  }
  for (const auto& [key, value] : mine)
    theirs_keys.erase(key);
  job_definition all = mine;
  for (const auto& k : theirs_keys)
    all.emplace_back(k, "");
  for (const auto& [key, value] : all) {
    const std::string theirs = state.get("workers.def." + key).value_or("");
    if (theirs == value) continue;
    throw usage_error(fmt::format(
        "this worker's {} ({}) differs from the one job {} runs with ({}): start every worker "
        "of a job with the same definition, or pass another --job",
        key, value.empty() ? "none" : value, state.where(), theirs.empty() ? "none" : theirs));
  }
}

void record_definition(state_store& state, const job_definition& def, std::int64_t run_id,
                       const std::string& worker) {
  std::vector<std::pair<std::string, std::string>> kv;
  std::string keys;
  for (const auto& [key, value] : def) {
    keys += (keys.empty() ? "" : "\n") + key;
    kv.emplace_back("workers.def." + key, value);
  }
  kv.emplace_back("workers.definition_keys", keys);
  kv.emplace_back("workers.coordinator", fmt::format("{} {}", run_id, worker));
  state.put_many(kv);
  state.erase("workers.ready");
}

}  // namespace

job_definition definition_of(const job_spec& opts, const codecs::endpoint& source,
                             const codecs::endpoint& target) {
  job_definition d;
  d.emplace_back("--source", codecs::redacted_url(source));
  d.emplace_back("--target", codecs::redacted_url(target));
  std::string tables, exclude;
  for (const auto& t : opts.tables)
    tables += (tables.empty() ? "" : ",") + t;
  for (const auto& t : opts.exclude)
    exclude += (exclude.empty() ? "" : ",") + t;
  d.emplace_back("--tables", tables);
  d.emplace_back("--exclude", exclude);
  // Settings that shape the plan or the data; not the ones of one process (its state, jobs,
  // logs, retries, debug hooks, threads).
  constexpr std::array<std::string_view, 18> own = {
      "state.",           "progress.",      "stats.",        "http.",
      "copy.debug.",      "copy.allow_inc", "copy.retri",    "copy.lock_t",
      "index.",           "pg.bin_dir",     "log_level",     "sqlite.writer_th",
      "doris.debug.",     "doris.retries",  "doris.backoff", "doris.concurrency",
      "doris.expect_100", "doris.buffer"};
  for (const auto& [key, value] : opts.settings) {
    bool skip = false;
    for (std::string_view p : own)
      skip = skip || key.rfind(p, 0) == 0;
    if (!skip) d.emplace_back(key, codecs::redact(value));
  }
  return d;
}

std::string host_name() {
  std::array<char, 256> buf{};
  if (::gethostname(buf.data(), buf.size() - 1) != 0) return "unknown";
  return buf.data();
}

std::string worker_name(std::int64_t run_id, std::string_view host, std::int64_t pid) {
  return fmt::format("r{}@{}:{}", run_id, host, pid);
}

std::string worker_name(const job_spec& opts, std::int64_t run_id) {
  std::string name = worker_name(run_id, host_name(), ::getpid());
  if (auto it = opts.settings.find("state.worker");
      it != opts.settings.end() && !it->second.empty())
    name += " #" + it->second;
  return name;
}

void check_worker_flag(const job_spec& opts, bool workers) {
  const auto it = opts.settings.find("state.worker");
  if (it == opts.settings.end() || it->second.empty()) return;
  if (!workers)
    throw usage_error(
        "--worker needs a state every worker reaches: pass --state-url (a PostgreSQL database, "
        "or \"target\")");
  const std::string& v = it->second;
  const auto slash = v.find('/');
  int n = -1, m = 0;
  if (slash != std::string::npos) {
    std::from_chars(v.data(), v.data() + slash, n);
    std::from_chars(v.data() + slash + 1, v.data() + v.size(), m);
  }
  if (slash == std::string::npos || n < 0 || m < 1 || n > m)
    throw usage_error("--worker " + v +
                      ": want N/M, this worker's number N (0 to M, as a Kubernetes completion "
                      "index or counted from 1) among M workers");
}

bool live_coordinator(state_store& state) {
  const std::int64_t id = coordinator_of(state.get("workers.coordinator"));
  return id != 0 && state.run_alive(id);
}

asio::awaitable<worker_round> join_workers(state_store& state, io::runtime& rt, std::int64_t run_id,
                                           const std::string& worker, const job_definition& def,
                                           bool published_round_outlives_coordinator) {
  const auto stop = rt.stop_token();
  for (;;) {
    // One worker at a time decides who coordinates.
    while (!state.try_lock("plan"))
      if (!co_await io::sleep_unless_stopped(poll_every, stop)) throw job_error(rt.stop_reason());
    const std::int64_t coordinator = coordinator_of(state.get("workers.coordinator"));
    const bool round_goes_on =
        published_round_outlives_coordinator && coordinator != 0 && coordinator != run_id &&
        state.get("workers.ready") == std::to_string(coordinator) && state.chunks_pending() > 0;
    if (!round_goes_on &&
        (coordinator == 0 || coordinator == run_id || !state.run_alive(coordinator))) {
      record_definition(state, def, run_id, worker);
      state.unlock("plan");
      const int reopened = state.reopen_chunks();
      spdlog::info("worker {}: coordinating job {}{}", worker, state.where(),
                   reopened > 0
                       ? fmt::format(" ({} chunk(s) of dead or failed workers reopened)", reopened)
                       : "");
      co_return worker_round{true, run_id};
    }
    try {
      check_definition(state, def);
    } catch (...) {
      state.unlock("plan");
      throw;
    }
    state.unlock("plan");
    spdlog::info("worker {}: joining job {}; waiting for the plan of its coordinator (run {})",
                 worker, state.where(), coordinator);
    for (;;) {
      if (state.get("workers.ready") == std::to_string(coordinator))
        co_return worker_round{false, coordinator};
      if (!state.run_alive(coordinator)) break;  // it died before its plan was ready
      if (!co_await io::sleep_unless_stopped(poll_every, stop)) throw job_error(rt.stop_reason());
    }
    spdlog::warn("worker {}: the coordinator (run {}) ended before its plan was ready", worker,
                 coordinator);
  }
}

void publish_plan(state_store& state, std::int64_t run_id,
                  std::vector<std::pair<std::string, std::string>> extra) {
  extra.emplace_back("workers.ready", std::to_string(run_id));
  state.put_many(extra);
}

asio::awaitable<void> wait_for_workers(state_store& state, io::runtime& rt, const job_spec& opts) {
  const std::int64_t wait = integer_setting(opts.settings, "copy.debug.wait_workers");
  // Not past the job's end: the workers that came may have done every chunk meanwhile.
  while (state.status_snapshot().live_runs < wait && state.chunks_pending() > 0)
    if (!co_await io::sleep_unless_stopped(std::chrono::milliseconds(50), rt.stop_token())) break;
}

std::string published(const state_store& state, const std::string& key) {
  return state.get(key).value_or("");
}

void coordinator_watch::start(const worker_round& round, std::string worker, std::string snapshot,
                              bool allow_inconsistent) {
  std::lock_guard lk(m_);
  round_ = round;
  worker_ = std::move(worker);
  snapshot_ = std::move(snapshot);
  allow_inconsistent_ = allow_inconsistent;
}

std::string coordinator_watch::snapshot() const {
  if (inconsistent_.load()) return {};
  std::lock_guard lk(m_);
  return snapshot_;
}

std::string coordinator_watch::lost() const {
  std::lock_guard lk(m_);
  return lost_;
}

void watch_coordinator(state_store& state, io::runtime& rt, coordinator_watch& w) {
  if (w.round_.coordinator || w.inconsistent_.load() || !w.lost().empty() ||
      state.run_alive(w.round_.coordinator_run, true))
    return;
  if (state.chunks_pending() == 0) return;  // its snapshot is needed no more
  if (w.allow_inconsistent_) {
    w.inconsistent_ = true;
    spdlog::warn(
        "worker {}: the coordinator (run {}) ended and its exported snapshot with it; going on "
        "under fresh snapshots (--allow-inconsistent): the copy is not consistent",
        w.worker_, w.round_.coordinator_run);
    return;
  }
  {
    std::lock_guard lk(w.m_);
    w.lost_ = fmt::format(
        "the coordinator of job {} (run {}) ended and its exported snapshot with it: the workers "
        "stopped so that the copy stays consistent; run the same command again to resume under "
        "a fresh snapshot, or pass --allow-inconsistent to go on without one",
        state.where(), w.round_.coordinator_run);
  }
  rt.request_stop("the coordinator ended");
}

asio::awaitable<bool> join_coordinator_snapshot(state_store& state, io::runtime& rt,
                                                coordinator_watch& w,
                                                connectors::postgres::connection& session) {
  const std::string snapshot = w.snapshot();
  bool gone = false;
  try {
    co_await join_snapshot(session, snapshot);
  } catch (const job_error&) {
    gone = true;  // 22023: its exporting transaction ended
  }
  if (!gone) co_return true;
  (void)co_await session.query("ROLLBACK");
  if (job_finished(state, w.round_.coordinator_run)) {
    spdlog::info("worker {}: the job's other workers finished it already", w.worker_);
    co_return false;
  }
  if (state.chunks_pending() == 0) {
    {
      std::lock_guard lk(w.m_);
      w.snapshot_.clear();  // no chunk is left to read under it
    }
    co_await join_snapshot(session, {});
    co_return true;
  }
  watch_coordinator(state, rt, w);
  if (std::string lost = w.lost(); !lost.empty()) throw job_error(lost);
  if (!w.inconsistent())
    throw job_error("the coordinator's snapshot " + snapshot +
                    " is gone: run the same command again to resume with a fresh snapshot");
  co_await join_snapshot(session, {});
  co_return true;
}

bool claim_table_finish(state_store& state, const std::string& schema, const std::string& name) {
  const std::string what = "finish " + schema + "." + name;
  if (!state.try_lock(what)) return false;
  const auto st = state.get_table_status(schema, name);
  if (st == table_status::done || st == table_status::failed) {
    state.unlock(what);
    return false;
  }
  return true;
}

void release_table_finish(state_store& state, const std::string& schema, const std::string& name) {
  try {
    state.unlock("finish " + schema + "." + name);
  } catch (const std::exception& e) {
    spdlog::warn("{}.{}: finish lock not released ({}); it is when this process ends", schema, name,
                 e.what());
  }
}

asio::awaitable<void> finish_others(
    state_store& state, io::runtime& rt,
    const std::function<asio::awaitable<bool>(const table_row&)>& take) {
  const auto stop = rt.stop_token();
  while (!stop.stop_requested()) {
    const job_status st = state.status_snapshot();
    bool waiting = false;
    for (const auto& r : st.tables) {
      if (r.status == "done" || r.status == "failed" || r.chunks_done < r.chunks_total) continue;
      // Its data is in, its finish is not: someone's, or ours to take over.
      const bool taken = co_await take(r);
      waiting = waiting || taken;
    }
    if (!waiting) break;
    if (!co_await io::sleep_unless_stopped(poll_every, stop)) break;
  }
}

asio::awaitable<bool> lock_job_finish(state_store& state, io::runtime& rt,
                                      std::int64_t coordinator_run) {
  const auto stop = rt.stop_token();
  while (!state.try_lock("finish"))
    if (!co_await io::sleep_unless_stopped(poll_every, stop)) co_return false;
  if (job_finished(state, coordinator_run)) {
    state.unlock("finish");
    co_return false;  // another worker finished the job
  }
  co_return true;
}

void unlock_job_finish(state_store& state, std::int64_t coordinator_run, bool finished) {
  if (finished) state.put("workers.finished", std::to_string(coordinator_run));
  state.unlock("finish");
}

bool job_finished(const state_store& state, std::int64_t coordinator_run) {
  return state.get("workers.finished") == std::to_string(coordinator_run);
}

}  // namespace uringmig::engine
