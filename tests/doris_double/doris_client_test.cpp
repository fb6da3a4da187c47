// The Stream Load client (connectors/doris) against the double, in-process on
// ephemeral ports, with the client on an io::runtime (io_uring).

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <set>
#include <string>
#include <vector>

#include "connectors/doris/http_client.hpp"
#include "connectors/doris/stream_load.hpp"
#include "io/buffer_pool.hpp"
#include "io/channel.hpp"
#include "io/runtime.hpp"
#include "io/waiters.hpp"
#include "tests/doris_double/doris_client_support.hpp"
#include "tests/doris_double/server.hpp"

namespace {

using namespace uringmig::test::doris_client;
using namespace boost::asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

asio::awaitable<load_outcome> one_load(stream_load_request rq) {
  auto ex = co_await asio::this_coro::executor;
  http_client client(ex);
  load_outcome out = co_await stream_load(client, std::move(rq));
  co_return out;
}

// ---------------------------------------------------------------- FE 307

TEST(doris_client, put_through_the_fe_follows_the_307_with_its_own_authorization) {
  dd::server srv(double_opts());
  srv.set_table("db1", "t1", {2, {"id", "name"}});
  io::runtime rt(1);
  const std::string body = "1\ta\n2\tb\n3\t\\N\n";
  load_outcome out = rt.run(one_load(load(fe_endpoint(srv), "L1", body)));

  ASSERT_TRUE(out.loaded()) << out.describe();
  EXPECT_EQ(out.redirects, 1);
  EXPECT_EQ(out.served_by, srv.be_url());
  EXPECT_EQ(out.answer->label, "L1");
  EXPECT_EQ(out.answer->number_loaded_rows, 3u);
  EXPECT_GE(out.answer->txn_id, 1000);
  EXPECT_EQ(srv.rows("db1", "t1"), (std::vector<dd::row>{{"1", "a"}, {"2", "b"}, {"3", {}}}));

  auto fe = srv.requests_for_label("L1", dd::node::fe);
  ASSERT_EQ(fe.size(), 1u);
  EXPECT_EQ(fe[0].http_status, 307);
  EXPECT_EQ(fe[0].body_bytes, 0u);  // the body waited for a 100 the FE never sends
  auto be = srv.requests_for_label("L1");
  ASSERT_EQ(be.size(), 1u);
  auto creds = dd::parse_basic_auth(header_of(be[0], "Authorization"));
  ASSERT_TRUE(creds.has_value());
  EXPECT_EQ(creds->user, "root");
  EXPECT_EQ(creds->password, "s3cret");
  EXPECT_TRUE(be[0].expect_continue);
  EXPECT_TRUE(be[0].sent_continue);
  EXPECT_FALSE(be[0].chunked);
  EXPECT_EQ(be[0].body_bytes, body.size());  // the whole body again, from the chunk
  for (const dd::request_record& r : srv.requests()) {
    EXPECT_EQ(r.target.find("s3cret"), std::string::npos) << r.target;
    EXPECT_EQ(r.target.find('@'), std::string::npos) << r.target;
    for (const dd::header& h : r.headers) {
      if (dd::iequals(h.name, "Authorization")) continue;
      EXPECT_EQ(h.value.find("s3cret"), std::string::npos) << h.name;
    }
  }
  EXPECT_EQ(out.describe().find("s3cret"), std::string::npos);
}

// A streamed body cannot be replayed, so the FE's 307 is handed back instead of followed; the
// producer is told when libcurl wants the body, which the FE never does.
struct two_hops {
  load_outcome fe, be;
  bool fe_wanted_body = false;
  bool be_wanted_body = false;
};

asio::awaitable<two_hops> stream_through_the_fe(load_endpoint fe) {
  auto ex = co_await asio::this_coro::executor;
  http_client client(ex);
  io::buffer_pool pool(64 * 1024, 1 << 20);
  two_hops h;
  io::channel<io::buffer> first(1 << 20);
  stream_load_request rq = load(fe, "G1", "");
  rq.stream = &first;
  rq.on_body_wanted = [&h] { h.fe_wanted_body = true; };
  h.fe = co_await stream_load(client, std::move(rq));
  if (!h.fe.redirect_to) co_return h;

  io::channel<io::buffer> second(1 << 20);
  asio::steady_timer gate(ex, asio::steady_timer::time_point::max());
  stream_load_request again = load(fe, "G1", "");
  again.stream = &second;
  again.url = *h.fe.redirect_to;
  again.on_body_wanted = [&] {
    h.be_wanted_body = true;
    gate.cancel();
  };
  auto produce_when_wanted = [&]() -> asio::awaitable<void> {
    while (!h.be_wanted_body)
      (void)co_await gate.async_wait(asio::as_tuple(asio::use_awaitable));
    io::buffer b = co_await pool.acquire();
    const std::string rows = "1\ta\n2\tb\n";
    b.append(rows.data(), rows.size());
    (void)co_await second.send(std::move(b));
    second.close();
  };
  h.be = co_await (stream_load(client, std::move(again)) && produce_when_wanted());
  co_return h;
}

TEST(doris_client, a_streamed_load_hands_back_the_fe_redirect_and_reads_nothing_for_it) {
  dd::server srv(double_opts());
  srv.set_table("db1", "t1", {2, {"id", "name"}});
  io::runtime rt(1);
  two_hops h = rt.run(stream_through_the_fe(fe_endpoint(srv)));

  ASSERT_TRUE(h.fe.redirect_to.has_value()) << h.fe.describe();
  EXPECT_FALSE(h.fe.loaded());
  EXPECT_EQ(h.fe.redirect_to->find("s3cret"), std::string::npos);  // userinfo stripped
  EXPECT_EQ(h.fe.redirect_to->rfind(srv.be_url(), 0), 0u) << *h.fe.redirect_to;
  EXPECT_FALSE(h.fe_wanted_body);
  auto fe = srv.requests_for_label("G1", dd::node::fe);
  ASSERT_EQ(fe.size(), 1u);
  EXPECT_EQ(fe[0].body_bytes, 0u);

  ASSERT_TRUE(h.be.loaded()) << h.be.describe();
  EXPECT_TRUE(h.be_wanted_body);
  EXPECT_EQ(h.be.answer->number_loaded_rows, 2u);
  auto be = srv.requests_for_label("G1");
  ASSERT_EQ(be.size(), 1u);
  EXPECT_TRUE(be[0].chunked);
  EXPECT_TRUE(be[0].sent_continue);
  EXPECT_EQ(srv.rows("db1", "t1"), (std::vector<dd::row>{{"1", "a"}, {"2", "b"}}));
}

TEST(doris_client, credentials_never_travel_in_urls) {
  auto t = redirect_target("http://10.0.0.1:8030/api/db/t/_stream_load",
                           "http://root:s3cret@127.0.0.1:8040/api/db/t/_stream_load?");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->find("s3cret"), std::string::npos);
  EXPECT_EQ(t->find('@'), std::string::npos);
  EXPECT_EQ(t->rfind("http://127.0.0.1:8040/api/db/t/_stream_load", 0), 0u) << *t;
  EXPECT_EQ(redirect_target("http://fe:8030/a/b", "/api/x/y/_stream_load"),
            std::optional<std::string>("http://fe:8030/api/x/y/_stream_load"));
  EXPECT_FALSE(redirect_target("http://fe:8030/a", "ftp://u:p@host/x").has_value());

  io::runtime rt(1);
  std::string what;
  auto refuse = [&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    http_client client(ex);
    http_request rq;
    rq.url = "http://root:s3cret@127.0.0.1:9/api";
    try {
      (void)co_await client.request(rq);
    } catch (const std::invalid_argument& e) {
      what = e.what();
    }
  };
  rt.run(refuse());
  EXPECT_NE(what.find("credentials in the URL"), std::string::npos) << what;
  EXPECT_EQ(what.find("s3cret"), std::string::npos);
}

// ---------------------------------------------------------------- streamed body

asio::awaitable<std::pair<std::uint64_t, std::uint64_t>> produce(io::buffer_pool& pool,
                                                                 io::channel<io::buffer>& ch,
                                                                 std::uint64_t target) {
  const std::string_view line = "1234567\tsome text of a row\t2024-01-01 00:00:00\n";
  std::uint64_t bytes = 0;
  std::uint64_t lines = 0;
  while (bytes < target) {
    io::buffer b = co_await pool.acquire();
    while (b.room() >= line.size() && bytes < target) {
      b.append(line.data(), line.size());
      bytes += line.size();
      ++lines;
    }
    const bool taken = co_await ch.send(std::move(b));
    if (!taken) break;  // the consumer gave up
  }
  ch.close();
  co_return std::make_pair(bytes, lines);
}

/// Starts the producer (on another context) once the transfer asked for body
/// data and found none, so the pause/resume path is taken for certain.
asio::awaitable<std::pair<std::uint64_t, std::uint64_t>> produce_once_paused(
    io::runtime& rt, http_client& client, io::buffer_pool& pool, io::channel<io::buffer>& ch,
    std::uint64_t target) {
  auto ex = co_await asio::this_coro::executor;
  // Yields to the client's own context; a network event (100 Continue) ends it.
  while (client.snapshot().waiting_for_body == 0)
    co_await asio::post(ex, asio::use_awaitable);
  auto produced = co_await io::run_on(rt.executor(1), produce(pool, ch, target));
  co_return produced;
}

struct streamed {
  http_response resp;
  std::uint64_t bytes = 0;
  std::uint64_t lines = 0;
  io::buffer_pool::stats pool{};
};

asio::awaitable<streamed> stream_to(io::runtime& rt, std::string base, std::string label,
                                    std::uint64_t target) {
  auto ex = co_await asio::this_coro::executor;
  http_client_options co;
  co.stream_queue = 2;
  http_client client(ex, co);
  // Slabs: up to 2 in the channel, 2 queued in the client, 1 being filled.
  io::buffer_pool pool(256 * 1024, 1024 * 1024);
  io::channel<io::buffer> ch(512 * 1024);
  http_request rq = raw_put(base, label, "");
  rq.stream = &ch;
  auto [resp, produced] =
      co_await (client.request(rq) && produce_once_paused(rt, client, pool, ch, target));
  streamed s;
  s.resp = std::move(resp);
  s.bytes = produced.first;
  s.lines = produced.second;
  s.pool = pool.snapshot();
  co_return s;
}

TEST(doris_client, streams_50_mib_chunked_through_pause_and_resume_in_bounded_memory) {
  dd::options o = double_opts();
  o.discard = true;
  dd::server srv(o);
  io::runtime rt(2);
  const std::uint64_t before = peak_rss_kib();
  const std::uint64_t target = 50ull << 20;
  streamed s = rt.run(stream_to(rt, srv.be_url(), "S1", target));
  const std::uint64_t grew_kib = peak_rss_kib() - before;

  ASSERT_TRUE(s.resp.ok()) << s.resp.error->message;
  EXPECT_EQ(s.resp.status, 200);
  EXPECT_GE(s.bytes, target);  // whole lines: up to one more line
  EXPECT_LT(s.bytes, target + 64);
  auto answer = parse_load_answer(s.resp.body);
  ASSERT_TRUE(answer) << answer.error;
  EXPECT_EQ(answer.value->status, "Success");
  EXPECT_EQ(answer.value->number_loaded_rows, s.lines);
  EXPECT_EQ(answer.value->load_bytes, s.bytes);
  EXPECT_EQ(s.resp.body_bytes_sent, s.bytes);
  EXPECT_GT(s.resp.upload_pauses, 0u);  // the body ran dry and was resumed
  auto be = srv.requests_for_label("S1");
  ASSERT_EQ(be.size(), 1u);
  EXPECT_TRUE(be[0].chunked);
  EXPECT_TRUE(be[0].sent_continue);
  EXPECT_EQ(be[0].body_bytes, s.bytes);
  EXPECT_LE(s.pool.peak_in_use, 4u);  // 1 MiB of 256 KiB slabs
  EXPECT_LT(grew_kib, 24u * 1024) << "peak RSS grew by " << grew_kib << " KiB";
}

asio::awaitable<std::pair<http_response, std::uint64_t>> stream_into_reset(io::runtime& rt,
                                                                           std::string base) {
  auto ex = co_await asio::this_coro::executor;
  http_client client(ex);
  io::buffer_pool pool(256 * 1024, 2 * 1024 * 1024);
  io::channel<io::buffer> ch(1024 * 1024);
  http_request rq = raw_put(base, "R2", "");
  rq.stream = &ch;
  auto [resp, produced] =
      co_await (client.request(rq) && io::run_on(rt.executor(1), produce(pool, ch, 1ull << 40)));
  co_return std::make_pair(std::move(resp), produced.first);
}

// ---------------------------------------------------------------- 100-continue

asio::awaitable<http_response> put_with_expect_timeout(std::string base, std::string label,
                                                       std::chrono::milliseconds expect_timeout) {
  auto ex = co_await asio::this_coro::executor;
  http_client client(ex);
  static const std::string body = "1\tx\n2\ty\n";
  http_request rq = raw_put(base, label, body);
  rq.options.expect_100_timeout = expect_timeout;
  http_response r = co_await client.request(rq);
  co_return r;
}

TEST(doris_client, waits_for_a_slow_100_continue_before_sending_the_body) {
  dd::server srv(double_opts());
  io::runtime rt(1);
  dd::fault_spec slow = dd::make_fault(dd::fault::slow_continue);
  slow.delay_ms = 1500;  // longer than libcurl's default 1 s wait
  srv.arm(slow);
  http_response patient = rt.run(put_with_expect_timeout(srv.be_url(), "C1", 10s));
  ASSERT_TRUE(patient.ok()) << patient.error->message;
  ASSERT_TRUE(patient.timing.continue_received.has_value());
  ASSERT_TRUE(patient.timing.body_started.has_value());
  EXPECT_GE(*patient.timing.continue_received, 1500ms);
  EXPECT_GE(*patient.timing.body_started, *patient.timing.continue_received);
  EXPECT_EQ(parse_load_answer(patient.body).value->status, "Success");

  // The same with a short wait sends the body before the 100: the check above can fail.
  // 200 ms is also libcurl's connect timer: its deadline falls less than 1 ms before the 100
  // wait's, which libcurl 7.88 then drops (1 run in ~40 under load held the body back until the
  // 100 came, before http_transfer's watch_expect).
  srv.arm(slow);
  http_response hasty = rt.run(put_with_expect_timeout(srv.be_url(), "C2", 200ms));
  ASSERT_TRUE(hasty.ok()) << hasty.error->message;
  ASSERT_TRUE(hasty.timing.continue_received.has_value());
  ASSERT_TRUE(hasty.timing.body_started.has_value());
  EXPECT_LT(*hasty.timing.body_started, *hasty.timing.continue_received);
  EXPECT_EQ(srv.rows("db1", "t1").size(), 4u);
  for (const char* label : {"C1", "C2"}) {
    auto be = srv.requests_for_label(label);
    ASSERT_EQ(be.size(), 1u);
    EXPECT_TRUE(be[0].sent_continue);
  }
}

// ---------------------------------------------------------------- keep-alive, concurrency

asio::awaitable<std::vector<http_response>> sequential_then_capped(std::string base) {
  auto ex = co_await asio::this_coro::executor;
  std::vector<http_response> out;
  static const std::string body = "7\tz\n";
  {
    http_client client(ex);
    for (int i = 0; i < 5; ++i) {
      http_response r = co_await client.request(raw_put(base, "K" + std::to_string(i), body));
      out.push_back(std::move(r));
    }
  }
  http_client_options capped;
  capped.max_host_connections = 2;
  http_client client(ex, capped);
  std::vector<asio::awaitable<http_response>> tasks;
  for (int i = 0; i < 10; ++i)
    tasks.push_back(client.request(raw_put(base, "P" + std::to_string(i), body)));
  std::vector<http_response> parallel = co_await all_of(std::move(tasks));
  for (auto& r : parallel)
    out.push_back(std::move(r));
  EXPECT_EQ(client.snapshot().active, 0u);
  co_return out;
}

TEST(doris_client, keeps_connections_alive_and_caps_them_per_host) {
  dd::server srv(double_opts());
  io::runtime rt(1);
  std::vector<http_response> rs = rt.run(sequential_then_capped(srv.be_url()));
  ASSERT_EQ(rs.size(), 15u);
  for (const http_response& r : rs) {
    ASSERT_TRUE(r.ok()) << r.error->message;
    EXPECT_EQ(parse_load_answer(r.body).value->status, "Success") << r.body;
  }
  EXPECT_EQ(rs[0].new_connections, 1);
  for (int i = 1; i < 5; ++i) {
    EXPECT_EQ(rs[i].new_connections, 0) << i;  // reused
    EXPECT_EQ(rs[i].local_port, rs[0].local_port) << i;
  }
  std::set<int> ports;
  for (int i = 5; i < 15; ++i)
    ports.insert(rs[i].local_port);
  EXPECT_LE(ports.size(), 2u);  // ten concurrent requests over at most two connections
  EXPECT_EQ(srv.rows("db1", "t1").size(), 15u);
}

asio::awaitable<std::vector<load_outcome>> many_loads(load_endpoint fe, int n) {
  auto ex = co_await asio::this_coro::executor;
  http_client client(ex);  // 8 connections per host
  static const std::string body = "1\ta\n2\tb\n";
  std::vector<asio::awaitable<load_outcome>> tasks;
  for (int i = 0; i < n; ++i)
    tasks.push_back(stream_load(client, load(fe, "M" + std::to_string(i), body)));
  std::vector<load_outcome> out = co_await all_of(std::move(tasks));
  http_client::stats st = client.snapshot();
  EXPECT_EQ(st.active, 0u);
  EXPECT_EQ(st.completed, static_cast<std::uint64_t>(2 * n));
  co_return out;
}

TEST(doris_client, sixty_four_concurrent_loads_through_the_fe_all_complete) {
  dd::server srv(double_opts());
  io::runtime rt(1);
  std::vector<load_outcome> outs = rt.run(many_loads(fe_endpoint(srv), 64));
  ASSERT_EQ(outs.size(), 64u);
  std::set<std::string> labels;
  for (const load_outcome& o : outs) {
    EXPECT_TRUE(o.loaded()) << o.describe();
    EXPECT_EQ(o.redirects, 1);
    if (o.answer) labels.insert(o.answer->label);
  }
  EXPECT_EQ(labels.size(), 64u);
  EXPECT_EQ(srv.rows("db1", "t1").size(), 128u);
  EXPECT_EQ(srv.requests().size(), 128u);  // 64 redirects, 64 loads
}

// ---------------------------------------------------------------- transport errors

asio::awaitable<std::vector<http_response>> failing(io::runtime& rt, dd::server& srv) {
  auto ex = co_await asio::this_coro::executor;
  http_client client(ex);
  std::vector<http_response> out;
  http_request refused = raw_put("http://127.0.0.1:" + std::to_string(closed_port()), "R0", "1\n");
  out.push_back(co_await client.request(refused));
  dd::fault_spec cut = dd::make_fault(dd::fault::reset_mid_body);
  cut.bytes = 1000;
  srv.arm(cut);
  static const std::string big(256 * 1024, '\n');
  out.push_back(co_await client.request(raw_put(srv.be_url(), "R1", big)));
  cut.bytes = 1 << 20;
  srv.arm(cut);
  auto [streamed, produced] = co_await stream_into_reset(rt, srv.be_url());
  EXPECT_LT(produced, 1ull << 40);  // the producer learnt the upload ended
  out.push_back(std::move(streamed));
  // The client carries on: the aborted label can be used again.
  out.push_back(co_await client.request(raw_put(srv.be_url(), "R1", "1\tq\n")));
  co_return out;
}

TEST(doris_client, transport_errors_come_back_as_values) {
  dd::server srv(double_opts());
  io::runtime rt(2);
  std::vector<http_response> rs = rt.run(failing(rt, srv));
  ASSERT_EQ(rs.size(), 4u);
  ASSERT_FALSE(rs[0].ok());
  EXPECT_EQ(rs[0].error->code, 7);  // CURLE_COULDNT_CONNECT
  EXPECT_TRUE(rs[0].error->retryable());
  EXPECT_EQ(rs[0].status, 0);
  for (int i : {1, 2}) {
    ASSERT_FALSE(rs[i].ok()) << i;
    EXPECT_TRUE(rs[i].error->retryable()) << rs[i].error->code << " " << rs[i].error->message;
    EXPECT_EQ(rs[i].error->message.find("s3cret"), std::string::npos);
  }
  EXPECT_EQ(srv.label("db1", "R2")->state, dd::txn_state::aborted);
  ASSERT_TRUE(rs[3].ok());
  EXPECT_EQ(parse_load_answer(rs[3].body).value->status, "Success");
  EXPECT_EQ(srv.rows("db1", "t1").size(), 1u);
}

// ---------------------------------------------------------------- cancellation, threads

struct cancel_report {
  bool timer_won = false;
  bool stream_timer_won = false;
  bool channel_cancelled = false;
  std::size_t active_after = 99;
  std::size_t sockets_after = 99;
  int status_after = 0;
};

asio::awaitable<cancel_report> cancel_requests(std::string be) {
  auto ex = co_await asio::this_coro::executor;
  http_client client(ex);
  cancel_report rep;
  asio::steady_timer timer(ex);
  // A BE that takes 3 s to answer 100 Continue; the caller gives up first.
  timer.expires_after(300ms);
  const http_request slow = raw_put(be, "X1", "1\n");
  auto r = co_await (client.request(slow) || timer.async_wait(asio::use_awaitable));
  rep.timer_won = r.index() == 1;
  // A streamed body whose producer never sends.
  io::channel<io::buffer> idle(1 << 20);
  http_request rq = raw_put(be, "X2", "");
  rq.stream = &idle;
  timer.expires_after(300ms);
  auto s = co_await (client.request(rq) || timer.async_wait(asio::use_awaitable));
  rep.stream_timer_won = s.index() == 1;
  io::buffer nothing;
  const bool taken = co_await idle.send(std::move(nothing));
  rep.channel_cancelled = !taken;
  rep.active_after = client.snapshot().active;
  http_response ok = co_await client.request(raw_put(be, "X3", "5\tok\n"));
  rep.status_after = ok.status;
  rep.sockets_after = client.snapshot().watched_sockets;
  co_return rep;
}

TEST(doris_client, a_cancelled_request_leaves_the_multi_handle) {
  dd::server srv(double_opts());
  dd::fault_spec slow = dd::make_fault(dd::fault::slow_continue);
  slow.delay_ms = 3000;
  srv.arm(slow);
  io::runtime rt(1);
  cancel_report rep = rt.run(cancel_requests(srv.be_url()));
  EXPECT_TRUE(rep.timer_won);
  EXPECT_TRUE(rep.stream_timer_won);
  EXPECT_TRUE(rep.channel_cancelled);
  EXPECT_EQ(rep.active_after, 0u);
  EXPECT_EQ(rep.status_after, 200);
  EXPECT_EQ(rep.sockets_after, 0u);
  EXPECT_EQ(srv.rows("db1", "t1"), (std::vector<dd::row>{{"5", "ok"}}));
}

asio::awaitable<std::string> request_from_here(http_client& client, std::string url) {
  http_request rq;
  rq.url = std::move(url);
  try {
    (void)co_await client.request(rq);
  } catch (const std::logic_error& e) {
    co_return e.what();
  }
  co_return "";
}

asio::awaitable<std::pair<std::string, int>> wrong_thread(io::runtime& rt, std::string be) {
  auto ex = co_await asio::this_coro::executor;
  http_client client(ex);
  std::string what =
      co_await io::run_on(rt.executor(1), request_from_here(client, be + "/api/_load_error_log"));
  http_request rq;
  rq.url = be + "/api/_load_error_log?file=none";
  http_response own = co_await client.request(rq);
  co_return std::make_pair(what, own.status);
}

TEST(doris_client, use_from_another_thread_throws) {
  dd::server srv(double_opts());
  io::runtime rt(2);
  auto [what, status] = rt.run(wrong_thread(rt, srv.be_url()));
  EXPECT_NE(what.find("thread"), std::string::npos) << what;
  EXPECT_EQ(status, 404);  // from its own thread it works
  EXPECT_EQ(srv.requests().size(), 1u);
}

asio::awaitable<http_response> close_while_running(std::string be) {
  auto ex = co_await asio::this_coro::executor;
  std::optional<http_client> client(std::in_place, ex);
  std::optional<http_response> got;
  std::optional<io::wake_handler> waiter;
  asio::co_spawn(ex, client->request(raw_put(be, "Z1", "1\n")),
                 [&](std::exception_ptr, http_response r) {
                   got = std::move(r);
                   if (waiter) io::wake(std::move(*waiter));
                 });
  for (int i = 0; i < 1000 && client->snapshot().active == 0; ++i)
    co_await asio::post(ex, asio::use_awaitable);
  EXPECT_EQ(client->snapshot().active, 1u);
  client.reset();
  co_await io::park([&](io::wake_handler& h) {
    if (got) return false;
    waiter = std::move(h);
    return true;
  });
  co_return std::move(*got);
}

TEST(doris_client, closing_the_client_ends_running_requests) {
  dd::server srv(double_opts());
  dd::fault_spec slow = dd::make_fault(dd::fault::slow_continue);
  slow.delay_ms = 3000;
  srv.arm(slow);
  io::runtime rt(1);
  http_response r = rt.run(close_while_running(srv.be_url()));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error->message.find("closed"), std::string::npos) << r.error->message;
}

}  // namespace
