#include "tests/support/shared_cluster.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <stdexcept>

namespace uringmig::test {
namespace {

struct shared_state {
  pg_cluster owned;  // running only when this process started the cluster itself
  pg_cluster_info info;
};

shared_state make_shared_state() {
  shared_state s;
  const char* dir = std::getenv(pgfix_dir_env);
  if (dir != nullptr && *dir != '\0') {
    const std::filesystem::path file = std::filesystem::path(dir) / "conninfo.env";
    if (!std::filesystem::exists(file)) {
      throw std::runtime_error(std::string(pgfix_dir_env) + "=" + dir +
                               " but there is no conninfo.env in it: did the ctest fixture "
                               "test pg_fixture_start fail? (see its output)");
    }
    s.info = read_info_file(file);
    return s;
  }
  // Run by hand: a private cluster for this process.
  std::fprintf(stderr, "[uringmig::test] %s is unset: starting a private PostgreSQL cluster\n",
               pgfix_dir_env);
  s.owned.start();
  s.owned.stop_when_process_exits();
  s.info = s.owned.info();
  return s;
}

// Lower-case [a-z0-9_], at most 30 characters, never empty.
std::string sanitize_prefix(std::string_view prefix) {
  std::string out;
  for (char c : prefix) {
    if (out.size() == 30) break;
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    out.push_back(ok ? c : '_');
  }
  if (out.empty()) out = "db";
  return out;
}

}  // namespace

const pg_cluster_info& shared_cluster() {
  // Destroyed at exit, which stops a privately started cluster.
  static shared_state state = make_shared_state();
  return state.info;
}

fresh_database_info fresh_database(std::string_view prefix) {
  static std::atomic<unsigned> counter{0};
  const pg_cluster_info& cluster = shared_cluster();
  const std::string base = sanitize_prefix(prefix);
  std::random_device rd;
  // pid + counter is unique among live processes; the random part covers a
  // pid reused by a later test process of the same run.
  for (int attempt = 0;; ++attempt) {
    char suffix[48];
    std::snprintf(suffix, sizeof suffix, "_%d_%u_%08x", static_cast<int>(::getpid()),
                  counter.fetch_add(1), static_cast<unsigned>(rd()));
    fresh_database_info db;
    db.name = base + suffix;
    try {
      create_database(cluster.conninfo("postgres"), db.name);
    } catch (const sql_error& e) {
      if (e.sqlstate() == "42P04" && attempt < 5) continue;  // duplicate_database
      throw;
    }
    db.conninfo = cluster.conninfo(db.name);
    db.socket_url = cluster.socket_url(db.name);
    db.tcp_url = cluster.tcp_url(db.name);
    return db;
  }
}

}  // namespace uringmig::test
