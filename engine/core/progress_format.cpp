// The human forms of sizes, durations and counts that progress lines, summaries and `status`
// print (declared in core/progress.hpp).
#include "engine/core/progress.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <string>

namespace uringmig::engine {

std::string format_bytes(std::int64_t bytes) {
  const double b = double(bytes);
  if (std::abs(b) < 1e3) return fmt::format("{} B", bytes);
  if (std::abs(b) < 1e6) return fmt::format("{:.1f} kB", b / 1e3);
  if (std::abs(b) < 1e9) return fmt::format("{:.1f} MB", b / 1e6);
  if (std::abs(b) < 1e12) return fmt::format("{:.2f} GB", b / 1e9);
  return fmt::format("{:.2f} TB", b / 1e12);
}

std::string format_seconds(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--";
  if (seconds < 60) return fmt::format("{:.1f}s", seconds);
  const auto s = std::llround(seconds);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, s % 3600 / 60);
}

std::string format_count(std::int64_t n) {
  const double v = double(n);
  if (std::abs(v) < 1e3) return std::to_string(n);
  if (std::abs(v) < 1e6) return fmt::format("{:.1f}k", v / 1e3);
  if (std::abs(v) < 1e9) return fmt::format("{:.2f}M", v / 1e6);
  return fmt::format("{:.2f}G", v / 1e9);
}

}  // namespace uringmig::engine
