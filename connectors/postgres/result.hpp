#pragma once

#include "connectors/postgres/error.hpp"

#include <libpq-fe.h>

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>

namespace uringmig::connectors::postgres {

/// One statement's outcome: a PGresult (owned) and/or an error's diagnostics.
/// Server errors are values, not exceptions; check() turns them into one.
class result {
 public:
  result() = default;
  explicit result(PGresult* r);
  explicit result(diagnostics d) : diag_(std::move(d)) {}
  result(result&& o) noexcept : res_(std::exchange(o.res_, nullptr)), diag_(std::move(o.diag_)) {}
  result& operator=(result&& o) noexcept {
    if (this != &o) {
      clear();
      res_ = std::exchange(o.res_, nullptr);
      diag_ = std::move(o.diag_);
    }
    return *this;
  }
  result(const result&) = delete;
  result& operator=(const result&) = delete;
  ~result() { clear(); }

  /// PGRES_FATAL_ERROR when there is no PGresult (client-side failure).
  ExecStatusType status() const;
  bool ok() const { return !diag_.has_value(); }
  /// PGRES_PIPELINE_ABORTED: skipped because an earlier statement of the batch failed.
  bool aborted() const { return status() == PGRES_PIPELINE_ABORTED; }
  /// Valid when !ok().
  const diagnostics& error() const { return *diag_; }

  int rows() const { return res_ ? PQntuples(res_) : 0; }
  int columns() const { return res_ ? PQnfields(res_) : 0; }
  bool is_null(int row, int col) const { return PQgetisnull(res_, row, col) != 0; }
  /// Valid as long as this result lives.
  std::string_view value(int row, int col) const {
    return {PQgetvalue(res_, row, col), static_cast<std::size_t>(PQgetlength(res_, row, col))};
  }
  std::optional<std::string_view> get(int row, int col) const {
    if (is_null(row, col)) return std::nullopt;
    return value(row, col);
  }
  std::string_view column_name(int col) const { return PQfname(res_, col); }
  /// Rows affected / copied (PQcmdTuples), 0 when the command reports none.
  std::int64_t affected_rows() const;
  PGresult* native() const { return res_; }

  /// Throws postgres::error when !ok(); `what` names the operation for the user.
  result&& check(std::string_view what = {}) &&;
  const result& check(std::string_view what = {}) const&;

 private:
  void clear() {
    if (res_) PQclear(res_);
    res_ = nullptr;
  }

  PGresult* res_ = nullptr;
  std::optional<diagnostics> diag_;
};

}  // namespace uringmig::connectors::postgres
