#include "tests/support/http_wire.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "tests/support/http_text.hpp"

namespace uringmig::test::http {

namespace {
constexpr std::size_t max_head_bytes = 64 * 1024;
}

void stopper::request_stop() {
  {
    std::lock_guard lock(m_);
    stopped_ = true;
  }
  cv_.notify_all();
}

bool stopper::stopped() const {
  std::lock_guard lock(m_);
  return stopped_;
}

bool stopper::wait_for(std::chrono::milliseconds d) const {
  std::unique_lock lock(m_);
  return cv_.wait_for(lock, d, [&] { return stopped_; });
}

connection_io::connection_io(int fd, std::size_t buffer_size, ssl_st* tls)
    : fd_(fd), tls_(tls), cap_(buffer_size), buf_(new char[buffer_size]) {}

long connection_io::read_some(char* to, std::size_t n) {
  while (true) {
    if (tls_ != nullptr) {
      const int want = n > (1U << 30) ? (1 << 30) : static_cast<int>(n);
      const int got = SSL_read(tls_, to, want);
      if (got > 0) return got;
      return SSL_get_error(tls_, got) == SSL_ERROR_ZERO_RETURN ? 0 : -1;
    }
    const ssize_t got = ::recv(fd_, to, n, 0);
    if (got < 0 && errno == EINTR) continue;
    return got;
  }
}

bool connection_io::fill() {
  if (begin_ == end_) begin_ = end_ = 0;
  if (end_ == cap_) {
    std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  const long n = read_some(buf_.get() + end_, cap_ - end_);
  if (n <= 0) return false;
  end_ += static_cast<std::size_t>(n);
  return true;
}

connection_io::head_result connection_io::read_head(std::string& head) {
  std::size_t searched = 0;
  while (true) {
    // Blank lines between requests are allowed (RFC 9112 2.2).
    while (end_ - begin_ >= 2 && buf_[begin_] == '\r' && buf_[begin_ + 1] == '\n')
      begin_ += 2;
    std::string_view have(buf_.get() + begin_, end_ - begin_);
    if (!have.empty() && have[0] != '\r' && have[0] != '\n' && (have[0] < 'A' || have[0] > 'Z'))
      return head_result::not_http;
    std::size_t from = searched > 3 ? searched - 3 : 0;
    std::size_t pos = have.find("\r\n\r\n", from);
    if (pos != std::string_view::npos) {
      head.assign(have.substr(0, pos));
      begin_ += pos + 4;
      return head_result::ok;
    }
    searched = have.size();
    if (have.size() >= max_head_bytes) return head_result::too_large;
    if (begin_ > 0 && cap_ - end_ < max_head_bytes) {
      std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (!fill()) return head_result::eof;
  }
}

connection_io::body_result connection_io::read_body(const body_framing& framing, body_sink& sink,
                                                    std::uint64_t limit, std::uint64_t& bytes) {
  auto pass = [&](std::string_view data) -> bool {
    if (bytes + data.size() >= limit) {
      sink.write(data.substr(0, static_cast<std::size_t>(limit - bytes)));
      bytes = limit;
      return false;
    }
    bytes += data.size();
    if (!data.empty()) sink.write(data);
    return true;
  };
  if (!framing.chunked) {
    std::uint64_t remaining = framing.length;
    while (remaining > 0) {
      if (begin_ == end_) {
        // Straight into the whole buffer, never past the body's end.
        begin_ = end_ = 0;
        std::size_t want = remaining < cap_ ? static_cast<std::size_t>(remaining) : cap_;
        const long n = read_some(buf_.get(), want);
        if (n <= 0) return body_result::eof;
        end_ = static_cast<std::size_t>(n);
      }
      std::size_t take = end_ - begin_;
      if (take > remaining) take = static_cast<std::size_t>(remaining);
      std::string_view data(buf_.get() + begin_, take);
      begin_ += take;
      remaining -= take;
      if (!pass(data)) return body_result::limit;
    }
    return body_result::ok;
  }
  chunked_decoder dec;
  while (!dec.done()) {
    if (begin_ == end_ && !fill()) return body_result::eof;
    while (begin_ < end_ && !dec.done()) {
      chunked_decoder::step st = dec.next(std::string_view(buf_.get() + begin_, end_ - begin_));
      begin_ += st.consumed;
      if (dec.failed()) return body_result::bad_framing;
      if (!st.data.empty() && !pass(st.data)) return body_result::limit;
    }
  }
  return body_result::ok;
}

bool connection_io::send_all(std::string_view data) {
  while (!data.empty()) {
    if (tls_ != nullptr) {
      const int want = data.size() > (1U << 30) ? (1 << 30) : static_cast<int>(data.size());
      const int n = SSL_write(tls_, data.data(), want);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

void connection_io::arm_reset() {
  ::linger lg{};
  lg.l_onoff = 1;
  lg.l_linger = 0;
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

void connection_io::linger_close(std::chrono::milliseconds max_wait) {
  if (tls_ != nullptr) SSL_shutdown(tls_);  // close_notify; what follows is drained raw
  ::shutdown(fd_, SHUT_WR);
  auto deadline = std::chrono::steady_clock::now() + max_wait;
  char scratch[16384];
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return;
    ssize_t n = ::recv(fd_, scratch, sizeof scratch, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
  }
}

int listen_loopback(std::uint16_t port, std::uint16_t& actual_port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 128) != 0) {
    int err = errno;
    ::close(fd);
    throw std::runtime_error("listen on 127.0.0.1:" + std::to_string(port) + ": " +
                             std::strerror(err));
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  actual_port = ntohs(addr.sin_port);
  return fd;
}

}  // namespace uringmig::test::http
