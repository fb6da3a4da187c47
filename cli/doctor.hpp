#pragma once

#include "io/uring_probe.hpp"

#include <filesystem>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace uringmig::cli {

/// Prints one line per component (uringmig, kernel, io_uring, liburing, libpq, SQLite, libcurl,
/// Boost) on `out`. Returns 0 when io_uring works; otherwise also prints the one-line failure
/// and its fix on `err` and returns 1.
int run_doctor(const io::uring_probe_result& probe, std::ostream& out, std::ostream& err);

/// One endpoint as doctor's security section sees it.
struct endpoint_origin {
  std::string role;      // "source" or "target"
  std::string url;       // resolved (a password file already applied); may hold a password
  std::string given_in;  // "the command line" or "the config file"
  std::optional<std::filesystem::path> password_file;
};

/// `security` lines: where each endpoint's password comes from (command line — scrubbed from
/// argv —, config file, password file, PGPASSWORD, a password file of libpq's, a service, none),
/// whether its traffic is encrypted, and the state directory's owner and mode. No secret is
/// printed. `env` looks variables up (the process environment in production).
std::vector<std::pair<std::string, std::string>> security_report(
    const std::vector<endpoint_origin>& endpoints, const std::filesystem::path& state_dir,
    const std::function<std::optional<std::string>(const std::string&)>& env);

/// Prints `security_report` under a "security" heading.
void print_security(const std::vector<std::pair<std::string, std::string>>& lines,
                    std::ostream& out);

std::string kernel_release();   // uname -r
std::string libpq_version();    // "15.5"
std::string sqlite_version();   // "3.40.1"
std::string libcurl_version();  // "7.88.1 (OpenSSL/3.0.11)"
std::string boost_version();    // "1.81.0"

}  // namespace uringmig::cli
