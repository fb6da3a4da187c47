#pragma once

// `--http ADDR` / `[http] listen`: the job's HTTP API, WebSocket, /metrics and dashboard page,
// served while the command runs. One per command; cli starts it before anything is touched.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace uringmig::engine {
struct job_spec;
}

namespace uringmig::engine::observe {

/// The `[http] listen` address, parsed: "127.0.0.1:7654", "[::1]:7654", "localhost:7654",
/// ":7654" (loopback). Throws usage_error naming `what` for anything else.
struct listen_address {
  std::string host;
  std::uint16_t port = 0;
  bool loopback = true;
};
listen_address parse_listen(const std::string& text, const std::string& what);

/// What the action endpoints do; empty: the job cannot (409).
struct actions {
  std::function<void()> stop;
  /// Starts a switchover; returns "" when it started, else why not.
  std::function<std::string()> switchover;
};

class service {
 public:
  /// Listens as `spec` says (`http.listen`); nullptr when it says nothing. Throws usage_error
  /// with one line: a bad address, a port in use, a non-loopback address without a token,
  /// unreadable TLS files.
  static std::unique_ptr<service> start(const job_spec& spec, actions a);
  ~service();
  service(const service&) = delete;
  service& operator=(const service&) = delete;

  std::uint16_t port() const;
  /// The command returned `exit_code`: the phase shown until the server stops becomes "done"
  /// (0) or "failed" (unless an action set one, such as "stopping"), pushed to WebSocket clients.
  void finished(int exit_code);

 private:
  struct impl;
  explicit service(std::unique_ptr<impl> i);
  std::unique_ptr<impl> impl_;
};

}  // namespace uringmig::engine::observe
