#include "connectors/snowflake/sql_api.hpp"

#include "codecs/json_reader.hpp"
#include "codecs/json_text.hpp"
#include "codecs/sql_text.hpp"
#include "io/sleep.hpp"
#include "io/wait_all.hpp"
#include "io/waiters.hpp"

#include <openssl/rand.h>

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/this_coro.hpp>

#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <span>

namespace uringmig::connectors::snowflake {

namespace asio = boost::asio;
namespace sf = codecs::snowflake;

namespace {

double jitter() {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(gen);
}

std::string json_field(const std::string& body, std::string_view key) {
  const auto o = codecs::json::read_object(body);
  if (!o) return {};
  const codecs::json::value* v = o.value->find(key);
  return v != nullptr && v->kind != codecs::json::kind::null ? v->text : std::string();
}

/// The one line for a statement that failed (422): Snowflake's message, SQLSTATE and code,
/// and the statement's first line.
error statement_error(const http::http_response& r, const std::string& sql) {
  const std::string state = json_field(r.body, "sqlState");
  const std::string code = json_field(r.body, "code");
  std::string message = codecs::printable(json_field(r.body, "message").substr(0, 500));
  if (message.empty()) message = "no message";
  std::string line = "Snowflake: the statement failed (SQLSTATE " +
                     (state.empty() ? std::string("unknown") : codecs::printable(state));
  if (!code.empty()) line += ", code " + codecs::printable(code);
  line += "): " + message + " — in: " + first_line(sql);
  return error(line, r.status, state);
}

/// A partition's ordered hand-over: workers fetch ahead (at most `window` bodies held or in
/// flight), the deliverer decodes them in order.
struct fetch_plan {
  std::size_t partitions = 0;
  std::size_t window = 1;
  std::size_t next_fetch = 1;
  std::size_t next_deliver = 1;
  std::map<std::size_t, std::string> ready;
  std::optional<io::wake_handler> deliverer;
  io::waiters workers;
  bool failed = false;

  void wake_deliverer() {
    if (!deliverer) return;
    io::wake_handler h = std::move(*deliverer);
    deliverer.reset();
    io::wake(std::move(h));
  }
  void fail() {
    failed = true;
    wake_deliverer();
    io::wake_all(workers.take_all());
  }
};

}  // namespace

std::string new_request_id() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) {
    std::random_device rd;
    for (auto& c : b)
      c = static_cast<unsigned char>(rd());
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(hex[b[i] >> 4]);
    out.push_back(hex[b[i] & 0x0f]);
  }
  return out;
}

std::string first_line(std::string_view sql) {
  while (!sql.empty() && (sql.front() == ' ' || sql.front() == '\n' || sql.front() == '\t'))
    sql.remove_prefix(1);
  std::string_view line = sql.substr(0, sql.find('\n'));
  std::string out = codecs::printable(line.substr(0, 200));
  if (line.size() > 200 || line.size() < sql.size()) out += " …";
  return out;
}

std::string base_url_of(const settings& s) {
  std::string b =
      s.base_url.empty() ? "https://" + s.endpoint.account + ".snowflakecomputing.com" : s.base_url;
  while (!b.empty() && b.back() == '/')
    b.pop_back();
  return b;
}

sql_client::sql_client(http::http_client& http, settings s, std::stop_token stop)
    : http_(http),
      s_(std::move(s)),
      stop_(std::move(stop)),
      tokens_(s_.auth, s_.endpoint.account, s_.endpoint.user),
      base_(base_url_of(s_)) {
  s_.fetch_parallelism = std::max<std::size_t>(1, s_.fetch_parallelism);
  s_.chunk_bytes = std::max<std::size_t>(4096, s_.chunk_bytes);
}

http::http_request sql_client::get(std::string path_and_query) {
  http::http_request rq;
  rq.method = http::http_method::get;
  rq.url = base_ + path_and_query;
  rq.headers = {{"Authorization", "Bearer " + tokens_.token()},
                {"X-Snowflake-Authorization-Token-Type", std::string(tokens_.type())},
                {"User-Agent", s_.user_agent},
                {"Accept", "application/json"}};
  rq.options.expect_continue = false;
  rq.options.accept_gzip = true;
  rq.options.max_response_body = s_.max_partition_bytes;
  return rq;
}

std::string sql_client::statement_body(const std::string& sql) const {
  std::string b = "{\"statement\":";
  codecs::append_json_string(b, sql);
  b += ",\"timeout\":" + std::to_string(s_.statement_timeout.count());
  auto field = [&b](std::string_view key, const std::string& value) {
    if (value.empty()) return;
    b += ",\"";
    b += key;
    b += "\":";
    codecs::append_json_string(b, value);
  };
  field("database", s_.endpoint.database);
  field("schema", s_.endpoint.schema);
  field("warehouse", s_.endpoint.warehouse);
  field("role", s_.endpoint.role);
  b += ",\"resultSetMetaData\":{\"format\":\"jsonv2\"}}";
  return b;
}

asio::awaitable<http::http_response> sql_client::exchange(std::function<http::http_request()> make,
                                                          std::string what, query_result& stats) {
  int attempt = 0;
  bool renewed = false;
  for (;;) {
    http::http_response r = co_await http_.request(make());
    const decision d = decide(r, what, attempt, renewed, s_.retry, jitter());
    if (d.step == next_step::use) co_return r;
    if (d.step == next_step::renew && tokens_.renew()) {
      renewed = true;
      ++stats.token_renewals;
      spdlog::info("Snowflake: {}: the token was refused (HTTP 401); signing a new one", what);
      continue;
    }
    if (d.step != next_step::retry) {
      const std::string line = d.step == next_step::renew
                                   ? "Snowflake: " + what +
                                         ": the OAuth token was refused (HTTP "
                                         "401); get a new one"
                                   : d.message;
      throw error(line, r.status, "");
    }
    ++stats.retries;
    spdlog::warn("Snowflake: {}: {}; retrying in {} ms (attempt {} of {})", what,
                 r.error ? r.error->message : "HTTP " + std::to_string(r.status), d.wait.count(),
                 attempt + 2, s_.retry.max_attempts);
    ++attempt;
    if (!co_await io::sleep_unless_stopped(d.wait, stop_))
      throw std::runtime_error("Snowflake: " + what + ": stopped while waiting to retry");
  }
}

asio::awaitable<http::http_response> sql_client::submit(const std::string& sql,
                                                        query_result& stats) {
  const std::string body = statement_body(sql);
  const std::string request_id = new_request_id();
  int sent = 0;
  // Every attempt carries the same requestId: Snowflake runs the statement once however many
  // times it is submitted (resubmissions say retry=true).
  const std::function<http::http_request()> make = [this, &body, &request_id, &sent] {
    http::http_request rq = get("/api/v2/statements?requestId=" + request_id + "&async=true" +
                                (sent++ > 0 ? "&retry=true" : ""));
    rq.method = http::http_method::post;
    rq.headers.emplace_back("Content-Type", "application/json");
    rq.body = std::as_bytes(std::span<const char>(body.data(), body.size()));
    return rq;
  };
  co_return co_await exchange(make, "submitting the statement", stats);
}

asio::awaitable<http::http_response> sql_client::wait_done(http::http_response r,
                                                           query_result& stats) {
  auto wait = s_.poll_first;
  while (r.status == 202) {
    const std::string handle = json_field(r.body, "statementHandle");
    if (handle.empty() || handle.find_first_of("/?#% ") != std::string::npos)
      throw error("Snowflake: a running statement's answer names no statement handle", 202, "");
    if (!co_await io::sleep_unless_stopped(wait, stop_))
      throw std::runtime_error("Snowflake: stopped while the statement ran");
    wait = std::min(wait * 2, s_.poll_max);
    ++stats.polls;
    const std::function<http::http_request()> make = [this, &handle] {
      return get("/api/v2/statements/" + handle);
    };
    r = co_await exchange(make, "asking for the statement's status", stats);
  }
  co_return r;
}

asio::awaitable<std::string> sql_client::fetch_partition(const std::string& handle, std::size_t i,
                                                         query_result& stats) {
  const std::function<http::http_request()> make = [this, &handle, i] {
    return get("/api/v2/statements/" + handle + "?partition=" + std::to_string(i));
  };
  http::http_response r =
      co_await exchange(make, "fetching result partition " + std::to_string(i), stats);
  if (r.status != 200)
    throw error(
        "Snowflake: result partition " + std::to_string(i) + ": HTTP " + std::to_string(r.status),
        r.status, json_field(r.body, "sqlState"));
  if (r.body_truncated)
    throw error("Snowflake: result partition " + std::to_string(i) + " is larger than " +
                    std::to_string(s_.max_partition_bytes) + " bytes (max_partition_bytes)",
                r.status, "");
  co_return std::move(r.body);
}

namespace {

/// Decodes one partition's body in slices, handing COPY text to the sink whenever a chunk is
/// full; checks the row count against partitionInfo.
asio::awaitable<void> deliver(sf::jsonv2_decoder& d, const std::string& body, std::size_t index,
                              const sf::result_meta& meta, copy_sink& sink, std::string& out,
                              std::size_t chunk) {
  for (std::size_t off = 0; off < body.size(); off += chunk) {
    if (!d.feed(std::string_view(body).substr(off, chunk), out))
      throw error("Snowflake: result partition " + std::to_string(index) + ": " + d.error(), 200,
                  "");
    if (out.size() >= chunk) {
      co_await sink(out);
      out.clear();
    }
  }
  if (!d.finish(out))
    throw error("Snowflake: result partition " + std::to_string(index) + ": " + d.error(), 200, "");
  if (index < meta.partitions.size() && meta.partitions[index].row_count != d.rows())
    throw error("Snowflake: result partition " + std::to_string(index) + " holds " +
                    std::to_string(d.rows()) + " rows, partitionInfo says " +
                    std::to_string(meta.partitions[index].row_count),
                200, "");
}

void keep_max(query_result& stats, const sf::jsonv2_decoder& d) {
  stats.watched_nulls += d.watched_nulls();
  const auto& m = d.watched_max();
  if (m && (!stats.watched_max || *stats.watched_max < *m)) stats.watched_max = m;
}

}  // namespace

asio::awaitable<void> sql_client::fetch_rest(const std::string& handle, std::size_t partitions,
                                             const sf::result_meta& meta, copy_sink& sink,
                                             std::string& out, query_result& stats,
                                             const std::string& watch) {
  fetch_plan plan;
  plan.partitions = partitions;
  plan.window = s_.fetch_parallelism;
  auto worker = [&]() -> asio::awaitable<void> {
    for (;;) {
      co_await io::park([&plan](io::wake_handler& h) {
        if (plan.failed || plan.next_fetch >= plan.partitions ||
            plan.next_fetch < plan.next_deliver + plan.window)
          return false;
        plan.workers.push(std::move(h));
        return true;
      });
      if (plan.failed || plan.next_fetch >= plan.partitions) co_return;
      if (plan.next_fetch >= plan.next_deliver + plan.window) continue;
      const std::size_t i = plan.next_fetch++;
      std::string body;
      try {
        body = co_await fetch_partition(handle, i, stats);
      } catch (...) {
        plan.fail();
        throw;
      }
      plan.ready.emplace(i, std::move(body));
      plan.wake_deliverer();
    }
  };
  auto deliverer = [&]() -> asio::awaitable<void> {
    for (std::size_t i = 1; i < plan.partitions; ++i) {
      // Woken whenever some partition arrives: wait on until this one has.
      while (!plan.failed && plan.ready.count(i) == 0) {
        co_await io::park([&plan, i](io::wake_handler& h) {
          if (plan.failed || plan.ready.count(i) > 0) return false;
          plan.deliverer = std::move(h);
          return true;
        });
      }
      if (plan.failed) co_return;
      const std::string body = std::move(plan.ready.at(i));
      plan.ready.erase(i);
      plan.next_deliver = i + 1;
      io::wake_all(plan.workers.take_all());
      sf::jsonv2_decoder d(stats.columns);
      if (!watch.empty()) d.watch(watch);
      try {
        co_await deliver(d, body, i, meta, sink, out, s_.chunk_bytes);
      } catch (...) {
        plan.fail();
        throw;
      }
      stats.rows += d.rows();
      keep_max(stats, d);
    }
  };
  auto ex = co_await asio::this_coro::executor;
  std::vector<io::spawned> ops;
  ops.push_back(asio::co_spawn(ex, deliverer(), asio::deferred));
  for (std::size_t w = 0; w < std::min(plan.window, partitions - 1); ++w)
    ops.push_back(asio::co_spawn(ex, worker(), asio::deferred));
  co_await io::wait_all(std::move(ops));
}

asio::awaitable<query_result> sql_client::query(std::string sql, copy_sink sink) {
  std::string no_watch;
  co_return co_await query(std::move(sql), std::move(sink), std::move(no_watch));
}

asio::awaitable<query_result> sql_client::query(std::string sql, copy_sink sink,
                                                std::string watch) {
  query_result stats;
  http::http_response r = co_await submit(sql, stats);
  r = co_await wait_done(std::move(r), stats);
  if (r.status == 422) throw statement_error(r, sql);
  if (r.body_truncated)
    throw error("Snowflake: result partition 0 is larger than " +
                    std::to_string(s_.max_partition_bytes) + " bytes (max_partition_bytes)",
                r.status, "");
  sf::jsonv2_decoder first;
  if (!watch.empty()) first.watch(watch);
  std::string out;
  sf::result_meta meta;
  {
    // The first partition's metadata must be read before its rows: decode, then look.
    co_await deliver(first, r.body, 0, meta, sink, out, s_.chunk_bytes);
    meta = first.meta();
  }
  if (!meta.has_row_type)
    throw error("Snowflake: the result has no rowType (was it a query?) — in: " + first_line(sql),
                200, "");
  if (!meta.partitions.empty() && meta.partitions[0].row_count != first.rows())
    throw error("Snowflake: result partition 0 holds " + std::to_string(first.rows()) +
                    " rows, partitionInfo says " + std::to_string(meta.partitions[0].row_count),
                200, "");
  stats.columns = first.columns();
  stats.statement_handle = meta.statement_handle;
  stats.rows = first.rows();
  keep_max(stats, first);
  if (!watch.empty() && std::none_of(stats.columns.begin(), stats.columns.end(),
                                     [&](const sf::column& c) { return c.name == watch; }))
    throw error("Snowflake: the result has no column \"" + codecs::printable(watch) +
                    "\" to take the watermark from — in: " + first_line(sql),
                200, "");
  stats.partitions = std::max<std::size_t>(1, meta.partitions.size());
  if (stats.partitions > 1) {
    if (stats.statement_handle.empty() ||
        stats.statement_handle.find_first_of("/?#% ") != std::string::npos)
      throw error("Snowflake: a result of several partitions names no statement handle", 200, "");
    co_await fetch_rest(stats.statement_handle, stats.partitions, meta, sink, out, stats, watch);
  }
  if (!out.empty()) co_await sink(out);
  co_return stats;
}

asio::awaitable<std::vector<sf::column>> sql_client::describe_columns(std::string table) {
  copy_sink none = [](std::string_view) -> asio::awaitable<void> { co_return; };
  query_result r = co_await query("SELECT * FROM " + table + " LIMIT 0", none);
  co_return std::move(r.columns);
}

}  // namespace uringmig::connectors::snowflake
