#pragma once

#include "io/runtime.hpp"

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <optional>
#include <string>

namespace uringmig::io {

/// `--max-runtime`: while alive, a timer on the runtime's first context that asks the runtime
/// to stop ("--max-runtime Ns reached") when `limit` elapses — the job then winds down as for
/// SIGINT. A zero limit does nothing. Cancelled on destruction (also when unwinding).
class deadline {
 public:
  deadline(runtime& rt, std::chrono::seconds limit) {
    if (limit.count() <= 0) return;
    timer_.emplace(rt.executor(0), limit);
    timer_->async_wait([&rt, limit](boost::system::error_code ec) {
      if (!ec) rt.request_stop("--max-runtime " + std::to_string(limit.count()) + "s reached");
    });
  }
  ~deadline() { cancel(); }
  /// The work it bounded is over: no stop request from now on.
  void cancel() {
    if (timer_) timer_->cancel();
  }
  deadline(const deadline&) = delete;
  deadline& operator=(const deadline&) = delete;

 private:
  std::optional<boost::asio::steady_timer> timer_;
};

}  // namespace uringmig::io
