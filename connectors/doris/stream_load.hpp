#pragma once

// Stream Load at the protocol level: one PUT (following the FE's 307 by
// hand), the answer read, and the 2PC call. No retries, no engine logic.

#include "codecs/url.hpp"
#include "connectors/doris/http_client.hpp"
#include "connectors/doris/load_answer.hpp"

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace uringmig::connectors::doris {

/// Where requests go and as whom.
struct load_endpoint {
  /// "http(s)://host:port" of an FE (its 307 is followed) or of a BE. No userinfo.
  std::string base_url;
  std::string user = "root";
  std::string password;  // a secret: never logged
  /// Base URLs of the other nodes a redirect may lead to with our credentials: the BEs the
  /// user named (`be=`) and those the FE lists. A redirect anywhere else is refused.
  std::vector<std::string> trusted;
};

/// "http://host:port", or "https://host:port" with `tls` (IPv6 literals in brackets).
std::string base_url(const codecs::host_port& hp, bool tls = false);

/// One URL path segment: everything but RFC 3986 unreserved characters percent-encoded.
std::string path_segment(std::string_view s);

/// Why `url` may not receive the credentials of `e`, or empty when it may: its host and port
/// are those of `e.base_url` or of one of `e.trusted`, and it is not plain http when
/// `e.base_url` is https.
std::string credential_refusal(const load_endpoint& e, std::string_view url);

struct stream_load_request {
  load_endpoint endpoint;
  std::string db;
  std::string table;
  /// `^[-_A-Za-z0-9:]{1,128}$` (std::invalid_argument otherwise); empty lets
  /// Doris pick one (group commit).
  std::string label;
  /// format, column_separator, columns, two_phase_commit, ... (not Authorization).
  http_headers headers;
  /// The complete body, not owned: valid until stream_load() returns. Every
  /// hop sends all of it again from this buffer.
  std::span<const std::byte> body;
  /// Or a streamed body (chunked), not owned. A stream cannot be replayed, so
  /// a 307 is not followed: the outcome carries `redirect_to` and the caller
  /// sends again there with a fresh stream of the same rows. Produce only
  /// after `on_body_wanted` (see http_request): the FE answers its 307 before
  /// it would read a byte.
  io::channel<io::buffer>* stream = nullptr;
  std::function<void()> on_body_wanted;
  /// The whole URL to PUT to (a redirect target); empty: built from
  /// endpoint.base_url, db and table.
  std::string url;
  http_options options;
  int max_redirects = 3;
};

/// What one Stream Load (or 2PC call) came to. Secret-free.
struct load_outcome {
  std::optional<transport_error> transport;  // no answer: connect/send/receive failed
  int http_status = 0;
  std::optional<load_answer> answer;
  /// A protocol problem: an HTTP error status, a bad redirect, unreadable JSON.
  std::string error;
  std::string body;       // the final answer as received (bounded)
  std::string served_by;  // base URL of the node that answered
  int redirects = 0;
  /// A streamed load's 307: where to send it again (userinfo removed).
  std::optional<std::string> redirect_to;
  /// A redirect to a node not trusted with the credentials (see credential_refusal): nothing
  /// was sent there; `error` names it. Not worth a retry.
  bool refused_redirect = false;
  std::uint64_t body_bytes_sent = 0;  // of the last hop
  http_timing timing;                 // of the last hop

  /// The rows are in: committed now, or by an earlier attempt with this label.
  bool loaded() const;
  /// One line for logs and errors.
  std::string describe() const;
};

/// One Stream Load: `PUT /api/{db}/{table}/_stream_load`, Basic auth and
/// `Expect: 100-continue` on every hop. A 307 (from an FE) is followed here:
/// userinfo is stripped from its Location and the request is sent again with
/// the same headers, our own Authorization and the whole body.
boost::asio::awaitable<load_outcome> stream_load(http_client& client, stream_load_request rq);

struct two_phase_request {
  load_endpoint endpoint;
  std::string db;
  std::int64_t txn_id = -1;  // the load's TxnId; when < 0, `label` names it
  std::string label;
  bool commit = true;  // false: abort
  http_options options;
  int max_redirects = 3;
};

/// `PUT /api/{db}/_stream_load_2pc` with txn_id (or label) and
/// txn_operation commit|abort; a 307 is followed as for loads.
boost::asio::awaitable<load_outcome> stream_load_2pc(http_client& client, two_phase_request rq);

/// Where to resend after a redirect: `location` resolved against `current`,
/// with any userinfo removed; nullopt when it is not an http(s) URL.
std::optional<std::string> redirect_target(std::string_view current, std::string_view location);

/// `^[-_A-Za-z0-9:]{1,128}$`.
bool valid_label(std::string_view label);

/// What the FE says of a label (`GET /api/{db}/get_load_state?label=`).
struct label_state {
  std::optional<transport_error> transport;
  int http_status = 0;
  bool unauthorized = false;
  /// PREPARE, PRECOMMITTED, COMMITTED, VISIBLE, ABORTED or UNKNOWN; empty with `error`.
  std::string state;
  std::string error;  // no readable answer
};

/// Asks the FE (`fe.base_url`) for the state of `label` in `db`.
boost::asio::awaitable<label_state> get_load_state(http_client& client, load_endpoint fe,
                                                   std::string db, std::string label,
                                                   http_options options);

/// The BEs an FE lists (`GET /api/backends?is_alive=true`).
struct backend_list {
  std::optional<transport_error> transport;
  int http_status = 0;
  bool unauthorized = false;
  std::vector<codecs::host_port> backends;  // ip and http_port of each
  std::string error;                        // no readable answer (an FE without that API)
};

boost::asio::awaitable<backend_list> list_backends(http_client& client, load_endpoint fe,
                                                   http_options options);

/// A table as the FE describes it (`GET /api/{db}/{table}/_schema`, TableSchemaAction).
struct table_description {
  std::optional<transport_error> transport;
  int http_status = 0;
  bool unauthorized = false;
  bool found = false;
  /// UNIQUE_KEYS, DUP_KEYS, AGG_KEYS; empty for a table that is not an OLAP table.
  std::string keys_type;
  struct column {
    std::string name;  // as the FE spells it
    std::string type;  // INT, BIGINT, VARCHAR, DATETIMEV2, ...
    bool key = false;  // `is_key` "Yes" when the FE tells it, else no aggregation_type
  };
  std::vector<column> columns;
  std::string error;  // no readable answer, or the FE's message (an unknown table: found false)
};

boost::asio::awaitable<table_description> describe_table(http_client& client, load_endpoint fe,
                                                         std::string db, std::string table,
                                                         http_options options);

/// A statement's rows (`POST /api/query/default_cluster/{db}`, StmtExecutionAction): each value
/// as text (a number as written), NULL as nullopt.
struct query_rows {
  std::optional<transport_error> transport;
  int http_status = 0;
  bool unauthorized = false;
  std::vector<std::vector<std::optional<std::string>>> rows;
  std::string error;  // the FE's message, or no readable answer
};

/// Runs `stmt` on the FE with `db` as the default database; at most `limit` rows come back.
boost::asio::awaitable<query_rows> run_query(http_client& client, load_endpoint fe, std::string db,
                                             std::string stmt, std::uint64_t limit,
                                             http_options options);

/// The rows a load filtered, from its `ErrorURL` (a BE's `/api/_load_error_log?file=`): one
/// `Reason: ... src line [...]; ` line each. Fetched without credentials (the log needs none).
struct error_log {
  std::optional<transport_error> transport;
  int http_status = 0;
  std::string text;
  std::string error;
};

boost::asio::awaitable<error_log> fetch_error_log(http_client& client, std::string url,
                                                  http_options options);

/// One line of an error log: Doris's reason and the source line as the load read it.
struct filtered_row {
  std::string reason;
  std::string line;
};
std::vector<filtered_row> parse_error_log(std::string_view text);

/// Round robin over the BEs of `be=` (direct-to-BE mode). Thread-safe.
class be_rotation {
 public:
  explicit be_rotation(std::vector<std::string> base_urls) : urls_(std::move(base_urls)) {}
  /// The next BE's base URL. Precondition: not empty.
  const std::string& next();
  std::size_t size() const { return urls_.size(); }

 private:
  std::vector<std::string> urls_;
  std::atomic<std::size_t> next_{0};
};

}  // namespace uringmig::connectors::doris
