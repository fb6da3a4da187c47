// io/: channels, the buffer pool, the runtime, the blocking helpers and the foreign-socket
// wrapper.
#include "io/blocking.hpp"
#include "io/buffer_pool.hpp"
#include "io/channel.hpp"
#include "io/foreign_socket.hpp"
#include "io/runtime.hpp"
#include "io/sleep.hpp"

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fcntl.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdint>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace io = uringmig::io;
using namespace asio::experimental::awaitable_operators;

namespace {

struct sized {
  int id;
  std::size_t bytes;
  std::size_t footprint() const { return bytes; }
};

}  // namespace

TEST(io_channel, byte_budget_holds_back_senders_until_received) {
  io::runtime rt(1);
  std::vector<int> trace;  // positive: sent, negative: received
  rt.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    io::channel<sized> ch(100);
    asio::co_spawn(
        ex,
        [&]() -> asio::awaitable<void> {
          for (int i = 1; i <= 4; ++i) {
            co_await ch.send(sized{i, 60});  // two never fit together
            trace.push_back(i);
          }
          ch.close();
        },
        asio::detached);
    while (auto v = co_await ch.receive()) {
      // Only one 60-byte item fits the 100-byte budget: the sender can be at
      // most one item ahead of the receiver.
      EXPECT_LE(ch.bytes_queued(), 100u);
      trace.push_back(-v->id);
    }
  }());
  ASSERT_EQ(trace.size(), 8u);
  int sent = 0, received = 0;
  for (int t : trace) {
    if (t > 0)
      ++sent;
    else
      ++received;
    EXPECT_LE(sent - received, 2);
  }
  EXPECT_EQ(trace.back(), -4);
}

TEST(io_channel, oversized_item_passes_when_empty) {
  io::runtime rt(1);
  bool got = false;
  rt.run([&]() -> asio::awaitable<void> {
    io::channel<sized> ch(10);
    EXPECT_TRUE(co_await ch.send(sized{1, 1000}));
    auto v = co_await ch.receive();
    got = v && v->id == 1;
  }());
  EXPECT_TRUE(got);
}

TEST(io_channel, cancel_drops_items_and_fails_sends) {
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    io::channel<sized> ch(1000);
    EXPECT_TRUE(co_await ch.send(sized{1, 10}));
    ch.cancel();
    EXPECT_FALSE(co_await ch.send(sized{2, 10}));
    EXPECT_FALSE((co_await ch.receive()).has_value());
    EXPECT_EQ(ch.items_queued(), 0u);
  }());
}

TEST(io_channel, close_lets_receivers_drain) {
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    io::channel<sized> ch(1000);
    co_await ch.send(sized{1, 10});
    co_await ch.send(sized{2, 10});
    ch.close();
    EXPECT_FALSE(co_await ch.send(sized{3, 10}));
    EXPECT_EQ((co_await ch.receive())->id, 1);
    EXPECT_EQ((co_await ch.receive())->id, 2);
    EXPECT_FALSE((co_await ch.receive()).has_value());
  }());
}

TEST(io_channel, hands_off_between_threads_in_order) {
  io::runtime rt(2);
  std::int64_t sum = 0;
  int count = 0;
  bool ordered = true;
  std::thread::id producer_thread, consumer_thread;
  rt.run([&]() -> asio::awaitable<void> {
    io::channel<sized> ch(64);
    auto producer = [&]() -> asio::awaitable<void> {
      producer_thread = std::this_thread::get_id();
      for (int i = 0; i < 20000; ++i)
        co_await ch.send(sized{i, 16});
      ch.close();
    };
    auto consumer = [&]() -> asio::awaitable<void> {
      consumer_thread = std::this_thread::get_id();
      int expect = 0;
      while (auto v = co_await ch.receive()) {
        if (v->id != expect++) ordered = false;
        sum += v->id;
        ++count;
      }
    };
    co_await (io::run_on(rt.executor(1), producer()) && consumer());
  }());
  EXPECT_NE(producer_thread, consumer_thread);
  EXPECT_EQ(count, 20000);
  EXPECT_TRUE(ordered);
  EXPECT_EQ(sum, std::int64_t{20000} * 19999 / 2);
}

TEST(io_buffer_pool, slabs_are_aligned_reused_and_budgeted) {
  io::buffer_pool pool(10000, 3 * 12288);  // rounds to 12288-byte slabs, 3 of them
  EXPECT_EQ(pool.slab_size(), 12288u);
  std::vector<io::buffer> held;
  for (int i = 0; i < 3; ++i) {
    auto b = pool.try_acquire();
    ASSERT_TRUE(b.has_value());
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b->data()) % 4096, 0u);
    held.push_back(std::move(*b));
  }
  EXPECT_FALSE(pool.try_acquire().has_value());
  const std::byte* first = held[0].data();
  held[0].reset();
  auto again = pool.try_acquire();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->data(), first);
  EXPECT_EQ(pool.snapshot().allocated, 3u);
  EXPECT_EQ(pool.snapshot().in_use, 3u);
}

TEST(io_buffer_pool, buffers_move_without_copy_and_append_bounded) {
  io::buffer_pool pool(4096, 4096);
  auto b = *pool.try_acquire();
  const std::byte* p = b.data();
  const std::string text(5000, 'x');
  EXPECT_EQ(b.append(text.data(), text.size()), 4096u);
  EXPECT_EQ(b.room(), 0u);
  io::buffer moved = std::move(b);
  EXPECT_EQ(moved.data(), p);
  EXPECT_EQ(moved.size(), 4096u);
  EXPECT_FALSE(static_cast<bool>(b));  // NOLINT(bugprone-use-after-move): the point
}

TEST(io_buffer_pool, acquire_waits_for_a_release_from_another_thread) {
  io::runtime rt(2);
  io::buffer_pool pool(4096, 4096);
  std::size_t waits = 0;
  rt.run([&]() -> asio::awaitable<void> {
    io::buffer first = co_await pool.acquire();
    std::thread::id releaser;
    // The buffer is a parameter, so it lives in the releasing coroutine's own
    // frame: a capture would live in this frame, which ends as soon as the
    // release wakes us, while the other thread is still inside reset().
    auto release_later = [](io::buffer b, std::thread::id& who) -> asio::awaitable<void> {
      asio::steady_timer t(co_await asio::this_coro::executor);
      t.expires_after(std::chrono::milliseconds(20));
      co_await t.async_wait(asio::use_awaitable);
      who = std::this_thread::get_id();
      b.reset();
    };
    asio::co_spawn(rt.executor(1), release_later(std::move(first), releaser), asio::detached);
    io::buffer second = co_await pool.acquire();  // parks until the other thread releases
    EXPECT_TRUE(static_cast<bool>(second));
    EXPECT_NE(releaser, std::this_thread::get_id());
    waits = pool.snapshot().waits;
  }());
  EXPECT_EQ(waits, 1u);
}

TEST(io_runtime, runs_on_chosen_context_and_propagates_errors) {
  io::runtime rt(2);
  EXPECT_EQ(rt.size(), 2u);
  auto ids = rt.run([&]() -> asio::awaitable<std::pair<std::thread::id, std::thread::id>> {
    auto other = co_await io::run_on(rt.executor(1), []() -> asio::awaitable<std::thread::id> {
      co_return std::this_thread::get_id();
    }());
    co_return std::pair{std::this_thread::get_id(), other};
  }());
  EXPECT_NE(ids.first, ids.second);
  EXPECT_THROW(rt.run([]() -> asio::awaitable<void> {
    throw std::runtime_error("boom");
    co_return;
  }()),
               std::runtime_error);
}

TEST(io_runtime, sigterm_requests_a_graceful_stop) {
  io::runtime rt(1);
  bool observed = false;
  rt.run([&]() -> asio::awaitable<void> {
    auto stop = rt.stop_token();
    EXPECT_FALSE(stop.stop_requested());
    ::raise(SIGTERM);
    asio::steady_timer t(co_await asio::this_coro::executor);
    for (int i = 0; i < 5000 && !stop.stop_requested(); ++i) {
      t.expires_after(std::chrono::milliseconds(1));
      co_await t.async_wait(asio::use_awaitable);
    }
    observed = stop.stop_requested();
  }());
  EXPECT_TRUE(observed);
  EXPECT_EQ(rt.stop_reason(), "terminated (SIGTERM)");
}

TEST(io_sleep, runs_the_whole_wait_or_ends_when_a_stop_is_requested) {
  using namespace std::chrono_literals;
  io::runtime rt(2);
  std::stop_source stop;
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(rt.run(io::sleep_unless_stopped(20ms, stop.get_token())));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 20ms);
  // A stop requested from another thread (as the signal handler does) ends a long wait.
  const auto t1 = std::chrono::steady_clock::now();
  std::thread stopper;
  const bool whole = rt.run([&]() -> asio::awaitable<bool> {
    stopper = std::thread([&] { stop.request_stop(); });
    co_return co_await io::sleep_unless_stopped(std::chrono::minutes(2), stop.get_token());
  }());
  stopper.join();
  EXPECT_FALSE(whole);
  EXPECT_LT(std::chrono::steady_clock::now() - t1, std::chrono::minutes(1));
  // Already stopped: no wait at all.
  EXPECT_FALSE(rt.run(io::sleep_unless_stopped(std::chrono::minutes(10), stop.get_token())));
}

TEST(io_foreign_socket, waits_releases_and_never_closes) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    io::foreign_socket s(ex);
    s.assign(p[0]);
    EXPECT_EQ(s.fd(), p[0]);
    // A pending wait, then release(): the wait ends aborted, the fd stays open.
    auto [aborted, released] =
        co_await (s.wait(io::foreign_socket::wait_type::read) && [&]() -> asio::awaitable<int> {
          co_await s.release();
          co_return 0;
        }());
    (void)released;
    EXPECT_EQ(aborted, asio::error::operation_aborted);
    EXPECT_FALSE(s.waiting());
    EXPECT_EQ(s.fd(), -1);
    // Re-assign (as after a reconnect) and see real readiness.
    s.assign(p[0]);
    EXPECT_EQ(::write(p[1], "x", 1), 1);
    auto ec = co_await s.wait(io::foreign_socket::wait_type::read);
    EXPECT_FALSE(ec);
  }());
  EXPECT_NE(::fcntl(p[0], F_GETFD), -1) << "the wrapper closed a descriptor it does not own";
  ::close(p[0]);
  ::close(p[1]);
}

TEST(io_serial_worker, runs_calls_in_order_on_one_thread_and_rethrows) {
  io::runtime rt(2);
  io::serial_worker w;
  std::vector<int> order;  // written only on the worker's thread
  std::set<std::thread::id> threads;
  std::atomic<int> resumed_elsewhere{0};
  rt.run([&]() -> asio::awaitable<void> {
    auto one = [&](int first) -> asio::awaitable<void> {
      const auto caller = std::this_thread::get_id();
      for (int i = first; i < first + 50; i += 2) {
        co_await w.run([&, i] {
          order.push_back(i);
          threads.insert(std::this_thread::get_id());
        });
        if (std::this_thread::get_id() != caller) ++resumed_elsewhere;
      }
    };
    co_await (one(0) && io::run_on(rt.executor(1), one(1)));
    EXPECT_THROW(co_await w.run([] { throw std::runtime_error("boom"); }), std::runtime_error);
    co_await w.run([&] { order.push_back(-1); });  // the worker goes on after a throw
  }());
  ASSERT_EQ(order.size(), 51u);
  EXPECT_EQ(order.back(), -1);
  EXPECT_EQ(threads.size(), 1u);           // one thread for every call
  EXPECT_EQ(resumed_elsewhere.load(), 0);  // callers resume on their own context
  std::vector<int> evens, odds;
  for (int v : order)
    (v < 0 ? evens : v % 2 == 0 ? evens : odds).push_back(v);
  evens.pop_back();
  EXPECT_TRUE(std::is_sorted(evens.begin(), evens.end()));  // each caller's calls in order
  EXPECT_TRUE(std::is_sorted(odds.begin(), odds.end()));
  EXPECT_EQ(evens.size(), 25u);
  EXPECT_EQ(odds.size(), 25u);
}
