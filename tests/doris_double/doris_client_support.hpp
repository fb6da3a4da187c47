#pragma once

// Helpers shared by the Stream Load client's tests (doris_client_*test.cpp).

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <exception>
#include <fstream>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/doris/http_client.hpp"
#include "connectors/doris/stream_load.hpp"
#include "io/waiters.hpp"
#include "tests/doris_double/server.hpp"

namespace uringmig::test::doris_client {

namespace asio = boost::asio;
namespace io = uringmig::io;
namespace dd = uringmig::test::doris_double;
using namespace uringmig::connectors::doris;

inline dd::options double_opts() {
  dd::options o;
  o.password = "s3cret";
  return o;
}

inline load_endpoint endpoint(const std::string& base) {
  load_endpoint e;
  e.base_url = base;
  e.password = "s3cret";
  return e;
}

/// The double's FE, with its BE trusted for the 307 (as the FE's backend list would).
inline load_endpoint fe_endpoint(const dd::server& srv) {
  load_endpoint e = endpoint(srv.fe_url());
  e.trusted.push_back(srv.be_url());
  return e;
}

inline std::span<const std::byte> bytes_of(std::string_view s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

inline stream_load_request load(load_endpoint ep, std::string label, std::string_view body) {
  stream_load_request rq;
  rq.endpoint = std::move(ep);
  rq.db = "db1";
  rq.table = "t1";
  rq.label = std::move(label);
  rq.body = bytes_of(body);
  return rq;
}

inline http_request raw_put(const std::string& base, const std::string& label,
                            std::string_view body) {
  http_request rq;
  rq.method = http_method::put;
  rq.url = base + "/api/db1/t1/_stream_load";
  rq.user = "root";
  rq.password = "s3cret";
  rq.headers.emplace_back("label", label);
  rq.body = bytes_of(body);
  return rq;
}

inline std::string header_of(const dd::request_record& r, const std::string& name) {
  for (const dd::header& h : r.headers) {
    if (dd::iequals(h.name, name)) return h.value;
  }
  return {};
}

inline std::uint64_t peak_rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6));
  }
  return 0;
}

/// A loopback port nothing listens on.
inline int closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

/// Runs `tasks` concurrently on this executor; returns once all finished.
template <class T>
asio::awaitable<std::vector<T>> all_of(std::vector<asio::awaitable<T>> tasks) {
  auto ex = co_await asio::this_coro::executor;
  std::vector<T> out(tasks.size());
  std::size_t left = tasks.size();
  std::optional<io::wake_handler> waiter;
  std::exception_ptr error;
  for (std::size_t k = 0; k < tasks.size(); ++k) {
    asio::co_spawn(ex, std::move(tasks[k]), [&, k](std::exception_ptr e, T v) {
      if (e && !error) error = e;
      out[k] = std::move(v);
      if (--left == 0 && waiter) {
        io::wake_handler h = std::move(*waiter);
        waiter.reset();
        io::wake(std::move(h));
      }
    });
  }
  co_await io::park([&](io::wake_handler& h) {
    if (left == 0) return false;
    waiter = std::move(h);
    return true;
  });
  if (error) std::rethrow_exception(error);
  co_return out;
}

}  // namespace uringmig::test::doris_client
