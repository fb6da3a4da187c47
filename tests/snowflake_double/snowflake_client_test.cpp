// connectors/snowflake against the Snowflake SQL API double, on io_uring: partitions, order,
// gzip, polling, and every fault the double can play.

#include "connectors/http/http_client.hpp"
#include "connectors/snowflake/sql_api.hpp"
#include "io/runtime.hpp"
#include "tests/snowflake_double/server.hpp"
#include "tests/support/temp_dir.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <gtest/gtest.h>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <boost/asio/this_coro.hpp>

#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <stop_token>
#include <string>

namespace {

namespace asio = boost::asio;
namespace sd = uringmig::test::snowflake_double;
namespace sn = uringmig::connectors::snowflake;
namespace sf = uringmig::codecs::snowflake;
namespace http = uringmig::connectors::http;
namespace io = uringmig::io;

/// An RSA key pair made for the test: the private key in a PEM file, the public key as PEM.
struct key_pair {
  uringmig::test::temp_dir dir;
  std::string private_file;
  std::string public_pem;
  key_pair() {
    EVP_PKEY* k = EVP_RSA_gen(2048);
    private_file = (dir.path / "rsa_key.p8").string();
    BIO* b = BIO_new(BIO_s_mem());
    PEM_write_bio_PKCS8PrivateKey(b, k, nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    long n = BIO_get_mem_data(b, &data);
    std::ofstream(private_file) << std::string(data, static_cast<std::size_t>(n));
    BIO_free(b);
    b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, k);
    n = BIO_get_mem_data(b, &data);
    public_pem.assign(data, static_cast<std::size_t>(n));
    BIO_free(b);
    EVP_PKEY_free(k);
  }
};

const key_pair& keys() {
  static const key_pair k;
  return k;
}

sd::options double_opts() {
  sd::options o;
  o.public_key_pem = keys().public_pem;
  o.partition_rows = 1000;
  o.running_polls = 2;
  return o;
}

sn::settings client_settings(const sd::server& srv) {
  sn::settings s;
  s.endpoint.user = "loader";
  s.endpoint.account = "testacct.eu-west-1";
  s.endpoint.database = "DB";
  s.endpoint.schema = "PUBLIC";
  s.endpoint.warehouse = "WH";
  s.base_url = srv.url();
  s.auth.private_key_file = keys().private_file;
  s.retry.first = std::chrono::milliseconds(5);
  s.retry.max = std::chrono::milliseconds(50);
  s.retry.max_attempts = 5;
  s.poll_first = std::chrono::milliseconds(5);
  s.chunk_bytes = 8192;
  return s;
}

/// What a query delivered, or the error it threw.
struct outcome {
  sn::query_result result;
  std::string copy_text;
  std::size_t chunks = 0;
  std::string error;
  std::string sql_state;
};

asio::awaitable<outcome> run_query(sn::settings s, std::string sql, std::stop_token stop) {
  http::http_client client(co_await asio::this_coro::executor);
  outcome o;
  try {
    sn::sql_client sc(client, std::move(s), stop);
    sn::copy_sink sink = [&o](std::string_view chunk) -> asio::awaitable<void> {
      o.copy_text.append(chunk);
      ++o.chunks;
      co_return;
    };
    o.result = co_await sc.query(std::move(sql), sink);
  } catch (const sn::error& e) {
    o.error = e.what();
    o.sql_state = e.sql_state();
  } catch (const std::exception& e) {
    o.error = e.what();
  }
  co_return o;
}

outcome query(std::string sql, sn::settings s) {
  io::runtime rt(1);
  std::stop_source never;
  return rt.run(run_query(std::move(s), std::move(sql), never.get_token()));
}

outcome query(const sd::server& srv, std::string sql) {
  return query(std::move(sql), client_settings(srv));
}

/// The COPY text the codec makes of the table's rows from `from` on.
std::string expected_copy(const sd::table& t, std::size_t from = 0) {
  std::string out;
  std::string why;
  for (std::size_t i = from; i < t.rows.size(); ++i) {
    for (std::size_t c = 0; c < t.columns.size(); ++c) {
      if (c > 0) out += '\t';
      if (!t.rows[i][c]) {
        out += "\\N";
      } else {
        EXPECT_TRUE(sf::append_copy_value(out, t.columns[c], *t.rows[i][c], why)) << why;
      }
    }
    out += '\n';
  }
  return out;
}

int count_partition_gets(const sd::server& srv, int status) {
  int n = 0;
  for (const auto& r : srv.requests())
    n += r.target.find("partition=") != std::string::npos && r.status == status ? 1 : 0;
  return n;
}

}  // namespace

TEST(snowflake_client, reads_several_gzip_partitions_in_order_after_polling) {
  sd::server srv(double_opts());
  const sd::table t = sd::generated_table(3500);
  srv.set_table("T", t);
  const outcome o = query(srv, "SELECT * FROM DB.PUBLIC.T ORDER BY ID");
  ASSERT_EQ(o.error, "");
  EXPECT_EQ(o.result.rows, 3500);
  EXPECT_EQ(o.result.partitions, 4U);
  EXPECT_EQ(o.result.polls, 3);  // two answered 202, the third 200
  EXPECT_GT(o.chunks, 4U);       // chunks of ~8 KiB: never the whole result at once
  EXPECT_EQ(o.copy_text, expected_copy(t));
  EXPECT_EQ(o.result.columns.size(), 10U);
  EXPECT_EQ(o.result.columns[6].name, "Updated At");
  EXPECT_EQ(count_partition_gets(srv, 200), 3);
  for (const auto& r : srv.requests()) {
    EXPECT_EQ(r.header("X-Snowflake-Authorization-Token-Type"), "KEYPAIR_JWT");
    EXPECT_EQ(r.header("User-Agent"), "uringmig/0.1");
    if (r.target.find("partition=") != std::string::npos) {
      EXPECT_NE(r.header("Accept-Encoding").find("gzip"), std::string::npos);
    }
  }
  EXPECT_EQ(srv.executions(), 1);
}

TEST(snowflake_client, partitions_arriving_out_of_order_are_delivered_in_order) {
  sd::server srv(double_opts());
  const sd::table t = sd::generated_table(3500);
  srv.set_table("T", t);
  srv.arm(sd::fault::late_partition);  // partition 1 comes after 2 and 3
  const outcome o = query(srv, "SELECT * FROM T");
  ASSERT_EQ(o.error, "");
  EXPECT_EQ(o.copy_text, expected_copy(t));
  std::vector<std::string> order;
  for (const auto& r : srv.requests())
    if (r.target.find("partition=") != std::string::npos)
      order.push_back(r.target.substr(r.target.find("partition=") + 10));
  ASSERT_EQ(order.size(), 3U);
  EXPECT_EQ(order.back(), "1") << "the double's log is in answer order";
}

TEST(snowflake_client, where_and_order_as_an_incremental_load_asks) {
  sd::server srv(double_opts());
  sd::table t = sd::generated_table(50);
  srv.set_table("T", t);
  // Row i's "Updated At" is 1700000000 + i s + i ns: the mark of row 10 at full precision.
  const outcome o = query(srv,
                          "SELECT * FROM T WHERE \"Updated At\" >= '2023-11-14 "
                          "22:13:30.000000010' ORDER BY \"Updated At\"");
  ASSERT_EQ(o.error, "");
  EXPECT_EQ(o.result.rows, 40);
  EXPECT_EQ(o.copy_text, expected_copy(t, 10));
  const auto one_ns_later =
      query(srv, "SELECT ID FROM T WHERE \"Updated At\" > '2023-11-14 22:13:30.000000010'");
  EXPECT_EQ(one_ns_later.result.rows, 39);
}

TEST(snowflake_client, the_watermark_reached_is_exact_across_partitions) {
  sd::server srv(double_opts());
  srv.set_table("T", sd::generated_table(2500));
  io::runtime rt(1);
  std::stop_source never;
  const sn::query_result r = rt.run([&]() -> asio::awaitable<sn::query_result> {
    http::http_client client(co_await asio::this_coro::executor);
    sn::sql_client sc(client, client_settings(srv), never.get_token());
    sn::copy_sink sink = [](std::string_view) -> asio::awaitable<void> { co_return; };
    co_return co_await sc.query("SELECT * FROM T ORDER BY ID DESC", sink, "Updated At");
  }());
  EXPECT_EQ(r.partitions, 3U);
  ASSERT_TRUE(r.watched_max);
  // Row 2499 (in the first partition of a descending read): 1700002499 s + 2499 ns.
  EXPECT_EQ(sf::epoch_text(*r.watched_max), "1700002499.000002499");
  EXPECT_EQ(r.watched_nulls, 0);
}

TEST(snowflake_client, describe_columns_keeps_names_and_types) {
  sd::server srv(double_opts());
  srv.set_table("T", sd::generated_table(5));
  io::runtime rt(1);
  std::stop_source never;
  auto cols = rt.run([&]() -> asio::awaitable<std::vector<sf::column>> {
    http::http_client client(co_await asio::this_coro::executor);
    sn::sql_client sc(client, client_settings(srv), never.get_token());
    co_return co_await sc.describe_columns("T");
  }());
  ASSERT_EQ(cols.size(), 10U);
  EXPECT_EQ(cols[6].name, "Updated At");
  EXPECT_EQ(cols[6].type, sf::sf_type::timestamp_ntz);
  EXPECT_EQ(sf::pg_type(cols[2]), "numeric(12,2)");
  EXPECT_EQ(sf::pg_type(cols[0]), "bigint");
}

TEST(snowflake_client, busy_and_unavailable_are_retried_with_the_same_request_id) {
  sd::server srv(double_opts());
  srv.set_table("T", sd::generated_table(10));
  srv.arm(sd::fault::too_many_requests, 2);
  srv.arm(sd::fault::unavailable, 1);
  const outcome o = query(srv, "SELECT * FROM T");
  ASSERT_EQ(o.error, "");
  EXPECT_EQ(o.result.rows, 10);
  EXPECT_EQ(o.result.retries, 3);
  EXPECT_EQ(srv.executions(), 1);
  std::vector<std::string> posts;
  for (const auto& r : srv.requests())
    if (r.method == "POST") posts.push_back(r.target);
  ASSERT_EQ(posts.size(), 4U);
  const std::string id = posts[0].substr(posts[0].find("requestId=") + 10, 36);
  for (std::size_t i = 0; i < posts.size(); ++i) {
    EXPECT_NE(posts[i].find("requestId=" + id), std::string::npos) << posts[i];
    EXPECT_EQ(posts[i].find("retry=true") != std::string::npos, i > 0) << posts[i];
  }
}

TEST(snowflake_client, a_partition_cut_mid_body_is_fetched_again) {
  sd::server srv(double_opts());
  const sd::table t = sd::generated_table(3000);
  srv.set_table("T", t);
  srv.arm(sd::fault::cut_partition, 2);
  const outcome o = query(srv, "SELECT * FROM T");
  ASSERT_EQ(o.error, "");
  EXPECT_EQ(o.copy_text, expected_copy(t));
  EXPECT_EQ(o.result.retries, 2);
  EXPECT_EQ(count_partition_gets(srv, 200), 4);  // 2 partitions, 2 of the answers cut
}

TEST(snowflake_client, an_expired_token_is_renewed_once) {
  sd::server srv(double_opts());
  srv.set_table("T", sd::generated_table(3));
  srv.arm(sd::fault::expired_token, 1);
  const outcome o = query(srv, "SELECT * FROM T");
  ASSERT_EQ(o.error, "");
  EXPECT_EQ(o.result.token_renewals, 1);
  EXPECT_EQ(o.result.rows, 3);
  // Twice in a row: the renewed token is refused too, which is an error, not a loop.
  srv.arm(sd::fault::expired_token, 2);
  const outcome twice = query(srv, "SELECT * FROM T");
  EXPECT_NE(twice.error.find("credentials were refused (HTTP 401"), std::string::npos)
      << twice.error;
  EXPECT_NE(twice.error.find("JWT token has expired"), std::string::npos) << twice.error;
}

TEST(snowflake_client, a_key_the_user_does_not_have_is_refused_without_leaking_it) {
  sd::options o = double_opts();
  o.public_key_pem = key_pair().public_pem;  // another user's key
  sd::server srv(o);
  srv.set_table("T", sd::generated_table(3));
  srv.arm(sd::fault::unavailable);  // a retry's warning in the log too
  // Every log line of the run, at every level.
  std::ostringstream lines;
  auto previous = spdlog::default_logger();
  auto capture = std::make_shared<spdlog::logger>(
      "capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(lines));
  capture->set_level(spdlog::level::trace);
  spdlog::set_default_logger(capture);
  const outcome r = query(srv, "SELECT * FROM T");
  spdlog::set_default_logger(previous);
  EXPECT_NE(lines.str().find("HTTP 503"), std::string::npos) << lines.str();
  EXPECT_NE(lines.str().find("the token was refused"), std::string::npos) << lines.str();
  EXPECT_EQ(lines.str().find("eyJ"), std::string::npos) << "a JWT in the log";
  EXPECT_EQ(lines.str().find("Bearer"), std::string::npos);
  EXPECT_EQ(lines.str().find("PRIVATE KEY"), std::string::npos);
  EXPECT_NE(r.error.find("JWT token is invalid"), std::string::npos) << r.error;
  EXPECT_EQ(r.error.find("Bearer"), std::string::npos);
  EXPECT_EQ(r.error.find("eyJ"), std::string::npos) << "no JWT in the message";
}

TEST(snowflake_client, an_unknown_table_is_a_422_with_its_sqlstate_and_statement) {
  sd::server srv(double_opts());
  const outcome o = query(srv, "SELECT * FROM NOPE\nWHERE X = 1");
  EXPECT_EQ(o.sql_state, "42S02");
  EXPECT_NE(o.error.find("Object 'NOPE' does not exist"), std::string::npos) << o.error;
  EXPECT_NE(o.error.find("in: SELECT * FROM NOPE …"), std::string::npos) << o.error;
  EXPECT_EQ(o.error.find('\n'), std::string::npos) << o.error;
}

TEST(snowflake_client, retries_end_after_max_attempts_or_at_a_stop) {
  sd::server srv(double_opts());
  srv.set_table("T", sd::generated_table(3));
  srv.arm(sd::fault::unavailable, 100);
  sn::settings s = client_settings(srv);
  s.retry.max_attempts = 3;
  const outcome o = query("SELECT * FROM T", s);
  EXPECT_NE(o.error.find("HTTP 503 after 3 attempts"), std::string::npos) << o.error;
  // A stop ends the wait between attempts at once.
  s.retry.max_attempts = 50;
  s.retry.first = std::chrono::seconds(30);
  s.retry.max = std::chrono::seconds(30);
  io::runtime rt(1);
  std::stop_source stop;
  stop.request_stop();
  const auto t0 = std::chrono::steady_clock::now();
  const outcome stopped = rt.run(run_query(s, "SELECT * FROM T", stop.get_token()));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  EXPECT_NE(stopped.error.find("stopped while waiting to retry"), std::string::npos)
      << stopped.error;
}

TEST(snowflake_client, an_oauth_token_signs_in_too) {
  sd::options o = double_opts();
  o.oauth_token = "oauth-abc";
  sd::server srv(o);
  srv.set_table("T", sd::generated_table(2));
  sn::settings s = client_settings(srv);
  s.auth = {};
  s.auth.oauth_token = "oauth-abc";
  const outcome r = query("SELECT * FROM T", s);
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.result.rows, 2);
  EXPECT_EQ(srv.requests().front().header("X-Snowflake-Authorization-Token-Type"), "OAUTH");
  s.auth.oauth_token = "oauth-wrong-xyz";
  const outcome refused = query("SELECT * FROM T", s);
  EXPECT_NE(refused.error.find("the OAuth token was refused"), std::string::npos) << refused.error;
  EXPECT_EQ(refused.error.find("oauth-wrong-xyz"), std::string::npos);
}
