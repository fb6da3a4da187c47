#pragma once

#include "io/uring_probe.hpp"

#include <ostream>
#include <string>

namespace uringmig::cli {

/// Prints one line per component (uringmig, kernel, io_uring, liburing, libpq, SQLite, libcurl,
/// Boost) on `out`. Returns 0 when io_uring works; otherwise also prints the one-line failure
/// and its fix on `err` and returns 1.
int run_doctor(const io::uring_probe_result& probe, std::ostream& out, std::ostream& err);

std::string kernel_release();   // uname -r
std::string libpq_version();    // "15.5"
std::string sqlite_version();   // "3.40.1"
std::string libcurl_version();  // "7.88.1 (OpenSSL/3.0.11)"
std::string boost_version();    // "1.81.0"

}  // namespace uringmig::cli
