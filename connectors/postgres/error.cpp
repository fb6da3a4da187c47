#include "connectors/postgres/error.hpp"

#include "codecs/url.hpp"

#include <algorithm>

namespace uringmig::connectors::postgres {

namespace {

// libpq messages end with a newline and sometimes span lines; keep one line.
std::string one_line(std::string_view s) {
  std::string out(s);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' '))
    out.pop_back();
  std::replace(out.begin(), out.end(), '\n', ' ');
  std::replace(out.begin(), out.end(), '\t', ' ');
  return out;
}

bool contains(std::string_view hay, std::string_view needle) {
  return hay.find(needle) != std::string_view::npos;
}

}  // namespace

std::string diagnostics::to_string() const {
  std::string s = sqlstate.empty() ? message : "SQLSTATE " + sqlstate + ": " + message;
  if (!detail.empty()) s += " (" + detail + ")";
  return s;
}

bool is_retryable(const diagnostics& d) {
  const std::string& s = d.sqlstate;
  if (s.size() != 5) return d.connection_lost;
  if (s.compare(0, 2, "08") == 0) return true;
  return s == "40001" || s == "40P01" || s == "57P01" || s == "57P02" || s == "57P03" ||
         s == "53300";
}

error::error(diagnostics d) : std::runtime_error(d.to_string()), diag_(std::move(d)) {}

diagnostics connection_failure(std::string_view libpq_message, std::string_view sqlstate) {
  diagnostics d;
  d.message = codecs::redact(one_line(libpq_message));
  d.connection_lost = true;
  // libpq reports connection-time failures as text only; recognise the ones
  // that retrying cannot fix so that callers fail fast on them.
  if (contains(d.message, "password authentication failed") ||
      contains(d.message, "no password supplied") || contains(d.message, "SCRAM authentication")) {
    d.sqlstate = "28P01";
  } else if (contains(d.message, "no pg_hba.conf entry")) {
    d.sqlstate = "28000";
  } else if (contains(d.message, "database \"") && contains(d.message, "does not exist")) {
    d.sqlstate = "3D000";
  } else if (contains(d.message, "role \"") && contains(d.message, "does not exist")) {
    d.sqlstate = "28000";
  } else if (contains(d.message, "invalid connection option") ||
             contains(d.message, "invalid URI") || contains(d.message, "invalid sslmode") ||
             contains(d.message, "missing \"=\"") || contains(d.message, "invalid integer value")) {
    d.sqlstate = "22023";  // invalid parameter value: a bad conninfo is not transient
  } else {
    d.sqlstate = std::string(sqlstate);
  }
  return d;
}

}  // namespace uringmig::connectors::postgres
