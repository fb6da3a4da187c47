#pragma once

// What a running job shows to --http (the API, /metrics, the WebSocket) and the controls it
// takes from there: one per process. The job's progress is attached while a progress reporter
// runs; the rest are counters the engine bumps (chunk durations, retries) and the pause gate
// the chunk workers and the CDC follower wait at.

#include <boost/asio/awaitable.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <stop_token>
#include <string>
#include <vector>

namespace uringmig::engine {
class progress;
}

namespace uringmig::engine::observe {

/// A histogram with fixed bucket bounds (seconds), thread-safe, cumulative counts as Prometheus
/// writes them.
class histogram {
 public:
  static constexpr std::array<double, 12> bounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                    0.5,   1,    2.5,   5,    10,  60};
  void observe(double seconds) noexcept;
  struct snapshot_t {
    std::array<std::uint64_t, bounds.size()> cumulative{};
    std::uint64_t count = 0;
    double sum = 0;
  };
  snapshot_t snapshot() const;

 private:
  mutable std::mutex mu_;
  std::array<std::uint64_t, bounds.size()> counts_{};
  std::uint64_t count_ = 0;
  double sum_ = 0;
};

class hub {
 public:
  /// The job's live progress: each `progress` attaches itself while it lives; the newest
  /// attached one is shown.
  void attach(const progress* p);
  void detach(const progress* p);
  /// Calls `f` with the attached progress (or nullptr) under the hub's lock: `p` stays valid.
  void with_progress(const std::function<void(const progress*)>& f) const;
  /// `f` is called under the hub's lock with a progress as it detaches while no other stays
  /// attached (the job's work is over), so that what --http serves until it stops keeps the
  /// job's last picture. One at a time; empty: none.
  void on_last_detach(std::function<void(const progress&)> f);

  /// An explicit phase ("done", "failed", "stopping"); "" lets the snapshot derive it.
  void set_phase(std::string phase);
  std::string phase() const;

  void pause() noexcept { paused_.store(true); }
  void resume() noexcept { paused_.store(false); }
  bool paused() const noexcept { return paused_.load(); }

  void chunk_finished(double seconds) noexcept { chunk_seconds_.observe(seconds); }
  void target_txn_finished(double seconds) noexcept { txn_seconds_.observe(seconds); }
  void retried(const std::string& reason);
  std::map<std::string, std::uint64_t> retries() const;
  const histogram& chunk_seconds() const noexcept { return chunk_seconds_; }
  const histogram& txn_seconds() const noexcept { return txn_seconds_; }

 private:
  mutable std::mutex mu_;
  std::vector<const progress*> attached_;
  std::function<void(const progress&)> last_detach_;
  std::string phase_;
  std::map<std::string, std::uint64_t> retries_;
  std::atomic<bool> paused_{false};
  histogram chunk_seconds_;
  histogram txn_seconds_;
};

/// The process's hub.
hub& the_hub();

/// Returns at once when not paused; else waits until resumed or `stop` is requested (polls on
/// the caller's executor).
boost::asio::awaitable<void> wait_while_paused(std::stop_token stop);

}  // namespace uringmig::engine::observe
