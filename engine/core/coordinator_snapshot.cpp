// The snapshot a job's workers share: see coordinator_snapshot.hpp.
#include "engine/core/coordinator_snapshot.hpp"

#include "engine/core/pg_session.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace uringmig::engine {

namespace asio = boost::asio;

void coordinator_snapshot::joined(const worker_round& r, std::string worker,
                                  bool allow_inconsistent) {
  round_ = r;
  worker_ = std::move(worker);
  allow_inconsistent_ = allow_inconsistent;
  joined_ = true;
}

std::string coordinator_snapshot::current(const std::string& snapshot) const {
  return inconsistent_.load() ? std::string() : snapshot;
}

std::string coordinator_snapshot::lost() const {
  std::lock_guard lk(m_);
  return lost_;
}

void coordinator_snapshot::watch() {
  if (!joined_ || round_.coordinator || inconsistent_.load() ||
      state_.run_alive(round_.coordinator_run))
    return;
  if (state_.chunks_pending() == 0) return;  // its snapshot is needed no more
  if (allow_inconsistent_) {
    inconsistent_ = true;
    spdlog::warn(
        "worker {}: the coordinator (run {}) ended and its exported snapshot with it; going on "
        "under fresh snapshots (--allow-inconsistent): the data is not consistent",
        worker_, round_.coordinator_run);
    return;
  }
  {
    std::lock_guard lk(m_);
    lost_ = fmt::format(
        "the coordinator of job {} (run {}) ended and its exported snapshot with it: the workers "
        "stopped so that the data stays consistent; run the same command again to resume under "
        "a fresh snapshot, or pass --allow-inconsistent to go on without one",
        state_.where(), round_.coordinator_run);
  }
  rt_.request_stop("the coordinator ended");
}

asio::awaitable<bool> coordinator_snapshot::join(connectors::postgres::connection& c,
                                                 std::string& snapshot) {
  bool gone = false;
  try {
    co_await join_snapshot(c, current(snapshot));
  } catch (const job_error&) {
    gone = true;  // 22023: its exporting transaction ended
  }
  if (!gone) co_return true;
  (void)co_await c.query("ROLLBACK");
  if (job_finished(state_, round_.coordinator_run)) {
    spdlog::info("worker {}: the job's other workers finished it already", worker_);
    co_return false;
  }
  if (state_.chunks_pending() == 0) {
    snapshot.clear();  // no chunk is left to read under it
    co_await join_snapshot(c, snapshot);
    co_return true;
  }
  watch();
  if (std::string why = lost(); !why.empty()) throw job_error(why);
  if (!inconsistent_.load())
    throw job_error("the coordinator's snapshot " + snapshot +
                    " is gone: run the same command again to resume with a fresh snapshot");
  co_await join_snapshot(c, current(snapshot));
  co_return true;
}

}  // namespace uringmig::engine
