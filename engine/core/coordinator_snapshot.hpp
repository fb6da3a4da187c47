// The snapshot the workers of one job read under (the bulk clone, the Doris load): the round's
// coordinator exports it and holds it open until the job's chunks are in; the others join it.
// When the coordinator dies first, a follower stops with one line (run the same command again),
// or with --allow-inconsistent goes on under fresh snapshots and says so.
#pragma once

#include "connectors/postgres/connection.hpp"
#include "engine/core/state_store.hpp"
#include "engine/core/workers.hpp"
#include "io/runtime.hpp"

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

namespace uringmig::engine {

/// The kv key under which a coordinator publishes its snapshot (publish_plan's `extra`).
inline constexpr const char* published_snapshot_key = "workers.snapshot";

/// One process's side of its round's snapshot. Thread-safe: watch() runs on the state's writer
/// thread (the chunk runner's heartbeat), the rest on the job's contexts. Does nothing until
/// joined(): a process that runs its job alone never stops for a coordinator.
class coordinator_snapshot {
 public:
  coordinator_snapshot(state_store& state, io::runtime& rt) : state_(state), rt_(rt) {}

  /// This worker's round (join_workers'); `allow_inconsistent`: --allow-inconsistent.
  void joined(const worker_round& r, std::string worker, bool allow_inconsistent);
  bool coordinator() const { return round_.coordinator; }
  std::int64_t coordinator_run() const { return round_.coordinator_run; }

  /// The snapshot a new source session joins: `snapshot`, or none (a fresh one) once the
  /// coordinator died under --allow-inconsistent.
  std::string current(const std::string& snapshot) const;
  /// The coordinator died and this worker went on under fresh snapshots (--allow-inconsistent).
  bool inconsistent() const { return inconsistent_.load(); }
  /// Not empty: the coordinator died while chunks were left and this worker stopped; the line
  /// its run ends with.
  std::string lost() const;

  /// The chunk runner's heartbeat (chunk_leases::heartbeat): a follower whose coordinator died
  /// while chunks are left requests the runtime's stop (lost()), or with --allow-inconsistent
  /// goes on under fresh snapshots.
  void watch();

  /// A follower's session `c` enters the coordinator's `snapshot`. When it is gone (the
  /// coordinator ended meanwhile): false when the job's last steps are done (nothing is left to
  /// do; `c` is in no transaction); with no chunk left, `snapshot` is cleared and `c` reads under
  /// a fresh one; else the coordinator's loss as watch() handles it: a job_error, or with
  /// --allow-inconsistent a fresh snapshot.
  boost::asio::awaitable<bool> join(connectors::postgres::connection& c, std::string& snapshot);

 private:
  state_store& state_;
  io::runtime& rt_;
  worker_round round_;
  std::string worker_;
  bool allow_inconsistent_ = false;
  bool joined_ = false;
  std::atomic<bool> inconsistent_{false};
  mutable std::mutex m_;
  std::string lost_;  // guarded by m_
};

}  // namespace uringmig::engine
