#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace uringmig::connectors::postgres {

/// What the server (or libpq, for client-side failures) said about an error.
struct diagnostics {
  std::string
      sqlstate;  // five characters; class 08 is synthesised for client-side connection failures
  std::string message;  // primary message, one line
  std::string detail;
  std::string hint;
  bool connection_lost = false;  // the connection is unusable after this error

  /// "SQLSTATE 23505: duplicate key value ... (detail)" — no secrets: server
  /// messages never carry the password, and libpq messages are redacted.
  std::string to_string() const;
};

/// One decision for the whole engine: may the same work succeed if retried
/// (on a new connection / transaction)? Class 08 (connection), 40001
/// (serialization), 40P01 (deadlock), 57P01-57P03 (admin/crash shutdown,
/// cannot connect now) and 53300 (too many connections) are; nothing else.
bool is_retryable(const diagnostics& d);

/// Thrown where a job aborts (connect failures, result::check()).
class error : public std::runtime_error {
 public:
  explicit error(diagnostics d);
  const diagnostics& diag() const { return diag_; }
  bool retryable() const { return is_retryable(diag_); }

 private:
  diagnostics diag_;
};

/// Diagnostics for a client-side connection failure with libpq's message.
diagnostics connection_failure(std::string_view libpq_message, std::string_view sqlstate = "08006");

}  // namespace uringmig::connectors::postgres
