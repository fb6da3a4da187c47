#pragma once

#include "cli/config.hpp"

#include <iosfwd>
#include <string>

namespace CLI {
class App;
}

namespace uringmig::cli {

struct top_options {
  std::string state_dir = "uringmig-state";
  std::string state_url;  // a shared state database (postgresql://); else the state directory
  std::string job;        // the job's name in it; empty: the only one there is
  std::string http;       // HOST:PORT or http://HOST:PORT; empty: read the state directory
  std::string token;      // else UM_HTTP_TOKEN
  std::string tls_ca;     // https: the CA (PEM) of the job's certificate; empty: the system's
};

/// Adds `uringmig top` to `app`, its flags bound to `o`.
CLI::App* add_top_command(CLI::App& app, top_options& o);

/// `uringmig top`: a full-screen dashboard of a running job when stdin and stdout are a
/// terminal, else one plain line a second on `out` until the job ends or a signal stops it.
/// Returns 0. Throws engine::usage_error for bad flags or a state directory without a job,
/// std::runtime_error (one line) when the job's API cannot be read at start.
int run_top(const top_options& o, const env_lookup& env, std::ostream& out);

}  // namespace uringmig::cli
