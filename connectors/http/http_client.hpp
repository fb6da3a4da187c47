#pragma once

#include "io/buffer_pool.hpp"
#include "io/channel.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace uringmig::connectors::http {

enum class http_method { get, head, put, post, del };

/// Header fields in order. Response names are lower-cased; values are trimmed.
using http_headers = std::vector<std::pair<std::string, std::string>>;

/// Per-request knobs.
struct http_options {
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
  /// The whole exchange; 0 is none (a Stream Load of a big chunk takes minutes).
  std::chrono::milliseconds total_timeout{0};
  /// How long libcurl waits for `100 Continue` before it sends the body anyway.
  /// A Doris BE answers 100 only once it began the transaction: be patient.
  std::chrono::milliseconds expect_100_timeout{std::chrono::seconds(10)};
  /// Send `Expect: 100-continue` when there is a body (Doris requires it).
  bool expect_continue = true;
  /// Response body bytes kept (after decoding); the rest is counted and dropped.
  std::size_t max_response_body = std::size_t{1} << 20;
  /// Send `Accept-Encoding: gzip` and decode a gzip body before it is kept (libcurl's
  /// CURLOPT_ACCEPT_ENCODING). Off: no coding asked for, none decoded.
  bool accept_gzip = false;
};
// Callers pass `{}` for it inside co_await expressions, where GCC 12 destroys a temporary with a
// non-trivial destructor twice: keep it plain data.
static_assert(std::is_trivially_destructible_v<http_options>);

/// One HTTP request. Credentials go in `user`/`password` (Basic auth), never
/// in the URL: a URL with userinfo is refused with std::invalid_argument.
struct http_request {
  http_method method = http_method::get;
  std::string url;  // http://host:port/path?query
  http_headers headers;
  std::string user;  // Basic auth when not empty; never logged
  std::string password;
  /// A complete body, not owned: valid until request() returns. libcurl may
  /// rewind and resend it (100-continue timeout, a dead kept-alive connection).
  std::span<const std::byte> body;
  /// Or a streamed body, sent with `Transfer-Encoding: chunked`: the buffers
  /// received until the channel is closed. Not owned; must outlive request().
  /// When the exchange ends before the channel is drained (an early answer, a
  /// transport error, cancellation) the channel is cancelled, so the
  /// producer's send() returns false. A streamed body cannot be replayed.
  io::channel<io::buffer>* stream = nullptr;
  /// With a stream: posted to the client's executor once, when libcurl first
  /// asks for body bytes (after `100 Continue`, or when the wait for it ran
  /// out). An answer that comes before (a 307, a refusal) never triggers it,
  /// so a producer that waits for it never reads data nobody will send.
  std::function<void()> on_body_wanted;
  http_options options;
};

/// A failure below HTTP: connect, send, receive, timeout. Never holds secrets.
struct transport_error {
  int code = 0;  // CURLcode
  std::string message;
  /// Worth a retry with backoff (with the same Stream Load label).
  bool retryable() const;
  /// The TLS handshake or the server's certificate failed: not worth a retry.
  bool tls() const;
};

struct http_timing {
  std::chrono::microseconds connect{0};         // TCP connected (0 on a reused connection)
  std::chrono::microseconds start_transfer{0};  // first response byte
  std::chrono::microseconds total{0};
  /// Since the request started: when `100 Continue` arrived, and when libcurl
  /// first took body bytes (proves whether the body waited for the 100).
  std::optional<std::chrono::microseconds> continue_received;
  std::optional<std::chrono::microseconds> body_started;
};

struct http_response {
  int status = 0;  // 0 when no response arrived
  http_headers headers;
  std::string body;  // decoded; at most options.max_response_body bytes
  bool body_truncated = false;
  std::optional<transport_error> error;
  http_timing timing;
  std::uint64_t body_bytes_sent = 0;  // handed to libcurl, replays included
  long new_connections = 0;           // 0: a kept-alive connection was reused
  int local_port = 0;                 // of the connection used
  std::size_t upload_pauses = 0;      // times a streamed body ran dry

  bool ok() const { return !error.has_value(); }
  /// The first header named `lower_name` (lower case), or nullptr.
  const std::string* header(std::string_view lower_name) const;
};

struct http_client_options {
  /// Connections per host:port (concurrency per BE); more requests queue. 0: no limit.
  long max_host_connections = 8;
  long max_total_connections = 0;  // 0: no limit
  /// Idle kept-alive connections remembered for reuse.
  long max_cached_connections = 32;
  /// libcurl's upload buffer per transfer (at most 2 MiB).
  long upload_buffer_size = 1L << 20;
  /// Buffers of a streamed body the client holds beyond the channel.
  std::size_t stream_queue = 2;
  /// https: the CA certificates (PEM) that sign the server's certificate; empty: the system's.
  std::string ca_file;
  /// https: verify the server's certificate and its host name. Off only on explicit request.
  bool verify_tls = true;
};

/// An HTTP/1.1 client over one libcurl multi handle, driven from one
/// io_context: libcurl's sockets are awaited on io_uring, its timer is an
/// asio timer, and kept-alive connections are shared by all requests.
/// Every member must be called from a thread running the executor's
/// io_context (std::logic_error otherwise); destroy it before that context.
class http_client {
 public:
  http_client(boost::asio::any_io_executor ex, http_client_options opts);
  explicit http_client(boost::asio::any_io_executor ex)
      : http_client(std::move(ex), http_client_options{}) {}
  http_client(http_client&&) noexcept;
  http_client& operator=(http_client&&) noexcept;
  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;
  /// Requests still running complete with a transport error; sockets are
  /// released once their pending waits finished.
  ~http_client();

  /// Performs one exchange; redirects are never followed. Transport failures
  /// come back in http_response::error. Throws std::logic_error off the
  /// client's thread, std::invalid_argument on a malformed request, and
  /// system_error(operation_aborted) when the awaiting coroutine is cancelled
  /// (the transfer is removed from the multi handle first).
  boost::asio::awaitable<http_response> request(http_request rq);

  struct stats {
    std::size_t active = 0;            // transfers in the multi handle
    std::size_t waiting_for_body = 0;  // streamed bodies paused: their channel ran dry
    std::size_t watched_sockets = 0;   // descriptors libcurl asked us to watch
    std::size_t draining_sockets = 0;  // removed, a wait still pending
    std::uint64_t deferred_closes = 0;
    std::uint64_t completed = 0;
  };
  stats snapshot() const;
  const boost::asio::any_io_executor& executor() const;

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

std::string_view to_string(http_method m) noexcept;

}  // namespace uringmig::connectors::http
