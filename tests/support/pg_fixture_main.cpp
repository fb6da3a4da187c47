// pg_fixture start DIR | pg_fixture stop DIR
//
// The ctest fixture `pg`: `start` starts one PostgreSQL cluster for the whole
// test run, writes DIR/conninfo.env (see pg_cluster.hpp, write_info_file) and
// exits, leaving the server running; `stop` stops it and deletes its temp dir.

#include "tests/support/pg_cluster.hpp"

#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <string_view>

namespace {

namespace fs = std::filesystem;
using uringmig::test::pg_cluster;

// Stops whatever conninfo.env in `dir` describes; false when there was nothing.
bool stop_described(const fs::path& dir) {
  const fs::path file = dir / "conninfo.env";
  if (!fs::exists(file)) return false;
  pg_cluster cluster = pg_cluster::adopt(uringmig::test::read_info_file(file));
  const fs::path root = cluster.info().root_dir;
  cluster.stop();
  fs::remove(file);
  if (fs::exists(root)) {
    throw std::runtime_error("stopped the cluster but could not remove " + root.string());
  }
  return true;
}

int start(const fs::path& dir) {
  fs::create_directories(dir);
  // Left over from a run that was killed before its cleanup step.
  if (stop_described(dir)) {
    std::printf("pg_fixture: stopped a cluster left over from an earlier run\n");
  }
  const auto t0 = std::chrono::steady_clock::now();
  pg_cluster cluster;
  cluster.start();
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  uringmig::test::write_info_file(dir / "conninfo.env", cluster.info());
  const uringmig::test::pg_cluster_info info = cluster.release();
  std::printf(
      "pg_fixture: PostgreSQL started in %lld ms: pid %d, port %d, socket %s, superuser %s%s%s\n"
      "pg_fixture: wrote %s\n",
      static_cast<long long>(ms), static_cast<int>(info.pid), info.port, info.socket_dir.c_str(),
      info.superuser.c_str(), info.os_user.empty() ? "" : ", running as OS user ",
      info.os_user.c_str(), (dir / "conninfo.env").c_str());
  return 0;
}

int stop(const fs::path& dir) {
  if (stop_described(dir)) {
    std::printf("pg_fixture: stopped the cluster and removed its files\n");
  } else {
    std::printf("pg_fixture: no %s: nothing to stop\n", (dir / "conninfo.env").c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: pg_fixture start|stop DIR\n");
    return 2;
  }
  const std::string_view command = argv[1];
  const fs::path dir = argv[2];
  try {
    if (command == "start") return start(dir);
    if (command == "stop") return stop(dir);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pg_fixture %s: %s\n", argv[1], e.what());
    return 1;
  }
  std::fprintf(stderr, "usage: pg_fixture start|stop DIR\n");
  return 2;
}
