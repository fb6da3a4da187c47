// Every PostgreSQL session a job opens starts here: the connection (its errors name the role
// and the URL without secrets), how the session prints values, and the exported snapshot
// that makes many sessions read one consistent state of the source.
#pragma once

#include "codecs/url.hpp"
#include "connectors/postgres/connection.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <string>
#include <string_view>
#include <utility>

namespace uringmig::engine {

struct job_spec;

/// --source and --target of a PostgreSQL -> PostgreSQL command. Throws usage_error for a missing
/// URL, or `not_postgres` when either is not PostgreSQL.
std::pair<codecs::endpoint, codecs::endpoint> pg_endpoints(const job_spec& opts,
                                                           std::string_view not_postgres);

/// The libpq conninfo of a PostgreSQL endpoint.
const std::string& conninfo_of(const codecs::endpoint& e);

/// A session to `e`. A failure is a job_error naming `role` ("source", "target") and the URL
/// without its secrets. `application_name` tags the session: a later run of the same job finds
/// what a killed one left running.
boost::asio::awaitable<connectors::postgres::connection> connect_endpoint(
    boost::asio::any_io_executor ex, const codecs::endpoint& e, const char* role,
    std::string application_name = "uringmig");

/// How a session prints values.
enum class text_profile {
  /// Text COPY from PostgreSQL to PostgreSQL: what pg_dump sets (ISO dates, postgres
  /// intervals, shortest-exact floats). Encoding and time zone stay the session's: the target
  /// session reads in the same ones.
  postgres,
  /// Text for a reader that is not PostgreSQL (Doris, SQLite): UTF-8, UTC, ISO year-month-day
  /// dates, postgres intervals, shortest-exact floats, hex bytea, no statement or
  /// idle-in-transaction timeouts (control sessions idle in their snapshot while workers read).
  portable,
  /// `portable`, plus what a checksum over text needs to be equal on two servers: monetary
  /// values in the C locale, names (regclass…) printed schema-qualified.
  verify,
};

/// The SET statements of a profile (several; for the simple protocol). Session-level: run them
/// outside a transaction, or again after a ROLLBACK.
std::string session_settings(text_profile p);

/// Runs session_settings(p); a failure is a job_error saying `what` failed.
boost::asio::awaitable<void> apply_settings(connectors::postgres::connection& c, text_profile p,
                                            const char* what);

/// The statement that starts every snapshot transaction.
inline constexpr const char* snapshot_begin_sql = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

/// Starts a REPEATABLE READ READ ONLY transaction on `holder` and exports its snapshot: it lives
/// as long as that transaction stays open on that session.
boost::asio::awaitable<std::string> export_snapshot(connectors::postgres::connection& holder);

/// Starts a REPEATABLE READ READ ONLY transaction that reads `snapshot` (empty: its own). A
/// snapshot whose exporting session ended is a job_error telling the user to run again.
boost::asio::awaitable<void> join_snapshot(connectors::postgres::connection& c,
                                           const std::string& snapshot);

}  // namespace uringmig::engine
