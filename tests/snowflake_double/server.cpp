#include "tests/snowflake_double/server.hpp"

#include "codecs/compress_stream.hpp"
#include "codecs/json_reader.hpp"
#include "codecs/json_text.hpp"
#include "tests/snowflake_double/jwt_check.hpp"
#include "tests/support/http_text.hpp"
#include "tests/support/http_wire.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <list>
#include <mutex>
#include <thread>

namespace uringmig::test::snowflake_double {

namespace h = uringmig::test::http;

namespace {

struct statement {
  std::string handle;
  std::string request_id;
  std::string table;
  select_result result;
  std::vector<std::string> partitions;  // each partition's `data` JSON, rendered once
  int polls_left = 0;
};

struct answer {
  int status = 200;
  std::vector<h::header> headers;
  std::string body;
  bool cut = false;          // send half the body, then close
  std::string handle;        // a partition >= 1 of this statement
  std::size_t wait_for = 0;  // hold the answer until this many of its partitions were sent
};

answer json_answer(int status, std::string body) {
  answer a;
  a.status = status;
  a.headers.push_back({"Content-Type", "application/json"});
  a.body = std::move(body);
  return a;
}

answer error_answer(int status, std::string_view code, std::string_view message) {
  return json_answer(status, "{\"code\":" + codecs::json_string(code) +
                                 ",\"message\":" + codecs::json_string(message) + "}");
}

class body_collector : public h::body_sink {
 public:
  void write(std::string_view data) override { text.append(data); }
  std::string text;
};

}  // namespace

std::string request_record::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (h::iequals(n, name)) return v;
  return {};
}

struct server::impl {
  options opts;
  std::string fingerprint;
  mutable std::mutex m;
  catalog tables;
  std::map<std::string, statement> statements;    // by handle
  std::map<std::string, std::string> by_request;  // requestId -> handle
  std::map<fault, int> armed;
  std::vector<request_record> log;
  int executions = 0;
  int next_handle = 1;
  std::condition_variable sent_cv;
  std::map<std::string, std::size_t> partitions_sent;  // by handle

  h::stopper stop_signal;
  int listen_fd = -1;
  std::uint16_t port = 0;
  std::thread acceptor;
  std::list<std::thread> threads;
  std::list<int> fds;
  std::once_flag stopped;

  explicit impl(options o) : opts(std::move(o)) {
    if (!opts.public_key_pem.empty()) fingerprint = public_key_fingerprint(opts.public_key_pem);
    listen_fd = h::listen_loopback(opts.port, port);
    acceptor = std::thread([this] { accept_loop(); });
  }

  bool take(fault f) {
    auto it = armed.find(f);
    if (it == armed.end() || it->second <= 0) return false;
    --it->second;
    return true;
  }

  /// 401 unless the request carries a valid KEYPAIR_JWT or the OAuth token.
  std::optional<answer> check_auth(const h::request_head& req) {
    const std::string auth = req.get("Authorization");
    const std::string type = req.get("X-Snowflake-Authorization-Token-Type");
    if (auth.rfind("Bearer ", 0) != 0)
      return error_answer(401, "390101", "Authorization header missing or not Bearer.");
    const std::string token = auth.substr(7);
    if (type.empty() || h::iequals(type, "OAUTH")) {
      if (!opts.oauth_token.empty() && token == opts.oauth_token) return std::nullopt;
      return error_answer(401, "390303", "Invalid OAuth access token.");
    }
    if (!h::iequals(type, "KEYPAIR_JWT"))
      return error_answer(401, "390101", "Unknown X-Snowflake-Authorization-Token-Type.");
    const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
    const jwt_verdict v =
        check_jwt(token, opts.public_key_pem, fingerprint, opts.account, opts.user, now);
    if (v == jwt_verdict::expired)
      return error_answer(401, "390318", "JWT token has expired. Please generate a new token.");
    if (v != jwt_verdict::ok) return error_answer(401, "390144", "JWT token is invalid.");
    return std::nullopt;
  }

  std::string query_status(const statement& st) const {
    return "{\"code\":\"333334\",\"message\":\"Asynchronous execution in progress. Use provided "
           "query id to perform query monitoring and management.\",\"statementHandle\":\"" +
           st.handle + "\",\"statementStatusUrl\":\"/api/v2/statements/" + st.handle + "\"}";
  }

  std::string result_set(const statement& st) const {
    std::string b = "{\"resultSetMetaData\":{\"numRows\":" + std::to_string(st.result.rows.size()) +
                    ",\"format\":\"jsonv2\",\"partitionInfo\":[";
    for (std::size_t i = 0; i < st.partitions.size(); ++i) {
      const std::size_t from = i * opts.partition_rows;
      const std::size_t rows = std::min(opts.partition_rows, st.result.rows.size() - from);
      b += (i > 0 ? ",{\"rowCount\":" : "{\"rowCount\":") + std::to_string(rows) +
           ",\"uncompressedSize\":" + std::to_string(st.partitions[i].size()) + "}";
    }
    b += "],\"rowType\":[";
    for (std::size_t i = 0; i < st.result.columns.size(); ++i)
      b += (i > 0 ? "," : "") + row_type_json(st.result.columns[i], st.table);
    b += "]},\"data\":" + st.partitions[0] +
         ",\"code\":\"090001\",\"statementStatusUrl\":\"/api/v2/statements/" + st.handle +
         "?requestId=" + st.request_id + "\",\"requestId\":\"" + st.request_id +
         "\",\"sqlState\":\"00000\",\"statementHandle\":\"" + st.handle +
         "\",\"message\":\"Statement executed successfully.\",\"createdOn\":1700000000000}";
    return b;
  }

  answer outcome(statement& st) {
    if (st.polls_left > 0) {
      --st.polls_left;
      return json_answer(202, query_status(st));
    }
    if (st.result.failed()) {
      return json_answer(422, "{\"code\":" + codecs::json_string(st.result.code) +
                                  ",\"message\":" + codecs::json_string(st.result.message) +
                                  ",\"sqlState\":\"" + st.result.sql_state +
                                  "\",\"statementHandle\":\"" + st.handle + "\"}");
    }
    return json_answer(200, result_set(st));
  }

  answer submit(const h::request_head& req, const std::string& body) {
    const auto q = h::parse_query(req.query);
    const auto rid = q.find("requestId");
    const std::string request_id = rid != q.end() ? rid->second : "";
    const bool async = q.count("async") > 0 && q.at("async") == "true";
    if (auto seen = by_request.find(request_id); !request_id.empty() && seen != by_request.end()) {
      statement& st = statements.at(seen->second);  // the same statement: not run again
      return async ? json_answer(202, query_status(st)) : outcome(st);
    }
    const auto o = codecs::json::read_object(body);
    const codecs::json::value* sql = o ? o.value->find("statement") : nullptr;
    if (sql == nullptr || sql->kind != codecs::json::kind::string)
      return error_answer(400, "390142", "Incoming request does not contain a valid payload.");
    statement st;
    char handle[64];
    std::snprintf(handle, sizeof handle, "01b2c3d4-0000-4000-8000-%012d", next_handle++);
    st.handle = handle;
    st.request_id = request_id;
    st.result = run_select(sql->text, tables);
    st.table = st.result.table;
    ++executions;
    const std::size_t n = st.result.rows.size();
    for (std::size_t from = 0; from == 0 || from < n; from += opts.partition_rows)
      st.partitions.push_back(
          data_json(st.result.rows, from, std::min(n, from + opts.partition_rows)));
    st.polls_left = opts.running_polls;
    if (!request_id.empty()) by_request[request_id] = st.handle;
    statement& stored = statements[st.handle] = std::move(st);
    return async ? json_answer(202, query_status(stored)) : outcome(stored);
  }

  answer partition(statement& st, std::size_t i) {
    if (st.polls_left > 0 || st.result.failed()) return outcome(st);
    if (i >= st.partitions.size())
      return error_answer(400, "391920", "Partition number out of range.");
    if (i == 0) return json_answer(200, result_set(st));
    // Later partitions: only `data`, gzip-encoded (shared/reference: "Partitions").
    codecs::compress_stream gz(codecs::compression::gzip);
    std::string zipped;
    gz.write("{\"data\":" + st.partitions[i] + "}", zipped);
    gz.finish(zipped);
    answer a = json_answer(200, std::move(zipped));
    a.headers.push_back({"Content-Encoding", "gzip"});
    a.cut = take(fault::cut_partition);
    a.handle = st.handle;
    if (i == 1 && st.partitions.size() > 2 && take(fault::late_partition))
      a.wait_for = st.partitions.size() - 2;
    return a;
  }

  answer route(const h::request_head& req, const std::string& body) {
    std::lock_guard lock(m);
    if (take(fault::too_many_requests))
      return error_answer(429, "000429", "Too many requests. Please retry later.");
    if (take(fault::unavailable)) return error_answer(503, "000503", "Service unavailable.");
    if (take(fault::expired_token))
      return error_answer(401, "390318", "JWT token has expired. Please generate a new token.");
    if (req.get("User-Agent").empty())
      return error_answer(400, "390142", "The User-Agent header is required.");
    if (auto refused = check_auth(req)) return *refused;
    const auto parts = h::split_path(req.path);
    if (req.method == "POST" && req.path == "/api/v2/statements") return submit(req, body);
    if (req.method == "GET" && parts.size() == 4 && parts[0] == "api" && parts[2] == "statements") {
      auto st = statements.find(parts[3]);
      if (st == statements.end()) return error_answer(404, "333333", "Statement not found.");
      const auto q = h::parse_query(req.query);
      if (auto p = q.find("partition"); p != q.end())
        return partition(st->second, std::strtoull(p->second.c_str(), nullptr, 10));
      return outcome(st->second);
    }
    return error_answer(404, "390400", "Unknown endpoint.");
  }

  void serve(int fd) {
    h::connection_io io(fd, 64 * 1024);
    for (;;) {
      std::string head;
      if (io.read_head(head) != h::connection_io::head_result::ok) break;
      const auto req = h::parse_request_head(head);
      if (!req) break;
      body_collector body;
      std::uint64_t got = 0;
      if (io.read_body(h::body_framing{false, std::strtoull(req->get("Content-Length").c_str(),
                                                            nullptr, 10)},
                       body, 64 << 20, got) != h::connection_io::body_result::ok)
        break;
      const answer a = route(*req, body.text);
      if (a.wait_for > 0) {
        std::unique_lock lock(m);
        sent_cv.wait_for(lock, std::chrono::seconds(10), [&] {
          return stop_signal.stopped() || partitions_sent[a.handle] >= a.wait_for;
        });
      }
      {
        // Logged in the order of the answers, just before one is sent.
        std::lock_guard lock(m);
        request_record rec{req->method, req->target, {}, a.status};
        for (const auto& hd : req->headers)
          rec.headers.emplace_back(hd.name, hd.value);
        log.push_back(std::move(rec));
      }
      std::string wire = h::make_response(a.status, a.headers, a.body, false);
      if (a.cut) {
        io.send_all(std::string_view(wire).substr(0, wire.size() - a.body.size() / 2));
        break;  // the connection drops mid-body
      }
      if (!io.send_all(wire)) break;
      if (!a.handle.empty()) {
        std::lock_guard lock(m);
        ++partitions_sent[a.handle];
        sent_cv.notify_all();
      }
    }
    ::shutdown(fd, SHUT_RDWR);
  }

  void accept_loop() {
    for (;;) {
      const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (stop_signal.stopped()) return;
        if (errno == EINTR || errno == ECONNABORTED) continue;
        return;
      }
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      std::lock_guard lock(m);
      if (stop_signal.stopped()) {
        ::close(fd);
        return;
      }
      fds.push_back(fd);
      threads.emplace_back([this, fd] { serve(fd); });
    }
  }

  void stop() {
    std::call_once(stopped, [this] {
      stop_signal.request_stop();
      {
        std::lock_guard lock(m);
        sent_cv.notify_all();
      }
      ::shutdown(listen_fd, SHUT_RDWR);
      acceptor.join();
      ::close(listen_fd);
      std::list<std::thread> all;
      {
        std::lock_guard lock(m);
        for (int fd : fds)
          ::shutdown(fd, SHUT_RDWR);
        all.splice(all.end(), threads);
      }
      for (std::thread& t : all)
        t.join();
      for (int fd : fds)
        ::close(fd);
    });
  }
};

server::server(options o) : impl_(std::make_unique<impl>(std::move(o))) {}
server::~server() {
  stop();
}
std::uint16_t server::port() const {
  return impl_->port;
}
std::string server::url() const {
  return "http://127.0.0.1:" + std::to_string(impl_->port);
}
void server::set_table(const std::string& name, table t) {
  std::lock_guard lock(impl_->m);
  impl_->tables[name] = std::move(t);
}
void server::arm(fault f, int count) {
  std::lock_guard lock(impl_->m);
  impl_->armed[f] += count;
}
std::vector<request_record> server::requests() const {
  std::lock_guard lock(impl_->m);
  return impl_->log;
}
int server::executions() const {
  std::lock_guard lock(impl_->m);
  return impl_->executions;
}
int server::unfired_faults() const {
  std::lock_guard lock(impl_->m);
  int n = 0;
  for (const auto& [f, count] : impl_->armed)
    n += count;
  return n;
}
void server::stop() {
  impl_->stop();
}

}  // namespace uringmig::test::snowflake_double
