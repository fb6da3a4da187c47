#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace uringmig::io {

/// What a server answered.
struct http_answer {
  unsigned status = 0;
  std::string body;
};

/// One plain-HTTP/1.1 request on a fresh connection, blocking the caller for at most `timeout`
/// (a small private io_context; for tools such as `uringmig top`, not the data path).
/// `bearer_token` non-empty adds `Authorization: Bearer …`. Bodies above 16 MiB are refused.
/// Throws std::runtime_error with one line (what failed; never the token) when the server
/// cannot be reached, times out or answers something that is not HTTP.
http_answer http_fetch(const std::string& host, const std::string& port, std::string_view method,
                       std::string_view target, std::string_view bearer_token,
                       std::chrono::milliseconds timeout);

}  // namespace uringmig::io
