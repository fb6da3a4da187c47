#include "connectors/postgres/result.hpp"

#include <charconv>
#include <cstring>

namespace uringmig::connectors::postgres {

namespace {

std::string field(const PGresult* r, int code) {
  const char* v = PQresultErrorField(r, code);
  return v ? std::string(v) : std::string();
}

}  // namespace

result::result(PGresult* r) : res_(r) {
  switch (PQresultStatus(r)) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
    case PGRES_EMPTY_QUERY:
    case PGRES_COPY_OUT:
    case PGRES_COPY_IN:
    case PGRES_COPY_BOTH:
    case PGRES_SINGLE_TUPLE:
    case PGRES_PIPELINE_SYNC:
      return;
    case PGRES_PIPELINE_ABORTED: {
      diagnostics d;
      d.sqlstate = "25P02";  // in_failed_sql_transaction: an earlier statement failed
      d.message = "not executed: an earlier statement in the same pipeline batch failed";
      diag_ = std::move(d);
      return;
    }
    default: {
      diagnostics d;
      d.sqlstate = field(r, PG_DIAG_SQLSTATE);
      d.message = field(r, PG_DIAG_MESSAGE_PRIMARY);
      if (d.message.empty()) {
        d.message = PQresultErrorMessage(r);
        while (!d.message.empty() && d.message.back() == '\n')
          d.message.pop_back();
      }
      d.detail = field(r, PG_DIAG_MESSAGE_DETAIL);
      d.hint = field(r, PG_DIAG_MESSAGE_HINT);
      if (d.sqlstate.empty()) {
        // libpq-made error (lost connection while reading this result).
        d.sqlstate = "08006";
        d.connection_lost = true;
      }
      diag_ = std::move(d);
    }
  }
}

ExecStatusType result::status() const {
  return res_ ? PQresultStatus(res_) : PGRES_FATAL_ERROR;
}

std::int64_t result::affected_rows() const {
  if (!res_) return 0;
  const char* s = PQcmdTuples(res_);
  std::int64_t n = 0;
  std::from_chars(s, s + std::strlen(s), n);
  return n;
}

result&& result::check(std::string_view what) && {
  static_cast<const result&>(*this).check(what);
  return std::move(*this);
}

const result& result::check(std::string_view what) const& {
  if (ok()) return *this;
  diagnostics d = *diag_;
  if (!what.empty()) d.message = std::string(what) + ": " + d.message;
  throw postgres::error(std::move(d));
}

}  // namespace uringmig::connectors::postgres
