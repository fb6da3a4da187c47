#include "io/foreign_socket.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstdio>
#include <cstdlib>

namespace uringmig::io {

namespace asio = boost::asio;

foreign_socket::foreign_socket(asio::any_io_executor ex)
    : sd_(ex), drained_(ex, asio::steady_timer::time_point::max()) {}

foreign_socket::~foreign_socket() {
  if (pending_ > 0) {
    std::fprintf(stderr,
                 "uringmig: internal error: socket wrapper destroyed with a wait pending\n");
    std::abort();
  }
  drop();
}

void foreign_socket::drop() {
  if (sd_.is_open()) (void)sd_.release();
  fd_ = -1;
}

void foreign_socket::assign(int fd) {
  if (fd == fd_ && sd_.is_open()) return;
  if (pending_ > 0) {
    std::fprintf(stderr, "uringmig: internal error: socket reassigned with a wait pending\n");
    std::abort();
  }
  drop();
  if (fd >= 0) {
    sd_.assign(fd);
    fd_ = fd;
  }
}

asio::awaitable<boost::system::error_code> foreign_socket::wait(wait_type w) {
  if (!sd_.is_open()) co_return asio::error::bad_descriptor;
  ++pending_;
  auto [ec] =
      co_await sd_.async_wait(w == wait_type::read ? asio::posix::stream_descriptor::wait_read
                                                   : asio::posix::stream_descriptor::wait_write,
                              asio::as_tuple(asio::use_awaitable));
  if (--pending_ == 0 && releasing_) drained_.cancel();
  co_return ec;
}

void foreign_socket::cancel() {
  if (sd_.is_open()) sd_.cancel();
}

asio::awaitable<void> foreign_socket::release() {
  releasing_ = true;
  cancel();
  while (pending_ > 0) {
    (void)co_await drained_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  drained_.expires_at(asio::steady_timer::time_point::max());
  releasing_ = false;
  drop();
}

}  // namespace uringmig::io
