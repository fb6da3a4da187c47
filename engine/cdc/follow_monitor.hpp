#pragma once

// The follower's watch: every 250 ms the lag (source WAL position minus what the target
// committed, and the age of the oldest source commit not applied yet) for the progress line,
// stats CSV and JSON log; every second the same figures into the state store (`status`,
// `switchover`). It runs beside the follow loop on the same executor, so the figures stay live
// while a long target transaction runs. Once a stop was asked for and the follow loop has not
// ended within a moment, it cancels the applier's statements on the target (pg_cancel_backend of
// the apply sessions), so a stop is prompt and what was not committed is rolled back.

#include "codecs/url.hpp"
#include "connectors/postgres/replication.hpp"
#include "engine/cdc/apply.hpp"
#include "engine/core/progress.hpp"
#include "engine/core/state_store.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>

namespace uringmig::engine {

/// The lag figures at one moment.
struct follow_lag {
  cdc::apply_stats stats;
  codecs::pgoutput::lsn source_lsn = 0;  // the source's WAL position
  codecs::pgoutput::lsn applied = 0;     // everything before it is on the target
  std::uint64_t bytes = 0;
  double seconds = 0;
};

/// Not copyable. The references must outlive it; its watch touches them only while it lives (an
/// exception may destroy it without finish(): the watch then ends on its own).
class follow_monitor {
 public:
  follow_monitor(state_store& st, follow_progress& fp, cdc::applier& a,
                 connectors::postgres::replication_connection& rc, codecs::endpoint source,
                 codecs::endpoint target);
  ~follow_monitor();
  follow_monitor(const follow_monitor&) = delete;
  follow_monitor& operator=(const follow_monitor&) = delete;

  /// Spawns the watch on `ex`.
  void start(const boost::asio::any_io_executor& ex);
  /// A stop was asked for: cancel the apply sessions' statements if the follow loop still runs
  /// a moment later.
  void stopping();
  /// Ends the watch and waits for it; then publishes and records the last figures.
  boost::asio::awaitable<follow_lag> finish();

  struct state;

 private:
  std::shared_ptr<state> s_;
};

}  // namespace uringmig::engine
