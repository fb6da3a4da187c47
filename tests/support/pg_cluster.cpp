#include "tests/support/pg_cluster.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libpq-fe.h>
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
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

extern char** environ;

namespace uringmig::test {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------- quoting

// Percent-encodes everything but RFC 3986 unreserved characters (and '/' when
// asked, for socket paths in a query parameter).
std::string percent_encode(std::string_view s, bool keep_slash = false) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/');
    if (unreserved) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 0xF]);
    }
  }
  return out;
}

// A libpq keyword/value value: single-quoted, with \ and ' escaped.
std::string conninfo_value(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\\' || c == '\'') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

// A shell single-quoted word: ' becomes '\''.
std::string shell_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  out.push_back('\'');
  return out;
}

// Inverse of shell_quote for the subset it produces (plus bare words).
std::string shell_unquote(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\'') {
      auto end = s.find('\'', i + 1);
      if (end == std::string_view::npos) throw std::runtime_error("unterminated quote");
      out.append(s.substr(i + 1, end - i - 1));
      i = end;
    } else if (c == '\\' && i + 1 < s.size()) {
      out.push_back(s[++i]);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// ---------------------------------------------------------------- files

std::string tail_of(const fs::path& file, std::size_t max_lines = 40) {
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

struct os_user {
  uid_t uid = 0;
  gid_t gid = 0;
};

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

struct run_result {
  int exit_code = -1;  // -1: did not exit normally
  std::string describe;
};

struct spawn_options {
  int stdin_fd = -1;  // -1: /dev/null
  bool new_session = false;
};

// Starts `args` in `cwd`, stdin from /dev/null (or `stdin_fd`), stdout+stderr
// appended to `log`. No other descriptor is inherited: a daemon started by the
// child must not hold a pipe of ours (ctest waits for its pipes to close).
// Returns the pid, or throws.
pid_t spawn(std::vector<std::string> args, const fs::path& cwd, const fs::path& log,
            spawn_options opts = {}) {
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

// ---------------------------------------------------------------- libpq

struct conn_deleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct result_deleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using conn_ptr = std::unique_ptr<PGconn, conn_deleter>;
using result_ptr = std::unique_ptr<PGresult, result_deleter>;

std::string trim_newline(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r'))
    s.pop_back();
  return s;
}

conn_ptr connect(const std::string& conninfo) {
  conn_ptr conn(PQconnectdb(conninfo.c_str()));
  if (!conn) throw std::runtime_error("PQconnectdb: out of memory");
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    throw sql_error("cannot connect: " + trim_newline(PQerrorMessage(conn.get())), "08000");
  }
  return conn;
}

result_ptr run_sql(const std::string& conninfo, std::string_view sql) {
  conn_ptr conn = connect(conninfo);
  result_ptr res(PQexec(conn.get(), std::string(sql).c_str()));
  ExecStatusType st = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) return res;
  std::string message =
      trim_newline(res ? PQresultErrorMessage(res.get()) : PQerrorMessage(conn.get()));
  const char* state = res ? PQresultErrorField(res.get(), PG_DIAG_SQLSTATE) : nullptr;
  std::string shown(sql.substr(0, 200));
  throw sql_error("SQL failed: " + message + " [" + (state ? state : "?????") + "] in: " + shown,
                  state ? state : "");
}

}  // namespace

// ---------------------------------------------------------------- pg_cluster_info

std::string pg_cluster_info::conninfo(std::string_view dbname) const {
  return "host=" + conninfo_value(socket_dir.string()) + " port=" + std::to_string(port) +
         " user=" + conninfo_value(superuser) + " dbname=" + conninfo_value(dbname);
}

std::string pg_cluster_info::socket_url(std::string_view dbname) const {
  return "postgresql://" + percent_encode(superuser) + "@/" + percent_encode(dbname) +
         "?host=" + percent_encode(socket_dir.string(), true) + "&port=" + std::to_string(port);
}

std::string pg_cluster_info::tcp_url(std::string_view dbname) const {
  return tcp_url(dbname, password);
}

std::string pg_cluster_info::tcp_url(std::string_view dbname,
                                     std::string_view password_override) const {
  return "postgresql://" + percent_encode(role) + ":" + percent_encode(password_override) +
         "@127.0.0.1:" + std::to_string(port) + "/" + percent_encode(dbname);
}

// ---------------------------------------------------------------- pg_cluster

pg_cluster::~pg_cluster() {
  stop();
}

pg_cluster::pg_cluster(pg_cluster&& other) noexcept
    : info_(std::move(other.info_)),
      running_(std::exchange(other.running_, false)),
      owner_pid_(std::exchange(other.owner_pid_, 0)),
      watchdog_fd_(std::exchange(other.watchdog_fd_, -1)) {}

pg_cluster& pg_cluster::operator=(pg_cluster&& other) noexcept {
  if (this != &other) {
    stop();
    info_ = std::move(other.info_);
    running_ = std::exchange(other.running_, false);
    owner_pid_ = std::exchange(other.owner_pid_, 0);
    watchdog_fd_ = std::exchange(other.watchdog_fd_, -1);
  }
  return *this;
}

pg_cluster pg_cluster::adopt(pg_cluster_info info) {
  pg_cluster c;
  c.info_ = std::move(info);
  c.running_ = true;
  c.owner_pid_ = ::getpid();
  return c;
}

pg_cluster_info pg_cluster::release() noexcept {
  const bool owner = owner_pid_ == ::getpid();
  running_ = false;
  owner_pid_ = 0;
  if (owner && watchdog_fd_ >= 0) {
    ::send(watchdog_fd_, "done\n", 5, MSG_NOSIGNAL);
    ::close(std::exchange(watchdog_fd_, -1));
  }
  return info_;
}

void pg_cluster::stop_when_process_exits() {
  if (!running_ || watchdog_fd_ >= 0) return;
  int fds[2] = {-1, -1};
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    throw std::runtime_error(std::string("socketpair: ") + std::strerror(errno));
  }
  // The watchdog blocks on read until we say "done" (stop() or release() ran)
  // or our end closes because this process is gone. Its own session, so a
  // Ctrl-C meant for the tests does not kill it before it cleans up.
  std::vector<std::string> stop_cmd =
      as_user(info_.os_user, {(info_.bin_dir / "pg_ctl").string(), "-D", info_.data_dir.string(),
                              "-m", "immediate", "-w", "stop"});
  // $1: the temp dir, then the stop command.
  constexpr const char* script =
      "read -r line; [ \"$line\" = done ] && exit 0; root=$1; shift; \"$@\"; rm -rf -- \"$root\"";
  std::vector<std::string> args = {"/bin/sh", "-c", script, "uringmig-pg-watchdog",
                                   info_.root_dir.string()};
  args.insert(args.end(), stop_cmd.begin(), stop_cmd.end());
  try {
    spawn(args, "/", "/dev/null", {.stdin_fd = fds[1], .new_session = true});
  } catch (...) {
    ::close(fds[0]);
    ::close(fds[1]);
    throw;
  }
  // Not waited for: it outlives us by design and is reaped by init.
  ::close(fds[1]);
  watchdog_fd_ = fds[0];
}

void pg_cluster::start(const pg_cluster_options& options) {
  if (running_) throw std::logic_error("pg_cluster::start: already running");
  info_ = pg_cluster_info{};
  info_.bin_dir = options.bin_dir;
  if (!fs::exists(info_.bin_dir / "initdb")) {
    throw std::runtime_error("no PostgreSQL server binaries in " + info_.bin_dir.string() +
                             " (Debian: apt-get install postgresql-15)");
  }

  const bool as_root = ::geteuid() == 0;
  os_user server_user{::geteuid(), ::getegid()};
  if (as_root) {
    info_.os_user = options.os_user_when_root;
    server_user = lookup_user(info_.os_user);
    info_.superuser = info_.os_user;
  } else {
    info_.superuser = current_user_name();
  }

  // The temp dir: as root it must be reachable by the server's user, and the
  // socket path must fit in sun_path (108 bytes).
  fs::path parent = options.temp_parent;
  if (parent.empty()) {
    const char* tmpdir = std::getenv("TMPDIR");
    parent = (tmpdir != nullptr && *tmpdir != '\0') ? fs::path(tmpdir) : fs::path("/tmp");
  }
  constexpr std::size_t socket_suffix = sizeof("/uringmig-pg-XXXXXX/sock/.s.PGSQL.65535");
  if ((as_root && !reachable_by_others(parent)) ||
      fs::absolute(parent).string().size() + socket_suffix > 100) {
    parent = "/tmp";
  }
  std::string pattern = (fs::absolute(parent) / "uringmig-pg-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp " + pattern + ": " + std::strerror(errno));
  }
  info_.root_dir = pattern;
  info_.data_dir = info_.root_dir / "data";
  info_.socket_dir = info_.root_dir / "sock";
  info_.log_file = info_.root_dir / "postgres.log";
  running_ = true;  // from here on stop() cleans up, whatever fails
  owner_pid_ = ::getpid();

  try {
    fs::create_directory(info_.socket_dir);
    fs::permissions(info_.socket_dir, fs::perms::owner_all, fs::perm_options::replace);
    if (as_root) {
      for (const fs::path& p : {info_.root_dir, info_.socket_dir}) {
        if (::chown(p.c_str(), server_user.uid, server_user.gid) != 0) {
          throw std::runtime_error("chown " + p.string() + ": " + std::strerror(errno));
        }
      }
    }

    const fs::path initdb_log = info_.root_dir / "initdb.log";
    run_result r = run(
        {(info_.bin_dir / "initdb").string(), "-D", info_.data_dir.string(), "-U", info_.superuser,
         "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C", "--no-instructions"},
        info_.os_user, info_.root_dir, initdb_log);
    if (r.exit_code != 0) {
      throw std::runtime_error("initdb failed: " + r.describe + "\n" + tail_of(initdb_log));
    }

    std::string conf =
        "\n# uringmig test cluster\n"
        "listen_addresses = '127.0.0.1'\n"
        "unix_socket_directories = '" +
        info_.socket_dir.string() +
        "'\n"
        "wal_level = logical\n"
        "max_wal_senders = 10\n"
        "max_replication_slots = 10\n"
        "fsync = off\n"
        "synchronous_commit = off\n"
        "full_page_writes = off\n"
        "max_connections = 200\n"
        "shared_buffers = 128MB\n";
    for (const auto& s : options.extra_settings)
      conf += s + "\n";
    write_file(info_.data_dir / "postgresql.conf", conf, true);
    // Socket: trust (the superuser, no password). TCP: a password is required,
    // so tests can check what a wrong one does.
    write_file(info_.data_dir / "pg_hba.conf",
               "# uringmig test cluster\n"
               "local all         all                trust\n"
               "local replication all                trust\n"
               "host  all         all   127.0.0.1/32 scram-sha-256\n"
               "host  replication all   127.0.0.1/32 scram-sha-256\n",
               false);

    const fs::path ctl_log = info_.root_dir / "pg_ctl.log";
    const std::string timeout = std::to_string(options.start_timeout.count());
    std::string failures;
    bool started = false;
    for (int attempt = 1; attempt <= options.start_attempts && !started; ++attempt) {
      info_.port = pick_free_port();
      r = run({(info_.bin_dir / "pg_ctl").string(), "-D", info_.data_dir.string(), "-l",
               info_.log_file.string(), "-w", "-t", timeout, "-o",
               "-p " + std::to_string(info_.port), "start"},
              info_.os_user, info_.root_dir, ctl_log);
      if (r.exit_code == 0) {
        started = true;
        break;
      }
      failures += "attempt " + std::to_string(attempt) + " (port " + std::to_string(info_.port) +
                  "): " + r.describe + "\n";
      // A timed-out start may have left a postmaster behind: make sure it is gone.
      if (fs::exists(info_.data_dir / "postmaster.pid")) {
        run({(info_.bin_dir / "pg_ctl").string(), "-D", info_.data_dir.string(), "-m", "immediate",
             "-w", "stop"},
            info_.os_user, info_.root_dir, ctl_log);
      }
    }
    if (!started) {
      throw std::runtime_error("PostgreSQL did not start:\n" + failures + tail_of(ctl_log, 10) +
                               tail_of(info_.log_file));
    }

    // pg_ctl -w already waited for "ready"; confirm from the client side, in a
    // bounded poll with short waits.
    const std::string admin = info_.conninfo("postgres");
    const auto deadline = std::chrono::steady_clock::now() + options.start_timeout;
    PGPing ping = PQping(admin.c_str());
    while (ping != PQPING_OK && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      ping = PQping(admin.c_str());
    }
    if (ping != PQPING_OK) {
      throw std::runtime_error("PostgreSQL started but does not accept connections on " +
                               info_.socket_dir.string() + "\n" + tail_of(info_.log_file));
    }
    info_.pid = read_postmaster_pid(info_.data_dir);

    // Single quotes cannot occur in the fixed password; checked anyway.
    if (info_.password.find('\'') != std::string::npos) {
      throw std::logic_error("password must not contain a quote");
    }
    const char* verb = info_.role == info_.superuser ? "ALTER" : "CREATE";
    exec_sql(admin, std::string(verb) + " ROLE " + quote_ident(info_.role) +
                        " LOGIN SUPERUSER REPLICATION PASSWORD '" + info_.password + "'");
  } catch (...) {
    stop();
    throw;
  }
}

void pg_cluster::stop() noexcept {
  if (!running_ || owner_pid_ != ::getpid()) return;
  running_ = false;
  try {
    std::error_code ec;
    if (fs::exists(info_.data_dir / "postmaster.pid", ec)) {
      fs::path log = fs::exists(info_.root_dir, ec) ? info_.root_dir / "pg_ctl.log" : "/dev/null";
      run({(info_.bin_dir / "pg_ctl").string(), "-D", info_.data_dir.string(), "-m", "immediate",
           "-w", "-t", "60", "stop"},
          info_.os_user, fs::exists(info_.root_dir, ec) ? info_.root_dir : fs::path("/"), log);
    }
    // pg_ctl could not do it (e.g. the data dir is damaged): signal the
    // postmaster ourselves, if that pid is still a postgres process.
    pid_t pid = info_.pid != 0 ? info_.pid : read_postmaster_pid(info_.data_dir);
    if (pid > 0 && !process_gone(pid) && is_postgres_process(pid)) {
      ::kill(pid, SIGQUIT);
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (!process_gone(pid) && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      if (!process_gone(pid)) ::kill(pid, SIGKILL);
    }
    if (!info_.root_dir.empty()) fs::remove_all(info_.root_dir, ec);
  } catch (...) {
    // Best effort: stop() runs in destructors.
  }
  if (watchdog_fd_ >= 0) {
    ::send(watchdog_fd_, "done\n", 5, MSG_NOSIGNAL);
    ::close(std::exchange(watchdog_fd_, -1));
  }
  owner_pid_ = 0;
}

void pg_cluster::create_database(std::string_view name) const {
  uringmig::test::create_database(info_.conninfo("postgres"), name);
}

void pg_cluster::exec(std::string_view dbname, std::string_view sql) const {
  exec_sql(info_.conninfo(dbname), sql);
}

std::string pg_cluster::query_value(std::string_view dbname, std::string_view sql) const {
  return uringmig::test::query_value(info_.conninfo(dbname), sql);
}

// ---------------------------------------------------------------- free functions

void exec_sql(const std::string& conninfo, std::string_view sql) {
  run_sql(conninfo, sql);
}

std::string query_value(const std::string& conninfo, std::string_view sql) {
  result_ptr res = run_sql(conninfo, sql);
  if (PQresultStatus(res.get()) != PGRES_TUPLES_OK || PQntuples(res.get()) == 0 ||
      PQnfields(res.get()) == 0 || PQgetisnull(res.get(), 0, 0)) {
    return {};
  }
  return PQgetvalue(res.get(), 0, 0);
}

void create_database(const std::string& conninfo, std::string_view name) {
  // CREATE DATABASE fails with 55006 while another session is connected to the
  // template; that is brief, so retry for a bounded time.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    try {
      exec_sql(conninfo, "CREATE DATABASE " + quote_ident(name));
      return;
    } catch (const sql_error& e) {
      if (e.sqlstate() != "55006" || std::chrono::steady_clock::now() >= deadline) throw;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string quote_ident(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

void write_info_file(const fs::path& file, const pg_cluster_info& info) {
  std::ostringstream out;
  auto line = [&out](std::string_view key, std::string_view value) {
    out << key << '=' << shell_quote(value) << '\n';
  };
  out << "# Written by pg_fixture: the PostgreSQL cluster shared by this test run.\n";
  line("PGFIX_ROOT", info.root_dir.string());
  line("PGFIX_DATA_DIR", info.data_dir.string());
  line("PGFIX_HOST", info.socket_dir.string());
  line("PGFIX_PORT", std::to_string(info.port));
  line("PGFIX_USER", info.superuser);
  line("PGFIX_ROLE", info.role);
  line("PGFIX_PASSWORD", info.password);
  line("PGFIX_PID", std::to_string(info.pid));
  line("PGFIX_BIN_DIR", info.bin_dir.string());
  line("PGFIX_OS_USER", info.os_user);
  line("PGFIX_LOG", info.log_file.string());
  line("PGFIX_CONNINFO", info.conninfo("postgres"));
  line("PGFIX_SOCKET_URL", info.socket_url("postgres"));
  line("PGFIX_TCP_URL", info.tcp_url("postgres"));
  // Write then rename: a reader never sees half a file.
  fs::path tmp = file;
  tmp += ".tmp";
  write_file(tmp, out.str(), false);
  fs::rename(tmp, file);
}

pg_cluster_info read_info_file(const fs::path& file) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error("cannot read " + file.string());
  std::map<std::string, std::string, std::less<>> values;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    values[line.substr(0, eq)] = shell_unquote(std::string_view(line).substr(eq + 1));
  }
  auto get = [&](std::string_view key) -> const std::string& {
    auto it = values.find(key);
    if (it == values.end()) {
      throw std::runtime_error(file.string() + ": no " + std::string(key));
    }
    return it->second;
  };
  pg_cluster_info info;
  info.root_dir = get("PGFIX_ROOT");
  info.data_dir = get("PGFIX_DATA_DIR");
  info.socket_dir = get("PGFIX_HOST");
  info.port = std::stoi(get("PGFIX_PORT"));
  info.superuser = get("PGFIX_USER");
  info.role = get("PGFIX_ROLE");
  info.password = get("PGFIX_PASSWORD");
  info.pid = static_cast<pid_t>(std::stol(get("PGFIX_PID")));
  info.bin_dir = get("PGFIX_BIN_DIR");
  info.os_user = get("PGFIX_OS_USER");
  info.log_file = get("PGFIX_LOG");
  return info;
}

}  // namespace uringmig::test
