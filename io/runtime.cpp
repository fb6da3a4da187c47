#include "io/runtime.hpp"

#include "io/uring_probe.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/signal_set.hpp>

#include <unistd.h>
#include <csignal>
#include <cstdio>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <thread>

#ifndef URINGMIG_LIBURING_CANCEL_FIX
#error "io/compat must precede the system include path (Asio 1.81 io_uring cancel fix)"
#endif
#if !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
#error "uringmig must be built with Asio's io_uring backend as the default (no epoll)"
#endif

namespace uringmig::io {

namespace asio = boost::asio;

struct runtime::signal_state {
  explicit signal_state(asio::io_context& ctx) : set(ctx) {}
  asio::signal_set set;
  std::mutex m;
  std::string reason;
  int count = 0;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
};

namespace {

// The runtimes inside run() now, for request_stop_all.
std::mutex running_mu;
std::vector<runtime*> running;
std::string pending_stop;  // a stop asked for while none ran

}  // namespace

void request_stop_all(const std::string& reason) {
  std::lock_guard lk(running_mu);
  if (running.empty()) pending_stop = reason;
  for (runtime* r : running)
    r->request_stop(reason);
}

std::size_t default_thread_count() {
  const unsigned hc = std::thread::hardware_concurrency();
  const std::size_t n = hc == 0 ? 1 : hc;
  return n > 4 ? 4 : n;
}

runtime::runtime(std::size_t threads) {
  const uring_probe_result probe = probe_uring();
  if (!probe.ok) throw std::runtime_error(describe_uring_failure(probe));
  if (threads == 0) threads = default_thread_count();
  contexts_.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i)
    contexts_.push_back(std::make_unique<asio::io_context>(1));
  signals_ = std::make_unique<signal_state>(*contexts_[0]);
}

runtime::~runtime() = default;

void runtime::request_stop(std::string reason) {
  {
    std::lock_guard lk(signals_->m);
    if (signals_->reason.empty()) signals_->reason = std::move(reason);
  }
  stop_.request_stop();
}

std::string runtime::stop_reason() const {
  std::lock_guard lk(signals_->m);
  return signals_->reason;
}

void runtime::run(asio::awaitable<void> main) {
  std::exception_ptr error;
  run_impl([&]() {
    asio::co_spawn(context(0), std::move(main), [&](std::exception_ptr e) {
      error = e;
      main_done();
    });
  });
  if (error) std::rethrow_exception(error);
}

void runtime::main_done() {
  // Let the worker contexts run dry and stop listening for signals.
  signals_->guards.clear();
  boost::system::error_code ignored;
  signals_->set.cancel(ignored);
  signals_->set.clear(ignored);
}

void runtime::run_impl(const std::function<void()>& start) {
  auto& sig = *signals_;
  sig.set.add(SIGINT);
  sig.set.add(SIGTERM);
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [this, &sig, &on_signal](const boost::system::error_code& ec, int signo) {
        if (ec) return;
        if (++sig.count > 1) {
          static const char msg[] = "uringmig: interrupted twice, exiting now\n";
          (void)!::write(2, msg, sizeof msg - 1);
          std::_Exit(130);
        }
        request_stop(signo == SIGINT ? "interrupted (SIGINT)" : "terminated (SIGTERM)");
        sig.set.async_wait(on_signal);
      };
  sig.set.async_wait(on_signal);

  {
    std::lock_guard lk(running_mu);
    running.push_back(this);
    if (!pending_stop.empty()) request_stop(pending_stop);
  }
  struct unregister {
    runtime* self;
    ~unregister() {
      std::lock_guard lk(running_mu);
      std::erase(running, self);
    }
  } registered{this};

  // Every context stays alive until main is done; then each runs dry.
  for (auto& c : contexts_)
    sig.guards.push_back(asio::make_work_guard(*c));
  start();

  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < contexts_.size(); ++i)
    threads.emplace_back([ctx = contexts_[i].get()] { ctx->run(); });
  contexts_[0]->run();
  for (auto& t : threads)
    t.join();
  for (auto& c : contexts_)
    c->restart();
  sig.count = 0;
}

}  // namespace uringmig::io
