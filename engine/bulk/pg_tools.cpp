#include "engine/bulk/pg_tools.hpp"

#include "codecs/url.hpp"

#include <fcntl.h>
#include <libpq-fe.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <csignal>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string_view>

extern char** environ;

namespace uringmig::engine {

namespace {

std::string quote_conninfo_value(const char* v) {
  std::string out = "'";
  for (const char* p = v; *p; ++p) {
    if (*p == '\'' || *p == '\\') out.push_back('\\');
    out.push_back(*p);
  }
  out.push_back('\'');
  return out;
}

/// Splits a conninfo/URI into key='value' form without the password.
std::pair<std::string, std::string> split_password(const std::string& conninfo) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (opts == nullptr) {
    std::string msg = err ? err : "invalid connection string";
    if (err) PQfreemem(err);
    throw std::runtime_error(codecs::redact(msg));
  }
  std::string out;
  std::string password;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || *o->val == '\0') continue;
    if (std::strcmp(o->keyword, "password") == 0) {
      password = o->val;
      continue;
    }
    out += std::string(out.empty() ? "" : " ") + o->keyword + "=" + quote_conninfo_value(o->val);
  }
  PQconninfoFree(opts);
  return {out, password};
}

}  // namespace

std::filesystem::path pg_bin_dir(const std::string& configured, int server_version_num) {
  if (!configured.empty()) return configured;
  return "/usr/lib/postgresql/" + std::to_string(server_version_num / 10000) + "/bin";
}

tool_output run_pg_tool(const std::filesystem::path& program, std::vector<std::string> args,
                        const std::string& conninfo, bool capture_stdout,
                        const std::string& application_name) {
  auto [safe_conninfo, password] = split_password(conninfo);
  args.insert(args.begin(), {program.string(), "-d", safe_conninfo});

  // The URL's password reaches the child through its environment, never its argv; without
  // one, the child reads PGPASSWORD, ~/.pgpass or PGSERVICE exactly as our own libpq does.
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e) {
    if (!password.empty() && std::strncmp(*e, "PGPASSWORD=", 11) == 0) continue;
    if (!application_name.empty() && std::strncmp(*e, "PGAPPNAME=", 10) == 0) continue;
    env_store.emplace_back(*e);
  }
  if (!password.empty()) env_store.push_back("PGPASSWORD=" + password);
  if (!application_name.empty()) env_store.push_back("PGAPPNAME=" + application_name);
  std::vector<char*> envp;
  for (auto& s : env_store)
    envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);

  int out_pipe[2] = {-1, -1};
  int err_pipe[2] = {-1, -1};
  if (::pipe2(err_pipe, O_CLOEXEC) != 0 || (capture_stdout && ::pipe2(out_pipe, O_CLOEXEC) != 0))
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  const pid_t parent = ::getpid();
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  // fork + exec rather than posix_spawn: only the child can ask to die with its parent.
  // Between fork and exec the child calls async-signal-safe functions only.
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the parent died before prctl
    ::setpgid(0, 0);                          // a terminal's Ctrl-C goes to uringmig, which decides
    if (null_fd < 0 || ::dup2(null_fd, 0) < 0 || ::dup2(err_pipe[1], 2) < 0 ||
        (capture_stdout && ::dup2(out_pipe[1], 1) < 0))
      ::_exit(127);
    // Our sockets and rings are not the child's business.
    ::close_range(3, ~0U, 0);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  const int rc = pid < 0 ? errno : 0;
  if (null_fd >= 0) ::close(null_fd);
  ::close(err_pipe[1]);
  if (capture_stdout) ::close(out_pipe[1]);
  if (rc != 0) {
    ::close(err_pipe[0]);
    if (capture_stdout) ::close(out_pipe[0]);
    throw std::runtime_error("cannot run " + program.string() + ": " + std::strerror(rc));
  }

  tool_output res;
  std::array<pollfd, 2> fds{
      {{err_pipe[0], POLLIN, 0}, {capture_stdout ? out_pipe[0] : -1, POLLIN, 0}}};
  std::array<char, 65536> buf{};
  int open_fds = capture_stdout ? 2 : 1;
  while (open_fds > 0) {
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = ::read(fds[i].fd, buf.data(), buf.size());
      if (n > 0) {
        std::string& dst = i == 0 ? res.err : res.out;
        dst.append(buf.data(), static_cast<std::size_t>(n));
        if (i == 0 && res.err.size() > 16384) res.err.erase(0, res.err.size() - 8192);
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  res.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  res.err = codecs::redact(res.err);
  return res;
}

std::string last_line(const std::string& text) {
  std::istringstream in(text);
  std::string line, last;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
  }
  return last;
}

std::string error_line(const std::string& text) {
  std::istringstream in(text);
  std::string line, found;
  while (std::getline(in, line)) {
    const auto pos = line.find("ERROR:");
    if (pos == std::string::npos) continue;
    found.clear();
    // "ERROR:  relation ..." : one space after the colon is enough on one line.
    bool space = false;
    for (char ch : std::string_view(line).substr(pos)) {
      const bool is_space = ch == ' ' || ch == '\t' || ch == '\r';
      if (!is_space || !space) found.push_back(is_space ? ' ' : ch);
      space = is_space;
    }
  }
  return found.empty() ? last_line(text) : found;
}

std::vector<toc_entry> parse_toc(const std::string& listing) {
  std::vector<toc_entry> out;
  std::istringstream in(listing);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == ';') continue;
    toc_entry e;
    e.line = line;
    // "<id>; <classoid> <oid> <DESC words...> <schema> <name...> <owner>"
    const auto semi = line.find(';');
    if (semi == std::string::npos) continue;
    std::istringstream rest(line.substr(semi + 1));
    rest >> e.class_oid >> e.object_oid;
    std::string word;
    rest >> word;
    e.desc = word;
    // Two-word descriptions that matter here.
    if (word == "FK" || word == "INDEX" || word == "TABLE" || word == "SEQUENCE" ||
        word == "PUBLICATION") {
      std::string next;
      const auto pos = rest.tellg();
      if (rest >> next &&
          (next == "CONSTRAINT" || next == "ATTACH" || next == "DATA" || next == "OWNED" ||
           next == "SET" || (word == "PUBLICATION" && next == "TABLE"))) {
        e.desc += " " + next;
      } else {
        rest.seekg(pos);
      }
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::string toc_publication(const toc_entry& e) {
  if (e.desc != "PUBLICATION" && e.desc != "PUBLICATION TABLE") return {};
  // "<id>; <classoid> <oid> <DESC> <schema or -> <publication> ..." (pg_dump's tag of a
  // PUBLICATION TABLE is "<publication> <table>").
  const auto at = e.line.find(" " + e.desc + " ");
  if (at == std::string::npos) return {};
  std::istringstream rest(e.line.substr(at + e.desc.size() + 2));
  std::string schema;
  std::string name;
  rest >> schema >> name;
  return name;
}

}  // namespace uringmig::engine
