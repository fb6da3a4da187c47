#pragma once

// The Apache Doris Stream Load double: an FE and a BE on two loopback ports,
// one blocking thread per connection. See README.md beside this file.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "tests/doris_double/store.hpp"

namespace uringmig::test::doris_double {

struct options {
  std::string user = "root";
  std::string password;
  std::uint16_t fe_port = 0;  // 0: a free port
  std::uint16_t be_port = 0;
  /// Count bytes and lines only: no parsing, no rows kept, big receive buffers.
  bool discard = false;
  /// Keep committed rows in memory for rows() (ignored in discard mode).
  bool keep_rows = true;
  /// When set, committed rows are also appended to `<db>.<table>.tsv` here.
  std::filesystem::path record_dir;
  /// The FE answers loads itself, as a BE would, instead of redirecting.
  bool fe_direct = false;
  /// Bad credentials on the FE get a bare HTTP 401 instead of Doris's
  /// HTTP 200 + {"msg":"Unauthorized","code":401,...}.
  bool fe_http_401 = false;
  /// The FE's 307 names this host:port instead of its BE (a rogue FE, for tests); 0: the BE.
  std::string redirect_host = "127.0.0.1";
  std::uint16_t redirect_port = 0;
  /// TLS on both ports (https): the server's certificate chain and key, PEM files.
  std::filesystem::path tls_cert_file;
  std::filesystem::path tls_key_file;
  bool tls() const { return !tls_cert_file.empty(); }
  /// "http" or "https".
  std::string scheme() const { return tls() ? "https" : "http"; }
};

class server {
 public:
  /// Binds both ports and starts serving; throws when a port cannot be bound.
  explicit server(options opts = {});
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  std::uint16_t fe_port() const;
  std::uint16_t be_port() const;
  /// "http://127.0.0.1:<fe port>" (https in TLS mode)
  std::string fe_url() const;
  std::string be_url() const;

  /// Closes the listeners and every connection, then joins all threads.
  void stop();

  void arm(fault_spec spec);
  void clear_faults();
  void set_table(const std::string& db, const std::string& table, table_schema schema);
  /// Committed (visible) rows of a table, in commit order.
  std::vector<row> rows(const std::string& db, const std::string& table) const;
  std::optional<label_info> label(const std::string& db, const std::string& label) const;
  std::vector<request_record> requests() const;
  /// The stream-load requests (not 2PC) on `where` that carried `label`.
  std::vector<request_record> requests_for_label(const std::string& label,
                                                 node where = node::be) const;
  bool wait_for_requests(std::size_t n,
                         std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;

  /// Everything the double remembers.
  doris_double::store& data();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace uringmig::test::doris_double
