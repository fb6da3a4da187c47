// A fast shutdown of the source while a consumer that applied everything is attached: the
// walsender waits until the consumer confirms its whole sent WAL, which on a busy source lies
// past the last commit the consumer saw, so the stream must confirm keepalives up to the
// server's position once the consumer is caught up. A cluster of its own
// (the test stops it).
#include "codecs/pgoutput.hpp"
#include "connectors/postgres/replication.hpp"
#include "io/runtime.hpp"
#include "tests/support/pg_cluster.hpp"

#include <gtest/gtest.h>
#include <boost/asio/this_coro.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <thread>

namespace {

namespace asio = boost::asio;
namespace pg = uringmig::connectors::postgres;
namespace pgo = uringmig::codecs::pgoutput;
namespace io = uringmig::io;
using uringmig::test::pg_cluster;

TEST(replication_shutdown, fast_shutdown_ends_while_a_caught_up_consumer_is_attached) {
  pg_cluster c;
  c.start();
  c.stop_when_process_exits();
  c.create_database("shut");
  c.exec("shut",
         "CREATE TABLE t (id int PRIMARY KEY, v text); CREATE TABLE other (v int); "
         "CREATE PUBLICATION p FOR TABLE t");
  c.exec("shut", "SELECT pg_create_logical_replication_slot('s', 'pgoutput')");
  constexpr int transactions = 20;
  for (int i = 0; i < transactions; ++i) {
    c.exec("shut", "INSERT INTO t SELECT g, 'x' FROM generate_series(" + std::to_string(i * 50) +
                       ", " + std::to_string(i * 50 + 49) + ") g");
  }
  io::runtime rt(1);
  int stop_exit = -1;
  double stop_seconds = 0;
  rt.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto rc = co_await pg::replication_connection::connect(ex, c.tcp_url("shut"));
    pg::stream_options so;
    so.slot = "s";
    so.publications = {"p"};
    so.status_interval = std::chrono::milliseconds(200);
    co_await rc.start(so);
    // Apply (here: take) every transaction and confirm its end.
    pgo::decoder dec(2);
    int commits = 0;
    while (commits < transactions) {
      auto m = co_await rc.next();
      if (!m) break;
      auto d = dec.decode(m->payload);
      if (!d) continue;
      if (const auto* cm = std::get_if<pgo::commit_message>(&*d)) {
        ++commits;
        rc.confirm(cm->end_lsn, !rc.has_buffered());
      }
    }
    EXPECT_EQ(commits, transactions);
    // WAL with nothing for this publication after the last commit (a busy source's other
    // tables): the server's sent position moves past what any Commit could confirm.
    c.exec("shut", "INSERT INTO other SELECT generate_series(1, 1000)");
    // pg_ctl stop -m fast from another thread while this one waits on the stream. When that
    // fails, an immediate stop ends the stream so that the test cannot hang.
    std::thread stopper([&] {
      const auto t0 = std::chrono::steady_clock::now();
      stop_exit = c.pg_ctl({"stop", "-m", "fast", "-w", "-t", "30"});
      stop_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (stop_exit != 0) c.pg_ctl({"stop", "-m", "immediate", "-w", "-t", "30"});
    });
    try {
      while (auto m = co_await rc.next())
        rc.confirm(0, !rc.has_buffered());
    } catch (const pg::error&) {
      // The server going away is one way for the stream to end.
    }
    stopper.join();
    co_await rc.close();
  }());
  EXPECT_EQ(stop_exit, 0) << "pg_ctl stop -m fast did not finish within 30 s";
  EXPECT_LT(stop_seconds, 20.0);
}

}  // namespace
