// Several uringmig processes on one bulk job, through a shared (PostgreSQL) state: who
// coordinates, the job definition every worker must share, the coordinator's snapshot, who
// finishes a table and the job. Chunks themselves come from the state's leases (chunk_runner).
#include "codecs/url.hpp"
#include "engine/bulk/internal.hpp"
#include "io/sleep.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <unistd.h>
#include <array>
#include <charconv>

namespace uringmig::engine::bulk {

namespace asio = boost::asio;

namespace {

constexpr auto poll_every = std::chrono::milliseconds(200);

/// What makes two workers' copies the same job: the data they move and where to.
std::vector<std::pair<std::string, std::string>> definition(const job& j) {
  std::vector<std::pair<std::string, std::string>> d;
  d.emplace_back("--source", codecs::redacted_url(j.source));
  d.emplace_back("--target", codecs::redacted_url(j.target));
  std::string tables, exclude;
  for (const auto& t : j.opts.tables)
    tables += (tables.empty() ? "" : ",") + t;
  for (const auto& t : j.opts.exclude)
    exclude += (exclude.empty() ? "" : ",") + t;
  d.emplace_back("--tables", tables);
  d.emplace_back("--exclude", exclude);
  // Settings that shape the plan or the data; not the ones of one process (its state, jobs,
  // logs, retries, debug hooks).
  constexpr std::array<std::string_view, 11> own = {
      "state.",     "progress.",   "stats.", "http.",      "copy.debug.", "copy.allow_inc",
      "copy.retri", "copy.lock_t", "index.", "pg.bin_dir", "log_level"};
  for (const auto& [key, value] : j.opts.settings) {
    bool skip = false;
    for (std::string_view p : own)
      skip = skip || key.rfind(p, 0) == 0;
    if (!skip) d.emplace_back(key, codecs::redact(value));
  }
  return d;
}

/// usage_error naming the first difference between this worker's definition and the one the
/// job's coordinator recorded.
void check_definition(const job& j) {
  const auto mine = definition(j);
  const auto keys = j.state.get("workers.definition_keys").value_or("");
  std::set<std::string> theirs_keys;
  for (std::size_t start = 0; start < keys.size();) {
    const auto end = std::min(keys.find('\n', start), keys.size());
    theirs_keys.insert(keys.substr(start, end - start));
    start = end + 1;
  }
  for (const auto& [key, value] : mine)
    theirs_keys.erase(key);
  std::vector<std::pair<std::string, std::string>> all = mine;
  for (const auto& k : theirs_keys)
    all.emplace_back(k, "");
  for (const auto& [key, value] : all) {
    const std::string theirs = j.state.get("workers.def." + key).value_or("");
    if (theirs == value) continue;
    throw usage_error(fmt::format(
        "this worker's {} ({}) differs from the one job {} runs with ({}): start every worker "
        "of a job with the same definition, or pass another --job",
        key, value.empty() ? "none" : value, j.state.where(), theirs.empty() ? "none" : theirs));
  }
}

void record_definition(job& j) {
  std::vector<std::pair<std::string, std::string>> kv;
  std::string keys;
  for (const auto& [key, value] : definition(j)) {
    keys += (keys.empty() ? "" : "\n") + key;
    kv.emplace_back("workers.def." + key, value);
  }
  kv.emplace_back("workers.definition_keys", keys);
  kv.emplace_back("workers.coordinator", fmt::format("{} {}", j.run_id, j.worker));
  j.state.put_many(kv);
  j.state.erase("workers.ready");
  j.state.erase("workers.snapshot");
}

/// "<run id> <name>" -> the run id (0: none).
std::int64_t coordinator_of(const std::optional<std::string>& v) {
  std::int64_t id = 0;
  if (v) std::from_chars(v->data(), v->data() + v->size(), id);
  return id;
}

std::string host_name() {
  std::array<char, 256> buf{};
  if (::gethostname(buf.data(), buf.size() - 1) != 0) return "unknown";
  return buf.data();
}

}  // namespace

std::string worker_name(const job_spec& opts, std::int64_t run_id) {
  std::string name = fmt::format("r{}@{}:{}", run_id, host_name(), ::getpid());
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

std::string job::current_snapshot() const {
  return inconsistent.load() ? std::string() : snapshot;
}

asio::awaitable<void> join_workers(job& j) {
  const auto stop = j.rt.stop_token();
  for (;;) {
    // One worker at a time decides who coordinates.
    while (!j.state.try_lock("plan"))
      if (!co_await io::sleep_unless_stopped(poll_every, stop)) throw job_error(j.rt.stop_reason());
    const std::int64_t coordinator = coordinator_of(j.state.get("workers.coordinator"));
    if (coordinator == 0 || coordinator == j.run_id || !j.state.run_alive(coordinator)) {
      j.coordinator = true;
      j.coordinator_run = j.run_id;
      record_definition(j);
      j.state.unlock("plan");
      const int reopened = j.state.reopen_chunks();
      spdlog::info("worker {}: coordinating job {}{}", j.worker, j.state.where(),
                   reopened > 0
                       ? fmt::format(" ({} chunk(s) of dead or failed workers reopened)", reopened)
                       : "");
      co_return;
    }
    try {
      check_definition(j);
    } catch (...) {
      j.state.unlock("plan");
      throw;
    }
    j.state.unlock("plan");
    j.coordinator_run = coordinator;
    spdlog::info("worker {}: joining job {}; waiting for the plan of its coordinator (run {})",
                 j.worker, j.state.where(), coordinator);
    for (;;) {
      if (j.state.get("workers.ready") == std::to_string(coordinator)) {
        j.snapshot = j.state.get("workers.snapshot").value_or("");
        co_return;
      }
      if (!j.state.run_alive(coordinator)) break;  // it died before its plan was ready
      if (!co_await io::sleep_unless_stopped(poll_every, stop)) throw job_error(j.rt.stop_reason());
    }
    spdlog::warn("worker {}: the coordinator (run {}) ended before its plan was ready", j.worker,
                 coordinator);
  }
}

asio::awaitable<bool> join_coordinator_snapshot(job& j, pg::connection& holder) {
  bool gone = false;
  try {
    co_await join_snapshot(holder, j.snapshot);
  } catch (const job_error&) {
    gone = true;  // 22023: its exporting transaction ended
  }
  if (!gone) co_return true;
  (void)co_await holder.query("ROLLBACK");
  if (j.state.get("workers.finished") == std::to_string(j.coordinator_run)) {
    spdlog::info("worker {}: the job's other workers finished it already", j.worker);
    co_return false;
  }
  if (j.state.chunks_pending() == 0) {
    j.snapshot.clear();  // no chunk is left to read under it
    co_await join_snapshot(holder, j.snapshot);
    co_return true;
  }
  watch_coordinator(j);
  std::string lost;
  {
    std::lock_guard lk(j.m);
    lost = j.coordinator_lost;
  }
  if (!lost.empty()) throw job_error(lost);
  if (!j.inconsistent.load())
    throw job_error("the coordinator's snapshot " + j.snapshot +
                    " is gone: run the same command again to resume with a fresh snapshot");
  co_await join_snapshot(holder, j.current_snapshot());
  co_return true;
}

void publish_plan(job& j) {
  j.state.put_many({{"workers.snapshot", j.snapshot}, {"workers.ready", std::to_string(j.run_id)}});
}

void watch_coordinator(job& j) {
  if (j.coordinator || j.inconsistent.load() || j.state.run_alive(j.coordinator_run)) return;
  if (j.state.chunks_pending() == 0) return;  // its snapshot is needed no more
  if (j.opts.config.bulk.allow_inconsistent) {
    j.inconsistent = true;
    spdlog::warn(
        "worker {}: the coordinator (run {}) ended and its exported snapshot with it; going on "
        "under fresh snapshots (--allow-inconsistent): the copy is not consistent",
        j.worker, j.coordinator_run);
    return;
  }
  {
    std::lock_guard lk(j.m);
    j.coordinator_lost = fmt::format(
        "the coordinator of job {} (run {}) ended and its exported snapshot with it: the workers "
        "stopped so that the copy stays consistent; run the same command again to resume under "
        "a fresh snapshot, or pass --allow-inconsistent to go on without one",
        j.state.where(), j.coordinator_run);
  }
  j.rt.request_stop("the coordinator ended");
}

bool claim_finish(job& j, table_work& t) {
  if (!j.leased) return true;
  const std::string what = "finish " + t.info.schema + "." + t.info.name;
  {
    std::lock_guard lk(j.m);
    if (t.finish_claimed) return false;  // this worker is on it already
  }
  if (!j.state.try_lock(what)) return false;
  const auto st = j.state.get_table_status(t.info.schema, t.info.name);
  if (st == table_status::done || st == table_status::failed) {
    j.state.unlock(what);
    return false;
  }
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
  try {
    j.state.unlock("finish " + t.info.schema + "." + t.info.name);
  } catch (const std::exception& e) {
    spdlog::warn("{}: finish lock not released ({}); it is when this process ends",
                 t.info.display(), e.what());
  }
}

asio::awaitable<void> finish_others(job& j) {
  const auto stop = j.rt.stop_token();
  while (!stop.stop_requested()) {
    const job_status st = j.state.status_snapshot();
    std::map<std::pair<std::string_view, std::string_view>, const table_row*> rows;
    for (const auto& row : st.tables)
      rows.emplace(std::pair<std::string_view, std::string_view>(row.schema, row.name), &row);
    bool waiting = false;
    for (auto& w : j.tables) {
      auto it = rows.find({w->info.schema, w->info.name});
      if (it == rows.end()) continue;
      const table_row& r = *it->second;
      if (r.status == "done" || r.status == "failed" || r.chunks_done < r.chunks_total) continue;
      waiting = true;  // its data is in, its finish is not: someone's, or ours to take over
      if (!claim_finish(j, *w)) continue;
      spdlog::info("table {}: finishing it (its data is in; no live worker was on it)",
                   w->info.display());
      std::lock_guard lk(j.m);
      table_data_done(j, *w, r.copy_seconds);
    }
    if (!waiting) break;
    if (!co_await io::sleep_unless_stopped(poll_every, stop)) break;
  }
}

asio::awaitable<bool> lock_job_finish(job& j) {
  while (!j.state.try_lock("finish"))
    if (!co_await io::sleep_unless_stopped(poll_every, j.rt.stop_token())) co_return false;
  if (j.state.get("workers.finished") == std::to_string(j.coordinator_run)) {
    j.state.unlock("finish");
    co_return false;  // another worker finished the job
  }
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
  if (finished) j.state.put("workers.finished", std::to_string(j.coordinator_run));
  j.state.unlock("finish");
}

}  // namespace uringmig::engine::bulk
