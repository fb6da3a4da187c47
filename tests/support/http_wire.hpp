#pragma once

// Blocking socket plumbing for one connection thread: a buffered reader of
// request heads and bodies, sends, resets, and the stop signal threads wait on.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "tests/support/http_text.hpp"

struct ssl_st;  // OpenSSL's SSL

namespace uringmig::test::http {

/// The server's stop request, for threads that must wait without missing it.
class stopper {
 public:
  void request_stop();
  bool stopped() const;
  /// Waits up to `d`; true when stop was requested meanwhile.
  bool wait_for(std::chrono::milliseconds d) const;

 private:
  mutable std::mutex m_;
  mutable std::condition_variable cv_;
  bool stopped_ = false;
};

/// Receives body data as it arrives (already de-chunked).
class body_sink {
 public:
  virtual ~body_sink() = default;
  virtual void write(std::string_view data) = 0;
};

/// Reads and writes one accepted socket, in clear or through a TLS session. Owns neither.
class connection_io {
 public:
  connection_io(int fd, std::size_t buffer_size, ssl_st* tls = nullptr);

  enum class head_result { ok, eof, too_large, not_http };
  /// Reads up to the blank line; `head` gets the text before it. `not_http` at once when the
  /// first byte cannot start a request line (a TLS handshake sent to a plain-http port).
  head_result read_head(std::string& head);

  enum class body_result { ok, eof, bad_framing, limit };
  /// Reads one body into `sink`, counting data bytes in `bytes`. Stops with
  /// `limit` once `limit` data bytes were passed on.
  body_result read_body(const body_framing& framing, body_sink& sink, std::uint64_t limit,
                        std::uint64_t& bytes);

  bool send_all(std::string_view data);
  /// The descriptor's close will send a RST instead of a FIN.
  void arm_reset();
  /// Half-closes, then discards what the peer still sends until it closes or
  /// `max_wait` passes, so our answer is not destroyed by a RST.
  void linger_close(std::chrono::milliseconds max_wait);

 private:
  bool fill();
  /// One recv (or SSL_read): > 0 bytes, 0 at the end, < 0 on an error.
  long read_some(char* to, std::size_t n);

  int fd_;
  ssl_st* tls_;
  std::size_t cap_;
  std::unique_ptr<char[]> buf_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

/// A listening socket on 127.0.0.1:`port` (0: any free port); throws on failure.
int listen_loopback(std::uint16_t port, std::uint16_t& actual_port);

}  // namespace uringmig::test::http
