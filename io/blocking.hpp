#pragma once

#include "io/waiters.hpp"

#include <boost/asio/awaitable.hpp>

#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>

namespace uringmig::io {

/// Runs a blocking call (a child process, a SQLite transaction) on a thread of
/// its own and resumes the caller on its executor with the result; the io
/// thread keeps serving its other coroutines meanwhile. Rethrows what `fn` throws.
template <class F>
boost::asio::awaitable<std::invoke_result_t<F>> run_blocking(F fn) {
  using T = std::invoke_result_t<F>;
  struct state {
    std::mutex m;
    bool done = false;
    std::optional<wake_handler> waiter;
    std::exception_ptr error;
    std::conditional_t<std::is_void_v<T>, bool, std::optional<T>> value{};
  };
  state st;
  std::thread worker([&st, &fn] {
    try {
      if constexpr (std::is_void_v<T>) {
        fn();
      } else {
        st.value.emplace(fn());
      }
    } catch (...) {
      st.error = std::current_exception();
    }
    std::unique_lock lk(st.m);
    st.done = true;
    auto w = std::move(st.waiter);
    lk.unlock();
    if (w) wake(std::move(*w));
  });
  co_await park([&st](wake_handler& h) {
    std::lock_guard lk(st.m);
    if (st.done) return false;
    st.waiter = std::move(h);
    return true;
  });
  worker.join();
  if (st.error) std::rethrow_exception(st.error);
  if constexpr (!std::is_void_v<T>) co_return std::move(*st.value);
}

}  // namespace uringmig::io
