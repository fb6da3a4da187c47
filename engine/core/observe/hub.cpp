#include "engine/core/observe/hub.hpp"

#include "io/sleep.hpp"

#include <algorithm>
#include <chrono>

namespace uringmig::engine::observe {

void histogram::observe(double seconds) noexcept {
  std::lock_guard lk(mu_);
  const auto it = std::lower_bound(bounds.begin(), bounds.end(), seconds);
  if (it != bounds.end()) ++counts_[static_cast<std::size_t>(it - bounds.begin())];
  ++count_;
  sum_ += seconds;
}

histogram::snapshot_t histogram::snapshot() const {
  std::lock_guard lk(mu_);
  snapshot_t s;
  std::uint64_t running = 0;
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    running += counts_[i];
    s.cumulative[i] = running;
  }
  s.count = count_;
  s.sum = sum_;
  return s;
}

void hub::attach(const progress* p) {
  std::lock_guard lk(mu_);
  attached_.push_back(p);
}

void hub::detach(const progress* p) {
  std::lock_guard lk(mu_);
  std::erase(attached_, p);
  if (attached_.empty() && last_detach_) last_detach_(*p);
}

void hub::on_last_detach(std::function<void(const progress&)> f) {
  std::lock_guard lk(mu_);
  last_detach_ = std::move(f);
}

void hub::with_progress(const std::function<void(const progress*)>& f) const {
  std::lock_guard lk(mu_);
  f(attached_.empty() ? nullptr : attached_.back());
}

void hub::set_phase(std::string phase) {
  std::lock_guard lk(mu_);
  phase_ = std::move(phase);
}

std::string hub::phase() const {
  std::lock_guard lk(mu_);
  return phase_;
}

void hub::retried(const std::string& reason) {
  std::lock_guard lk(mu_);
  ++retries_[reason];
}

std::map<std::string, std::uint64_t> hub::retries() const {
  std::lock_guard lk(mu_);
  return retries_;
}

hub& the_hub() {
  static hub h;
  return h;
}

boost::asio::awaitable<void> wait_while_paused(std::stop_token stop) {
  // Pausing is rare and a resume may wait a poll: no wake-up machinery across contexts.
  constexpr auto poll = std::chrono::milliseconds(50);
  while (the_hub().paused() && !stop.stop_requested())
    (void)co_await io::sleep_unless_stopped(poll, stop);
}

}  // namespace uringmig::engine::observe
