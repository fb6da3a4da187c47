#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

namespace uringmig::io {

/// A few threads, each running its own io_context on the io_uring backend with
/// concurrency hint 1. Connections belong to one context for life; hand-offs
/// between contexts go through io::channel. SIGINT/SIGTERM while run() is
/// active request a graceful stop (see stop_token()); a second signal exits at once.
class runtime {
 public:
  /// `threads` == 0: one per core, at most 4. Throws std::runtime_error with
  /// io::describe_uring_failure() when no io_uring ring can be set up.
  explicit runtime(std::size_t threads = 0);
  ~runtime();
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  std::size_t size() const { return contexts_.size(); }
  boost::asio::io_context& context(std::size_t i) { return *contexts_.at(i); }
  boost::asio::any_io_executor executor(std::size_t i) { return contexts_.at(i)->get_executor(); }

  /// Observed by the engine: set by SIGINT/SIGTERM or request_stop().
  std::stop_token stop_token() const { return stop_.get_token(); }
  void request_stop(std::string reason);
  std::string stop_reason() const;

  /// Runs `main` on context 0 while every context's thread runs; returns its
  /// value once it finished and every context ran out of work (so nothing
  /// outlives the contexts). Rethrows what `main` threw.
  template <class T>
  T run(boost::asio::awaitable<T> main) {
    std::optional<T> out;
    std::exception_ptr error;
    run_impl([&]() {
      boost::asio::co_spawn(context(0), std::move(main), [&](std::exception_ptr e, T v) {
        error = e;
        if (!e) out.emplace(std::move(v));
        main_done();
      });
    });
    if (error) std::rethrow_exception(error);
    return std::move(*out);
  }

  void run(boost::asio::awaitable<void> main);

 private:
  struct signal_state;
  void run_impl(const std::function<void()>& start);
  void main_done();

  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::stop_source stop_;
  std::unique_ptr<signal_state> signals_;
};

/// Runs `task` on executor `ex` (another context) and resumes the caller on its
/// own executor with the result.
template <class T>
boost::asio::awaitable<T> run_on(boost::asio::any_io_executor ex, boost::asio::awaitable<T> task) {
  co_return co_await boost::asio::co_spawn(ex, std::move(task), boost::asio::use_awaitable);
}

/// A stop as SIGTERM asks for, from anywhere (the HTTP API's /stop): every runtime running
/// now is asked to stop with `reason`; with none running, the next one to run starts stopped.
void request_stop_all(const std::string& reason);

/// The number of threads a runtime(0) uses here.
std::size_t default_thread_count();

}  // namespace uringmig::io
