#pragma once

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace uringmig::io {

/// What a server answered.
struct http_answer {
  unsigned status = 0;
  std::string body;
};

/// HTTPS: the server's certificate is verified (chain and host name) against `ca_file` (PEM)
/// when set, else against the system's CAs.
struct http_tls {
  std::string ca_file;
};

/// A certificate that does not verify: the message says why and what to do.
struct http_tls_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// One HTTP/1.1 request on a fresh connection (over TLS when `tls` is set), blocking the caller
/// for at most `timeout` (a small private io_context; for tools such as `uringmig top`, not the
/// data path). `bearer_token` non-empty adds `Authorization: Bearer …`. Bodies above 16 MiB
/// are refused. Throws std::runtime_error with one line (what failed; never the token) when the
/// server cannot be reached, times out, presents a certificate that does not verify, or answers
/// something that is not HTTP (http_tls_error: a certificate that does not verify).
http_answer http_fetch(const std::string& host, const std::string& port, std::string_view method,
                       std::string_view target, std::string_view bearer_token,
                       std::chrono::milliseconds timeout,
                       const std::optional<http_tls>& tls = std::nullopt);

}  // namespace uringmig::io
