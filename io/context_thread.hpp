#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <exception>
#include <future>
#include <optional>
#include <thread>
#include <utility>

namespace uringmig::io {

/// One io_context (io_uring, concurrency hint 1) on a thread of its own, for a synchronous
/// facade over asynchronous connections (the PostgreSQL state store: its callers block as on a
/// SQLite call, its socket is still awaited on io_uring). The thread ends with the object, after
/// the work queued on the context (destroy what lives on it through call() first).
class context_thread {
 public:
  context_thread() : ctx_(1), guard_(ctx_.get_executor()), thread_([this] { ctx_.run(); }) {}
  context_thread(const context_thread&) = delete;
  context_thread& operator=(const context_thread&) = delete;
  ~context_thread() {
    guard_.reset();
    if (thread_.joinable()) thread_.join();
  }

  boost::asio::any_io_executor executor() { return ctx_.get_executor(); }

  /// Runs `task` on the context and blocks the caller until it is done; rethrows what it threw.
  /// Never call it from the context's own thread.
  template <class T>
  T call(boost::asio::awaitable<T> task) {
    std::promise<T> done;
    auto result = done.get_future();
    boost::asio::co_spawn(ctx_, std::move(task), [&done](std::exception_ptr e, T v) {
      if (e)
        done.set_exception(e);
      else
        done.set_value(std::move(v));
    });
    return result.get();
  }
  void call(boost::asio::awaitable<void> task) {
    std::promise<void> done;
    auto result = done.get_future();
    boost::asio::co_spawn(ctx_, std::move(task), [&done](std::exception_ptr e) {
      if (e)
        done.set_exception(e);
      else
        done.set_value();
    });
    result.get();
  }

 private:
  boost::asio::io_context ctx_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::thread thread_;
};

}  // namespace uringmig::io
