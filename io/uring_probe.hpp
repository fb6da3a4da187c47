#pragma once

#include <string>

namespace uringmig::io {

/// Result of actually setting up (and tearing down) a small io_uring ring.
struct uring_probe_result {
  bool ok = false;
  int error = 0;      // errno of io_uring_queue_init when !ok
  std::string cause;  // one line: what failed, e.g. "io_uring_setup: Operation not permitted"
  std::string fix;    // one line: what the user can do about it
};

/// Attempts io_uring_queue_init on a tiny ring. Cheap (< 1 ms); call once at start-up.
uring_probe_result probe_uring();

/// "2.3" — the liburing version this binary was built against.
std::string liburing_version();

/// One line for the user when io_uring is unavailable: cause and fix.
std::string describe_uring_failure(const uring_probe_result& r);

}  // namespace uringmig::io
