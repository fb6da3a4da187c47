#pragma once

// Running several coroutines to completion together: co_spawn each with asio::deferred (on
// whichever executor it belongs to), then `co_await io::wait_all(std::move(ops))`.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <exception>
#include <utility>
#include <vector>

namespace uringmig::io {

/// A coroutine spawned with asio::deferred: it starts when awaited.
using spawned = decltype(boost::asio::co_spawn(std::declval<boost::asio::any_io_executor>(),
                                               std::declval<boost::asio::awaitable<void>>(),
                                               boost::asio::deferred));

/// Starts them all at once and waits for every one; then rethrows the first error (in spawn
/// order). None is cancelled when another fails.
inline boost::asio::awaitable<void> wait_all(std::vector<spawned> ops) {
  if (ops.empty()) co_return;
  auto [order, errors] =
      co_await boost::asio::experimental::make_parallel_group(std::move(ops))
          .async_wait(boost::asio::experimental::wait_for_all(), boost::asio::use_awaitable);
  (void)order;
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace uringmig::io
