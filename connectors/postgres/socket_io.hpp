// Internal to connectors/postgres: the libpq socket loops both connection kinds share.
#pragma once

#include "io/foreign_socket.hpp"

#include <libpq-fe.h>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>

#include <string_view>

namespace uringmig::connectors::postgres::detail {

/// PQflush until everything is sent, reading while the socket is not writable (a server
/// blocked on its own output never drains ours). False after `broken(what)` was called.
template <class Broken>
boost::asio::awaitable<bool> flush_all(PGconn* conn, io::foreign_socket& sock, Broken broken) {
  using namespace boost::asio::experimental::awaitable_operators;
  using wait_type = io::foreign_socket::wait_type;
  for (;;) {
    const int f = PQflush(conn);
    if (f == 0) co_return true;
    if (f < 0) {
      broken(std::string_view("sending to the server failed"));
      co_return false;
    }
    auto r = co_await (sock.wait(wait_type::read) || sock.wait(wait_type::write));
    if (r.index() == 0 && !PQconsumeInput(conn)) {
      broken(std::string_view("reading from the server failed"));
      co_return false;
    }
  }
}

/// Waits until the socket is readable and lets libpq read. False after `broken(what)`.
template <class Broken>
boost::asio::awaitable<bool> read_more(PGconn* conn, io::foreign_socket& sock, Broken broken) {
  const auto ec = co_await sock.wait(io::foreign_socket::wait_type::read);
  if (ec || !PQconsumeInput(conn)) {
    broken(std::string_view("reading from the server failed"));
    co_return false;
  }
  co_return true;
}

/// The next PGresult once libpq has all of it; nullptr at the end or after `broken(what)`.
template <class Broken>
boost::asio::awaitable<PGresult*> next_result(PGconn* conn, io::foreign_socket& sock,
                                              Broken broken) {
  while (PQisBusy(conn)) {
    const bool more = co_await read_more(conn, sock, broken);
    if (!more) co_return nullptr;
  }
  co_return PQgetResult(conn);
}

}  // namespace uringmig::connectors::postgres::detail
