#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <memory>
#include <stop_token>

namespace uringmig::io {

/// Waits `d` on the caller's executor, or less once `stop` is requested (a retry's backoff
/// must not hold up SIGINT or --max-runtime). True when the whole wait ran.
inline boost::asio::awaitable<bool> sleep_unless_stopped(std::chrono::milliseconds d,
                                                         std::stop_token stop) {
  if (stop.stop_requested()) co_return false;
  auto ex = co_await boost::asio::this_coro::executor;
  // Shared with the stop callback's posted cancel, which may run after this frame is gone.
  auto timer = std::make_shared<boost::asio::steady_timer>(ex, d);
  // The callback runs on whichever thread requests the stop: the timer is only touched on its
  // own executor.
  std::stop_callback on_stop(stop,
                             [timer, ex] { boost::asio::post(ex, [timer] { timer->cancel(); }); });
  (void)co_await timer->async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  co_return !stop.stop_requested();
}

}  // namespace uringmig::io
