// `snowflake_double`: the SQL API double as a process, for shell tests (an engine's e2e runs
// against `[snowflake] endpoint`). Serves until SIGTERM or SIGINT, then prints what it served
// ("served N requests; 200: n; 429: n; ... unfired faults: n").

#include "tests/snowflake_double/server.hpp"

#include <signal.h>

#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>

namespace {

namespace sd = uringmig::test::snowflake_double;

constexpr std::string_view usage =
    "usage: snowflake_double [--port N] [--ready-file PATH] [--public-key PEM] [--oauth-token T]\n"
    "                        [--account A] [--user U] [--partition-rows N] [--running-polls N]\n"
    "                        [--table NAME=FILE | --table NAME=generated:ROWS]...\n"
    "                        [--fault NAME=COUNT]...  (too_many_requests, unavailable,\n"
    "                        cut_partition, expired_token, late_partition: armed at start)\n"
    "The ready file gets SNOWFLAKE_PORT=... once the port listens. Table files: README.md.\n";

[[noreturn]] void usage_error(const std::string& what) {
  std::cerr << "snowflake_double: " << what << "\n" << usage;
  std::exit(2);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) usage_error("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void add_table(sd::server& srv, const std::string& spec) {
  const std::size_t eq = spec.find('=');
  if (eq == std::string::npos || eq == 0) usage_error("bad --table: " + spec);
  const std::string name = spec.substr(0, eq);
  const std::string source = spec.substr(eq + 1);
  if (source.rfind("generated:", 0) == 0) {
    srv.set_table(name, sd::generated_table(std::strtoull(source.c_str() + 10, nullptr, 10)));
    return;
  }
  std::ifstream in(source);
  if (!in) usage_error("cannot read table file " + source);
  try {
    srv.set_table(name, sd::load_table(in));
  } catch (const std::exception& e) {
    usage_error(source + ": " + e.what());
  }
}

void arm_fault(sd::server& srv, const std::string& spec) {
  const std::size_t eq = spec.find('=');
  const std::string name = spec.substr(0, eq);
  const int count = eq == std::string::npos ? 1 : std::atoi(spec.c_str() + eq + 1);
  static const std::pair<std::string_view, sd::fault> names[] = {
      {"too_many_requests", sd::fault::too_many_requests},
      {"unavailable", sd::fault::unavailable},
      {"cut_partition", sd::fault::cut_partition},
      {"expired_token", sd::fault::expired_token},
      {"late_partition", sd::fault::late_partition}};
  for (const auto& [n, f] : names)
    if (n == name) return srv.arm(f, count);
  usage_error("unknown --fault: " + spec);
}

}  // namespace

int main(int argc, char** argv) {
  sd::options opts;
  std::filesystem::path ready_file;
  std::vector<std::string> tables;
  std::vector<std::string> faults;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--port") {
      opts.port = static_cast<std::uint16_t>(std::strtoul(value().c_str(), nullptr, 10));
    } else if (arg == "--ready-file") {
      ready_file = value();
    } else if (arg == "--public-key") {
      opts.public_key_pem = read_file(value());
    } else if (arg == "--oauth-token") {
      opts.oauth_token = value();
    } else if (arg == "--account") {
      opts.account = value();
    } else if (arg == "--user") {
      opts.user = value();
    } else if (arg == "--partition-rows") {
      opts.partition_rows = std::max<std::size_t>(1, std::strtoull(value().c_str(), nullptr, 10));
    } else if (arg == "--running-polls") {
      opts.running_polls = std::atoi(value().c_str());
    } else if (arg == "--fault") {
      faults.push_back(value());
    } else if (arg == "--table") {
      tables.push_back(value());
    } else if (arg == "--help" || arg == "-h") {
      std::cout << usage;
      return 0;
    } else {
      usage_error("unknown argument: " + arg);
    }
  }
  // Blocked before any thread starts, so only sigwait below sees them.
  sigset_t wanted;
  sigemptyset(&wanted);
  sigaddset(&wanted, SIGTERM);
  sigaddset(&wanted, SIGINT);
  pthread_sigmask(SIG_BLOCK, &wanted, nullptr);
  try {
    sd::server srv(opts);
    for (const std::string& t : tables)
      add_table(srv, t);
    for (const std::string& f : faults)
      arm_fault(srv, f);
    const std::string lines = "SNOWFLAKE_PORT=" + std::to_string(srv.port()) + "\n";
    if (!ready_file.empty()) {
      std::filesystem::path tmp = ready_file;
      tmp += ".tmp";
      {
        std::ofstream out(tmp, std::ios::trunc);
        out << lines;
        if (!out.flush()) throw std::runtime_error("cannot write " + tmp.string());
      }
      std::filesystem::rename(tmp, ready_file);  // a reader never sees half a file
    }
    std::cout << lines << std::flush;
    int sig = 0;
    sigwait(&wanted, &sig);
    srv.stop();
    // For the shell tests: what was served, and whether every armed fault was met.
    int statuses[600] = {};
    const auto log = srv.requests();
    for (const auto& r : log)
      if (r.status > 0 && r.status < 600) ++statuses[r.status];
    std::cout << "served " << log.size() << " requests;";
    for (int st = 0; st < 600; ++st)
      if (statuses[st] > 0) std::cout << " " << st << ": " << statuses[st] << ";";
    std::cout << " unfired faults: " << srv.unfired_faults() << "\n" << std::flush;
  } catch (const std::exception& e) {
    std::cerr << "snowflake_double: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
