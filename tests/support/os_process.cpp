// Files, users and child processes for the test cluster (tests/support only).
#include "tests/support/os_process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <memory>
#include <stdexcept>

extern char** environ;

namespace uringmig::test::os {

namespace fs = std::filesystem;

// ---------------------------------------------------------------- files

std::string tail_of(const fs::path& file, std::size_t max_lines) {
  std::ifstream in(file);
  if (!in) return "(" + file.string() + ": not readable)";
  std::deque<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    lines.push_back(std::move(line));
    if (lines.size() > max_lines) lines.pop_front();
  }
  std::string out = "--- last lines of " + file.string() + " ---\n";
  for (const auto& l : lines)
    out += l + "\n";
  return out;
}

void write_file(const fs::path& file, std::string_view content, bool append) {
  std::ofstream out(file, append ? std::ios::app : std::ios::trunc);
  out << content;
  out.close();
  if (!out) throw std::runtime_error("cannot write " + file.string());
}

// True when a user other than the owner can reach `dir` (every component has o+x):
// the server runs as another user when we are root.
bool reachable_by_others(const fs::path& dir) {
  std::error_code ec;
  fs::path p = fs::absolute(dir, ec);
  if (ec) return false;
  for (fs::path cur = p;; cur = cur.parent_path()) {
    struct stat st {};
    if (::stat(cur.c_str(), &st) != 0) return false;
    if ((st.st_mode & S_IXOTH) == 0) return false;
    if (cur == cur.root_path() || cur.empty()) break;
  }
  return true;
}

// ---------------------------------------------------------------- processes

os_user lookup_user(const std::string& name) {
  struct passwd pw {};
  struct passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    throw std::runtime_error("running as root, PostgreSQL needs an unprivileged OS user '" + name +
                             "' to run as, and there is none (create it, e.g. `useradd -r " + name +
                             "`, or run the tests as a normal user)");
  }
  return {pw.pw_uid, pw.pw_gid};
}

std::string current_user_name() {
  struct passwd pw {};
  struct passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (::getpwuid_r(::geteuid(), &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
    return pw.pw_name;
  }
  if (const char* u = std::getenv("USER"); u != nullptr && *u != '\0') return u;
  throw std::runtime_error("cannot determine the current user name (uid " +
                           std::to_string(::geteuid()) + ")");
}

const char* runuser_path() {
  for (const char* p : {"/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "runuser";  // let posix_spawnp search PATH
}

// Our environment minus PG* variables, which would otherwise steer initdb/pg_ctl
// (PGDATA, PGPORT, PGOPTIONS, ...).
std::vector<std::string> child_environment() {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (std::strncmp(*e, "PG", 2) == 0) continue;
    env.emplace_back(*e);
  }
  return env;
}

// Starts `args` in `cwd`, stdin from /dev/null (or `stdin_fd`), stdout+stderr
// appended to `log`. No other descriptor is inherited: a daemon started by the
// child must not hold a pipe of ours (ctest waits for its pipes to close).
// Returns the pid, or throws.
pid_t spawn(std::vector<std::string> args, const fs::path& cwd, const fs::path& log,
            spawn_options opts) {
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings = child_environment();
  std::vector<char*> envp;
  envp.reserve(env_strings.size() + 1);
  for (auto& e : env_strings)
    envp.push_back(e.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  std::unique_ptr<posix_spawn_file_actions_t, void (*)(posix_spawn_file_actions_t*)> actions_guard(
      &actions, [](posix_spawn_file_actions_t* a) { ::posix_spawn_file_actions_destroy(a); });
  if (opts.stdin_fd >= 0) {
    ::posix_spawn_file_actions_adddup2(&actions, opts.stdin_fd, 0);
  } else {
    ::posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  }
  ::posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  ::posix_spawn_file_actions_adddup2(&actions, 1, 2);
  ::posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  ::posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());

  posix_spawnattr_t attr;
  ::posix_spawnattr_init(&attr);
  std::unique_ptr<posix_spawnattr_t, void (*)(posix_spawnattr_t*)> attr_guard(
      &attr, [](posix_spawnattr_t* a) { ::posix_spawnattr_destroy(a); });
  if (opts.new_session) ::posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);

  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
  if (rc != 0) {
    throw std::runtime_error("cannot start " + args[0] + ": " + std::strerror(rc));
  }
  return pid;
}

std::vector<std::string> as_user(const std::string& user, std::vector<std::string> args) {
  if (user.empty()) return args;
  std::vector<std::string> wrapped = {runuser_path(), "-u", user, "--"};
  wrapped.insert(wrapped.end(), args.begin(), args.end());
  return wrapped;
}

// Runs `args` (as `user` through runuser when non-empty) and waits for it.
run_result run(const std::vector<std::string>& args_in, const std::string& user,
               const fs::path& cwd, const fs::path& log) {
  std::vector<std::string> args = as_user(user, args_in);
  std::string what;
  for (const auto& a : args)
    what += (what.empty() ? "" : " ") + a;
  pid_t pid = 0;
  try {
    pid = spawn(args, cwd, log);
  } catch (const std::exception& e) {
    return {-1, e.what()};
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return {-1, "waitpid failed for `" + what + "`"};
  }
  if (WIFEXITED(status)) {
    int code = WEXITSTATUS(status);
    return {code, "`" + what + "` exited with status " + std::to_string(code)};
  }
  return {-1, "`" + what + "` was killed by signal " + std::to_string(WTERMSIG(status))};
}

// A port that was free a moment ago. Another process may take it before the
// server binds it; start() retries with a new one.
int pick_free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  auto* sa = reinterpret_cast<sockaddr*>(&addr);  // the sockets API
  if (::bind(fd, sa, sizeof addr) != 0 || ::getsockname(fd, sa, &len) != 0) {
    int err = errno;
    ::close(fd);
    throw std::runtime_error(std::string("cannot find a free TCP port: ") + std::strerror(err));
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

pid_t read_postmaster_pid(const fs::path& data_dir) {
  std::ifstream in(data_dir / "postmaster.pid");
  long pid = 0;
  in >> pid;
  return in ? static_cast<pid_t>(pid) : 0;
}

// The postmaster is gone (or only a zombie waiting for its reaper is left).
bool process_gone(pid_t pid) {
  if (pid <= 0) return true;
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::ifstream stat_file("/proc/" + std::to_string(pid) + "/stat");
  std::string content;
  std::getline(stat_file, content);
  auto close_paren = content.rfind(')');
  return close_paren != std::string::npos && close_paren + 2 < content.size() &&
         content[close_paren + 2] == 'Z';
}

bool is_postgres_process(pid_t pid) {
  std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(comm, name);
  return name == "postgres" || name == "postmaster";
}

}  // namespace uringmig::test::os
