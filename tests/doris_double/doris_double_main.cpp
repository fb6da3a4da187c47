// `doris_double`: the Stream Load double as a process, for shell tests and
// benchmarks. Serves until SIGTERM or SIGINT.

#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>

#include "tests/doris_double/server.hpp"

namespace {

namespace dd = uringmig::test::doris_double;

constexpr std::string_view usage =
    "usage: doris_double [--fe-port N] [--be-port N] [--ready-file PATH] [--discard]\n"
    "                    [--record-dir DIR] [--user U] [--password P] [--fe-direct]\n"
    "                    [--fe-http-401] [--table DB.TABLE=COLUMNS[:name,name...[:unique:N]]]...\n"
    "                    [--redirect-to HOST:PORT] [--tls-cert PEM --tls-key PEM]\n"
    "Ports 0 (the default) are chosen by the system; the ready file gets\n"
    "FE_PORT=... and BE_PORT=... lines once both ports listen.\n";

[[noreturn]] void usage_error(const std::string& what) {
  std::cerr << "doris_double: " << what << "\n" << usage;
  std::exit(2);
}

std::uint16_t parse_port(const std::string& s) {
  char* end = nullptr;
  unsigned long v = std::strtoul(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || v > 65535) usage_error("bad port: " + s);
  return static_cast<std::uint16_t>(v);
}

// "db.table=3" or "db.table=3:a,b,c"
void parse_table(const std::string& spec, dd::server& srv) {
  std::size_t dot = spec.find('.');
  std::size_t eq = spec.find('=');
  if (dot == std::string::npos || eq == std::string::npos || dot > eq) {
    usage_error("bad --table: " + spec);
  }
  dd::table_schema schema;
  std::string model;
  std::string rest = spec.substr(eq + 1);
  std::size_t colon = rest.find(':');
  schema.column_count = std::strtoul(rest.substr(0, colon).c_str(), nullptr, 10);
  if (colon != std::string::npos) {
    std::string names = rest.substr(colon + 1);
    if (const std::size_t more = names.find(':'); more != std::string::npos) {
      model = names.substr(more + 1);  // "unique:1": a Unique Key table on its first column
      names.resize(more);
    }
    std::size_t start = 0;
    while (start <= names.size()) {
      std::size_t comma = names.find(',', start);
      if (comma == std::string::npos) comma = names.size();
      if (comma > start) schema.names.push_back(names.substr(start, comma - start));
      start = comma + 1;
    }
  }
  if (!dd::read_model(model, schema)) usage_error("bad --table model: " + spec);
  srv.set_table(spec.substr(0, dot), spec.substr(dot + 1, eq - dot - 1), schema);
}

}  // namespace

int main(int argc, char** argv) {
  dd::options opts;
  std::filesystem::path ready_file;
  std::vector<std::string> tables;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--fe-port") {
      opts.fe_port = parse_port(value());
    } else if (arg == "--be-port") {
      opts.be_port = parse_port(value());
    } else if (arg == "--ready-file") {
      ready_file = value();
    } else if (arg == "--discard") {
      opts.discard = true;
    } else if (arg == "--record-dir") {
      opts.record_dir = value();
    } else if (arg == "--user") {
      opts.user = value();
    } else if (arg == "--password") {
      opts.password = value();
    } else if (arg == "--fe-direct") {
      opts.fe_direct = true;
    } else if (arg == "--fe-http-401") {
      opts.fe_http_401 = true;
    } else if (arg == "--redirect-to") {
      std::string hp = value();
      std::size_t colon = hp.rfind(':');
      if (colon == std::string::npos || colon == 0) usage_error("bad --redirect-to: " + hp);
      opts.redirect_host = hp.substr(0, colon);
      opts.redirect_port = parse_port(hp.substr(colon + 1));
    } else if (arg == "--tls-cert") {
      opts.tls_cert_file = value();
    } else if (arg == "--tls-key") {
      opts.tls_key_file = value();
    } else if (arg == "--table") {
      tables.push_back(value());
    } else if (arg == "--help" || arg == "-h") {
      std::cout << usage;
      return 0;
    } else {
      usage_error("unknown argument: " + arg);
    }
  }
  if (!opts.record_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(opts.record_dir, ec);
    if (ec) usage_error("cannot create --record-dir: " + ec.message());
  }

  // Blocked before any thread starts, so only sigwait below sees them.
  sigset_t wanted;
  sigemptyset(&wanted);
  sigaddset(&wanted, SIGTERM);
  sigaddset(&wanted, SIGINT);
  pthread_sigmask(SIG_BLOCK, &wanted, nullptr);

  try {
    dd::server srv(opts);
    for (const std::string& t : tables)
      parse_table(t, srv);
    std::string lines = "FE_PORT=" + std::to_string(srv.fe_port()) + "\n" +
                        "BE_PORT=" + std::to_string(srv.be_port()) + "\n";
    if (!ready_file.empty()) {
      // Written whole, then renamed: a reader never sees half a file.
      std::filesystem::path tmp = ready_file;
      tmp += ".tmp";
      {
        std::ofstream out(tmp, std::ios::trunc);
        out << lines;
        if (!out.flush()) throw std::runtime_error("cannot write " + tmp.string());
      }
      std::filesystem::rename(tmp, ready_file);
    }
    std::cout << lines << std::flush;
    int sig = 0;
    sigwait(&wanted, &sig);
    srv.stop();
  } catch (const std::exception& e) {
    std::cerr << "doris_double: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
