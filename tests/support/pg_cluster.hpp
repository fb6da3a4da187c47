#pragma once

// A throwaway PostgreSQL cluster for tests: initdb into a temp dir, start,
// connect, stop, delete. Blocking libpq; no Asio. PostgreSQL refuses to run as
// root, so as root every server binary runs as `options.os_user` through
// `runuser -u <os_user> --`.

#include <sys/types.h>
#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace uringmig::test {

/// Where a running cluster is and how to reach it. Plain data: written to and
/// read back from conninfo.env by the ctest fixture.
struct pg_cluster_info {
  std::filesystem::path root_dir;    // temp dir owning everything below; removed by stop
  std::filesystem::path data_dir;    // root_dir/data
  std::filesystem::path socket_dir;  // root_dir/sock: unix socket, trust auth
  std::filesystem::path log_file;    // root_dir/postgres.log
  std::filesystem::path bin_dir;     // initdb, pg_ctl, postgres
  std::string os_user;               // runs the server binaries; empty: the current user
  std::string superuser;             // trusted over the socket, no password
  std::string role = "uringmig";     // SUPERUSER REPLICATION, password over TCP
  std::string password = "uringmig-secret";
  int port = 0;   // TCP on 127.0.0.1, and the socket file's number
  pid_t pid = 0;  // postmaster

  /// libpq keyword/value string: socket, superuser, no password.
  std::string conninfo(std::string_view dbname = "postgres") const;
  /// postgresql:// URI over the socket (host= query parameter), superuser, no password.
  std::string socket_url(std::string_view dbname = "postgres") const;
  /// postgresql://uringmig:<password>@127.0.0.1:<port>/<dbname> — needs the password (scram).
  std::string tcp_url(std::string_view dbname = "postgres") const;
  /// As tcp_url but with another password, e.g. to check that a wrong one is refused.
  std::string tcp_url(std::string_view dbname, std::string_view password_override) const;
};

struct pg_cluster_options {
  std::filesystem::path bin_dir = "/usr/lib/postgresql/15/bin";
  /// OS user that runs initdb/pg_ctl/postgres when this process is root.
  std::string os_user_when_root = "postgres";
  /// Parent of the temp dir; empty: $TMPDIR, else /tmp.
  std::filesystem::path temp_parent;
  /// Extra postgresql.conf lines ("name = value"), appended after the defaults.
  std::vector<std::string> extra_settings;
  /// Each attempt takes a fresh free port; another process may grab one first.
  int start_attempts = 5;
  std::chrono::seconds start_timeout{60};
};

/// Owns one cluster: stop() (or the destructor) stops it and deletes its temp
/// dir. Only the process that started or adopted it stops it — a fork()ed
/// child (e.g. a GoogleTest death test) that runs its destructors does not.
class pg_cluster {
 public:
  pg_cluster() = default;
  ~pg_cluster();
  pg_cluster(const pg_cluster&) = delete;
  pg_cluster& operator=(const pg_cluster&) = delete;
  pg_cluster(pg_cluster&& other) noexcept;
  pg_cluster& operator=(pg_cluster&& other) noexcept;

  /// initdb + start + create role `uringmig`; returns once the server accepts
  /// connections. Throws std::runtime_error with the tail of the relevant log.
  void start(const pg_cluster_options& options = {});

  /// pg_ctl stop -m immediate, then removes the temp dir. Idempotent; never throws.
  void stop() noexcept;

  /// Takes ownership of a cluster started elsewhere (e.g. by `pg_fixture start`).
  static pg_cluster adopt(pg_cluster_info info);

  /// Gives up ownership: the cluster keeps running after this object is gone.
  pg_cluster_info release() noexcept;

  /// Starts a detached watchdog process that stops the cluster and deletes its
  /// temp dir if this process exits (or crashes) without calling stop().
  void stop_when_process_exits();

  bool running() const noexcept { return running_; }
  const pg_cluster_info& info() const noexcept { return info_; }
  int port() const noexcept { return info_.port; }
  const std::filesystem::path& socket_dir() const noexcept { return info_.socket_dir; }
  std::string conninfo(std::string_view dbname = "postgres") const {
    return info_.conninfo(dbname);
  }
  std::string tcp_url(std::string_view dbname = "postgres") const { return info_.tcp_url(dbname); }

  /// Runs `pg_ctl -D <data dir> <args...>` as the cluster's OS user (output appended to
  /// <root>/pg_ctl.log); its exit code. For tests that stop or restart the server themselves.
  int pg_ctl(const std::vector<std::string>& args) const;

  /// CREATE DATABASE <name> (quoted as an identifier).
  void create_database(std::string_view name) const;
  /// Runs one or more SQL statements as the superuser over the socket.
  void exec(std::string_view dbname, std::string_view sql) const;
  /// First column of the first row of the last statement; "" when no rows or NULL.
  std::string query_value(std::string_view dbname, std::string_view sql) const;

 private:
  pg_cluster_info info_;
  bool running_ = false;
  pid_t owner_pid_ = 0;
  int watchdog_fd_ = -1;  // our end of the socket pair; EOF tells the watchdog we are gone
};

/// A failed connection or statement; carries the SQLSTATE ("08000" when connecting failed).
class sql_error : public std::runtime_error {
 public:
  sql_error(const std::string& what, std::string sqlstate)
      : std::runtime_error(what), sqlstate_(std::move(sqlstate)) {}
  const std::string& sqlstate() const noexcept { return sqlstate_; }

 private:
  std::string sqlstate_;
};

/// Runs one or more SQL statements; throws sql_error with the server message.
void exec_sql(const std::string& conninfo, std::string_view sql);

/// First column of the first row of the last statement; "" when no rows or NULL.
std::string query_value(const std::string& conninfo, std::string_view sql);

/// CREATE DATABASE on the cluster behind `conninfo` (any database of it).
void create_database(const std::string& conninfo, std::string_view name);

/// Double-quoted SQL identifier.
std::string quote_ident(std::string_view name);

/// Writes `info` as KEY='value' lines (shell-sourceable): PGFIX_ROOT, PGFIX_DATA_DIR,
/// PGFIX_HOST, PGFIX_PORT, PGFIX_USER, PGFIX_ROLE, PGFIX_PASSWORD, PGFIX_PID, PGFIX_BIN_DIR,
/// PGFIX_OS_USER, PGFIX_LOG, PGFIX_CONNINFO, PGFIX_SOCKET_URL, PGFIX_TCP_URL.
void write_info_file(const std::filesystem::path& file, const pg_cluster_info& info);

/// Reads what write_info_file wrote. Throws std::runtime_error when missing or incomplete.
pg_cluster_info read_info_file(const std::filesystem::path& file);

}  // namespace uringmig::test
