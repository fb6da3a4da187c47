#pragma once

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <deque>
#include <optional>
#include <utility>

// Parking a coroutine until another one (maybe on another thread) wakes it: the building block
// of channel, buffer_pool and run_blocking, and the public way for the layers above to wait on
// a condition they guard with their own lock.

namespace uringmig::io {

/// A parked coroutine and the executor (work-tracked) it resumes on.
struct wake_handler {
  boost::asio::any_io_executor executor;
  boost::asio::any_completion_handler<void()> handler;
};

/// Resumes the coroutine on its own executor. Never runs it inline, so a
/// waker holding a lock or iterating a queue is never re-entered.
inline void wake(wake_handler w) {
  boost::asio::post(w.executor, [h = std::move(w.handler)]() mutable { std::move(h)(); });
}

/// FIFO of parked coroutines. Not synchronised: the owner guards it.
class waiters {
 public:
  void push(wake_handler h) { q_.push_back(std::move(h)); }
  bool empty() const { return q_.empty(); }

  /// The oldest parked handler, if any; wake it after releasing the lock.
  std::optional<wake_handler> take_one() {
    if (q_.empty()) return std::nullopt;
    wake_handler h = std::move(q_.front());
    q_.pop_front();
    return h;
  }

  /// Moves every parked handler out; wake them after releasing the lock.
  std::deque<wake_handler> take_all() { return std::exchange(q_, {}); }

 private:
  std::deque<wake_handler> q_;
};

inline void wake_all(std::deque<wake_handler> hs) {
  for (auto& h : hs)
    wake(std::move(h));
}

/// Suspends the calling coroutine. `try_park(wake_handler&)` runs at the
/// suspension point (take the lock there): it returns true when it stored the
/// handler for a later wake, false to resume at once.
template <class TryPark>
auto park(TryPark try_park) {
  return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void()>(
      [try_park = std::move(try_park)](auto handler) mutable {
        // A parked coroutine counts as outstanding work on its executor, so
        // its io_context does not run dry while it waits for another thread.
        auto ex = boost::asio::prefer(boost::asio::get_associated_executor(handler),
                                      boost::asio::execution::outstanding_work.tracked);
        wake_handler h{std::move(ex), std::move(handler)};
        if (!try_park(h)) wake(std::move(h));
      },
      boost::asio::use_awaitable);
}

}  // namespace uringmig::io
