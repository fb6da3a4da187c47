#include "io/http_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <array>
#include <atomic>
#include <deque>
#include <map>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <type_traits>
#include <vector>

namespace uringmig::io {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
constexpr auto tuple = asio::as_tuple(asio::use_awaitable);

namespace {

constexpr std::uint32_t header_limit = 8 * 1024;

std::string error_body(std::string_view message) {
  return "{\"error\":\"" + std::string(message) + "\"}";
}

template <class Buffer, class Buffers>
std::vector<Buffer> to_vector(const Buffers& buffers) {
  std::vector<Buffer> out;
  for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers);
       ++it)
    out.emplace_back(*it);
  return out;
}

/// A move-only completion handler of any type. Asio 1.81's any_completion_handler cannot be
/// used here: its executor lacks the blocking.never property the SSL stream's shutdown asks
/// for. This one carries no executor, allocator or cancellation slot: the operations complete on
/// the stream's executor, the server's single thread, which is every handler's executor here.
template <class... Args>
class erased_handler {
 public:
  template <class Handler>
  explicit erased_handler(Handler h) : p_(std::make_unique<model<Handler>>(std::move(h))) {}
  void operator()(Args... args) {
    auto p = std::move(p_);
    p->call(std::move(args)...);
  }

 private:
  struct base {
    virtual ~base() = default;
    virtual void call(Args... args) = 0;
  };
  template <class Handler>
  struct model final : base {
    explicit model(Handler h) : handler(std::move(h)) {}
    void call(Args... args) override { std::move(handler)(std::move(args)...); }
    Handler handler;
  };
  std::unique_ptr<base> p_;
};

/// A plain or a TLS connection behind one type, so that Beast's HTTP and WebSocket operations
/// are instantiated once instead of once per stream type: they are most of this file's
/// compile time (about 110 s under the sanitizers with two stream types). The per-operation
/// cost (a vector of buffers, one type-erased handler) is nothing next to a socket call.
class any_stream {
 public:
  using executor_type = asio::any_io_executor;
  using io_handler = erased_handler<boost::system::error_code, std::size_t>;
  using done_handler = erased_handler<boost::system::error_code>;

  template <class Stream>
  requires(!std::is_same_v<std::decay_t<Stream>, any_stream>) explicit any_stream(Stream s)
      : impl_(std::make_unique<model<Stream>>(std::move(s))) {}

  executor_type get_executor() { return impl_->tcp().get_executor(); }
  /// The TCP stream beneath: timeouts, cancel, shutdown.
  beast::tcp_stream& tcp() { return impl_->tcp(); }

  template <class Buffers, class Token>
  auto async_read_some(const Buffers& buffers, Token&& token) {
    return asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [](auto handler, base* impl, std::vector<asio::mutable_buffer> b) {
          impl->read_some(std::move(b), io_handler(std::move(handler)));
        },
        token, impl_.get(), to_vector<asio::mutable_buffer>(buffers));
  }

  template <class Buffers, class Token>
  auto async_write_some(const Buffers& buffers, Token&& token) {
    return asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [](auto handler, base* impl, std::vector<asio::const_buffer> b) {
          impl->write_some(std::move(b), io_handler(std::move(handler)));
        },
        token, impl_.get(), to_vector<asio::const_buffer>(buffers));
  }

  // Beast's customization points for a WebSocket over this stream (found by ADL); only the
  // asynchronous teardown: the server never closes a WebSocket synchronously.
  template <class Handler>
  friend void async_teardown(beast::role_type role, any_stream& s, Handler&& handler) {
    s.impl_->async_teardown(role, done_handler(std::forward<Handler>(handler)));
  }
  friend void beast_close_socket(any_stream& s) {
    boost::system::error_code ignored;
    s.tcp().socket().close(ignored);
  }

 private:
  struct base {
    virtual ~base() = default;
    virtual beast::tcp_stream& tcp() = 0;
    virtual void read_some(std::vector<asio::mutable_buffer> b, io_handler h) = 0;
    virtual void write_some(std::vector<asio::const_buffer> b, io_handler h) = 0;
    virtual void async_teardown(beast::role_type role, done_handler h) = 0;
  };

  template <class Stream>
  struct model final : base {
    explicit model(Stream st) : s(std::move(st)) {}
    beast::tcp_stream& tcp() override { return beast::get_lowest_layer(s); }
    void read_some(std::vector<asio::mutable_buffer> b, io_handler h) override {
      s.async_read_some(std::move(b), std::move(h));
    }
    void write_some(std::vector<asio::const_buffer> b, io_handler h) override {
      s.async_write_some(std::move(b), std::move(h));
    }
    void async_teardown(beast::role_type role, done_handler h) override {
      using beast::websocket::async_teardown;
      async_teardown(role, s, std::move(h));
    }
    Stream s;
  };

  std::unique_ptr<base> impl_;
};

void cancel_lowest(any_stream& s) {
  boost::system::error_code ignored;
  s.tcp().socket().cancel(ignored);
}

/// One WebSocket client: its stream, its queue of documents to send, and the writer's wake-up.
struct ws_client {
  explicit ws_client(any_stream s) : wake(s.get_executor()), ws(std::move(s)) {}
  void cancel() {
    boost::system::error_code ignored;
    ws.next_layer().tcp().socket().cancel(ignored);
  }
  std::deque<std::shared_ptr<const std::string>> queue;
  asio::steady_timer wake;
  bool dead = false;
  websocket::stream<any_stream> ws;
};

}  // namespace

struct http_server::impl : std::enable_shared_from_this<impl> {
  impl(http_server_options opts, http_handler h, ws_document d, ws_changed c)
      : o(std::move(opts)), handler(std::move(h)), document(std::move(d)), changed(std::move(c)) {}

  http_server_options o;
  http_handler handler;
  ws_document document;
  ws_changed changed;
  asio::io_context ctx{1};
  tcp::acceptor acceptor{ctx};
  std::optional<asio::ssl::context> tls;
  asio::steady_timer push_timer{ctx};
  std::thread thread;
  std::atomic<std::size_t> open{0};
  bool stopping = false;  // on the server's thread
  std::uint64_t next_id = 0;
  std::map<std::uint64_t, std::function<void()>> cancels;  // every open connection
  std::map<std::uint64_t, std::shared_ptr<ws_client>> ws_clients;

  /// Registers a connection's cancel; the returned guard unregisters it.
  struct tracked {
    impl* self;
    std::uint64_t id;
    ~tracked() {
      self->cancels.erase(id);
      self->ws_clients.erase(id);
      --self->open;
    }
  };
  std::unique_ptr<tracked> track(std::function<void()> cancel) {
    const auto id = next_id++;
    cancels.emplace(id, std::move(cancel));
    ++open;
    return std::unique_ptr<tracked>(new tracked{this, id});
  }

  void broadcast() {
    if (ws_clients.empty() || stopping) return;
    auto doc = std::make_shared<const std::string>(document());
    for (auto& [id, c] : ws_clients) {
      if (c->dead) continue;
      if (c->queue.size() >= o.max_queued_messages) {
        // It does not read: its socket is all it costs.
        c->dead = true;
        c->cancel();
        continue;
      }
      c->queue.push_back(doc);
      c->wake.cancel();
    }
  }

  asio::awaitable<void> push_loop() {
    auto self = shared_from_this();
    constexpr auto tick = std::chrono::milliseconds(100);
    auto last = std::chrono::steady_clock::now();
    while (!stopping) {
      push_timer.expires_after(std::min<std::chrono::milliseconds>(tick, o.push_interval));
      (void)co_await push_timer.async_wait(tuple);
      if (stopping) break;
      if (ws_clients.empty()) continue;
      const auto now = std::chrono::steady_clock::now();
      const bool due = now - last >= o.push_interval;
      if (!due && !(changed && changed())) continue;
      last = now;
      broadcast();
    }
  }

  asio::awaitable<void> accept_loop() {
    auto self = shared_from_this();
    for (;;) {
      auto [ec, sock] = co_await acceptor.async_accept(tuple);
      if (stopping) break;
      if (ec) {
        // Out of descriptors, say: try again shortly rather than spin.
        asio::steady_timer pause(ctx, std::chrono::milliseconds(50));
        (void)co_await pause.async_wait(tuple);
        continue;
      }
      if (open.load() >= o.max_connections) {
        boost::system::error_code ignored;
        sock.close(ignored);
        continue;
      }
      if (tls) {
        asio::co_spawn(ctx, serve_tls(std::move(sock)), asio::detached);
      } else {
        asio::co_spawn(ctx, serve(any_stream(beast::tcp_stream(std::move(sock)))), asio::detached);
      }
    }
    boost::system::error_code ignored;
    acceptor.close(ignored);
  }

  asio::awaitable<void> serve_tls(tcp::socket sock) {
    auto self = shared_from_this();
    beast::ssl_stream<beast::tcp_stream> s(beast::tcp_stream(std::move(sock)), *tls);
    beast::get_lowest_layer(s).expires_after(o.idle_timeout);
    auto guard = track([&s] {
      boost::system::error_code ignored;
      beast::get_lowest_layer(s).socket().cancel(ignored);
    });
    auto [ec] = co_await s.async_handshake(asio::ssl::stream_base::server, tuple);
    guard.reset();
    if (ec || stopping) co_return;
    co_await serve(any_stream(std::move(s)));
  }

  http_response respond(const http::request<http::string_body>& req) {
    http_request r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    r.authorization = std::string(req[http::field::authorization]);
    r.body = req.body();
    try {
      return handler(r);
    } catch (const std::exception&) {
      return {500, "application/json", error_body("internal error")};
    }
  }

  asio::awaitable<void> serve(any_stream stream) {
    auto self = shared_from_this();
    auto guard = track([&stream] { cancel_lowest(stream); });
    beast::flat_buffer buf;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(header_limit);
      parser.body_limit(o.max_request_bytes);
      stream.tcp().expires_after(o.idle_timeout);
      auto [ec, n] = co_await http::async_read(stream, buf, parser, tuple);
      if (stopping) co_return;
      if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
          ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
          ec == asio::error::eof)
        break;
      http_response out;
      bool keep_alive = false;
      if (ec == http::error::body_limit || ec == http::error::header_limit ||
          ec == http::error::buffer_overflow) {
        out = {413, "application/json", error_body("request too large")};
      } else if (ec) {
        out = {400, "application/json", error_body("malformed request")};
      } else {
        auto& req = parser.get();
        if (websocket::is_upgrade(req)) {
          if (!o.ws_path.empty() && req.target() == o.ws_path) {
            guard.reset();
            co_await serve_ws(std::move(stream), parser.release());
            co_return;
          }
          out = {404, "application/json", error_body("no WebSocket here")};
        } else {
          out = respond(req);
          keep_alive = req.keep_alive();
        }
      }
      http::response<http::string_body> res{static_cast<http::status>(out.status), 11};
      res.set(http::field::server, "uringmig");
      res.set(http::field::content_type, out.content_type);
      res.set(http::field::cache_control, "no-store");
      res.keep_alive(keep_alive);
      res.body() = std::move(out.body);
      res.prepare_payload();
      stream.tcp().expires_after(o.idle_timeout);
      auto [wec, wn] = co_await http::async_write(stream, res, tuple);
      if (wec || !keep_alive || stopping) break;
    }
    // Half-close, then read what the client still sends (bounded) before closing: closing with
    // unread data sends a reset, which can destroy the answer before the client reads it.
    auto& lowest = stream.tcp();
    boost::system::error_code ignored;
    lowest.socket().shutdown(tcp::socket::shutdown_send, ignored);
    lowest.expires_after(std::chrono::seconds(1));
    std::array<char, 4096> sink{};
    for (std::size_t drained = 0; drained < o.max_request_bytes && !stopping;) {
      auto [rec, n] = co_await lowest.async_read_some(asio::buffer(sink), tuple);
      if (rec) break;
      drained += n;
    }
  }

  asio::awaitable<void> ws_reader(std::shared_ptr<ws_client> c) {
    beast::flat_buffer b;
    for (;;) {
      auto [ec, n] = co_await c->ws.async_read(b, tuple);
      if (ec) break;
      b.consume(b.size());  // what a client says is not read
    }
    c->dead = true;
    c->wake.cancel();
  }

  asio::awaitable<void> serve_ws(any_stream stream, http::request<http::string_body> req) {
    auto c = std::make_shared<ws_client>(std::move(stream));
    auto guard = track([c] { c->cancel(); });
    c->ws.next_layer().tcp().expires_never();
    c->ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    c->ws.read_message_max(4096);
    auto [ec] = co_await c->ws.async_accept(req, tuple);
    if (ec || stopping) co_return;
    c->ws.text(true);
    ws_clients.emplace(next_id, c);  // keyed apart from the tracking ids: any unique key does
    const auto key = next_id++;
    c->queue.push_back(std::make_shared<const std::string>(document()));
    asio::co_spawn(ctx, ws_reader(c), asio::detached);
    while (!c->dead && !stopping) {
      if (c->queue.empty()) {
        c->wake.expires_at(asio::steady_timer::time_point::max());
        (void)co_await c->wake.async_wait(tuple);
        continue;
      }
      auto msg = c->queue.front();
      auto [wec, n] = co_await c->ws.async_write(asio::buffer(*msg), tuple);
      if (wec) break;
      c->queue.pop_front();
    }
    c->dead = true;
    ws_clients.erase(key);
    c->cancel();  // ends the reader
  }
};

namespace {

asio::ip::address parse_address(const std::string& text) {
  if (text == "localhost" || text.empty()) return asio::ip::make_address("127.0.0.1");
  boost::system::error_code ec;
  auto a = asio::ip::make_address(text, ec);
  if (ec)
    throw std::runtime_error("'" + text +
                             "' is not an IP address (write 127.0.0.1, ::1 or 0.0.0.0)");
  return a;
}

}  // namespace

http_server::http_server(http_server_options o, http_handler handler, ws_document document,
                         ws_changed changed)
    : impl_(std::make_shared<impl>(std::move(o), std::move(handler), std::move(document),
                                   std::move(changed))) {
  auto& i = *impl_;
  if (!i.o.tls_cert.empty() || !i.o.tls_key.empty()) {
    i.tls.emplace(asio::ssl::context::tls_server);
    i.tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1);
    boost::system::error_code ec;
    i.tls->use_certificate_chain_file(i.o.tls_cert, ec);
    if (ec) throw std::runtime_error("cannot read the TLS certificate " + i.o.tls_cert);
    i.tls->use_private_key_file(i.o.tls_key, asio::ssl::context::pem, ec);
    if (ec) throw std::runtime_error("cannot read the TLS key " + i.o.tls_key);
  }
  const tcp::endpoint ep(parse_address(i.o.address), i.o.port);
  try {
    i.acceptor.open(ep.protocol());
    i.acceptor.set_option(tcp::acceptor::reuse_address(true));
    i.acceptor.bind(ep);
    i.acceptor.listen();
  } catch (const boost::system::system_error& e) {
    // As std::system_error, so that callers compare with std::errc.
    throw std::system_error(e.code().value(), std::system_category(), e.what());
  }
}

http_server::~http_server() {
  stop();
}

void http_server::start() {
  auto self = impl_;
  asio::co_spawn(self->ctx, self->accept_loop(), asio::detached);
  if (!self->o.ws_path.empty()) asio::co_spawn(self->ctx, self->push_loop(), asio::detached);
  self->thread = std::thread([self] { self->ctx.run(); });
}

void http_server::stop() {
  auto& i = *impl_;
  if (!i.thread.joinable()) return;
  asio::post(i.ctx, [&i] {
    i.stopping = true;
    boost::system::error_code ignored;
    i.acceptor.cancel(ignored);
    i.push_timer.cancel();
    // Copy first: a cancel may end a connection, which erases itself.
    std::vector<std::function<void()>> all;
    for (auto& [id, c] : i.cancels)
      all.push_back(c);
    for (auto& f : all)
      f();
    for (auto& [id, c] : i.ws_clients)
      c->wake.cancel();
  });
  i.thread.join();
}

void http_server::notify() {
  auto self = impl_;
  asio::post(self->ctx, [self] { self->broadcast(); });
}

std::uint16_t http_server::port() const {
  boost::system::error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

std::size_t http_server::connections() const {
  return impl_->open.load();
}

}  // namespace uringmig::io
