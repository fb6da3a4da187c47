// io/http_server: requests through a handler, its bounds (request size, connection cap), the
// WebSocket's pushes, a client that never reads (dropped, nobody else waits), a port in use,
// stop() with connections open. Loopback sockets only.
#include "io/http_server.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <string>
#include <system_error>
#include <thread>

namespace io = uringmig::io;

namespace {

/// A blocking loopback client socket; closed at scope end.
struct client {
  explicit client(std::uint16_t port, int rcvbuf = 0) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (rcvbuf > 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~client() { ::close(fd); }
  client(const client&) = delete;
  client& operator=(const client&) = delete;
  void send(const std::string& s) const {
    std::size_t off = 0;
    while (off < s.size()) {
      const auto n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<std::size_t>(n);
    }
  }
  /// Everything until the peer closes (or the timeout).
  std::string read_all() const {
    std::string out;
    char buf[4096];
    for (;;) {
      const auto n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }
  int fd = -1;
  bool connected = false;
};

std::string get(std::uint16_t port, const std::string& path) {
  client c(port);
  c.send("GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  return c.read_all();
}

io::http_response echo(const io::http_request& r) {
  if (r.target == "/hello") return {200, "text/plain", "hello " + r.method};
  return {404, "application/json", "{\"error\":\"no\"}"};
}

const std::string ws_upgrade =
    "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// Polls `f` until true, at most ~10 s.
template <class F>
bool eventually(F f) {
  for (int i = 0; i < 1000; ++i) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

}  // namespace

TEST(http_server, answers_through_the_handler_and_closes_when_asked) {
  io::http_server s({}, echo, {});
  s.start();
  const auto ok = get(s.port(), "/hello");
  EXPECT_NE(ok.find("HTTP/1.1 200 OK"), std::string::npos) << ok;
  EXPECT_NE(ok.find("hello GET"), std::string::npos) << ok;
  const auto missing = get(s.port(), "/nope");
  EXPECT_NE(missing.find("HTTP/1.1 404"), std::string::npos) << missing;
  EXPECT_TRUE(eventually([&] { return s.connections() == 0; }));
}

TEST(http_server, malformed_is_400_and_oversized_is_413) {
  io::http_server_options o;
  o.max_request_bytes = 1024;
  io::http_server s(o, echo, {});
  s.start();
  {
    client c(s.port());
    c.send("NOT HTTP AT ALL\r\n\r\n");
    EXPECT_EQ(c.read_all().substr(0, 12), "HTTP/1.1 400");
  }
  {
    client c(s.port());
    c.send("POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" +
           std::string(5000, 'x'));
    EXPECT_EQ(c.read_all().substr(0, 12), "HTTP/1.1 413");
  }
  EXPECT_NE(get(s.port(), "/hello").find("hello GET"), std::string::npos);
}

TEST(http_server, connections_over_the_cap_are_closed_at_once) {
  io::http_server_options o;
  o.max_connections = 2;
  io::http_server s(o, echo, {});
  s.start();
  client a(s.port());
  client b(s.port());
  ASSERT_TRUE(eventually([&] { return s.connections() == 2; }));
  client c(s.port());
  EXPECT_EQ(c.read_all(), "");  // closed without an answer
  a.send("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(a.read_all().find("hello"), std::string::npos);
}

TEST(http_server, idle_connections_time_out) {
  io::http_server_options o;
  o.idle_timeout = std::chrono::seconds(1);
  io::http_server s(o, echo, {});
  s.start();
  client a(s.port());
  ASSERT_TRUE(eventually([&] { return s.connections() == 1; }));
  EXPECT_EQ(a.read_all(), "");  // the server hung up
  EXPECT_TRUE(eventually([&] { return s.connections() == 0; }));
}

TEST(http_server, websocket_pushes_and_a_client_that_never_reads_is_dropped) {
  io::http_server_options o;
  o.ws_path = "/ws";
  o.push_interval = std::chrono::milliseconds(20);
  o.max_queued_messages = 4;
  std::atomic<int> built{0};
  const std::string big(256 * 1024, 'x');
  io::http_server s(o, echo, [&] {
    ++built;
    return big;
  });
  s.start();
  client stuck(s.port(), 4096);  // never reads past the handshake
  stuck.send(ws_upgrade);
  ASSERT_TRUE(eventually([&] { return built.load() >= 1; }));
  // Its queue fills within a few pushes of 256 kB; then it is dropped.
  EXPECT_TRUE(eventually([&] { return s.connections() == 0; })) << s.connections();
  // The server still answers, and a reading client gets its pushes.
  EXPECT_NE(get(s.port(), "/hello").find("hello GET"), std::string::npos);
  client reader(s.port());
  reader.send(ws_upgrade);
  std::string got;
  char buf[65536];
  while (got.size() < 3 * big.size()) {
    const auto n = ::recv(reader.fd, buf, sizeof buf, 0);
    ASSERT_GT(n, 0);
    got.append(buf, static_cast<std::size_t>(n));
  }
  EXPECT_NE(got.find("101 Switching Protocols"), std::string::npos);
}

TEST(http_server, notify_pushes_at_once) {
  io::http_server_options o;
  o.ws_path = "/ws";
  o.push_interval = std::chrono::hours(1);
  std::atomic<int> n{0};
  io::http_server s(o, echo, [&] { return "doc" + std::to_string(++n); });
  s.start();
  client c(s.port());
  c.send(ws_upgrade);
  ASSERT_TRUE(eventually([&] { return n.load() == 1; }));  // the first document on connect
  s.notify();
  ASSERT_TRUE(eventually([&] { return n.load() == 2; }));
  std::string got;
  char buf[4096];
  while (got.find("doc2") == std::string::npos) {
    const auto r = ::recv(c.fd, buf, sizeof buf, 0);
    ASSERT_GT(r, 0) << got;
    got.append(buf, static_cast<std::size_t>(r));
  }
}

TEST(http_server, a_port_in_use_throws_address_in_use) {
  io::http_server a({}, echo, {});
  io::http_server_options o;
  o.port = a.port();
  try {
    io::http_server b(o, echo, {});
    FAIL() << "bound a port in use";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::address_in_use);
  }
}

TEST(http_server, stop_ends_open_connections) {
  io::http_server_options o;
  o.ws_path = "/ws";
  io::http_server s(o, echo, [] { return std::string("{}"); });
  s.start();
  client idle(s.port());
  client ws(s.port());
  ws.send(ws_upgrade);
  ASSERT_TRUE(eventually([&] { return s.connections() == 2; }));
  s.stop();  // returns: nothing waits for the clients
  EXPECT_EQ(s.connections(), 0U);
}
