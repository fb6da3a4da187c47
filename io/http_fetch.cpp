#include "io/http_fetch.hpp"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <stdexcept>

namespace uringmig::io {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr std::size_t max_body = std::size_t{16} << 20;
constexpr const char* handshake_step = "verify the TLS certificate of";

/// The request and everything its callbacks touch, alive until the context stops.
struct exchange {
  exchange(asio::io_context& ctx, asio::ssl::context* tls) : resolver(ctx), plain(ctx) {
    if (tls != nullptr) secure.emplace(ctx, *tls);
  }
  tcp::resolver resolver;
  beast::tcp_stream plain;
  std::optional<asio::ssl::stream<tcp::socket>> secure;
  beast::flat_buffer buffer;
  http::request<http::string_body> request;
  http::response_parser<http::string_body> parser;
  std::optional<boost::system::error_code> result;
  const char* step = "resolve";

  void start(const std::string& host, const std::string& port) {
    resolver.async_resolve(host, port, [this](auto ec, const tcp::resolver::results_type& r) {
      if (ec) return finish(ec);
      step = "connect";
      if (!secure) {
        plain.async_connect(r, [this](auto ec2, const auto&) {
          if (ec2) return finish(ec2);
          exchange_over(plain);
        });
        return;
      }
      asio::async_connect(secure->next_layer(), r, [this](auto ec2, const auto&) {
        if (ec2) return finish(ec2);
        step = handshake_step;
        secure->async_handshake(asio::ssl::stream_base::client, [this](auto ec3) {
          if (ec3) return finish(ec3);
          exchange_over(*secure);
        });
      });
    });
  }
  template <class Stream>
  void exchange_over(Stream& s) {
    step = "send";
    http::async_write(s, request, [this, &s](auto ec, std::size_t) {
      if (ec) return finish(ec);
      step = "read the answer";
      http::async_read(s, buffer, parser, [this](auto ec2, std::size_t) { finish(ec2); });
    });
  }
  void finish(boost::system::error_code ec) { result = ec; }
};

/// The client context: TLS 1.2 or newer, the peer verified against `ca_file` or the system's
/// CAs, and its name against `host`.
asio::ssl::context client_tls(const http_tls& tls, const std::string& host) {
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_tlsv1 |
                  asio::ssl::context::no_tlsv1_1);
  boost::system::error_code ec;
  if (tls.ca_file.empty()) {
    ctx.set_default_verify_paths(ec);
  } else {
    ctx.load_verify_file(tls.ca_file, ec);
    if (ec) throw std::runtime_error("cannot read the CA file " + tls.ca_file + " (PEM)");
  }
  ctx.set_verify_mode(asio::ssl::verify_peer);
  ctx.set_verify_callback(asio::ssl::host_name_verification(host));
  return ctx;
}

}  // namespace

http_answer http_fetch(const std::string& host, const std::string& port, std::string_view method,
                       std::string_view target, std::string_view bearer_token,
                       std::chrono::milliseconds timeout, const std::optional<http_tls>& tls) {
  std::optional<asio::ssl::context> tls_ctx;
  if (tls) tls_ctx.emplace(client_tls(*tls, host));
  asio::io_context ctx(1);
  exchange x(ctx, tls_ctx ? &*tls_ctx : nullptr);
  boost::system::error_code not_ip;
  static_cast<void>(asio::ip::make_address(host, not_ip));
  if (x.secure && not_ip) {
    // SNI (a name, never an address), for a server that serves several names.
    SSL_ctrl(x.secure->native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(host.c_str()));
  }
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
  const std::string where = (tls ? "https://" : "http://") + host + ":" + port;
  if (!x.result) {
    throw std::runtime_error("no answer from " + where + " within " +
                             std::to_string(timeout.count()) + " ms (step: " + x.step + ")");
  }
  if (*x.result && x.secure && x.step == handshake_step) {
    const long verify = SSL_get_verify_result(x.secure->native_handle());
    if (verify != X509_V_OK) {
      throw http_tls_error("the TLS certificate of " + where + " does not verify (" +
                           X509_verify_cert_error_string(verify) + ")" +
                           (tls->ca_file.empty()
                                ? ": name the CA that signed it with --tls-ca FILE"
                                : ": it is not signed by the CA in " + tls->ca_file));
    }
    throw std::runtime_error("TLS handshake with " + where +
                             " failed (does it serve HTTPS?): " + x.result->message());
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
