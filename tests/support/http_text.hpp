#pragma once

// HTTP/1.1 pieces the test doubles (Doris, Snowflake) share, as pure functions over bytes: request
// heads, chunked bodies, Basic auth, query strings, response text. No sockets here.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace uringmig::test::http {

struct header {
  std::string name;
  std::string value;
};

bool iequals(std::string_view a, std::string_view b);
std::string_view trim(std::string_view s);
std::string to_lower(std::string_view s);

struct request_head {
  std::string method;
  std::string target;   // as sent: path plus `?query`
  std::string version;  // "HTTP/1.1"
  std::vector<header> headers;
  std::string path;   // target before '?', percent-decoded
  std::string query;  // raw text after '?'

  /// First header with this name (any case); nullptr when absent.
  const std::string* find(std::string_view name) const;
  /// Value of the first header with this name, trimmed; empty when absent.
  std::string get(std::string_view name) const;
  bool has(std::string_view name) const { return find(name) != nullptr; }
};

/// Parses a head up to (not including) the blank line. nullopt when malformed.
std::optional<request_head> parse_request_head(std::string_view head);

/// "/api/db/t/_stream_load" -> {"api", "db", "t", "_stream_load"}.
std::vector<std::string> split_path(std::string_view path);
/// `+` means a space in query strings only.
std::string percent_decode(std::string_view s, bool plus_is_space);
/// Percent-encodes everything but RFC 3986 unreserved characters.
std::string percent_encode(std::string_view s);
std::map<std::string, std::string> parse_query(std::string_view query);

std::string base64_encode(std::string_view in);
std::optional<std::string> base64_decode(std::string_view in);

struct basic_credentials {
  std::string user;
  std::string password;
};
/// `Authorization` header value "Basic <b64 user:password>"; nullopt when not Basic.
std::optional<basic_credentials> parse_basic_auth(std::string_view value);

/// How a request body is delimited.
struct body_framing {
  bool chunked = false;
  std::uint64_t length = 0;  // when not chunked
};

/// Incremental decoder of a `Transfer-Encoding: chunked` body. Feed it what the
/// socket gave; each call consumes framing and returns at most one run of data,
/// a view into `in`.
class chunked_decoder {
 public:
  struct step {
    std::size_t consumed = 0;
    std::string_view data;
  };
  step next(std::string_view in);
  bool done() const { return state_ == state::done; }
  bool failed() const { return state_ == state::error; }

 private:
  enum class state {
    size,
    extension,
    size_lf,
    data,
    data_cr,
    data_lf,
    trailer,
    trailer_lf,
    done,
    error
  };
  state state_ = state::size;
  std::uint64_t remaining_ = 0;
  bool size_digits_ = false;
  bool trailer_line_empty_ = true;
};

std::string_view reason_phrase(int status);

/// A complete response. Adds Content-Length and, when `close`, Connection: close.
std::string make_response(int status, const std::vector<header>& headers, std::string_view body,
                          bool close);

/// JSON string literal with quotes, escaping as RFC 8259 requires.
std::string json_quote(std::string_view s);

}  // namespace uringmig::test::http
