#pragma once

#include "cli/config.hpp"
#include "engine/core/job.hpp"
#include "engine/core/job_spec.hpp"
#include "io/uring_probe.hpp"

#include <filesystem>
#include <functional>
#include <iosfwd>
#include <span>
#include <string>
#include <string_view>

namespace uringmig::cli {

/// "0.1.0" (the project version).
std::string_view version() noexcept;

/// What run() talks to. Every empty member means "the real one"; tests replace some.
struct run_context {
  std::ostream* out = nullptr;                          // std::cout
  std::ostream* err = nullptr;                          // std::cerr
  std::function<io::uring_probe_result()> probe_uring;  // io::probe_uring
  std::function<int(const engine::job_spec&)> run_job;  // engine::run_job
  env_lookup env;                                       // process_env
  std::filesystem::path cwd;  // where .env is looked for; the current directory
};

/// Parses `args` (args[0] is the program name), runs the command and returns the exit code:
/// 0 ok, 2 usage or configuration error (nothing touched), 1 anything else. Never throws; every
/// failure is one redacted line on `err` starting with "uringmig: ".
int run(std::span<const std::string> args, const run_context& ctx = {});

/// The program: run() on the real process, with a terminate handler that turns anything that
/// still escapes (e.g. from a thread) into one line on stderr and exit code 1.
int main(int argc, char** argv) noexcept;

}  // namespace uringmig::cli
