#pragma once

// A small HTTP/1.1 + WebSocket server (Boost.Beast) on an io_uring context of its own, one
// thread, every connection a coroutine. It knows no routes: a handler turns a request into a
// response, and one WebSocket path gets a document pushed at an interval and on notify().
// Bounded everywhere: request size, connection count, per-connection send queue (a client that
// does not read loses its connection, nobody else waits for it), idle timeouts.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace uringmig::io {

struct http_request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query: "/api/v1/log?since=3"
  std::string authorization;
  std::string body;
};

struct http_response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

struct http_server_options {
  std::string address = "127.0.0.1";             // an IPv4 or IPv6 literal, or "localhost"
  std::uint16_t port = 0;                        // 0: any free port (see http_server::port())
  std::size_t max_connections = 64;              // more are accepted and closed at once
  std::size_t max_request_bytes = 64 * 1024;     // headers and body; more: 413
  std::chrono::seconds idle_timeout{30};         // a connection that sends nothing is closed
  std::chrono::milliseconds push_interval{500};  // the WebSocket's pushes
  std::size_t max_queued_messages = 8;  // per WebSocket: more are pending, the client is dropped
  std::string ws_path;                  // "" : no WebSocket
  std::string tls_cert;                 // PEM files; both set: HTTPS and WSS only
  std::string tls_key;
};

/// What a handler answers; called on the server's thread, one request at a time.
using http_handler = std::function<http_response(const http_request&)>;
/// The WebSocket's document now; called on the server's thread.
using ws_document = std::function<std::string()>;
/// Whether the document changed in a way that should be pushed at once (checked every 100 ms
/// while a WebSocket client is connected); called on the server's thread.
using ws_changed = std::function<bool()>;

class http_server {
 public:
  /// Binds and listens (nothing is served until start()). Throws std::system_error when the
  /// address cannot be bound (in use, not local) and std::runtime_error for a bad address or
  /// unreadable TLS files.
  http_server(http_server_options o, http_handler handler, ws_document document,
              ws_changed changed = {});
  ~http_server();  // stop()
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  /// Starts the server's thread.
  void start();
  /// Closes the listener and every connection, joins the thread. Idempotent.
  void stop();
  /// Pushes the document to every WebSocket client now (from any thread).
  void notify();
  /// The bound port.
  std::uint16_t port() const;
  /// Open connections now (for tests).
  std::size_t connections() const;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace uringmig::io
