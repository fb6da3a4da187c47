#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

namespace uringmig::io {

/// Awaits readiness of a descriptor that belongs to someone else (libpq's or
/// libcurl's socket). The descriptor is never closed here; it is released
/// only once no wait on it is pending (Asio must not see a descriptor number
/// reused under a pending io_uring poll). Use from the executor's thread only.
class foreign_socket {
 public:
  enum class wait_type { read, write };

  explicit foreign_socket(boost::asio::any_io_executor ex);
  foreign_socket(const foreign_socket&) = delete;
  foreign_socket& operator=(const foreign_socket&) = delete;
  /// Precondition: no wait pending (call release() first). Aborts otherwise.
  ~foreign_socket();

  /// Watches `fd` (the owner's current socket, e.g. a fresh PQsocket() after a
  /// reconnect). A different fd replaces the old one, which is released, not
  /// closed. Precondition: no wait pending.
  void assign(int fd);
  int fd() const { return fd_; }
  bool waiting() const { return pending_ > 0; }

  /// Completes when the descriptor is ready, or with operation_aborted after cancel().
  boost::asio::awaitable<boost::system::error_code> wait(wait_type w);

  /// Aborts pending waits; they complete with operation_aborted.
  void cancel();

  /// Cancels pending waits, awaits their completion, then forgets the fd.
  boost::asio::awaitable<void> release();

 private:
  void drop();

  boost::asio::posix::stream_descriptor sd_;
  boost::asio::steady_timer drained_;
  int fd_ = -1;
  int pending_ = 0;
  bool releasing_ = false;
};

}  // namespace uringmig::io
