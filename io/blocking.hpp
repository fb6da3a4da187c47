#pragma once

#include "io/waiters.hpp"

#include <boost/asio/awaitable.hpp>

#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>

namespace uringmig::io {

namespace detail {

/// One blocking call's outcome, handed from the thread that runs it to the coroutine that
/// waits for it: run() on the other thread, then co_await wait() (in that order or not).
template <class T>
struct blocking_call {
  std::mutex m;
  bool done = false;
  std::optional<wake_handler> waiter;
  std::exception_ptr error;
  std::conditional_t<std::is_void_v<T>, bool, std::optional<T>> value{};

  template <class F>
  void run(F& fn) {
    try {
      if constexpr (std::is_void_v<T>) {
        fn();
      } else {
        value.emplace(fn());
      }
    } catch (...) {
      error = std::current_exception();
    }
    std::unique_lock lk(m);
    done = true;
    auto w = std::move(waiter);
    lk.unlock();
    if (w) wake(std::move(*w));
  }

  /// Parks until run() ended (not at all if it did).
  boost::asio::awaitable<void> wait() {
    co_await park([this](wake_handler& h) {
      std::lock_guard lk(m);
      if (done) return false;
      waiter = std::move(h);
      return true;
    });
  }

  /// What fn returned, or what it threw rethrown.
  T result() {
    if (error) std::rethrow_exception(error);
    if constexpr (!std::is_void_v<T>) return std::move(*value);
  }
};

}  // namespace detail

/// Runs a blocking call (a child process, a SQLite transaction) on a thread of
/// its own and resumes the caller on its executor with the result; the io
/// thread keeps serving its other coroutines meanwhile. Rethrows what `fn` throws.
template <class F>
boost::asio::awaitable<std::invoke_result_t<F>> run_blocking(F fn) {
  using T = std::invoke_result_t<F>;
  detail::blocking_call<T> call;
  std::thread worker([&call, &fn] { call.run(fn); });
  co_await call.wait();
  worker.join();
  co_return call.result();
}

/// One thread that runs short blocking calls (SQLite commits) in the order they come, for
/// callers that make many: run_blocking's thread per call costs ~37 us of system time (40 000
/// thread starts took 1.5 s), a queue costs a wake-up. The thread starts at the first call and
/// ends with the object, after the calls queued before.
class serial_worker {
 public:
  serial_worker() = default;
  serial_worker(const serial_worker&) = delete;
  serial_worker& operator=(const serial_worker&) = delete;
  ~serial_worker() {
    {
      std::lock_guard lk(m_);
      stopping_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

  /// Runs `fn` on the worker's thread; resumes the caller on its executor afterwards and
  /// rethrows what `fn` threw.
  template <class F>
  boost::asio::awaitable<void> run(F fn) {
    detail::blocking_call<void> call;
    enqueue([&call, &fn] { call.run(fn); });
    co_await call.wait();
    call.result();
  }

 private:
  void enqueue(std::function<void()> task) {
    {
      std::lock_guard lk(m_);
      tasks_.push_back(std::move(task));
      if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
    }
    cv_.notify_one();
  }
  void loop() {
    std::unique_lock lk(m_);
    for (;;) {
      cv_.wait(lk, [this] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;  // stopping, nothing left
      std::function<void()> task = std::move(tasks_.front());
      tasks_.pop_front();
      lk.unlock();
      task();
      lk.lock();
    }
  }

  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace uringmig::io
