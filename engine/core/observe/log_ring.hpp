#pragma once

// The last log lines, for GET /api/v1/log: a bounded ring the logger feeds (cli/logging adds a
// sink behind its redacting layer, so what lands here is already redacted).

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace uringmig::engine::observe {

struct log_line {
  std::uint64_t seq = 0;  // 1, 2, ...: ask for the lines after the last one seen
  std::string ts;         // 2026-01-02T03:04:05.678Z
  std::string level;      // info, warn, ...
  std::string msg;
};

class log_ring {
 public:
  explicit log_ring(std::size_t capacity = 1000) : capacity_(capacity) {}
  /// Thread-safe; drops the oldest line when full.
  void push(std::string_view level, std::string_view msg);
  /// The lines with seq > `since`, oldest first, at most `max`.
  std::vector<log_line> since(std::uint64_t since, std::size_t max) const;
  /// The seq of the newest line (0: none yet).
  std::uint64_t last() const;

 private:
  mutable std::mutex mu_;
  std::size_t capacity_;
  std::uint64_t next_ = 1;
  std::deque<log_line> lines_;
};

/// The process's ring.
log_ring& the_log();

}  // namespace uringmig::engine::observe
