#include "tests/support/pg_cluster.hpp"

#include "tests/support/os_process.hpp"

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
using namespace os;

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
        // Replication origins with progress also take a replication slot's state: the CDC
        // tests running side by side need more than the default 10.
        "max_wal_senders = 32\n"
        "max_replication_slots = 64\n"
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

int pg_cluster::pg_ctl(const std::vector<std::string>& args) const {
  std::vector<std::string> all = {(info_.bin_dir / "pg_ctl").string(), "-D",
                                  info_.data_dir.string()};
  all.insert(all.end(), args.begin(), args.end());
  return run(all, info_.os_user, info_.root_dir, info_.root_dir / "pg_ctl.log").exit_code;
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
