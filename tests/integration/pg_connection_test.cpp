// The async PostgreSQL connection against a real PostgreSQL 15.
#include "connectors/postgres/connection.hpp"
#include "io/channel.hpp"
#include "io/runtime.hpp"
#include "tests/support/shared_cluster.hpp"

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

namespace asio = boost::asio;
namespace pg = uringmig::connectors::postgres;
namespace io = uringmig::io;
using uringmig::test::fresh_database;
using namespace std::literals;

namespace {

template <class F>
auto run_main(io::runtime& rt, F f) {
  return rt.run(f());
}

std::string count_fds(std::string_view kind) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    auto target = std::filesystem::read_symlink(e.path(), ec);
    if (!ec && target.string().find(kind) != std::string::npos) ++n;
  }
  return std::to_string(n);
}

template <class... S>
std::vector<pg::statement> batch_of(S... sql) {
  std::vector<pg::statement> b;
  (b.push_back(pg::statement{sql, {}, false}), ...);
  return b;
}

std::string fmt_hex(unsigned char ch) {
  constexpr const char* digits = "0123456789abcdef";
  return {digits[ch >> 4], digits[ch & 15]};
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TEST(pg_connection, connects_over_socket_and_tcp_on_io_uring) {
  auto db = fresh_database("conn_basic");
  io::runtime rt(1);
  auto pids = rt.run([&]() -> asio::awaitable<std::pair<int, int>> {
    auto ex = co_await asio::this_coro::executor;
    auto a = co_await pg::connection::connect(ex, db.socket_url);
    auto b = co_await pg::connection::connect(ex, db.tcp_url);
    auto ra = co_await a.query("select current_database(), $1::int + 1", pg::make_params("41"));
    auto rb = co_await b.query("select inet_server_addr()::text");
    EXPECT_TRUE(ra.ok());
    EXPECT_EQ(ra.value(0, 0), db.name);
    EXPECT_EQ(ra.value(0, 1), "42"sv);
    EXPECT_TRUE(rb.ok());
    EXPECT_EQ(rb.value(0, 0), "127.0.0.1/32"sv);
    // Runtime check of the backend: rings exist, epoll does not.
    EXPECT_NE(count_fds("io_uring"), "0"sv);
    EXPECT_EQ(count_fds("eventpoll"), "0"sv);
    co_return std::pair{a.backend_pid(), b.backend_pid()};
  }());
  EXPECT_GT(pids.first, 0);
  EXPECT_NE(pids.first, pids.second);
}

TEST(pg_connection, ten_thousand_pipelined_queries_match_fifo) {
  auto db = fresh_database("conn_pipeline");
  io::runtime rt(1);
  constexpr int workers = 100;
  constexpr int per_worker = 100;
  int mismatches = 0;
  int done = 0;
  std::size_t max_in_flight = 0;
  const auto t0 = std::chrono::steady_clock::now();
  rt.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto c = co_await pg::connection::connect(ex, db.socket_url);
    for (int w = 0; w < workers; ++w) {
      asio::co_spawn(
          ex,
          [&, w]() -> asio::awaitable<void> {
            for (int i = 0; i < per_worker; ++i) {
              const int v = w * per_worker + i;
              auto r = co_await c.query("select $1::int * 2", pg::make_params(std::to_string(v)));
              max_in_flight = std::max(max_in_flight, c.in_flight());
              if (!r.ok() || r.value(0, 0) != std::to_string(v * 2)) ++mismatches;
              ++done;
            }
          },
          asio::detached);
    }
    // Wait for the workers by closing: close() lets queued work finish first.
    while (done < workers * per_worker) {
      co_await c.query("select 1");
    }
    co_await c.close();
  }());
  const double secs = seconds_since(t0);
  EXPECT_EQ(done, workers * per_worker);
  EXPECT_EQ(mismatches, 0);
  EXPECT_GT(max_in_flight, 50u) << "queries were not pipelined";
  std::printf("[perf] %d pipelined queries in %.3fs: %.0f queries/s (max in flight %zu)\n",
              workers * per_worker, secs, workers * per_worker / secs, max_in_flight);
}

TEST(pg_connection, batch_error_aborts_rest_of_batch_only) {
  auto db = fresh_database("conn_batch");
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto c = co_await pg::connection::connect(ex, db.socket_url);
    auto rs = co_await c.pipeline(batch_of("select 1", "select 1/0", "select 2"));
    EXPECT_EQ(rs.size(), 3u);
    EXPECT_TRUE(rs[0].ok());
    EXPECT_FALSE(rs[1].ok());
    EXPECT_EQ(rs[1].error().sqlstate, "22012"sv);
    EXPECT_FALSE(pg::is_retryable(rs[1].error()));
    EXPECT_TRUE(rs[2].aborted());
    auto after = co_await c.query("select 'still usable'");
    EXPECT_TRUE(after.ok());
    EXPECT_EQ(after.value(0, 0), "still usable"sv);
    // Prepared statements and the simple protocol around the pipeline.
    EXPECT_TRUE((co_await c.prepare("add", "select $1::int + $2::int")).ok());
    auto sum = co_await c.execute("add", pg::make_params("2", "3"));
    EXPECT_EQ(sum.value(0, 0), "5"sv);
    auto multi = co_await c.simple(
        "create table t(a int); insert into t values (1),(2); select count(*) from t");
    EXPECT_TRUE(multi.ok());
    EXPECT_EQ(multi.value(0, 0), "2"sv);
    auto bad = co_await c.simple("select 1; select nope");
    EXPECT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().sqlstate, "42703"sv);
    auto null = co_await c.query("select $1::text is null", pg::make_params(std::nullopt));
    EXPECT_EQ(null.value(0, 0), "t"sv);
  }());
}

TEST(pg_connection, binary_parameters_and_results_carry_raw_bytes) {
  auto db = fresh_database("conn_binary");
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto c = co_await pg::connection::connect(ex, db.socket_url);
    // Every byte value, NULs included: a text parameter would end at the first NUL.
    std::string raw;
    for (int i = 0; i < 512; ++i)
      raw.push_back(static_cast<char>(i % 256));
    std::vector<pg::statement> b;
    // A text parameter next to a binary one; the bytea's text form comes back as hex.
    b.push_back({"select $1::int, length($2::bytea), encode($2::bytea, 'hex')",
                 pg::make_params("7", raw),
                 false,
                 {false, true}});
    // Binary results: the bytea's raw bytes; a text column's text.
    b.push_back({"select $1::bytea, 'text'::text", pg::make_params(raw), false, {true}, true});
    // A NULL binary parameter stays NULL.
    b.push_back({"select $1::bytea is null", pg::make_params(std::nullopt), false, {true}});
    auto rs = co_await c.pipeline(std::move(b));
    EXPECT_TRUE(rs.at(0).ok());
    EXPECT_EQ(rs[0].value(0, 0), "7"sv);
    EXPECT_EQ(rs[0].value(0, 1), "512"sv);
    std::string hex;
    for (unsigned char ch : raw)
      hex += fmt_hex(ch);
    EXPECT_EQ(rs[0].value(0, 2), hex);
    EXPECT_TRUE(rs.at(1).ok());
    EXPECT_EQ(rs[1].value(0, 0), raw);
    EXPECT_EQ(rs[1].value(0, 1), "text"sv);
    EXPECT_EQ(rs.at(2).value(0, 0), "t"sv);
    // The next statement of the connection is text again.
    auto after = co_await c.query("select '\\x00ff'::bytea");
    EXPECT_EQ(after.value(0, 0), "\\x00ff"sv);
  }());
}

TEST(pg_connection, copy_round_trip_one_million_rows) {
  auto src = fresh_database("copy_src");
  auto dst = fresh_database("copy_dst");
  const char* ddl =
      "create table t(id bigint primary key, name text, amount numeric, at timestamptz, tags "
      "text[])";
  io::runtime rt(2);
  io::buffer_pool pool(256 * 1024, 16 * 1024 * 1024);
  std::int64_t bytes = 0;
  double secs = 0;
  auto checks = rt.run([&]() -> asio::awaitable<std::pair<std::string, std::string>> {
    auto ex0 = rt.executor(0);
    auto ex1 = rt.executor(1);
    auto s = co_await pg::connection::connect(ex0, src.socket_url);
    (co_await s.simple(std::string(ddl) +
                       "; insert into t select g, 'name ' || g, g * 1.5, '2024-01-01'::timestamptz "
                       "+ g * interval '1 second', array['a', g::text] from generate_series(1, "
                       "1000000) g"))
        .check("seed");
    // The sink connection lives on the other context.
    auto d = co_await io::run_on(ex1, [&]() -> asio::awaitable<pg::connection> {
      auto c = co_await pg::connection::connect(ex1, dst.socket_url);
      (co_await c.simple(ddl)).check("ddl");
      co_return c;
    }());
    io::channel<io::buffer> ch(4 * 1024 * 1024);
    const auto t0 = std::chrono::steady_clock::now();
    auto reader = [&]() -> asio::awaitable<pg::result> {
      auto r = co_await s.copy_out("copy t to stdout (format binary)", pool,
                                   [&](io::buffer b) -> asio::awaitable<bool> {
                                     bytes += static_cast<std::int64_t>(b.size());
                                     co_return co_await ch.send(std::move(b));
                                   });
      ch.close();
      co_return r;
    };
    auto writer = [&]() -> asio::awaitable<pg::result> {
      co_return co_await d.copy_in("copy t from stdin (format binary)",
                                   [&]() -> asio::awaitable<pg::copy_piece> {
                                     pg::copy_piece p;
                                     p.data = co_await ch.receive();
                                     co_return p;
                                   });
    };
    using namespace asio::experimental::awaitable_operators;
    auto [out, in] = co_await (reader() && io::run_on(ex1, writer()));
    secs = seconds_since(t0);
    EXPECT_TRUE(out.ok()) << (out.ok() ? "" : out.error().to_string());
    EXPECT_TRUE(in.ok()) << (in.ok() ? "" : in.error().to_string());
    EXPECT_EQ(out.affected_rows(), 1000000);
    EXPECT_EQ(in.affected_rows(), 1000000);
    const char* sum = "select count(*) || ':' || sum(hashtext(t::text)::bigint) from t";
    auto a = co_await s.query(sum);
    auto b = co_await io::run_on(ex1, [&]() -> asio::awaitable<std::string> {
      auto r = co_await d.query(sum);
      std::string v(r.value(0, 0));
      co_await d.close();
      co_return v;
    }());
    co_return std::pair{std::string(a.value(0, 0)), b};
  }());
  EXPECT_EQ(checks.first, checks.second);
  EXPECT_EQ(checks.first.substr(0, 8), "1000000:"sv);
  EXPECT_LE(pool.snapshot().peak_in_use, pool.snapshot().max_slabs);
  std::printf("[perf] COPY 1M rows out+in: %.1f MB in %.3fs = %.1f MB/s\n", bytes / 1e6, secs,
              bytes / 1e6 / secs);
}

TEST(pg_connection, copy_in_error_is_a_result_and_connection_survives) {
  auto db = fresh_database("copy_err");
  io::runtime rt(1);
  io::buffer_pool pool(4096, 64 * 1024);
  rt.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto c = co_await pg::connection::connect(ex, db.socket_url);
    (co_await c.simple("create table t(a int)")).check();
    bool sent = false;
    auto r = co_await c.copy_in("copy t from stdin", [&]() -> asio::awaitable<pg::copy_piece> {
      pg::copy_piece p;
      if (sent) co_return p;
      sent = true;
      io::buffer b = co_await pool.acquire();
      const std::string rows = "1\nnot a number\n3\n";
      b.append(rows.data(), rows.size());
      p.data = std::move(b);
      co_return p;
    });
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.error().sqlstate, "22P02"sv);
    auto n = co_await c.query("select count(*) from t");
    EXPECT_TRUE(n.ok());
    EXPECT_EQ(n.value(0, 0), "0"sv);
    // A source that gives up after good rows: CopyFail, nothing kept.
    int calls = 0;
    auto aborted =
        co_await c.copy_in("copy t from stdin", [&]() -> asio::awaitable<pg::copy_piece> {
          pg::copy_piece p;
          if (++calls == 1) {
            io::buffer b = co_await pool.acquire();
            const std::string rows = "1\n2\n";
            b.append(rows.data(), rows.size());
            p.data = std::move(b);
          } else {
            p.abort = "the reader went away";
          }
          co_return p;
        });
    EXPECT_FALSE(aborted.ok());
    EXPECT_EQ(aborted.error().sqlstate, "57014"sv);
    auto m = co_await c.query("select count(*) from t");
    EXPECT_EQ(m.value(0, 0), "0"sv);
  }());
}

TEST(pg_connection, killed_backend_is_a_retryable_error_then_reconnect_works) {
  auto db = fresh_database("conn_kill");
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto victim = co_await pg::connection::connect(ex, db.socket_url);
    auto killer = co_await pg::connection::connect(ex, db.socket_url);
    const int old_pid = victim.backend_pid();
    const int old_fd = PQsocket(victim.native());
    // A long query in flight, the backend killed under it: the query must end
    // with a retryable error, not wait for its 600 s.
    const auto t0 = std::chrono::steady_clock::now();
    using namespace asio::experimental::awaitable_operators;
    auto [slow, kill] =
        co_await (victim.query("select pg_sleep(600)") &&
                  killer.query("select pg_terminate_backend($1) from pg_stat_activity "
                               "where pid = $1 and pg_sleep(0.2) is not null",
                               pg::make_params(std::to_string(old_pid))));
    EXPECT_TRUE(kill.ok());
    EXPECT_FALSE(slow.ok());
    EXPECT_TRUE(pg::is_retryable(slow.error())) << slow.error().to_string();
    EXPECT_LT(seconds_since(t0), 60.0);
    EXPECT_FALSE(victim.is_open());
    auto again = co_await victim.query("select 1");
    EXPECT_FALSE(again.ok());
    EXPECT_TRUE(pg::is_retryable(again.error()));
    co_await victim.reconnect();
    EXPECT_TRUE(victim.is_open());
    EXPECT_NE(victim.backend_pid(), old_pid);
    EXPECT_GE(PQsocket(victim.native()), 0);
    (void)old_fd;
    auto ok = co_await victim.query("select 7");
    EXPECT_TRUE(ok.ok());
    EXPECT_EQ(ok.value(0, 0), "7"sv);
  }());
}

TEST(pg_connection, idle_connection_loss_is_noticed_without_a_query) {
  auto db = fresh_database("conn_idle_kill");
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto victim = co_await pg::connection::connect(ex, db.socket_url);
    auto killer = co_await pg::connection::connect(ex, db.socket_url);
    auto k = co_await killer.query("select pg_terminate_backend($1)",
                                   pg::make_params(std::to_string(victim.backend_pid())));
    EXPECT_EQ(k.value(0, 0), "t"sv);
    // The owner is parked on the socket; the server's goodbye wakes it.
    asio::steady_timer t(ex);
    for (int i = 0; i < 500 && victim.is_open(); ++i) {
      t.expires_after(std::chrono::milliseconds(10));
      co_await t.async_wait(asio::use_awaitable);
    }
    EXPECT_FALSE(victim.is_open());
    EXPECT_TRUE(victim.failure().has_value());
    EXPECT_TRUE(victim.failure() && pg::is_retryable(*victim.failure()));
  }());
}

TEST(pg_connection, wrong_password_fails_fast_without_leaking_it) {
  const auto& cl = uringmig::test::shared_cluster();
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    try {
      co_await pg::connection::connect(ex, cl.tcp_url("postgres", "hunter2-wrong"));
      ADD_FAILURE() << "connected with a wrong password";
    } catch (const pg::error& e) {
      EXPECT_EQ(e.diag().sqlstate, "28P01"sv) << e.what();
      EXPECT_FALSE(e.retryable());
      EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos);
    }
    try {
      co_await pg::connection::connect(ex, "postgresql://u:hunter2@127.0.0.1:1/db");
      ADD_FAILURE() << "connected to port 1";
    } catch (const pg::error& e) {
      EXPECT_TRUE(e.retryable()) << e.what();
      EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos);
    }
  }());
}

asio::awaitable<void> echo_one(pg::connection& c, const std::string& payload, int i, int& good) {
  auto r =
      co_await c.query("select $1::text || $2::text", pg::make_params(payload, std::to_string(i)));
  if (r.ok() && r.value(0, 0).size() == payload.size() + std::to_string(i).size()) ++good;
}

TEST(pg_connection, big_queries_and_big_results_in_flight_do_not_deadlock) {
  // 200 queries of 256 KiB each, each echoed back: while we are still writing
  // queries the server is writing results; unless the owner reads while it
  // waits to write, both sides block on full socket buffers.
  auto db = fresh_database("conn_bigpipe");
  io::runtime rt(1);
  constexpr int n = 200;
  int good = 0;
  rt.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto c = co_await pg::connection::connect(ex, db.socket_url);
    const std::string payload(256 * 1024, 'p');
    using op = decltype(asio::co_spawn(ex, std::declval<asio::awaitable<void>>(), asio::deferred));
    std::vector<op> ops;
    for (int i = 0; i < n; ++i)
      ops.push_back(asio::co_spawn(ex, echo_one(c, payload, i, good), asio::deferred));
    co_await asio::experimental::make_parallel_group(std::move(ops))
        .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
  }());
  EXPECT_EQ(good, n);
}

TEST(pg_connection, copy_out_error_is_a_result_and_connection_survives) {
  auto db = fresh_database("copy_out_err");
  io::runtime rt(1);
  io::buffer_pool pool(4096, 64 * 1024);
  rt.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto c = co_await pg::connection::connect(ex, db.socket_url);
    int buffers = 0;
    auto r = co_await c.copy_out("copy (select nope) to stdout", pool,
                                 [&](io::buffer) -> asio::awaitable<bool> {
                                   ++buffers;
                                   co_return true;
                                 });
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.error().sqlstate, "42703"sv);
    EXPECT_EQ(buffers, 0);
    auto n = co_await c.query("select 5");
    EXPECT_EQ(n.value(0, 0), "5"sv);
  }());
}
