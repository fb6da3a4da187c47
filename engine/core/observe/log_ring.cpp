#include "engine/core/observe/log_ring.hpp"

#include <fmt/format.h>

#include <chrono>
#include <ctime>

namespace uringmig::engine::observe {

namespace {

std::string now_utc() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

}  // namespace

void log_ring::push(std::string_view level, std::string_view msg) {
  log_line l{0, now_utc(), std::string(level), std::string(msg)};
  std::lock_guard lk(mu_);
  l.seq = next_++;
  lines_.push_back(std::move(l));
  while (lines_.size() > capacity_)
    lines_.pop_front();
}

std::vector<log_line> log_ring::since(std::uint64_t since, std::size_t max) const {
  std::lock_guard lk(mu_);
  std::vector<log_line> out;
  for (const auto& l : lines_) {
    if (l.seq <= since) continue;
    if (out.size() >= max) break;
    out.push_back(l);
  }
  return out;
}

std::uint64_t log_ring::last() const {
  std::lock_guard lk(mu_);
  return next_ - 1;
}

log_ring& the_log() {
  static log_ring ring;
  return ring;
}

}  // namespace uringmig::engine::observe
