#pragma once

// A Snowflake source over the SQL API v2 (no ODBC, no SDK): statements submitted
// asynchronously, polled, their result partitions fetched in parallel (gzip) and delivered in
// order as PostgreSQL COPY text. Facts: shared/reference/snowflake-sql-api.md.

#include "codecs/snowflake_json.hpp"
#include "codecs/url.hpp"
#include "connectors/http/http_client.hpp"
#include "connectors/snowflake/auth.hpp"
#include "connectors/snowflake/retry.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

namespace uringmig::connectors::snowflake {

/// Everything the engine fills from the source URL and `[snowflake]`.
struct settings {
  codecs::snowflake_endpoint endpoint;  // user, account, database, schema, warehouse, role
  /// `[snowflake] endpoint`: replaces https://ACCOUNT.snowflakecomputing.com (tests, private
  /// links); scheme://host[:port], no path.
  std::string base_url;
  auth_settings auth;
  std::string user_agent = "uringmig/0.1";
  /// The statement's `timeout` (seconds); 0: Snowflake's maximum.
  std::chrono::seconds statement_timeout{0};
  /// Result partitions fetched at once (and held at most, plus the one being decoded).
  std::size_t fetch_parallelism = 4;
  retry_policy retry;
  /// Waits between status polls of a running statement: from `poll_first`, doubling up to
  /// `poll_max`.
  std::chrono::milliseconds poll_first{50};
  std::chrono::milliseconds poll_max{1000};
  /// A partition bigger than this (decoded) is an error rather than a memory spike.
  std::size_t max_partition_bytes = std::size_t{1} << 30;
  /// COPY text is handed to the sink in chunks of about this size (whole rows).
  std::size_t chunk_bytes = std::size_t{1} << 20;
};

/// https://ACCOUNT.snowflakecomputing.com, or `s.base_url` without a trailing '/'.
std::string base_url_of(const settings& s);

/// A statement failed (422) or the API refused: one line for the user, no secret in it.
class error : public std::runtime_error {
 public:
  error(const std::string& what, int http_status, std::string sql_state)
      : std::runtime_error(what), http_status_(http_status), sql_state_(std::move(sql_state)) {}
  int http_status() const { return http_status_; }
  /// The statement's SQLSTATE (422), else empty.
  const std::string& sql_state() const { return sql_state_; }

 private:
  int http_status_;
  std::string sql_state_;
};

/// Receives a result's rows as COPY text, in order, in chunks of whole rows. `chunk` stays
/// valid until the returned awaitable completes.
using copy_sink = std::function<boost::asio::awaitable<void>(std::string_view chunk)>;

struct query_result {
  std::vector<codecs::snowflake::column> columns;  // exact-case names, types
  std::int64_t rows = 0;
  std::string statement_handle;
  std::size_t partitions = 0;
  int retries = 0;         // requests sent again (429, 503, 504, dropped connections)
  int token_renewals = 0;  // 401s answered with a new JWT
  int polls = 0;           // status requests while the statement ran
  /// With a watched column (query()'s third argument): its greatest instant over the rows
  /// delivered (DATE, TIME, TIMESTAMP_*; exact to the nanosecond) and its NULL count.
  std::optional<codecs::snowflake::epoch_time> watched_max;
  std::int64_t watched_nulls = 0;
};

/// One account's SQL API on one HTTP client (one io_context: call it from that context's
/// thread). Holds the signing key from construction on.
class sql_client {
 public:
  /// Loads the key (a missing or unreadable key file is a std::runtime_error, one line).
  /// `http` must outlive the client; `stop` ends retry waits early (SIGINT, --max-runtime).
  sql_client(http::http_client& http, settings s, std::stop_token stop);

  /// Runs one statement; its rows go to `sink` as COPY text. Throws snowflake::error (422:
  /// with the SQLSTATE and the statement's first line; API refusals; retries used up) and
  /// std::runtime_error when stopped during a wait.
  boost::asio::awaitable<query_result> query(std::string sql, copy_sink sink);
  /// The same, keeping the greatest value and the NULL count of column `watch` (exact case):
  /// the watermark the rows reach, for the next run's mark.
  boost::asio::awaitable<query_result> query(std::string sql, copy_sink sink, std::string watch);

  /// A table's columns (exact case, types) from the rowType of `SELECT * FROM table LIMIT 0`.
  /// `table`: as it goes into SQL (quote mixed-case names: `"My Table"`).
  boost::asio::awaitable<std::vector<codecs::snowflake::column>> describe_columns(
      std::string table);

  token_source& tokens() { return tokens_; }
  const settings& config() const { return s_; }

 private:
  boost::asio::awaitable<http::http_response> exchange(std::function<http::http_request()> make,
                                                       std::string what, query_result& stats);
  boost::asio::awaitable<http::http_response> submit(const std::string& sql, query_result& stats);
  boost::asio::awaitable<http::http_response> wait_done(http::http_response r, query_result& stats);
  boost::asio::awaitable<void> fetch_rest(const std::string& handle, std::size_t partitions,
                                          const codecs::snowflake::result_meta& meta,
                                          copy_sink& sink, std::string& out, query_result& stats,
                                          const std::string& watch);
  boost::asio::awaitable<std::string> fetch_partition(const std::string& handle, std::size_t i,
                                                      query_result& stats);
  http::http_request get(std::string path_and_query);
  std::string statement_body(const std::string& sql) const;

  http::http_client& http_;
  settings s_;
  std::stop_token stop_;
  token_source tokens_;
  std::string base_;
};

/// A fresh random UUID (version 4), the `requestId` of a statement.
std::string new_request_id();

/// The first line of a statement, shortened, for error messages.
std::string first_line(std::string_view sql);

}  // namespace uringmig::connectors::snowflake
