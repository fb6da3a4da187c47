#include "tests/doris_double/server.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <atomic>
#include <cerrno>
#include <list>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "tests/doris_double/handlers.hpp"
#include "tests/doris_double/routes.hpp"

namespace uringmig::test::doris_double {

request_record make_record(node where, const request_head& req) {
  request_record rec;
  rec.where = where;
  rec.method = req.method;
  rec.target = req.target;
  rec.headers = req.headers;
  rec.expect_continue = iequals(req.get("Expect"), "100-continue");
  std::string te = req.get("Transfer-Encoding");
  rec.chunked = to_lower(te).find("chunked") != std::string::npos;
  return rec;
}

body_framing framing_of(const request_head& req) {
  body_framing f;
  f.chunked = to_lower(req.get("Transfer-Encoding")).find("chunked") != std::string::npos;
  if (!f.chunked) {
    std::string cl = req.get("Content-Length");
    if (!cl.empty()) f.length = std::strtoull(cl.c_str(), nullptr, 10);
  }
  return f;
}

bool has_body(const request_head& req) {
  body_framing f = framing_of(req);
  return f.chunked || f.length > 0;
}

after answer(connection_io& io, handler_env& env, request_record& rec, const request_head& req,
             int status, const std::vector<header>& headers, const std::string& body,
             bool body_pending) {
  bool close = body_pending || req.version == "HTTP/1.0" || iequals(req.get("Connection"), "close");
  rec.http_status = status;
  rec.response_body = body;
  // Logged first: a client that has the answer finds its request in the log.
  env.st.log(rec);
  if (!io.send_all(make_response(status, headers, body, close))) return after::close;
  if (body_pending) return after::linger;
  return close ? after::close : after::keep_alive;
}

struct server::impl {
  struct conn {
    int fd = -1;
    std::thread thread;
    std::atomic<bool> done{false};
  };

  options opts;
  doris_double::store st;
  stopper stop_signal;
  int fe_listen = -1;
  int be_listen = -1;
  std::uint16_t fe_port = 0;
  std::uint16_t be_port = 0;
  std::thread fe_accept;
  std::thread be_accept;
  std::mutex conns_m;
  std::list<conn> conns;
  std::once_flag stopped;
  SSL_CTX* tls = nullptr;  // TLS mode

  explicit impl(options o)
      : opts(std::move(o)), st(opts.keep_rows && !opts.discard, opts.record_dir) {
    if (opts.tls()) start_tls();
    fe_listen = listen_loopback(opts.fe_port, fe_port);
    try {
      be_listen = listen_loopback(opts.be_port, be_port);
    } catch (...) {
      ::close(fe_listen);
      throw;
    }
    fe_accept = std::thread([this] { accept_loop(fe_listen, node::fe); });
    be_accept = std::thread([this] { accept_loop(be_listen, node::be); });
  }

  void start_tls() {
    // SSL_write on a connection the peer closed would raise SIGPIPE.
    ::signal(SIGPIPE, SIG_IGN);
    tls = SSL_CTX_new(TLS_server_method());
    if (tls == nullptr ||
        SSL_CTX_use_certificate_chain_file(tls, opts.tls_cert_file.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(tls, opts.tls_key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(tls) != 1) {
      char why[256] = "no OpenSSL error";
      ERR_error_string_n(ERR_get_error(), why, sizeof why);
      SSL_CTX_free(tls);
      tls = nullptr;
      throw std::runtime_error("TLS certificate or key: " + std::string(why));
    }
  }

  ~impl() { SSL_CTX_free(tls); }

  void accept_loop(int listen_fd, node where) {
    while (true) {
      int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (stop_signal.stopped()) return;
        if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) {
          if (errno == EMFILE || errno == ENFILE)
            stop_signal.wait_for(std::chrono::milliseconds(10));
          continue;
        }
        return;
      }
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      std::lock_guard lock(conns_m);
      if (stop_signal.stopped()) {
        ::close(fd);
        return;
      }
      for (auto it = conns.begin(); it != conns.end();) {
        if (it->done.load()) {
          it->thread.join();
          it = conns.erase(it);
        } else {
          ++it;
        }
      }
      conn& c = conns.emplace_back();
      c.fd = fd;
      c.thread = std::thread([this, &c, where] { serve_connection(c, where); });
    }
  }

  void serve_connection(conn& c, node where) {
    // 512 KiB stays in cache between the kernel's copy and the byte count;
    // 4 MiB measured ~40% more system time.
    std::size_t buffer = opts.discard ? 512 * 1024 : 256 * 1024;
    SSL* session = nullptr;
    if (tls != nullptr) {
      session = SSL_new(tls);
      // A failed handshake (a plain http client, a client that refuses our certificate) ends
      // the connection.
      if (session == nullptr || SSL_set_fd(session, c.fd) != 1 || SSL_accept(session) != 1) {
        SSL_free(session);
        std::lock_guard lock(conns_m);
        ::close(c.fd);
        c.fd = -1;
        c.done = true;
        return;
      }
    }
    connection_io io(c.fd, buffer, session);
    handler_env env{st, opts, stop_signal, fe_port, be_port};
    after next = after::close;
    while (true) {
      std::string head;
      connection_io::head_result hr = io.read_head(head);
      if (hr == connection_io::head_result::eof) break;
      if (hr == connection_io::head_result::not_http) {
        io.send_all(make_response(400, {}, "", true));
        next = after::linger;
        break;
      }
      if (hr == connection_io::head_result::too_large) {
        io.send_all(make_response(431, {}, "", true));
        next = after::linger;
        break;
      }
      std::optional<request_head> req = parse_request_head(head);
      if (!req) {
        io.send_all(make_response(400, {}, "", true));
        next = after::linger;
        break;
      }
      next = route(io, *req, env, where);
      if (next != after::keep_alive) break;
    }
    if (next == after::linger) io.linger_close(std::chrono::seconds(2));
    SSL_free(session);
    std::lock_guard lock(conns_m);
    ::close(c.fd);
    c.fd = -1;
    c.done = true;
  }

  void stop() {
    std::call_once(stopped, [this] {
      stop_signal.request_stop();
      st.release_holds();
      ::shutdown(fe_listen, SHUT_RDWR);
      ::shutdown(be_listen, SHUT_RDWR);
      fe_accept.join();
      be_accept.join();
      ::close(fe_listen);
      ::close(be_listen);
      std::list<conn> all;
      {
        std::lock_guard lock(conns_m);
        for (conn& c : conns) {
          if (c.fd >= 0) ::shutdown(c.fd, SHUT_RDWR);
        }
        all.splice(all.end(), conns);
      }
      for (conn& c : all)
        c.thread.join();
    });
  }
};

server::server(options opts) : impl_(std::make_unique<impl>(std::move(opts))) {}
server::~server() {
  stop();
}

std::uint16_t server::fe_port() const {
  return impl_->fe_port;
}
std::uint16_t server::be_port() const {
  return impl_->be_port;
}
std::string server::fe_url() const {
  return impl_->opts.scheme() + "://127.0.0.1:" + std::to_string(fe_port());
}
std::string server::be_url() const {
  return impl_->opts.scheme() + "://127.0.0.1:" + std::to_string(be_port());
}
void server::stop() {
  impl_->stop();
}
void server::arm(fault_spec spec) {
  impl_->st.arm(std::move(spec));
}
void server::clear_faults() {
  impl_->st.clear_faults();
}
void server::set_table(const std::string& db, const std::string& table, table_schema schema) {
  impl_->st.set_table(db, table, std::move(schema));
}
std::vector<row> server::rows(const std::string& db, const std::string& table) const {
  return impl_->st.rows(db, table);
}
std::optional<label_info> server::label(const std::string& db, const std::string& label) const {
  return impl_->st.label(db, label);
}
std::vector<request_record> server::requests() const {
  return impl_->st.requests();
}
std::vector<request_record> server::requests_for_label(const std::string& label, node where) const {
  std::vector<request_record> out;
  for (request_record& r : impl_->st.requests()) {
    bool load = r.target.find("/_stream_load") != std::string::npos &&
                r.target.find("_stream_load_2pc") == std::string::npos;
    if (r.where == where && load && r.label == label) out.push_back(std::move(r));
  }
  return out;
}
bool server::wait_for_requests(std::size_t n, std::chrono::milliseconds timeout) const {
  return impl_->st.wait_for_requests(n, timeout);
}
doris_double::store& server::data() {
  return impl_->st;
}

}  // namespace uringmig::test::doris_double
