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
  /// "http://host:port" of an FE (its 307 is followed) or of a BE. No userinfo.
  std::string base_url;
  std::string user = "root";
  std::string password;  // a secret: never logged
};

/// "http://host:port" (IPv6 literals in brackets).
std::string base_url(const codecs::host_port& hp);

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
