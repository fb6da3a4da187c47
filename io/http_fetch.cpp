#include "io/http_fetch.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <optional>
#include <stdexcept>

namespace uringmig::io {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

constexpr std::size_t max_body = std::size_t{16} << 20;

/// The request and everything its callbacks touch, alive until the context stops.
struct exchange {
  explicit exchange(boost::asio::io_context& ctx) : resolver(ctx), stream(ctx) {}
  tcp::resolver resolver;
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  http::request<http::string_body> request;
  http::response_parser<http::string_body> parser;
  std::optional<boost::system::error_code> result;
  const char* step = "resolve";

  void start(const std::string& host, const std::string& port) {
    resolver.async_resolve(host, port, [this](auto ec, const tcp::resolver::results_type& r) {
      if (ec) return finish(ec);
      step = "connect";
      stream.async_connect(r, [this](auto ec2, const auto&) {
        if (ec2) return finish(ec2);
        step = "send";
        http::async_write(stream, request, [this](auto ec3, std::size_t) {
          if (ec3) return finish(ec3);
          step = "read the answer";
          http::async_read(stream, buffer, parser, [this](auto ec4, std::size_t) { finish(ec4); });
        });
      });
    });
  }
  void finish(boost::system::error_code ec) { result = ec; }
};

}  // namespace

http_answer http_fetch(const std::string& host, const std::string& port, std::string_view method,
                       std::string_view target, std::string_view bearer_token,
                       std::chrono::milliseconds timeout) {
  boost::asio::io_context ctx(1);
  exchange x(ctx);
  const auto verb = http::string_to_verb(method);
  if (verb == http::verb::unknown)
    throw std::runtime_error("unknown HTTP method " + std::string(method));
  x.request.method(verb);
  x.request.target(target);
  x.request.version(11);
  x.request.set(http::field::host, host + ":" + port);
  x.request.set(http::field::user_agent, "uringmig");
  x.request.set(http::field::connection, "close");
  if (!bearer_token.empty())
    x.request.set(http::field::authorization, "Bearer " + std::string(bearer_token));
  x.request.prepare_payload();
  x.parser.body_limit(max_body);
  x.start(host, port);
  ctx.run_for(timeout);
  const std::string where = "http://" + host + ":" + port;
  if (!x.result) {
    throw std::runtime_error("no answer from " + where + " within " +
                             std::to_string(timeout.count()) + " ms (step: " + x.step + ")");
  }
  if (*x.result) {
    throw std::runtime_error("cannot " + std::string(x.step) + " " + where + ": " +
                             x.result->message());
  }
  http_answer a;
  a.status = x.parser.get().result_int();
  a.body = std::move(x.parser.get().body());
  return a;
}

}  // namespace uringmig::io
