#pragma once

// The Snowflake SQL API double: one loopback port, one blocking thread per connection, the
// shared HTTP pieces of tests/support. See README.md beside this file.

#include "tests/snowflake_double/sql.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace uringmig::test::snowflake_double {

struct options {
  std::string account = "TESTACCT";  // as the JWT names it (upper case, no region)
  std::string user = "LOADER";
  /// The user's registered RSA public key (PEM SubjectPublicKeyInfo): JWTs must verify with it
  /// and name its fingerprint. Empty: key-pair auth refused.
  std::string public_key_pem;
  /// An accepted OAuth token; empty: OAuth refused.
  std::string oauth_token;
  std::uint16_t port = 0;  // 0: a free port
  /// Rows per result partition (Snowflake chooses sizes; here a fixed count).
  std::size_t partition_rows = 1000;
  /// Status requests answered 202 before a statement is done.
  int running_polls = 1;
};

enum class fault {
  too_many_requests,  // 429 {"code":"000429", ...}
  unavailable,        // 503
  cut_partition,      // a GET of partition >= 1: half its body, then the connection closes
  expired_token,      // 401 {"code":"390318","message":"JWT token has expired..."}
  late_partition,     // partition 1 is answered only after every later partition was
};

/// A request as received, for tests to look at.
struct request_record {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;  // as sent
  int status = 0;                                            // what the double answered
  std::string header(std::string_view name) const;           // "" when absent (any case)
};

class server {
 public:
  explicit server(options o);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  std::uint16_t port() const;
  /// "http://127.0.0.1:<port>": what `[snowflake] endpoint` names.
  std::string url() const;

  /// Adds or replaces a table (name as Snowflake resolves it: upper case unless quoted).
  void set_table(const std::string& name, table t);
  /// The next `count` requests (of any kind; for cut_partition: partition GETs) meet `f`.
  void arm(fault f, int count = 1);
  std::vector<request_record> requests() const;
  /// Statements executed (distinct requestIds): a resubmission must not run one again.
  int executions() const;
  /// Armed faults that no request met yet.
  int unfired_faults() const;
  void stop();

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace uringmig::test::snowflake_double
