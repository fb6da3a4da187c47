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
#include "engine/cdc_apply.hpp"
#include "engine/progress.hpp"
#include "engine/state_store.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
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

/// Not copyable; references must outlive it. Every member runs on the follower's executor.
class follow_monitor {
 public:
  follow_monitor(state_store& st, follow_progress& fp, cdc::applier& a,
                 connectors::postgres::replication_connection& rc, codecs::endpoint source,
                 codecs::endpoint target);
  follow_monitor(const follow_monitor&) = delete;
  follow_monitor& operator=(const follow_monitor&) = delete;

  /// Spawns the watch on `ex`; finish() must be awaited before this object goes away.
  void start(const boost::asio::any_io_executor& ex);
  /// A stop was asked for: cancel the apply sessions' statements if the follow loop still runs
  /// a moment later.
  void stopping();
  /// Ends the watch and waits for it; then publishes and records the last figures.
  boost::asio::awaitable<follow_lag> finish();

 private:
  boost::asio::awaitable<void> run();
  boost::asio::awaitable<void> refresh_source_lsn();
  boost::asio::awaitable<void> cancel_apply();
  follow_lag publish();
  void record(const follow_lag& l);

  state_store& st_;
  follow_progress& fp_;
  cdc::applier& a_;
  connectors::postgres::replication_connection& rc_;
  codecs::endpoint source_;
  codecs::endpoint target_;
  std::optional<connectors::postgres::connection> src_;
  std::optional<connectors::postgres::connection> dst_;
  codecs::pgoutput::lsn source_lsn_ = 0;
  std::uint64_t first_changes_ = 0;
  std::uint64_t last_changes_ = 0;
  std::chrono::steady_clock::time_point last_record_;
  std::optional<std::chrono::steady_clock::time_point> stop_asked_;
  bool done_ = false;
  bool running_ = false;
  std::optional<boost::asio::steady_timer> tick_;
  std::optional<boost::asio::steady_timer> ended_;  // cancelled when run() returns
};

}  // namespace uringmig::engine
