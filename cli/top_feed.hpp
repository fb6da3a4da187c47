#pragma once

// Where `uringmig top` gets its pictures: the job's HTTP API, or its state directory.

#include "cli/top_model.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace uringmig::cli {

/// A source of snapshots and log lines. Not thread-safe; one per `top`.
class top_feed {
 public:
  virtual ~top_feed() = default;
  /// The newest snapshot; appends log lines that arrived since the last call to `log`.
  /// Throws std::runtime_error (one line) when the job cannot be read.
  virtual top_snapshot poll(std::vector<std::string>& log) = 0;
  /// "state directory DIR" / "http://HOST:PORT".
  virtual std::string label() const = 0;
  /// Pause, resume and switchover work (an HTTP API and a token).
  virtual bool has_actions() const = 0;
  /// Asks the job to `action` (pause, resume, switchover); returns what to tell the user.
  virtual std::string act(const std::string& action) = 0;
  /// How often to poll.
  virtual std::chrono::milliseconds interval() const = 0;
};

/// Reads `<dir>/state.db` and `<dir>/uringmig.log` read-only. Throws engine::usage_error when
/// `dir` holds no job state.
std::unique_ptr<top_feed> state_dir_feed(const std::filesystem::path& dir);
/// Reads the job `job` (empty: the only one there is) of the shared state at `url`, workers
/// included, and `<dir>/uringmig.log` when there is one. Throws engine::usage_error when the
/// state database cannot be reached or holds no such job.
std::unique_ptr<top_feed> state_url_feed(const std::filesystem::path& dir, const std::string& url,
                                         const std::string& job);

/// Reads `GET /api/v1/status` and `/api/v1/log` of `url` (`http://HOST:PORT`, `HOST:PORT` or
/// `https://HOST:PORT`); `token` (may be empty: no actions) goes as `Authorization: Bearer`.
/// Over https the job's certificate is verified against `tls_ca` (a PEM file; empty: the
/// system's CAs). Throws engine::usage_error for a URL or CA file it cannot use.
std::unique_ptr<top_feed> http_feed(const std::string& url, std::string token,
                                    const std::string& tls_ca = {});

/// HOST and PORT of `url` (`http://HOST:PORT[/]`, `https://…`, `HOST:PORT`, `[::1]:PORT`); false
/// when it is not one. `https`, when given, says whether the scheme was https.
bool split_http_url(const std::string& url, std::string& host, std::string& port,
                    bool* https = nullptr);

}  // namespace uringmig::cli
